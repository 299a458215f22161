//! Money: ISO 4217 currencies and decimal amounts, never floats.
//! Pure values: no I/O, no exchange rates.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// An ISO 4217 currency code with its minor-unit exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency(pub iso_currency::Currency);

impl Currency {
    /// Looks up an upper-case ISO 4217 alphabetic code ("EUR").
    pub fn from_code(code: &str) -> Option<Currency> {
        iso_currency::Currency::from_code(code).map(Currency)
    }

    /// The alphabetic code, e.g. "EUR".
    pub fn code(&self) -> &str {
        self.0.code()
    }

    /// Number of decimals of the minor unit (EUR 2, JPY 0, KWD 3); 0 when ISO 4217 defines none.
    pub fn exponent(&self) -> u32 {
        self.0.exponent().map(u32::from).unwrap_or(0)
    }
}

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

impl Price {
    /// Whether the price applies at `at`: `valid_from` is inclusive, `valid_to` exclusive.
    pub fn is_valid_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|f| f <= at) && self.valid_to.is_none_or(|t| at < t)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn exponents_follow_iso_4217() {
        let exp = |c: &str| Currency::from_code(c).unwrap().exponent();
        assert_eq!(exp("EUR"), 2);
        assert_eq!(exp("JPY"), 0);
        assert_eq!(exp("KWD"), 3);
        assert_eq!(Currency::from_code("EUR").unwrap().code(), "EUR");
        assert!(Currency::from_code("XYZ").is_none());
    }

    #[test]
    fn validity_window_is_half_open() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let p = Price {
            list: "retail".into(),
            currency: Currency::from_code("EUR").unwrap(),
            amount: Decimal::new(100, 2),
            min_qty: 1,
            valid_from: Some(t("2027-01-01T00:00:00Z")),
            valid_to: Some(t("2027-02-01T00:00:00Z")),
        };
        assert!(!p.is_valid_at(t("2026-12-31T23:59:59Z")));
        assert!(p.is_valid_at(t("2027-01-01T00:00:00Z")));
        assert!(!p.is_valid_at(t("2027-02-01T00:00:00Z")));
    }
}
