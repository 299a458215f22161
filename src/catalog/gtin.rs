//! GTIN-8/12/13/14 with check-digit verification, stored as 14 digits.
//! Pure parsing: no I/O, no knowledge of where the GTIN came from.

/// A verified GTIN, always held as 14 digits (left-padded with zeros).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gtin(String);

impl Gtin {
    /// Parses a GTIN-8, -12, -13 or -14 written as digits only, verifies its GS1 mod-10 check
    /// digit and keeps it as 14 digits. The error is an English sentence for the vendor.
    pub fn parse(s: &str) -> Result<Gtin, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be a string of digits only (8, 12, 13 or 14 digits)".to_string());
        }
        if !matches!(s.len(), 8 | 12 | 13 | 14) {
            return Err(format!("must have 8, 12, 13 or 14 digits, not {}", s.len()));
        }
        let padded = format!("{s:0>14}");
        let digits: Vec<u32> = padded.bytes().map(|b| u32::from(b - b'0')).collect();
        let expected = check_digit(&digits[..13]);
        if digits[13] != expected {
            return Err(format!(
                "has an invalid check digit: the last digit should be {expected}, not {}",
                digits[13]
            ));
        }
        Ok(Gtin(padded))
    }

    /// The 14-digit form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// GS1 mod-10: from the rightmost data digit, weights alternate 3, 1, 3, ...
fn check_digit(data: &[u32]) -> u32 {
    let sum: u32 = data
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d })
        .sum();
    (10 - sum % 10) % 10
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    const VALID: [&str; 5] = [
        "02345673",
        "416000336108",
        "1234567890128",
        "12345678901231",
        "6291041500213",
    ];

    #[test]
    fn published_vectors_are_valid_and_padded_to_14() {
        for v in VALID {
            let g = Gtin::parse(v).unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!(g.as_str().len(), 14);
            assert!(g.as_str().ends_with(v));
        }
        assert_eq!(Gtin::parse("02345673").unwrap().as_str(), "00000002345673");
    }

    #[test]
    fn changing_the_last_digit_invalidates() {
        for v in VALID {
            let last = v.as_bytes()[v.len() - 1] - b'0';
            let changed = format!("{}{}", &v[..v.len() - 1], (last + 1) % 10);
            let err = Gtin::parse(&changed).unwrap_err();
            assert!(err.contains("check digit"), "{changed}: {err}");
        }
    }

    #[test]
    fn wrong_lengths_and_characters_are_rejected() {
        assert!(Gtin::parse("1234567")
            .unwrap_err()
            .contains("8, 12, 13 or 14"));
        assert!(Gtin::parse("123456789012345").is_err());
        assert!(Gtin::parse("12345-78").unwrap_err().contains("digits only"));
        assert!(Gtin::parse("").is_err());
    }

    #[test]
    fn padded_form_parses_to_the_same_gtin() {
        let g = Gtin::parse("1234567890128").unwrap();
        assert_eq!(Gtin::parse(g.as_str()).unwrap(), g);
    }
}
