//! An NDJSON file as `partnerfeed import` and `POST /v1/products/batch` (NDJSON) read it.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let channels = common::channels();
    for line in partnerfeed::cli::import::ndjson_lines(data, "fuzz".into()) {
        if let Ok((_, Ok(product))) = line {
            common::check_product(&product, &channels);
        }
    }
});
