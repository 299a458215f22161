//! A JSON merge patch (RFC 7386) as `PATCH /v1/products/{sku}` applies it to a stored product.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partnerfeed::catalog::{changed_fields, merge_patch, parse_product};
use serde_json::{json, Value};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(patch) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let stored = json!({
        "sku": "DRL-1001", "gtin": "03700123456780", "status": "active", "brand": "Acme",
        "category": "tools/drills", "title": {"fr": "Perceuse 18 V", "en": "18 V drill"},
        "attributes": {"voltage": 18, "cordless": true},
        "prices": [{"list": "reseller", "currency": "EUR", "amount": "84.00", "min_qty": 1}],
        "dimensions": {"length": "325", "width": "90", "height": "240", "unit": "mm"},
        "weight": {"net": "1450", "gross": "1900", "unit": "g"},
        "packaging": [{"level": "each", "quantity": 1}, {"level": "case", "quantity": 6}]
    });
    let mut target = stored.clone();
    merge_patch(&mut target, &patch);
    // RFC 7386: applying the same patch again changes nothing.
    let mut twice = target.clone();
    merge_patch(&mut twice, &patch);
    assert_eq!(twice, target, "merge patch is not idempotent");
    let _ = changed_fields(Some(&stored), Some(&target));
    if let Ok(product) = parse_product(&target, Some("DRL-1001")) {
        common::check_product(&product, &common::channels());
    }
});
