//! Concurrency: editors writing at the same time (through one instance or two sharing a
//! database) while generators run and followers read. Whatever the interleaving, followers end
//! equal to the full feed, and no seq ever becomes visible behind a cursor that passed it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::header;
use serde_json::{json, Value};

use crate::channels::{setup, Replica};
use crate::helpers::{start_time, Options, TestApp};
use crate::model::{assert_in_sync, follow_random, random_patch, random_product, server_digest};

/// Products every editor replaces and patches; created before the editors start, never deleted.
const SHARED: [&str; 4] = ["S-0", "S-1", "S-2", "S-3"];

/// The SKUs only editor `id` creates and deletes; the others patch them (404 once deleted).
/// Concurrent creation of one SKU is kept out: on PostgreSQL it answers 500 (see
/// `concurrent_creations_of_one_sku_do_not_fail`).
fn owned(id: u64) -> [String; 2] {
    [format!("O-{id}-0"), format!("O-{id}-1")]
}

async fn create_shared(app: &TestApp) {
    let mut rng = StdRng::seed_from_u64(5);
    for sku in SHARED {
        let r = app
            .put_product(&random_product(&mut rng, sku, start_time()))
            .await;
        assert_eq!(r.status(), 201);
    }
}

/// Every product, every field, the reseller list: most edits change the projection.
fn everything() -> Value {
    json!({"name": "Everything", "locale": "fr", "currency": "EUR", "price_list": "reseller",
           "price_adjustment_percent": "-5", "units": "metric"})
}

/// One editor: `ops` random PUT / PATCH / DELETE on the shared SKUs, through `apps` in turn.
/// Each answer must be one a correct server gives under concurrency: never a 5xx (on SQLite,
/// never "database is locked").
async fn editor(apps: &[&TestApp], id: u64, editors: u64, ops: usize) -> usize {
    let mut rng = StdRng::seed_from_u64(1000 + id);
    let mut done = 0;
    for op in 0..ops {
        let app = apps[(op + id as usize) % apps.len()];
        // Shared SKUs: replace or patch. Its own SKUs: anything. Another editor's: patch.
        let (sku, kinds) = match rng.random_range(0..10) {
            0..=4 => (SHARED.choose(&mut rng).unwrap().to_string(), 0..8),
            5..=7 => (owned(id).choose(&mut rng).unwrap().clone(), 0..10),
            _ => {
                let other = (id + rng.random_range(1..editors)) % editors;
                (owned(other).choose(&mut rng).unwrap().clone(), 5..8)
            }
        };
        let sku = sku.as_str();
        let (what, response) = match rng.random_range(kinds) {
            0..=4 => {
                let body = random_product(&mut rng, sku, start_time());
                ("PUT", app.put_product(&body).await)
            }
            5..=7 => {
                let patch = random_patch(&mut rng);
                let r = app
                    .client
                    .patch(app.url(&format!("/v1/products/{sku}")))
                    .bearer_auth(&app.admin_token)
                    .header(header::CONTENT_TYPE, "application/merge-patch+json")
                    .body(patch.to_string())
                    .send()
                    .await
                    .unwrap();
                ("PATCH", r)
            }
            _ => {
                let r = app.delete(&format!("/v1/products/{sku}")).await;
                ("DELETE", r)
            }
        };
        let status = response.status().as_u16();
        let expected: &[u16] = match what {
            "PUT" => &[200, 201],
            "PATCH" => &[200, 404],
            _ => &[204, 404],
        };
        assert!(
            expected.contains(&status),
            "editor {id}: {what} {sku} answered {status}: {}",
            response.text().await.unwrap()
        );
        done += 1;
    }
    done
}

/// Follows the channel from its beginning until `done`, through `apps` in turn.
async fn follower(
    apps: &[&TestApp],
    token: &str,
    channel: &str,
    done: &AtomicBool,
    seed: u64,
) -> (Replica, StdRng) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut replica = Replica::from_start();
    for round in 0..5000 {
        if done.load(Ordering::SeqCst) {
            break;
        }
        let app = apps[round % apps.len()];
        follow_random(&mut replica, app, token, channel, &mut rng).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (replica, rng)
}

