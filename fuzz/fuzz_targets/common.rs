//! Fixtures the targets share: channels to project fuzzed products through.
// Each target uses part of these fixtures.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use partnerfeed::catalog::Product;
use partnerfeed::delta::{self, ChannelDef};
use serde_json::json;

/// A metric channel with a price adjustment and an imperial one without, carrying every field:
/// between them they exercise rounding, unit conversion and locale fallback.
pub fn channels() -> Vec<ChannelDef> {
    let fields = json!([
        "gtin",
        "status",
        "brand",
        "category",
        "title",
        "description",
        "attributes",
        "media",
        "price",
        "dimensions",
        "weight",
        "packaging"
    ]);
    [
        json!({"name": "metric", "locale": "fr-BE", "currency": "EUR", "price_list": "reseller",
               "price_adjustment_percent": "-5", "units": "metric", "fields": fields}),
        json!({"name": "imperial", "locale": "en-US", "currency": "USD", "price_list": "retail",
               "units": "imperial", "fields": fields}),
    ]
    .iter()
    .map(|v| delta::parse_channel(v).expect("fixture channel"))
    .collect()
}

pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).expect("instant")
}

/// The documented promises about a valid product: its canonical bytes are those of its wire
/// form, the wire form parses back to the same product, and every channel can project it.
pub fn check_product(product: &Product, channels: &[ChannelDef]) {
    let wire = product.to_json();
    let mut direct = Vec::new();
    product.write_canonical(&mut direct);
    assert_eq!(
        direct,
        partnerfeed::jcs::canonical_bytes(&wire),
        "write_canonical differs from the JCS form of to_json"
    );
    let again = partnerfeed::catalog::parse_product(&wire, None)
        .unwrap_or_else(|e| panic!("a product's own wire form is refused: {e:?}\n{wire}"));
    assert_eq!(again.content_hash(), product.content_hash(), "{wire}");
    let sku = product.sku().as_str();
    for channel in channels {
        if let Some(record) = delta::project(sku, product, channel, now()) {
            let _ = delta::record_hash(&record);
        }
        let _ = delta::next_projection_change(product, channel, now());
    }
}
