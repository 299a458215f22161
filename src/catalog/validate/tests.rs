//! Validation of product JSON: what is accepted, how it is normalised, and every problem reported
//! with its pointer.

use super::*;
use serde_json::json;

fn example() -> Value {
    json!({"sku": "DRL-1001", "gtin": "3700123456780", "status": "active", "brand": "Acme",
     "category": "tools/drills", "title": {"fr": "Perceuse 18 V", "en": "18 V drill"},
     "description": {"fr": "...", "en": "..."}, "attributes": {"voltage": 18, "cordless": true},
     "media": [{"url": "https://cdn.example.com/drl-1001.jpg", "role": "main"}],
     "prices": [{"list": "retail", "currency": "EUR", "amount": "129.90", "min_qty": 1},
                {"list": "reseller", "currency": "EUR", "amount": "84.00", "min_qty": 1},
                {"list": "reseller", "currency": "EUR", "amount": "79.00", "min_qty": 10,
                 "valid_from": "2027-01-01T00:00:00Z"}],
     "dimensions": {"length": "32.5", "width": "9", "height": "24", "unit": "cm"},
     "weight": {"net": "1.45", "gross": "1.9", "unit": "kg"},
     "packaging": [{"level": "each", "quantity": 1, "type": "box"},
                   {"level": "case", "quantity": 6, "gtin": "13700123456787",
                    "dimensions": {"length": "40", "width": "30", "height": "26", "unit": "cm"},
                    "gross_weight": {"value": "12.2", "unit": "kg"}},
                   {"level": "pallet", "quantity": 240}]})
}

fn minimal() -> Value {
    json!({"sku": "A-1", "status": "active", "title": {"en": "Thing"}})
}

/// `minimal()` with `patch` merged in.
fn with(patch: Value) -> Value {
    let mut v = minimal();
    crate::catalog::merge_patch(&mut v, &patch);
    v
}

fn errors(v: &Value) -> Vec<(String, String)> {
    match parse_product(v, None) {
        Ok(p) => panic!("expected errors, got {p:?}"),
        Err(e) => e
            .errors
            .into_iter()
            .map(|e| (e.pointer, e.message))
            .collect(),
    }
}

fn pointers(v: &Value) -> Vec<String> {
    errors(v).into_iter().map(|(p, _)| p).collect()
}

#[test]
fn the_product_md_example_is_valid_and_normalised() {
    let p = parse_product(&example(), None).unwrap();
    assert_eq!(p.sku().as_str(), "DRL-1001");
    assert_eq!(p.gtin.as_ref().unwrap().as_str(), "03700123456780");
    let j = p.to_json();
    assert_eq!(
        j["dimensions"],
        json!({"length": "325", "width": "90", "height": "240", "unit": "mm"})
    );
    assert_eq!(
        j["weight"],
        json!({"net": "1450", "gross": "1900", "unit": "g"})
    );
    assert_eq!(j["prices"][0]["amount"], "129.90");
    assert_eq!(j["prices"][1]["amount"], "84.00");
    assert_eq!(j["prices"][2]["valid_from"], "2027-01-01T00:00:00Z");
    assert_eq!(
        j["packaging"][1]["gross_weight"],
        json!({"value": "12200", "unit": "g"})
    );
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, TOP_LEVEL);
}

#[test]
fn canonical_form_round_trips_unchanged() {
    let p = parse_product(&example(), None).unwrap();
    let canonical = p.to_json();
    let again = parse_product(&canonical, Some("DRL-1001")).unwrap();
    assert_eq!(again, p);
    assert_eq!(again.to_json(), canonical);
    assert_eq!(
        serde_json::to_string(&again.to_json()).unwrap(),
        serde_json::to_string(&canonical).unwrap()
    );
    assert_eq!(again.content_hash(), p.content_hash());
    assert_eq!(p.content_hash().len(), 64);
}

#[test]
fn empty_and_null_optionals_are_omitted_and_min_qty_defaults_to_1() {
    let v = with(json!({"brand": null, "media": [], "attributes": {},
        "prices": [{"list": "retail", "currency": "JPY", "amount": "1500"}]}));
    let j = parse_product(&v, None).unwrap().to_json();
    assert_eq!(
        j,
        json!({"sku": "A-1", "status": "active", "title": {"en": "Thing"},
            "prices": [{"list": "retail", "currency": "JPY", "amount": "1500", "min_qty": 1}]})
    );
}