/// Editors on all `apps`, a follower reading through all of them; then the final state.
async fn editors_and_a_follower(apps: &[&TestApp], token: &str, channel: &str, editors: u64) {
    create_shared(apps[0]).await;
    let done = AtomicBool::new(false);
    let edits = async {
        let n: usize = join_all((0..editors).map(|id| editor(apps, id, editors, 40)))
            .await
            .into_iter()
            .sum();
        done.store(true, Ordering::SeqCst);
        n
    };
    let (edits, (mut replica, mut rng)) =
        futures_util::future::join(edits, follower(apps, token, channel, &done, 7)).await;
    assert_eq!(edits, editors as usize * 40);
    for app in apps {
        app.settle().await;
    }
    for (i, app) in apps.iter().enumerate() {
        follow_random(&mut replica, app, token, channel, &mut rng).await;
        assert_in_sync(
            app,
            token,
            channel,
            &replica,
            &format!("follower via instance {i}"),
        )
        .await;
    }
    // A replica that follows from the very beginning now gets there too.
    let mut late = Replica::from_start();
    follow_random(&mut late, apps[0], token, channel, &mut rng).await;
    assert_eq!(late.records, replica.records);
    assert!(
        !replica.records.is_empty(),
        "the editors left some products"
    );
}

#[actix_web::test]
async fn concurrent_editors_with_the_background_generator_converge() {
    let app = TestApp::spawn().await;
    let token = setup(&app, "everything", &everything(), "shop-c").await;
    editors_and_a_follower(&[&app], &token, "everything", 6).await;
    app.stop().await;
}

#[actix_web::test]
async fn two_instances_on_one_database_converge() {
    // On SQLite too: write transactions begin IMMEDIATE, so writers of two processes wait for
    // each other instead of failing with "database is locked".
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_sharing(&first, Options::default()).await;
    let token = setup(&first, "everything", &everything(), "shop-c").await;
    crate::helpers::token_known_at(&second.address, &token).await;
    editors_and_a_follower(&[&first, &second], &token, "everything", 6).await;
    let (a, b) = (
        server_digest(&first, &token, "everything").await,
        server_digest(&second, &token, "everything").await,
    );
    assert_eq!(a, b, "both instances serve the same digest and cursor");
    second.stop().await;
    first.stop().await;
}

/// The seq of a cursor, decoded with the service's key.
fn seq_of(cursor: &str, key: &[u8]) -> i64 {
    partnerfeed::delta::Cursor::decode(cursor, key)
        .expect("a cursor of this service")
        .seq
}

