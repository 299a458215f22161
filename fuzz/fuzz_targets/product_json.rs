//! A product body as `PUT /v1/products/{sku}` and the batch endpoint receive it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partnerfeed::catalog::parse_product;
use serde_json::Value;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let channels = common::channels();
    let body_sku = value.get("sku").and_then(Value::as_str).map(str::to_owned);
    for path_sku in [None, body_sku.as_deref(), Some("PATH-1")] {
        if let Ok(product) = parse_product(&value, path_sku) {
            common::check_product(&product, &channels);
        }
    }
});