#[test]
fn several_errors_are_reported_at_once_with_pointers() {
    let v = json!({"sku": "bad sku", "status": "sold", "title": {},
        "colour": "red",
        "prices": [{"list": "retail", "currency": "EUR", "amount": 129.9}],
        "packaging": [{"level": "each", "quantity": 1}, {"level": "case", "quantity": 0},
                      {"level": "pallet", "quantity": 10, "colour": "x"}]});
    let ptrs = pointers(&v);
    for expected in [
        "/colour",
        "/sku",
        "/status",
        "/title",
        "/prices/0/amount",
        "/packaging/1/quantity",
        "/packaging/2/colour",
    ] {
        assert!(
            ptrs.contains(&expected.to_string()),
            "{expected} missing in {ptrs:?}"
        );
    }
    let amount = errors(&v)
        .into_iter()
        .find(|(p, _)| p == "/prices/0/amount")
        .unwrap()
        .1;
    assert_eq!(
        amount,
        "must be a decimal string like \"129.90\", not a JSON number"
    );
}

#[test]
fn top_level_must_be_an_object() {
    assert_eq!(pointers(&json!([1])), [""]);
}

#[test]
fn sku_against_the_path() {
    let mut v = minimal();
    v.as_object_mut().unwrap().remove("sku");
    assert_eq!(pointers(&v), ["/sku"]);
    assert_eq!(
        parse_product(&v, Some("A-1")).unwrap().sku().as_str(),
        "A-1"
    );
    let e = parse_product(&minimal(), Some("B-2")).unwrap_err();
    assert_eq!(e.errors[0].pointer, "/sku");
    assert!(e.errors[0].message.contains("URL"));
    assert!(parse_product(&minimal(), Some("A-1")).is_ok());
}

#[test]
fn gtin_is_verified() {
    assert_eq!(pointers(&with(json!({"gtin": "3700123456781"}))), ["/gtin"]);
    assert_eq!(
        pointers(&with(json!({"gtin": 3700123456780u64}))),
        ["/gtin"]
    );
    let p = parse_product(&with(json!({"gtin": "02345673"})), None).unwrap();
    assert_eq!(p.to_json()["gtin"], "00000002345673");
}

#[test]
fn status_is_required() {
    let mut v = minimal();
    v.as_object_mut().unwrap().remove("status");
    assert_eq!(pointers(&v), ["/status"]);
}

#[test]
fn at_least_one_title() {
    let mut v = minimal();
    v.as_object_mut().unwrap().remove("title");
    assert_eq!(pointers(&v), ["/title"]);
    assert_eq!(pointers(&with(json!({"title": {"en": null}}))), ["/title"]);
    assert_eq!(
        pointers(&with(json!({"title": {"en": " "}}))),
        ["/title/en"]
    );
    assert_eq!(
        pointers(&with(json!({"title": {"english": "x"}}))),
        ["/title/english"]
    );
    assert!(parse_product(&with(json!({"title": {"en-GB": "x"}})), None).is_ok());
    assert_eq!(
        pointers(&with(json!({"description": {"fr": 1}}))),
        ["/description/fr"]
    );
}

#[test]
fn category_paths() {
    assert!(parse_product(&with(json!({"category": "tools/drills"})), None).is_ok());
    for bad in ["/tools", "tools/", "tools//drills", ""] {
        assert_eq!(
            pointers(&with(json!({"category": bad}))),
            ["/category"],
            "{bad}"
        );
    }
    assert_eq!(pointers(&with(json!({"brand": ""}))), ["/brand"]);
}

#[test]
fn attributes_are_flat() {
    // Built by hand: a merge patch would drop the null.
    let mut v = minimal();
    v["attributes"] = json!({"a": "x", "b": 1.5, "c": false, "d": null,
        "e": [1], "f": {"g": 1}, "a/b": []});
    assert_eq!(
        pointers(&v),
        [
            "/attributes/d",
            "/attributes/e",
            "/attributes/f",
            "/attributes/a~1b"
        ]
    );
}

