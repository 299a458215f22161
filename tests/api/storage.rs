//! Stored state: a channel's records are kept compressed against a dictionary trained on the
//! deployment's own catalog, and every way out reads them back exactly; a stored record that
//! does not decompress fails the read instead of being served.

use diesel::prelude::*;
use serde_json::json;

use crate::channels::{fr_resellers, jcs, setup, Replica};
use crate::helpers::{Options, TestApp};
use crate::snapshots::fill;
use partnerfeed::store::schema::{channel_records, record_dictionaries};

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The live rows as stored: SKU and the record's bytes.
fn stored(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    let mut conn = app.db.read_conn().unwrap();
    channel_records::table
        .filter(channel_records::hash.is_not_null())
        .order(channel_records::sku)
        .select((
            channel_records::sku,
            channel_records::record.assume_not_null(),
        ))
        .load(&mut *conn)
        .unwrap()
}

fn dictionaries(app: &TestApp) -> i64 {
    let mut conn = app.db.read_conn().unwrap();
    record_dictionaries::table
        .count()
        .get_result(&mut *conn)
        .unwrap()
}

async fn started(products: usize) -> (TestApp, String) {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "fr-resellers", &fr_resellers(), "acme-fr").await;
    fill(&app, products).await;
    app.drain().await;
    (app, token)
}

#[actix_web::test]
async fn records_are_stored_compressed_and_read_back_exactly() {
    // Too few products to train a dictionary on: the records are stored as JSON.
    let (app, token) = started(600).await;
    assert_eq!(dictionaries(&app), 0);
    assert!(stored(&app).iter().all(|(_, b)| b[0] == b'{'));
    // The catalog grows: a dictionary is trained (on products over the whole catalog), and the
    // records written from then on are frames.
    fill(&app, 1_500).await;
    app.drain().await;
    let rows = stored(&app);
    assert_eq!(rows.len(), 1_500);
    assert_eq!(dictionaries(&app), 1, "one dictionary was trained");
    // Records written before there were enough to train on stay JSON; the rest are frames.
    let (json_rows, frames): (Vec<_>, Vec<_>) = rows.iter().partition(|(_, b)| b[0] == b'{');
    assert!(
        frames.len() >= 400 && frames.iter().all(|(_, b)| b[..4] == ZSTD_MAGIC),
        "{} of {} records compressed",
        frames.len(),
        rows.len()
    );

    // Every record reads back as published: the feed's hashes are checked independently.
    let feed = Replica::from_feed(&app, &token, "fr-resellers").await;
    assert_eq!(feed.records.len(), rows.len());
    let served: usize = frames
        .iter()
        .map(|(sku, _)| jcs(&feed.records[sku].1).len())
        .sum();
    let kept: usize = frames.iter().map(|(_, b)| b.len()).sum();
    assert!(
        kept * 3 < served,
        "compressed records take {kept} bytes for {served} bytes of JSON"
    );
    let mut followed = Replica::default();
    followed.follow(&app, &token, "fr-resellers", 500).await;
    assert_eq!(followed.records, feed.records);

    // Records stored either way change, and are read back changed.
    let first = &json_rows.first().expect("a record stored as JSON").0;
    let last = &frames.last().unwrap().0;
    for sku in [first, last] {
        let mut p = crate::helpers::drill(sku);
        p["title"] = json!({"en": "Renamed drill", "fr": "Perceuse renommée"});
        let r = app.put_product(&p).await;
        assert!(r.status().is_success(), "{}", r.status());
    }
    app.drain().await;
    assert_eq!(followed.follow(&app, &token, "fr-resellers", 500).await, 2);
    for sku in [first, last] {
        assert_eq!(
            followed.records[sku].1["title"], "Perceuse renommée",
            "{sku}"
        );
    }
    let after = stored(&app);
    let bytes = |sku: &str| &after.iter().find(|(s, _)| s == sku).unwrap().1;
    assert_eq!(
        bytes(first)[..4],
        ZSTD_MAGIC,
        "a changed record is compressed"
    );
    assert_eq!(
        Replica::from_feed(&app, &token, "fr-resellers").await,
        followed
    );
}

/// A channel that publishes none of the catalog gives too few records to train a dictionary
/// on; a channel created after it still gets one, and its records are compressed.
#[actix_web::test]
async fn a_channel_that_publishes_nothing_does_not_keep_another_from_compressing() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let mut nothing = fr_resellers();
    nothing["assortment"]["brands"] = json!(["Nobody"]);
    setup(&app, "nothing", &nothing, "acme-none").await;
    fill(&app, 1_500).await;
    app.drain().await;
    assert_eq!(dictionaries(&app), 0);
    assert!(stored(&app).is_empty());

    let token = setup(&app, "fr-resellers", &fr_resellers(), "acme-fr").await;
    app.drain().await;
    assert_eq!(dictionaries(&app), 1);
    let rows = stored(&app);
    assert_eq!(rows.len(), 1_500);
    assert!(rows.iter().all(|(_, b)| b[..4] == ZSTD_MAGIC));
    let feed = Replica::from_feed(&app, &token, "fr-resellers").await;
    assert_eq!(feed.records.len(), 1_500);
}

#[actix_web::test]
async fn a_stored_record_that_does_not_decompress_fails_the_read() {
    let (app, token) = started(1_200).await;
    let (sku, bytes) = stored(&app)
        .into_iter()
        .rfind(|(_, b)| b[..4] == ZSTD_MAGIC)
        .expect("a compressed record");
    let mut broken = bytes.clone();
    let middle = broken.len() / 2;
    broken.truncate(middle);
    {
        let mut conn = app.db.write_conn().unwrap();
        diesel::update(channel_records::table.filter(channel_records::sku.eq(&sku)))
            .set(channel_records::record.eq(&broken))
            .execute(&mut *conn)
            .unwrap();
    }
    reads_fail(&app, &token).await;
}

/// A stored hash that is not 32 bytes fails the read too, on the feed's path (a page of live
/// records) and on the changes' path, instead of being served as a shorter hash.
#[actix_web::test]
async fn a_stored_hash_of_the_wrong_length_fails_the_read() {
    let (app, token) = started(1_200).await;
    let sku = stored(&app).pop().expect("a record").0;
    {
        let mut conn = app.db.write_conn().unwrap();
        diesel::update(channel_records::table.filter(channel_records::sku.eq(&sku)))
            .set(channel_records::hash.eq(Some(vec![7u8; 31])))
            .execute(&mut *conn)
            .unwrap();
    }
    reads_fail(&app, &token).await;
}

/// The channel's full feed is not served whole, and its changes, followed page by page, fail
/// at the page that holds the broken row.
async fn reads_fail(app: &TestApp, token: &str) {
    let r = app
        .get("/v1/channels/fr-resellers/feed", token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await;
    assert!(
        status.is_server_error() || body.is_err(),
        "a feed with a broken record was served whole: {status}"
    );
    // Followed page by page, the changes fail at the page that holds it.
    let mut cursor = String::new();
    loop {
        let r = app
            .get(
                &format!("/v1/channels/fr-resellers/changes?since={cursor}&limit=500"),
                token,
            )
            .send()
            .await
            .unwrap();
        let status = r.status();
        let Ok(body) = r.text().await else { break };
        if status.is_server_error() {
            break;
        }
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            page["has_more"] == true,
            "the changes were served whole with a broken record"
        );
        cursor = page["next"].as_str().unwrap().to_string();
    }
}
