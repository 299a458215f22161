use std::collections::BTreeMap;

use reqwest::header;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{drill, Options, TestApp};

/// The channel of PRODUCT.md.
pub fn fr_resellers() -> Value {
    json!({"name": "French reseller network", "locale": "fr", "currency": "EUR",
           "price_list": "reseller", "price_adjustment_percent": "-5", "units": "metric",
           "assortment": {"statuses": ["active"], "categories": ["tools/"], "brands": [],
                          "include_skus": [], "exclude_skus": []},
           "fields": ["gtin", "title", "brand", "category", "price", "dimensions", "weight", "packaging"]})
}

/// Creates a channel and a reseller with access to it; returns the reseller's token.
pub async fn setup(app: &TestApp, channel: &str, definition: &Value, reseller: &str) -> String {
    let r = app
        .put_json(
            &format!("/v1/channels/{channel}"),
            &app.admin_token,
            definition,
        )
        .send()
        .await
        .unwrap();
    assert!(
        r.status() == 201 || r.status() == 200,
        "{}",
        r.text().await.unwrap()
    );
    let r = app
        .put_json(&format!("/v1/resellers/{reseller}"), &app.admin_token,
                  &json!({"name": reseller, "email": format!("it@{reseller}.example"), "channels": [channel]}))
        .send().await.unwrap();
    assert!(
        r.status() == 201 || r.status() == 200,
        "{}",
        r.text().await.unwrap()
    );
    let r = app
        .post_json(
            &format!("/v1/resellers/{reseller}/tokens"),
            &app.admin_token,
            &json!({"name": "sync"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["role"], "reseller");
    body["token"].as_str().unwrap().to_string()
}

/// RFC 8785 written independently of the crate under test, for the value shapes records use
/// (strings, integers, booleans, arrays, objects): keys sorted by UTF-16 code units.
pub fn jcs(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", jcs(&json!(k)), jcs(&map[*k])))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(jcs).collect::<Vec<_>>().join(",")),
        Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            // ECMAScript's Number-to-String equals Rust's shortest round-trip `Display` for
            // magnitudes in [1e-6, 1e21), the range test records use.
            (None, Some(f)) if f == 0.0 || (1e-6..1e21).contains(&f.abs()) => format!("{f}"),
            _ => panic!("number outside the range this test canonicalises: {n}"),
        },
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
    }
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A reseller's copy of a channel: SKU -> (hash, record), kept by list-then-watch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replica {
    pub records: BTreeMap<String, (String, Value)>,
    pub cursor: String,
}

