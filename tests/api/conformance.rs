//! The HTTP contract at its edges: every error is `application/problem+json` (the router's own
//! 404 and 405, extractor errors, body errors) and is described so in the OpenAPI document;
//! every limit answers a problem that names it; slow and idle clients are disconnected.
//! `tools/schemathesis.sh` checks the same contract with generated requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use partnerfeed::config::ConnectionLimits;
use reqwest::Method;
use serde_json::{json, Value};

use crate::channels::{fr_resellers, setup};
use crate::helpers::{Options, TestApp};

async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "status {status}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status, "{body}");
    assert!(body["type"]
        .as_str()
        .unwrap()
        .starts_with("urn:partnerfeed:problem:"));
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    (status, body)
}

#[actix_web::test]
async fn router_extractor_and_body_errors_are_problems() {
    let app = TestApp::spawn().await;
    let send = |method: Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&app.admin_token)
    };
    let (s, _) = problem(send(Method::GET, "/v1/nope").send().await.unwrap()).await;
    assert_eq!(s, 404);

    let r = send(Method::POST, "/v1/channels").send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    let (s, body) = problem(r).await;
    assert_eq!(s, 405, "{body}");
    let r = send(Method::DELETE, "/healthz").send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    assert_eq!(problem(r).await.0, 405);
    let r = send(Method::POST, "/v1/products/DRL-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "DELETE, GET, PATCH, PUT");
    assert_eq!(problem(r).await.0, 405);

    let (s, body) = problem(
        send(Method::GET, "/v1/products?limit=many")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(body["pointer"], "/limit", "{body}");
    let (s, _) = problem(
        send(Method::PUT, "/v1/products/DRL-1")
            .header("content-type", "application/json")
            .body("{\"sku\": ")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = problem(
        send(Method::PUT, "/v1/products/DRL-1")
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 415);
    let r = app
        .client
        .get(app.url("/v1/products"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(problem(r).await.0, 401);
    let r = app
        .client
        .get(app.url("/v1/products"))
        .bearer_auth("pf_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, 401);
    app.stop().await;
}

/// The document says what the server does: every error response of every operation is a
/// problem+json `Problem`, and every operation that takes a token lists 401, 403 and 429.
#[test]
fn the_document_describes_every_error_as_a_problem() {
    let doc = serde_json::to_value(partnerfeed::app::openapi()).unwrap();
    assert!(doc["components"]["schemas"]["Problem"]["required"].is_array());
    let mut errors = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                if status.as_str() < "400" {
                    continue;
                }
                errors += 1;
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
            if op.get("security").is_some() {
                for status in ["401", "403", "429", "503"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
            }
        }
    }
    assert!(errors > 100, "{errors}");
}

/// Page size, body size, batch size and request rate: each refusal is a problem that names
/// the limit.
#[actix_web::test]
async fn every_limit_is_a_problem_naming_it() {
    let app = TestApp::spawn_with(Options {
        body_limit: 4096,
        rate_limit: 1000,
        ..Default::default()
    })
    .await;
    let shop = setup(&app, "fr-resellers", &fr_resellers(), "shop").await;
    let big = json!({"sku": "BIG-1", "brand": "x".repeat(5000)});
    let (s, body) = problem(
        app.put_json("/v1/products/BIG-1", &app.admin_token, &big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 413);
    assert!(
        body["detail"].as_str().unwrap().contains("4096 bytes"),
        "{body}"
    );

    let (s, body) = problem(
        app.get("/v1/products?limit=1001", &app.admin_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, &body["pointer"]), (400, &json!("/limit")));
    assert!(body["detail"].as_str().unwrap().contains("1000"), "{body}");
    let (s, body) = problem(
        app.get("/v1/channels/fr-resellers/changes?limit=10001", &shop)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, &body["pointer"]), (400, &json!("/limit")));
    assert!(body["detail"].as_str().unwrap().contains("10000"), "{body}");
    app.stop().await;

    // A batch of 10,001 minimal lines (under a roomy body limit) stores nothing.
    let app = TestApp::spawn_with(Options {
        rate_limit: 3,
        ..Default::default()
    })
    .await;
    let lines = "{}\n".repeat(10_001);
    let (s, body) = problem(app.batch("application/x-ndjson", lines).await).await;
    assert_eq!(s, 422);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("10000"),
        "{body}"
    );
    // The rate: 3 per second with a burst of 3; the batch took one.
    let mut limited = None;
    for _ in 0..10 {
        let r = app
            .get("/v1/products", &app.admin_token)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("the rate limit never answered 429");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let (_, body) = problem(r).await;
    assert!(
        body["detail"].as_str().unwrap().contains("request rate"),
        "{body}"
    );
    app.stop().await;
}

/// Reads until the server closes the connection. The read timeout is a safety net far above
/// the configured limits: reaching it means the server held the connection.
fn read_until_closed(mut stream: TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            String::from_utf8_lossy(&out).into_owned()
        }
        Err(e) => panic!(
            "the server did not close the connection ({e}); got {:?}",
            String::from_utf8_lossy(&out)
        ),
    }
}

/// A client that sends its headers too slowly, one that idles on a keep-alive connection, and
/// one that stops sending its body are each disconnected (the body's with a 408 problem).
#[actix_web::test]
async fn slow_and_idle_clients_are_disconnected() {
    let app = TestApp::spawn_with(Options {
        connections: ConnectionLimits {
            client_request_timeout: Duration::from_secs(1),
            keep_alive: Duration::from_secs(1),
            body_read_timeout: Duration::from_secs(1),
            client_disconnect_timeout: Duration::from_secs(1),
        },
        ..Default::default()
    })
    .await;
    let addr = app.address.trim_start_matches("http://").to_string();
    let token = app.admin_token.clone();
    actix_web::rt::task::spawn_blocking(move || {
        // Half a request head, then nothing.
        let mut slow = TcpStream::connect(&addr).unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let answer = read_until_closed(slow);
        assert!(!answer.contains("200 OK"), "{answer}");

        // A whole request, then idling on the kept-alive connection.
        let mut idle = TcpStream::connect(&addr).unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let answer = read_until_closed(idle);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

        // Headers promising 100 bytes of body, then one byte.
        let mut trickle = TcpStream::connect(&addr).unwrap();
        let head = format!(
            "PUT /v1/products/DRL-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
        );
        trickle.write_all(head.as_bytes()).unwrap();
        let answer = read_until_closed(trickle);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
    })
    .await
    .unwrap();
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), 200);
    app.stop().await;
}
