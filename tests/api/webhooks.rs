//! Push webhooks end to end: a real receiver on 127.0.0.1:0, scripted to fail, verifying
//! Standard Webhooks signatures with a verifier written here; alert mails in the outbox and over
//! a real SMTP conversation with a receiver started inside the test.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use partnerfeed::app;
use partnerfeed::clock::{Clock, ManualClock};
use partnerfeed::config::Secret;
use partnerfeed::service::tokens;
use partnerfeed::webhooks::{AllowList, RetrySchedule, Settings};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::channels::{fr_resellers, jcs, sha256_hex};
use crate::helpers::{drill, start_time, Options, Process, TestApp, TestDb};

// ---------------------------------------------------------------- the service under test

/// The options of a webhook test's instance: deliveries to 127.0.0.0/8 retried after
/// `schedule`, the background jobs running (the tests that drive the jobs turn them off with
/// [`driven`]).
fn args(schedule: &str) -> Options {
    Options {
        body_limit: 1 << 20,
        webhooks: Settings {
            allow: AllowList::parse("127.0.0.0/8").unwrap(),
            schedule: RetrySchedule::parse(schedule).unwrap(),
            poll: Duration::from_millis(20),
            lease: Duration::from_secs(5),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The same with the background jobs off: the test drives the delta generator, the deliveries
/// and the digests itself (`deliver_once`, `wait_for`, `wait_caught_up`, `run_digests`).
fn driven(schedule: &str) -> Options {
    Options {
        jobs: false,
        ..args(schedule)
    }
}

/// A new instance (a restarted one) on `db`, whose admin token is `admin`.
fn launch(db: Arc<TestDb>, admin: String, options: Options) -> TestApp {
    TestApp::launch(db, admin, Arc::new(ManualClock::new(start_time())), options)
}

/// A new instance on a new database.
async fn spawn(options: Options) -> TestApp {
    TestApp::spawn_with(options).await
}

// ---------------------------------------------------------------- the receiver

#[derive(Debug, Clone, Copy)]
pub(crate) enum Reply {
    Status(u16),
    /// Answers this status with this body.
    Text(u16, &'static str),
    RetryAfter(u16, u64),
    /// Answers 200 after a while.
    Slow(u64),
    /// Answers 200 only after the sender has given up (timed out, or died): recorded at once
    /// with status 0, as not acknowledged.
    Stall(u64),
}

#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) id: String,
    pub(crate) timestamp: String,
    pub(crate) signature: String,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
    pub(crate) status: u16,
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    /// When the script is empty.
    otherwise: Option<u16>,
    deliveries: Vec<Delivery>,
    in_flight: usize,
    overlapped: bool,
}

#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    script: Arc<Mutex<Script>>,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    script: web::Data<Arc<Mutex<Script>>>,
) -> HttpResponse {
    let reply = {
        let mut s = script.lock().unwrap();
        s.in_flight += 1;
        if s.in_flight > 1 {
            s.overlapped = true;
        }
        s.replies
            .pop_front()
            .unwrap_or(Reply::Status(s.otherwise.unwrap_or(204)))
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let delivery = |status| Delivery {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body: body.to_vec(),
        status,
    };
    let mut text = "thanks";
    let (status, retry_after) = match reply {
        Reply::Stall(ms) => {
            {
                let mut s = script.lock().unwrap();
                s.in_flight -= 1;
                s.deliveries.push(delivery(0));
            }
            tokio::time::sleep(Duration::from_millis(ms)).await;
            return HttpResponse::Ok().body("too late");
        }
        Reply::Status(s) => (s, None),
        Reply::Text(s, t) => {
            text = t;
            (s, None)
        }
        Reply::RetryAfter(s, secs) => (s, Some(secs)),
        Reply::Slow(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            (200, None)
        }
    };
    {
        let mut s = script.lock().unwrap();
        s.in_flight -= 1;
        s.deliveries.push(delivery(status));
    }
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(secs) = retry_after {
        response.insert_header(("Retry-After", secs.to_string()));
    }
    response.body(text)
}

impl Receiver {
    pub(crate) async fn start(replies: Vec<Reply>) -> Receiver {
        let script = Arc::new(Mutex::new(Script {
            replies: replies.into(),
            ..Default::default()
        }));
        let data = web::Data::new(script.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 << 20))
                .route("/hook", web::post().to(receive))
        })
        .workers(2)
        .bind("127.0.0.1:0")
        .unwrap();
        let addr = server.addrs()[0];
        actix_web::rt::spawn(server.run());
        Receiver {
            url: format!("http://{addr}/hook"),
            script,
        }
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.script.lock().unwrap().deliveries.clone()
    }

    fn set_otherwise(&self, status: Option<u16>) {
        self.script.lock().unwrap().otherwise = status;
    }

    /// Requests being answered now.
    fn in_flight(&self) -> usize {
        self.script.lock().unwrap().in_flight
    }

    fn overlapped(&self) -> bool {
        self.script.lock().unwrap().overlapped
    }
}

/// Standard Webhooks verification, written independently of the crate under test.
pub(crate) fn verify(secret: &str, d: &Delivery) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", d.id, d.timestamp).as_bytes());
    mac.update(&d.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    let ts: i64 = d.timestamp.parse().unwrap();
    (chrono::Utc::now().timestamp() - ts).abs() <= 300
        && d.signature.split(' ').any(|s| s == expected)
}

/// Applies the accepted deliveries in order, checking order, continuity and hashes; returns
/// the replica and the last `to`.
fn replay_deliveries(
    deliveries: &[Delivery],
    secret: &str,
    start: &str,
) -> (BTreeMap<String, String>, String) {
    let mut records = BTreeMap::new();
    let mut cursor = start.to_string();
    let mut bodies: HashMap<String, Vec<u8>> = HashMap::new();
    let mut done: HashSet<String> = HashSet::new();
    for d in deliveries {
        assert!(verify(secret, d), "bad signature on {}", d.id);
        // The same id always carries the same bytes.
        let first = bodies.entry(d.id.clone()).or_insert_with(|| d.body.clone());
        assert_eq!(first, &d.body, "{} changed between attempts", d.id);
        if !(200..300).contains(&d.status) {
            continue;
        }
        assert!(done.insert(d.id.clone()), "{} accepted twice", d.id);
        let body: Value = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(body["type"], "catalog.changes");
        assert_eq!(
            body["from"],
            cursor.as_str(),
            "a gap or a reordering before {}",
            d.id
        );
        for change in body["changes"].as_array().unwrap() {
            let sku = change["sku"].as_str().unwrap().to_string();
            match change["op"].as_str().unwrap() {
                "upsert" => {
                    let hash = change["hash"].as_str().unwrap();
                    assert_eq!(sha256_hex(&jcs(&change["record"])), hash);
                    records.insert(sku, hash.to_string());
                }
                _ => {
                    records.remove(&sku);
                }
            }
        }
        cursor = body["to"].as_str().unwrap().to_string();
    }
    (records, cursor)
}

fn digest(records: &BTreeMap<String, String>) -> String {
    let lines: String = records.iter().map(|(s, h)| format!("{s}\t{h}\n")).collect();
    sha256_hex(&lines)
}

// ---------------------------------------------------------------- tests

