//! Lengths and masses with units, converted exactly (decimal arithmetic) to mm and g.
//! Pure arithmetic: no I/O, no floats.

use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthUnit {
    Mm,
    Cm,
    M,
    In,
}

impl LengthUnit {
    pub fn parse(s: &str) -> Option<LengthUnit> {
        match s {
            "mm" => Some(LengthUnit::Mm),
            "cm" => Some(LengthUnit::Cm),
            "m" => Some(LengthUnit::M),
            "in" => Some(LengthUnit::In),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            LengthUnit::Mm => "mm",
            LengthUnit::Cm => "cm",
            LengthUnit::M => "m",
            LengthUnit::In => "in",
        }
    }

    /// Millimetres in one unit (an inch is exactly 25.4 mm).
    pub fn mm_per_unit(&self) -> Decimal {
        match self {
            LengthUnit::Mm => Decimal::ONE,
            LengthUnit::Cm => Decimal::TEN,
            LengthUnit::M => Decimal::ONE_THOUSAND,
            LengthUnit::In => Decimal::new(254, 1),
        }
    }

    /// `value` in this unit, in millimetres, normalised; `None` on overflow.
    pub fn to_mm(&self, value: Decimal) -> Option<Decimal> {
        value.checked_mul(self.mm_per_unit()).map(|d| d.normalize())
    }
}

impl MassUnit {
    pub fn parse(s: &str) -> Option<MassUnit> {
        match s {
            "g" => Some(MassUnit::G),
            "kg" => Some(MassUnit::Kg),
            "lb" => Some(MassUnit::Lb),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            MassUnit::G => "g",
            MassUnit::Kg => "kg",
            MassUnit::Lb => "lb",
        }
    }

    /// Grams in one unit (the international pound is exactly 453.59237 g).
    pub fn g_per_unit(&self) -> Decimal {
        match self {
            MassUnit::G => Decimal::ONE,
            MassUnit::Kg => Decimal::ONE_THOUSAND,
            MassUnit::Lb => Decimal::new(45_359_237, 5),
        }
    }

    /// `value` in this unit, in grams, normalised; `None` on overflow.
    pub fn to_g(&self, value: Decimal) -> Option<Decimal> {
        value.checked_mul(self.g_per_unit()).map(|d| d.normalize())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MassUnit {
    G,
    Kg,
    Lb,
}

/// Dimensions normalised to millimetres.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimensions {
    pub length_mm: Decimal,
    pub width_mm: Decimal,
    pub height_mm: Decimal,
}

/// Weights normalised to grams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weight {
    pub net_g: Option<Decimal>,
    pub gross_g: Option<Decimal>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn lengths_convert_exactly_to_mm() {
        assert_eq!(LengthUnit::Cm.to_mm(d("32.5")).unwrap().to_string(), "325");
        assert_eq!(LengthUnit::In.to_mm(d("1")).unwrap().to_string(), "25.4");
        assert_eq!(LengthUnit::M.to_mm(d("1.2")).unwrap().to_string(), "1200");
        assert_eq!(
            LengthUnit::Mm.to_mm(d("12.50")).unwrap().to_string(),
            "12.5"
        );
    }

    #[test]
    fn masses_convert_exactly_to_g() {
        assert_eq!(MassUnit::Kg.to_g(d("1.45")).unwrap().to_string(), "1450");
        assert_eq!(MassUnit::Lb.to_g(d("1")).unwrap().to_string(), "453.59237");
        assert_eq!(
            MassUnit::Lb.to_g(d("2.5")).unwrap().to_string(),
            "1133.980925"
        );
        assert_eq!(MassUnit::G.to_g(d("900.0")).unwrap().to_string(), "900");
    }

    #[test]
    fn overflow_is_reported_not_wrapped() {
        assert!(MassUnit::Kg.to_g(Decimal::MAX).is_none());
    }

    #[test]
    fn unit_names_round_trip() {
        for u in [
            LengthUnit::Mm,
            LengthUnit::Cm,
            LengthUnit::M,
            LengthUnit::In,
        ] {
            assert_eq!(LengthUnit::parse(u.as_str()), Some(u));
        }
        for u in [MassUnit::G, MassUnit::Kg, MassUnit::Lb] {
            assert_eq!(MassUnit::parse(u.as_str()), Some(u));
        }
        assert_eq!(LengthUnit::parse("ft"), None);
    }
}
