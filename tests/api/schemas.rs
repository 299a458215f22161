//! The API described in full, kept in step with the code: real output of every endpoint (the
//! demo catalog, its channels' feeds and change pages, resellers, subscriptions, attempts,
//! tokens) validated against the schemas `/openapi.json` gives for it and against the published
//! JSON Schemas of `schemas/`, which `GET /v1/schemas/{name}` serves byte for byte. Each schema
//! also rejects a broken document, so that these tests can fail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use partnerfeed::api::schemas::PUBLISHED;
use partnerfeed::app;
use serde_json::{json, Value};

use crate::helpers::{drill, Options, TestApp};

/// A compiled JSON Schema (2020-12) that also checks `format`s.
fn compile(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("the schema does not compile: {e}"))
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match its schema:\n{}\n{instance:#}",
        errors.join("\n")
    );
}

/// A published JSON Schema, read from the repository.
fn published(name: &str) -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    compile(&serde_json::from_str(&text).unwrap())
}

/// The schemas of the served OpenAPI document, looked up by operation.
struct Contract {
    doc: Value,
}

impl Contract {
    /// The validator of one component, resolved inside the document (the document itself is
    /// the root, so that every `#/components/...` reference resolves as a client resolves it).
    fn component(&self, name: &str) -> jsonschema::Validator {
        let mut root = self.doc.clone();
        root["$ref"] = json!(format!("#/components/schemas/{name}"));
        compile(&root)
    }

    /// The schema of `method path`'s `status` body in `media`.
    fn response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        media: &str,
    ) -> jsonschema::Validator {
        let schema = self.doc["paths"][path][method]["responses"][status.to_string()]["content"]
            [media]["schema"]
            .clone();
        assert!(
            schema.is_object(),
            "{method} {path} {status} {media} has no schema"
        );
        let mut root = self.doc.clone();
        root.as_object_mut()
            .unwrap()
            .extend(schema.as_object().unwrap().clone());
        compile(&root)
    }

    /// Asserts that `body`, answered by `method path` with `status`, matches the document.
    fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let validator = self.response(method, path, status, "application/json");
        assert_valid(&validator, body, &format!("{method} {path} {status}"));
    }
}

/// A server loaded with the demo catalog, whose webhooks may reach 127.0.0.1.
struct Demo {
    app: TestApp,
    /// Reseller code -> token.
    resellers: Vec<(String, String)>,
}

