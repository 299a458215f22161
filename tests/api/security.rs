//! The security review's findings, one test each (docs/security.md names them): reseller
//! isolation on every route of the OpenAPI document, token handling, SSRF on webhook URLs,
//! hostile product texts in XML and CSV, deeply nested JSON, and paths that could reach the
//! data directory.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use partnerfeed::store;
use partnerfeed::webhooks::client::Sender;
use partnerfeed::webhooks::AllowList;
use serde_json::{json, Value};

use crate::channels::{fr_resellers, setup};
use crate::helpers::{drill, validate_xml, Options, TestApp, TestDb};

const SECRET_CHANNEL: &str = "b-secret-channel";
const SECRET_RESELLER: &str = "reseller-b";
const SECRET_SUBSCRIPTION: &str = "sub-b-secret";

/// Reseller B with a channel and a subscription of its own, made through the store (no
/// delivery runs: jobs are off).
async fn other_reseller(app: &TestApp) {
    setup(app, SECRET_CHANNEL, &fr_resellers(), SECRET_RESELLER).await;
    let db = app.db.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let mut conn = db.write_conn().unwrap();
        let channel = store::channels::get(&mut conn, SECRET_CHANNEL)
            .unwrap()
            .unwrap();
        let now = store::now();
        store::subscriptions::insert(
            &mut conn,
            &store::subscriptions::NewSubscription {
                id: SECRET_SUBSCRIPTION,
                reseller_code: SECRET_RESELLER,
                channel_id: channel.id,
                url: "http://127.0.0.1:9/hook",
                format: "json",
                secret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cw==",
                enabled: true,
                cursor_seq: 0,
                failures: 0,
                batch_attempts: 0,
                created_at: now,
                updated_at: now,
                kind: store::subscriptions::WEBHOOK,
                email: None,
                every: None,
                next_digest_at: None,
                channel_code: SECRET_CHANNEL,
                email_confirmed: false,
            },
        )
        .unwrap();
    })
    .await
    .unwrap();
}

/// A body that would be valid for the operation in the caller's own context, so that a refusal
/// is the authorization's and not the validation's.
fn plausible_body(path: &str) -> Value {
    match path {
        "/v1/products/{sku}" => drill("DRL-1"),
        "/v1/products/batch" => json!([drill("DRL-2")]),
        "/v1/tokens" => json!({"role": "admin", "name": "escalation"}),
        "/v1/channels/{code}" => fr_resellers(),
        "/v1/resellers/{code}" => {
            json!({"name": "B", "email": "it@b.example", "channels": [SECRET_CHANNEL]})
        }
        "/v1/resellers/{code}/tokens" => json!({"name": "stolen"}),
        "/v1/channels/{code}/subscriptions" => {
            json!({"url": "http://127.0.0.1:9/hook", "format": "json"})
        }
        "/v1/subscriptions/{id}/replay" => json!({"since": "start"}),
        _ => json!({"enabled": false}),
    }
}

