use partnerfeed::store;
use reqwest::header;
use serde_json::{json, Value};

use crate::helpers::{drill, Options, TestApp};

#[actix_web::test]
async fn put_creates_then_get_returns_the_canonical_form_with_the_same_etag() {
    let app = TestApp::spawn().await;
    let created = app.put_product(&drill("DRL-1001")).await;
    assert_eq!(created.status(), 201);
    let etag = created.headers()[header::ETAG]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        etag.starts_with('"') && etag.len() == 66,
        "strong ETag of the hash: {etag}"
    );

    let got = app
        .get("/v1/products/DRL-1001", &app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()[header::ETAG].to_str().unwrap(), etag);
    let body: Value = got.json().await.unwrap();
    assert_eq!(body["gtin"], "03700123456780");
    assert_eq!(
        body["dimensions"],
        json!({"length": "325", "width": "90", "height": "240", "unit": "mm"})
    );
    assert_eq!(
        body["weight"],
        json!({"net": "1450", "gross": "1900", "unit": "g"})
    );
    assert_eq!(body["prices"][0]["amount"], "129.90");

    // Writing the canonical form back changes nothing: same ETag, status 200.
    let again = app.put_product(&body).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()[header::ETAG].to_str().unwrap(), etag);
    let history: Value = app
        .get("/v1/products/DRL-1001/history", &app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        history["entries"].as_array().unwrap().len(),
        1,
        "an unchanged write records nothing"
    );
    app.stop().await;
}

