//! A CSV file as `partnerfeed import` and `POST /v1/products/batch` (text/csv) read it.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(lines) = partnerfeed::cli::import::csv_lines(data) else {
        return;
    };
    let channels = common::channels();
    for line in lines {
        if let Ok((_, Ok(product))) = line {
            common::check_product(&product, &channels);
        }
    }
});