#[test]
fn attribute_integers_stay_within_what_every_json_library_reads_exactly() {
    let mut v = minimal();
    v["attributes"] = json!({"ok": 9007199254740991_u64, "neg": -9007199254740991_i64,
        "big": 9007199254740992_u64, "huge": 18446744073709551615_u64});
    assert_eq!(pointers(&v), ["/attributes/big", "/attributes/huge"]);
    // Beyond 64 bits the parser hands over a double: refused too, never kept as a float.
    let text = r#"{"beyond_u64": 18446744073709551616, "beyond_i64": -9223372036854775809,
        "e": 1e300, "fine": 1.5, "tiny": 1e-300, "max": 9007199254740991.0}"#;
    v["attributes"] = serde_json::from_str(text).unwrap();
    assert_eq!(
        pointers(&v),
        [
            "/attributes/beyond_u64",
            "/attributes/beyond_i64",
            "/attributes/e"
        ]
    );
}

#[test]
fn media_urls_and_roles() {
    let v = with(json!({"media": [
        {"url": "https://cdn.example.com/a.jpg", "role": "main"},
        {"url": "ftp://x/a.jpg", "role": "main"},
        {"url": "https://", "role": ""},
        {"url": "http://x.example/a b.jpg", "role": "alt", "alt": "x"}]}));
    assert_eq!(
        pointers(&v),
        [
            "/media/1/url",
            "/media/2/url",
            "/media/2/role",
            "/media/3/alt",
            "/media/3/url"
        ]
    );
}

fn price(extra: Value) -> Value {
    let mut p = json!({"list": "retail", "currency": "EUR", "amount": "10.00"});
    crate::catalog::merge_patch(&mut p, &extra);
    with(json!({ "prices": [p] }))
}

#[test]
fn money_decimals_follow_the_currency() {
    assert!(parse_product(&price(json!({"amount": "10.5"})), None).is_ok());
    assert!(parse_product(&price(json!({"amount": "10"})), None).is_ok());
    assert!(parse_product(&price(json!({"amount": "0"})), None).is_ok());
    let three = errors(&price(json!({"amount": "10.505"})));
    assert_eq!(three[0].0, "/prices/0/amount");
    assert!(
        three[0].1.contains("EUR allows at most 2"),
        "{}",
        three[0].1
    );
    assert!(parse_product(&price(json!({"currency": "JPY", "amount": "1500"})), None).is_ok());
    assert!(parse_product(&price(json!({"currency": "JPY", "amount": "1500.0"})), None).is_err());
    assert!(parse_product(&price(json!({"currency": "KWD", "amount": "1.250"})), None).is_ok());
    assert!(parse_product(&price(json!({"currency": "KWD", "amount": "1.2505"})), None).is_err());
}

#[test]
fn amount_syntax() {
    for bad in ["-1.00", "1e3", "1.", ".5", " 1", "1,00", "", "+1"] {
        assert_eq!(
            pointers(&price(json!({ "amount": bad }))),
            ["/prices/0/amount"],
            "{bad}"
        );
    }
    assert!(errors(&price(json!({"amount": "-1"})))[0]
        .1
        .contains("negative"));
    assert_eq!(
        pointers(&price(json!({"amount": 10}))),
        ["/prices/0/amount"]
    );
    assert_eq!(
        pointers(&price(json!({"amount": null}))),
        ["/prices/0/amount"]
    );
    assert_eq!(
        pointers(&price(json!({"currency": "eur"}))),
        ["/prices/0/currency"]
    );
    assert_eq!(
        pointers(&price(json!({"currency": "XYZ"}))),
        ["/prices/0/currency"]
    );
    assert_eq!(
        pointers(&price(json!({"list": "re tail"}))),
        ["/prices/0/list"]
    );
    assert_eq!(
        pointers(&price(json!({"discount": "1"}))),
        ["/prices/0/discount"]
    );
}

#[test]
fn min_qty_is_a_whole_number_of_at_least_one() {
    let p = parse_product(&price(json!({"min_qty": 12})), None).unwrap();
    assert_eq!(p.prices[0].min_qty, 12);
    for bad in [
        json!(0),
        json!(-1),
        json!(1.5),
        json!("2"),
        json!(5_000_000_000u64),
    ] {
        assert_eq!(
            pointers(&price(json!({ "min_qty": bad }))),
            ["/prices/0/min_qty"],
            "{bad}"
        );
    }
}

