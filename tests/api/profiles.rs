//! Feed profiles over HTTP: Google Merchant (snapshot only), BMEcat and GS1 GDSN documents valid
//! against the published XSDs, and the feed report.

use serde_json::{json, Value};

use crate::channels::{fr_resellers, setup};
use crate::helpers::{drill, Options, TestApp};

const BMECAT_XSD: &str = "../shared/schemas/bmecat-2005/bmecat_2005.xsd";
const GDSN_XSD: &str = "../shared/schemas/gdsn-3.1/gs1/gdsn/CatalogueItemNotification.xsd";

/// fr-resellers with the settings the profiles need, as the demo channels carry them.
pub fn channel() -> Value {
    let mut def = fr_resellers();
    def["settings"] = json!({
        "link_template": "https://shop.example.com/p/{sku}",
        "sender_gln": "3700122000014",
        "receiver_gln": "3760000000109",
        "target_market": "250",
        "gpc_category_code": "10005706"
    });
    def
}

async fn started() -> (TestApp, String) {
    let app = TestApp::spawn_with(Options {
        jobs: false,
        ..Default::default()
    })
    .await;
    let token = setup(&app, "fr-resellers", &channel(), "shop-42").await;
    assert_eq!(app.put_product(&drill("DRL-1001")).await.status(), 201);
    let mut no_gtin = drill("DRL-2002");
    no_gtin.as_object_mut().unwrap().remove("gtin");
    assert_eq!(app.put_product(&no_gtin).await.status(), 201);
    app.settle().await;
    (app, token)
}

fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file
}

