//! The web console in a real browser (tests/api/browser.rs): sign-in and sign-out, sessions
//! of revoked tokens, CSRF and `Origin` checks, security headers; and the partner portal.

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::channels::{fr_resellers, setup};
use crate::helpers::{Options, TestApp};
use crate::webhooks::{verify, Receiver, Reply};

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

/// `GET path` with the session `cookie` (`pf_session=...`), redirects not followed.
async fn get_as(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    no_redirects()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
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
    let r = get_as(&app, "/portal/channels", &format!("pf_session={id}")).await;
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

const XSS: &str = "<img src=x onerror=alert(1)>";

/// A server whose webhooks may reach a receiver on this host.
async fn portal_app() -> TestApp {
    TestApp::spawn_with(Options {
        webhook_allow: Some("127.0.0.0/8".into()),
        ..Default::default()
    })
    .await
}

#[actix_web::test]
async fn a_reseller_creates_a_webhook_sends_a_test_event_and_sees_the_attempt() {
    let app = portal_app().await;
    let (token, _) = reseller(&app, "fr-web", "acme-fr").await;
    let receiver = Receiver::start(vec![]).await;
    let browser = Browser::start().await;
    let r = app.put_product(&crate::helpers::drill("DRL-1")).await;
    assert!(r.status().is_success());
    app.settle().await;
    let digest: Value = app
        .get("/v1/channels/fr-web/digest", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    browser.sign_in(&app.address, &token).await;
    // My channels: count, cursor, digest as the API says, a download per format and profile.
    let main = browser.text("main").await;
    assert!(main.contains(digest["cursor"].as_str().unwrap()), "{main}");
    assert!(main.contains(digest["digest"].as_str().unwrap()), "{main}");
    assert!(browser.text("dl.facts dd").await == "1", "{main}");
    for format in ["json", "csv", "xml", "bmecat", "google-tsv"] {
        assert!(
            browser
                .find(&format!(
                    "a[href=\"/portal/channels/fr-web/feed?format={format}\"]"
                ))
                .await
                .is_some(),
            "{format}"
        );
    }
    let id = browser.cookie("pf_session").await.unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    let r = get_as(
        &app,
        "/portal/channels/fr-web/feed?format=csv",
        &format!("pf_session={id}"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("fr-web.csv"));
    assert!(r.text().await.unwrap().contains("DRL-1"));
    browser.click("main a[href=\"/portal/sync\"]").await;
    assert_eq!(browser.text("h1").await, "The sync protocol");
    browser.click("nav a[href=\"/portal/subscriptions\"]").await;
    assert!(browser.text("main").await.contains("No subscription yet"));

    // A refused URL is shown at its field, the form keeps what was typed.
    browser.fill("#f-url", "ftp://example.com/hook").await;
    browser
        .click("form[action=\"/portal/subscriptions\"] button[type=submit]")
        .await;
    assert!(
        !browser.text("#f-url-error").await.is_empty(),
        "{}",
        browser.text("main").await
    );
    assert_eq!(
        browser
            .run("return document.querySelector('#f-url').getAttribute('aria-invalid');")
            .await,
        "true"
    );

    browser.fill("#f-url", &receiver.url).await;
    browser
        .click("form[action=\"/portal/subscriptions\"] button[type=submit]")
        .await;
    assert_eq!(browser.text("h1").await, "Webhook created");
    let secret = browser.text("#secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser
        .click("main a[href^=\"/portal/subscriptions/sub_\"]")
        .await;
    let page = browser.path().await;
    let id = page
        .trim_start_matches("/portal/subscriptions/")
        .to_string();
    assert!(id.starts_with("sub_"), "{page}");
    assert!(
        !browser.source().await.contains(&secret),
        "the secret is shown once"
    );
    assert!(browser.text("#attempts").await.is_empty(), "no attempt yet");

    browser.click("#send-test").await;
    assert_eq!(
        browser.path().await,
        format!("/portal/subscriptions/{id}?notice=test-sent")
    );
    assert!(browser
        .text("[role=status]")
        .await
        .contains("Test event sent"));
    let row = browser.text("#attempts tbody tr").await;
    assert!(row.contains("204"), "{row}");
    assert!(
        browser.find("svg#outcomes rect").await.is_some(),
        "the outcomes chart"
    );
    assert!(browser.text("main").await.contains("1 delivered, 0 failed"));
    let tests: Vec<_> = receiver
        .deliveries()
        .into_iter()
        .filter(|d| serde_json::from_slice::<Value>(&d.body).unwrap()["type"] == "catalog.test")
        .collect();
    assert_eq!(tests.len(), 1);
    assert!(
        verify(&secret, &tests[0]),
        "signed with the secret the page showed"
    );
    assert!(row.contains(&tests[0].id), "{row}");

    // Replay from the start; a cursor that is not one is shown at its field.
    browser.click("form[action$=\"/replay\"] button").await;
    assert!(browser
        .text("[role=status]")
        .await
        .contains("Replay started"));
    browser
        .run("document.querySelector('#f-from').value = 'cursor';")
        .await;
    browser.fill("#f-since", "not-a-cursor").await;
    browser.click("form[action$=\"/replay\"] button").await;
    assert!(
        !browser.text("#f-since-error").await.is_empty(),
        "{}",
        browser.text("main").await
    );

    // Rotate: a new secret, shown once; delete after a confirmation page.
    browser.click("form[action$=\"/rotate\"] button").await;
    assert_eq!(browser.text("h1").await, "Secret rotated");
    assert_ne!(browser.text("#secret").await, secret);
    browser
        .goto(&app.url(&format!("/portal/subscriptions/{id}")))
        .await;
    browser.click("a[href$=\"/delete\"]").await;
    assert!(browser.text("h1").await.starts_with("Delete subscription"));
    browser
        .click("form[action$=\"/delete\"] button[type=submit]")
        .await;
    assert_eq!(browser.path().await, "/portal/subscriptions?notice=deleted");
    let r = app
        .get(&format!("/v1/subscriptions/{id}"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "deleted through the page");
    drop(browser);
    app.stop().await;
}

#[actix_web::test]
async fn another_resellers_subscription_is_not_found_and_typed_text_never_runs() {
    let app = portal_app().await;
    setup(&app, "fr-web", &fr_resellers(), "acme-fr").await;
    let (s, body) = post(&app, "/v1/resellers/acme-fr/tokens", &json!({"name": XSS})).await;
    assert_eq!(s, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let (other, _) = reseller(&app, "fr-web", "rival-fr").await;
    // The receiver answers with markup: the log shows the receiver's answer.
    let receiver = Receiver::start(vec![Reply::Text(500, XSS)]).await;
    let r = app
        .post_json(
            "/v1/channels/fr-web/subscriptions",
            &token,
            &json!({"url": receiver.url}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post_json(&format!("/v1/subscriptions/{id}/test"), &token, &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let browser = Browser::start().await;
    browser.sign_in(&app.address, &token).await;
    browser
        .goto(&app.url(&format!("/portal/subscriptions/{id}")))
        .await;
    assert_eq!(browser.alert().await, None, "no script ran");
    assert!(
        browser.find("img").await.is_none(),
        "no element was made of typed text"
    );
    assert!(
        browser.text("header").await.contains(XSS),
        "the token's name, as text"
    );
    assert!(
        browser.text("#attempts").await.contains(XSS),
        "the receiver's answer, as text"
    );
    assert!(browser.text("main").await.contains("0 delivered, 1 failed"));
    browser.click("form[action=\"/sign-out\"] button").await;

    // The rival reseller: the subscription does not exist for it, in the list or by address.
    browser.sign_in(&app.address, &other).await;
    browser.goto(&app.url("/portal/subscriptions")).await;
    assert!(!browser.source().await.contains(&id));
    let csrf = csrf_of_page(&browser).await;
    browser
        .goto(&app.url(&format!("/portal/subscriptions/{id}")))
        .await;
    assert_eq!(browser.text("h1").await, "Not found");
    assert!(!browser.source().await.contains(&receiver.url));
    let cookie = browser.cookie("pf_session").await.unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        format!("/portal/subscriptions/{id}"),
        format!("/portal/subscriptions/{id}/delete"),
    ] {
        let r = get_as(&app, &path, &format!("pf_session={cookie}")).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = no_redirects()
        .post(app.url(&format!("/portal/subscriptions/{id}/test")))
        .header("cookie", format!("pf_session={cookie}"))
        .header("origin", &app.address)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(receiver.deliveries().len(), 1, "the rival sent nothing");
    drop(browser);
    app.stop().await;
}

/// Signs in outside a browser (the form, with this origin); answers the session cookie.
async fn session_cookie(app: &TestApp, token: &str) -> String {
    let r = no_redirects()
        .post(app.url("/sign-in"))
        .header("origin", &app.address)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_string()
}

async fn page_status(app: &TestApp, cookie: &str) -> u16 {
    get_as(app, "/portal/channels", cookie)
        .await
        .status()
        .as_u16()
}

#[actix_web::test]
async fn sessions_end_when_idle_after_twelve_hours_and_with_their_token() {
    use crate::helpers::start_time;
    use chrono::Duration;
    let app = TestApp::spawn().await;
    let (token, _) = reseller(&app, "fr-web", "acme-fr").await;

    // Idle for more than 30 minutes: ended.
    let cookie = session_cookie(&app, &token).await;
    assert_eq!(page_status(&app, &cookie).await, 200);
    app.clock.set(start_time() + Duration::minutes(29));
    assert_eq!(
        page_status(&app, &cookie).await,
        200,
        "used within 30 minutes"
    );
    app.clock.set(start_time() + Duration::minutes(58));
    assert_eq!(
        page_status(&app, &cookie).await,
        200,
        "idle time counts from the last use"
    );
    app.clock.set(start_time() + Duration::minutes(89));
    assert_eq!(page_status(&app, &cookie).await, 303, "31 minutes idle");
    assert_eq!(page_status(&app, &cookie).await, 303);

    // Used all the time: ended 12 hours after sign-in all the same.
    let signed_in = start_time() + Duration::minutes(89);
    let cookie = session_cookie(&app, &token).await;
    let mut at = signed_in;
    while at + Duration::minutes(20) < signed_in + Duration::hours(12) {
        at += Duration::minutes(20);
        app.clock.set(at);
        assert_eq!(page_status(&app, &cookie).await, 200, "at {at}");
    }
    app.clock.set(signed_in + Duration::hours(12));
    assert_eq!(
        page_status(&app, &cookie).await,
        303,
        "12 hours after sign-in"
    );

    // A token that expires takes its sessions with it.
    let now = start_time() + Duration::hours(14);
    app.clock.set(now);
    let (s, body) = post(
        &app,
        "/v1/resellers/acme-fr/tokens",
        &json!({"expires_at": (now + Duration::minutes(5)).to_rfc3339()}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let cookie = session_cookie(&app, body["token"].as_str().unwrap()).await;
    assert_eq!(page_status(&app, &cookie).await, 200);
    app.clock.set(now + Duration::minutes(5));
    assert_eq!(page_status(&app, &cookie).await, 303, "the token expired");
    app.stop().await;
}

#[actix_web::test]
async fn a_digest_is_created_from_the_portal_form_and_its_problems_sit_at_their_fields() {
    let app = TestApp::spawn().await;
    let (token, _) = reseller(&app, "fr-web", "acme-fr").await;
    let cookie = session_cookie(&app, &token).await;
    let page = get_as(&app, "/portal/subscriptions", &cookie)
        .await
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let create = |fields: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("csrf", csrf.clone())];
        form.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        no_redirects()
            .post(app.url("/portal/subscriptions"))
            .header("cookie", &cookie)
            .header("origin", &app.address)
            .form(&form)
            .send()
    };
    let base = vec![
        ("channel", "fr-web"),
        ("kind", "email"),
        ("every", "hourly"),
    ];

    let mut bad = base.clone();
    bad.push(("email", "not an address"));
    let r = create(bad).await.unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"f-email-error\""), "{html}");
    assert!(
        html.contains("value=\"not an address\""),
        "the form keeps what was typed"
    );

    let mut snapshot = base.clone();
    snapshot.extend([("email", "ops@acme.example"), ("format", "google-tsv")]);
    let r = create(snapshot).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"f-format-error\""));

    let mut good = base.clone();
    good.push(("email", "ops@acme.example"));
    let r = create(good).await.unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/portal/subscriptions/sub_"),
        "{location}"
    );
    let page = get_as(&app, &location, &cookie).await.text().await.unwrap();
    assert!(
        page.contains("ops@acme.example (hourly digest, awaiting confirmation)"),
        "{page}"
    );
    assert!(!page.contains("send-test"), "a digest has no test event");
    let list: Value = app
        .get("/v1/subscriptions", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["subscriptions"][0]["email"], "ops@acme.example");
    assert_eq!(list["subscriptions"][0]["every"], "hourly");
    app.stop().await;
}

#[actix_web::test]
async fn a_products_history_shows_each_changed_fields_old_and_new_value_as_text() {
    let app = TestApp::spawn().await;
    let mut drill = crate::helpers::drill("DRL-1");
    drill["brand"] = json!("Acme");
    assert_eq!(app.put_product(&drill).await.status(), 201);
    let browser = Browser::start().await;
    browser.sign_in(&app.address, &app.admin_token).await;
    browser.goto(&app.url("/console/products/DRL-1")).await;
    let form = "form[action=\"/console/products/DRL-1\"] button[type=submit]";
    // Two edits of the brand through the form, the second one markup.
    browser.fill("#f-brand", "Bosch").await;
    browser.click(form).await;
    assert_eq!(browser.path().await, "/console/products/DRL-1?notice=saved");
    browser.fill("#f-brand", XSS).await;
    browser.click(form).await;
    assert_eq!(browser.path().await, "/console/products/DRL-1?notice=saved");

    // Newest first: each entry names the field, its value before and after.
    let row = |n: usize, part: &str| {
        format!("section[aria-labelledby=history] tbody tr:nth-child({n}) {part}")
    };
    assert_eq!(browser.text(&row(1, "dt")).await, "brand");
    assert_eq!(browser.text(&row(1, "del")).await, "Bosch");
    assert_eq!(browser.text(&row(1, "ins")).await, XSS);
    assert_eq!(browser.text(&row(2, "dt")).await, "brand");
    assert_eq!(browser.text(&row(2, "del")).await, "Acme");
    assert_eq!(browser.text(&row(2, "ins")).await, "Bosch");
    let created = browser.text(&row(3, "td:nth-child(3)")).await;
    assert!(created.starts_with("Created with"), "{created}");
    // What the vendor typed is text: no image, no script ran.
    let images = browser
        .run("return document.querySelectorAll('main img').length;")
        .await;
    assert_eq!(images, 0);
    assert_eq!(browser.alert().await, None);
    drop(browser);
    app.stop().await;
}