impl Replica {
    /// Takes the full feed, checking every hash.
    pub async fn from_feed(app: &TestApp, token: &str, channel: &str) -> Replica {
        let response = app
            .get(&format!("/v1/channels/{channel}/feed"), token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let header_cursor = response.headers()["feed-cursor"]
            .to_str()
            .unwrap()
            .to_string();
        let feed: Value = response.json().await.unwrap();
        assert_eq!(feed["cursor"], header_cursor.as_str());
        let mut replica = Replica {
            cursor: header_cursor,
            ..Default::default()
        };
        for p in feed["products"].as_array().unwrap() {
            let hash = p["hash"].as_str().unwrap();
            assert_eq!(sha256_hex(&jcs(&p["record"])), hash, "hash of {}", p["sku"]);
            replica.records.insert(
                p["sku"].as_str().unwrap().into(),
                (hash.into(), p["record"].clone()),
            );
        }
        replica
    }

    /// Follows `next` until `has_more` is false, applying each change.
    pub async fn follow(
        &mut self,
        app: &TestApp,
        token: &str,
        channel: &str,
        limit: usize,
    ) -> usize {
        let mut applied = 0;
        loop {
            let url = format!(
                "/v1/channels/{channel}/changes?since={}&limit={limit}",
                self.cursor
            );
            let response = app.get(&url, token).send().await.unwrap();
            assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
            let page: Value = response.json().await.unwrap();
            let mut seen = std::collections::HashSet::new();
            for change in page["changes"].as_array().unwrap() {
                let sku = change["sku"].as_str().unwrap().to_string();
                assert!(seen.insert(sku.clone()), "{sku} twice in one page");
                match change["op"].as_str().unwrap() {
                    "upsert" => {
                        let hash = change["hash"].as_str().unwrap();
                        assert_eq!(sha256_hex(&jcs(&change["record"])), hash);
                        self.records
                            .insert(sku, (hash.into(), change["record"].clone()));
                    }
                    "delete" => {
                        self.records.remove(&sku);
                    }
                    op => panic!("unknown op {op}"),
                }
                applied += 1;
            }
            self.cursor = page["next"].as_str().unwrap().to_string();
            if !page["has_more"].as_bool().unwrap() {
                return applied;
            }
        }
    }

    /// The channel digest computed over this replica.
    pub fn digest(&self) -> String {
        let mut lines = String::new();
        for (sku, (hash, _)) in &self.records {
            lines.push_str(&format!("{sku}\t{hash}\n"));
        }
        sha256_hex(&lines)
    }
}

#[actix_web::test]
async fn a_reseller_pulls_its_feed_and_follows_changes_to_the_same_state() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "fr-resellers", &fr_resellers(), "shop-42").await;
    app.put_product(&drill("DRL-1001")).await;
    let mut garden = drill("GRD-1");
    garden["category"] = json!("garden/pumps");
    app.put_product(&garden).await;
    app.drain().await;

    let mut replica = Replica::from_feed(&app, &token, "fr-resellers").await;
    assert_eq!(replica.records.len(), 1, "garden/pumps is outside tools/");
    let record = &replica.records["DRL-1001"].1;
    assert_eq!(
        record["price"],
        json!({"amount": "79.80", "currency": "EUR", "min_qty": 1})
    );
    assert_eq!(record["title"], "Perceuse 18 V");
    assert_eq!(record["gtin"], "03700123456780");
    assert!(record.get("description").is_none() && record.get("attributes").is_none());

    // A carried field changes: one upsert.
    app.put_json(
        "/v1/products/DRL-2002",
        &app.admin_token,
        &drill("DRL-2002"),
    )
    .send()
    .await
    .unwrap();
    let mut patch = drill("DRL-1001");
    patch["brand"] = json!("Boreal");
    app.put_product(&patch).await;
    app.delete("/v1/products/GRD-1").await;
    app.drain().await;
    assert_eq!(replica.follow(&app, &token, "fr-resellers", 1).await, 2);
    assert_eq!(replica.records["DRL-1001"].1["brand"], "Boreal");

    // A field the channel does not carry: nothing for it.
    let before = replica.cursor.clone();
    let r = app
        .client
        .patch(app.url("/v1/products/DRL-1001"))
        .bearer_auth(&app.admin_token)
        .header(header::CONTENT_TYPE, "application/merge-patch+json")
        .body(r#"{"description": {"fr": "Nouvelle description"}, "attributes": {"voltage": 20}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.drain().await;
    assert_eq!(replica.follow(&app, &token, "fr-resellers", 100).await, 0);
    assert_eq!(replica.cursor, before);

    // Deletion is a tombstone.
    app.delete("/v1/products/DRL-2002").await;
    app.drain().await;
    assert_eq!(replica.follow(&app, &token, "fr-resellers", 100).await, 1);
    assert!(!replica.records.contains_key("DRL-2002"));

    let digest: Value = app
        .get("/v1/channels/fr-resellers/digest", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(digest["digest"], replica.digest().as_str());
    assert_eq!(digest["count"], replica.records.len());
    assert_eq!(digest["cursor"], replica.cursor.as_str());
    assert_eq!(
        Replica::from_feed(&app, &token, "fr-resellers")
            .await
            .records,
        replica.records
    );
    app.stop().await;
}

#[actix_web::test]
async fn an_edit_reaches_changes_without_driving_the_generator() {
    let app = TestApp::spawn().await;
    let token = setup(&app, "fr-resellers", &fr_resellers(), "shop-42").await;
    let cursor = Replica::from_feed(&app, &token, "fr-resellers")
        .await
        .cursor;
    app.put_product(&drill("DRL-9")).await;
    // The background generator wakes on commit; poll for it (bounded, no timing assertion).
    for _ in 0..100 {
        let page: Value = app
            .get(
                &format!("/v1/channels/fr-resellers/changes?since={cursor}"),
                &token,
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["changes"].as_array().unwrap().len() == 1 {
            assert_eq!(page["changes"][0]["sku"], "DRL-9");
            app.stop().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the edit never reached the channel's changes");
}

#[actix_web::test]
async fn another_resellers_channel_answers_404_like_a_missing_one() {
    let app = TestApp::spawn().await;
    let shop = setup(&app, "fr-resellers", &fr_resellers(), "shop-42").await;
    let other = setup(
        &app,
        "eu-marketplace",
        &json!({"name": "EU", "locale": "en", "currency": "EUR",
        "price_list": "retail", "units": "metric"}),
        "market-one",
    )
    .await;
    for path in ["", "/feed", "/changes", "/digest"] {
        let theirs = app
            .get(&format!("/v1/channels/eu-marketplace{path}"), &shop)
            .send()
            .await
            .unwrap();
        let missing = app
            .get(&format!("/v1/channels/no-such{path}"), &shop)
            .send()
            .await
            .unwrap();
        assert_eq!(theirs.status(), 404, "{path}");
        assert_eq!(missing.status(), 404);
        assert_eq!(theirs.text().await.unwrap(), missing.text().await.unwrap());
        assert_eq!(
            app.get(&format!("/v1/channels/eu-marketplace{path}"), &other)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let list: Value = app
        .get("/v1/channels", &shop)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = list["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["fr-resellers"]);
    // Resellers cannot edit.
    assert_eq!(app.put_product(&drill("X")).await.status(), 201);
    let r = app
        .put_json("/v1/products/X", &shop, &drill("X"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .put_json("/v1/channels/fr-resellers", &shop, &fr_resellers())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    app.stop().await;
}

#[actix_web::test]
async fn bad_and_expired_cursors_are_told_what_to_do() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "fr-resellers", &fr_resellers(), "shop-42").await;
    app.drain().await;
    let garbage = app
        .get(
            "/v1/channels/fr-resellers/changes?since=not-a-cursor",
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    assert_eq!(
        garbage.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let cursor = Replica::from_feed(&app, &token, "fr-resellers")
        .await
        .cursor;
    let mut tampered = cursor.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let r = app
        .get(
            &format!(
                "/v1/channels/fr-resellers/changes?since={}",
                String::from_utf8(tampered).unwrap()
            ),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The channel deleted and created again: old cursors are gone. (The new channel starts
    // with no grants: the reseller is granted it again.)
    app.delete("/v1/channels/fr-resellers").await;
    app.put_json(
        "/v1/channels/fr-resellers",
        &app.admin_token,
        &fr_resellers(),
    )
    .send()
    .await
    .unwrap();
    let r = app
        .put_json(
            "/v1/resellers/shop-42",
            &app.admin_token,
            &json!({"name": "shop-42", "email": "it@shop-42.example", "channels": ["fr-resellers"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.drain().await;
    let r = app
        .get(
            &format!("/v1/channels/fr-resellers/changes?since={cursor}"),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    let problem: Value = r.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("full feed"));
    app.stop().await;
}

#[actix_web::test]
async fn a_cursor_older_than_the_kept_tombstones_gets_410() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "fr-resellers", &fr_resellers(), "shop-42").await;
    app.put_product(&drill("DRL-1")).await;
    app.put_product(&drill("DRL-2")).await;
    app.drain().await;
    let old = Replica::from_feed(&app, &token, "fr-resellers").await;
    app.delete("/v1/products/DRL-1").await;
    app.drain().await;
    let recent = Replica::from_feed(&app, &token, "fr-resellers").await;
    // 31 days later the tombstone is purged.
    app.clock
        .set(crate::helpers::start_time() + chrono::Duration::days(31));
    app.drain().await;
    let r = app
        .get(
            &format!("/v1/channels/fr-resellers/changes?since={}", old.cursor),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    let r = app
        .get(
            &format!("/v1/channels/fr-resellers/changes?since={}", recent.cursor),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[actix_web::test]
async fn a_price_window_opening_is_a_change_with_no_edit() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "fr-resellers", &fr_resellers(), "shop-42").await;
    let mut product = drill("DRL-5");
    product["prices"][1]["valid_to"] = json!("2026-07-01T00:00:00Z");
    product["prices"][2]["min_qty"] = json!(1);
    product["prices"][2]["valid_from"] = json!("2026-07-01T00:00:00Z");
    app.put_product(&product).await;
    app.drain().await;
    let mut replica = Replica::from_feed(&app, &token, "fr-resellers").await;
    assert_eq!(replica.records["DRL-5"].1["price"]["amount"], "79.80");
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-07-01T00:00:01Z")
            .unwrap()
            .into(),
    );
    app.drain().await;
    assert_eq!(replica.follow(&app, &token, "fr-resellers", 100).await, 1);
    // 79.00 - 5 % = 75.05
    assert_eq!(replica.records["DRL-5"].1["price"]["amount"], "75.05");
    app.stop().await;
}

#[actix_web::test]
async fn a_channel_redefinition_emits_only_real_differences() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "fr-resellers", &fr_resellers(), "shop-42").await;
    for sku in ["DRL-1", "DRL-2", "DRL-3"] {
        app.put_product(&drill(sku)).await;
    }
    let mut other = drill("DRL-4");
    other["brand"] = json!("Boreal");
    app.put_product(&other).await;
    app.drain().await;
    let mut replica = Replica::from_feed(&app, &token, "fr-resellers").await;
    assert_eq!(replica.records.len(), 4);
    // Same definition written again: nothing.
    app.put_json(
        "/v1/channels/fr-resellers",
        &app.admin_token,
        &fr_resellers(),
    )
    .send()
    .await
    .unwrap();
    app.drain().await;
    assert_eq!(replica.follow(&app, &token, "fr-resellers", 100).await, 0);
    // Restrict to Acme: only DRL-4 leaves.
    let mut narrower = fr_resellers();
    narrower["assortment"]["brands"] = json!(["Acme"]);
    app.put_json("/v1/channels/fr-resellers", &app.admin_token, &narrower)
        .send()
        .await
        .unwrap();
    app.drain().await;
    assert_eq!(replica.follow(&app, &token, "fr-resellers", 100).await, 1);
    assert_eq!(
        replica.records.keys().collect::<Vec<_>>(),
        ["DRL-1", "DRL-2", "DRL-3"]
    );
    app.stop().await;
}

/// A bulk change that arrives while a channel is being re-evaluated: the products the
/// re-evaluation has passed are published from the change, the others by the re-evaluation when
/// it reaches them (once, not also from the change); either way every record ends with the new
/// definition and the change, and a follower holds what the feed holds.
#[actix_web::test]
async fn a_bulk_change_during_a_re_evaluation_reaches_every_product_with_the_new_definition() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "fr-resellers", &fr_resellers(), "shop-42").await;
    crate::snapshots::fill(&app, 1_200).await;
    app.drain().await;
    let mut replica = Replica::default();
    replica.follow(&app, &token, "fr-resellers", 1_000).await;
    let before = replica.clone();
    assert_eq!(before.records.len(), 1_200);

    let mut redefined = fr_resellers();
    redefined["price_adjustment_percent"] = json!("-10");
    let r = app
        .put_json("/v1/channels/fr-resellers", &app.admin_token, &redefined)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // One step: the re-evaluation's first page, part of the catalog.
    let (db, now) = (app.db.clone(), partnerfeed::clock::Clock::now(&*app.clock));
    actix_web::rt::task::spawn_blocking(move || partnerfeed::jobs::delta::run_once(&db, now))
        .await
        .unwrap()
        .unwrap();
    let after: String = {
        let mut conn = app.db.read_conn().unwrap();
        let channel = partnerfeed::store::channels::get(&mut conn, "fr-resellers")
            .unwrap()
            .unwrap();
        channel.reeval_after.expect("still being re-evaluated")
    };
    assert!(
        after.as_str() > "DRL-00000" && after.as_str() < "DRL-01199",
        "{after}"
    );

    // Every product retitled in one batch (the bulk lane).
    crate::snapshots::fill_with(&app, 1_200, |i, p| {
        p["title"] = json!({"fr": format!("Perceuse {i}"), "en": format!("Drill {i}")});
    })
    .await;
    app.drain().await;

    replica.follow(&app, &token, "fr-resellers", 1_000).await;
    assert_eq!(
        replica,
        Replica::from_feed(&app, &token, "fr-resellers").await
    );
    assert_eq!(replica.records.len(), 1_200);
    for (sku, (_, record)) in &replica.records {
        let i: usize = sku["DRL-".len()..].parse().unwrap();
        assert_eq!(record["title"], format!("Perceuse {i}"), "{sku}");
        assert_ne!(record["price"], before.records[sku].1["price"], "{sku}");
    }
    app.stop().await;
}

#[actix_web::test]
async fn a_repeated_feed_is_the_kept_rendering_until_the_channel_changes() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "fr-resellers", &fr_resellers(), "shop-42").await;
    app.put_product(&drill("DRL-1")).await;
    app.put_product(&drill("DRL-2")).await;
    app.drain().await;
    let fetch = |gzip: bool| {
        let mut request = app.get("/v1/channels/fr-resellers/feed?format=csv", &token);
        if gzip {
            request = request.header(header::ACCEPT_ENCODING, "gzip");
        }
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 200);
            let length = r.headers().get(header::CONTENT_LENGTH).cloned();
            let encoding = r.headers().get(header::CONTENT_ENCODING).cloned();
            let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
            let cursor = r.headers()["feed-cursor"].to_str().unwrap().to_string();
            let body = r.bytes().await.unwrap().to_vec();
            (length, encoding, etag, cursor, body)
        }
    };
    let gunzip = |bytes: &[u8]| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(bytes), &mut text).unwrap();
        text
    };

    // The first download renders (chunked); the second is the kept file, byte for byte.
    let (length, _, etag, cursor, first) = fetch(false).await;
    assert!(length.is_none(), "a fresh rendering is streamed");
    let (length, _, etag2, cursor2, second) = fetch(false).await;
    assert_eq!(second, first);
    assert_eq!((etag2, cursor2), (etag.clone(), cursor.clone()));
    assert_eq!(length.unwrap().to_str().unwrap(), first.len().to_string());

    // gzip is kept apart, and decodes to the same feed.
    for _ in 0..2 {
        let (_, encoding, etag3, _, zipped) = fetch(true).await;
        assert_eq!(encoding.unwrap(), "gzip");
        assert_eq!(etag3, etag);
        assert_eq!(gunzip(&zipped).as_bytes(), first.as_slice());
    }

    // An edit moves the cursor: the next download is a new rendering with the edit in it.
    let mut edited = drill("DRL-2");
    edited["title"] = json!({"fr": "Perceuse refaite"});
    app.put_product(&edited).await;
    app.drain().await;
    for gzip in [false, true] {
        let (_, _, etag4, cursor4, body) = fetch(gzip).await;
        let text = if gzip {
            gunzip(&body)
        } else {
            String::from_utf8(body).unwrap()
        };
        assert_ne!(etag4, etag);
        assert_ne!(cursor4, cursor);
        assert!(text.contains("Perceuse refaite"), "{text}");
        assert!(!String::from_utf8_lossy(&first).contains("Perceuse refaite"));
    }
    app.stop().await;
}

#[actix_web::test]
async fn feeds_come_in_every_format_with_etag_and_gzip() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "fr-resellers", &fr_resellers(), "shop-42").await;
    app.put_product(&drill("DRL-1")).await;
    let mut hostile = drill("DRL-2");
    hostile["title"] = json!({"fr": "=HYPERLINK(\"http://x\") <b>&\"'"});
    app.put_product(&hostile).await;
    app.drain().await;
    let dir = tempfile::tempdir().unwrap();
    for (format, content_type) in [
        ("json", "application/json"),
        ("ndjson", "application/x-ndjson"),
        ("csv", "text/csv"),
        ("xml", "application/xml"),
    ] {
        let r = app
            .get(
                &format!("/v1/channels/fr-resellers/feed?format={format}"),
                &token,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with(content_type));
        assert!(r.headers().contains_key("feed-cursor"));
        let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
        let body = r.text().await.unwrap();
        assert!(body.contains("DRL-2"), "{format}: {body}");
        match format {
            "ndjson" => assert_eq!(body.lines().count(), 2),
            "csv" => {
                assert!(body.starts_with("sku,hash,"));
                assert!(body.contains("'=HYPERLINK"), "formula made inert: {body}");
            }
            "xml" => {
                let path = dir.path().join("feed.xml");
                std::fs::write(&path, &body).unwrap();
                crate::helpers::validate_xml(&path, "feeds/partnerfeed-feed.xsd");
            }
            _ => {}
        }
        let cached = app
            .get(
                &format!("/v1/channels/fr-resellers/feed?format={format}"),
                &token,
            )
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(cached.status(), 304);
    }
    let gz = app
        .get("/v1/channels/fr-resellers/feed", &token)
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
    let r = app
        .get("/v1/channels/fr-resellers/changes?format=xml", &token)
        .send()
        .await
        .unwrap();
    let path = dir.path().join("changes.xml");
    std::fs::write(&path, r.text().await.unwrap()).unwrap();
    crate::helpers::validate_xml(&path, "feeds/partnerfeed-feed.xsd");
    let r = app
        .get("/v1/channels/fr-resellers/feed?format=yaml", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    app.stop().await;
}

/// A feed longer than one page of the store (1,000 records) is read a page ahead of its
/// rendering: every record comes once, in SKU order, and equals what the change pages and the
/// digest hold.
#[actix_web::test]
async fn a_feed_of_several_pages_is_whole_in_order_and_agrees_with_the_changes() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "fr-resellers", &fr_resellers(), "shop-42").await;
    const PRODUCTS: usize = 2_345;
    let mut lines = String::new();
    for i in 0..PRODUCTS {
        let mut p = drill(&format!("MULTI-{i:05}"));
        p.as_object_mut().unwrap().remove("gtin");
        p["packaging"] = json!([{"level": "each", "quantity": 1, "type": "box"}]);
        p["prices"][1]["amount"] = json!(format!("{}.00", 10 + i % 90));
        lines.push_str(&p.to_string());
        lines.push('\n');
    }
    let r = app.batch("application/x-ndjson", lines).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    app.drain().await;

    let feed = app.get_json("/v1/channels/fr-resellers/feed", &token).await;
    let skus: Vec<&str> = feed["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus.len(), PRODUCTS);
    assert!(
        skus.windows(2).all(|w| w[0] < w[1]),
        "the feed is in strictly increasing SKU order, each SKU once"
    );

    let from_feed = Replica::from_feed(&app, &token, "fr-resellers").await;
    let mut followed = Replica::default();
    followed.follow(&app, &token, "fr-resellers", 1_000).await;
    assert_eq!(followed.records, from_feed.records);
    assert_eq!(followed.cursor, from_feed.cursor);
    let digest = app
        .get_json("/v1/channels/fr-resellers/digest", &token)
        .await;
    assert_eq!(digest["count"], PRODUCTS);
    assert_eq!(digest["digest"], from_feed.digest().as_str());

    let csv = app
        .get_text("/v1/channels/fr-resellers/feed?format=csv", &token)
        .await;
    assert_eq!(
        csv.lines().count(),
        PRODUCTS + 1,
        "a header and a line each"
    );
    app.stop().await;
}

/// A re-evaluation page large enough to be projected on threads beside the writer (channels
/// created together over an existing catalog, 1,500 pairs) writes each channel's own
/// projections: every record carries its channel's fields and its channel's price, whichever
/// thread projected it.
#[actix_web::test]
async fn a_large_step_writes_each_channel_its_own_projections() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    const CHANNELS: usize = 5;
    const PRODUCTS: usize = 300;
    const EXTRA: [&str; CHANNELS - 1] = ["title", "brand", "category", "dimensions"];
    // The drill's reseller price, 84.00, less 0 %, 10 %, ... 40 %.
    const PRICES: [&str; CHANNELS] = ["84.00", "75.60", "67.20", "58.80", "50.40"];
    let mut lines = String::new();
    for i in 0..PRODUCTS {
        lines.push_str(&drill(&format!("SPLIT-{i:04}")).to_string());
        lines.push('\n');
    }
    let r = app.batch("application/x-ndjson", lines).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    app.drain().await;
    let mut tokens = Vec::new();
    for k in 0..CHANNELS {
        let mut def = fr_resellers();
        def["price_adjustment_percent"] = json!(format!("-{}", k * 10));
        let mut fields = vec!["price"];
        fields.extend(&EXTRA[..k]);
        def["fields"] = json!(fields);
        tokens.push(
            setup(
                &app,
                &format!("split-{k}"),
                &def,
                &format!("shop-split-{k}"),
            )
            .await,
        );
    }
    // The five channels are re-evaluated together: each page is projected for all of them.
    app.drain().await;

    for (k, token) in tokens.iter().enumerate() {
        let channel = format!("split-{k}");
        let replica = Replica::from_feed(&app, token, &channel).await;
        assert_eq!(replica.records.len(), PRODUCTS, "{channel}");
        for (sku, (_, record)) in &replica.records {
            assert_eq!(record["price"]["amount"], PRICES[k], "{channel} {sku}");
            for (i, field) in EXTRA.iter().enumerate() {
                assert_eq!(
                    record.get(*field).is_some(),
                    i < k,
                    "{channel} {sku}: {field}"
                );
            }
        }
    }
    app.stop().await;
}