#[actix_web::test]
async fn concurrent_generators_make_seqs_visible_in_order() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    if !app.is_postgres() {
        eprintln!("concurrent_generators_make_seqs_visible_in_order: PostgreSQL only (set TEST_DATABASE_URL)");
        app.stop().await;
        return;
    }
    let token = setup(&app, "hazard", &everything(), "shop-h").await;
    // More channels, in other channel groups: the generators work on several groups at once.
    let mut others = Vec::new();
    for i in 1..4 {
        let (code, reseller) = (format!("hazard-{i}"), format!("shop-h{i}"));
        let mut definition = everything();
        definition["price_adjustment_percent"] = json!(format!("-{i}"));
        others.push((setup(&app, &code, &definition, &reseller).await, code));
    }
    assert_eq!(
        channel_groups(&app, &["hazard", "hazard-1", "hazard-2", "hazard-3"]).len(),
        4,
        "the channels are in four groups"
    );
    let key = crate::helpers::cursor_key(&app.db, &app.data_dir());

    // Several generators on two database handles, as two instances would run them.
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let dbs = [app.open_another_db(), app.open_another_db()];
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (db, stop, errors) = (dbs[i % 2].clone(), stop.clone(), errors.clone());
            std::thread::spawn(move || {
                for _ in 0..200_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    match partnerfeed::jobs::delta::run_once(&db, start_time()) {
                        Ok(work) if work.is_idle() => std::thread::sleep(Duration::from_millis(1)),
                        Ok(_) => {}
                        Err(e) => errors.lock().unwrap().push(e.to_string()),
                    }
                }
            })
        })
        .collect();

    create_shared(&app).await;
    // A follower one change per page: each page's `next` is the seq of its change.
    let done = AtomicBool::new(false);
    let follow = async {
        let mut replica = Replica::from_start();
        let mut observed: BTreeMap<i64, String> = BTreeMap::new();
        let mut snapshots = Vec::new();
        let mut last = 0;
        for _ in 0..50_000 {
            let url = format!(
                "/v1/channels/hazard/changes?since={}&limit=1",
                replica.cursor
            );
            let r = app.get(&url, &token).send().await.unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            let page: Value = r.json().await.unwrap();
            let changes = page["changes"].as_array().unwrap();
            let next = page["next"].as_str().unwrap().to_string();
            let seq = seq_of(&next, &key);
            if let Some(change) = changes.first() {
                assert!(seq > last, "seq {seq} after {last}");
                last = seq;
                let sku = change["sku"].as_str().unwrap().to_string();
                match change["op"].as_str().unwrap() {
                    "upsert" => {
                        replica.records.insert(
                            sku.clone(),
                            (
                                change["hash"].as_str().unwrap().into(),
                                change["record"].clone(),
                            ),
                        );
                    }
                    _ => {
                        replica.records.remove(&sku);
                    }
                }
                observed.insert(seq, sku);
                replica.cursor = next;
                snapshots.push(replica.clone());
            } else {
                assert_eq!(seq, last, "an empty page does not move the cursor");
                if done.load(Ordering::SeqCst) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        (replica, observed, snapshots, last)
    };
    let one = [&app];
    let edits = async {
        let n: usize = join_all((0..4).map(|id| editor(&one, id, 4, 60)))
            .await
            .into_iter()
            .sum();
        done.store(true, Ordering::SeqCst);
        n
    };
    let (edits, (mut replica, observed, snapshots, last)) =
        futures_util::future::join(edits, follow).await;
    assert_eq!(edits, 240);
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let errors = errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "run_once failed: {errors:?}");
    app.drain().await;

    // Every change still in the log at a seq the follower went past was seen by it: no seq
    // became visible behind its cursor.
    let log = {
        use partnerfeed::store::{channel_records, channels};
        let mut conn = app.db.read_conn().unwrap();
        let channel = channels::get(&mut conn, "hazard").unwrap().unwrap();
        channel_records::changes_until(&mut conn, channel.id, 0, i64::MAX, 1_000_000).unwrap()
    };
    let missed: Vec<(i64, &str)> = log
        .iter()
        .filter(|r| r.seq <= last && !observed.contains_key(&r.seq))
        .map(|r| (r.seq, r.sku.as_str()))
        .collect();
    assert!(
        missed.is_empty(),
        "seqs committed behind the follower's cursor {last}: {missed:?}"
    );
    let seqs: BTreeSet<i64> = log.iter().map(|r| r.seq).collect();
    assert_eq!(seqs.len(), log.len(), "one seq per change");
    eprintln!(
        "seq visibility: the follower saw {} changes as they came, up to seq {last}; {} in the final log",
        observed.len(),
        log.len()
    );

    // And following from every intermediate cursor reaches the final state.
    let mut rng = StdRng::seed_from_u64(99);
    follow_random(&mut replica, &app, &token, "hazard", &mut rng).await;
    assert_in_sync(&app, &token, "hazard", &replica, "follower").await;
    for (token, code) in &others {
        let mut other = Replica::from_start();
        follow_random(&mut other, &app, token, code, &mut rng).await;
        assert_in_sync(&app, token, code, &other, code).await;
    }
    let step = (snapshots.len() / 40).max(1);
    for (i, mut snapshot) in snapshots.into_iter().enumerate().step_by(step) {
        follow_random(&mut snapshot, &app, &token, "hazard", &mut rng).await;
        assert_eq!(
            snapshot.records, replica.records,
            "from intermediate cursor {i}"
        );
    }
    app.stop().await;
}

