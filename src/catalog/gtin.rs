//! GTIN-8/12/13/14 with check-digit verification, stored as 14 digits.

/// A verified GTIN, always held as 14 digits (left-padded with zeros).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gtin(String);

impl Gtin {
    /// The 14-digit form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