/// Every operation of the OpenAPI document that needs a token, called with reseller A's token
/// on reseller B's resources: each answers 403 or 404, or (a list) shows nothing of B's. The
/// route list comes from the document, so a new route is walked without changing this test.
#[actix_web::test]
async fn every_route_refuses_another_resellers_data() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    app.put_product(&drill("DRL-1")).await;
    let a = setup(&app, "a-channel", &fr_resellers(), "reseller-a").await;
    other_reseller(&app).await;
    app.drain().await;
    let own = app
        .get("/v1/channels/a-channel/feed", &a)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200, "A reads its own channel");
    let admin_sees = app
        .get(
            &format!("/v1/subscriptions/{SECRET_SUBSCRIPTION}"),
            &app.admin_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(admin_sees.status(), 200, "the walk's target exists");

    let doc = serde_json::to_value(partnerfeed::app::openapi()).unwrap();
    let mut walked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_none() {
                continue;
            }
            let concrete = path
                .replace(
                    "{code}",
                    if path.starts_with("/v1/resellers") {
                        SECRET_RESELLER
                    } else {
                        SECRET_CHANNEL
                    },
                )
                .replace("{id}", SECRET_SUBSCRIPTION)
                .replace("{sku}", "DRL-1");
            assert!(
                !concrete.contains('{'),
                "no value for a parameter of {path}"
            );
            let required_query: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| format!("{}=google-xml", p["name"].as_str().unwrap()))
                .collect();
            let url = if required_query.is_empty() {
                app.url(&concrete)
            } else {
                app.url(&format!("{concrete}?{}", required_query.join("&")))
            };
            let method_ = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut request = app.client.request(method_, url).bearer_auth(&a);
            if op.get("requestBody").is_some() {
                let content_type = op["requestBody"]["content"]
                    .as_object()
                    .and_then(|c| c.keys().next().cloned())
                    .unwrap_or_else(|| "application/json".into());
                let body = plausible_body(path);
                let bytes = if content_type == "application/x-ndjson" {
                    let items = body.as_array().unwrap();
                    items.iter().map(|i| format!("{i}\n")).collect::<String>()
                } else {
                    body.to_string()
                };
                request = request.header("content-type", content_type).body(bytes);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let what = format!(
                "{} {path} with another reseller's token",
                method.to_uppercase()
            );
            for secret in [SECRET_CHANNEL, SECRET_RESELLER, SECRET_SUBSCRIPTION] {
                assert!(!text.contains(secret), "{what} shows {secret}: {text}");
            }
            if path.contains('{') {
                assert!(
                    status == 403 || status == 404,
                    "{what} answered {status}: {text}"
                );
            } else {
                assert!(
                    status == 403 || (200..300).contains(&status),
                    "{what} answered {status}: {text}"
                );
            }
            walked += 1;
        }
    }
    assert!(walked >= 30, "only {walked} operations walked");

    // And nothing of B's changed.
    for path in [
        format!("/v1/subscriptions/{SECRET_SUBSCRIPTION}"),
        format!("/v1/channels/{SECRET_CHANNEL}"),
        format!("/v1/resellers/{SECRET_RESELLER}"),
    ] {
        let r = app.get(&path, &app.admin_token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} is still there");
    }
    let sub: Value = app
        .get(
            &format!("/v1/subscriptions/{SECRET_SUBSCRIPTION}"),
            &app.admin_token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sub["enabled"], true, "{sub}");
    app.stop().await;
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Tokens are stored as SHA-256 only, and neither a presented token nor an issued one appears
/// in the server's output, even at the most verbose log level.
#[actix_web::test]
async fn tokens_are_stored_hashed_and_never_logged() {
    let test_db = TestDb::new();
    let admin = partnerfeed::service::tokens::generate();
    let port = free_port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_partnerfeed"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &test_db.url)
        .env("PARTNERFEED_DATA_DIR", test_db.data_dir())
        .env("PARTNERFEED_ADMIN_TOKEN", &admin)
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the server never became ready");
    let issued: Value = client
        .post(format!("{base}/v1/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"role": "editor", "name": "pim"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let editor = issued["token"].as_str().unwrap().to_string();
    let listed = client
        .get(format!("{base}/v1/products"))
        .bearer_auth(&editor)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let wrong = format!("{editor}x");
    let refused = client
        .get(format!("{base}/v1/products"))
        .bearer_auth(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let db = store::Db::connect(store::Backend::from_url(&test_db.url).unwrap()).unwrap();
    let mut conn = db.read_conn().unwrap();
    for token in [&admin, &editor] {
        let row =
            store::tokens::find_by_hash(&mut conn, &partnerfeed::service::tokens::hash(token))
                .unwrap()
                .expect("stored by its hash");
        assert_ne!(&row.token_hash, token);
        assert!(
            store::tokens::find_by_hash(&mut conn, token)
                .unwrap()
                .is_none(),
            "the secret itself is not a stored value"
        );
    }
    drop(conn);
    if test_db.url.starts_with("sqlite") {
        for entry in std::fs::read_dir(test_db.data_dir()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
            for token in [&admin, &editor] {
                assert!(
                    !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                    "a token is in a file of the data directory"
                );
            }
        }
    }

    server.kill().unwrap();
    let out = server.wait_with_output().unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(logs.contains("/v1/products"), "the requests were logged");
    for token in [&admin, &editor, &wrong] {
        assert!(!logs.contains(token.as_str()), "a token is in the logs");
    }
}

/// A listener that answers every request with `response` and counts the connections it took.
fn responder(response: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, hits)
}

/// SSRF: webhook URLs to private or loopback addresses are refused, whether given as an IP
/// literal (also IPv4-mapped IPv6) or as a name that resolves there (resolved once, checked,
/// and connected to as checked: no second resolution for DNS rebinding); redirects are not
/// followed, so a public receiver cannot bounce a delivery inward. The address rules
/// themselves are unit-tested in `webhooks::guard`.
#[actix_web::test]
async fn webhook_urls_cannot_reach_private_addresses() {
    let (port, hits) = responder("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
    let public_only = Sender::new(AllowList::default(), Duration::from_secs(15)).unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("https://127.0.0.1:{port}/hook"),
        format!("https://[::ffff:127.0.0.1]:{port}/hook"),
        format!("https://localhost:{port}/hook"),
    ] {
        let r = public_only
            .post(&url, "msg_1", 0, "v1,x", "application/json", b"{}".to_vec())
            .await;
        assert!(r.status.is_none() && r.error.is_some(), "{url}: {r:?}");
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);

    // A receiver the operator allowed redirects elsewhere: the redirect is not followed.
    let (inner, inner_hits) = responder("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
    let location: &'static str = Box::leak(
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{inner}/admin\r\n\
             content-length: 0\r\n\r\n"
        )
        .into_boxed_str(),
    );
    let (outer, _) = responder(location);
    let allowed = Sender::new(
        AllowList::parse("127.0.0.0/8").unwrap(),
        Duration::from_secs(15),
    )
    .unwrap();
    let r = allowed
        .post(
            &format!("http://127.0.0.1:{outer}/hook"),
            "msg_2",
            0,
            "v1,x",
            "application/json",
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(r.status, Some(307), "{r:?}");
    assert_eq!(inner_hits.load(std::sync::atomic::Ordering::SeqCst), 0);

    // Through the API: the subscription is refused at once, naming the field.
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let shop = setup(&app, "fr-resellers", &fr_resellers(), "shop").await;
    for url in [
        "http://127.0.0.1:9/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/hook",
        "https://[::1]/hook",
    ] {
        let r = app
            .post_json(
                "/v1/channels/fr-resellers/subscriptions",
                &shop,
                &json!({"url": url, "format": "json"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{url}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["pointer"], "/url", "{problem}");
    }
    app.stop().await;
}

async fn get_text(app: &TestApp, path: &str, token: &str) -> String {
    let response = app.get(path, token).send().await.unwrap();
    response.text().await.unwrap()
}

/// Hostile product texts: markup, entities, a CDATA end, C0 controls and a formula. Every XML
/// format stays well-formed and valid against its XSD; every CSV cell that a spreadsheet would
/// run is neutralised.
#[actix_web::test]
async fn hostile_product_texts_stay_inert_in_xml_and_csv() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let hostile = "=HYPERLINK(\"http://evil.example\",\"x\")</title><script>&amp;\u{1}]]>\"'\r\n";
    let mut product = drill("EVIL-1");
    product["title"] = json!({"fr": hostile, "en": "+cmd|' /C calc'!A0"});
    product["brand"] = json!("@SUM(1+1)<b>");
    product["description"] =
        json!({"fr": "-2+3 ]]> <!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>&e;"});
    let r = app.put_product(&product).await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    // The channel carries the profiles' settings and the text fields, so that the hostile
    // product is in every document rather than left out of it.
    let mut channel = fr_resellers();
    channel["settings"] = json!({
        "link_template": "https://shop.example.com/p/{sku}",
        "sender_gln": "3700122000016",
        "receiver_gln": "3760000000107"
    });
    channel["fields"] = json!([
        "gtin",
        "title",
        "description",
        "brand",
        "category",
        "price",
        "media",
        "dimensions",
        "weight",
        "packaging"
    ]);
    let shop = setup(&app, "fr-resellers", &channel, "shop").await;
    app.drain().await;

    let dir = tempfile::tempdir().unwrap();
    for (format, xsd) in [
        ("xml", "feeds/partnerfeed-feed.xsd"),
        ("google-xml", ""),
        ("bmecat", "../shared/schemas/bmecat-2005/bmecat_2005.xsd"),
    ] {
        let body = app
            .get(
                &format!("/v1/channels/fr-resellers/feed?format={format}"),
                &shop,
            )
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            !text.contains("<script>"),
            "{format}: markup passed through"
        );
        assert!(
            !text.contains('\u{1}'),
            "{format}: a control character passed through"
        );
        let file = dir.path().join(format!("feed.{format}.xml"));
        std::fs::write(&file, &body).unwrap();
        if xsd.is_empty() {
            if let Err(errors) = xsd_check::well_formed(&body) {
                panic!("{format}: {}", errors.join("\n"));
            }
        } else {
            validate_xml(&file, xsd);
        }
    }
    for format in ["csv", "google-tsv"] {
        let text = get_text(
            &app,
            &format!("/v1/channels/fr-resellers/feed?format={format}"),
            &shop,
        )
        .await;
        let delimiter = if format == "csv" { b',' } else { b'\t' };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_reader(text.as_bytes());
        let mut cells = 0;
        for record in reader.records() {
            for cell in record.unwrap().iter() {
                cells += 1;
                assert!(
                    !cell.starts_with(['=', '+', '@', '\t', '\r']),
                    "{format}: a cell a spreadsheet would run: {cell:?}"
                );
                assert!(
                    !(cell.starts_with('-') && cell.parse::<f64>().is_err()),
                    "{format}: {cell:?}"
                );
            }
        }
        if cells == 0 {
            let path = format!("/v1/channels/fr-resellers/feed/report?format={format}");
            let report = get_text(&app, &path, &shop).await;
            panic!("{format} is empty: {text} {report}");
        }
        assert!(
            text.contains("'=HYPERLINK"),
            "{format}: the title is kept, guarded"
        );
    }
    app.stop().await;
}

/// A product 10,000 arrays deep, in every body that takes JSON: a 400 problem, not a stack
/// overflow; the server goes on answering.
#[actix_web::test]
async fn deeply_nested_json_is_a_problem_not_a_crash() {
    let app = TestApp::spawn().await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let product = format!(r#"{{"sku": "DEEP-1", "attributes": {{"x": {deep}}}}}"#);
    for (method, path, content_type, body) in [
        (
            "PUT",
            "/v1/products/DEEP-1",
            "application/json",
            product.clone(),
        ),
        (
            "PATCH",
            "/v1/products/DEEP-1",
            "application/merge-patch+json",
            product.clone(),
        ),
        (
            "POST",
            "/v1/products/batch",
            "application/json",
            format!("[{product}]"),
        ),
        ("PUT", "/v1/channels/deep", "application/json", deep.clone()),
        (
            "PUT",
            "/v1/resellers/deep",
            "application/json",
            deep.clone(),
        ),
        ("POST", "/v1/tokens", "application/json", deep.clone()),
    ] {
        let r = app
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(path),
            )
            .bearer_auth(&app.admin_token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{method} {path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let problem: Value = r.json().await.unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("recursion limit"),
            "{method} {path}: {problem}"
        );
    }
    // NDJSON batch: the deep line is named, the good line is kept.
    let ndjson = format!("{product}\n{}\n", drill("DRL-OK"));
    let r = app.batch("application/x-ndjson", ndjson).await;
    assert_eq!(r.status(), 200);
    let result: Value = r.json().await.unwrap();
    assert_eq!(result["stored"], 1, "{result}");
    assert_eq!(result["results"][0]["status"], "error", "{result}");
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), 200);
    app.stop().await;
}

/// No request reaches a file: the data directory (where `admin.token` lives) is not served,
/// traversal in SKUs, codes and formats is refused, and formats name compiled-in profiles,
/// never files.
#[actix_web::test]
async fn paths_never_reach_the_data_directory() {
    let app = TestApp::spawn().await;
    std::fs::write(
        app.data_dir().join("admin.token"),
        "pf_should_never_be_served\n",
    )
    .unwrap();
    let shop = setup(&app, "fr-resellers", &fr_resellers(), "shop").await;
    for path in [
        "/admin.token",
        "/data/admin.token",
        "/v1/../admin.token",
        "/v1/%2e%2e/admin.token",
        "/v1/products/..%2F..%2Fadmin.token",
        "/v1/products/..%2Fadmin.token/history",
        "/v1/channels/..%2F..%2Fadmin.token",
        "/v1/channels/fr-resellers/feed?format=..%2F..%2F..%2Fetc%2Fpasswd",
        "/v1/channels/fr-resellers/feed?format=..%2Fprofiles%2Fgoogle-xml",
        "/v1/channels/fr-resellers/feed/report?format=%2Fetc%2Fpasswd",
        "/openapi.json/../admin.token",
    ] {
        for token in [&app.admin_token, &shop] {
            let r = app.get(path, token).send().await.unwrap();
            let status = r.status().as_u16();
            assert!(
                [400, 403, 404, 422].contains(&status),
                "{path} answered {status}"
            );
            assert_eq!(
                r.headers()["content-type"],
                "application/problem+json",
                "{path}"
            );
            let body = r.text().await.unwrap();
            assert!(!body.contains("pf_should_never_be_served"), "{path}");
            assert!(!body.contains("root:"), "{path}");
        }
    }
    let put = app
        .put_json(
            "/v1/products/..%2F..%2Fadmin.token",
            &app.admin_token,
            &drill("../../admin.token"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 422, "a SKU cannot be a path");
    assert_eq!(
        std::fs::read_to_string(app.data_dir().join("admin.token")).unwrap(),
        "pf_should_never_be_served\n"
    );
    app.stop().await;
}

/// The 422 of a refused webhook URL: a control character is refused (never kept to reach a
/// request line or an alert mail), a name is refused without the private address it resolves
/// to, and an IPv4 carried in 6to4/Teredo/NAT64 is judged as that IPv4.
#[actix_web::test]
async fn webhook_urls_with_control_characters_or_hidden_private_addresses_get_422_at_url() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let shop = setup(&app, "fr-resellers", &fr_resellers(), "shop").await;
    let subscribe = |url: &str| {
        app.post_json(
            "/v1/channels/fr-resellers/subscriptions",
            &shop,
            &json!({"url": url, "format": "json"}),
        )
        .send()
    };
    for (url, says) in [
        (
            "https://hooks.example.com/a\r\nX-Injected: 1",
            "control characters",
        ),
        ("https://hooks.example.com/a\n", "control characters"),
        ("https://hooks.example.com/\ta", "control characters"),
        ("https://hooks.example.com/\u{7f}", "control characters"),
        (
            "https://localhost/hook",
            "the host localhost resolves to a non-public address",
        ),
        ("https://[2002:7f00:1::]/hook", "not a public address"),
        (
            "https://[2001:0:5db8:4e:0:f7ff:80ff:fffe]/hook",
            "not a public address",
        ),
        ("https://[64:ff9b::a9fe:a9fe]/hook", "not a public address"),
    ] {
        let r = subscribe(url).await.unwrap();
        assert_eq!(r.status(), 422, "{url:?}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["pointer"], "/url", "{problem}");
        let text = problem.to_string();
        assert!(text.contains(says), "{url:?}: {problem}");
        // The address a name resolves to is not told.
        assert!(
            !text.contains("127.0.0.1") && !text.contains("::1"),
            "{problem}"
        );
    }
    app.stop().await;
}
