//! Crash safety: the real `partnerfeed` binary as a child process, killed with SIGKILL in the
//! middle of an import, of delta generation and of a webhook delivery, then restarted on the
//! same database. What must hold afterwards (docs/operations.md, "Crash safety"):
//! - every acknowledged (2xx) write is in the catalog, and every product in the catalog is
//!   published in the channel at its current state;
//! - no change is skipped or duplicated: seqs are unique in the channel, the channel's
//!   `last_seq` is the highest of them, following from the beginning sees them strictly
//!   increasing, and every record a replica had received up to its cursor before the crash
//!   is, if it has not changed since, exactly the one it received;
//! - a replica taken before the crash, and one caught in the middle of following, both reach
//!   the full feed and the server's digest by following `next` after the restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use partnerfeed::delta;
use partnerfeed::store::Db;
use reqwest::{Client, Method};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::channels::Replica;
use crate::helpers::drill;
use crate::helpers::process::{apply, Deployment, Instance};

// ---------------------------------------------------------------- the invariants

/// A channel publishing every product and every field.
pub fn everything(adjustment: &str) -> Value {
    json!({"name": "Everything", "locale": "fr", "currency": "EUR", "price_list": "reseller",
           "price_adjustment_percent": adjustment, "units": "metric"})
}

/// A product without price windows (so that its projection depends on no clock), `brand`
/// telling which write it is.
pub fn product(sku: &str, brand: &str) -> Value {
    let mut p = drill(sku);
    p["brand"] = json!(brand);
    p["prices"] = json!([{"list": "reseller", "currency": "EUR", "amount": "84.30", "min_qty": 1}]);
    p
}

/// One row of `channel_records`.
#[derive(QueryableByName, Debug)]
struct SeqRow {
    #[diesel(sql_type = Text)]
    sku: String,
    #[diesel(sql_type = BigInt)]
    seq: i64,
    /// The hash as stored: its 32 bytes.
    #[diesel(sql_type = Nullable<Binary>)]
    hash: Option<Vec<u8>>,
}

#[derive(QueryableByName)]
struct LastSeq {
    #[diesel(sql_type = BigInt)]
    last_seq: i64,
}

/// The channel's change log as stored, and its `last_seq`.
fn change_log(db: &Db, channel: &str) -> (Vec<SeqRow>, i64) {
    let mut conn = db.read_conn().unwrap();
    partnerfeed::with_conn!(&mut *conn, |c| {
        let rows = diesel::sql_query(format!(
            "SELECT r.sku, r.seq, r.hash FROM channel_records r JOIN channels c \
             ON c.id = r.channel_id WHERE c.code = '{channel}' ORDER BY r.seq"
        ))
        .load::<SeqRow>(c)
        .unwrap();
        let last = diesel::sql_query(format!(
            "SELECT last_seq FROM channels WHERE code = '{channel}'"
        ))
        .get_result::<LastSeq>(c)
        .unwrap()
        .last_seq;
        (rows, last)
    })
}

/// A replica as it stood at some moment, kept to compare with the log after the crash.
pub struct Snapshot {
    pub what: &'static str,
    pub replica: Replica,
}

