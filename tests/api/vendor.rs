//! The vendor console (admin, editor): products (search, page, edit, create, delete), in a
//! real browser (tests/api/browser.rs) and over plain HTTP for roles and CSRF.

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::channels::{fr_resellers, setup};
use crate::helpers::{drill, TestApp};

/// A signed-in console session over plain HTTP: its cookie and CSRF token.
pub(crate) struct Console {
    client: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl Console {
    pub(crate) async fn sign_in(app: &TestApp, token: &str) -> Console {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = client
            .post(app.url("/sign-in"))
            .header("origin", app.url(""))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let home = r.headers()["location"].to_str().unwrap().to_string();
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let mut console = Console {
            client,
            cookie,
            csrf: String::new(),
        };
        // Every signed-in page carries the session's CSRF token (the sign-out form).
        let (_, html) = console.get(app, &home).await;
        console.csrf = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a csrf field")
            .to_string();
        console
    }

    /// `GET path`: status and body.
    pub(crate) async fn get(&self, app: &TestApp, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(app.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// `POST path` with a form from this origin: the status.
    async fn post(&self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> u16 {
        self.post_page(app, path, form).await.0
    }

    /// `POST path` with a form from this origin: the status and the page.
    async fn post_page(&self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let r = self
            .client
            .post(app.url(path))
            .header("cookie", &self.cookie)
            .header("origin", app.url(""))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

/// `GET path` of the API as the admin: the status and the JSON body (null if none).
async fn api_json(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.get(path, &app.admin_token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The SKUs a list page links to, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("href=\"/console/products/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|s| *s != "new")
        .map(str::to_string)
        .collect()
}

fn product(sku: &str, title: &str, gtin: Option<&str>) -> Value {
    let mut p = json!({"sku": sku, "status": "active", "title": {"en": title}});
    if let Some(g) = gtin {
        p["gtin"] = g.into();
    }
    p
}

#[actix_web::test]
async fn products_are_found_by_sku_prefix_gtin_and_title_words_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let mut lines = String::new();
    for i in 0..55 {
        let title = if i % 2 == 0 { "Blue mug" } else { "Red mug" };
        lines.push_str(&product(&format!("MUG-{i:03}"), title, None).to_string());
        lines.push('\n');
    }
    lines.push_str(&product("PLATE-1", "Blue plate", Some("4006381333931")).to_string());
    let r = app.batch("application/x-ndjson", lines).await;
    assert_eq!(r.status(), 200);
    let c = Console::sign_in(&app, &app.admin_token).await;

    // SKU prefix, a page of 50 and the next page.
    let (s, html) = c.get(&app, "/console/products?by=sku&q=MUG-").await;
    assert_eq!(s, 200);
    let first = listed(&html);
    assert_eq!(first.len(), 50, "{first:?}");
    assert_eq!(first[0], "MUG-000");
    assert!(!first.contains(&"PLATE-1".to_string()));
    let next = html
        .split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a next page")
        .replace("&amp;", "&");
    let (_, html) = c.get(&app, &next).await;
    assert_eq!(
        listed(&html),
        ["MUG-050", "MUG-051", "MUG-052", "MUG-053", "MUG-054"]
    );
    assert!(!html.contains("rel=\"next\""));

    // GTIN, as written with 13 digits (stored with 14).
    let (_, html) = c
        .get(&app, "/console/products?by=gtin&q=4006381333931")
        .await;
    assert_eq!(listed(&html), ["PLATE-1"]);
    let (s, html) = c.get(&app, "/console/products?by=gtin&q=123").await;
    assert_eq!(s, 200);
    assert!(html.contains("not a GTIN"), "{html}");

    // Title words: every word must match, any case.
    let (_, html) = c.get(&app, "/console/products?by=title&q=BLUE").await;
    assert_eq!(listed(&html).len(), 29);
    let (_, html) = c.get(&app, "/console/products?by=title&q=blue+plate").await;
    assert_eq!(listed(&html), ["PLATE-1"]);

    // The index follows every write: a renamed product is found by its new words only, a
    // deleted one no more.
    let r = app
        .put_product(&product("PLATE-1", "Green dish", None))
        .await;
    assert_eq!(r.status(), 200);
    let (_, html) = c.get(&app, "/console/products?by=title&q=plate").await;
    assert!(listed(&html).is_empty());
    let (_, html) = c
        .get(&app, "/console/products?by=gtin&q=4006381333931")
        .await;
    assert!(listed(&html).is_empty());
    let (_, html) = c.get(&app, "/console/products?by=title&q=green+dish").await;
    assert_eq!(listed(&html), ["PLATE-1"]);
    assert_eq!(app.delete("/v1/products/PLATE-1").await.status(), 204);
    let (_, html) = c.get(&app, "/console/products?by=title&q=green").await;
    assert!(listed(&html).is_empty());

    // Only the words that change are written: a batch renaming a product twice leaves the
    // words of its last version, the word it kept included, and none of the one between; an
    // edit that leaves the title alone keeps its words.
    let twice = format!(
        "{}\n{}\n",
        product("MUG-000", "Green mug", None),
        product("MUG-000", "Yellow mug", None)
    );
    assert_eq!(app.batch("application/x-ndjson", twice).await.status(), 200);
    let (_, html) = c.get(&app, "/console/products?by=title&q=yellow+mug").await;
    assert_eq!(listed(&html), ["MUG-000"]);
    let (_, html) = c.get(&app, "/console/products?by=title&q=green").await;
    assert!(listed(&html).is_empty());
    let (_, html) = c.get(&app, "/console/products?by=title&q=blue").await;
    assert_eq!(listed(&html).len(), 27);
    let mut discontinued = product("MUG-001", "Red mug", None);
    discontinued["status"] = "discontinued".into();
    assert_eq!(app.put_product(&discontinued).await.status(), 200);
    let (_, html) = c.get(&app, "/console/products?by=title&q=red+mug").await;
    assert_eq!(listed(&html).len(), 27);
    assert_eq!(listed(&html)[0], "MUG-001");
    // A new GTIN under the same title changes the words too, and a second one replaces it.
    for (gtin, gone) in [
        ("5901234123457", None),
        ("4006381333948", Some("5901234123457")),
    ] {
        let r = app
            .put_product(&product("MUG-002", "Blue mug", Some(gtin)))
            .await;
        assert_eq!(r.status(), 200);
        let (_, html) = c
            .get(&app, &format!("/console/products?by=gtin&q={gtin}"))
            .await;
        assert_eq!(listed(&html), ["MUG-002"], "{gtin}");
        if let Some(gone) = gone {
            let (_, html) = c
                .get(&app, &format!("/console/products?by=gtin&q={gone}"))
                .await;
            assert!(listed(&html).is_empty(), "{gone}");
        }
    }
    app.stop().await;
}

/// Every SKU a title search lists, following its pages.
async fn searched(c: &Console, app: &TestApp, words: &str) -> Vec<String> {
    let mut path = format!("/console/products?by=title&q={}", words.replace(' ', "+"));
    let mut all = Vec::new();
    loop {
        let (status, html) = c.get(app, &path).await;
        assert_eq!(status, 200, "{path}");
        all.extend(listed(&html));
        match html
            .split("rel=\"next\" href=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        {
            Some(next) => path = next.replace("&amp;", "&"),
            None => return all,
        }
    }
}

#[actix_web::test]
async fn a_search_for_several_words_finds_exactly_the_products_that_have_them_all() {
    let app = TestApp::spawn().await;
    // 2,400 products: "common" in every title, "left" in the first half of the SKUs and
    // "right" in the second, "rare" in one of 97, "pair" in runs of three every 200: long
    // lists, lists far apart in SKU order, and matches sparse in both.
    let mut lines = String::new();
    let mut titles = Vec::new();
    for i in 0..2400 {
        let sku = format!("{}-{i:04}", if i < 1200 { "A" } else { "B" });
        let mut title = format!("Common {}", if i < 1200 { "left" } else { "right" });
        if i % 97 == 0 {
            title.push_str(" rare");
        }
        if i % 200 < 3 {
            title.push_str(" pair");
        }
        lines.push_str(&product(&sku, &title, None).to_string());
        lines.push('\n');
        titles.push((sku, title.to_lowercase()));
    }
    assert_eq!(app.batch("application/x-ndjson", lines).await.status(), 200);
    let c = Console::sign_in(&app, &app.admin_token).await;
    for words in [
        "common left",
        "right common",
        "common rare",
        "rare common",
        "left rare",
        "rare right pair",
        "pair rare",
        "left right",
        "common nothing",
        // A word typed twice counts once.
        "rare common rare",
    ] {
        let expected: Vec<String> = titles
            .iter()
            .filter(|(_, t)| words.split(' ').all(|w| t.split(' ').any(|tw| tw == w)))
            .map(|(sku, _)| sku.clone())
            .collect();
        assert_eq!(searched(&c, &app, words).await, expected, "{words}");
    }
    // Each different word is a read of the index per round: nine are refused, at the field.
    let (status, html) = c
        .get(&app, "/console/products?by=title&q=a+b+c+d+e+f+g+h+i")
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("at most 8 different words"), "{html}");
    assert!(listed(&html).is_empty());
    let (_, html) = c
        .get(&app, "/console/products?by=title&q=common+common+common+common+common+common+common+common+common+rare")
        .await;
    assert_eq!(listed(&html).len(), 25);
    app.stop().await;
}

#[actix_web::test]
async fn only_editors_and_admins_reach_products_and_forms_need_the_csrf_token() {
    let app = TestApp::spawn().await;
    assert_eq!(app.put_product(&drill("DRL-1")).await.status(), 201);
    let reseller = setup(&app, "fr-web", &fr_resellers(), "acme-fr").await;
    let c = Console::sign_in(&app, &reseller).await;
    for path in [
        "/console/products",
        "/console/products/DRL-1",
        "/console/products/new",
        // Its own channel's item too: the vendor console is not the portal.
        "/console/products/DRL-1/feeds/fr-web/json",
    ] {
        assert_eq!(c.get(&app, path).await.0, 403, "{path}");
    }
    let editor = app.token("editor", "catalog team").await;
    let c = Console::sign_in(&app, &editor).await;
    assert_eq!(c.get(&app, "/console/products/DRL-1").await.0, 200);
    assert_eq!(c.get(&app, "/console/products/NOPE").await.0, 404);

    // Delete: a confirmation page first; the post needs the session's CSRF token.
    let (s, html) = c.get(&app, "/console/products/DRL-1/delete").await;
    assert_eq!(s, 200);
    assert!(html.contains("Delete product"), "{html}");
    let path = "/console/products/DRL-1/delete";
    assert_eq!(c.post(&app, path, &[("csrf", "forged")]).await, 403);
    assert_eq!(c.post(&app, path, &[]).await, 403);
    assert_eq!(
        api_json(&app, "/v1/products/DRL-1").await.0,
        200,
        "still there"
    );
    assert_eq!(c.post(&app, path, &[("csrf", &c.csrf)]).await, 303);
    assert_eq!(api_json(&app, "/v1/products/DRL-1").await.0, 404, "deleted");
    let history = api_json(&app, "/v1/products/DRL-1/history").await.1;
    assert_eq!(history["entries"][1]["by"], "catalog team");

    // Create through the form.
    let form = [
        ("csrf", c.csrf.as_str()),
        ("sku", "NEW-1"),
        ("status", "draft"),
        ("title.en", "A new thing"),
        ("gtin", ""),
        ("brand", "Acme"),
        ("category", ""),
    ];
    assert_eq!(c.post(&app, "/console/products/new", &form).await, 303);
    // The same SKU again: refused at its field.
    let (s, html) = c.post_page(&app, "/console/products/new", &form).await;
    assert_eq!(s, 422);
    assert!(html.contains("id=\"f-sku-error\""), "{html}");
    let body = api_json(&app, "/v1/products/NEW-1").await.1;
    assert_eq!(
        body,
        json!({"sku": "NEW-1", "status": "draft", "brand": "Acme", "title": {"en": "A new thing"}})
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_product_edit_shows_each_validation_error_at_its_field() {
    let app = TestApp::spawn().await;
    setup(&app, "fr-web", &fr_resellers(), "acme-fr").await;
    assert_eq!(app.put_product(&drill("DRL-1")).await.status(), 201);
    app.drain().await;
    let browser = Browser::start().await;
    browser.sign_in(&app.address, &app.admin_token).await;
    browser.goto(&app.url("/console/products/DRL-1")).await;
    // What the channel publishes for it, per profile.
    let channels = browser.text("section[aria-labelledby=channels]").await;
    assert!(channels.contains("fr-web"), "{channels}");
    assert!(channels.contains("Profile"), "{channels}");
    assert!(
        browser.source().await.contains("Perceuse 18 V"),
        "the projected record"
    );

    browser.fill("#f-gtin", "3700123456781").await;
    browser
        .click("form[action=\"/console/products/DRL-1\"] button[type=submit]")
        .await;
    let gtin_error = browser.text("#f-gtin-error").await;
    assert!(gtin_error.contains("check digit"), "{gtin_error}");
    let gtin = browser.element("#f-gtin").await;
    let invalid = browser
        .run("return document.querySelector('#f-gtin').getAttribute('aria-invalid');")
        .await;
    assert_eq!(invalid, "true", "{gtin}");
    assert!(browser.text("[role=alert]").await.contains("problem"));
    // The typed value stays in the form; nothing was stored.
    let value = browser
        .run("return document.querySelector('#f-gtin').value;")
        .await;
    assert_eq!(value, "3700123456781");
    let stored = api_json(&app, "/v1/products/DRL-1").await.1;
    assert_eq!(stored["gtin"], "03700123456780");

    // Fixed, it is saved, with the history naming the field.
    browser.fill("#f-gtin", "4006381333931").await;
    browser
        .click("form[action=\"/console/products/DRL-1\"] button[type=submit]")
        .await;
    assert_eq!(browser.path().await, "/console/products/DRL-1?notice=saved");
    let history = browser.text("section[aria-labelledby=history]").await;
    assert!(history.contains("gtin"), "{history}");
    let stored = api_json(&app, "/v1/products/DRL-1").await.1;
    assert_eq!(stored["gtin"], "04006381333931");
    drop(browser);
    app.stop().await;
}

#[actix_web::test]
async fn a_product_titled_as_markup_shows_as_text_on_the_list_and_its_page() {
    let app = TestApp::spawn().await;
    let evil = "<img src=x onerror=alert(1)>";
    assert_eq!(
        app.put_product(&product("XSS-1", evil, None))
            .await
            .status(),
        201
    );
    let browser = Browser::start().await;
    browser.sign_in(&app.address, &app.admin_token).await;
    for path in [
        "/console/products?by=title&q=img+onerror",
        "/console/products?by=sku&q=XSS",
        "/console/products/XSS-1",
    ] {
        browser.goto(&app.url(path)).await;
        assert_eq!(browser.text(".title").await, evil, "{path}");
        let images = browser
            .run("return document.querySelectorAll('main img').length;")
            .await;
        assert_eq!(images, 0, "{path}");
        assert_eq!(browser.alert().await, None, "{path}");
    }
    drop(browser);
    app.stop().await;
}

/// fr-web with the settings the profiles need, one product fit for every profile and one
/// without a GTIN; the generator has run.
async fn channel_with_a_gap(app: &TestApp) -> String {
    let def = crate::profiles::channel();
    let token = setup(app, "fr-web", &def, "acme-fr").await;
    assert_eq!(app.put_product(&drill("DRL-1")).await.status(), 201);
    let mut no_gtin = drill("DRL-2");
    no_gtin.as_object_mut().unwrap().remove("gtin");
    assert_eq!(app.put_product(&no_gtin).await.status(), 201);
    app.drain().await;
    token
}

#[actix_web::test]
async fn a_channels_readiness_groups_what_a_profile_leaves_out_by_reason() {
    let app = TestApp::spawn().await;
    channel_with_a_gap(&app).await;
    let browser = Browser::start().await;
    browser.sign_in(&app.address, &app.admin_token).await;
    browser.goto(&app.url("/console/channels")).await;
    browser.click("a[href=\"/console/channels/fr-web\"]").await;
    let facts = browser.text("dl").await;
    assert!(facts.contains("2 live records"), "{facts}");
    assert!(facts.contains("acme-fr"), "{facts}");
    assert!(browser
        .text("section[aria-labelledby=recent]")
        .await
        .contains("DRL-2"));
    browser
        .click("a[href=\"/console/channels/fr-web/readiness/google-xml\"]")
        .await;
    let summary = browser.text(".summary").await;
    assert!(
        summary.contains("2 live products checked: 1 left out"),
        "{summary}"
    );
    let reason = browser.text(".reason h2").await;
    assert!(reason.starts_with("Left out: gtin"), "{reason}");
    assert_eq!(browser.text(".reason li").await, "DRL-2");
    browser.click(".reason li a").await;
    assert_eq!(browser.path().await, "/console/products/DRL-2");
    let channels = browser.text("section[aria-labelledby=channels]").await;
    assert!(channels.contains("left out"), "{channels}");
    drop(browser);
    app.stop().await;
}

/// The text of a page's `<pre>`, unescaped.
fn pre_text(html: &str) -> String {
    let inner = html
        .split("<pre>")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .expect("a <pre>");
    inner
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[actix_web::test]
async fn a_product_page_shows_its_item_as_each_channel_feed_publishes_it_in_every_format() {
    let app = TestApp::spawn().await;
    let reseller = channel_with_a_gap(&app).await;
    let admin = Console::sign_in(&app, &app.admin_token).await;
    let (status, page) = admin.get(&app, "/console/products/DRL-1").await;
    assert_eq!(status, 200);
    let formats = [
        "json",
        "ndjson",
        "csv",
        "xml",
        "google-xml",
        "google-tsv",
        "bmecat",
        "gdsn-cin",
    ];
    for format in formats {
        let link = format!("/console/products/DRL-1/feeds/fr-web/{format}");
        assert!(page.contains(&format!("href=\"{link}\"")), "{format}");
        let (status, html) = admin.get(&app, &link).await;
        assert_eq!(status, 200, "{format}");
        if format == "gdsn-cin" {
            // GS1 GDSN leaves the drill out (its pallet has no GTIN), and a CIN message
            // without a trade item is no message: the page says why instead.
            assert!(html.contains("the pallet level has no GTIN"), "{html}");
            assert!(html.contains("No document:"), "{html}");
            assert!(!html.contains("<pre>"), "{html}");
            continue;
        }
        let document = pre_text(&html);
        assert!(document.contains("DRL-1"), "{format}: {document}");
        assert!(!document.contains("DRL-2"), "{format}: {document}");
        let full = app
            .get_text(
                &format!("/v1/channels/fr-web/feed?format={format}"),
                &reseller,
            )
            .await;
        match format {
            // The full feed's own item for the product, and its cursor.
            "json" => {
                let (doc, full): (Value, Value) = (
                    serde_json::from_str(&document).unwrap(),
                    serde_json::from_str(&full).unwrap(),
                );
                let item = full["products"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|i| i["sku"] == "DRL-1")
                    .unwrap();
                assert_eq!(doc["products"], json!([item]));
                assert_eq!(doc["cursor"], full["cursor"]);
            }
            // Every line (the header and the row) is the full feed's own.
            "ndjson" | "csv" | "google-tsv" => {
                for line in document.lines() {
                    assert!(full.lines().any(|l| l == line), "{format}: {line}");
                }
            }
            "xml" => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("feed.xml");
                std::fs::write(&path, &document).unwrap();
                crate::helpers::validate_xml(&path, "feeds/partnerfeed-feed.xsd");
            }
            _ => {}
        }
    }
    // A profile that leaves the product out renders the feed without it; the plain formats
    // carry it.
    let (_, html) = admin
        .get(&app, "/console/products/DRL-2/feeds/fr-web/google-xml")
        .await;
    assert!(!pre_text(&html).contains("DRL-2"));
    let (_, html) = admin
        .get(&app, "/console/products/DRL-2/feeds/fr-web/json")
        .await;
    assert!(pre_text(&html).contains("DRL-2"));
    // Unknown formats, channels and products are 404; channels are the admins'.
    for path in [
        "/console/products/DRL-1/feeds/fr-web/yaml",
        "/console/products/DRL-1/feeds/nowhere/json",
        "/console/products/NOPE/feeds/fr-web/json",
    ] {
        assert_eq!(admin.get(&app, path).await.0, 404, "{path}");
    }
    let editor = app.token("editor", "catalog-team").await;
    let editor = Console::sign_in(&app, &editor).await;
    assert_eq!(
        editor
            .get(&app, "/console/products/DRL-1/feeds/fr-web/json")
            .await
            .0,
        403
    );
    app.stop().await;
}

#[actix_web::test]
async fn channels_are_the_admins_and_a_definition_is_edited_with_its_errors_shown() {
    let app = TestApp::spawn().await;
    let reseller = channel_with_a_gap(&app).await;
    let editor = app.token("editor", "catalog team").await;
    let c = Console::sign_in(&app, &editor).await;
    for path in [
        "/console/channels",
        "/console/channels/fr-web",
        "/console/channels/fr-web/readiness/google-xml",
    ] {
        assert_eq!(c.get(&app, path).await.0, 403, "{path}");
    }
    let form = [("csrf", c.csrf.as_str()), ("definition", "{}")];
    assert_eq!(c.post(&app, "/console/channels/fr-web", &form).await, 403);
    let (_, html) = c.get(&app, "/console/products/DRL-1").await;
    assert!(html.contains("Channels are shown to admins"));
    assert!(
        !html.contains("/console/channels"),
        "no link to admin pages"
    );
    let c = Console::sign_in(&app, &reseller).await;
    assert_eq!(c.get(&app, "/console/channels/fr-web").await.0, 403);

    let c = Console::sign_in(&app, &app.admin_token).await;
    assert_eq!(c.get(&app, "/console/channels/nope").await.0, 404);
    let (s, html) = c.get(&app, "/console/channels/fr-web").await;
    assert_eq!(s, 200);
    assert!(html.contains("French reseller network"));
    // The chart: today's bar counts the two products published.
    let chart = html
        .split("<svg")
        .nth(1)
        .expect("a chart")
        .split("</svg>")
        .next()
        .unwrap();
    let today = partnerfeed::clock::Clock::now(app.clock.as_ref())
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        chart.contains(&format!("<title>{today}: 2 changes</title>")),
        "{chart}"
    );
    assert_eq!(chart.matches("<rect").count(), 30);
    // Invalid: each problem at the definition's field, naming its member; nothing stored.
    let mut def = fr_resellers();
    def["currency"] = "euros".into();
    let text = def.to_string();
    let form = [("csrf", c.csrf.as_str()), ("definition", text.as_str())];
    let (s, html) = c.post_page(&app, "/console/channels/fr-web", &form).await;
    assert_eq!(s, 422);
    let error = html
        .split("id=\"f-definition-error\">")
        .nth(1)
        .expect("the field's error");
    assert!(error.starts_with("/currency: "), "{error}");
    let (_, stored) = api_json(&app, "/v1/channels/fr-web").await;
    assert_eq!(stored["currency"], "EUR");
    let form = [("csrf", c.csrf.as_str()), ("definition", "{not json")];
    assert_eq!(c.post(&app, "/console/channels/fr-web", &form).await, 422);
    // Valid: stored through the API's rule.
    def["currency"] = "EUR".into();
    def["name"] = "Réseau France".into();
    let text = def.to_string();
    let form = [("csrf", c.csrf.as_str()), ("definition", text.as_str())];
    assert_eq!(c.post(&app, "/console/channels/fr-web", &form).await, 303);
    let (_, stored) = api_json(&app, "/v1/channels/fr-web").await;
    assert_eq!(stored["name"], "Réseau France");
    app.stop().await;
}

/// The text of the first `<code class="token">` of a page.
fn secret_of(html: &str) -> Option<String> {
    html.split("<code class=\"token\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .map(str::to_string)
}

#[actix_web::test]
async fn an_admin_creates_a_reseller_grants_and_withdraws_and_issues_and_revokes_tokens() {
    let app = TestApp::spawn().await;
    channel_with_a_gap(&app).await;
    let editor = app.token("editor", "catalog team").await;
    let c = Console::sign_in(&app, &editor).await;
    assert_eq!(c.get(&app, "/console/resellers").await.0, 403);
    assert_eq!(c.get(&app, "/console/resellers/acme-fr").await.0, 403);
    let form = [
        ("csrf", c.csrf.as_str()),
        ("code", "x"),
        ("name", "X"),
        ("email", "it@x.example"),
    ];
    assert_eq!(c.post(&app, "/console/resellers", &form).await, 403);
    assert_eq!(api_json(&app, "/v1/resellers/x").await.0, 404);

    let c = Console::sign_in(&app, &app.admin_token).await;
    let bad = [
        ("csrf", c.csrf.as_str()),
        ("code", "shop-7"),
        ("name", "Shop 7"),
        ("email", "not-mail"),
    ];
    let (s, html) = c.post_page(&app, "/console/resellers", &bad).await;
    assert_eq!(s, 422);
    assert!(html.contains("id=\"f-email-error\""), "{html}");
    let taken = [
        ("csrf", c.csrf.as_str()),
        ("code", "acme-fr"),
        ("name", "A"),
        ("email", "it@a.example"),
    ];
    let (s, html) = c.post_page(&app, "/console/resellers", &taken).await;
    assert_eq!(s, 422);
    assert!(html.contains("id=\"f-code-error\""), "{html}");
    let good = [
        ("csrf", c.csrf.as_str()),
        ("code", "shop-7"),
        ("name", "Shop 7"),
        ("email", "it@shop7.example"),
    ];
    assert_eq!(c.post(&app, "/console/resellers", &good).await, 303);

    // Grant, then withdraw after a confirmation that says what it ends.
    let grant = [("csrf", c.csrf.as_str()), ("channel", "fr-web")];
    assert_eq!(
        c.post(&app, "/console/resellers/shop-7/grant", &grant)
            .await,
        303
    );
    assert_eq!(
        api_json(&app, "/v1/resellers/shop-7").await.1["channels"],
        json!(["fr-web"])
    );
    let (s, html) = c
        .get(&app, "/console/resellers/shop-7/withdraw/fr-web")
        .await;
    assert_eq!(s, 200);
    assert!(
        html.contains("ends every subscription of shop-7 on fr-web"),
        "{html}"
    );

    // A token: its secret shown once, working at once; revoked, refused at once.
    let form = [("csrf", c.csrf.as_str()), ("name", "shop 7 sync")];
    let (s, html) = c
        .post_page(&app, "/console/resellers/shop-7/tokens", &form)
        .await;
    assert_eq!(s, 200);
    let secret = secret_of(&html).expect("the secret, once");
    assert!(secret.starts_with("pf_"), "{secret}");
    let r = app
        .get("/v1/channels/fr-web", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, html) = c.get(&app, "/console/resellers/shop-7").await;
    assert!(
        secret_of(&html).is_none() && !html.contains(&secret),
        "not shown again"
    );
    assert!(html.contains("shop 7 sync"));
    let id = html
        .split("/tokens/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_string();
    assert!(id.starts_with("tok_"), "{id}");

    let withdraw = [("csrf", c.csrf.as_str())];
    assert_eq!(
        c.post(&app, "/console/resellers/shop-7/withdraw/fr-web", &withdraw)
            .await,
        303
    );
    assert_eq!(
        api_json(&app, "/v1/resellers/shop-7").await.1["channels"],
        json!([])
    );
    let r = app
        .get("/v1/channels/fr-web", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "no longer granted");

    let path = format!("/console/resellers/shop-7/tokens/{id}/revoke");
    assert_eq!(c.post(&app, &path, &[("csrf", "forged")]).await, 403);
    assert_eq!(c.post(&app, &path, &[("csrf", c.csrf.as_str())]).await, 303);
    let r = app.get("/v1/channels", &secret).send().await.unwrap();
    assert_eq!(r.status(), 401, "revoked");
    app.stop().await;
}

#[actix_web::test]
async fn the_dashboard_shows_the_catalog_the_channels_troubled_subscriptions_and_mails() {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn_with(crate::helpers::Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let reseller = setup(&app, "fr-web", &fr_resellers(), "acme-fr").await;
    assert_eq!(app.put_product(&drill("DRL-1")).await.status(), 201);
    let r = app
        .post_json(
            "/v1/channels/fr-web/subscriptions",
            &reseller,
            &json!({"email": "it@acme-fr.example", "every": "daily"}),
        )
        .send()
        .await
        .unwrap();
    let status = r.status();
    let sub: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{sub}");
    let id = sub["id"].as_str().unwrap().to_string();
    // As the delivery loop leaves a receiver that keeps failing (no job runs here).
    {
        let db = app.db.clone();
        let mut conn = db.write_conn().unwrap();
        diesel::sql_query(
            "UPDATE subscriptions SET failures = 7, enabled = false, disabled_reason = 'failing'",
        )
        .execute(&mut *conn)
        .unwrap();
    }
    let outbox = app.data_dir().join("outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    std::fs::write(
        outbox.join("20270101T000000.000000Z-abcd1234.eml"),
        "From: pf@example.com\r\nSubject: Your subscription is disabled\r\n\r\nBody\r\n",
    )
    .unwrap();

    let c = Console::sign_in(&app, &app.admin_token).await;
    let (s, html) = c.get(&app, "/console").await;
    assert_eq!(s, 200);
    assert!(html.contains("1 products"), "{html}");
    let backlog = html.split("id=\"backlog\">").nth(1).unwrap();
    assert!(backlog.starts_with('1'), "one change waits: {backlog}");
    assert!(html.contains("href=\"/console/channels/fr-web\""), "{html}");
    let troubled = html
        .split("id=\"troubled\"")
        .nth(1)
        .unwrap()
        .split("</section>")
        .next()
        .unwrap();
    assert!(
        troubled.contains(&id) && troubled.contains("disabled"),
        "{troubled}"
    );
    assert!(troubled.contains("<td>7</td>"), "{troubled}");
    assert!(html.contains("Your subscription is disabled"), "{html}");
    let (s, html) = c.get(&app, "/console/subscriptions").await;
    assert_eq!(s, 200);
    assert!(html.contains(&id) && html.contains("acme-fr"), "{html}");

    // An editor sees the catalog, not channels, subscriptions or mails.
    let editor = app.token("editor", "catalog team").await;
    let c = Console::sign_in(&app, &editor).await;
    let (s, html) = c.get(&app, "/console").await;
    assert_eq!(s, 200);
    assert!(html.contains("1 products"));
    assert!(!html.contains(&id) && !html.contains("Your subscription is disabled"));
    assert_eq!(c.get(&app, "/console/subscriptions").await.0, 403);
    app.stop().await;
}