impl std::ops::Deref for Demo {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl Demo {
    async fn spawn(products: usize) -> Demo {
        let options = Options {
            body_limit: 16 << 20,
            webhooks: partnerfeed::webhooks::Settings {
                allow: partnerfeed::webhooks::AllowList::parse("127.0.0.0/8").unwrap(),
                schedule: partnerfeed::webhooks::RetrySchedule::parse("1h").unwrap(),
                poll: Duration::from_millis(20),
                lease: Duration::from_secs(5),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut resellers = Vec::new();
        let app = TestApp::spawn_prepared(options, |db| {
            resellers = partnerfeed::demo::load::load(db, products)
                .unwrap()
                .reseller_tokens;
        });
        let demo = Demo { app, resellers };
        demo.drain().await;
        demo
    }

    /// Applies every pending change. The server's own generator runs too, and on PostgreSQL
    /// `drain` skips the rows it holds (`SKIP LOCKED`): wait until nothing is left at all.
    async fn drain(&self) {
        self.app.settle().await;
    }

    /// `call_json`, asserting the status, and checking the answer against the document.
    async fn ok(
        &self,
        contract: &Contract,
        (method, template, path): (&str, &str, &str),
        token: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let (status, answer) = self.call_json(method, path, token, body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        contract.check(&method.to_lowercase(), template, status, &answer);
        answer
    }

    async fn contract(&self) -> Contract {
        let (status, doc) = self.call_json("GET", "/openapi.json", "", None).await;
        assert_eq!(status, 200);
        Contract { doc }
    }

    fn reseller(&self, code: &str) -> &str {
        &self.resellers.iter().find(|(c, _)| c == code).unwrap().1
    }

    async fn stop(self) {
        self.app.stop().await;
    }
}

/// The bodies a webhook receiver got.
type Received = Arc<std::sync::Mutex<Vec<web::Bytes>>>;

/// A webhook receiver that keeps every body and answers 204.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let kept = received.clone();
    let server = HttpServer::new(move || {
        let kept = kept.clone();
        App::new().route(
            "/hook",
            web::post().to(move |body: web::Bytes| {
                kept.lock().unwrap().push(body);
                async { HttpResponse::NoContent().finish() }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    (format!("http://{addr}/hook"), received)
}

/// `GET /v1/schemas/{name}` serves exactly the repository's files; each JSON Schema is a valid
/// 2020-12 schema, and `/openapi.json` is the document the code builds.
#[actix_web::test]
async fn the_schemas_endpoint_serves_the_files_of_the_repository() {
    let demo = Demo::spawn(0).await;
    let (status, list) = demo.call_json("GET", "/v1/schemas", "", None).await;
    assert_eq!(status, 200, "public, without a token");
    let contract = demo.contract().await;
    contract.check("get", "/v1/schemas", 200, &list);
    let names: Vec<&str> = list["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "product.schema.json",
            "product-canonical.schema.json",
            "projected-record.schema.json",
            "channel.schema.json",
            "partnerfeed-feed.xsd"
        ]
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for p in PUBLISHED {
        let file = if p.name.ends_with(".xsd") {
            root.join("feeds").join(p.name)
        } else {
            root.join("schemas").join(p.name)
        };
        let response = demo
            .client
            .get(format!("{}/v1/schemas/{}", demo.address, p.name))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", p.name);
        assert_eq!(
            response.headers()["content-type"],
            p.media_type,
            "{}",
            p.name
        );
        let served = response.text().await.unwrap();
        assert_eq!(
            served,
            std::fs::read_to_string(&file).unwrap(),
            "{}",
            p.name
        );
        if p.media_type == "application/schema+json" {
            let schema: Value = serde_json::from_str(&served).unwrap();
            jsonschema::meta::validate(&schema)
                .unwrap_or_else(|e| panic!("{} is not a valid JSON Schema: {e}", p.name));
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
            assert_eq!(schema["title"], p.title);
            // Its examples are valid, and the document embeds it as the component.
            let validator = compile(&schema);
            for example in schema["examples"].as_array().unwrap() {
                assert_valid(&validator, example, p.name);
            }
            let component = &contract.doc["components"]["schemas"][p.component.unwrap()];
            assert_eq!(component["title"], schema["title"]);
        }
    }
    let (status, problem) = demo
        .call_json("GET", "/v1/schemas/nope.json", "", None)
        .await;
    assert_eq!((status, &problem["status"]), (404, &json!(404)));
    assert_eq!(contract.doc, app::openapi_document());
    demo.stop().await;
}

/// Every `$ref` of `/openapi.json` resolves, every mapped body names a real operation, and
/// every JSON body of every operation has a schema and an example that matches it.
#[test]
fn the_document_gives_every_body_a_schema_and_an_example() {
    let doc = app::openapi_document();
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50, "{}", all.len());
    for r in &all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r} is not local"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    for (path, method, _, _) in partnerfeed::api::openapi::BODIES {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    let contract = Contract { doc: doc.clone() };
    let mut bodies = 0;
    let operations = doc["paths"].as_object().unwrap().iter();
    for (path, item) in operations.chain(doc["webhooks"].as_object().unwrap()) {
        for (method, op) in item.as_object().unwrap() {
            let mut contents: Vec<(String, &Value)> = Vec::new();
            if let Some(content) = op["requestBody"]["content"].as_object() {
                contents.extend(content.iter().map(|(m, c)| (format!("request {m}"), c)));
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('2') {
                    if let Some(content) = response["content"].as_object() {
                        contents.extend(content.iter().map(|(m, c)| (format!("{status} {m}"), c)));
                    }
                }
            }
            for (what, content) in contents {
                if !what.ends_with("json") && !what.ends_with("ndjson") {
                    continue;
                }
                if what.contains("schema+json") {
                    continue; // the schemas themselves: any JSON Schema
                }
                bodies += 1;
                let schema = &content["schema"];
                assert!(schema.is_object(), "{method} {path} {what}: no schema");
                let example = content
                    .get("example")
                    .unwrap_or_else(|| panic!("{method} {path} {what}: no example"));
                let mut root = doc.clone();
                root.as_object_mut()
                    .unwrap()
                    .extend(schema.as_object().unwrap().clone());
                assert_valid(
                    &compile(&root),
                    example,
                    &format!("the example of {method} {path} {what}"),
                );
            }
        }
    }
    assert!(bodies >= 38, "{bodies}");
    // Every component with examples: each example is valid.
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if let Some(examples) = schema["examples"].as_array() {
            let validator = contract.component(name);
            for example in examples {
                assert_valid(&validator, example, &format!("an example of {name}"));
            }
        }
    }
}

/// The schemas fail what they must: a record without `sku`, a product whose amount is a JSON
/// number, a canonical product with a 13-digit GTIN, a change page without `next`.
#[test]
fn the_schemas_reject_broken_documents() {
    let record = published("projected-record.schema.json");
    assert!(record.is_valid(&json!({"sku": "A-1", "title": "x"})));
    assert!(
        !record.is_valid(&json!({"title": "x"})),
        "a record needs its sku"
    );
    assert!(
        !record.is_valid(
            &json!({"sku": "A-1", "price": {"amount": "1.00", "currency": "EUR", "min_qty": 1}})
        ),
        "price comes with price_tiers"
    );
    assert!(
        !record.is_valid(&json!({"sku": "A-1", "brand": null})),
        "no nulls in records"
    );
    let product = published("product.schema.json");
    let mut bad = drill("DRL-1");
    assert!(product.is_valid(&bad));
    bad["prices"][0]["amount"] = json!(129.9);
    assert!(!product.is_valid(&bad), "money is never a float");
    assert!(!product.is_valid(&json!({"sku": "A-1", "status": "sold", "title": {"en": "x"}})));
    assert!(!product.is_valid(
        &json!({"sku": "A-1", "status": "active", "title": {"en": "x"}, "colour": "red"})
    ));
    let canonical = published("product-canonical.schema.json");
    assert!(canonical.is_valid(
        &json!({"sku": "A-1", "status": "active", "title": {"en": "x"}, "gtin": "03700123456780"})
    ));
    assert!(!canonical.is_valid(
        &json!({"sku": "A-1", "status": "active", "title": {"en": "x"}, "gtin": "3700123456780"})
    ));
    let channel = published("channel.schema.json");
    assert!(channel.is_valid(&crate::channels::fr_resellers()));
    assert!(!channel.is_valid(&json!({"name": "x", "locale": "fr", "currency": "EUR", "price_list": "r", "fields": ["sku"]})));
    let contract = Contract {
        doc: app::openapi_document(),
    };
    let page = contract.component("ChangePage");
    let good = json!({"channel": "c", "since": "AAAA", "changes": [{"op": "delete", "sku": "A-1"}], "next": "AAAB", "has_more": false});
    assert!(page.is_valid(&good));
    let mut bad = good.clone();
    bad.as_object_mut().unwrap().remove("next");
    assert!(!page.is_valid(&bad));
    bad = good.clone();
    bad["changes"][0]["op"] = json!("upsert");
    assert!(!page.is_valid(&bad), "an upsert carries hash and record");
}

/// Real output of every endpoint over the demo catalog matches the document and the published
/// schemas: products as written (the demo's) and canonical, channels, every channel's JSON feed
/// and change pages (with an upsert and a delete), digests, feed reports, resellers, tokens,
/// subscriptions and their attempts.
#[actix_web::test]
async fn real_output_matches_the_schemas() {
    let demo = Demo::spawn(300).await;
    let contract = demo.contract().await;
    let admin = demo.admin_token.clone();
    let as_written = published("product.schema.json");
    let canonical = published("product-canonical.schema.json");
    let record = published("projected-record.schema.json");
    let channel_schema = published("channel.schema.json");

    for p in partnerfeed::demo::products(300) {
        assert_valid(&as_written, &p, "a demo product as written");
    }
    for (_, c) in partnerfeed::demo::channels() {
        assert_valid(&channel_schema, &c, "a demo channel definition");
    }
    demo.ok(&contract, ("GET", "/healthz", "/healthz"), "", None, 200)
        .await;
    demo.ok(&contract, ("GET", "/readyz", "/readyz"), "", None, 200)
        .await;

    // Products: every page, each product canonical and also valid as written.
    let mut after = String::new();
    let mut seen = 0;
    loop {
        let path = format!("/v1/products?limit=120&after={after}");
        let page = demo
            .ok(&contract, ("GET", "/v1/products", &path), &admin, None, 200)
            .await;
        for p in page["products"].as_array().unwrap() {
            assert_valid(&canonical, p, "a listed product");
            assert_valid(&as_written, p, "a canonical product, written back");
            seen += 1;
        }
        match page["next"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, 300);
    let t = "/v1/products/{sku}";
    let created = demo
        .ok(
            &contract,
            ("PUT", t, "/v1/products/DRL-1001"),
            &admin,
            Some(drill("DRL-1001")),
            201,
        )
        .await;
    assert_valid(&canonical, &created, "PUT's answer");
    demo.ok(
        &contract,
        ("GET", t, "/v1/products/DRL-1001"),
        &admin,
        None,
        200,
    )
    .await;
    let patched = demo
        .ok(
            &contract,
            ("PATCH", t, "/v1/products/DRL-1001"),
            &admin,
            Some(json!({"brand": "Boreal", "description": null})),
            200,
        )
        .await;
    assert!(patched.get("description").is_none());
    let history = demo
        .ok(
            &contract,
            (
                "GET",
                "/v1/products/{sku}/history",
                "/v1/products/DRL-1001/history",
            ),
            &admin,
            None,
            200,
        )
        .await;
    assert_eq!(history["entries"].as_array().unwrap().len(), 2);
    let batch = demo
        .ok(
            &contract,
            ("POST", "/v1/products/batch", "/v1/products/batch"),
            &admin,
            Some(json!([drill("DRL-2002"), {"sku": "BAD-1", "status": "sold"}])),
            200,
        )
        .await;
    assert_eq!(
        (batch["stored"].as_u64(), batch["failed"].as_u64()),
        (Some(1), Some(1))
    );

    // Besides the demo's (metric, a few fields each): every field, in imperial units.
    let every_field = json!({"name": "Every field, imperial", "locale": "en-US", "currency": "EUR",
        "price_list": "retail", "units": "imperial"});
    demo.ok(
        &contract,
        ("PUT", "/v1/channels/{code}", "/v1/channels/all-imperial"),
        &admin,
        Some(every_field),
        201,
    )
    .await;
    demo.drain().await;
    // Channels, as the admin sees them and as the demo wrote them.
    let list = demo
        .ok(
            &contract,
            ("GET", "/v1/channels", "/v1/channels"),
            &admin,
            None,
            200,
        )
        .await;
    let codes: Vec<String> = list["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_string())
        .collect();
    assert!(codes.len() >= 2, "{codes:?}");
    let first = &codes[0];
    // A change page with an upsert and a delete: from the current cursor, after edits.
    let (_, before) = demo
        .call_json("GET", &format!("/v1/channels/{first}/digest"), &admin, None)
        .await;
    let victim = {
        let (_, feed) = demo
            .call_json("GET", &format!("/v1/channels/{first}/feed"), &admin, None)
            .await;
        feed["products"][0]["sku"].as_str().unwrap().to_string()
    };
    assert_eq!(demo.delete_product(&victim).await, 204);
    demo.drain().await;

    let profiles = ["google-xml", "google-tsv", "bmecat", "gdsn-cin"];
    let mut records = 0;
    for code in &codes {
        let one = format!("/v1/channels/{code}");
        demo.ok(
            &contract,
            ("GET", "/v1/channels/{code}", &one),
            &admin,
            None,
            200,
        )
        .await;
        let feed = demo
            .ok(
                &contract,
                ("GET", "/v1/channels/{code}/feed", &format!("{one}/feed")),
                &admin,
                None,
                200,
            )
            .await;
        for item in feed["products"].as_array().unwrap() {
            assert_valid(&record, &item["record"], &format!("a record of {code}"));
            records += 1;
        }
        if code == "all-imperial" {
            let items = feed["products"].as_array().unwrap();
            for member in [
                "status",
                "title",
                "description",
                "attributes",
                "media",
                "price",
                "packaging",
            ] {
                assert!(
                    items.iter().any(|i| i["record"].get(member).is_some()),
                    "no {member}"
                );
            }
            assert!(items
                .iter()
                .any(|i| i["record"]["dimensions"]["unit"] == "in"));
            assert!(items.iter().any(|i| i["record"]["weight"]["unit"] == "lb"));
        }
        let lines = demo
            .ndjson(
                &contract,
                "/v1/channels/{code}/feed",
                &format!("{one}/feed?format=ndjson"),
            )
            .await;
        assert_eq!(lines.len(), feed["products"].as_array().unwrap().len());
        let lines = demo
            .ndjson(
                &contract,
                "/v1/channels/{code}/changes",
                &format!("{one}/changes?format=ndjson"),
            )
            .await;
        assert!(!lines.is_empty());
        // Every change page from the start.
        let mut since = String::new();
        loop {
            let path = format!("{one}/changes?limit=100&since={since}");
            let page = demo
                .ok(
                    &contract,
                    ("GET", "/v1/channels/{code}/changes", &path),
                    &admin,
                    None,
                    200,
                )
                .await;
            for change in page["changes"].as_array().unwrap() {
                if change["op"] == "upsert" {
                    assert_valid(
                        &record,
                        &change["record"],
                        &format!("a changed record of {code}"),
                    );
                }
            }
            since = page["next"].as_str().unwrap().to_string();
            if page["has_more"] == false {
                break;
            }
        }
        demo.ok(
            &contract,
            (
                "GET",
                "/v1/channels/{code}/digest",
                &format!("{one}/digest"),
            ),
            &admin,
            None,
            200,
        )
        .await;
        for profile in profiles {
            let path = format!("{one}/feed/report?format={profile}");
            demo.ok(
                &contract,
                ("GET", "/v1/channels/{code}/feed/report", &path),
                &admin,
                None,
                200,
            )
            .await;
        }
    }
    assert!(records > 100, "{records}");
    assert!(codes.iter().any(|c| c == "all-imperial"), "{codes:?}");
    let path = format!(
        "/v1/channels/{first}/changes?since={}",
        before["cursor"].as_str().unwrap()
    );
    let page = demo
        .ok(
            &contract,
            ("GET", "/v1/channels/{code}/changes", &path),
            &admin,
            None,
            200,
        )
        .await;
    let ops: Vec<&str> = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["op"].as_str().unwrap())
        .collect();
    assert!(ops.contains(&"delete"), "{page}");
    let defined = demo
        .ok(
            &contract,
            ("PUT", "/v1/channels/{code}", "/v1/channels/fr-test"),
            &admin,
            Some(crate::channels::fr_resellers()),
            201,
        )
        .await;
    assert_eq!(defined["code"], "fr-test");

    // Resellers and tokens.
    let resellers = demo
        .ok(
            &contract,
            ("GET", "/v1/resellers", "/v1/resellers"),
            &admin,
            None,
            200,
        )
        .await;
    for r in resellers["resellers"].as_array().unwrap() {
        let path = format!("/v1/resellers/{}", r["code"].as_str().unwrap());
        demo.ok(
            &contract,
            ("GET", "/v1/resellers/{code}", &path),
            &admin,
            None,
            200,
        )
        .await;
    }
    demo.ok(
        &contract,
        ("PUT", "/v1/resellers/{code}", "/v1/resellers/shop-99"),
        &admin,
        Some(json!({"name": "Shop 99", "email": "it@shop99.example", "channels": ["fr-test"]})),
        201,
    )
    .await;
    demo.ok(
        &contract,
        (
            "POST",
            "/v1/resellers/{code}/tokens",
            "/v1/resellers/shop-99/tokens",
        ),
        &admin,
        Some(json!({"name": "erp"})),
        201,
    )
    .await;
    demo.ok(
        &contract,
        ("POST", "/v1/tokens", "/v1/tokens"),
        &admin,
        Some(json!({"role": "editor", "name": "catalog team"})),
        201,
    )
    .await;

    // Subscriptions: a webhook that is delivered to, and an e-mail digest.
    let shop = demo.reseller("shop-42").to_string();
    let (url, received) = receiver().await;
    let subs = "/v1/channels/{code}/subscriptions";
    let hook = demo
        .ok(
            &contract,
            ("POST", subs, "/v1/channels/fr-resellers/subscriptions"),
            &shop,
            Some(json!({"url": url, "format": "json", "since": "start"})),
            201,
        )
        .await;
    demo.ok(
        &contract,
        ("POST", subs, "/v1/channels/fr-resellers/subscriptions"),
        &shop,
        Some(json!({"email": "ops@shop42.example", "every": "hourly"})),
        201,
    )
    .await;
    let id = hook["id"].as_str().unwrap();
    let one = format!("/v1/subscriptions/{id}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let attempts = loop {
        let attempts = demo
            .ok(
                &contract,
                (
                    "GET",
                    "/v1/subscriptions/{id}/attempts",
                    &format!("{one}/attempts"),
                ),
                &shop,
                None,
                200,
            )
            .await;
        if !attempts["attempts"].as_array().unwrap().is_empty() {
            break attempts;
        }
        assert!(Instant::now() < deadline, "no delivery attempt within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(attempts["attempts"][0]["status"], 204, "{attempts}");
    // What the receiver got is the document's webhook body.
    let webhook = contract.doc["webhooks"]["catalog.changes"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]
        .clone();
    let mut root = contract.doc.clone();
    root.as_object_mut()
        .unwrap()
        .extend(webhook.as_object().unwrap().clone());
    let validator = compile(&root);
    let bodies = received.lock().unwrap().clone();
    assert!(!bodies.is_empty());
    for body in bodies {
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_valid(&validator, &body, "a webhook body");
        assert!(!body["changes"].as_array().unwrap().is_empty());
    }
    demo.ok(
        &contract,
        ("GET", "/v1/subscriptions", "/v1/subscriptions"),
        &shop,
        None,
        200,
    )
    .await;
    demo.ok(
        &contract,
        ("GET", "/v1/subscriptions/{id}", &one),
        &shop,
        None,
        200,
    )
    .await;
    demo.ok(
        &contract,
        ("PATCH", "/v1/subscriptions/{id}", &one),
        &shop,
        Some(json!({"enabled": false})),
        200,
    )
    .await;
    demo.ok(
        &contract,
        (
            "POST",
            "/v1/subscriptions/{id}/replay",
            &format!("{one}/replay"),
        ),
        &shop,
        Some(json!({"since": "start"})),
        200,
    )
    .await;
    demo.ok(
        &contract,
        (
            "POST",
            "/v1/subscriptions/{id}/enable",
            &format!("{one}/enable"),
        ),
        &shop,
        None,
        200,
    )
    .await;
    demo.ok(
        &contract,
        (
            "POST",
            "/v1/subscriptions/{id}/rotate-secret",
            &format!("{one}/rotate-secret"),
        ),
        &shop,
        None,
        200,
    )
    .await;
    demo.stop().await;
}

impl Demo {
    /// `GET path` as NDJSON lines, checked against the document's NDJSON schema of `template`
    /// (the array of the lines).
    async fn ndjson(&self, contract: &Contract, template: &str, path: &str) -> Vec<Value> {
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");
        let text = response.text().await.unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let validator = contract.response("get", template, 200, "application/x-ndjson");
        assert_valid(&validator, &Value::Array(lines.clone()), path);
        lines
    }

    async fn delete_product(&self, sku: &str) -> u16 {
        self.client
            .delete(format!("{}/v1/products/{sku}", self.address))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// The schemas of what is written never refuse what the API accepts: edge cases the API takes
/// (nulls for absent members, measures as numbers, a time with an offset, an upper-case URL
/// scheme, no `sku` in a `PUT`, a channel with null lists and a numeric adjustment) are stored,
/// and each is valid against its published schema.
#[actix_web::test]
async fn the_written_schemas_accept_what_the_api_accepts() {
    let app = crate::helpers::TestApp::spawn().await;
    let product = published("product.schema.json");
    let edge = json!({
        "sku": null, "gtin": "02345673", "status": "draft", "brand": null, "category": "a/b c/d",
        "title": {"en-GB": "x", "fr": " y "}, "description": null, "attributes": {"n": -7, "f": 1.5, "b": false, "s": ""},
        "media": [{"url": "HTTPS://cdn.example.com/a?x#y", "role": "main"}],
        "prices": [{"list": "a.b_c-D", "currency": "JPY", "amount": "0", "min_qty": null,
                    "valid_from": "2027-01-01T01:00:00+01:00", "valid_to": null}],
        "dimensions": {"length": 1.5, "width": "2.50", "height": 3, "unit": "in"},
        "weight": {"net": null, "gross": 2, "unit": "lb"},
        "packaging": [{"level": "each", "quantity": 1, "gtin": null, "dimensions": null, "gross_weight": null, "type": null},
                      {"level": "case", "quantity": 4_294_967_295_u32}]
    });
    let r = app
        .put_json("/v1/products/EDGE-1", &app.admin_token, &edge)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let stored: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{stored}");
    assert_valid(&product, &edge, "an edge product the API accepted");
    assert_valid(
        &published("product-canonical.schema.json"),
        &stored,
        "its canonical form",
    );

    let channel = published("channel.schema.json");
    let edge = json!({"code": "edge", "name": "x", "locale": "fr-BE-x1", "currency": "XAU", "price_list": "any list",
        "price_adjustment_percent": 2.5, "assortment": null, "fields": null, "settings": null});
    let r = app
        .put_json("/v1/channels/edge", &app.admin_token, &edge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_valid(&channel, &edge, "an edge channel the API accepted");
    let edge = json!({"name": "y", "locale": "de", "currency": "EUR", "price_list": "r",
        "price_adjustment_percent": " -99.99 ", "units": "imperial",
        "assortment": {"statuses": null, "categories": ["/tools/"], "brands": ["A"], "include_skus": [], "exclude_skus": null},
        "fields": [], "settings": {"k": ""}});
    let r = app
        .put_json("/v1/channels/edge-2", &app.admin_token, &edge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_valid(&channel, &edge, "another edge channel the API accepted");
    app.stop().await;
}