#[test]
fn validity_windows() {
    let ok = price(json!({"valid_from": "2027-01-01T01:00:00+01:00",
        "valid_to": "2027-02-01T00:00:00.000Z"}));
    let p = parse_product(&ok, None).unwrap();
    assert_eq!(
        p.to_json()["prices"][0]["valid_from"],
        "2027-01-01T00:00:00Z"
    );
    assert_eq!(p.to_json()["prices"][0]["valid_to"], "2027-02-01T00:00:00Z");
    let reversed = price(json!({"valid_from": "2027-02-01T00:00:00Z",
        "valid_to": "2027-01-01T00:00:00Z"}));
    assert_eq!(pointers(&reversed), ["/prices/0/valid_to"]);
    let equal = price(json!({"valid_from": "2027-01-01T00:00:00Z",
        "valid_to": "2027-01-01T00:00:00Z"}));
    assert_eq!(pointers(&equal), ["/prices/0/valid_to"]);
    assert_eq!(
        pointers(&price(json!({"valid_from": "2027-01-01"}))),
        ["/prices/0/valid_from"]
    );
    assert_eq!(
        pointers(&price(json!({"valid_to": "2027-01-01T00:00:00.5Z"}))),
        ["/prices/0/valid_to"]
    );
}

#[test]
fn duplicate_prices_are_rejected() {
    let v = with(json!({"prices": [
        {"list": "retail", "currency": "EUR", "amount": "10.00"},
        {"list": "retail", "currency": "EUR", "amount": "9.00", "min_qty": 10},
        {"list": "retail", "currency": "EUR", "amount": "8.00", "min_qty": 1},
        {"list": "retail", "currency": "EUR", "amount": "8.00",
         "valid_from": "2027-01-01T00:00:00Z"}]}));
    let e = errors(&v);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, "/prices/2");
    assert!(e[0].1.contains("/prices/0"));
}

#[test]
fn next_change_after_finds_the_nearest_window_edge() {
    let v = with(json!({"prices": [
        {"list": "r", "currency": "EUR", "amount": "1", "valid_to": "2027-03-01T00:00:00Z"},
        {"list": "r", "currency": "EUR", "amount": "2", "valid_from": "2027-03-01T00:00:00Z",
         "valid_to": "2027-06-01T00:00:00Z"},
        {"list": "s", "currency": "EUR", "amount": "2", "valid_from": "2026-01-01T00:00:00Z"}]}));
    let p = parse_product(&v, None).unwrap();
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    assert_eq!(
        p.next_change_after(t("2026-06-01T00:00:00Z")),
        Some(t("2027-03-01T00:00:00Z"))
    );
    assert_eq!(
        p.next_change_after(t("2027-03-01T00:00:00Z")),
        Some(t("2027-06-01T00:00:00Z"))
    );
    assert_eq!(p.next_change_after(t("2027-06-01T00:00:00Z")), None);
}

#[test]
fn measures_convert_to_mm_and_g() {
    let v = with(
        json!({"dimensions": {"length": 1, "width": "2.5", "height": 0.5, "unit": "in"},
        "weight": {"net": "1", "unit": "lb"}}),
    );
    let j = parse_product(&v, None).unwrap().to_json();
    assert_eq!(
        j["dimensions"],
        json!({"length": "25.4", "width": "63.5", "height": "12.7", "unit": "mm"})
    );
    assert_eq!(j["weight"], json!({"net": "453.59237", "unit": "g"}));
    let m =
        with(json!({"dimensions": {"length": "1.2", "width": "0.05", "height": "3", "unit": "m"}}));
    assert_eq!(
        parse_product(&m, None).unwrap().to_json()["dimensions"],
        json!({"length": "1200", "width": "50", "height": "3000", "unit": "mm"})
    );
}

#[test]
fn measures_must_be_positive_plain_decimals_with_units() {
    let v = with(
        json!({"dimensions": {"length": "0", "width": -1, "height": 1e300, "unit": "ft"},
        "weight": {"unit": "kg"}}),
    );
    assert_eq!(
        pointers(&v),
        [
            "/dimensions/unit",
            "/dimensions/length",
            "/dimensions/width",
            "/dimensions/height",
            "/weight"
        ]
    );
    let missing = with(json!({"dimensions": {"length": "1", "width": "1"}}));
    assert_eq!(
        pointers(&missing),
        ["/dimensions/unit", "/dimensions/height"]
    );
    let lighter = with(json!({"weight": {"net": "2", "gross": "1.5", "unit": "kg"}}));
    assert_eq!(pointers(&lighter), ["/weight/gross"]);
    let only_gross = with(json!({"weight": {"gross": 900, "unit": "g"}}));
    assert!(parse_product(&only_gross, None).is_ok());
}

