//! The web console in a real browser (tests/api/browser.rs): sign-in and sign-out, sessions
//! of revoked tokens, CSRF and `Origin` checks, security headers; and the partner portal.

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::channels::{fr_resellers, setup};
use crate::helpers::TestApp;

/// `POST path` as the admin; the status and the JSON body.
async fn post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let r = app
        .post_json(path, &app.admin_token, body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A reseller `code` granted channel `channel` (created if needed); its token and token id.
async fn reseller(app: &TestApp, channel: &str, code: &str) -> (String, String) {
    setup(app, channel, &fr_resellers(), code).await;
    let (s, body) = post(app, &format!("/v1/resellers/{code}/tokens"), &json!({})).await;
    assert_eq!(s, 201, "{body}");
    (
        body["token"].as_str().unwrap().to_string(),
        body["id"].as_str().unwrap().to_string(),
    )
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The CSRF token of the page the browser shows.
async fn csrf_of_page(browser: &Browser) -> String {
    browser
        .run("return document.querySelector('input[name=csrf]').value;")
        .await
        .as_str()
        .unwrap()
        .to_string()
}

#[actix_web::test]
async fn a_token_signs_in_once_and_signing_out_ends_the_session() {
    let app = TestApp::spawn().await;
    let (token, _) = reseller(&app, "fr-web", "acme-fr").await;
    let browser = Browser::start().await;

    // A wrong token is refused at its field.
    browser.sign_in(&app.address, "pf_not-a-token").await;
    assert_eq!(browser.path().await, "/sign-in");
    assert!(browser.text("#f-token-error").await.contains("not valid"));
    assert!(browser.cookie("pf_session").await.is_none());

    browser.sign_in(&app.address, &token).await;
    assert_eq!(browser.path().await, "/portal/channels");
    assert!(browser.text("main").await.contains("fr-web"));
    let cookie = browser
        .cookie("pf_session")
        .await
        .expect("a session cookie");
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    assert_eq!(cookie["path"], "/", "{cookie}");
    assert_eq!(cookie["secure"], false, "plain http here: {cookie}");
    let id = cookie["value"].as_str().unwrap().to_string();
    assert!(
        !browser.source().await.contains(&token),
        "the token is never shown again"
    );
    // `/` now leads home.
    browser.goto(&app.url("/")).await;
    assert_eq!(browser.path().await, "/portal/channels");

    browser.click("form[action=\"/sign-out\"] button").await;
    assert_eq!(browser.path().await, "/sign-in?notice=signed-out");
    assert!(browser.text("[role=status]").await.contains("signed out"));
    browser.goto(&app.url("/portal/channels")).await;
    assert_eq!(browser.path().await, "/sign-in");
    // The old cookie is dead on the server too, not only forgotten by the browser.
    let r = no_redirects()
        .get(app.url("/portal/channels"))
        .header("cookie", format!("pf_session={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/sign-in");

    // An admin lands on the vendor console.
    browser.sign_in(&app.address, &app.admin_token).await;
    assert_eq!(browser.path().await, "/console");
    drop(browser);
    app.stop().await;
}

#[actix_web::test]
async fn the_session_of_a_revoked_token_ends_at_once() {
    let app = TestApp::spawn().await;
    let (token, token_id) = reseller(&app, "fr-web", "acme-fr").await;
    let browser = Browser::start().await;
    browser.sign_in(&app.address, &token).await;
    assert_eq!(browser.path().await, "/portal/channels");

    let r = app.delete(&format!("/v1/tokens/{token_id}")).await;
    assert_eq!(r.status(), 204);
    browser.goto(&app.url("/portal/channels")).await;
    assert_eq!(
        browser.path().await,
        "/sign-in",
        "a revoked token's session is refused"
    );
    assert!(!browser.text("main").await.contains("fr-web"));
    drop(browser);
    app.stop().await;
}

/// A page on another origin (another port of this host) with a form posting to `action`.
async fn foreign_page(action: String, csrf: String) -> (String, actix_web::dev::ServerHandle) {
    let html = format!(
        "<!doctype html><title>elsewhere</title><form method=post action=\"{action}\">\
         <input type=hidden name=csrf value=\"{csrf}\"><button type=submit>Go</button></form>"
    );
    let server = HttpServer::new(move || {
        let html = html.clone();
        App::new().route(
            "/",
            web::get().to(move || {
                let html = html.clone();
                async move { HttpResponse::Ok().content_type("text/html").body(html) }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (format!("http://{addr}/"), handle)
}

#[actix_web::test]
async fn forms_without_the_sessions_csrf_token_or_from_another_origin_are_refused() {
    let app = TestApp::spawn().await;
    let (token, _) = reseller(&app, "fr-web", "acme-fr").await;
    let browser = Browser::start().await;
    browser.sign_in(&app.address, &token).await;
    assert_eq!(browser.path().await, "/portal/channels");
    let csrf = csrf_of_page(&browser).await;
    let id = browser.cookie("pf_session").await.unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();

    // A wrong token, then none: 403, and the session lives on.
    for script in [
        "document.querySelector('input[name=csrf]').value = 'wrong';",
        "document.querySelector('input[name=csrf]').remove();",
    ] {
        browser.goto(&app.url("/portal/channels")).await;
        browser.run(script).await;
        browser.click("form[action=\"/sign-out\"] button").await;
        assert_eq!(browser.path().await, "/sign-out");
        assert_eq!(browser.text("h1").await, "Forbidden");
        assert!(browser.text("main").await.contains("security token"));
        browser.goto(&app.url("/portal/channels")).await;
        assert_eq!(browser.path().await, "/portal/channels", "still signed in");
    }

    // The right token, from a page of another origin: refused before anything is read.
    let (page, foreign) = foreign_page(app.url("/sign-out"), csrf.clone()).await;
    browser.goto(&page).await;
    browser.click("button").await;
    assert_eq!(browser.text("h1").await, "Forbidden");
    assert!(browser.text("main").await.contains("another site"));
    browser.goto(&app.url("/portal/channels")).await;
    assert_eq!(browser.path().await, "/portal/channels", "still signed in");
    foreign.stop(true).await;

    // Outside a browser: no Origin nor Referer, or a foreign one, is refused with the right
    // cookie and token; this very origin is accepted.
    let client = no_redirects();
    let sign_out = |origin: Option<&str>| {
        let mut r = client
            .post(app.url("/sign-out"))
            .header("cookie", format!("pf_session={id}"))
            .form(&[("csrf", csrf.as_str())]);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    assert_eq!(sign_out(None).await.unwrap().status(), 403);
    assert_eq!(
        sign_out(Some("http://evil.example"))
            .await
            .unwrap()
            .status(),
        403
    );
    let r = sign_out(Some(&app.address)).await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/sign-in?notice=signed-out");
    drop(browser);
    app.stop().await;
}

#[actix_web::test]
async fn console_responses_carry_a_strict_content_security_policy() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("<script"),
        "no script at all on the sign-in page"
    );
    assert!(!html.contains("style="), "no inline style");
    // The stylesheet is embedded and kept for a year under a name that changes with it.
    let href = html
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|h| h.starts_with("/assets/")))
        .expect("a stylesheet link")
        .to_string();
    let css = app.client.get(app.url(&href)).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert_eq!(css.headers()["x-content-type-options"], "nosniff");
    let r = app
        .client
        .get(app.url("/assets/console.0.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // `/` sends a stranger to the sign-in page; the API is untouched by the console.
    let r = no_redirects().get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/sign-in");
    let r = app.client.get(app.url("/v1/nothing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert!(r.headers().get("content-security-policy").is_none());

    // In the browser: the page loads its stylesheet under that policy.
    let browser = Browser::start().await;
    browser.goto(&app.url("/sign-in")).await;
    let styled = browser
        .run("return getComputedStyle(document.querySelector('.skip-link')).position;")
        .await;
    assert_eq!(styled, "absolute", "the stylesheet applies");
    assert_eq!(browser.alert().await, None);
    drop(browser);
    app.stop().await;
}