#[actix_web::test]
async fn google_tsv_is_a_snapshot_with_the_right_columns_and_no_changes() {
    let (app, token) = started().await;
    let r = app
        .get("/v1/channels/fr-resellers/feed?format=google-tsv", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/tab-separated-values"));
    let body = r.text().await.unwrap();
    let mut lines = body.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(&header[..4], ["id", "title", "description", "link"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    // DRL-2002 has no GTIN: it is in the report, not in the feed.
    assert_eq!(rows.len(), 1, "{body}");
    let cell = |name: &str| rows[0][header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(cell("id"), "DRL-1001");
    assert_eq!(cell("price"), "79.80 EUR");
    assert_eq!(cell("link"), "https://shop.example.com/p/DRL-1001");
    assert_eq!(cell("product_length"), "32.5 cm");
    assert_eq!(cell("shipping_weight"), "1.9 kg");

    let r = app
        .get(
            "/v1/channels/fr-resellers/changes?format=google-tsv",
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(
        problem["feed"],
        "/v1/channels/fr-resellers/feed?format=google-tsv"
    );

    let r = app
        .get("/v1/channels/fr-resellers/feed?format=google-xml", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rss = r.text().await.unwrap();
    assert!(rss.contains("<g:id>DRL-1001</g:id>") && !rss.contains("DRL-2002"));
    app.stop().await;
}

#[actix_web::test]
async fn the_feed_report_names_what_a_profile_leaves_out() {
    let (app, token) = started().await;
    let r = app
        .get(
            "/v1/channels/fr-resellers/feed/report?format=google-xml",
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["checked"], 2);
    assert_eq!(report["excluded"], 1);
    let products = report["products"].as_array().unwrap();
    let missing = products.iter().find(|p| p["sku"] == "DRL-2002").unwrap();
    assert_eq!(missing["excluded"], true);
    assert!(missing["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["field"] == "gtin" && p["severity"] == "error"));

    let r = app
        .get("/v1/channels/fr-resellers/feed/report?format=json", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    app.stop().await;
}

#[actix_web::test]
async fn an_edit_comes_out_as_a_valid_bmecat_update() {
    let (app, token) = started().await;
    let r = app
        .get("/v1/channels/fr-resellers/feed?format=bmecat", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cursor = r.headers()["feed-cursor"].to_str().unwrap().to_string();
    let feed = r.bytes().await.unwrap();
    crate::helpers::validate_xml(write_temp(&feed).path(), BMECAT_XSD);
    let feed = String::from_utf8(feed.to_vec()).unwrap();
    assert!(feed.contains("<T_NEW_CATALOG>") && feed.contains("DRL-2002"));
    // The feed says which channel seq it is at; the next update names it as prev_version.
    let seq = feed
        .split("; seq ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();

    // Nothing changed yet: no T_UPDATE_PRODUCTS can be empty, so no document.
    let r = app
        .get(
            &format!("/v1/channels/fr-resellers/changes?format=bmecat&since={cursor}"),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["changes-next"].to_str().unwrap(), cursor);

    let mut edited = drill("DRL-1001");
    edited["title"]["fr"] = json!("Perceuse 18 V brushless");
    assert_eq!(app.put_product(&edited).await.status(), 200);
    let r = app.delete("/v1/products/DRL-2002").await;
    assert_eq!(r.status(), 204);
    app.settle().await;
    let r = app
        .get(
            &format!("/v1/channels/fr-resellers/changes?format=bmecat&since={cursor}"),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.bytes().await.unwrap();
    crate::helpers::validate_xml(write_temp(&page).path(), BMECAT_XSD);
    let page = String::from_utf8(page.to_vec()).unwrap();
    assert!(
        page.contains(&format!("<T_UPDATE_PRODUCTS prev_version=\"{seq}\">")),
        "{page}"
    );
    assert!(page.contains("<PRODUCT mode=\"update\">"));
    assert!(page.contains("Perceuse 18 V brushless"));
    assert!(page.contains("<PRODUCT mode=\"delete\">"));
    app.stop().await;
}

/// A drill whose three levels each have their own valid GTIN (`n` picks them).
fn gdsn_drill(sku: &str, n: usize) -> Value {
    let [base, case, pallet] = [
        ["3700123456018", "13700123456015", "53700123456013"],
        ["3700123456025", "13700123456022", "53700123456020"],
        ["3700123456032", "13700123456039", "53700123456037"],
    ][n];
    let mut p = drill(sku);
    p["gtin"] = json!(base);
    p["packaging"][1]["gtin"] = json!(case);
    p["packaging"][2]["gtin"] = json!(pallet);
    p
}

fn commands(doc: &str) -> Vec<String> {
    doc.split("<documentCommandHeader type=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or_default().to_owned())
        .collect()
}

#[actix_web::test]
async fn gdsn_feed_and_changes_are_valid_and_leave_out_what_breaks_gs1_rules() {
    let (app, token) = started().await;
    for (sku, n) in [("GDS-1", 0), ("GDS-2", 1), ("GDS-3", 2)] {
        assert_eq!(app.put_product(&gdsn_drill(sku, n)).await.status(), 201);
    }
    // 244 base units are not a whole number of cases of 6: the catalog takes it (quantities
    // grow), GS1 hierarchy arithmetic does not.
    let mut uneven = gdsn_drill("GDS-4", 2);
    uneven["gtin"] = json!("3700123456049");
    uneven["packaging"][1]["gtin"] = json!("13700123456046");
    uneven["packaging"][2]["gtin"] = json!("53700123456044");
    uneven["packaging"][2]["quantity"] = json!(244);
    assert_eq!(app.put_product(&uneven).await.status(), 201);
    app.settle().await;

    let r = app
        .get("/v1/channels/fr-resellers/feed?format=gdsn-cin", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/xml");
    let cursor = r.headers()["feed-cursor"].to_str().unwrap().to_string();
    let feed = r.bytes().await.unwrap();
    crate::helpers::validate_xml(write_temp(&feed).path(), GDSN_XSD);
    let feed = String::from_utf8(feed.to_vec()).unwrap();
    assert_eq!(commands(&feed), ["ADD", "ADD", "ADD"], "{feed}");
    for gtin in ["03700123456018", "13700123456022", "53700123456037"] {
        assert!(feed.contains(&format!("<gtin>{gtin}</gtin>")), "{gtin}");
    }
    // DRL-1001 and DRL-2002 have a pallet without GTIN (and DRL-2002 no GTIN at all); GDS-4's
    // pallet does not hold whole cases.
    assert!(!feed.contains("03700123456780") && !feed.contains("03700123456049"));
    assert!(feed.contains("<sh:Identifier Authority=\"GS1\">3700122000014</sh:Identifier>"));
    assert!(feed.contains("<dataRecipient>3760000000109</dataRecipient>"));

    let report: Value = app
        .get(
            "/v1/channels/fr-resellers/feed/report?format=gdsn-cin",
            &token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["checked"], 6);
    assert_eq!(report["excluded"], 3, "{report}");
    let reasons = |sku: &str| -> Vec<String> {
        report["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["sku"] == sku)
            .unwrap_or_else(|| panic!("{sku} in {report}"))["problems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["severity"] == "error")
            .map(|p| {
                format!(
                    "{}: {}",
                    p["field"].as_str().unwrap(),
                    p["message"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert!(
        reasons("GDS-4")
            .iter()
            .any(|r| r.starts_with("packaging: ") && r.contains("not a whole number")),
        "{report}"
    );
    assert!(reasons("DRL-1001")
        .iter()
        .any(|r| r.contains("the pallet level has no GTIN")));
    assert!(reasons("DRL-2002").iter().any(|r| r.starts_with("gtin: ")));

    // Nothing changed: a CIN needs a transaction, so no document.
    let changes = |since: String| {
        app.get(
            &format!("/v1/channels/fr-resellers/changes?format=gdsn-cin&since={since}"),
            &token,
        )
        .send()
    };
    let r = changes(cursor.clone()).await.unwrap();
    assert_eq!(r.status(), 204);

    // An edit, a deletion, and a product that stops adding up.
    let mut edited = gdsn_drill("GDS-1", 0);
    edited["title"]["fr"] = json!("Perceuse 18 V brushless");
    assert_eq!(app.put_product(&edited).await.status(), 200);
    assert_eq!(app.delete("/v1/products/GDS-2").await.status(), 204);
    let mut broken = gdsn_drill("GDS-3", 2);
    broken["packaging"][2]["quantity"] = json!(250);
    assert_eq!(app.put_product(&broken).await.status(), 200);
    app.settle().await;
    let r = changes(cursor).await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.bytes().await.unwrap();
    crate::helpers::validate_xml(write_temp(&page).path(), GDSN_XSD);
    let page = String::from_utf8(page.to_vec()).unwrap();
    assert_eq!(
        commands(&page),
        ["CHANGE_BY_REFRESH", "DELETE", "DELETE"],
        "{page}"
    );
    assert!(page.contains("Perceuse 18 V brushless"));
    // The deleted product is named by its whole hierarchy, from the last record published.
    for gtin in ["03700123456025", "13700123456022", "53700123456020"] {
        assert!(page.contains(&format!("<gtin>{gtin}</gtin>")), "{gtin}");
    }
    // The one that broke is deleted by its base unit: its hierarchy no longer adds up.
    assert!(page.contains("<gtin>03700123456032</gtin>"));
    assert!(!page.contains("53700123456037"));
    app.stop().await;
}