#[actix_web::test]
async fn subscriptions_are_made_shown_and_kept_to_their_reseller() {
    let hub = spawn(driven("50ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let other = hub.reseller("fr-resellers", "shop-2").await;
    let receiver = Receiver::start(vec![]).await;
    let (_, feed) = hub
        .call("GET", "/v1/channels/fr-resellers/digest", &shop, None)
        .await;

    let (s, created) = hub
        .call(
            "POST",
            "/v1/channels/fr-resellers/subscriptions",
            &shop,
            Some(json!({"url": receiver.url, "format": "json"})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(STANDARD.decode(&secret[6..]).unwrap().len(), 32);
    assert_eq!(
        created["cursor"], feed["cursor"],
        "a new subscription starts now"
    );

    let shown = hub.subscription(&shop, id).await;
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown once: {shown}"
    );
    assert_eq!(shown["url"], receiver.url.as_str());
    assert_eq!(shown["enabled"], true);

    // Another reseller sees nothing of it.
    for (method, path, body) in [
        ("GET", format!("/v1/subscriptions/{id}"), None),
        (
            "PATCH",
            format!("/v1/subscriptions/{id}"),
            Some(json!({"enabled": false})),
        ),
        ("DELETE", format!("/v1/subscriptions/{id}"), None),
        ("GET", format!("/v1/subscriptions/{id}/attempts"), None),
        ("POST", format!("/v1/subscriptions/{id}/enable"), None),
        (
            "POST",
            format!("/v1/subscriptions/{id}/rotate-secret"),
            None,
        ),
        (
            "POST",
            format!("/v1/subscriptions/{id}/replay"),
            Some(json!({"since": "start"})),
        ),
    ] {
        let (s, _) = hub.call(method, &path, &other, body).await;
        assert_eq!(s, 404, "{method} {path}");
    }
    let (_, list) = hub.call("GET", "/v1/subscriptions", &other, None).await;
    assert_eq!(list["subscriptions"], json!([]));
    let (_, list) = hub.call("GET", "/v1/subscriptions", &shop, None).await;
    assert_eq!(list["subscriptions"][0]["id"], id);

    // Refused URLs name /url.
    for url in [
        "http://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://192.168.1.20/hook",
        "ftp://127.0.0.1/hook",
        "https://user:pw@127.0.0.1/hook",
        "not a url",
    ] {
        let (s, problem) = hub
            .call(
                "POST",
                "/v1/channels/fr-resellers/subscriptions",
                &shop,
                Some(json!({"url": url, "format": "json"})),
            )
            .await;
        assert_eq!(s, 422, "{url}: {problem}");
        assert_eq!(problem["errors"][0]["pointer"], "/url", "{url}: {problem}");
    }
    let (s, problem) = hub
        .call(
            "POST",
            "/v1/channels/fr-resellers/subscriptions",
            &shop,
            Some(json!({"url": receiver.url, "format": "pdf"})),
        )
        .await;
    assert_eq!(
        (s, problem["errors"][0]["pointer"].clone()),
        (422, json!("/format"))
    );
    let (s, _) = hub
        .call(
            "POST",
            "/v1/channels/elsewhere/subscriptions",
            &shop,
            Some(json!({"url": receiver.url, "format": "json"})),
        )
        .await;
    assert_eq!(s, 404);

    // Pause, then delete.
    let (s, paused) = hub.patch(&shop, id, json!({"enabled": false})).await;
    assert_eq!((s, paused["enabled"].clone()), (200, json!(false)));
    let (s, _) = hub
        .call("DELETE", &format!("/v1/subscriptions/{id}"), &shop, None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = hub
        .call("GET", &format!("/v1/subscriptions/{id}"), &shop, None)
        .await;
    assert_eq!(s, 404);
    hub.stop().await;
}

#[actix_web::test]
async fn deliveries_survive_failures_in_order_and_the_replica_converges() {
    let mut a = driven("50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms");
    a.webhooks.max_changes = 7;
    let hub = spawn(a).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    hub.put_products((0..20).map(|i| format!("DRL-{i:03}")))
        .await;
    let receiver = Receiver::start(vec![
        Reply::Status(500),
        Reply::Slow(300),
        Reply::Status(503),
        Reply::RetryAfter(429, 1),
        Reply::Status(302),
        Reply::Status(400),
    ])
    .await;
    let (id, secret) = hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "json", "since": "start"}),
        )
        .await;
    let start = hub.subscription(&shop, &id).await["cursor"]
        .as_str()
        .unwrap()
        .to_string();

    // Edits while deliveries fail and retry: deletions and updates too.
    for i in 0..5 {
        let (s, _) = hub
            .call(
                "DELETE",
                &format!("/v1/products/DRL-{i:03}"),
                &hub.admin_token,
                None,
            )
            .await;
        assert_eq!(s, 204);
    }
    let mut changed = drill("DRL-010");
    changed["title"]["fr"] = json!("Perceuse 18 V, nouvelle");
    let (s, _) = hub
        .call(
            "PUT",
            "/v1/products/DRL-010",
            &hub.admin_token,
            Some(changed),
        )
        .await;
    assert_eq!(s, 200);
    hub.put_products((20..30).map(|i| format!("DRL-{i:03}")))
        .await;

    let digest_now = hub.wait_caught_up(&shop, &id, "fr-resellers", 25).await;
    let deliveries = receiver.deliveries();
    let (records, cursor) = replay_deliveries(&deliveries, &secret, &start);
    assert_eq!(cursor, digest_now["cursor"].as_str().unwrap());
    assert_eq!(digest(&records), digest_now["digest"].as_str().unwrap());
    assert_eq!(records.len(), 25);
    // The failed attempts were retried with the same id (checked above) and logged.
    let first = &deliveries[0];
    assert_eq!(first.status, 500);
    assert!(deliveries.iter().filter(|d| d.id == first.id).count() >= 2);
    assert!(!receiver.overlapped(), "two batches were in flight at once");
    let attempts = &attempts_of(&hub, &shop, &id).await;
    assert_eq!(attempts.len(), deliveries.len());
    let oldest = attempts.last().unwrap();
    assert_eq!(oldest["status"], 500);
    assert_eq!(oldest["webhook_id"], first.id.as_str());
    assert_eq!(oldest["from"], start.as_str());
    assert_eq!(oldest["response"], "thanks");
    assert!(oldest["latency_ms"].is_number() && oldest["error"].is_null());
    hub.stop().await;
}

#[actix_web::test]
async fn a_vendor_edit_is_pushed_promptly() {
    // The background loops run: what is under test is that they push an edit promptly.
    let hub = spawn(args("50ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let receiver = Receiver::start(vec![]).await;
    let (_id, secret) = hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "json"}),
        )
        .await;
    let started = Instant::now();
    hub.put_products(["DRL-1".to_string()]).await;
    loop {
        if let Some(d) = receiver.deliveries().first() {
            assert!(verify(&secret, d));
            let body: Value = serde_json::from_slice(&d.body).unwrap();
            assert_eq!(body["changes"][0]["sku"], "DRL-1");
            break;
        }
        // Typically well under a second; the bound is loose so a loaded CI machine passes.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no delivery within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    hub.stop().await;
}

#[actix_web::test]
async fn failures_alert_the_contact_then_disable_and_enable_resumes_without_loss() {
    let hub = spawn(driven("30ms,30ms,30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let receiver = Receiver::start(vec![]).await;
    receiver.set_otherwise(Some(500));
    let (id, secret) = hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "json"}),
        )
        .await;
    let start = hub.subscription(&shop, &id).await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    hub.put_products(["DRL-1".to_string()]).await;
    let sub = hub
        .wait_for(&shop, &id, "disabled", |s| s["enabled"] == false)
        .await;
    assert!(
        sub["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{sub}"
    );
    let (_, log) = hub
        .call(
            "GET",
            &format!("/v1/subscriptions/{id}/attempts"),
            &shop,
            None,
        )
        .await;
    assert_eq!(
        log["attempts"].as_array().unwrap().len(),
        4,
        "one try and three retries"
    );
    let mails = hub.outbox();
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails
        .iter()
        .all(|m| m.contains("To: it@shop-1.example") && m.contains(&receiver.url)));
    assert!(
        mails[0].contains("failing") && mails[0].contains("HTTP 500"),
        "{}",
        mails[0]
    );
    assert!(mails[1].contains("disabled"), "{}", mails[1]);

    // More edits while disabled, then the endpoint is back and the reseller enables it.
    hub.put_products((2..6).map(|i| format!("DRL-{i}"))).await;
    receiver.set_otherwise(None);
    let (s, _) = hub.act(&shop, &id, "enable", None).await;
    assert_eq!(s, 200);
    let digest_now = hub.wait_caught_up(&shop, &id, "fr-resellers", 5).await;
    let (records, _) = replay_deliveries(&receiver.deliveries(), &secret, &start);
    assert_eq!(digest(&records), digest_now["digest"].as_str().unwrap());
    assert_eq!(records.len(), 5);
    hub.stop().await;
}

#[actix_web::test]
async fn a_410_disables_at_once_and_replay_sends_everything_again() {
    let hub = spawn(driven("30ms,30ms,30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    hub.put_products((0..3).map(|i| format!("DRL-{i}"))).await;
    let receiver = Receiver::start(vec![Reply::Status(410)]).await;
    let (id, secret) = hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "json", "since": "start"}),
        )
        .await;
    let sub = hub
        .wait_for(&shop, &id, "disabled", |s| s["enabled"] == false)
        .await;
    assert!(sub["disabled_reason"].as_str().unwrap().contains("410"));
    assert_eq!(receiver.deliveries().len(), 1);
    let mails = hub.outbox();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains(&receiver.url) && mails[0].contains("disabled"));

    let (s, _) = hub.act(&shop, &id, "enable", None).await;
    assert_eq!(s, 200);
    hub.wait_caught_up(&shop, &id, "fr-resellers", 3).await;
    // Replay from the start: the whole channel again, in a new batch.
    let before = receiver.deliveries().len();
    let (s, replayed) = hub
        .act(&shop, &id, "replay", Some(json!({"since": "start"})))
        .await;
    assert_eq!(s, 200, "{replayed}");
    let digest_now = hub.wait_caught_up(&shop, &id, "fr-resellers", 3).await;
    let again = &receiver.deliveries()[before..];
    let start = pull_start(&hub, &shop).await;
    let (records, _) = replay_deliveries(again, &secret, &start);
    assert_eq!(digest(&records), digest_now["digest"].as_str().unwrap());
    assert_eq!(records.len(), 3);
    hub.stop().await;
}

/// The cursor of the very beginning of the channel, as a changes page reports it.
async fn pull_start(hub: &TestApp, token: &str) -> String {
    let response = hub
        .req(
            reqwest::Method::GET,
            "/v1/channels/fr-resellers/changes?limit=1",
            token,
        )
        .send()
        .await
        .unwrap();
    let page: Value = response.json().await.unwrap();
    page["since"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn a_rotated_secret_signs_with_both_until_it_expires() {
    let hub = spawn(driven("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let receiver = Receiver::start(vec![]).await;
    let (id, old) = hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "ndjson"}),
        )
        .await;
    let (s, rotated) = hub.act(&shop, &id, "rotate-secret", None).await;
    assert_eq!(s, 200);
    let new = rotated["secret"].as_str().unwrap();
    assert_ne!(new, old);
    hub.put_products(["DRL-1".to_string()]).await;
    hub.wait_caught_up(&shop, &id, "fr-resellers", 1).await;
    let d = &receiver.deliveries()[0];
    assert_eq!(d.signature.split(' ').count(), 2);
    assert!(verify(new, d) && verify(&old, d));
    // NDJSON bodies are the changes page in that format.
    let line: Value =
        serde_json::from_slice(d.body.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["sku"], "DRL-1");
    hub.stop().await;
}

#[actix_web::test]
async fn two_instances_never_deliver_one_subscription_at_once() {
    let mut a = args("30ms,30ms,30ms,30ms,30ms");
    a.webhooks.max_changes = 3;
    // The background loops run: what is under test is two instances' loops competing.
    let first = spawn(a.clone()).await;
    let second = TestApp::spawn_sharing(&first, a).await;
    let shop = first.reseller("fr-resellers", "shop-1").await;
    crate::helpers::token_known_at(&second.address, &shop).await;
    let receiver =
        Receiver::start(vec![Reply::Slow(100), Reply::Status(500), Reply::Slow(100)]).await;
    let (id, secret) = first
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "json"}),
        )
        .await;
    let start = first.subscription(&shop, &id).await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    first.put_products((0..10).map(|i| format!("A-{i}"))).await;
    second.put_products((0..10).map(|i| format!("B-{i}"))).await;
    let digest_now = second.wait_caught_up(&shop, &id, "fr-resellers", 20).await;
    let (records, _) = replay_deliveries(&receiver.deliveries(), &secret, &start);
    assert_eq!(digest(&records), digest_now["digest"].as_str().unwrap());
    assert!(
        !receiver.overlapped(),
        "two deliveries of one subscription overlapped"
    );
    second.stop().await;
    first.stop().await;
}

