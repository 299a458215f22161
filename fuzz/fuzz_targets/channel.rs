//! A channel definition as `PUT /v1/channels/{code}` receives it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partnerfeed::delta::{self, parse_channel};
use serde_json::{json, Value};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(def) = parse_channel(&value) else {
        return;
    };
    // The stored definition parses back to the same definition.
    let again = parse_channel(&def.to_json())
        .unwrap_or_else(|e| panic!("a channel's own definition is refused: {e:?}"));
    assert_eq!(again.definition_hash(), def.definition_hash());
    let product = json!({
        "sku": "DRL-1001", "gtin": "3700123456780", "status": "active", "brand": "Acme",
        "category": "tools/drills", "title": {"fr": "Perceuse", "en": "Drill", "de-AT": "Bohrer"},
        "prices": [{"list": "reseller", "currency": "EUR", "amount": "84.30", "min_qty": 1},
                   {"list": "retail", "currency": "JPY", "amount": "1250", "min_qty": 1},
                   {"list": "retail", "currency": "KWD", "amount": "10", "min_qty": 5}],
        "dimensions": {"length": "32.5", "width": "9", "height": "24", "unit": "cm"},
        "weight": {"net": "1.45", "unit": "kg"},
        "packaging": [{"level": "each", "quantity": 1}, {"level": "case", "quantity": 6}]
    });
    let product = partnerfeed::catalog::parse_product(&product, None).expect("fixture product");
    if let Some(record) = delta::project("DRL-1001", &product, &def, common::now()) {
        let _ = delta::record_hash(&record);
    }
});
