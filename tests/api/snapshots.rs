//! The console at scale: a channel larger than a page may walk shows the background snapshot
//! (live count, digest, readiness) with the cursor it is consistent with, refreshed after a
//! change; snapshots are computed once at a time; the catalog's size is kept by the edit path.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::channels::{fr_resellers, setup};
use crate::helpers::{drill, Options, TestApp};
use crate::vendor::Console;
use partnerfeed::clock::Clock;
use partnerfeed::jobs::snapshots as job;
use partnerfeed::service::snapshots::INLINE;
use partnerfeed::store::{self, snapshots as stored};

/// A signed-in console session (the vendor tests' client); `page` asserts a 200.
struct Reader(Console);

impl Reader {
    async fn sign_in(app: &TestApp, token: &str) -> Reader {
        Reader(Console::sign_in(app, token).await)
    }

    async fn page(&self, app: &TestApp, path: &str) -> String {
        let (status, html) = self.0.get(app, path).await;
        assert_eq!(status, 200, "{path}");
        html
    }
}

/// The text of the `<dd>` after the `<dt>` named `term` in `html`.
fn fact(html: &str, term: &str) -> String {
    let after = html
        .split(&format!("<dt>{term}</dt>"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {term:?} in {html}"));
    let dd = after.split("</dd>").next().unwrap();
    let text = dd.trim_start_matches("<dd>");
    // Strip the tags (the values sit in <code>).
    let mut out = String::new();
    let mut inside = false;
    for ch in text.chars() {
        match ch {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// The digest of a replica (sku -> hash), computed here from PRODUCT.md's definition.
fn replica_digest(replica: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (sku, hash) in replica {
        h.update(format!("{sku}\t{hash}\n").as_bytes());
    }
    hex::encode(h.finalize())
}

async fn api(app: &TestApp, path: &str, token: &str) -> Value {
    let r = app.get(path, token).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// `count` products in the channel's assortment, through the batch endpoint.
pub async fn fill(app: &TestApp, count: usize) {
    fill_with(app, count, |_, _| {}).await;
}

/// [`fill`], each product changed by `edit` (given its index) before it is sent.
pub async fn fill_with(app: &TestApp, count: usize, edit: impl Fn(usize, &mut Value)) {
    let body: String = (0..count)
        .map(|i| {
            let mut p = drill(&format!("DRL-{i:05}"));
            if i % 7 == 0 {
                p.as_object_mut().unwrap().remove("gtin");
            }
            edit(i, &mut p);
            format!("{p}\n")
        })
        .collect();
    let r = app.batch("application/x-ndjson", body).await;
    assert_eq!(r.status(), 200);
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["failed"], 0, "{r}");
}

fn channel_id(app: &TestApp, code: &str) -> i64 {
    let mut conn = app.db.read_conn().unwrap();
    store::channels::get(&mut conn, code).unwrap().unwrap().id
}

async fn refresh(app: &TestApp, id: i64) {
    let (db, now) = (app.db.clone(), app.clock.now());
    let done = actix_web::rt::task::spawn_blocking(move || {
        job::refresh(&db, id, "test", now, std::time::Duration::from_secs(60))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(done, "the snapshot was stored");
}

#[actix_web::test]
async fn a_large_channel_shows_its_snapshot_with_its_cursor_and_a_refresh_after_a_change() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "fr-web", &crate::profiles::channel(), "acme-fr").await;
    let count = INLINE as usize + 20;
    fill(&app, count).await;
    app.settle().await;
    let id = channel_id(&app, "fr-web");
    let portal = Reader::sign_in(&app, &token).await;
    let admin = Reader::sign_in(&app, &app.admin_token).await;

    // Too large to walk for a page, and no snapshot yet: the pages say so, without waiting.
    let page = portal.page(&app, "/portal/channels").await;
    assert_eq!(fact(&page, "Records"), "not counted yet", "{page}");
    let page = admin
        .page(&app, "/console/channels/fr-web/readiness/google-xml")
        .await;
    assert!(page.contains("not ready yet"), "{page}");

    // The background computation: the figures are those of the full feed at the cursor shown.
    refresh(&app, id).await;
    let feed = api(&app, "/v1/channels/fr-web/feed?format=json", &token).await;
    let mut replica: BTreeMap<String, String> = feed["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["sku"].as_str().unwrap().into(),
                p["hash"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(replica.len(), count);
    let page = portal.page(&app, "/portal/channels").await;
    let cursor = fact(&page, "Cursor");
    assert_eq!(cursor, feed["cursor"].as_str().unwrap(), "{page}");
    assert_eq!(fact(&page, "Records"), count.to_string());
    assert_eq!(fact(&page, "Digest (SHA-256)"), replica_digest(&replica));
    assert!(fact(&page, "As of").contains("the latest"), "{page}");
    // The API serves the same current snapshot.
    let digest = api(&app, "/v1/channels/fr-web/digest", &token).await;
    assert_eq!(digest["cursor"], feed["cursor"]);
    assert_eq!(digest["digest"].as_str().unwrap(), replica_digest(&replica));
    // Readiness from the same snapshot matches the API's feed report.
    let report = api(
        &app,
        "/v1/channels/fr-web/feed/report?format=google-xml",
        &token,
    )
    .await;
    let page = admin
        .page(&app, "/console/channels/fr-web/readiness/google-xml")
        .await;
    let summary = format!(
        "{} live products checked: <strong>{} left out</strong>",
        report["checked"], report["excluded"]
    );
    assert!(page.contains(&summary), "{summary} in {page}");
    assert!(page.contains("the latest"), "{page}");
    let dashboard = admin.page(&app, "/console").await;
    assert!(
        dashboard.contains(&format!("{count} products")),
        "{dashboard}"
    );

    // A change: the page keeps showing the snapshot, with its own cursor (still consistent:
    // following the changes from it reaches the channel's new state).
    let mut edited = drill("DRL-00003");
    edited["title"]["fr"] = json!("Perceuse 18 V, nouvelle");
    assert_eq!(app.put_product(&edited).await.status(), 200);
    app.settle().await;
    let page = portal.page(&app, "/portal/channels").await;
    assert_eq!(fact(&page, "Cursor"), cursor, "the snapshot's cursor");
    assert_eq!(fact(&page, "Digest (SHA-256)"), replica_digest(&replica));
    assert!(
        fact(&page, "As of").contains("being brought up to date"),
        "{page}"
    );
    let changes = api(
        &app,
        &format!("/v1/channels/fr-web/changes?since={cursor}&format=json"),
        &token,
    )
    .await;
    let list = changes["changes"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{changes}");
    assert_eq!(list[0]["sku"], "DRL-00003");
    replica.insert(
        "DRL-00003".into(),
        list[0]["hash"].as_str().unwrap().to_string(),
    );
    // The API walks when its snapshot is behind: the new state.
    let digest = api(&app, "/v1/channels/fr-web/digest", &token).await;
    assert_eq!(digest["digest"].as_str().unwrap(), replica_digest(&replica));
    assert_eq!(digest["cursor"], changes["next"]);

    // Refreshed: the page shows the new state at the new cursor.
    refresh(&app, id).await;
    let page = portal.page(&app, "/portal/channels").await;
    assert_eq!(fact(&page, "Cursor"), changes["next"].as_str().unwrap());
    assert_eq!(fact(&page, "Digest (SHA-256)"), replica_digest(&replica));
    assert!(fact(&page, "As of").contains("the latest"), "{page}");
    app.stop().await;
}

#[actix_web::test]
async fn a_channel_snapshot_is_computed_by_one_owner_at_a_time() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    setup(&app, "fr-web", &fr_resellers(), "acme-fr").await;
    assert_eq!(app.put_product(&drill("DRL-1")).await.status(), 201);
    app.settle().await;
    let id = channel_id(&app, "fr-web");
    let now = app.clock.now();
    let at = now.naive_utc();
    let lease = std::time::Duration::from_secs(60);
    let until = at + chrono::Duration::seconds(60);
    let mut conn = app.db.write_conn().unwrap();
    assert!(stored::claim(&mut conn, id, "a", at, until).unwrap());
    assert!(
        !stored::claim(&mut conn, id, "b", at, until).unwrap(),
        "a holds it"
    );
    drop(conn);
    // b's computation does not run while a's lease holds.
    assert!(!job::refresh(&app.db, id, "b", now, lease).unwrap());
    let mut conn = app.db.write_conn().unwrap();
    assert!(
        stored::get(&mut conn, id).unwrap().is_none(),
        "nothing stored"
    );
    // A lease that expired is taken over.
    let later = until + chrono::Duration::seconds(1);
    assert!(stored::claim(
        &mut conn,
        id,
        "b",
        later,
        later + chrono::Duration::seconds(60)
    )
    .unwrap());
    // a's late result is not stored over b's lease.
    let late = stored::Computed {
        seq: 0,
        definition_hash: "",
        live: 0,
        digest: "",
        readiness: "{}",
        computed_at: at,
        took_ms: 0,
    };
    assert!(!stored::store(&mut conn, id, "a", &late).unwrap());
    stored::release(&mut conn, id, "b").unwrap();
    drop(conn);
    assert!(job::refresh(&app.db, id, "a", now, lease).unwrap());
    let mut conn = app.db.read_conn().unwrap();
    let s = stored::get(&mut conn, id).unwrap().unwrap();
    let channel = store::channels::get(&mut conn, "fr-web").unwrap().unwrap();
    assert_eq!((s.seq, s.live), (channel.last_seq, 1));
    assert_eq!(s.claimed_by, None);
    drop(conn);
    app.stop().await;
}

#[actix_web::test]
async fn the_catalog_size_is_kept_by_the_edit_path() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let size = |app: &TestApp| {
        let mut conn = app.db.write_conn().unwrap();
        let kept = stored::catalog_size(&mut conn).unwrap();
        assert_eq!(kept, store::products::count(&mut conn).unwrap());
        kept
    };
    fill(&app, 30).await;
    assert_eq!(size(&app), 30);
    // An update and an unchanged write count nothing; a delete counts down.
    let mut edited = drill("DRL-00001");
    edited["brand"] = json!("Other");
    assert_eq!(app.put_product(&edited).await.status(), 200);
    assert_eq!(app.put_product(&edited).await.status(), 200);
    assert_eq!(app.delete("/v1/products/DRL-00002").await.status(), 204);
    assert_eq!(size(&app), 29);
    // Folding the kept differences keeps the sum.
    let mut conn = app.db.write_conn().unwrap();
    stored::fold_catalog_size(&mut conn).unwrap();
    drop(conn);
    assert_eq!(size(&app), 29);
    fill(&app, 40).await;
    assert_eq!(size(&app), 40);
    let admin = Reader::sign_in(&app, &app.admin_token).await;
    let page = admin.page(&app, "/console").await;
    assert!(page.contains("40 products"), "{page}");
    app.stop().await;
}
