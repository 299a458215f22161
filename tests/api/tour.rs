//! A tour of the console's main pages over a small demo catalog, as the admin and as a
//! reseller, in a real browser (tests/api/browser.rs): each page answers 200 with its `h1`;
//! the screenshots of docs/console.md are taken on the way (`PARTNERFEED_SCREENSHOTS=1`), and
//! axe-core finds no serious or critical accessibility violation on any of them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::helpers::{Options, TestApp};
use crate::webhooks::{Receiver, Reply};

/// The axe-core release the check runs (fetched with `npm pack`, never committed).
const AXE_VERSION: &str = "4.14.1";

/// Who a page is seen as.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Who {
    Nobody,
    Admin,
    Reseller,
}

/// How the browser reaches a page.
enum Way {
    Goto(String),
    /// Follows the first link matching the selector on the page before.
    Follow(&'static str),
    /// Submits the product form with a GTIN whose check digit is wrong.
    BadGtin(String),
}

struct Stop {
    /// The screenshot's name in docs/console/.
    name: &'static str,
    who: Who,
    way: Way,
    /// How the page's `h1` starts.
    h1: String,
    /// What the screenshot shows when the page is taller than the window: the element
    /// matching this selector, scrolled near the top.
    focus: Option<&'static str>,
}

/// The demo catalog, a reseller's webhook with a few attempts, and the pages to visit.
struct Tour {
    app: TestApp,
    reseller_token: String,
    stops: Vec<Stop>,
    _receiver: Receiver,
}

impl Tour {
    async fn new() -> Tour {
        let options = Options {
            webhook_allow: Some("127.0.0.0/8".into()),
            ..Default::default()
        };
        let mut tokens = Vec::new();
        let app = TestApp::spawn_prepared(options, |db| {
            tokens = partnerfeed::demo::load::load(db, 120)
                .unwrap()
                .reseller_tokens;
        });
        // The demo is stamped with the wall clock: the test clock agrees, so that the charts
        // and the dates shown tell one story.
        app.clock.set(chrono::Utc::now());
        app.settle().await;
        let (_, token) = tokens
            .iter()
            .find(|(code, _)| code == "shop-42")
            .expect("the demo reseller shop-42")
            .clone();

        // A webhook with a delivered, a failed and another delivered test event.
        let receiver = Receiver::start(vec![Reply::Status(204), Reply::Status(503)]).await;
        let r = app
            .post_json(
                "/v1/channels/fr-resellers/subscriptions",
                &token,
                &json!({"url": receiver.url, "format": "json"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let created: Value = r.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        for _ in 0..3 {
            let r = app
                .post_json(&format!("/v1/subscriptions/{id}/test"), &token, &json!({}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }

        let first = partnerfeed::demo::products(1).next().unwrap();
        let sku = first["sku"].as_str().unwrap().to_string();
        let word = first["title"]["en"]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_lowercase();
        let goto = |p: &str| Way::Goto(p.to_string());
        let stop = |name, who, way, h1: &str| Stop {
            name,
            who,
            way,
            h1: h1.to_string(),
            focus: None,
        };
        let stops = vec![
            stop("sign-in", Who::Nobody, goto("/sign-in"), "Sign in"),
            stop("dashboard", Who::Admin, goto("/console"), "Vendor console"),
            stop(
                "products-search",
                Who::Admin,
                Way::Goto(format!("/console/products?by=title&q={word}")),
                "Products",
            ),
            stop(
                "product",
                Who::Admin,
                Way::Goto(format!("/console/products/{sku}")),
                &format!("Product {sku}"),
            ),
            Stop {
                focus: Some("label[for=f-gtin]"),
                ..stop(
                    "product-edit-error",
                    Who::Admin,
                    Way::BadGtin(sku.clone()),
                    &format!("Product {sku}"),
                )
            },
            // The product's item as a channel's XML feed carries it.
            stop(
                "product-feed",
                Who::Admin,
                Way::Follow("a[href*=\"/feeds/\"][href$=\"/xml\"]"),
                &format!("Product {sku} in channel"),
            ),
            stop(
                "channel",
                Who::Admin,
                goto("/console/channels/fr-resellers"),
                "Channel fr-resellers",
            ),
            stop(
                "channel-readiness",
                Who::Admin,
                Way::Follow("a[href^=\"/console/channels/fr-resellers/readiness/\"]"),
                "Readiness of fr-resellers",
            ),
            stop(
                "resellers",
                Who::Admin,
                goto("/console/resellers"),
                "Resellers",
            ),
            stop(
                "subscriptions",
                Who::Admin,
                goto("/console/subscriptions"),
                "Subscriptions",
            ),
            stop(
                "portal-channels",
                Who::Reseller,
                goto("/portal/channels"),
                "My channels",
            ),
            stop(
                "portal-subscriptions",
                Who::Reseller,
                goto("/portal/subscriptions"),
                "My subscriptions",
            ),
            Stop {
                focus: Some("svg#outcomes"),
                ..stop(
                    "portal-subscription",
                    Who::Reseller,
                    Way::Goto(format!("/portal/subscriptions/{id}")),
                    &format!("Subscription {id}"),
                )
            },
        ];
        Tour {
            app,
            reseller_token: token,
            stops,
            _receiver: receiver,
        }
    }

    /// Brings `browser` (seen as `current`) to `stop`, signing in or out as needed, and
    /// checks the page: 200 (422 for the refused edit, its error at the GTIN field) and its `h1`.
    async fn arrive(&self, browser: &Browser, current: &mut Who, stop: &Stop) {
        if *current != stop.who {
            if *current != Who::Nobody {
                browser.click("form[action=\"/sign-out\"] button").await;
            }
            match stop.who {
                Who::Nobody => {}
                Who::Admin => {
                    browser
                        .sign_in(&self.app.address, &self.app.admin_token)
                        .await
                }
                Who::Reseller => {
                    browser
                        .sign_in(&self.app.address, &self.reseller_token)
                        .await
                }
            }
            *current = stop.who;
        }
        match &stop.way {
            Way::Goto(path) => {
                browser.goto(&self.app.url(path)).await;
                self.expect_ok(browser, path).await;
            }
            Way::Follow(css) => {
                browser.click(css).await;
                let path = browser.path().await;
                self.expect_ok(browser, &path).await;
            }
            Way::BadGtin(sku) => {
                browser
                    .goto(&self.app.url(&format!("/console/products/{sku}")))
                    .await;
                browser.fill("#f-gtin", "3700123456781").await;
                browser
                    .click(&format!(
                        "form[action=\"/console/products/{sku}\"] button[type=submit]"
                    ))
                    .await;
                let error = browser.text("#f-gtin-error").await;
                assert!(error.contains("check digit"), "{}: {error}", stop.name);
            }
        }
        let h1 = browser.text("h1").await;
        assert!(
            h1.starts_with(&stop.h1),
            "{}: the h1 is {h1:?}, not {:?}",
            stop.name,
            stop.h1
        );
    }

    /// `GET path` with the browser's session (if any) answers 200.
    async fn expect_ok(&self, browser: &Browser, path: &str) {
        let mut req = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(self.app.url(path));
        if let Some(cookie) = browser.cookie("pf_session").await {
            let id = cookie["value"].as_str().unwrap_or_default();
            req = req.header("cookie", format!("pf_session={id}"));
        }
        let status = req.send().await.unwrap().status();
        assert_eq!(status, 200, "GET {path}");
    }
}

/// Where the screenshots go: docs/console/ when `PARTNERFEED_SCREENSHOTS=1`, else nowhere.
fn screenshot_dir() -> Option<PathBuf> {
    (std::env::var("PARTNERFEED_SCREENSHOTS").as_deref() == Ok("1"))
        .then(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console"))
}

#[actix_web::test]
async fn the_main_pages_render_for_the_admin_and_a_reseller_with_screenshots_on_demand() {
    let tour = Tour::new().await;
    let dir = screenshot_dir();
    if let Some(dir) = &dir {
        std::fs::create_dir_all(dir).unwrap();
    }
    let browser = Browser::start().await;
    browser.resize(1280, 800).await;
    let mut who = Who::Nobody;
    for stop in &tour.stops {
        tour.arrive(&browser, &mut who, stop).await;
        if let Some(dir) = &dir {
            if let Some(css) = stop.focus {
                browser.element(css).await;
                browser
                    .run(&format!(
                        "document.querySelector('{css}').scrollIntoView({{block: 'start'}}); \
                         window.scrollBy(0, -120);"
                    ))
                    .await;
            }
            let png = browser.screenshot().await;
            assert!(png.starts_with(b"\x89PNG"), "{}: not a PNG", stop.name);
            std::fs::write(dir.join(format!("{}.png", stop.name)), png).unwrap();
        }
    }
    drop(browser);
    tour.app.stop().await;
}

/// axe-core's `axe.min.js`: from `node_modules` when present, else from the cache under
/// `target/`, filled with `npm pack axe-core@AXE_VERSION` when absent.
fn axe_source() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let installed = root.join("node_modules/axe-core/axe.min.js");
    if installed.exists() {
        return std::fs::read_to_string(installed).unwrap();
    }
    let cache = root.join(format!("target/axe-core-{AXE_VERSION}"));
    let script = cache.join("package/axe.min.js");
    if !script.exists() {
        std::fs::create_dir_all(&cache).unwrap();
        let packed = Command::new("npm")
            .args(["pack", &format!("axe-core@{AXE_VERSION}"), "--silent"])
            .current_dir(&cache)
            .output()
            .unwrap_or_else(|e| panic!("the accessibility check needs npm (Node.js): {e}"));
        assert!(
            packed.status.success(),
            "npm pack axe-core@{AXE_VERSION} failed: {}",
            String::from_utf8_lossy(&packed.stderr)
        );
        let tarball = format!("axe-core-{AXE_VERSION}.tgz");
        let unpacked = Command::new("tar")
            .args(["xzf", &tarball])
            .current_dir(&cache)
            .status()
            .unwrap();
        assert!(unpacked.success(), "cannot unpack {tarball}");
    }
    std::fs::read_to_string(script).unwrap()
}

/// Runs axe-core on the page shown; the serious and critical violations, one line each.
async fn serious_violations(browser: &Browser, axe: &str) -> Vec<String> {
    let loaded = browser
        .run(&format!("{axe}\n;return typeof window.axe;"))
        .await;
    assert_eq!(loaded, "object", "axe-core did not load in the page");
    let found = browser
        .run_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']})
               .then(r => done(r.violations))
               .catch(e => done({error: String(e)}));",
        )
        .await;
    assert!(found.get("error").is_none(), "axe-core failed: {found}");
    found
        .as_array()
        .expect("axe-core's violations")
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| {
            let targets: Vec<String> = v["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| n["target"].to_string())
                .collect();
            format!(
                "{} ({}): {} at {}",
                v["id"].as_str().unwrap_or_default(),
                v["impact"].as_str().unwrap_or_default(),
                v["help"].as_str().unwrap_or_default(),
                targets.join(", ")
            )
        })
        .collect()
}

#[actix_web::test]
async fn axe_core_finds_no_serious_accessibility_violation_on_the_main_pages() {
    let axe = axe_source();
    let tour = Tour::new().await;
    let browser = Browser::start().await;
    browser.resize(1280, 800).await;
    let mut who = Who::Nobody;
    let mut problems = Vec::new();
    for stop in &tour.stops {
        tour.arrive(&browser, &mut who, stop).await;
        for v in serious_violations(&browser, &axe).await {
            problems.push(format!("{} ({}): {v}", stop.name, browser.path().await));
        }
    }
    assert!(
        problems.is_empty(),
        "axe-core {AXE_VERSION}: serious or critical violations:\n{}",
        problems.join("\n")
    );
    drop(browser);
    tour.app.stop().await;
}