/// Everything the crash must not have broken, checked once the restarted instance settled:
/// acknowledged writes (`acked`: SKU -> the brands its write may have left, the acknowledged
/// one first), the catalog as published, the change log, and `replicas` brought up to date.
pub async fn assert_consistent(
    d: &Deployment,
    i: &Instance,
    token: &str,
    channel: &str,
    definition: &Value,
    acked: &BTreeMap<String, Vec<String>>,
    snapshots: Vec<Snapshot>,
) {
    d.settle(i).await;
    let catalog = d.catalog(i).await;
    for (sku, brands) in acked {
        let stored = catalog
            .get(sku)
            .unwrap_or_else(|| panic!("the acknowledged write of {sku} is lost"));
        assert!(
            brands.iter().any(|b| stored["brand"] == b.as_str()),
            "{sku} has brand {} but its acknowledged write was {:?}",
            stored["brand"],
            brands
        );
    }

    // The channel publishes exactly the catalog, each product at its current state.
    let feed = d.feed(i, token, channel).await;
    let def = delta::parse_channel(definition).unwrap();
    let now = chrono::Utc::now();
    let expected: BTreeMap<String, String> = catalog
        .iter()
        .filter_map(|(sku, body)| {
            let product = partnerfeed::catalog::parse_product(body, None).unwrap();
            let record = delta::project(sku, &product, &def, now)?;
            Some((sku.clone(), delta::record_hash(&record)))
        })
        .collect();
    let published: BTreeMap<String, String> = feed
        .records
        .iter()
        .map(|(sku, (hash, _))| (sku.clone(), hash.clone()))
        .collect();
    assert_eq!(
        published.len(),
        expected.len(),
        "the channel publishes {} products for a catalog of {}",
        published.len(),
        expected.len()
    );
    assert!(
        published == expected,
        "a published record is not its product's projection"
    );
    let digest = d.digest(i, token, channel).await;
    assert_eq!(digest["digest"], feed.digest().as_str());
    assert_eq!(digest["count"], feed.records.len());

    // The change log: unique seqs, `last_seq` their maximum.
    let db = d.db();
    let key = crate::helpers::cursor_key(&db, &d.data_dir);
    let (log, last_seq) = change_log(&db, channel);
    let mut seen = std::collections::HashSet::new();
    for row in &log {
        assert!(seen.insert(row.seq), "seq {} given twice", row.seq);
    }
    assert_eq!(
        log.last().map_or(0, |r| r.seq),
        last_seq,
        "last_seq is not the highest seq"
    );
    assert_eq!(
        delta::Cursor::decode(&feed.cursor, &key).unwrap().seq,
        last_seq
    );

    // Every record a replica had received up to its cursor is still the one stored there,
    // unless it changed since (a later seq): nothing was committed behind a cursor handed out.
    for snapshot in &snapshots {
        let upto = delta::Cursor::decode(&snapshot.replica.cursor, &key)
            .unwrap()
            .seq;
        for row in log.iter().take_while(|r| r.seq <= upto) {
            let held = snapshot.replica.records.get(&row.sku).map(|(h, _)| h);
            assert_eq!(
                held,
                row.hash.as_ref().map(hex::encode).as_ref(),
                "{}: {} at seq {} <= its cursor {upto} was never received",
                snapshot.what,
                row.sku,
                row.seq
            );
        }
    }

    // Following from the beginning: cursors strictly increase, each SKU comes once, and every
    // stored change comes.
    let mut from_start = Replica::default();
    let mut previous = 0;
    let mut skus = std::collections::HashSet::new();
    loop {
        let (more, page) = d
            .follow_page(i, token, channel, &mut from_start, 97)
            .await
            .unwrap();
        let seq = delta::Cursor::decode(&from_start.cursor, &key).unwrap().seq;
        if !page.is_empty() {
            assert!(seq > previous, "cursor seq {seq} after {previous}");
            previous = seq;
        }
        for sku in page {
            assert!(skus.insert(sku.clone()), "{sku} twice from the beginning");
        }
        if !more {
            break;
        }
    }
    assert_eq!(
        skus.len(),
        log.len(),
        "following from the beginning skipped a change"
    );
    assert_eq!(from_start.records, feed.records, "from the beginning");

    // Replicas from before and during the crash reach the feed and the digest.
    for mut snapshot in snapshots {
        d.follow(i, token, channel, &mut snapshot.replica, 250)
            .await;
        assert_eq!(
            snapshot.replica.records, feed.records,
            "{}: replica != full feed",
            snapshot.what
        );
        assert_eq!(digest["digest"], snapshot.replica.digest().as_str());
    }
}

// ---------------------------------------------------------------- writers caught by the crash

/// Editors writing their own SKUs one PUT at a time until the server is gone. Each SKU maps to
/// the brands its final state may have: the last acknowledged one, and the one in flight when
/// the server died (committed or not: its answer never came).
pub type Acked = Arc<Mutex<BTreeMap<String, Vec<String>>>>;

