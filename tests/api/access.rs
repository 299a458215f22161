//! Access that can be withdrawn, and partners that cannot starve each other: the token
//! lifecycle (create with an expiry, list, revoke; refused within a second on every
//! instance), the per-token concurrency bound, and slow readers that hold no database
//! connection (docs/security.md names these tests).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};

use crate::channels::{fr_resellers, setup};
use crate::helpers::{drill, start_time, Options, TestApp};

/// `POST path` with `body` as `token`; the status and the JSON body (`Null` when not JSON).
async fn post(app: &TestApp, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let r = app.post_json(path, token, body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn status(app: &TestApp, path: &str, token: &str) -> u16 {
    app.get(path, token).send().await.unwrap().status().as_u16()
}

async fn revoke(app: &TestApp, id: &str, token: &str) -> u16 {
    app.client
        .delete(app.url(&format!("/v1/tokens/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn list(app: &TestApp) -> (String, Vec<Value>) {
    let r = app
        .get("/v1/tokens", &app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    (text, body["tokens"].as_array().unwrap().clone())
}

/// A reseller `code` with access to `channel`, and a new token of it; answers the token.
async fn reseller(app: &TestApp, code: &str, channel: &str) -> String {
    let r = app
        .put_json(
            &format!("/v1/resellers/{code}"),
            &app.admin_token,
            &json!({"name": code, "email": format!("it@{code}.example"),
                    "channels": if channel.is_empty() { json!([]) } else { json!([channel]) }}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status() == 201 || r.status() == 200);
    reseller_token(app, code).await
}

async fn reseller_token(app: &TestApp, code: &str) -> String {
    let (s, body) = post(
        app,
        &format!("/v1/resellers/{code}/tokens"),
        &app.admin_token,
        &json!({}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// Polls `path` as `token` until it answers `want`; fails after `within`.
async fn answers_within(app: &TestApp, path: &str, token: &str, want: u16, within: Duration) {
    polls_until(path, want, within, || status(app, path, token)).await;
}

/// Asks `probe` every 20 ms until it answers `want`; fails after `within`, naming `what`.
async fn polls_until<F, Fut>(what: &str, want: u16, within: Duration, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let deadline = Instant::now() + within;
    loop {
        let got = probe().await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} still answers {got}, not {want}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn tokens_are_listed_and_revoked_and_never_shown_again() {
    let app = TestApp::spawn().await;
    let (s, editor) = post(
        &app,
        "/v1/tokens",
        &app.admin_token,
        &json!({"role": "editor", "name": "pim"}),
    )
    .await;
    assert_eq!(s, 201);
    let keys: Vec<&str> = editor
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys, ["token", "id", "name", "role"], "{editor}");
    let (secret, id) = (
        editor["token"].as_str().unwrap().to_string(),
        editor["id"].as_str().unwrap().to_string(),
    );
    assert!(id.starts_with("tok_") && id.len() == 36, "{id}");
    assert!(
        !secret.contains(&id[4..])
            && !partnerfeed::service::tokens::hash(&secret).contains(&id[4..])
    );
    let shop = reseller(&app, "shop-1", "").await;

    // Listed with every documented field, never a secret or its hash.
    assert_eq!(status(&app, "/v1/products", &secret).await, 200);
    let (text, tokens) = list(&app).await;
    assert_eq!(tokens.len(), 3, "{text}");
    for secret in [&secret, &shop, &app.admin_token] {
        assert!(!text.contains(secret.as_str()));
        assert!(!text.contains(&partnerfeed::service::tokens::hash(secret)));
    }
    let listed = tokens.iter().find(|t| t["id"] == id).unwrap();
    let keys: Vec<&str> = listed
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "role",
            "reseller",
            "created_at",
            "last_used_at",
            "expires_at"
        ]
    );
    assert_eq!(listed["role"], "editor");
    assert_eq!(listed["name"], "pim");
    assert_eq!(listed["expires_at"], Value::Null);
    let shop_listed = tokens.iter().find(|t| t["role"] == "reseller").unwrap();
    assert_eq!(shop_listed["reseller"], "shop-1");

    // Only an admin lists and revokes.
    assert_eq!(status(&app, "/v1/tokens", &secret).await, 403);
    assert_eq!(status(&app, "/v1/tokens", &shop).await, 403);
    assert_eq!(revoke(&app, &id, &secret).await, 403);
    assert_eq!(revoke(&app, &id, &shop).await, 403);

    // Revoked: refused at once; unknown ids are 404.
    assert_eq!(revoke(&app, &id, &app.admin_token).await, 204);
    assert_eq!(status(&app, "/v1/products", &secret).await, 401);
    assert_eq!(revoke(&app, &id, &app.admin_token).await, 404);
    assert_eq!(revoke(&app, "tok_unknown", &app.admin_token).await, 404);
    let shop_id = shop_listed["id"].as_str().unwrap();
    assert_eq!(revoke(&app, shop_id, &app.admin_token).await, 204);
    assert_eq!(status(&app, "/v1/channels", &shop).await, 401);

    // The last admin token cannot be revoked through the API; another admin's can, even by
    // itself.
    let admin_id = list(&app).await.1[0]["id"].as_str().unwrap().to_string();
    assert_eq!(revoke(&app, &admin_id, &app.admin_token).await, 409);
    let (_, second) = post(
        &app,
        "/v1/tokens",
        &app.admin_token,
        &json!({"role": "admin", "name": "second"}),
    )
    .await;
    let second_secret = second["token"].as_str().unwrap();
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(revoke(&app, second_id, second_secret).await, 204);
    assert_eq!(status(&app, "/v1/tokens", second_secret).await, 401);
    assert_eq!(status(&app, "/v1/tokens", &app.admin_token).await, 200);

    // The time of last use reaches the list within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, tokens) = list(&app).await;
        if tokens[0]["last_used_at"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "last_used_at never recorded");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    app.stop().await;
}

#[actix_web::test]
async fn an_expired_token_gets_401_and_an_expiry_in_the_past_is_refused() {
    let app = TestApp::spawn().await;
    let at = (start_time() + chrono::Duration::hours(1)).to_rfc3339();
    let (s, body) = post(
        &app,
        "/v1/tokens",
        &app.admin_token,
        &json!({"role": "editor", "name": "temp", "expires_at": at}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["expires_at"], "2026-06-01T13:00:00Z");
    let editor = body["token"].as_str().unwrap().to_string();
    reseller(&app, "shop-1", "").await;
    let (s, body) = post(
        &app,
        "/v1/resellers/shop-1/tokens",
        &app.admin_token,
        &json!({"expires_at": at}),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(body["expires_at"], "2026-06-01T13:00:00Z");
    let shop = body["token"].as_str().unwrap().to_string();
    let (_, tokens) = list(&app).await;
    assert!(tokens
        .iter()
        .any(|t| t["name"] == "temp" && t["expires_at"] == "2026-06-01T13:00:00Z"));

    for bad in [
        json!((start_time() - chrono::Duration::seconds(1)).to_rfc3339()),
        json!("tomorrow"),
    ] {
        let (s, problem) = post(
            &app,
            "/v1/tokens",
            &app.admin_token,
            &json!({"role": "editor", "name": "x", "expires_at": bad}),
        )
        .await;
        assert_eq!(s, 422, "{problem}");
        assert_eq!(problem["errors"][0]["pointer"], "/expires_at");
        let (s, problem) = post(
            &app,
            "/v1/resellers/shop-1/tokens",
            &app.admin_token,
            &json!({"expires_at": bad}),
        )
        .await;
        assert_eq!(s, 422, "{problem}");
        assert_eq!(problem["errors"][0]["pointer"], "/expires_at");
    }

    assert_eq!(status(&app, "/v1/products", &editor).await, 200);
    assert_eq!(status(&app, "/v1/channels", &shop).await, 200);
    app.clock
        .set(start_time() + chrono::Duration::minutes(59) + chrono::Duration::seconds(59));
    assert_eq!(status(&app, "/v1/products", &editor).await, 200);
    app.clock.set(start_time() + chrono::Duration::hours(1));
    assert_eq!(status(&app, "/v1/products", &editor).await, 401);
    assert_eq!(status(&app, "/v1/channels", &shop).await, 401);
    assert_eq!(status(&app, "/v1/products", &app.admin_token).await, 200);
    app.stop().await;
}

#[actix_web::test]
async fn a_token_revoked_on_one_instance_is_refused_by_every_instance_within_a_second() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_sharing(&first, Options::default()).await;
    assert_eq!(first.put_product(&drill("D-1")).await.status(), 201);
    // Made on the first instance: works there at once, and on the second within a second.
    let shop = setup(&first, "ch", &fr_resellers(), "shop-1").await;
    first.settle().await;
    assert_eq!(status(&first, "/v1/channels/ch/feed", &shop).await, 200);
    answers_within(
        &second,
        "/v1/channels/ch/feed",
        &shop,
        200,
        Duration::from_secs(1),
    )
    .await;
    // The second instance now serves this feed from its cache.
    assert_eq!(status(&second, "/v1/channels/ch/feed", &shop).await, 200);
    let (s, editor) = post(
        &first,
        "/v1/tokens",
        &first.admin_token,
        &json!({"role": "editor", "name": "pim"}),
    )
    .await;
    assert_eq!(s, 201);
    let editor_secret = editor["token"].as_str().unwrap();
    answers_within(
        &second,
        "/v1/products",
        editor_secret,
        200,
        Duration::from_secs(1),
    )
    .await;

    let (_, tokens) = list(&first).await;
    let shop_id = tokens.iter().find(|t| t["role"] == "reseller").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(revoke(&first, &shop_id, &first.admin_token).await, 204);
    let revoked = Instant::now();
    assert_eq!(status(&first, "/v1/channels/ch/feed", &shop).await, 401);
    answers_within(
        &second,
        "/v1/channels/ch/feed",
        &shop,
        401,
        Duration::from_secs(1),
    )
    .await;
    assert!(revoked.elapsed() < Duration::from_secs(1));

    // Revoked on the second instance, refused on the first within a second.
    assert_eq!(
        revoke(&second, editor["id"].as_str().unwrap(), &second.admin_token).await,
        204
    );
    assert_eq!(status(&second, "/v1/products", editor_secret).await, 401);
    answers_within(
        &first,
        "/v1/products",
        editor_secret,
        401,
        Duration::from_secs(1),
    )
    .await;
    second.stop().await;
    first.stop().await;
}

#[actix_web::test]
async fn the_bearer_scheme_is_matched_without_regard_to_case() {
    // RFC 9110 (11.1): the authentication scheme is case-insensitive; `bearer` and `BEARER`
    // are the same credentials as `Bearer`, on the API and on /metrics.
    let app = TestApp::spawn().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        for path in ["/v1/tokens", "/metrics"] {
            let r = app
                .client
                .get(app.url(path))
                .header("Authorization", format!("{scheme} {}", app.admin_token))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{scheme} on {path}");
        }
    }
    let r = app
        .client
        .get(app.url("/v1/tokens"))
        .header("Authorization", format!("Basic {}", app.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[actix_web::test]
async fn two_admins_revoking_each_other_at_once_leave_one() {
    // Each revocation checks that an admin is left; run at once they must not both pass
    // (on PostgreSQL the admin rows are locked before the check).
    let app = TestApp::spawn().await;
    let (_, tokens) = list(&app).await;
    let mut current = (
        tokens.iter().find(|t| t["role"] == "admin").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string(),
        app.admin_token.clone(),
    );
    for round in 0..5 {
        let (s, body) = post(
            &app,
            "/v1/tokens",
            &current.1,
            &json!({"role": "admin", "name": format!("second-{round}")}),
        )
        .await;
        assert_eq!(s, 201);
        let other = (
            body["id"].as_str().unwrap().to_string(),
            body["token"].as_str().unwrap().to_string(),
        );
        let (a, b) = futures_util::future::join(
            revoke(&app, &other.0, &current.1),
            revoke(&app, &current.0, &other.1),
        )
        .await;
        // One revocation wins; the other is refused as the last admin's, or its caller is
        // already revoked.
        let survivor = match (a, b) {
            (204, 409 | 401) => current,
            (409 | 401, 204) => other,
            _ => panic!("round {round}: {a} {b}: both admins revoked"),
        };
        let r = app.get("/v1/tokens", &survivor.1).send().await.unwrap();
        assert_eq!(r.status(), 200, "round {round}");
        let listed: Value = r.json().await.unwrap();
        let admins = listed["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["role"] == "admin")
            .count();
        assert_eq!(admins, 1, "round {round}");
        current = survivor;
    }
    app.stop().await;
}

// ------------------------------------------------------------------ slow readers

/// A demo-sized catalog (`products` demo products and the demo channels), settled.
async fn demo_catalog(app: &TestApp, products: usize) {
    let db = app.db.clone();
    actix_web::rt::task::spawn_blocking(move || partnerfeed::demo::load::load(&db, products))
        .await
        .unwrap()
        .unwrap();
    app.settle().await;
}

/// The large change page the slow readers ask for.
const LARGE_PAGE: &str = "/v1/channels/eu-marketplace/changes?format=gdsn-cin&limit=10000";

/// A connection with a small receive window that asks for `path` and then reads only the
/// status line: the rest of the response is never read. Answers the socket (kept open) and
/// the status code.
fn slow_reader(addr: SocketAddr, path: &str, token: &str) -> (TcpStream, u16) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: partnerfeed\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head).to_string();
    let code = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {head:?}"));
    (stream, code)
}

fn address(app: &TestApp) -> SocketAddr {
    app.address.trim_start_matches("http://").parse().unwrap()
}

/// Opens `count` slow readers as `token` off the test's runtime; answers them and their
/// statuses.
async fn slow_readers(app: &TestApp, token: &str, count: usize) -> Vec<(TcpStream, u16)> {
    let (addr, token) = (address(app), token.to_string());
    actix_web::rt::task::spawn_blocking(move || {
        let handles: Vec<_> = (0..count)
            .map(|_| {
                let token = token.clone();
                std::thread::spawn(move || slow_reader(addr, LARGE_PAGE, &token))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn a_token_over_its_concurrency_bound_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(Options {
        token_concurrency: 2,
        ..Default::default()
    })
    .await;
    demo_catalog(&app, 3000).await;
    let greedy = reseller(&app, "greedy", "eu-marketplace").await;
    let other = reseller(&app, "other", "eu-marketplace").await;
    let held = slow_readers(&app, &greedy, 2).await;
    assert!(held.iter().all(|(_, s)| *s == 200));

    // Both streams are still being read (slowly): a third request is refused.
    let r = app.get("/v1/channels", &greedy).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:partnerfeed:problem:too-many-concurrent"
    );
    // Another token is not affected.
    assert_eq!(status(&app, "/v1/channels", &other).await, 200);

    // Closing the connections drops the bodies, and the permits with them.
    drop(held);
    answers_within(&app, "/v1/channels", &greedy, 200, Duration::from_secs(10)).await;
    app.stop().await;
}

/// How long the slow readers hold their connections in the proving test.
const HOLD: Duration = Duration::from_secs(60);

#[actix_web::test]
async fn fifty_slow_readers_starve_no_one() {
    let app = TestApp::spawn_with(Options {
        token_concurrency: 10,
        ..Default::default()
    })
    .await;
    demo_catalog(&app, 3000).await;
    let other = reseller(&app, "other", "eu-marketplace").await;
    let editor = app.token("editor", "pim").await;
    let probe = Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let page = probe
        .get(app.url(LARGE_PAGE))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        page.len() > 8 << 20,
        "the page ({} bytes) must outgrow the socket buffers",
        page.len()
    );

    // Five reseller tokens, ten connections each, none of them reading.
    let mut held = Vec::new();
    for i in 0..5 {
        let token = reseller(&app, &format!("slow-{i}"), "eu-marketplace").await;
        held.push(actix_web::rt::spawn({
            let (addr, token) = (address(&app), token.clone());
            async move {
                actix_web::rt::task::spawn_blocking(move || {
                    let handles: Vec<_> = (0..10)
                        .map(|_| {
                            let token = token.clone();
                            std::thread::spawn(move || slow_reader(addr, LARGE_PAGE, &token))
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap())
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap()
            }
        }));
    }

    // Meanwhile, and for as long as they are held, everyone else is served.
    let start = Instant::now();
    let mut rounds = 0;
    let mut slowest_ready = Duration::ZERO;
    let mut sockets = Vec::new();
    let mut pending = held;
    while start.elapsed() < HOLD || !pending.is_empty() {
        let feed = probe
            .get(app.url("/v1/channels/eu-marketplace/feed"))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {rounds}: feed: {e}"));
        assert_eq!(feed.status(), 200, "round {rounds}: feed");
        feed.bytes()
            .await
            .unwrap_or_else(|e| panic!("round {rounds}: feed body: {e}"));
        let mut product = drill("STARVE-1");
        product["title"]["en"] = json!(format!("round {rounds}"));
        let put = probe
            .put(app.url("/v1/products/STARVE-1"))
            .bearer_auth(&editor)
            .json(&product)
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {rounds}: put: {e}"));
        assert!(
            put.status().is_success(),
            "round {rounds}: put {}",
            put.status()
        );
        let asked = Instant::now();
        let ready = probe
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {rounds}: readyz: {e}"));
        assert_eq!(ready.status(), 200, "round {rounds}: readyz");
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "round {rounds}: /readyz took {:?}",
            asked.elapsed()
        );
        slowest_ready = slowest_ready.max(asked.elapsed());
        rounds += 1;
        let mut still = Vec::new();
        for handle in pending {
            if handle.is_finished() {
                sockets.extend(handle.await.unwrap());
            } else {
                still.push(handle);
            }
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sockets.len(), 50);
    let statuses: Vec<u16> = sockets.iter().map(|(_, s)| *s).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    eprintln!("{rounds} rounds while 50 slow readers were held; slowest /readyz {slowest_ready:?}");
    drop(sockets);
    app.stop().await;
}

/// `GET /v1/channels/{channel}/feed` as `token` with `If-None-Match: etag`; the status and the
/// ETag answered.
async fn conditional(app: &TestApp, channel: &str, token: &str, etag: &str) -> (u16, String) {
    let r = app
        .get(&format!("/v1/channels/{channel}/feed"), token)
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    let etag = r
        .headers()
        .get("etag")
        .map(|e| e.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), etag)
}

/// Waits until the conditional request answers `want`; fails after `within`.
async fn conditional_within(
    app: &TestApp,
    channel: &str,
    token: &str,
    etag: &str,
    want: u16,
    within: Duration,
) {
    polls_until("the conditional feed request", want, within, || async {
        conditional(app, channel, token, etag).await.0
    })
    .await;
}

/// A statement on a connection of its own, outside this process's transactions: what another
/// instance's commit looks like to this one (the in-memory channel heads learn of it only by
/// their refresh).
async fn elsewhere(app: &TestApp, sql: &'static str) {
    use diesel::RunQueryDsl;
    let db = app.db.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let mut conn = db.connect_one().expect("connection");
        diesel::sql_query(sql).execute(&mut conn).expect(sql);
    })
    .await
    .unwrap();
}

#[actix_web::test]
async fn a_304_follows_publications_grants_and_revocations_within_a_second() {
    // 304s are answered from memory (docs/security.md): a change published here, or a grant
    // withdrawn here, shows at once; one made elsewhere within a second; a token revoked
    // anywhere stops a 304 within a second.
    let app = TestApp::spawn().await;
    assert_eq!(app.put_product(&drill("D-1")).await.status(), 201);
    let shop = setup(&app, "ch", &fr_resellers(), "shop-1").await;
    app.settle().await;
    let (s, etag) = conditional(&app, "ch", &shop, "\"none\"").await;
    assert_eq!(s, 200);
    conditional_within(&app, "ch", &shop, &etag, 304, Duration::from_secs(1)).await;

    // Published here: the old ETag answers 200 at once, with a new ETag.
    assert_eq!(app.put_product(&drill("D-2")).await.status(), 201);
    // Published (by this drain, or by the instance's own generator woken by the edit).
    app.settle().await;
    let (s, fresh) = conditional(&app, "ch", &shop, &etag).await;
    assert_eq!(s, 200);
    assert_ne!(fresh, etag);
    conditional_within(&app, "ch", &shop, &fresh, 304, Duration::from_secs(1)).await;

    // Published elsewhere (the channel's head moves on another instance): within a second.
    elsewhere(
        &app,
        "UPDATE channels SET last_seq = last_seq + 1 WHERE code = 'ch'",
    )
    .await;
    conditional_within(&app, "ch", &shop, &fresh, 200, Duration::from_secs(1)).await;
    let (_, fresh) = conditional(&app, "ch", &shop, "\"none\"").await;
    conditional_within(&app, "ch", &shop, &fresh, 304, Duration::from_secs(1)).await;

    // A grant withdrawn elsewhere: the 304 stops within a second (404, as for any channel the
    // reseller may not read).
    elsewhere(
        &app,
        "DELETE FROM reseller_channels WHERE reseller_code = 'shop-1'",
    )
    .await;
    let withdrawn = Instant::now();
    conditional_within(&app, "ch", &shop, &fresh, 404, Duration::from_secs(1)).await;
    assert!(withdrawn.elapsed() < Duration::from_secs(1));

    // Granted again, then withdrawn here: refused at once.
    let shop = setup(&app, "ch", &fr_resellers(), "shop-1").await;
    conditional_within(&app, "ch", &shop, &fresh, 304, Duration::from_secs(1)).await;
    let r = app
        .put_json(
            "/v1/resellers/shop-1",
            &app.admin_token,
            &json!({"name": "shop-1", "email": "it@shop-1.example", "channels": []}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(conditional(&app, "ch", &shop, &fresh).await.0, 404);

    // A token revoked elsewhere: its 304s stop within a second.
    let shop = setup(&app, "ch", &fr_resellers(), "shop-1").await;
    conditional_within(&app, "ch", &shop, &fresh, 304, Duration::from_secs(1)).await;
    elsewhere(&app, "DELETE FROM tokens WHERE reseller_code = 'shop-1'").await;
    let revoked = Instant::now();
    conditional_within(&app, "ch", &shop, &fresh, 401, Duration::from_secs(1)).await;
    assert!(revoked.elapsed() < Duration::from_secs(1));
    app.stop().await;
}
