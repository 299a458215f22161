//! Lengths and masses with units, converted exactly (decimal arithmetic) to mm and g.

use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthUnit {
    Mm,
    Cm,
    M,
    In,
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