// ---------------------------------------------------------------- SMTP

/// A minimal SMTP server: accepts one session after another and keeps each message's DATA.
async fn smtp_receiver() -> (u16, Arc<Mutex<Vec<(String, String)>>>) {
    let (port, got, _) = smtp_server().await;
    (port, got)
}

/// Replies the SMTP server gives at the end of DATA, in order, instead of `250` (the message
/// is not kept then), e.g. `"554 5.7.1 message refused"`.
type Refusals = Arc<Mutex<VecDeque<&'static str>>>;

/// The same, refusing messages as scripted in the returned [`Refusals`].
async fn smtp_server() -> (u16, Arc<Mutex<Vec<(String, String)>>>, Refusals) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let store = got.clone();
    let refusals: Refusals = Arc::default();
    let rejections = refusals.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = store.clone();
            let rejections = rejections.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut rcpt = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-test\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("HELO") || upper.starts_with("MAIL FROM") {
                        b"250 OK\r\n"
                    } else if upper.starts_with("RCPT TO") {
                        rcpt = line[8..].trim().to_string();
                        b"250 OK\r\n"
                    } else if upper == "DATA" {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        let refusal = rejections.lock().unwrap().pop_front();
                        match refusal {
                            Some(r) => {
                                write
                                    .write_all(format!("{r}\r\n").as_bytes())
                                    .await
                                    .unwrap();
                                continue;
                            }
                            None => {
                                store.lock().unwrap().push((rcpt.clone(), data));
                                b"250 queued\r\n"
                            }
                        }
                    } else if upper == "QUIT" {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, got, refusals)
}

/// The confirmation link in a mail (plain or quoted-printable), as a path and query.
fn confirm_link(mail: &str) -> String {
    let text = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let at = text
        .find("/v1/subscriptions/confirm?token=")
        .unwrap_or_else(|| panic!("no confirmation link in {mail}"));
    text[at..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

#[actix_web::test]
async fn alerts_go_out_over_smtp_when_configured() {
    let (port, got) = smtp_receiver().await;
    let mut a = driven("30ms");
    a.mail.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
    let hub = spawn(a).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let receiver = Receiver::start(vec![Reply::Status(410)]).await;
    let (id, _) = hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "csv"}),
        )
        .await;
    hub.put_products(["DRL-1".to_string()]).await;
    hub.wait_for(&shop, &id, "disabled", |s| s["enabled"] == false)
        .await;
    let started = Instant::now();
    while got.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no mail over SMTP"
        );
        hub.step().await;
    }
    let (rcpt, data) = got.lock().unwrap()[0].clone();
    assert_eq!(rcpt, "<it@shop-1.example>");
    assert!(
        data.contains(&receiver.url) && data.contains("disabled"),
        "{data}"
    );
    assert!(hub.outbox().is_empty(), "SMTP replaces the outbox");
    hub.stop().await;
}

#[actix_web::test]
async fn a_profile_with_change_pages_is_a_webhook_format_and_a_snapshot_profile_is_refused() {
    let hub = spawn(driven("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let receiver = Receiver::start(vec![]).await;
    for format in ["google-xml", "google-tsv"] {
        let (s, problem) = hub
            .call(
                "POST",
                "/v1/channels/fr-resellers/subscriptions",
                &shop,
                Some(json!({"url": receiver.url, "format": format})),
            )
            .await;
        assert_eq!(s, 422, "{format}: {problem}");
        let error = &problem["errors"][0];
        assert_eq!(error["pointer"], "/format", "{problem}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(format) && message.contains("snapshot") && message.contains("bmecat"),
            "{message}"
        );
    }
    hub.put_products(["DRL-1".to_string(), "DRL-2".to_string()])
        .await;
    let (id, secret) = hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "bmecat", "since": "start"}),
        )
        .await;
    // A snapshot profile cannot be switched to either.
    let (s, problem) = hub.patch(&shop, &id, json!({"format": "google-tsv"})).await;
    assert_eq!(
        (s, problem["errors"][0]["pointer"].clone()),
        (422, json!("/format"))
    );
    hub.wait_caught_up(&shop, &id, "fr-resellers", 2).await;
    let before = receiver.deliveries().len();
    let (s, _) = hub
        .call("DELETE", "/v1/products/DRL-2", &hub.admin_token, None)
        .await;
    assert_eq!(s, 204);
    hub.wait_caught_up(&shop, &id, "fr-resellers", 1).await;

    let deliveries = receiver.deliveries();
    for d in &deliveries {
        assert!(verify(&secret, d), "bad signature on {}", d.id);
        assert_eq!(d.content_type, "application/xml");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &d.body).unwrap();
        crate::helpers::validate_xml(file.path(), "../shared/schemas/bmecat-2005/bmecat_2005.xsd");
    }
    let text = |ds: &[Delivery]| {
        ds.iter()
            .map(|d| String::from_utf8(d.body.clone()).unwrap())
            .collect::<String>()
    };
    let first = text(&deliveries[..before]);
    assert!(
        first.contains("<T_UPDATE_PRODUCTS") && first.contains("DRL-1") && first.contains("DRL-2")
    );
    let after = text(&deliveries[before..]);
    assert!(
        after.contains("<PRODUCT mode=\"delete\">") && after.contains("DRL-2"),
        "{after}"
    );
    hub.stop().await;
}

// ---------------------------------------------------------------- transport failures

/// A TCP front for `target` that resets (RST, no response) the connections whose index (from
/// 0, in accept order) is in `resets`, after reading the start of their request, and pipes the
/// others through.
async fn resetting_proxy(target: &str, resets: &'static [usize]) -> String {
    let target: std::net::SocketAddr = target
        .trim_start_matches("http://")
        .trim_end_matches("/hook")
        .parse()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let reset = resets.contains(&n);
            n += 1;
            tokio::spawn(async move {
                if reset {
                    let mut start = [0u8; 64];
                    let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut start).await;
                    // Linger 0: closing sends RST instead of FIN.
                    socket.set_zero_linger().unwrap();
                    drop(socket);
                    return;
                }
                let mut upstream = tokio::net::TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
            });
        }
    });
    format!("http://{addr}/hook")
}

/// The value of one sample of `/metrics`, 0 when absent.
async fn metric(hub: &TestApp, sample: &str) -> f64 {
    let text = hub.get_text("/metrics", &hub.admin_token).await;
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .map_or(0.0, |v| v.parse().unwrap())
}

#[actix_web::test]
async fn resets_timeouts_and_slow_answers_keep_the_order_and_the_replica_converges() {
    let mut a = driven("50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms");
    a.webhooks.max_changes = 4;
    a.webhooks.timeout = Duration::from_millis(500);
    let hub = spawn(a).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    hub.put_products((0..12).map(|i| format!("DRL-{i:03}")))
        .await;
    let receiver = Receiver::start(vec![
        // Within the timeout: delivered.
        Reply::Slow(200),
        // Past it: the attempt times out and the batch is sent again.
        Reply::Stall(2_000),
        Reply::Status(500),
        Reply::Slow(100),
    ])
    .await;
    // Connection 0 is reset before anything is answered; so is the one opened after the
    // timeout dropped connection 1.
    let url = resetting_proxy(&receiver.url, &[0, 2]).await;
    let (id, secret) = hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": url, "format": "json", "since": "start"}),
        )
        .await;
    let start = hub.subscription(&shop, &id).await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    // Edits while the endpoint misbehaves.
    let (s, _) = hub
        .call("DELETE", "/v1/products/DRL-003", &hub.admin_token, None)
        .await;
    assert_eq!(s, 204);
    hub.put_products((12..16).map(|i| format!("DRL-{i:03}")))
        .await;

    let digest_now = hub.wait_caught_up(&shop, &id, "fr-resellers", 15).await;
    let deliveries = receiver.deliveries();
    let (records, cursor) = replay_deliveries(&deliveries, &secret, &start);
    assert_eq!(cursor, digest_now["cursor"].as_str().unwrap());
    assert_eq!(digest(&records), digest_now["digest"].as_str().unwrap());
    assert!(!receiver.overlapped(), "two batches were in flight at once");
    // The timed-out batch was sent again, same id and bytes (checked in replay_deliveries),
    // and accepted then.
    let stalled = deliveries.iter().find(|d| d.status == 0).unwrap();
    assert!(deliveries
        .iter()
        .any(|d| d.id == stalled.id && d.status == 200));

    let (_, log) = hub
        .call(
            "GET",
            &format!("/v1/subscriptions/{id}/attempts?limit=1000"),
            &shop,
            None,
        )
        .await;
    let attempts = log["attempts"].as_array().unwrap();
    let errors: Vec<&str> = attempts
        .iter()
        .filter_map(|a| a["error"].as_str())
        .collect();
    assert_eq!(errors.len(), 3, "two resets and a timeout: {errors:?}");
    assert!(errors.iter().any(|e| e.contains("timed out")), "{errors:?}");
    // Every attempt is counted by outcome.
    let count = |outcome: &'static str| {
        let hub = &hub;
        async move {
            metric(
                hub,
                &format!("partnerfeed_webhook_attempts_total{{outcome=\"{outcome}\"}}"),
            )
            .await
        }
    };
    assert_eq!(count("timeout").await, 1.0);
    assert_eq!(count("connection").await, 2.0);
    assert_eq!(count("failed").await, 1.0);
    assert_eq!(
        count("delivered").await,
        (attempts.len() - 4) as f64,
        "{attempts:?}"
    );
    hub.stop().await;
}

