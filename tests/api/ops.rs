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
    let metrics = app.get_text("/metrics", &app.admin_token).await;
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
    let test_db = crate::helpers::TestDb::new();
    let config = test_db.config();
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
        &partnerfeed::service::tokens::hash(token.trim()),
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

/// The series of a metrics text: every sample's name and labels, without its value.
fn series(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(s, _)| s.to_string()))
        .collect()
}

async fn metrics_status(app: &TestApp, token: Option<&str>) -> u16 {
    let mut r = app.client.get(app.url("/metrics"));
    if let Some(token) = token {
        r = r.bearer_auth(token);
    }
    r.send().await.unwrap().status().as_u16()
}

#[actix_web::test]
async fn metrics_need_an_admin_or_the_metrics_token() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        jobs: false,
        metrics_token: Some("pf_metrics_scraper_0123456789".into()),
        ..Default::default()
    })
    .await;
    let shop = crate::channels::setup(
        &app,
        "fr-resellers",
        &crate::channels::fr_resellers(),
        "shop",
    )
    .await;
    let editor = app.token("editor", "pim").await;
    assert_eq!(metrics_status(&app, None).await, 401);
    assert_eq!(metrics_status(&app, Some("pf_wrong")).await, 401);
    assert_eq!(metrics_status(&app, Some(&shop)).await, 403);
    assert_eq!(metrics_status(&app, Some(&editor)).await, 403);
    assert_eq!(metrics_status(&app, Some(&app.admin_token)).await, 200);
    assert_eq!(
        metrics_status(&app, Some("pf_metrics_scraper_0123456789")).await,
        200
    );
    // The metrics token opens nothing else.
    let r = app
        .get("/v1/products", "pf_metrics_scraper_0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[actix_web::test]
async fn metrics_series_do_not_grow_with_subscriptions() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let shop = crate::channels::setup(
        &app,
        "fr-resellers",
        &crate::channels::fr_resellers(),
        "shop",
    )
    .await;
    let text = || async {
        app.get("/metrics", &app.admin_token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = text().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = app
            .post_json(
                "/v1/channels/fr-resellers/subscriptions",
                &shop,
                &serde_json::json!({"email": format!("feed{i}@shop.example"), "every": "daily"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let after = text().await;
    assert_eq!(series(&before), series(&after), "{after}");
    for id in &ids {
        assert!(!after.contains(id.as_str()), "{id} in {after}");
    }
    assert!(
        after
            .lines()
            .any(|l| l == "partnerfeed_subscriptions{kind=\"email\",state=\"enabled\"} 3"),
        "{after}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn metrics_can_have_their_own_address_and_then_leave_the_main_one() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        jobs: false,
        metrics_bind: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    })
    .await;
    let own = app.metrics_address.clone().expect("a metrics listener");
    let r = app
        .client
        .get(format!("{own}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("# TYPE partnerfeed_products gauge"));
    assert_eq!(metrics_status(&app, Some(&app.admin_token)).await, 404);
    let other = app
        .client
        .get(format!("{own}/v1/products"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    app.stop().await;
}
