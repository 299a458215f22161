use serde_json::Value;

use crate::helpers::TestApp;

#[actix_web::test]
async fn health_readiness_and_openapi_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/products/{sku}",
        "/v1/products",
        "/v1/products/batch",
        "/v1/products/{sku}/history",
        "/v1/tokens",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(paths["/v1/products/{sku}"].get("patch").is_some());
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("# TYPE partnerfeed_products gauge"),
        "{metrics}"
    );
    assert!(
        metrics.contains("partnerfeed_outbox_backlog 0"),
        "{metrics}"
    );
    let unknown = app.client.get(app.url("/v1/nope")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );
    app.stop().await;
}

#[test]
fn the_bootstrap_admin_token_is_written_once_with_mode_0600() {
    use partnerfeed::config::{Config, ServeArgs, StorageArgs};
    let test_db = crate::helpers::TestDb::new();
    let config = Config::new(
        StorageArgs {
            data_dir: test_db.data_dir(),
            database_url: Some(test_db.url.clone()),
        },
        ServeArgs {
            bind: "127.0.0.1:0".parse().unwrap(),
            admin_token: None,
            body_limit: 1024,
            workers: Some(1),
            tombstone_retention_days: 30,
            rate_limit: 100,
            feed_cache: true,
            token_concurrency: 0,
        },
    );
    let db = partnerfeed::app::open_db(&config.storage).unwrap();
    partnerfeed::app::bootstrap_admin(&db, &config).unwrap();
    let path = test_db.data_dir().join("admin.token");
    let token = std::fs::read_to_string(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let mut conn = db.read_conn().unwrap();
    let row = partnerfeed::store::tokens::find_by_hash(
        &mut conn,
        &partnerfeed::tokens::hash(token.trim()),
    )
    .unwrap();
    assert_eq!(row.unwrap().role, "admin");
    // A second start keeps the first token.
    partnerfeed::app::bootstrap_admin(&db, &config).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), token);
}

#[actix_web::test]
async fn a_token_over_its_rate_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        rate_limit: 5,
        ..Default::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = app
            .get("/v1/products", &app.admin_token)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            let problem: Value = r.json().await.unwrap();
            assert_eq!(problem["status"], 429);
        }
    }
    assert_eq!(&statuses[..5], &[200; 5]);
    assert!(statuses[5..].contains(&429), "{statuses:?}");
    app.stop().await;
}