/// Several editors create the same new SKU at once: one creates it (201), the others replace
/// it (200). Without the per-SKU lock each PostgreSQL transaction reads "absent" and inserts,
/// and the later ones hit the primary key (500).
#[actix_web::test]
async fn concurrent_creations_of_one_sku_do_not_fail() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let mut rng = StdRng::seed_from_u64(3);
    for round in 0..10 {
        let sku = format!("NEW-{round}");
        let bodies: Vec<Value> = (0..6)
            .map(|_| random_product(&mut rng, &sku, start_time()))
            .collect();
        let responses = join_all(bodies.iter().map(|b| app.put_product(b))).await;
        let mut statuses = Vec::new();
        for r in responses {
            let status = r.status().as_u16();
            statuses.push((status, r.text().await.unwrap()));
        }
        let created = statuses.iter().filter(|(s, _)| *s == 201).count();
        assert!(
            created == 1 && statuses.iter().all(|(s, _)| *s == 200 || *s == 201),
            "{sku}: {statuses:?}"
        );
    }
    app.stop().await;
}

/// The SKUs of the channel's changes since its start, in seq order.
async fn changed_skus(app: &TestApp, token: &str, channel: &str) -> Vec<String> {
    let mut replica = Replica::from_start();
    let mut skus = Vec::new();
    loop {
        let url = format!(
            "/v1/channels/{channel}/changes?since={}&limit=1000",
            replica.cursor
        );
        let response = app.get(&url, token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        for change in page["changes"].as_array().unwrap() {
            skus.push(change["sku"].as_str().unwrap().to_string());
        }
        replica.cursor = page["next"].as_str().unwrap().to_string();
        if page["has_more"] != true {
            return skus;
        }
    }
}

/// A large batch goes to the outbox's bulk lane: a single edit made after it is published by
/// the generator's next step, ahead of the batch (on SQLite that step takes it alone; on
/// PostgreSQL a step of every channel group serves the interactive lane first), and the batch
/// follows whole.
#[actix_web::test]
async fn a_single_edit_is_published_ahead_of_a_large_batch_queued_before_it() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "everything", &everything(), "shop-l").await;
    app.drain().await;
    let size = partnerfeed::service::edit::BULK_FROM + 20;
    let mut body = String::new();
    for i in 0..size {
        body.push_str(&crate::helpers::drill(&format!("B-{i:04}")).to_string());
        body.push('\n');
    }
    let r = app.batch("application/x-ndjson", body).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = app.put_product(&crate::helpers::drill("SINGLE")).await;
    assert_eq!(r.status(), 201);

    let (db, now) = (app.db.clone(), partnerfeed::clock::Clock::now(&*app.clock));
    let step =
        actix_web::rt::task::spawn_blocking(move || partnerfeed::jobs::delta::run_once(&db, now))
            .await
            .unwrap()
            .unwrap();
    assert!(step.events >= 1, "{step:?}");
    assert_eq!(
        changed_skus(&app, &token, "everything").await[0],
        "SINGLE",
        "the single edit is the first change published"
    );

    app.drain().await;
    let skus = changed_skus(&app, &token, "everything").await;
    assert_eq!(skus.len(), size + 1);
    assert_eq!(skus[0], "SINGLE");
    let batch: BTreeSet<&str> = skus[1..].iter().map(String::as_str).collect();
    assert_eq!(batch.len(), size, "every product of the batch, once");
    app.stop().await;
}

