//! Measures of a projected record as profiles need them: decimal parsing, exact power-of-ten
//! rescaling within one unit system (mm -> cm, g -> kg), and UN/ECE Rec 20 codes. The record
//! already holds the channel's unit system, so a profile never converts between systems: each
//! value is converted exactly once, by the projection.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::view::{Kind, Node};

/// A measure or amount written as a decimal string or a JSON number (the number as
/// `serde_json` reads and writes it back).
pub(crate) fn decimal(value: Option<Node<'_>>) -> Option<Decimal> {
    let value = value?;
    match value.kind() {
        Kind::String => Decimal::from_str(&value.text()).ok(),
        Kind::Number => Decimal::from_str(&value.number()?.to_string()).ok(),
        _ => None,
    }
}

/// The decimal as the shortest plain text (`32.50` -> `32.5`, `300` -> `300`).
pub(crate) fn text(d: Decimal) -> String {
    d.normalize().to_string()
}

/// How many of `from` one `to` holds, for units of one system; `None` across systems.
fn factor(from: &str, to: &str) -> Option<Decimal> {
    let base = |u: &str| -> Option<(char, Decimal)> {
        Some(match u {
            "mm" => ('L', Decimal::ONE),
            "cm" => ('L', Decimal::TEN),
            "m" => ('L', Decimal::ONE_THOUSAND),
            "in" => ('I', Decimal::ONE),
            "g" => ('M', Decimal::ONE),
            "kg" => ('M', Decimal::ONE_THOUSAND),
            "lb" => ('P', Decimal::ONE),
            _ => return None,
        })
    };
    let (kf, f) = base(from)?;
    let (kt, t) = base(to)?;
    (kf == kt).then(|| f / t)
}

/// `value` in `from` rewritten in `to` (same unit system: an exact power of ten).
pub(crate) fn rescale(value: Decimal, from: &str, to: &str) -> Option<Decimal> {
    value.checked_mul(factor(from, to)?).map(|d| d.normalize())
}

/// The unit of the same system that a profile asks for: a length in mm or cm goes to
/// `metric`, one in inches to `imperial`; same for masses.
pub(crate) fn target<'a>(unit: &str, metric: &'a str, imperial: &'a str) -> &'a str {
    match unit {
        "in" | "lb" => imperial,
        _ => metric,
    }
}

/// UN/ECE Recommendation 20 code of a unit of measure.
pub(crate) fn rec20(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "mm" => "MMT",
        "cm" => "CMT",
        "m" => "MTR",
        "in" => "INH",
        "g" => "GRM",
        "kg" => "KGM",
        "lb" => "LBR",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescaling_is_exact_and_stays_in_its_system() {
        let d = |s: &str| Decimal::from_str(s).unwrap_or_default();
        assert_eq!(
            text(rescale(d("325"), "mm", "cm").unwrap_or_default()),
            "32.5"
        );
        assert_eq!(
            text(rescale(d("1900"), "g", "kg").unwrap_or_default()),
            "1.9"
        );
        assert_eq!(
            text(rescale(d("12.8"), "in", "in").unwrap_or_default()),
            "12.8"
        );
        assert_eq!(rescale(d("1"), "mm", "in"), None);
        assert_eq!(rec20("mm"), Some("MMT"));
        assert_eq!(rec20("lb"), Some("LBR"));
    }
}
