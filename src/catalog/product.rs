//! The product aggregate in canonical form (GTIN as 14 digits, measures in mm and g).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{Dimensions, Gtin, Price, Weight};

/// A product key: `[A-Za-z0-9._-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sku(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Draft,
    Discontinued,
}

/// A flat attribute value: string, number or bool. Numbers keep the vendor's JSON number.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub url: String,
    pub role: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PackagingLevelKind {
    Each,
    Inner,
    Case,
    Pallet,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PackagingLevel {
    pub level: PackagingLevelKind,
    /// Base units this level holds.
    pub quantity: u32,
    pub gtin: Option<Gtin>,
    pub dimensions: Option<Dimensions>,
    /// Gross weight in grams.
    pub gross_weight_g: Option<Decimal>,
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub sku: Sku,
    pub gtin: Option<Gtin>,
    pub status: Status,
    pub brand: Option<String>,
    pub category: Option<String>,
    /// Locale -> text; at least one entry.
    pub title: BTreeMap<String, String>,
    pub description: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, AttrValue>,
    pub media: Vec<Media>,
    pub prices: Vec<Price>,
    pub dimensions: Option<Dimensions>,
    pub weight: Option<Weight>,
    pub packaging: Vec<PackagingLevel>,
}

#[allow(dead_code)]
fn _types_used(_: DateTime<Utc>) {}
