//! A model-based test of the hashed deltas: seeded random sequences of catalog edits, channel
//! redefinitions and clock moves, with replicas that start at random cursors (and one from the
//! very beginning) and follow the changes with random page sizes. Whatever the history, every
//! replica ends equal to the full feed, with the server's digest.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::header;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};

use crate::channels::{jcs, setup, sha256_hex, Replica};
use crate::helpers::{drill, start_time, Options, TestApp};

const SKUS: [&str; 14] = [
    "M-00", "M-01", "M-02", "M-03", "M-04", "M-05", "M-06", "M-07", "M-08", "M-09", "M-10", "M-11",
    "M-12", "M-13",
];
const BRANDS: [&str; 3] = ["Acme", "Boreal", "Cobalt"];
const CATEGORIES: [&str; 4] = ["tools/drills", "tools/saws", "garden/pumps", "garden/hoses"];
const STATUSES: [&str; 2] = ["active", "draft"];
const AMOUNTS: [&str; 5] = ["84.00", "79.99", "12.35", "100", "0.05"];
const ADJUSTMENTS: [Option<&str>; 4] = [None, Some("-5"), Some("12.5"), Some("0")];
const FIELDS: [&str; 12] = [
    "gtin",
    "status",
    "brand",
    "category",
    "title",
    "description",
    "attributes",
    "media",
    "price",
    "dimensions",
    "weight",
    "packaging",
];
/// Page sizes a follower picks from, page by page.
const LIMITS: [usize; 6] = [1, 1, 2, 3, 7, 1000];

impl Replica {
    /// An empty replica that follows the channel from its very beginning (`changes` without
    /// `since`).
    pub fn from_start() -> Replica {
        Replica::default()
    }
}

/// What one follow received, in order.
pub struct Followed {
    pub skus: Vec<String>,
}

/// Follows `next` until `has_more` is false, with a page size drawn for each page; checks each
/// page (hashes, no SKU twice in a page, `since` echoed) and applies it.
pub async fn follow_random(
    replica: &mut Replica,
    app: &TestApp,
    token: &str,
    channel: &str,
    rng: &mut StdRng,
) -> Followed {
    let mut skus = Vec::new();
    for _ in 0..100_000 {
        let limit = *LIMITS.choose(rng).unwrap();
        let url = if replica.cursor.is_empty() {
            format!("/v1/channels/{channel}/changes?limit={limit}")
        } else {
            format!(
                "/v1/channels/{channel}/changes?since={}&limit={limit}",
                replica.cursor
            )
        };
        let response = app.get(&url, token).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let page: Value = response.json().await.unwrap();
        if !replica.cursor.is_empty() {
            assert_eq!(page["since"], replica.cursor.as_str());
        }
        let changes = page["changes"].as_array().unwrap();
        assert!(
            changes.len() <= limit,
            "{} changes > limit {limit}",
            changes.len()
        );
        let mut seen = HashSet::new();
        for change in changes {
            let sku = change["sku"].as_str().unwrap().to_string();
            assert!(seen.insert(sku.clone()), "{sku} twice in one page");
            match change["op"].as_str().unwrap() {
                "upsert" => {
                    let hash = change["hash"].as_str().unwrap();
                    assert_eq!(sha256_hex(&jcs(&change["record"])), hash, "hash of {sku}");
                    assert_eq!(change["record"]["sku"], sku.as_str());
                    replica
                        .records
                        .insert(sku.clone(), (hash.into(), change["record"].clone()));
                }
                "delete" => {
                    replica.records.remove(&sku);
                }
                op => panic!("unknown op {op}"),
            }
            skus.push(sku);
        }
        let has_more = page["has_more"].as_bool().unwrap();
        if has_more {
            assert_eq!(
                changes.len(),
                limit,
                "a page that is not the last one is full"
            );
        }
        replica.cursor = page["next"].as_str().unwrap().to_string();
        if !has_more {
            return Followed { skus };
        }
    }
    panic!("changes never ended");
}