/// The generator group of a channel (`id % GROUPS`).
fn group_of(app: &TestApp, code: &str) -> i64 {
    use partnerfeed::store::channels;
    let mut conn = app.db.read_conn().unwrap();
    let channel = channels::get(&mut conn, code).unwrap().unwrap();
    channel.id % i64::from(channels::GROUPS)
}

/// The generator groups of these channels, distinct.
fn channel_groups(app: &TestApp, codes: &[&str]) -> BTreeSet<i64> {
    codes.iter().map(|code| group_of(app, code)).collect()
}

/// Another generator is working on one channel group (it holds the group's lock and its
/// channels' rows, as a generator does through a long step): a generator step does not wait
/// for it. It publishes the edit to the channel of another group, leaves the busy group's
/// channel alone, and keeps the event until that group has applied it too.
#[actix_web::test]
async fn a_busy_channel_group_does_not_hold_up_the_others() {
    use partnerfeed::store::{self, channels};
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    if !app.is_postgres() {
        eprintln!("a_busy_channel_group_does_not_hold_up_the_others: PostgreSQL only (set TEST_DATABASE_URL; SQLite has one writer)");
        app.stop().await;
        return;
    }
    let token_a = setup(&app, "group-a", &everything(), "shop-ga").await;
    let token_b = setup(&app, "group-b", &everything(), "shop-gb").await;
    let groups = channel_groups(&app, &["group-a", "group-b"]);
    assert_eq!(groups.len(), 2, "two channels, two groups");
    let held = group_of(&app, "group-a");
    let r = app.put_product(&crate::helpers::drill("G-1")).await;
    assert_eq!(r.status(), 201);
    app.drain().await;
    let (a0, b0) = (
        hash_of_g1(&app, &token_a, "group-a").await,
        hash_of_g1(&app, &token_b, "group-b").await,
    );
    let mut edited = crate::helpers::drill("G-1");
    edited["title"] = json!({"en": "Edited while group A is busy"});
    let r = app.put_product(&edited).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // The other generator: the group's lock and its channels' rows, held until told.
    let other = app.open_another_db();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut conn = other.write_conn().unwrap();
        store::transaction(&mut conn, |c| {
            assert!(channels::try_lock_group(c, held as u32)?);
            channels::lock_groups(c, 1 << held)?;
            locked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            Ok::<_, store::StoreError>(())
        })
        .unwrap();
    });
    locked_rx.recv().unwrap();

    let (db, now) = (app.db.clone(), partnerfeed::clock::Clock::now(&*app.clock));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        done_tx
            .send(partnerfeed::jobs::delta::run_once(&db, now))
            .unwrap()
    });
    // A liveness bound, not a measurement: a step that waited for the held group never ends.
    let step = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a generator step waited for the busy group")
        .unwrap();
    assert!(step.busy >= 1, "the held group was seen busy: {step:?}");
    assert_eq!(step.events, 0, "the event waits for the busy group");
    assert_ne!(
        hash_of_g1(&app, &token_b, "group-b").await,
        b0,
        "group B published the edit"
    );
    assert_eq!(
        hash_of_g1(&app, &token_a, "group-a").await,
        a0,
        "group A is left alone while busy"
    );

    release_tx.send(()).unwrap();
    holder.join().unwrap();
    app.drain().await;
    assert_ne!(
        hash_of_g1(&app, &token_a, "group-a").await,
        a0,
        "group A applies the edit once free"
    );
    let mut conn = app.db.read_conn().unwrap();
    assert!(
        store::outbox::pending(&mut conn, 10).unwrap().is_empty(),
        "every group applied the event: it is gone"
    );
    app.stop().await;
}

/// The hash of G-1's latest change in the channel.
async fn hash_of_g1(app: &TestApp, token: &str, channel: &str) -> String {
    let page = app
        .get_json(&format!("/v1/channels/{channel}/changes"), token)
        .await;
    let change = &page["changes"][0];
    assert_eq!(change["sku"], "G-1");
    change["hash"].as_str().unwrap().to_string()
}
