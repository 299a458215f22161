//! Money: ISO 4217 currencies and decimal amounts, never floats.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// An ISO 4217 currency code with its minor-unit exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency(pub iso_currency::Currency);

/// One price of a product: a tier of one price list, optionally bounded in time.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub list: String,
    pub currency: Currency,
    /// The amount with the scale the vendor wrote ("129.90" keeps two decimals).
    pub amount: Decimal,
    pub min_qty: u32,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
}