/// The server's digest of a channel.
pub async fn server_digest(app: &TestApp, token: &str, channel: &str) -> Value {
    let r = app
        .get(&format!("/v1/channels/{channel}/digest"), token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// `replica` equals the full feed exactly, and its digest is the server's.
pub async fn assert_in_sync(
    app: &TestApp,
    token: &str,
    channel: &str,
    replica: &Replica,
    what: &str,
) {
    let feed = Replica::from_feed(app, token, channel).await;
    assert_eq!(
        replica.records, feed.records,
        "{what}: replica != full feed"
    );
    let digest = server_digest(app, token, channel).await;
    assert_eq!(
        digest["digest"],
        replica.digest().as_str(),
        "{what}: digest"
    );
    assert_eq!(
        digest["digest"],
        feed.digest().as_str(),
        "{what}: feed digest"
    );
    assert_eq!(digest["count"], replica.records.len(), "{what}: count");
    assert_eq!(
        digest["cursor"],
        feed.cursor.as_str(),
        "{what}: digest cursor"
    );
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items.choose(rng).unwrap()
}

fn subset(rng: &mut StdRng, items: &[&str], p: f64) -> Vec<String> {
    items
        .iter()
        .filter(|_| rng.random_bool(p))
        .map(|s| s.to_string())
        .collect()
}

/// A random valid product near the test clock `now`.
pub fn random_product(rng: &mut StdRng, sku: &str, now: DateTime<Utc>) -> Value {
    let mut p = drill(sku);
    p["brand"] = json!(pick(rng, &BRANDS));
    p["category"] = json!(pick(rng, &CATEGORIES));
    p["status"] = json!(pick(rng, &STATUSES));
    p["title"]["fr"] = json!(format!("Produit {}", rng.random_range(0..4)));
    let mut prices = vec![json!({"list": "retail", "currency": "EUR",
                                 "amount": pick(rng, &AMOUNTS), "min_qty": 1})];
    if rng.random_bool(0.7) {
        prices.push(json!({"list": "reseller", "currency": "EUR",
                           "amount": pick(rng, &AMOUNTS), "min_qty": 1}));
    }
    if rng.random_bool(0.5) {
        let from = now + Duration::hours(rng.random_range(-24..48));
        let mut promo = json!({"list": "reseller", "currency": "EUR",
                               "amount": pick(rng, &AMOUNTS), "min_qty": 1,
                               "valid_from": rfc3339(from)});
        if rng.random_bool(0.7) {
            promo["valid_to"] = json!(rfc3339(from + Duration::hours(rng.random_range(1..48))));
        }
        prices.push(promo);
    }
    p["prices"] = json!(prices);
    p
}

/// A JSON Merge Patch that touches one field, carried by the random channel or not.
pub fn random_patch(rng: &mut StdRng) -> Value {
    match rng.random_range(0..7) {
        0 => json!({"description": {"fr": format!("Description {}", rng.random_range(0..5))}}),
        1 => json!({"attributes": {"voltage": rng.random_range(10..14)}}),
        2 => json!({"brand": pick(rng, &BRANDS)}),
        3 => json!({"status": pick(rng, &STATUSES)}),
        4 => json!({"category": pick(rng, &CATEGORIES)}),
        5 => json!({"title": {"fr": format!("Produit {}", rng.random_range(0..4))}}),
        _ => json!({"weight": {"net": format!("1.{}", rng.random_range(1..5)), "gross": "1.9",
                               "unit": "kg"}}),
    }
}

/// RFC 7396, for the model's copy of the catalog.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// A random definition of the channel under test.
fn random_channel(rng: &mut StdRng) -> Value {
    let mut def = json!({"name": "Model", "locale": pick(rng, &["fr", "en"]), "currency": "EUR",
                         "price_list": "reseller", "units": "metric",
                         "assortment": {
                             "statuses": subset(rng, &STATUSES, 0.5),
                             "categories": subset(rng, &["tools/", "garden", "tools/saws"], 0.4),
                             "brands": subset(rng, &BRANDS, 0.4),
                             "include_skus": [], "exclude_skus": []}});
    if let Some(pct) = *ADJUSTMENTS.choose(rng).unwrap() {
        def["price_adjustment_percent"] = json!(pct);
    }
    if rng.random_bool(0.7) {
        let mut fields = subset(rng, &FIELDS, 0.5);
        if rng.random_bool(0.7) && !fields.iter().any(|f| f == "price") {
            fields.push("price".into());
        }
        def["fields"] = json!(fields);
    }
    def
}

/// The model of what the channel publishes for a product: whether it is in the assortment,
/// and the values of the few fields the model follows (brand, status, category, price).
fn expected_record(def: &Value, product: &Value, now: DateTime<Utc>) -> Option<Value> {
    let a = &def["assortment"];
    let list = |k: &str| -> Vec<String> {
        a[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let (statuses, categories, brands) = (list("statuses"), list("categories"), list("brands"));
    let status = product["status"].as_str().unwrap();
    let category = product["category"].as_str().unwrap();
    let brand = product["brand"].as_str().unwrap();
    if !statuses.is_empty() && !statuses.iter().any(|s| s == status) {
        return None;
    }
    let category_ok = categories.is_empty()
        || categories.iter().any(|c| {
            let c = c.trim_end_matches('/');
            category == c || category.starts_with(&format!("{c}/"))
        });
    if !category_ok || !(brands.is_empty() || brands.iter().any(|b| b == brand)) {
        return None;
    }
    let carries = |f: &str| {
        def.get("fields")
            .is_none_or(|fields| fields.as_array().unwrap().iter().any(|x| x == f))
    };
    let mut out = json!({});
    for f in ["brand", "status", "category"] {
        if carries(f) {
            out[f] = product[f].clone();
        }
    }
    if carries("price") {
        // Only min_qty 1 reseller prices: a promotion in its window wins over the standing one.
        let ts = |p: &Value, k: &str| {
            p.get(k)
                .map(|t| DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap())
        };
        let mut best: Option<(Option<DateTime<chrono::FixedOffset>>, Decimal)> = None;
        for p in product["prices"].as_array().unwrap() {
            if p["list"] != "reseller" {
                continue;
            }
            let (from, to) = (ts(p, "valid_from"), ts(p, "valid_to"));
            if from.is_some_and(|f| f > now) || to.is_some_and(|t| now >= t) {
                continue;
            }
            let amount = Decimal::from_str(p["amount"].as_str().unwrap()).unwrap();
            let better = match &best {
                None => true,
                Some((bf, ba)) => (from, std::cmp::Reverse(amount)) > (*bf, std::cmp::Reverse(*ba)),
            };
            if better {
                best = Some((from, amount));
            }
        }
        if let Some((_, amount)) = best {
            let pct = def
                .get("price_adjustment_percent")
                .map_or(Decimal::ZERO, |p| {
                    Decimal::from_str(p.as_str().unwrap()).unwrap()
                });
            let mut adjusted = (amount * (Decimal::ONE_HUNDRED + pct) / Decimal::ONE_HUNDRED)
                .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
            adjusted.rescale(2);
            out["price"] = json!(adjusted.to_string());
        }
    }
    Some(out)
}

/// The full feed of the random channel against the model of the catalog.
fn check_model(
    feed: &Replica,
    def: &Value,
    catalog: &BTreeMap<String, Value>,
    now: DateTime<Utc>,
    what: &str,
) {
    let expected: BTreeMap<&String, Value> = catalog
        .iter()
        .filter_map(|(sku, p)| Some((sku, expected_record(def, p, now)?)))
        .collect();
    let got: Vec<&String> = feed.records.keys().collect();
    assert_eq!(
        got,
        expected.keys().copied().collect::<Vec<_>>(),
        "{what}: assortment of {def}"
    );
    for (sku, model) in &expected {
        let record = &feed.records[*sku].1;
        for f in ["brand", "status", "category"] {
            assert_eq!(record.get(f), model.get(f), "{what}: {sku}.{f}");
        }
        assert_eq!(
            record.get("price").map(|p| p["amount"].clone()),
            model.get("price").cloned(),
            "{what}: {sku}.price at {now} of {}",
            catalog[*sku]["prices"]
        );
    }
}

/// A follower of one channel and what may have changed for it since its cursor.
struct Follower {
    channel: &'static str,
    name: String,
    replica: Replica,
    /// SKUs that may have a new projection since the cursor (drained or not); `all` after a
    /// redefinition or from the start.
    touched: BTreeSet<String>,
    all: bool,
}

async fn run_model(seed: u64, ops: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    // "model-a" is redefined at random; "model-b" carries everything of every product.
    let mut def_a = random_channel(&mut rng);
    let token_a = setup(&app, "model-a", &def_a, "shop-a").await;
    let token_b = setup(
        &app,
        "model-b",
        &json!({"name": "All", "locale": "en", "currency": "EUR", "price_list": "reseller",
                "units": "metric"}),
        "shop-b",
    )
    .await;
    let token = |channel: &str| {
        if channel == "model-a" {
            &token_a
        } else {
            &token_b
        }
    };

    let mut catalog: BTreeMap<String, Value> = BTreeMap::new();
    // What changed since the last drain (the replicas' cursors cannot be past it yet).
    let mut pending: BTreeSet<String> = BTreeSet::new();
    let mut pending_all = false;
    let mut followers = vec![
        Follower {
            channel: "model-a",
            name: "a from the start".into(),
            replica: Replica::from_start(),
            touched: BTreeSet::new(),
            all: true,
        },
        Follower {
            channel: "model-b",
            name: "b from the start".into(),
            replica: Replica::from_start(),
            touched: BTreeSet::new(),
            all: true,
        },
    ];
    let mut now = start_time();

    for step in 0..ops {
        let roll = rng.random_range(0..100);
        let sku = pick(&mut rng, &SKUS).to_string();
        let mut touched: Vec<String> = Vec::new();
        let mut everything = false;
        match roll {
            0..=34 => {
                let body = random_product(&mut rng, &sku, now);
                let r = app.put_product(&body).await;
                let expected = if catalog.contains_key(&sku) { 200 } else { 201 };
                assert_eq!(r.status(), expected, "{}", r.text().await.unwrap());
                catalog.insert(sku.clone(), body);
                touched.push(sku);
            }
            35..=54 => {
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
                match catalog.get_mut(&sku) {
                    Some(body) => {
                        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
                        merge_patch(body, &patch);
                        touched.push(sku);
                    }
                    None => assert_eq!(r.status(), 404),
                }
            }
            55..=64 => {
                let r = app.delete(&format!("/v1/products/{sku}")).await;
                let expected = if catalog.remove(&sku).is_some() {
                    204
                } else {
                    404
                };
                assert_eq!(r.status(), expected);
                touched.push(sku);
            }
            65..=69 => {
                def_a = random_channel(&mut rng);
                let r = app
                    .put_json("/v1/channels/model-a", &app.admin_token, &def_a)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
                everything = true;
            }
            70..=77 => {
                now += Duration::minutes(rng.random_range(10..12 * 60));
                app.clock.set(now);
                // Products with a price window may change by themselves.
                touched.extend(
                    catalog
                        .iter()
                        .filter(|(_, p)| p.to_string().contains("valid_"))
                        .map(|(sku, _)| sku.clone()),
                );
            }
            78..=87 => {
                app.drain().await;
                pending.clear();
                pending_all = false;
            }
            88..=92 => {
                // A new follower, from the full feed at this moment.
                let channel = *["model-a", "model-b"].choose(&mut rng).unwrap();
                let replica = Replica::from_feed(&app, token(channel), channel).await;
                followers.push(Follower {
                    channel,
                    name: format!("{channel} from the feed at step {step}"),
                    replica,
                    touched: pending.clone(),
                    all: pending_all,
                });
            }
            _ => {
                // A follower catches up; drained beforehand or not.
                let drained = rng.random_bool(0.5);
                if drained {
                    app.drain().await;
                    pending.clear();
                    pending_all = false;
                }
                let i = rng.random_range(0..followers.len());
                let f = &mut followers[i];
                let got =
                    follow_random(&mut f.replica, &app, token(f.channel), f.channel, &mut rng)
                        .await;
                let distinct: BTreeSet<&String> = got.skus.iter().collect();
                // Nothing else runs: each SKU comes once, at its current state.
                assert_eq!(
                    distinct.len(),
                    got.skus.len(),
                    "{}: a SKU came twice: {:?}",
                    f.name,
                    got.skus
                );
                if !f.all {
                    for sku in &distinct {
                        assert!(
                            f.touched.contains(*sku),
                            "seed {seed} step {step}: {} received {sku}, unchanged since its cursor",
                            f.name
                        );
                    }
                }
                f.touched = pending.clone();
                f.all = pending_all;
                if drained {
                    assert_in_sync(&app, token(f.channel), f.channel, &f.replica, &f.name).await;
                }
            }
        }
        if everything {
            pending_all = true;
            for f in followers.iter_mut().filter(|f| f.channel == "model-a") {
                f.all = true;
            }
        }
        for sku in touched {
            pending.insert(sku.clone());
            for f in followers.iter_mut() {
                f.touched.insert(sku.clone());
            }
        }
    }

    app.drain().await;
    for f in followers.iter_mut() {
        follow_random(&mut f.replica, &app, token(f.channel), f.channel, &mut rng).await;
        assert_in_sync(&app, token(f.channel), f.channel, &f.replica, &f.name).await;
    }
    let feed_a = Replica::from_feed(&app, &token_a, "model-a").await;
    check_model(
        &feed_a,
        &def_a,
        &catalog,
        now,
        &format!("seed {seed}: model-a"),
    );
    let all_channel = json!({"assortment": {"statuses": [], "categories": [], "brands": []}});
    let feed_b = Replica::from_feed(&app, &token_b, "model-b").await;
    check_model(
        &feed_b,
        &all_channel,
        &catalog,
        now,
        &format!("seed {seed}: model-b"),
    );
    eprintln!(
        "seed {seed}: {} products, {} in model-a, {} followers in sync",
        catalog.len(),
        feed_a.records.len(),
        followers.len()
    );
    app.stop().await;
}

#[actix_web::test]
async fn random_histories_leave_every_replica_equal_to_the_full_feed() {
    for seed in [1, 2, 3] {
        run_model(seed, 220).await;
    }
}

#[actix_web::test]
async fn a_long_random_history_with_another_seed() {
    run_model(0x5eed_cafe, 300).await;
}