#[actix_web::test]
async fn lag_metrics_follow_the_subscriptions_by_kind_and_state() {
    // The background loops run: the lag is marked by the delivery loop and ages in real time.
    let hub = spawn(args("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let receiver = Receiver::start(vec![]).await;
    let (id, _) = hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "json"}),
        )
        .await;
    let (s, _) = hub.patch(&shop, &id, json!({"enabled": false})).await;
    assert_eq!(s, 200);
    hub.put_products((0..3).map(|i| format!("DRL-{i}"))).await;
    let changes = "partnerfeed_subscription_lag_changes_max{kind=\"webhook\",state=\"disabled\"}";
    let seconds = "partnerfeed_subscription_lag_seconds_max{kind=\"webhook\",state=\"disabled\"}";
    // The paused subscription falls behind by three changes, and stays behind for longer and
    // longer.
    let started = Instant::now();
    while metric(&hub, changes).await != 3.0 || metric(&hub, seconds).await <= 0.0 {
        assert!(started.elapsed() < Duration::from_secs(30), "no lag shown");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let first = metric(&hub, seconds).await;
    let started = Instant::now();
    while metric(&hub, seconds).await <= first {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the lag does not age"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Resumed, it catches up: no lag left.
    let (s, _) = hub.act(&shop, &id, "enable", None).await;
    assert_eq!(s, 200);
    hub.wait_caught_up(&shop, &id, "fr-resellers", 3).await;
    for state in ["enabled", "disabled"] {
        let labels = format!("{{kind=\"webhook\",state=\"{state}\"}}");
        for name in [
            "partnerfeed_subscription_lag_changes_max",
            "partnerfeed_subscription_lag_seconds_max",
            "partnerfeed_subscriptions_behind",
        ] {
            assert_eq!(
                metric(&hub, &format!("{name}{labels}")).await,
                0.0,
                "{name}{labels}"
            );
        }
    }
    assert_eq!(
        metric(
            &hub,
            "partnerfeed_subscriptions{kind=\"webhook\",state=\"enabled\"}"
        )
        .await,
        1.0
    );
    assert_eq!(
        metric(
            &hub,
            "partnerfeed_webhook_attempts_total{outcome=\"delivered\"}"
        )
        .await,
        1.0
    );
    hub.stop().await;
}

// ---------------------------------------------------------------- restart

#[actix_web::test]
async fn a_restart_during_a_delivery_loses_and_reorders_nothing() {
    let mut a = args("50ms,50ms,50ms,50ms,50ms");
    a.webhooks.max_changes = 3;
    a.webhooks.timeout = Duration::from_secs(1);
    a.webhooks.lease = Duration::from_millis(1500);
    // The background loops run: what is under test is an instance dying with a batch in
    // flight, and another resuming it once the claim's lease expires (real time).
    let db = Arc::new(TestDb::new());
    let admin = tokens::generate();
    let first = Process::start(db.clone(), admin.clone(), a.clone());
    let shop = first.hub.reseller("fr-resellers", "shop-1").await;
    first
        .hub
        .put_products((0..7).map(|i| format!("DRL-{i}")))
        .await;
    // The endpoint holds the first batch without answering.
    let receiver = Receiver::start(vec![Reply::Stall(30_000)]).await;
    let (id, secret) = first
        .hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "json", "since": "start"}),
        )
        .await;
    let start = first.hub.subscription(&shop, &id).await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let started = Instant::now();
    while receiver.deliveries().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "nothing sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The instance dies with the batch in flight.
    first.kill().await;
    let held = receiver.deliveries()[0].clone();

    // A new instance on the same database resumes the frozen batch once the lease expires.
    let second = launch(db, admin, a);
    let caught = second.wait_caught_up(&shop, &id, "fr-resellers", 7).await;
    second
        .put_products((7..12).map(|i| format!("DRL-{i}")))
        .await;
    let (s, _) = second
        .call("DELETE", "/v1/products/DRL-0", &second.admin_token, None)
        .await;
    assert_eq!(s, 204);
    let digest_now = second.wait_caught_up(&shop, &id, "fr-resellers", 11).await;
    assert_ne!(caught["cursor"], digest_now["cursor"]);

    let deliveries = receiver.deliveries();
    let resent = deliveries
        .iter()
        .find(|d| (200..300).contains(&d.status))
        .expect("a delivery after the restart");
    assert_eq!(resent.id, held.id, "the frozen batch goes first");
    assert_eq!(resent.body, held.body, "with the same bytes");
    let (records, cursor) = replay_deliveries(&deliveries, &secret, &start);
    assert_eq!(cursor, digest_now["cursor"].as_str().unwrap());
    assert_eq!(digest(&records), digest_now["digest"].as_str().unwrap());
    assert_eq!(records.len(), 11);
    second.stop().await;
}

// ---------------------------------------------------------------- e-mail digests

async fn attempts_of(hub: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let (_, log) = hub
        .call(
            "GET",
            &format!("/v1/subscriptions/{id}/attempts"),
            token,
            None,
        )
        .await;
    log["attempts"].as_array().unwrap().clone()
}

/// The attachment of a mail as the SMTP receiver kept it (base64 part after `filename=`).
fn attachment(data: &str) -> (String, Vec<u8>) {
    // `filename="..."`, or its RFC 2231 form `filename*0="..."`.
    let at = data
        .find(" filename")
        .unwrap_or_else(|| panic!("no attachment in {data}"));
    let line = data[at..].lines().next().unwrap();
    let name = line[line.find('=').unwrap() + 1..]
        .trim_matches(|c| c == '"' || c == ';' || c == ' ')
        .to_string();
    let part = &data[at..];
    let body_start = part.find("\n\n").unwrap() + 2;
    let encoded: String = part[body_start..]
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .collect();
    (name, STANDARD.decode(encoded.trim()).unwrap())
}

#[actix_web::test]
async fn digests_mail_the_changes_once_accepted_and_nothing_when_nothing_changed() {
    let (port, got, refusals) = smtp_server().await;
    let mut a = driven("30ms");
    a.mail.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
    let hub = spawn(a).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let other = hub.reseller("fr-resellers", "shop-2").await;

    // Shapes that are refused, each naming its field.
    for (body, pointer) in [
        (
            json!({"email": "not an address", "every": "daily"}),
            "/email",
        ),
        (
            json!({"email": "it@shop-1.example", "every": "weekly"}),
            "/every",
        ),
        (
            json!({"email": "it@shop-1.example", "url": "http://127.0.0.1:9/hook"}),
            "/email",
        ),
        (
            json!({"email": "it@shop-1.example", "format": "google-tsv"}),
            "/format",
        ),
        (
            json!({"url": "http://127.0.0.1:9/hook", "every": "daily"}),
            "/every",
        ),
    ] {
        let (s, problem) = hub
            .call(
                "POST",
                "/v1/channels/fr-resellers/subscriptions",
                &shop,
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 422, "{body}: {problem}");
        assert_eq!(
            problem["errors"][0]["pointer"], pointer,
            "{body}: {problem}"
        );
    }

    let (s, created) = hub
        .call(
            "POST",
            "/v1/channels/fr-resellers/subscriptions",
            &shop,
            Some(json!({"email": "digest@shop-1.example", "every": "hourly", "format": "csv"})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    // The address confirms through the link mailed to it; the confirmation is the only mail.
    assert_eq!(created["confirmed"], false);
    let (rcpt, confirmation) = got.lock().unwrap().remove(0);
    assert_eq!(rcpt, "<digest@shop-1.example>");
    let (s, confirmed) = hub.confirm(&confirm_link(&confirmation)).await;
    assert_eq!(s, 200, "{confirmed}");
    assert_eq!(hub.subscription(&shop, &id).await["confirmed"], true);
    assert_eq!(created["kind"], "email");
    assert_eq!(created["every"], "hourly");
    assert_eq!(created["email"], "digest@shop-1.example");
    assert!(created.get("secret").is_none() && created.get("url").is_none());
    let start = created["cursor"].as_str().unwrap().to_string();
    let shown = hub.subscription(&shop, &id).await;
    assert_eq!(shown["kind"], "email");
    let (s, _) = hub
        .call("GET", &format!("/v1/subscriptions/{id}"), &other, None)
        .await;
    assert_eq!(s, 404, "another reseller's digest is not there");
    let (s, problem) = hub
        .patch(&shop, &id, json!({"url": "http://127.0.0.1:9/hook"}))
        .await;
    assert_eq!(
        (s, problem["errors"][0]["pointer"].clone()),
        (422, json!("/url"))
    );
    let (s, _) = hub.act(&shop, &id, "rotate-secret", None).await;
    assert_eq!(s, 400);

    // An hour with no change: no mail, the next digest is an hour later.
    let due = shown["next_digest_at"].as_str().unwrap().to_string();
    hub.clock.set(start_time() + chrono::Duration::minutes(61));
    let shown = hub
        .wait_for(&shop, &id, "rescheduled", |s| {
            s["next_digest_at"] != due.as_str()
        })
        .await;
    assert!(got.lock().unwrap().is_empty());
    assert_eq!(shown["cursor"], start.as_str());

    // Two edits, then the hour passes: the mail server refuses the digest for now (a transient
    // 4xx); the cursor stays.
    refusals
        .lock()
        .unwrap()
        .push_back("451 4.3.0 try again later");
    hub.put_products(["DRL-1".to_string(), "DRL-2".to_string()])
        .await;
    let settle = Instant::now();
    loop {
        let (_, d) = hub
            .call("GET", "/v1/channels/fr-resellers/digest", &shop, None)
            .await;
        if d["count"] == 2 {
            break;
        }
        assert!(settle.elapsed() < Duration::from_secs(30));
        hub.step().await;
    }
    hub.clock.set(start_time() + chrono::Duration::minutes(122));
    let started = Instant::now();
    while attempts_of(&hub, &shop, &id).await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no digest tried"
        );
        hub.step().await;
    }
    let refused = &attempts_of(&hub, &shop, &id).await[0];
    assert!(
        refused["error"].as_str().unwrap().contains("451"),
        "{refused}"
    );
    let shown = hub.subscription(&shop, &id).await;
    assert_eq!(shown["cursor"], start.as_str(), "the cursor did not move");
    assert!(got.lock().unwrap().is_empty());

    // Next time, it is accepted: the attachment is the changes since the cursor, as a pull
    // of the same changes in CSV gives them, byte for byte.
    hub.clock.set(start_time() + chrono::Duration::minutes(123));
    let started = Instant::now();
    while got.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no digest mailed"
        );
        hub.step().await;
    }
    let (rcpt, data) = got.lock().unwrap()[0].clone();
    assert_eq!(rcpt, "<digest@shop-1.example>");
    assert!(data.contains("multipart/mixed"), "{data}");
    assert!(data.contains("2 changes in channel fr-resellers"), "{data}");
    let (name, csv) = attachment(&data);
    assert!(
        name.starts_with("fr-resellers-changes-") && name.ends_with(".csv"),
        "{name}"
    );
    let pulled = hub
        .req(
            reqwest::Method::GET,
            &format!("/v1/channels/fr-resellers/changes?format=csv&since={start}"),
            &shop,
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(csv, pulled.to_vec());
    let digest_now = hub.wait_caught_up(&shop, &id, "fr-resellers", 2).await;
    let shown = hub.subscription(&shop, &id).await;
    assert_eq!(shown["cursor"], digest_now["cursor"]);
    let log = attempts_of(&hub, &shop, &id).await;
    assert_eq!(log.len(), 2);
    assert!(log[0]["error"].is_null() && log[0]["from"] == start.as_str());

    // Another hour with nothing new: no second mail.
    let due = shown["next_digest_at"].as_str().unwrap().to_string();
    hub.clock.set(start_time() + chrono::Duration::minutes(190));
    hub.wait_for(&shop, &id, "rescheduled", |s| {
        s["next_digest_at"] != due.as_str()
    })
    .await;
    assert_eq!(got.lock().unwrap().len(), 1);
    assert_eq!(
        metric(&hub, "partnerfeed_digests_total{outcome=\"sent\"}").await,
        1.0
    );
    assert_eq!(
        metric(&hub, "partnerfeed_digests_total{outcome=\"failed\"}").await,
        1.0
    );
    assert_eq!(
        metric(&hub, "partnerfeed_digests_total{outcome=\"empty\"}").await,
        2.0
    );
    hub.stop().await;
}