pub fn spawn_editors(
    d: &Arc<Deployment>,
    base: &str,
    editors: usize,
    skus_each: usize,
) -> (Acked, Vec<tokio::task::JoinHandle<usize>>) {
    let acked: Acked = Arc::default();
    let handles = (0..editors)
        .map(|e| {
            let (d, acked, base) = (d.clone(), acked.clone(), base.to_string());
            tokio::spawn(async move {
                let mut writes = 0;
                for n in 0.. {
                    let sku = format!("E-{e}-{}", n % skus_each);
                    let brand = format!("write-{n}");
                    let response = d
                        .client
                        .put(format!("{base}/v1/products/{sku}"))
                        .bearer_auth(&d.admin)
                        .json(&product(&sku, &brand))
                        .send()
                        .await;
                    let mut acked = acked.lock().unwrap();
                    let entry = acked.entry(sku.clone()).or_default();
                    match response {
                        Ok(r) if r.status().is_success() => {
                            *entry = vec![brand];
                            writes += 1;
                        }
                        Ok(r) => panic!("PUT {sku}: {}", r.status()),
                        Err(_) => {
                            // The server died with this write in flight.
                            entry.push(brand);
                            if entry.len() == 1 {
                                // Never acknowledged before: it may not exist at all.
                                acked.remove(&sku);
                            }
                            return writes;
                        }
                    }
                }
                writes
            })
        })
        .collect();
    (acked, handles)
}

/// A follower applying changes pages until the server dies; its replica at that moment.
pub fn spawn_follower(
    d: &Arc<Deployment>,
    base: &str,
    token: &str,
    channel: &str,
    start: Replica,
) -> tokio::task::JoinHandle<Replica> {
    let (d, token, channel) = (d.clone(), token.to_string(), channel.to_string());
    let instance_base = base.to_string();
    tokio::spawn(async move {
        let mut replica = start;
        loop {
            let path = format!(
                "{instance_base}/v1/channels/{channel}/changes?since={}&limit=50",
                replica.cursor
            );
            let Ok(response) = d.client.get(&path).bearer_auth(&token).send().await else {
                return replica;
            };
            let Ok(page) = response.json::<Value>().await else {
                return replica;
            };
            for change in page["changes"].as_array().unwrap() {
                apply(&mut replica, change);
            }
            replica.cursor = page["next"].as_str().unwrap().to_string();
        }
    })
}

fn ndjson_batch(prefix: &str, count: usize, brand: &str) -> String {
    let mut body = String::new();
    for n in 0..count {
        body.push_str(&product(&format!("{prefix}-{n:05}"), brand).to_string());
        body.push('\n');
    }
    body
}

async fn post_batch(
    d: &Deployment,
    base: &str,
    body: String,
) -> reqwest::Result<reqwest::Response> {
    d.client
        .post(format!("{base}/v1/products/batch"))
        .bearer_auth(&d.admin)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
}