#[actix_web::test]
async fn if_match_with_a_stale_etag_is_refused_with_412() {
    let app = TestApp::spawn().await;
    let created = app.put_product(&drill("DRL-1")).await;
    let etag = created.headers()[header::ETAG]
        .to_str()
        .unwrap()
        .to_string();
    let mut changed = drill("DRL-1");
    changed["brand"] = json!("Boreal");
    let ok = app
        .put_json("/v1/products/DRL-1", &app.admin_token, &changed)
        .header(header::IF_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    changed["brand"] = json!("Castor");
    let stale = app
        .put_json("/v1/products/DRL-1", &app.admin_token, &changed)
        .header(header::IF_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    assert_eq!(
        stale.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let got: Value = app
        .get("/v1/products/DRL-1", &app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["brand"], "Boreal");
    app.stop().await;
}

#[actix_web::test]
async fn an_invalid_product_gets_422_naming_every_bad_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let mut bad = drill("DRL-2");
    bad["gtin"] = json!("3700123456781");
    bad["status"] = json!("sold");
    bad["prices"][0]["amount"] = json!(129.9);
    bad["prices"][1]["currency"] = json!("EUX");
    bad["prices"][2]["min_qty"] = json!(0);
    bad["dimensions"]["unit"] = json!("furlong");
    bad["title"] = json!({});
    bad["colour"] = json!("red");
    let response = app.put_product(&bad).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    for expected in [
        "/gtin",
        "/status",
        "/prices/0/amount",
        "/prices/1/currency",
        "/prices/2/min_qty",
        "/dimensions/unit",
        "/title",
        "/colour",
    ] {
        assert!(
            pointers.contains(&expected),
            "{expected} missing from {pointers:?}"
        );
    }
    let missing = app
        .get("/v1/products/DRL-2", &app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

#[actix_web::test]
async fn patch_applies_a_merge_patch_and_records_history_by_token_name() {
    let app = TestApp::spawn().await;
    let editor = app.token("editor", "pim-sync").await;
    app.put_product(&drill("DRL-3")).await;
    let response = app
        .client
        .patch(app.url("/v1/products/DRL-3"))
        .bearer_auth(&editor)
        .header(header::CONTENT_TYPE, "application/merge-patch+json")
        .body(r#"{"brand": "Boreal", "description": null, "attributes": {"voltage": 20}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["brand"], "Boreal");
    assert!(body.get("description").is_none());
    assert_eq!(body["attributes"], json!({"voltage": 20, "cordless": true}));

    let history: Value = app
        .get("/v1/products/DRL-3/history", &editor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = history["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["by"], "admin");
    assert!(entries[0]["hash_before"].is_null());
    assert_eq!(entries[1]["by"], "pim-sync");
    assert_eq!(
        entries[1]["fields"],
        json!(["attributes", "brand", "description"])
    );
    assert_eq!(entries[1]["hash_before"], entries[0]["hash_after"]);
    app.stop().await;
}

#[actix_web::test]
async fn delete_removes_the_product_and_records_a_change() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    app.put_product(&drill("DRL-4")).await;
    let deleted = app.delete("/v1/products/DRL-4").await;
    assert_eq!(deleted.status(), 204);
    let gone = app
        .get("/v1/products/DRL-4", &app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let again = app.delete("/v1/products/DRL-4").await;
    assert_eq!(again.status(), 404);
    let history: Value = app
        .get("/v1/products/DRL-4/history", &app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = history["entries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(last["hash_after"].is_null());
    let events = outbox(&app);
    assert_eq!(
        events,
        vec![("DRL-4".to_string(), true), ("DRL-4".to_string(), false)]
    );
    app.stop().await;
}

/// (sku, has a hash) of every outbox event, in id order.
fn outbox(app: &TestApp) -> Vec<(String, bool)> {
    let mut conn = app.db.read_conn().unwrap();
    store::outbox::pending(&mut conn, 1_000_000)
        .unwrap()
        .into_iter()
        .map(|e| (e.sku, e.hash.is_some()))
        .collect()
}

#[actix_web::test]
async fn every_mutation_and_only_real_changes_reach_the_outbox() {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    app.put_product(&drill("A-1")).await; // create
    app.put_product(&drill("A-1")).await; // unchanged: nothing
    let mut changed = drill("A-1");
    changed["brand"] = json!("Ergon");
    app.put_product(&changed).await; // replace
    let batch = format!("{}\n{}\n", drill("A-2"), drill("A-1"));
    app.batch("application/x-ndjson", batch).await;
    assert_eq!(
        outbox(&app),
        vec![
            ("A-1".into(), true),
            ("A-1".into(), true),
            ("A-2".into(), true),
            ("A-1".into(), true)
        ]
    );
    app.stop().await;
}

#[actix_web::test]
async fn the_list_is_keyset_paged_in_sku_order() {
    let app = TestApp::spawn().await;
    for sku in ["C-3", "A-1", "B-2", "D-4", "E-5"] {
        assert_eq!(app.put_product(&drill(sku)).await.status(), 201);
    }
    let page: Value = app
        .get("/v1/products?limit=2", &app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let skus: Vec<&str> = page["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["A-1", "B-2"]);
    assert_eq!(page["next"], "B-2");
    let page: Value = app
        .get("/v1/products?after=D-4&limit=2", &app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["products"].as_array().unwrap().len(), 1);
    assert!(page["next"].is_null());
    let too_big = app
        .get("/v1/products?limit=1001", &app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 400);
    app.stop().await;
}

#[actix_web::test]
async fn a_batch_keeps_the_good_lines_and_names_the_bad_ones() {
    let app = TestApp::spawn().await;
    let mut bad = drill("B-2");
    bad["prices"][0]["amount"] = json!("12.345");
    let body = format!(
        "{}\n{}\n{{not json\n\n{}\n",
        drill("B-1"),
        bad,
        drill("B-3")
    );
    let response = app.batch("application/x-ndjson", body).await;
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["stored"], 2);
    assert_eq!(result["failed"], 2);
    let results = result["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["status"], "created");
    assert_eq!(results[1]["status"], "error");
    assert_eq!(results[1]["sku"], "B-2");
    assert_eq!(results[1]["errors"][0]["pointer"], "/prices/0/amount");
    assert_eq!(results[2]["status"], "error");
    assert_eq!(results[3]["status"], "created");
    assert_eq!(results[3]["sku"], "B-3");
    assert_eq!(
        app.get("/v1/products/B-1", &app.admin_token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.get("/v1/products/B-2", &app.admin_token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // A JSON array works the same way; unchanged items say so.
    let array = json!([drill("B-1"), drill("B-4")]);
    let result: Value = app
        .post_json("/v1/products/batch", &app.admin_token, &array)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(result["results"][0]["status"], "unchanged");
    assert_eq!(result["results"][1]["status"], "created");
    assert_eq!(result["results"][1]["line"], 2);
    app.stop().await;
}

/// A SKU a batch changes more than once ends as its last line, with a history entry for each
/// change, whether the batch created it or it was stored before.
#[actix_web::test]
async fn a_sku_changed_twice_in_a_batch_ends_as_its_last_line() {
    let app = TestApp::spawn().await;
    let titled = |sku: &str, title: &str| {
        let mut p = drill(sku);
        p["title"]["en"] = json!(title);
        p
    };
    let ndjson = |lines: &[Value]| {
        let lines: Vec<String> = lines.iter().map(Value::to_string).collect();
        lines.join("\n")
    };
    let first = [titled("T-1", "one"), titled("T-2", "one")];
    let response = app.batch("application/x-ndjson", ndjson(&first)).await;
    assert_eq!(response.status(), 200);
    // T-1 was stored before this batch; T-3 is created by it; both then change twice.
    let lines = [
        titled("T-1", "two"),
        titled("T-3", "one"),
        titled("T-1", "three"),
        titled("T-3", "two"),
        titled("T-3", "three"),
    ];
    let result: Value = app
        .batch("application/x-ndjson", ndjson(&lines))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(result["failed"], 0, "{result}");
    let statuses: Vec<&str> = result["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["updated", "created", "updated", "updated", "updated"]
    );
    for (sku, changes) in [("T-1", 3), ("T-2", 1), ("T-3", 3)] {
        let path = format!("/v1/products/{sku}");
        let product = app.get(&path, &app.admin_token).send().await.unwrap();
        let etag = product.headers()[header::ETAG]
            .to_str()
            .unwrap()
            .to_string();
        let product: Value = product.json().await.unwrap();
        let last = if sku == "T-2" { "one" } else { "three" };
        assert_eq!(product["title"]["en"], last, "{sku}");
        let history = app
            .get_json(&format!("{path}/history"), &app.admin_token)
            .await;
        let entries = history["entries"].as_array().unwrap();
        assert_eq!(entries.len(), changes, "{sku}: {history}");
        // Each entry starts from the one before, and the last ends at the stored product.
        for pair in entries.windows(2) {
            assert_eq!(pair[1]["hash_before"], pair[0]["hash_after"], "{sku}");
        }
        let hash = entries.last().unwrap()["hash_after"].as_str().unwrap();
        assert_eq!(etag, format!("\"{hash}\""), "{sku}");
    }
    app.stop().await;
}

#[actix_web::test]
async fn tokens_and_roles_are_enforced() {
    let app = TestApp::spawn().await;
    let none = app
        .client
        .get(app.url("/v1/products"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    let wrong = app
        .get("/v1/products", "pf_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let editor = app.token("editor", "catalog team").await;
    assert_eq!(
        app.get("/v1/products", &editor)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let refused = app
        .post_json(
            "/v1/tokens",
            &editor,
            &json!({"role": "admin", "name": "x"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let bad_role = app
        .post_json(
            "/v1/tokens",
            &app.admin_token,
            &json!({"role": "root", "name": "x"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bad_role.status(), 422);
    let problem: Value = bad_role.json().await.unwrap();
    assert_eq!(problem["errors"][0]["pointer"], "/role");
    app.stop().await;
}

#[actix_web::test]
async fn bad_json_is_a_400_that_says_where_and_a_big_body_is_a_413() {
    let app = TestApp::spawn_with(Options {
        body_limit: 4096,
        ..Default::default()
    })
    .await;
    let response = app
        .client
        .put(app.url("/v1/products/X-1"))
        .bearer_auth(&app.admin_token)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"sku\": \"X-1\",\n \"status\": }")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    // Where, once: "expected value at line 2 column 12".
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("at line 2 column 12"), "{problem}");
    assert_eq!(detail.matches("line").count(), 1, "{problem}");

    let mut big = drill("X-2");
    big["description"]["en"] = json!("x".repeat(5000));
    let response = app.put_product(&big).await;
    assert_eq!(response.status(), 413);
    let problem: Value = response.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("4096"));
    app.stop().await;
}

#[actix_web::test]
async fn an_oversized_batch_stores_nothing_and_names_the_limit() {
    let app = TestApp::spawn().await;
    let line = drill("Z-1").to_string();
    let body: String = (0..10_001)
        .map(|i| line.replace("Z-1", &format!("Z-{i}")) + "\n")
        .collect();
    let response = app.batch("application/x-ndjson", body).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("10000"),
        "{problem}"
    );
    let list: Value = app
        .get("/v1/products", &app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["products"].as_array().unwrap().len(), 0);
    let bad = app.batch("application/json", "[{\"sku\": \"A\"},").await;
    assert_eq!(bad.status(), 400);
    let problem: Value = bad.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("at line 1 column 14"), "{problem}");
    assert_eq!(detail.matches("line").count(), 1, "{problem}");
    app.stop().await;
}

/// `drill(sku)` with one attribute whose value is `number` exactly as written (a literal the
/// `json!` macro could not even hold).
fn drill_with_number(sku: &str, number: &str) -> String {
    let mut product = drill(sku);
    product["attributes"]["big"] = json!("NUMBER");
    product.to_string().replace("\"NUMBER\"", number)
}

#[actix_web::test]
async fn numbers_a_record_cannot_carry_exactly_get_422_at_their_attribute() {
    let app = TestApp::spawn().await;
    for number in [
        "18446744073709551616",  // 2^64: beyond u64, parsed as a double
        "-9223372036854775809",  // beyond i64
        "9007199254740993",      // 2^53 + 1: in u64, not in a double
        "100000000000000000000", // 10^20
    ] {
        let r = app
            .client
            .put(app.url("/v1/products/N-1"))
            .bearer_auth(&app.admin_token)
            .header(header::CONTENT_TYPE, "application/json")
            .body(drill_with_number("N-1", number))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{number}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(
            problem["errors"][0]["pointer"], "/attributes/big",
            "{number}: {problem}"
        );
    }
    // In a batch, the line is refused at the same pointer; its neighbour is stored.
    let body = format!(
        "{}\n{}\n",
        drill_with_number("N-2", "18446744073709551616"),
        drill_with_number("N-3", "9007199254740991")
    );
    let response = app.batch("application/x-ndjson", body).await;
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["results"][0]["status"], "error", "{result}");
    assert_eq!(
        result["results"][0]["errors"][0]["pointer"],
        "/attributes/big"
    );
    assert_eq!(result["results"][1]["status"], "created", "{result}");
    let stored: Value = app
        .get("/v1/products/N-3", &app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["attributes"]["big"], json!(9007199254740991_u64));
    assert_eq!(
        app.get("/v1/products/N-2", &app.admin_token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    app.stop().await;
}