fn packaging(levels: Value) -> Value {
    with(json!({"weight": {"net": "1", "gross": "1.5", "unit": "kg"}, "packaging": levels}))
}

#[test]
fn packaging_levels_go_in_order_without_duplicates() {
    let v = packaging(json!([{"level": "case", "quantity": 6}, {"level": "each", "quantity": 1}]));
    assert_eq!(
        pointers(&v),
        ["/packaging/1/level", "/packaging/1/quantity"]
    );
    let dup =
        packaging(json!([{"level": "case", "quantity": 6}, {"level": "case", "quantity": 12}]));
    assert_eq!(pointers(&dup), ["/packaging/1/level"]);
    let bad = packaging(json!([{"level": "crate", "quantity": 6}, {"quantity": 2}]));
    assert_eq!(pointers(&bad), ["/packaging/0/level", "/packaging/1/level"]);
}

#[test]
fn packaging_quantities_grow_and_each_is_one() {
    let v = packaging(json!([{"level": "each", "quantity": 2},
        {"level": "inner", "quantity": 6}, {"level": "case", "quantity": 6},
        {"level": "pallet"}]));
    assert_eq!(
        pointers(&v),
        [
            "/packaging/0/quantity",
            "/packaging/3/quantity",
            "/packaging/2/quantity"
        ]
    );
    let ok = packaging(json!([{"level": "inner", "quantity": 2},
        {"level": "pallet", "quantity": 200, "gtin": "12345678901231"}]));
    assert!(parse_product(&ok, None).is_ok());
    let gtin = packaging(json!([{"level": "case", "quantity": 2, "gtin": "12345678901232"}]));
    assert_eq!(pointers(&gtin), ["/packaging/0/gtin"]);
}

#[test]
fn packaging_weighs_at_least_its_contents() {
    // 6 x 1.5 kg = 9 kg: 8.9 kg is too light, 9 kg is fine.
    let light = packaging(json!([{"level": "case", "quantity": 6,
        "gross_weight": {"value": "8.9", "unit": "kg"}}]));
    let e = errors(&light);
    assert_eq!(e[0].0, "/packaging/0/gross_weight");
    assert!(e[0].1.contains("at least 9000 g"), "{}", e[0].1);
    let exact = packaging(json!([{"level": "case", "quantity": 6,
        "gross_weight": {"value": "9", "unit": "kg"}}]));
    assert!(parse_product(&exact, None).is_ok());
    // The pallet holds 240 / 6 = 40 cases of 10 kg: 399 kg is too light.
    let pallet = packaging(json!([{"level": "case", "quantity": 6,
        "gross_weight": {"value": "10", "unit": "kg"}},
        {"level": "pallet", "quantity": 240, "gross_weight": {"value": "399", "unit": "kg"}}]));
    assert_eq!(pointers(&pallet), ["/packaging/1/gross_weight"]);
    // Net weight is used when the product's gross weight is unknown.
    let net_only = with(json!({"weight": {"net": "100", "unit": "g"},
        "packaging": [{"level": "each", "quantity": 1,
            "gross_weight": {"value": "99", "unit": "g"}}]}));
    assert_eq!(pointers(&net_only), ["/packaging/0/gross_weight"]);
    // Without any product weight only levels with known weights are compared.
    let unknown = with(json!({"packaging": [{"level": "case", "quantity": 6,
        "gross_weight": {"value": "1", "unit": "g"}}]}));
    assert!(parse_product(&unknown, None).is_ok());
    let bad_weight = packaging(json!([{"level": "case", "quantity": 6,
        "gross_weight": {"value": "1", "unit": "t", "tare": 1}}]));
    assert_eq!(
        pointers(&bad_weight),
        [
            "/packaging/0/gross_weight/tare",
            "/packaging/0/gross_weight/unit"
        ]
    );
}

#[test]
fn unknown_fields_are_rejected_everywhere() {
    let v = with(
        json!({"price": "1", "dimensions": {"length": 1, "width": 1, "height": 1,
        "unit": "mm", "depth": 1}, "weight": {"net": 1, "unit": "g", "tare": 1}}),
    );
    assert_eq!(
        pointers(&v),
        ["/price", "/dimensions/depth", "/weight/tare"]
    );
    let e = errors(&with(json!({"colour": "red"})));
    assert!(e[0].1.contains("not a known field"));
}

#[test]
fn pointer_escaping() {
    assert_eq!(pointer_join("/a", "b/c~d"), "/a/b~1c~0d");
}