// ---------------------------------------------------------------- the crashes

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_during_an_import_loses_nothing_committed() {
    let d = Arc::new(Deployment::new(&[]));
    let first = d.start().await;
    let definition = everything("-5");
    let token = d.channel(&first, "all", &definition).await;
    let r = post_batch(&d, &first.base, ndjson_batch("P", 300, "initial"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    d.settle(&first).await;
    let before = d.feed(&first, &token, "all").await;
    assert_eq!(before.records.len(), 300);

    let (acked, editors) = spawn_editors(&d, &first.base, 4, 10);
    let follower = spawn_follower(&d, &first.base, &token, "all", before.clone());
    // A batch of 10,000 is stored 1,000 per transaction: kill once part of it is committed.
    let batch = {
        let (d, base) = (d.clone(), first.base.clone());
        tokio::spawn(async move { post_batch(&d, &base, ndjson_batch("B", 10_000, "batch")).await })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stored = d
            .metric(&first, "partnerfeed_products ")
            .await
            .unwrap_or(0.0);
        if stored >= 1_300.0 {
            break;
        }
        assert!(
            !batch.is_finished(),
            "the batch ended before it could be interrupted"
        );
        assert!(
            Instant::now() < deadline,
            "the batch never committed a chunk"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill();
    let batch = batch.await.unwrap();
    assert!(
        batch.is_err(),
        "the batch was answered: {:?}",
        batch.map(|r| r.status())
    );
    let mut writes = 0;
    for e in editors {
        writes += e.await.unwrap();
    }
    assert!(
        writes > 0,
        "no editor write was acknowledged before the kill"
    );
    let during = follower.await.unwrap();

    let second = d.start().await;
    let acked = acked.lock().unwrap().clone();
    // The interrupted batch: whole chunks, in order, nothing half-stored.
    let catalog = d.catalog(&second).await;
    let batch_skus: Vec<&String> = catalog.keys().filter(|s| s.starts_with("B-")).collect();
    assert!(
        !batch_skus.is_empty() && batch_skus.len() < 10_000,
        "{} of the batch stored",
        batch_skus.len()
    );
    for (n, sku) in batch_skus.iter().enumerate() {
        assert_eq!(
            **sku,
            format!("B-{n:05}"),
            "the batch was not stored as a prefix"
        );
    }
    assert_consistent(
        &d,
        &second,
        &token,
        "all",
        &definition,
        &acked,
        vec![
            Snapshot {
                what: "replica from before the crash",
                replica: before,
            },
            Snapshot {
                what: "replica following during the crash",
                replica: during,
            },
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_during_delta_generation_skips_and_repeats_no_change() {
    let d = Arc::new(Deployment::new(&[]));
    let mut instance = d.start().await;
    let token = d.channel(&instance, "all", &everything("-5")).await;
    let r = post_batch(&d, &instance.base, ndjson_batch("P", 4_000, "initial"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    d.settle(&instance).await;
    let before = d.feed(&instance, &token, "all").await;

    // A redefinition re-evaluates the whole catalog, 500 products a transaction, while editors
    // add to the outbox. Kill once part of it is committed; try again should it finish first.
    let mut adjustment = -5;
    let (definition, acked, during) = 'attempts: {
        for _ in 0..5 {
            adjustment -= 1;
            let definition = everything(&adjustment.to_string());
            let (acked, editors) = spawn_editors(&d, &instance.base, 2, 20);
            let follower = spawn_follower(&d, &instance.base, &token, "all", before.clone());
            let seq_before = d
                .metric(&instance, "partnerfeed_channel_last_seq")
                .await
                .unwrap();
            d.ok(
                &instance,
                Method::PUT,
                "/v1/channels/all",
                &d.admin,
                Some(&definition),
            )
            .await;
            let deadline = Instant::now() + Duration::from_secs(60);
            let caught = loop {
                let seq = d
                    .metric(&instance, "partnerfeed_channel_last_seq")
                    .await
                    .unwrap();
                let busy = d
                    .metric(&instance, "partnerfeed_channel_reevaluating")
                    .await;
                if busy == Some(0.0) {
                    break false;
                }
                if seq >= seq_before + 600.0 {
                    break true;
                }
                assert!(
                    Instant::now() < deadline,
                    "the re-evaluation never progressed"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            };
            instance.kill();
            for e in editors {
                e.await.unwrap();
            }
            let during = follower.await.unwrap();
            let reevaluating = {
                let db = d.db();
                let mut conn = db.read_conn().unwrap();
                partnerfeed::store::channels::list(&mut conn, None)
                    .unwrap()
                    .iter()
                    .any(|c| c.reeval_after.is_some())
            };
            let acked = acked.lock().unwrap().clone();
            instance = d.start().await;
            if caught && reevaluating {
                break 'attempts (definition, acked, during);
            }
            d.settle(&instance).await;
        }
        panic!("the re-evaluation always finished before the kill");
    };
    assert_consistent(
        &d,
        &instance,
        &token,
        "all",
        &definition,
        &acked,
        vec![
            Snapshot {
                what: "replica from before the redefinition",
                replica: before,
            },
            Snapshot {
                what: "replica following during the crash",
                replica: during,
            },
        ],
    )
    .await;
}

// ---------------------------------------------------------------- a webhook receiver

/// One request as the receiver got it.
#[derive(Clone, Debug)]
struct Delivery {
    webhook_id: String,
    body: Vec<u8>,
}

/// A receiver on 127.0.0.1:0 that either holds every request unanswered (`hold`) or answers
/// 204; it records what it got.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Delivery>>>,
    hold: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let hold = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (g, h) = (got.clone(), hold.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (got, hold) = (g.clone(), h.clone());
                tokio::spawn(async move {
                    loop {
                        let Some(delivery) = read_request(&mut socket).await else {
                            return;
                        };
                        got.lock().unwrap().push(delivery);
                        if hold.load(std::sync::atomic::Ordering::SeqCst) {
                            // Keep the connection open, unanswered, until the sender dies.
                            let mut rest = Vec::new();
                            let _ = socket.read_to_end(&mut rest).await;
                            return;
                        }
                        let answer = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
                        if socket.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { url, got, hold }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }
}

/// Reads one HTTP/1.1 request with a `content-length` body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Delivery> {
    let mut buf = Vec::new();
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length")?.parse().ok()?;
    let mut body = buf[header_end..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; length - body.len()];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Delivery {
        webhook_id: header("webhook-id")?,
        body,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_during_a_webhook_delivery_resends_the_same_batch() {
    let d = Arc::new(Deployment::new(&[
        ("PARTNERFEED_WEBHOOK_ALLOW", "127.0.0.0/8"),
        ("PARTNERFEED_WEBHOOK_LEASE", "2s"),
        ("PARTNERFEED_WEBHOOK_RETRY_SCHEDULE", "200ms"),
        ("PARTNERFEED_WEBHOOK_BATCH_CHANGES", "40"),
    ]));
    let first = d.start().await;
    let definition = everything("-5");
    let token = d.channel(&first, "all", &definition).await;
    let receiver = Receiver::start().await;
    let body = json!({"url": receiver.url, "format": "json", "since": "start"});
    d.ok(
        &first,
        Method::POST,
        "/v1/channels/all/subscriptions",
        &token,
        Some(&body),
    )
    .await;
    let r = post_batch(&d, &first.base, ndjson_batch("P", 100, "initial"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The receiver holds the first request it gets: the delivery is in progress. Kill.
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.deliveries().is_empty() {
        assert!(Instant::now() < deadline, "no delivery:\n{}", first.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill();
    let held = receiver.deliveries()[0].clone();
    receiver
        .hold
        .store(false, std::sync::atomic::Ordering::SeqCst);

    // Edits while the server is down (through the CLI) and after the restart.
    let file = d.data_dir.join("more.ndjson");
    std::fs::write(&file, ndjson_batch("Q", 50, "offline")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_partnerfeed"))
        .arg("import")
        .arg(&file)
        .env("DATABASE_URL", &d.url)
        .env("PARTNERFEED_DATA_DIR", &d.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = d.start().await;
    d.ok(
        &second,
        Method::DELETE,
        "/v1/products/P-00007",
        &d.admin,
        None,
    )
    .await;
    d.settle(&second).await;
    let feed = d.feed(&second, &token, "all").await;
    let digest = d.digest(&second, &token, "all").await;

    // Deliveries until the receiver's replica reaches the channel's cursor.
    let deadline = Instant::now() + Duration::from_secs(60);
    let replica = loop {
        let deliveries = receiver.deliveries();
        let mut replica = Replica::default();
        let mut applied = std::collections::HashSet::new();
        for delivery in &deliveries {
            // Receivers deduplicate on webhook-id, as the protocol asks.
            if !applied.insert(delivery.webhook_id.clone()) {
                continue;
            }
            let body: Value = serde_json::from_slice(&delivery.body).unwrap();
            if !replica.cursor.is_empty() {
                assert_eq!(body["from"], replica.cursor.as_str(), "a batch was skipped");
            }
            for change in body["changes"].as_array().unwrap() {
                apply(&mut replica, change);
            }
            replica.cursor = body["to"].as_str().unwrap().to_string();
        }
        if replica.cursor == feed.cursor {
            break replica;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries stopped:\n{}",
            second.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The batch in flight at the crash was resent as it was frozen: same id, same bytes.
    let deliveries = receiver.deliveries();
    let resent = deliveries
        .iter()
        .skip(1)
        .find(|x| x.webhook_id == held.webhook_id)
        .expect("the interrupted batch was not resent");
    assert_eq!(
        resent.body, held.body,
        "the resent batch differs from the frozen one"
    );
    assert_eq!(
        replica.records, feed.records,
        "the webhook replica != the full feed"
    );
    assert_eq!(digest["digest"], replica.digest().as_str());
}

// ---------------------------------------------------------------- PostgreSQL going away

/// A PostgreSQL cluster of the test's own in a temporary directory, on a free port, so that it
/// can be stopped and started without disturbing the machine's server. `initdb` refuses to run
/// as root: as root, the cluster belongs to the `postgres` user.
struct PrivatePostgres {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries in /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .max()
            .expect("initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if as_postgres {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&data)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePostgres {
            _dir: dir,
            data,
            bin,
            port,
            as_postgres,
        };
        let data = pg.data.to_string_lossy().to_string();
        pg.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        pg.up();
        pg
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let tool = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(tool);
            c
        } else {
            Command::new(tool)
        };
        let out = cmd.args(args).stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn up(&self) {
        let data = self.data.to_string_lossy().to_string();
        let options = format!(
            "-p {} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        let log = format!("{data}/server.log");
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &options, "-w", "start"],
        );
    }

    /// An immediate stop: every backend killed, no checkpoint, as a crash would leave it.
    fn down(&self) {
        let data = self.data.to_string_lossy().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().to_string();
        let tool = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(tool);
            c
        } else {
            Command::new(tool)
        };
        let _ = cmd.args(["-D", &data, "-m", "immediate", "stop"]).output();
    }
}

/// What a client under load saw: answers other than 2xx or a 503 problem are `bad`.
#[derive(Default, Debug)]
struct Tally {
    ok: usize,
    unavailable: usize,
    interrupted: usize,
    bad: Vec<String>,
}

impl Tally {
    /// Counts an answer; whether it succeeded.
    async fn count(
        &mut self,
        what: &str,
        response: reqwest::Result<reqwest::Response>,
    ) -> Option<Value> {
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                self.bad.push(format!("{what}: {e}"));
                return None;
            }
        };
        let status = response.status().as_u16();
        let problem = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(_) => {
                // The database went away while the body was being streamed: the status was
                // already sent, so the connection is cut instead.
                self.interrupted += 1;
                return None;
            }
        };
        if (200..300).contains(&status) {
            if body.is_empty() {
                self.ok += 1;
                return Some(Value::Null);
            }
            // A body that ends cleanly must be whole: a cut one is a transport error above.
            return match serde_json::from_slice(&body) {
                Ok(value) => {
                    self.ok += 1;
                    Some(value)
                }
                Err(e) => {
                    self.bad.push(format!(
                        "{what}: {status} with a body that ended cleanly but is not whole ({e}): {}",
                        String::from_utf8_lossy(&body)
                    ));
                    None
                }
            };
        }
        if status == 503 && problem {
            self.unavailable += 1;
        } else {
            self.bad.push(format!(
                "{what}: {status} {}",
                String::from_utf8_lossy(&body)
            ));
        }
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_away_answers_503_fast_and_everything_recovers_by_itself() {
    if std::env::var("TEST_DATABASE_URL").map_or(true, |u| u.is_empty()) {
        eprintln!("runs in the PostgreSQL pass of the suite (TEST_DATABASE_URL set)");
        return;
    }
    let pg = PrivatePostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let d = Arc::new(Deployment::on(&pg.url(), dir.path().to_path_buf(), &[]));
    let instance = d.start().await;
    let definition = everything("-5");
    let token = d.channel(&instance, "all", &definition).await;
    let r = post_batch(&d, &instance.base, ndjson_batch("P", 200, "initial"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    d.settle(&instance).await;
    let before = d.feed(&instance, &token, "all").await;

    // Two editors and four followers keep going through the outage.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked: Acked = Arc::default();
    let acks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut editors = Vec::new();
    for e in 0..2 {
        let (d, base, stop, acked, acks) = (
            d.clone(),
            instance.base.clone(),
            stop.clone(),
            acked.clone(),
            acks.clone(),
        );
        editors.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let sku = format!("E-{e}-{}", n % 10);
                let brand = format!("write-{n}");
                let response = d
                    .client
                    .put(format!("{base}/v1/products/{sku}"))
                    .bearer_auth(&d.admin)
                    .json(&product(&sku, &brand))
                    .send()
                    .await;
                let ok = tally.count(&format!("PUT {sku}"), response).await.is_some();
                let mut acked = acked.lock().unwrap();
                if ok {
                    acked.insert(sku, vec![brand]);
                    acks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                } else if let Some(brands) = acked.get_mut(&sku) {
                    // A 503 may come before the commit or after it was lost: either may stay.
                    brands.push(brand);
                }
                n += 1;
            }
            tally
        }));
    }
    let mut followers = Vec::new();
    for _ in 0..4 {
        let (d, base, stop, token, start) = (
            d.clone(),
            instance.base.clone(),
            stop.clone(),
            token.clone(),
            before.clone(),
        );
        followers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut replica = start;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let url = format!(
                    "{base}/v1/channels/all/changes?since={}&limit=50",
                    replica.cursor
                );
                let response = d.client.get(&url).bearer_auth(&token).send().await;
                if let Some(page) = tally.count("changes", response).await {
                    for change in page["changes"].as_array().unwrap() {
                        apply(&mut replica, change);
                    }
                    replica.cursor = page["next"].as_str().unwrap().to_string();
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            (tally, replica)
        }));
    }
    let wait_for_writes = |more: usize| {
        let acks = acks.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            let target = acks.load(std::sync::atomic::Ordering::SeqCst) + more;
            while acks.load(std::sync::atomic::Ordering::SeqCst) < target {
                assert!(Instant::now() < deadline, "the editors made no progress");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for_writes(10).await;

    pg.down();
    // While the database is away, every kind of request answers 503 with a problem body,
    // within the client's bound (a request that hung would fail the test with a timeout).
    let probe = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let product_path = format!("{}/v1/products/P-00001", instance.base);
    let requests = [
        probe
            .get(format!("{}/v1/channels/all/feed", instance.base))
            .bearer_auth(&token),
        probe
            .get(format!(
                "{}/v1/channels/all/changes?since={}",
                instance.base, before.cursor
            ))
            .bearer_auth(&token),
        probe
            .get(format!("{}/v1/channels/all/digest", instance.base))
            .bearer_auth(&token),
        probe.get(&product_path).bearer_auth(&d.admin),
        probe
            .put(&product_path)
            .bearer_auth(&d.admin)
            .json(&product("P-00001", "away")),
        probe.get(format!("{}/readyz", instance.base)),
    ];
    for request in requests {
        let started = Instant::now();
        let response = request
            .send()
            .await
            .expect("an answer while the database is away");
        let url = response.url().path().to_string();
        assert_eq!(response.status(), 503, "{url}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("application/problem+json"),
            "{url}: {content_type}"
        );
        assert!(
            response.headers().contains_key("retry-after"),
            "{url}: no Retry-After"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], 503, "{url}: {body}");
        eprintln!(
            "database away: {url} answered 503 in {:?}",
            started.elapsed()
        );
    }

    pg.up();
    // Recovery by itself: the same processes, no restart of the server.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = d
            .client
            .get(format!("{}/readyz", instance.base))
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never ready again:\n{}",
            instance.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_writes(10).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut tallies = Vec::new();
    for e in editors {
        tallies.push(e.await.unwrap());
    }
    let mut snapshots = Vec::new();
    for f in followers {
        let (tally, replica) = f.await.unwrap();
        // A change page is rendered whole before its headers go out: complete or a 503.
        assert_eq!(tally.interrupted, 0, "a change page was cut: {tally:?}");
        tallies.push(tally);
        snapshots.push(Snapshot {
            what: "follower through the outage",
            replica,
        });
    }
    for tally in &tallies {
        eprintln!("{tally:?}");
        assert!(
            tally.bad.is_empty(),
            "answers other than 2xx or a 503 problem: {:?}",
            tally.bad
        );
        assert!(tally.ok > 0);
    }
    let acked = acked.lock().unwrap().clone();
    assert_consistent(&d, &instance, &token, "all", &definition, &acked, snapshots).await;
    drop(instance);
}

/// `/healthz` is liveness: it never touches the database, so it answers 200 while PostgreSQL
/// is away; `/readyz` answers 503 then, within a second, and 200 again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_the_database_is_away_and_readyz_within_a_second() {
    if std::env::var("TEST_DATABASE_URL").map_or(true, |u| u.is_empty()) {
        eprintln!("runs in the PostgreSQL pass of the suite (TEST_DATABASE_URL set)");
        return;
    }
    let pg = PrivatePostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let d = Deployment::on(&pg.url(), dir.path().to_path_buf(), &[]);
    let instance = d.start().await;
    let get = |path: &'static str| {
        let url = format!("{}{path}", instance.base);
        let client = d.client.clone();
        async move {
            let asked = Instant::now();
            let status = client.get(url).send().await.unwrap().status().as_u16();
            (status, asked.elapsed())
        }
    };
    assert_eq!(get("/readyz").await.0, 200);
    pg.down();
    for _ in 0..10 {
        assert_eq!(get("/healthz").await.0, 200);
        let (status, took) = get("/readyz").await;
        assert!(took < Duration::from_secs(1), "/readyz took {took:?}");
        if status == 503 {
            break;
        }
        // The token table was read less than a second ago: the database counts as ready.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..5 {
        assert_eq!(get("/healthz").await.0, 200);
        let (status, took) = get("/readyz").await;
        assert_eq!(status, 503);
        assert!(took < Duration::from_secs(1), "/readyz took {took:?}");
    }
    pg.up();
    let deadline = Instant::now() + Duration::from_secs(30);
    while get("/readyz").await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(instance);
}
