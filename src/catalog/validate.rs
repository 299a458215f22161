//! Parsing product JSON into a [`Product`], reporting every problem at once with JSON pointers.

use super::Product;

/// One problem with the input, located by a JSON pointer into the request body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub pointer: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("invalid product: {} problem(s)", errors.len())]
pub struct ValidationErrors {
    pub errors: Vec<FieldError>,
}

/// Parses and validates a product as the vendor writes it. `path_sku`, when given, is the SKU
/// of the URL: the body's `sku` may be absent, and must equal it when present.
pub fn parse_product(
    value: &serde_json::Value,
    path_sku: Option<&str>,
) -> Result<Product, ValidationErrors> {
    let _ = (value, path_sku);
    todo!("catalog validation")
}