// ---------------------------------------------------------------- access withdrawn

/// Waits (bounded) until fr-resellers holds `live` products.
async fn published(hub: &TestApp, token: &str, live: u64) {
    let started = Instant::now();
    loop {
        let (_, d) = hub
            .call("GET", "/v1/channels/fr-resellers/digest", token, None)
            .await;
        if d["count"] == live {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never published"
        );
        hub.step().await;
    }
}

/// The mails in the outbox whose text contains `needle`.
fn mails_with(hub: &TestApp, needle: &str) -> Vec<String> {
    hub.outbox()
        .into_iter()
        .filter(|m| m.contains(needle))
        .collect()
}

/// `PUT /v1/resellers/{code}` with these channels (the contact stays `it@{code}.example`).
async fn grant(hub: &TestApp, reseller: &str, channels: Value) {
    let (s, body) = hub
        .call(
            "PUT",
            &format!("/v1/resellers/{reseller}"),
            &hub.admin_token,
            Some(json!({"name": reseller, "email": format!("it@{reseller}.example"), "channels": channels})),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {body}");
}

/// A confirmed digest of `channel` to `email`; its id.
async fn confirmed_digest(hub: &TestApp, token: &str, channel: &str, email: &str) -> String {
    let (s, created) = hub
        .call(
            "POST",
            &format!("/v1/channels/{channel}/subscriptions"),
            token,
            Some(json!({"email": email, "every": "hourly"})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let mail = mails_with(hub, &format!("To: {email}"))
        .pop()
        .expect("a confirmation mail");
    let (s, body) = hub.confirm(&confirm_link(&mail)).await;
    assert_eq!(s, 200, "{body}");
    created["id"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn a_withdrawn_grant_ends_the_subscriptions_and_nothing_more_leaves() {
    let hub = spawn(driven("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "json"}),
        )
        .await;
    let digest = confirmed_digest(&hub, &shop, "fr-resellers", "digest@shop-1.example").await;
    hub.put_products(["DRL-1".to_string()]).await;
    hub.wait_caught_up(&shop, &hook, "fr-resellers", 1).await;

    // The endpoint fails for a while: a batch stays frozen, retried with the same bytes.
    receiver.set_otherwise(Some(500));
    hub.put_products(["DRL-2".to_string()]).await;
    hub.wait_for(&shop, &hook, "a frozen batch retried", |s| {
        !s["pending"].is_null() && s["failures"].as_i64().unwrap_or(0) >= 1
    })
    .await;

    // The vendor cuts the reseller off.
    grant(&hub, "shop-1", json!([])).await;
    let sent = receiver.deliveries().len();
    receiver.set_otherwise(None);
    hub.put_products(["DRL-3".to_string()]).await;
    hub.clock.set(start_time() + chrono::Duration::hours(3));

    let sub = hub.subscription(&shop, &hook).await;
    assert_eq!(sub["state"], "ended", "{sub}");
    assert_eq!(sub["reason"], "access_revoked", "{sub}");
    assert!(
        sub["pending"].is_null(),
        "the frozen batch is dropped: {sub}"
    );
    let shown = hub.subscription(&shop, &digest).await;
    assert_eq!(
        (shown["state"].as_str(), shown["reason"].as_str()),
        (Some("ended"), Some("access_revoked"))
    );
    let (_, list) = hub.call("GET", "/v1/subscriptions", &shop, None).await;
    let states: Vec<&str> = list["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["ended", "ended"], "{list}");

    // No change of an ended subscription: the reproduction (a new address, then a
    // replay from the start) and every other change answer 409.
    let (s, problem) = hub
        .patch(&shop, &digest, json!({"email": "thief@elsewhere.example"}))
        .await;
    assert_eq!(s, 409, "{problem}");
    for id in [&hook, &digest] {
        let (s, problem) = hub
            .act(&shop, id, "replay", Some(json!({"since": "start"})))
            .await;
        assert_eq!(s, 409, "{problem}");
        let (s, _) = hub.act(&shop, id, "enable", None).await;
        assert_eq!(s, 409);
        let (s, _) = hub.patch(&shop, id, json!({"enabled": true})).await;
        assert_eq!(s, 409);
    }
    let (s, _) = hub.act(&shop, &hook, "rotate-secret", None).await;
    assert_eq!(s, 409);
    let (s, _) = hub
        .call("GET", "/v1/channels/fr-resellers/feed", &shop, None)
        .await;
    assert_eq!(s, 404);

    // Whatever the jobs do meanwhile (rounds of each, past the retry delay and with the
    // digests due), nothing of the channel leaves again.
    for _ in 0..4 {
        hub.deliver_once().await;
        hub.run_digests().await;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert_eq!(receiver.deliveries().len(), sent, "a webhook batch left");
    assert!(
        mails_with(&hub, "changes in channel").is_empty(),
        "a digest left"
    );
    assert!(mails_with(&hub, "thief@elsewhere.example").is_empty());
    let notices = mails_with(&hub, "subscription(s) of shop-1 ended");
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains("To: it@shop-1.example")
            && notices[0].contains(&hook)
            && notices[0].contains(&digest)
            && notices[0].contains("access_revoked"),
        "{}",
        notices[0]
    );

    // Granting the channel again does not revive them; deleting still works.
    grant(&hub, "shop-1", json!(["fr-resellers"])).await;
    assert_eq!(hub.subscription(&shop, &hook).await["state"], "ended");
    let (s, _) = hub
        .call("DELETE", &format!("/v1/subscriptions/{hook}"), &shop, None)
        .await;
    assert_eq!(s, 204);
    hub.stop().await;
}

#[actix_web::test]
async fn a_post_in_flight_when_access_is_withdrawn_is_aborted_and_advances_nothing() {
    // The background loops run: what is under test is a POST in flight in the delivery loop,
    // aborted when access is withdrawn, and nothing recorded past its would-be answer.
    let hub = spawn(args("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    hub.put_products(["DRL-1".to_string()]).await;
    let receiver = Receiver::start(vec![Reply::Slow(4000)]).await;
    let (hook, _) = hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "json", "since": "start"}),
        )
        .await;
    let started = Instant::now();
    while receiver.in_flight() == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "no POST");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = hub.subscription(&shop, &hook).await;
    grant(&hub, "shop-1", json!([])).await;
    // Past the moment the endpoint would have answered 200.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let after = hub.subscription(&shop, &hook).await;
    assert_eq!(after["state"], "ended");
    assert_eq!(after["cursor"], before["cursor"], "the cursor moved");
    assert!(after["pending"].is_null(), "{after}");
    assert!(
        attempts_of(&hub, &shop, &hook).await.is_empty(),
        "the aborted POST has no outcome"
    );
    hub.stop().await;
}

#[actix_web::test]
async fn a_channel_deleted_and_created_again_starts_without_grants() {
    let hub = spawn(driven("30ms")).await;
    let shop = hub.reseller("tmp-ch", "shop-1").await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = hub
        .subscribe(&shop, "tmp-ch", json!({"url": receiver.url}))
        .await;
    let (s, _) = hub
        .call("DELETE", "/v1/channels/tmp-ch", &hub.admin_token, None)
        .await;
    assert_eq!(s, 204);
    let sub = hub.subscription(&shop, &hook).await;
    assert_eq!(
        (
            sub["state"].as_str(),
            sub["reason"].as_str(),
            sub["channel"].as_str()
        ),
        (Some("ended"), Some("channel_deleted"), Some("tmp-ch")),
        "{sub}"
    );
    let (s, _) = hub
        .call(
            "PUT",
            "/v1/channels/tmp-ch",
            &hub.admin_token,
            Some(fr_resellers()),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = hub
        .call("GET", "/v1/channels/tmp-ch/feed", &shop, None)
        .await;
    assert_eq!(s, 404, "the re-created channel has no grants");
    let (_, reseller) = hub
        .call("GET", "/v1/resellers/shop-1", &hub.admin_token, None)
        .await;
    assert_eq!(reseller["channels"], json!([]));
    let (s, _) = hub
        .call(
            "POST",
            "/v1/channels/tmp-ch/subscriptions",
            &shop,
            Some(json!({"url": receiver.url})),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(hub.subscription(&shop, &hook).await["state"], "ended");
    let notices = mails_with(&hub, "subscription(s) of shop-1 ended");
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains(&hook) && notices[0].contains("channel_deleted"));
    hub.stop().await;
}

#[actix_web::test]
async fn a_deleted_reseller_ends_its_subscriptions_with_a_notice() {
    let hub = spawn(driven("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = hub
        .subscribe(&shop, "fr-resellers", json!({"url": receiver.url}))
        .await;
    let (s, _) = hub
        .call("DELETE", "/v1/resellers/shop-1", &hub.admin_token, None)
        .await;
    assert_eq!(s, 204);
    // No owner token remains; the admin still reads it.
    let sub = hub.subscription(&hub.admin_token, &hook).await;
    assert_eq!(
        (sub["state"].as_str(), sub["reason"].as_str()),
        (Some("ended"), Some("reseller_deleted"))
    );
    let notices = mails_with(&hub, "subscription(s) of shop-1 ended");
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains("To: it@shop-1.example")
            && notices[0].contains(&hook)
            && notices[0].contains("reseller_deleted")
    );
    // A new reseller with the same code does not inherit them.
    let again = hub.reseller("fr-resellers", "shop-1").await;
    let (s, _) = hub
        .call("GET", &format!("/v1/subscriptions/{hook}"), &again, None)
        .await;
    assert_eq!(s, 404);
    let (_, list) = hub.call("GET", "/v1/subscriptions", &again, None).await;
    assert_eq!(list["subscriptions"], json!([]));
    hub.put_products(["DRL-1".to_string()]).await;
    hub.deliver_once().await;
    assert!(receiver.deliveries().is_empty());
    hub.stop().await;
}

#[actix_web::test]
async fn subscriptions_ended_before_their_reseller_was_deleted_stay_hidden_from_its_successor() {
    let hub = spawn(driven("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = hub
        .subscribe(&shop, "fr-resellers", json!({"url": receiver.url}))
        .await;
    // The grant is withdrawn first (the subscription ends `access_revoked`), then the
    // reseller is deleted: the subscription belongs to the deleted reseller all the same.
    let (s, _) = hub
        .call(
            "PUT",
            "/v1/resellers/shop-1",
            &hub.admin_token,
            Some(json!({"name": "shop-1", "email": "it@shop-1.example", "channels": []})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = hub
        .call("DELETE", "/v1/resellers/shop-1", &hub.admin_token, None)
        .await;
    assert_eq!(s, 204);
    let again = hub.reseller("fr-resellers", "shop-1").await;
    for (method, path) in [
        ("GET", format!("/v1/subscriptions/{hook}")),
        ("GET", format!("/v1/subscriptions/{hook}/attempts")),
        ("DELETE", format!("/v1/subscriptions/{hook}")),
    ] {
        let (s, body) = hub.call(method, &path, &again, None).await;
        assert_eq!(s, 404, "{method} {path}: {body}");
    }
    let (_, list) = hub.call("GET", "/v1/subscriptions", &again, None).await;
    assert_eq!(list["subscriptions"], json!([]), "{list}");
    // The admin still reads it, ended.
    let sub = hub.subscription(&hub.admin_token, &hook).await;
    assert_eq!(sub["state"], "ended");
    hub.stop().await;
}

#[actix_web::test]
async fn the_digest_limit_holds_against_concurrent_subscribes() {
    // Twelve subscribes at once, three times: the count and the insert must not interleave
    // (on PostgreSQL the reseller's row is locked between them).
    let hub = spawn(driven("30ms")).await;
    for round in 0..3 {
        let code = format!("shop-{round}");
        let shop = hub.reseller("fr-resellers", &code).await;
        let statuses = futures_util::future::join_all((0..12).map(|i| {
            let (hub, shop) = (&hub, &shop);
            let email = format!("d{i}@{code}.example");
            async move {
                hub.call(
                    "POST",
                    "/v1/channels/fr-resellers/subscriptions",
                    shop,
                    Some(json!({"email": email})),
                )
                .await
                .0
            }
        }))
        .await;
        let (_, list) = hub.call("GET", "/v1/subscriptions", &shop, None).await;
        let digests = list["subscriptions"].as_array().unwrap().len();
        assert_eq!(digests, 5, "round {round}: {statuses:?}");
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            5,
            "{statuses:?}"
        );
    }
    hub.stop().await;
}

#[actix_web::test]
async fn opening_a_confirmation_link_confirms_nothing_until_its_button_is_pressed() {
    let hub = spawn(args("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let (s, created) = hub.subscribe_digest(&shop, "buyer@shop-1.example").await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let mail = mails_with(&hub, "To: buyer@shop-1.example").remove(0);
    let link = confirm_link(&mail);
    let token = link.rsplit("token=").next().unwrap().to_string();
    assert!(mail.contains("press the button"), "{mail}");

    // A mail scanner opens the link (twice, as they do): a page with a button, no confirmation.
    for _ in 0..2 {
        let page = hub
            .client
            .get(format!("{}{link}", hub.address))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let header = |name: &str| {
            page.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert!(header("content-type").starts_with("text/html"));
        let policy = header("content-security-policy");
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(policy.contains("form-action 'self'"), "{policy}");
        assert_eq!(header("referrer-policy"), "no-referrer");
        let html = page.text().await.unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(
            html.contains("<form method=\"post\" action=\"/v1/subscriptions/confirm\">"),
            "{html}"
        );
        assert!(html.contains(&format!("value=\"{token}\"")), "{html}");
    }
    assert_eq!(hub.subscription(&shop, &id).await["confirmed"], false);
    // A token that is not one of ours is never put into the page.
    let page = hub
        .client
        .get(format!(
            "{}/v1/subscriptions/confirm?token=%22%3E%3Cscript%3E",
            hub.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    assert!(!page.text().await.unwrap().contains("<script"));

    // The person presses the button: the form's POST confirms, and answers a page.
    let form = |token: &str| {
        hub.client
            .post(format!("{}/v1/subscriptions/confirm", hub.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    let confirmed = form(&token).await.unwrap();
    assert_eq!(confirmed.status(), 200);
    assert!(confirmed.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(confirmed.text().await.unwrap().contains("confirmed"));
    assert_eq!(hub.subscription(&shop, &id).await["confirmed"], true);
    // Used up: the form and JSON both get 404.
    assert_eq!(form(&token).await.unwrap().status(), 404);
    let (s, problem) = hub.confirm(&link).await;
    assert_eq!(s, 404, "{problem}");
    assert_eq!(problem["status"], 404, "{problem}");

    // A new address confirms through JSON, answered with JSON.
    let (s, _) = hub
        .patch(&shop, &id, json!({"email": "other@shop-1.example"}))
        .await;
    assert_eq!(s, 200);
    let link = confirm_link(&mails_with(&hub, "To: other@shop-1.example")[0]);
    let (s, body) = hub.confirm(&link).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body,
        json!({"id": id, "email": "other@shop-1.example", "confirmed": true})
    );
}

#[actix_web::test]
async fn confirmation_mails_are_bounded_per_reseller_whatever_the_subscription() {
    let hub = spawn(args("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let (s, created) = hub.subscribe_digest(&shop, "victim@a.example").await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    // Ten confirmation mails per reseller per hour: the subscribe and nine re-points.
    for _ in 1..10 {
        let (s, body) = hub
            .patch(&shop, &id, json!({"email": "victim@a.example"}))
            .await;
        assert_eq!(s, 200, "{body}");
    }
    let (s, problem) = hub
        .call(
            "PATCH",
            &format!("/v1/subscriptions/{id}"),
            &shop,
            Some(json!({"email": "other@a.example"})),
        )
        .await;
    assert_eq!(s, 429, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("10 confirmation mails per hour"),
        "{detail}"
    );
    assert_eq!(
        hub.subscription(&shop, &id).await["email"],
        "victim@a.example",
        "the address is unchanged"
    );
    // Retry-After says when the hour is over.
    let response = hub
        .req(
            reqwest::Method::PATCH,
            &format!("/v1/subscriptions/{id}"),
            &shop,
        )
        .json(&json!({"email": "victim@a.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    // Deleting and subscribing again does not reset the budget: it is the reseller's.
    let (s, _) = hub
        .call("DELETE", &format!("/v1/subscriptions/{id}"), &shop, None)
        .await;
    assert_eq!(s, 204);
    let (s, problem) = hub.subscribe_digest(&shop, "victim@a.example").await;
    assert_eq!(s, 429, "{problem}");
    assert_eq!(mails_with(&hub, "To: victim@a.example").len(), 10);
    assert!(mails_with(&hub, "To: other@a.example").is_empty());
    // Another reseller has its own budget; the first gets a new one after the hour.
    let other = hub.reseller("fr-resellers", "shop-2").await;
    let (s, _) = hub.subscribe_digest(&other, "buyer@shop-2.example").await;
    assert_eq!(s, 201);
    hub.clock.set(start_time() + chrono::Duration::minutes(61));
    let (s, body) = hub.subscribe_digest(&shop, "victim@a.example").await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(mails_with(&hub, "To: victim@a.example").len(), 11);
}

#[actix_web::test]
async fn the_confirmation_mail_budget_holds_against_concurrent_re_points() {
    // 24 re-points at once over two digests: the budget's read and write must not interleave
    // (on PostgreSQL the reseller's row is locked between them), so exactly 10 mails in all.
    let hub = spawn(args("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let mut ids = Vec::new();
    for email in ["a@shop-1.example", "b@shop-1.example"] {
        let (s, created) = hub.subscribe_digest(&shop, email).await;
        assert_eq!(s, 201, "{created}");
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    let statuses = futures_util::future::join_all((0..24).map(|i| {
        let (hub, shop, id) = (&hub, &shop, &ids[i % 2]);
        async move {
            let body = json!({ "email": format!("r{i}@shop-1.example") });
            hub.patch(shop, id, body).await.0
        }
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        8,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    let confirmations = mails_with(&hub, "Subject: [partnerfeed] Confirm");
    assert_eq!(confirmations.len(), 10);
    hub.stop().await;
}

#[actix_web::test]
async fn digests_go_only_to_confirmed_checked_addresses_and_at_most_five_per_reseller() {
    let hub = spawn(driven("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;

    // Addresses the mailer cannot or must not send to, at subscribe time and on PATCH.
    for email in ["x@[10.0.0.1]", "x@localhost", "\"x y\"@a.example"] {
        let (s, problem) = hub
            .call(
                "POST",
                "/v1/channels/fr-resellers/subscriptions",
                &shop,
                Some(json!({"email": email})),
            )
            .await;
        assert_eq!(s, 422, "{email}: {problem}");
        assert_eq!(problem["errors"][0]["pointer"], "/email", "{problem}");
    }

    let (s, created) = hub
        .call(
            "POST",
            "/v1/channels/fr-resellers/subscriptions",
            &shop,
            Some(json!({"email": "buyer@shop-1.example", "every": "hourly"})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["confirmed"], false);
    let id = created["id"].as_str().unwrap().to_string();
    let (s, problem) = hub.patch(&shop, &id, json!({"email": "x@localhost"})).await;
    assert_eq!(
        (s, problem["errors"][0]["pointer"].clone()),
        (422, json!("/email"))
    );
    let confirmations = mails_with(&hub, "To: buyer@shop-1.example");
    assert_eq!(confirmations.len(), 1);
    assert!(
        !confirmations[0].contains("multipart/mixed") && !confirmations[0].contains("DRL-"),
        "no catalog data in a confirmation"
    );

    // Unconfirmed: changes and a due digest send nothing.
    hub.put_products(["DRL-1".to_string()]).await;
    published(&hub, &shop, 1).await;
    hub.clock.set(start_time() + chrono::Duration::hours(2));
    hub.run_digests().await;
    assert!(mails_with(&hub, "changes in channel").is_empty());

    let (s, _) = hub
        .confirm("/v1/subscriptions/confirm?token=not-the-token")
        .await;
    assert_eq!(s, 404);
    let link = confirm_link(&confirmations[0]);
    let (s, body) = hub.confirm(&link).await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = hub.confirm(&link).await;
    assert_eq!(s, 404, "the link works once");
    assert_eq!(hub.subscription(&shop, &id).await["confirmed"], true);
    hub.clock.set(start_time() + chrono::Duration::hours(4));
    let started = Instant::now();
    while mails_with(&hub, "changes in channel").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "no digest");
        hub.step().await;
    }

    // A new address is unconfirmed again, with its own link.
    let (s, patched) = hub
        .patch(&shop, &id, json!({"email": "other@shop-1.example"}))
        .await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(patched["confirmed"], false);
    assert_eq!(mails_with(&hub, "To: other@shop-1.example").len(), 1);

    // A link expires after 7 days.
    hub.clock
        .set(start_time() + chrono::Duration::hours(4) + chrono::Duration::days(8));
    let link = confirm_link(&mails_with(&hub, "To: other@shop-1.example")[0]);
    let (s, _) = hub.confirm(&link).await;
    assert_eq!(s, 404, "expired");

    // Five digests per reseller at most (PARTNERFEED_DIGESTS_PER_RESELLER's default).
    for i in 2..=5 {
        let (s, body) = hub
            .call(
                "POST",
                "/v1/channels/fr-resellers/subscriptions",
                &shop,
                Some(json!({"email": format!("d{i}@shop-1.example")})),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let (s, problem) = hub
        .call(
            "POST",
            "/v1/channels/fr-resellers/subscriptions",
            &shop,
            Some(json!({"email": "d6@shop-1.example"})),
        )
        .await;
    assert_eq!(s, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("PARTNERFEED_DIGESTS_PER_RESELLER"),
        "{problem}"
    );
    assert!(mails_with(&hub, "To: d6@shop-1.example").is_empty());
    let (s, _) = hub
        .call("DELETE", &format!("/v1/subscriptions/{id}"), &shop, None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = hub
        .call(
            "POST",
            "/v1/channels/fr-resellers/subscriptions",
            &shop,
            Some(json!({"email": "d6@shop-1.example"})),
        )
        .await;
    assert_eq!(s, 201);
    hub.stop().await;
}

#[actix_web::test]
async fn a_digest_refused_for_good_is_disabled_with_an_alert_to_the_contact() {
    let (port, got, refusals) = smtp_server().await;
    let mut a = driven("30ms");
    a.mail.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
    let hub = spawn(a).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let (s, created) = hub
        .call(
            "POST",
            "/v1/channels/fr-resellers/subscriptions",
            &shop,
            Some(json!({"email": "gone@shop-1.example", "every": "hourly"})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (_, confirmation) = got.lock().unwrap().remove(0);
    let (s, _) = hub.confirm(&confirm_link(&confirmation)).await;
    assert_eq!(s, 200);
    hub.put_products(["DRL-1".to_string()]).await;
    published(&hub, &shop, 1).await;
    refusals
        .lock()
        .unwrap()
        .push_back("550 5.1.1 no such mailbox");
    hub.clock.set(start_time() + chrono::Duration::hours(2));
    let sub = hub
        .wait_for(&shop, &id, "disabled", |s| s["enabled"] == false)
        .await;
    assert_eq!(sub["state"], "disabled");
    assert!(
        sub["disabled_reason"].as_str().unwrap().contains("550"),
        "{sub}"
    );
    assert_eq!(attempts_of(&hub, &shop, &id).await.len(), 1, "no retry");
    let started = Instant::now();
    loop {
        let alert = got
            .lock()
            .unwrap()
            .iter()
            .find(|(rcpt, _)| rcpt == "<it@shop-1.example>")
            .cloned();
        if let Some((_, data)) = alert {
            assert!(
                data.contains("gone@shop-1.example") && data.contains("disabled"),
                "{data}"
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no alert");
        hub.step().await;
    }
    hub.stop().await;
}

// ---------------------------------------------------------------- secrets at rest

/// A handle of its own on the hub's database, as an operator's copy would open it.
fn raw_db(hub: &TestApp) -> partnerfeed::store::Db {
    hub.open_another_db()
}

/// `(id, secret, old_secret)` of every subscription, as stored.
fn stored_secrets(db: &partnerfeed::store::Db) -> Vec<(String, String, Option<String>)> {
    let mut conn = db.read_conn().unwrap();
    partnerfeed::store::subscriptions::stored_secrets(&mut conn).unwrap()
}

fn stored_cursor_key(db: &partnerfeed::store::Db) -> String {
    let mut conn = db.write_conn().unwrap();
    partnerfeed::store::service_key(&mut conn, "cursor", String::new).unwrap()
}

/// Neither the secret nor its base64 key appears in `stored`.
fn assert_no_plaintext(stored: &str, secret: &str) {
    let key = secret.strip_prefix("whsec_").unwrap();
    assert!(
        stored.starts_with("pfenc1:") && !stored.contains(secret) && !stored.contains(key),
        "stored in the clear: {stored}"
    );
}

#[actix_web::test]
async fn stored_webhook_secrets_and_the_cursor_key_are_encrypted_and_still_sign() {
    let hub = spawn(driven("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let receiver = Receiver::start(vec![]).await;
    let (id, old) = hub
        .subscribe(&shop, "fr-resellers", json!({"url": receiver.url}))
        .await;
    let (s, rotated) = hub.act(&shop, &id, "rotate-secret", None).await;
    assert_eq!(s, 200);
    let new = rotated["secret"].as_str().unwrap().to_string();

    let db = raw_db(&hub);
    let rows = stored_secrets(&db);
    assert_eq!(rows.len(), 1);
    let (stored_id, secret, old_secret) = &rows[0];
    assert_eq!(stored_id, &id);
    assert_no_plaintext(secret, &new);
    assert_no_plaintext(secret, &old);
    assert_no_plaintext(old_secret.as_deref().unwrap(), &old);
    let cursor_key = stored_cursor_key(&db);
    assert!(cursor_key.starts_with("pfenc1:"), "{cursor_key}");
    // The stored cursor key is not the key cursors are made with.
    let key = crate::helpers::cursor_key(&db, &hub.data_dir());
    assert!(!cursor_key.contains(&hex::encode(&key)));

    // The secrets shown at creation and at rotation still verify the deliveries.
    hub.put_products(["DRL-1".to_string()]).await;
    hub.wait_caught_up(&shop, &id, "fr-resellers", 1).await;
    let d = &receiver.deliveries()[0];
    assert!(verify(&new, d) && verify(&old, d));
    hub.stop().await;
}

#[actix_web::test]
async fn plaintext_secrets_of_an_older_database_are_encrypted_in_place_at_start() {
    let testdb = Arc::new(TestDb::new());
    let admin = tokens::generate();
    let first = Process::start(testdb.clone(), admin.clone(), driven("30ms"));
    let shop = first.hub.reseller("fr-resellers", "shop-1").await;
    let receiver = Receiver::start(vec![]).await;
    let (id, secret) = first
        .hub
        .subscribe(&shop, "fr-resellers", json!({"url": receiver.url}))
        .await;
    let cursor = first.hub.subscription(&shop, &id).await["cursor"].clone();
    let data_dir = first.hub.data_dir();
    let db = raw_db(&first.hub);
    let cursor_hex = hex::encode(crate::helpers::cursor_key(&db, &data_dir));
    first.kill().await;

    // The database as the previous version left it: secret and cursor key in plaintext.
    {
        use partnerfeed::store::subscriptions::{replace_secret, SecretColumn};
        let mut conn = db.write_conn().unwrap();
        let sealed = stored_secrets(&db)[0].1.clone();
        assert_eq!(
            replace_secret(&mut conn, &id, SecretColumn::Current, &sealed, &secret).unwrap(),
            1
        );
        let stored = partnerfeed::store::service_key(&mut conn, "cursor", String::new).unwrap();
        partnerfeed::store::replace_service_key(&mut conn, "cursor", &stored, &cursor_hex).unwrap();
    }
    assert_eq!(stored_secrets(&db)[0].1, secret);

    // Two instances starting together seal each value once.
    let key = partnerfeed::service::secrets::load_key(None, &data_dir).unwrap();
    let dbs = [raw_db_of(&testdb), raw_db_of(&testdb)];
    let threads: Vec<_> = dbs
        .into_iter()
        .map(|d| {
            let key = key.clone();
            std::thread::spawn(move || app::open_stored_secrets(&d, &key).unwrap())
        })
        .collect();
    for t in threads {
        assert_eq!(hex::encode(t.join().unwrap()), cursor_hex);
    }
    let (_, stored, _) = stored_secrets(&db)[0].clone();
    assert_no_plaintext(&stored, &secret);
    let row = partnerfeed::service::secrets::subscription_row(&id);
    assert_eq!(key.open(&row, &stored).unwrap(), secret);
    assert!(stored_cursor_key(&db).starts_with("pfenc1:"));

    // A restarted instance signs with the secret shown at creation; old cursors stay valid.
    let hub = launch(testdb, admin, driven("30ms"));
    assert_eq!(hub.subscription(&shop, &id).await["cursor"], cursor);
    hub.put_products(["DRL-1".to_string()]).await;
    hub.wait_caught_up(&shop, &id, "fr-resellers", 1).await;
    assert!(verify(&secret, &receiver.deliveries()[0]));
    hub.stop().await;
}

fn raw_db_of(testdb: &TestDb) -> partnerfeed::store::Db {
    partnerfeed::store::Db::connect(partnerfeed::store::Backend::from_url(&testdb.url).unwrap())
        .unwrap()
}

#[actix_web::test]
async fn a_wrong_or_malformed_secret_key_stops_the_start_with_a_clear_message() {
    let hub = spawn(driven("30ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let (id, _) = hub
        .subscribe(&shop, "fr-resellers", json!({"url": "http://127.0.0.1:9/"}))
        .await;
    let db = raw_db(&hub);
    let before = stored_secrets(&db);
    let mut config = hub.test_db().config();
    config.serve.admin_token = Some(Secret::new(hub.admin_token.clone()));
    config.serve.workers = Some(1);
    config.serve.feed_cache = false;
    config.webhooks = driven("30ms").webhooks;
    let other = partnerfeed::service::secrets::SecretKey::generate("x").encoded();
    let clock = Arc::new(ManualClock::new(start_time())) as Arc<dyn Clock>;
    for (value, expected) in [
        (other.as_str(), "were encrypted with secret key"),
        (
            "not-a-key",
            "PARTNERFEED_SECRET_KEY: the secret key must be 32 bytes",
        ),
    ] {
        config.secret_key = Some(Secret::new(value));
        let error = match app::start(&config, raw_db(&hub), clock.clone()) {
            Ok(_) => panic!("started with the key {value}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains(expected), "{error}");
        assert!(error.contains("PARTNERFEED_SECRET_KEY"), "{error}");
        assert!(!error.contains(value), "the key is repeated: {error}");
    }
    // A data directory without the key (a database restored elsewhere, a new instance not
    // given the key) refuses the start and keeps no key file of its own making, which would
    // look like the key to back up.
    let elsewhere = tempfile::tempdir().unwrap();
    config.storage.data_dir = elsewhere.path().join("data");
    config.secret_key = None;
    let error = match app::start(&config, raw_db(&hub), clock.clone()) {
        Ok(_) => panic!("started with a key made on the spot"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("were encrypted with secret key"), "{error}");
    assert!(
        !config.storage.data_dir.join("secret.key").exists(),
        "a key file was left behind"
    );
    // Nothing was regenerated or re-encrypted.
    assert_eq!(stored_secrets(&db), before);
    assert_eq!(hub.subscription(&shop, &id).await["id"], id.as_str());
    hub.stop().await;
}

#[actix_web::test]
async fn secret_key_rotate_re_encrypts_every_secret_with_the_new_key() {
    let testdb = Arc::new(TestDb::new());
    let admin = tokens::generate();
    // Every instance is stopped before a rotation, background jobs included: a process.
    let first = Process::start(testdb.clone(), admin.clone(), driven("30ms"));
    let shop = first.hub.reseller("fr-resellers", "shop-1").await;
    let receiver = Receiver::start(vec![]).await;
    let (id, secret) = first
        .hub
        .subscribe(&shop, "fr-resellers", json!({"url": receiver.url}))
        .await;
    let cursor = first.hub.subscription(&shop, &id).await["cursor"].clone();
    let data_dir = first.hub.data_dir();
    first.kill().await;
    let old = partnerfeed::service::secrets::load_key(None, &data_dir).unwrap();

    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_partnerfeed"))
            .args(args)
            .env("DATABASE_URL", &testdb.url)
            .env("PARTNERFEED_DATA_DIR", &data_dir)
            .env_remove("PARTNERFEED_SECRET_KEY")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let generated = cli(&["secret-key", "generate"]);
    let new = partnerfeed::service::secrets::SecretKey::parse(&generated, "generated").unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &generated).unwrap();
    cli(&[
        "secret-key",
        "rotate",
        "--new-key-file",
        file.path().to_str().unwrap(),
    ]);

    // secret.key now holds the new key, and only the new key opens the stored secrets.
    let in_force = partnerfeed::service::secrets::load_key(None, &data_dir).unwrap();
    assert_eq!(in_force.id(), new.id());
    let db = raw_db_of(&testdb);
    let (_, stored, _) = stored_secrets(&db)[0].clone();
    let row = partnerfeed::service::secrets::subscription_row(&id);
    assert_eq!(new.open(&row, &stored).unwrap(), secret);
    assert!(old.open(&row, &stored).is_err());

    // An instance with the new key signs with the same secret and reads the same cursors.
    let hub = launch(testdb, admin, driven("30ms"));
    assert_eq!(hub.subscription(&shop, &id).await["cursor"], cursor);
    hub.put_products(["DRL-1".to_string()]).await;
    hub.wait_caught_up(&shop, &id, "fr-resellers", 1).await;
    assert!(verify(&secret, &receiver.deliveries()[0]));
    hub.stop().await;
}

#[actix_web::test]
async fn a_test_event_is_signed_sent_logged_and_moves_nothing() {
    let hub = spawn(args("50ms")).await;
    let shop = hub.reseller("fr-resellers", "shop-1").await;
    let other = hub.reseller("fr-resellers", "shop-2").await;
    let receiver = Receiver::start(vec![Reply::Status(204), Reply::Status(500)]).await;
    let (id, secret) = hub
        .subscribe(
            &shop,
            "fr-resellers",
            json!({"url": receiver.url, "format": "csv"}),
        )
        .await;
    let before = hub.subscription(&shop, &id).await;

    let (s, attempt) = hub.act(&shop, &id, "test", None).await;
    assert_eq!(s, 200, "{attempt}");
    assert_eq!(attempt["status"], 204, "{attempt}");
    assert!(attempt["error"].is_null());
    let got = receiver.deliveries();
    assert_eq!(got.len(), 1);
    assert!(
        verify(&secret, &got[0]),
        "signed with the subscription's secret"
    );
    assert_eq!(attempt["webhook_id"], got[0].id.as_str());
    assert_eq!(
        got[0].content_type, "application/json",
        "JSON whatever the format"
    );
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "catalog.test");
    assert_eq!(body["channel"], "fr-resellers");
    assert_eq!(body["subscription"], id.as_str());
    assert_eq!(attempt["from"], before["cursor"]);
    assert_eq!(attempt["to"], before["cursor"]);

    // A failing receiver: the answer says so, the subscription's state does not move.
    let (s, attempt) = hub.act(&shop, &id, "test", None).await;
    assert_eq!(s, 200, "{attempt}");
    assert_eq!(attempt["status"], 500, "{attempt}");
    assert_eq!(attempt["response"], "thanks");
    let after = hub.subscription(&shop, &id).await;
    assert_eq!(after["failures"], 0, "{after}");
    assert_eq!(after["cursor"], before["cursor"]);
    assert_eq!(after["state"], "active");
    let (_, log) = hub
        .call(
            "GET",
            &format!("/v1/subscriptions/{id}/attempts"),
            &shop,
            None,
        )
        .await;
    let log = log["attempts"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["status"], 500, "latest first");

    // Only its owner may test it; a digest has no webhook; an ended one answers 409.
    let (s, _) = hub.act(&other, &id, "test", None).await;
    assert_eq!(s, 404);
    let digest = confirmed_digest(&hub, &shop, "fr-resellers", "digest@shop-1.example").await;
    let (s, body) = hub.act(&shop, &digest, "test", None).await;
    assert_eq!(s, 400, "{body}");
    grant(&hub, "shop-1", json!([])).await;
    let (s, body) = hub.act(&shop, &id, "test", None).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(receiver.deliveries().len(), 2, "nothing more was sent");
    hub.stop().await;
}
