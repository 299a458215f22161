//! The product aggregate in canonical form (GTIN as 14 digits, measures in mm and g), and its
//! canonical JSON wire form. No I/O: storage and HTTP live elsewhere.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::{Dimensions, Gtin, Price, Weight};
use crate::jcs::{self, Arr, Obj};

/// A product key: `[A-Za-z0-9._-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sku(String);

impl Sku {
    /// Checks `[A-Za-z0-9._-]{1,64}`; the error is an English sentence for the vendor.
    pub fn parse(s: &str) -> Result<Sku, String> {
        if s.is_empty() || s.len() > 64 {
            return Err(format!(
                "must be 1 to 64 characters long, not {}",
                s.chars().count()
            ));
        }
        if !s.chars().all(is_key_char) {
            return Err(
                "may only contain letters A-Z and a-z, digits, '.', '_' and '-'".to_string(),
            );
        }
        Ok(Sku(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Sku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Characters allowed in SKUs and price-list names.
pub(crate) fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Draft,
    Discontinued,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "active" => Some(Status::Active),
            "draft" => Some(Status::Draft),
            "discontinued" => Some(Status::Discontinued),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Draft => "draft",
            Status::Discontinued => "discontinued",
        }
    }
}

/// A flat attribute value: string, number or bool. Numbers keep the vendor's JSON number.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

impl AttrValue {
    /// Appends the RFC 8785 form of a map of attributes to `out`.
    pub fn write_map(attributes: &BTreeMap<String, AttrValue>, out: &mut Vec<u8>) {
        let mut a = Obj::open(out);
        for (name, value) in jcs::sorted_members(attributes) {
            a.key(name);
            match value {
                AttrValue::Text(s) => jcs::write_string(s, a.out),
                AttrValue::Number(n) => jcs::write_number(n, a.out),
                AttrValue::Bool(true) => a.out.extend_from_slice(b"true"),
                AttrValue::Bool(false) => a.out.extend_from_slice(b"false"),
            }
        }
        a.close();
    }

    pub fn to_json(&self) -> Value {
        match self {
            AttrValue::Text(s) => Value::String(s.clone()),
            AttrValue::Number(n) => Value::Number(n.clone()),
            AttrValue::Bool(b) => Value::Bool(*b),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub url: String,
    pub role: String,
}

impl Media {
    /// Appends the RFC 8785 form of a list of media to `out`.
    pub fn write_list(media: &[Media], out: &mut Vec<u8>) {
        let mut items = Arr::open(out);
        for m in media {
            let mut o = Obj::open(items.item());
            o.str("role", &m.role);
            o.str("url", &m.url);
            o.close();
        }
        items.close();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PackagingLevelKind {
    Each,
    Inner,
    Case,
    Pallet,
}

impl PackagingLevelKind {
    pub fn parse(s: &str) -> Option<PackagingLevelKind> {
        match s {
            "each" => Some(PackagingLevelKind::Each),
            "inner" => Some(PackagingLevelKind::Inner),
            "case" => Some(PackagingLevelKind::Case),
            "pallet" => Some(PackagingLevelKind::Pallet),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            PackagingLevelKind::Each => "each",
            PackagingLevelKind::Inner => "inner",
            PackagingLevelKind::Case => "case",
            PackagingLevelKind::Pallet => "pallet",
        }
    }
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

impl Product {
    pub fn sku(&self) -> &Sku {
        &self.sku
    }

    /// The canonical wire form (what `GET` returns): keys in spec order, absent or empty
    /// optional fields omitted, GTINs as 14 digits, measures in mm and g, amounts as written,
    /// timestamps in UTC to the second. Parsing it back gives the same product.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("sku".into(), self.sku.as_str().into());
        if let Some(g) = &self.gtin {
            m.insert("gtin".into(), g.as_str().into());
        }
        m.insert("status".into(), self.status.as_str().into());
        if let Some(b) = &self.brand {
            m.insert("brand".into(), b.as_str().into());
        }
        if let Some(c) = &self.category {
            m.insert("category".into(), c.as_str().into());
        }
        insert_non_empty(&mut m, "title", locale_map(&self.title));
        insert_non_empty(&mut m, "description", locale_map(&self.description));
        let attrs: Map<String, Value> = self
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        insert_non_empty(&mut m, "attributes", Value::Object(attrs));
        let media = self
            .media
            .iter()
            .map(|x| serde_json::json!({"url": x.url, "role": x.role}))
            .collect();
        insert_non_empty(&mut m, "media", Value::Array(media));
        let prices = self.prices.iter().map(price_json).collect();
        insert_non_empty(&mut m, "prices", Value::Array(prices));
        if let Some(d) = &self.dimensions {
            m.insert("dimensions".into(), dimensions_json(d));
        }
        if let Some(w) = &self.weight {
            let mut o = Map::new();
            if let Some(n) = w.net_g {
                o.insert("net".into(), decimal_json(n));
            }
            if let Some(g) = w.gross_g {
                o.insert("gross".into(), decimal_json(g));
            }
            o.insert("unit".into(), "g".into());
            m.insert("weight".into(), Value::Object(o));
        }
        let packaging = self.packaging.iter().map(packaging_json).collect();
        insert_non_empty(&mut m, "packaging", Value::Array(packaging));
        Value::Object(m)
    }

    /// RFC 8785 SHA-256 (hex) of the canonical form: equal products have equal hashes.
    pub fn content_hash(&self) -> String {
        crate::jcs::sha256_hex(&self.to_json())
    }

    /// The nearest `valid_from` or `valid_to` strictly after `now` over all prices: the instant
    /// at which what partners see may change without any edit.
    pub fn next_change_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.prices
            .iter()
            .flat_map(|p| [p.valid_from, p.valid_to])
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

impl Product {
    /// Appends the RFC 8785 form of [`Product::to_json`] to `out`, byte for byte the same as
    /// `jcs::write_canonical(&self.to_json(), out)`, without building the `Value`: members are
    /// written in sorted order (fixed names are ASCII; map keys are sorted by UTF-16 code units
    /// when byte order would differ), strings with serde_json's escapes.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        let mut o = Obj::open(out);
        if !self.attributes.is_empty() {
            o.key("attributes");
            AttrValue::write_map(&self.attributes, o.out);
        }
        if let Some(b) = &self.brand {
            o.str("brand", b);
        }
        if let Some(c) = &self.category {
            o.str("category", c);
        }
        if !self.description.is_empty() {
            o.key("description");
            write_locale_map(o.out, &self.description);
        }
        if let Some(d) = &self.dimensions {
            o.key("dimensions");
            write_dimensions(o.out, d);
        }
        if let Some(g) = &self.gtin {
            o.str("gtin", g.as_str());
        }
        if !self.media.is_empty() {
            o.key("media");
            Media::write_list(&self.media, o.out);
        }
        if !self.packaging.is_empty() {
            o.key("packaging");
            let mut levels = Arr::open(o.out);
            for l in &self.packaging {
                write_packaging(levels.item(), l);
            }
            levels.close();
        }
        if !self.prices.is_empty() {
            o.key("prices");
            let mut prices = Arr::open(o.out);
            for p in &self.prices {
                write_price(prices.item(), p);
            }
            prices.close();
        }
        o.str("sku", self.sku.as_str());
        o.str("status", self.status.as_str());
        if !self.title.is_empty() {
            o.key("title");
            write_locale_map(o.out, &self.title);
        }
        if let Some(w) = &self.weight {
            o.key("weight");
            let mut wo = Obj::open(o.out);
            if let Some(g) = w.gross_g {
                wo.decimal("gross", g.normalize());
            }
            if let Some(n) = w.net_g {
                wo.decimal("net", n.normalize());
            }
            wo.str("unit", "g");
            wo.close();
        }
        o.close();
    }

    /// The top-level member names of [`Product::to_json`], sorted.
    pub fn json_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::with_capacity(13);
        let mut add = |present: bool, key: &'static str| {
            if present {
                keys.push(key);
            }
        };
        add(!self.attributes.is_empty(), "attributes");
        add(self.brand.is_some(), "brand");
        add(self.category.is_some(), "category");
        add(!self.description.is_empty(), "description");
        add(self.dimensions.is_some(), "dimensions");
        add(self.gtin.is_some(), "gtin");
        add(!self.media.is_empty(), "media");
        add(!self.packaging.is_empty(), "packaging");
        add(!self.prices.is_empty(), "prices");
        add(true, "sku");
        add(true, "status");
        add(!self.title.is_empty(), "title");
        add(self.weight.is_some(), "weight");
        keys
    }
}

fn write_locale_map(out: &mut Vec<u8>, map: &BTreeMap<String, String>) {
    let mut o = Obj::open(out);
    for (k, v) in jcs::sorted_members(map) {
        o.str(k, v);
    }
    o.close();
}

fn write_dimensions(out: &mut Vec<u8>, d: &Dimensions) {
    let mut o = Obj::open(out);
    o.decimal("height", d.height_mm.normalize());
    o.decimal("length", d.length_mm.normalize());
    o.str("unit", "mm");
    o.decimal("width", d.width_mm.normalize());
    o.close();
}

fn write_price(out: &mut Vec<u8>, p: &Price) {
    let mut o = Obj::open(out);
    // Amounts keep the scale the vendor wrote: "129.90" stays "129.90".
    o.decimal("amount", p.amount);
    o.str("currency", p.currency.code());
    o.str("list", &p.list);
    o.uint("min_qty", p.min_qty);
    if let Some(t) = p.valid_from {
        o.str("valid_from", &timestamp_string(t));
    }
    if let Some(t) = p.valid_to {
        o.str("valid_to", &timestamp_string(t));
    }
    o.close();
}

fn write_packaging(out: &mut Vec<u8>, l: &PackagingLevel) {
    let mut o = Obj::open(out);
    if let Some(d) = &l.dimensions {
        o.key("dimensions");
        write_dimensions(o.out, d);
    }
    if let Some(w) = l.gross_weight_g {
        o.key("gross_weight");
        let mut gw = Obj::open(o.out);
        gw.str("unit", "g");
        gw.decimal("value", w.normalize());
        gw.close();
    }
    if let Some(g) = &l.gtin {
        o.str("gtin", g.as_str());
    }
    o.str("level", l.level.as_str());
    o.uint("quantity", l.quantity);
    if let Some(k) = &l.kind {
        o.str("type", k);
    }
    o.close();
}

fn insert_non_empty(m: &mut Map<String, Value>, key: &str, v: Value) {
    let empty = match &v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if !empty {
        m.insert(key.to_string(), v);
    }
}

fn locale_map(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A normalised decimal string: "325", "12.5".
fn decimal_json(d: Decimal) -> Value {
    Value::String(d.normalize().to_string())
}

/// RFC 3339 in UTC with a "Z" and whole seconds.
pub(crate) fn timestamp_string(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn price_json(p: &Price) -> Value {
    let mut o = Map::new();
    o.insert("list".into(), p.list.as_str().into());
    o.insert("currency".into(), p.currency.code().into());
    // Amounts keep the scale the vendor wrote: "129.90" stays "129.90".
    o.insert("amount".into(), Value::String(p.amount.to_string()));
    o.insert("min_qty".into(), p.min_qty.into());
    if let Some(t) = p.valid_from {
        o.insert("valid_from".into(), timestamp_string(t).into());
    }
    if let Some(t) = p.valid_to {
        o.insert("valid_to".into(), timestamp_string(t).into());
    }
    Value::Object(o)
}

fn dimensions_json(d: &Dimensions) -> Value {
    let mut o = Map::new();
    o.insert("length".into(), decimal_json(d.length_mm));
    o.insert("width".into(), decimal_json(d.width_mm));
    o.insert("height".into(), decimal_json(d.height_mm));
    o.insert("unit".into(), "mm".into());
    Value::Object(o)
}

fn packaging_json(l: &PackagingLevel) -> Value {
    let mut o = Map::new();
    o.insert("level".into(), l.level.as_str().into());
    o.insert("quantity".into(), l.quantity.into());
    if let Some(g) = &l.gtin {
        o.insert("gtin".into(), g.as_str().into());
    }
    if let Some(d) = &l.dimensions {
        o.insert("dimensions".into(), dimensions_json(d));
    }
    if let Some(w) = l.gross_weight_g {
        let mut gw = Map::new();
        gw.insert("value".into(), decimal_json(w));
        gw.insert("unit".into(), "g".into());
        o.insert("gross_weight".into(), Value::Object(gw));
    }
    if let Some(k) = &l.kind {
        o.insert("type".into(), k.as_str().into());
    }
    Value::Object(o)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn sku_syntax() {
        assert_eq!(Sku::parse("DRL-1001").unwrap().as_str(), "DRL-1001");
        assert!(Sku::parse("a.b_c-D9").is_ok());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse(&"x".repeat(64)).is_ok());
        assert!(Sku::parse(&"x".repeat(65)).is_err());
        assert!(Sku::parse("DRL 1001").is_err());
        assert!(Sku::parse("DRL/1001").is_err());
        assert!(Sku::parse("café").is_err());
    }

    /// `write_canonical` gives exactly the JCS bytes of `to_json`, and `json_keys` its keys.
    #[test]
    fn direct_canonical_form_equals_jcs_of_to_json() {
        let check = |v: &Value| {
            let p = crate::catalog::parse_product(v, None).unwrap();
            let mut direct = Vec::new();
            p.write_canonical(&mut direct);
            let j = p.to_json();
            assert_eq!(
                String::from_utf8(direct).unwrap(),
                String::from_utf8(crate::jcs::canonical_bytes(&j)).unwrap()
            );
            let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            keys.sort();
            assert_eq!(p.json_keys(), keys);
        };
        for v in crate::demo::products(300) {
            check(&v);
        }
        check(
            &serde_json::json!({"sku": "A-1", "status": "draft", "title": {"en": "x\"y\\z\u{1}\n", "fr": "é"},
            "attributes": {"\u{e000}": 1, "\u{10000}": 2.5, "z": 1.5e15, "a\"b": "q\tr", "n": -7,
                "f": false, "t": true, "big": 1e-7, "ü": "x"},
            "media": [{"url": "https://x.example/a", "role": "main"}],
            "prices": [{"list": "retail", "currency": "EUR", "amount": "1.50",
                "valid_from": "2027-01-01T00:00:00+02:00", "valid_to": "2027-02-01T00:00:00Z"}],
            "dimensions": {"length": 1.5, "width": "2.50", "height": "3", "unit": "in"},
            "weight": {"net": "1.45", "unit": "lb"},
            "packaging": [{"level": "each", "quantity": 1, "type": "box", "gtin": "02345673",
                "dimensions": {"length": "40", "width": "30", "height": "26", "unit": "cm"},
                "gross_weight": {"value": "12.2", "unit": "kg"}}]}),
        );
    }

    #[test]
    fn enum_names_round_trip() {
        for s in [Status::Active, Status::Draft, Status::Discontinued] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for k in [
            PackagingLevelKind::Each,
            PackagingLevelKind::Inner,
            PackagingLevelKind::Case,
            PackagingLevelKind::Pallet,
        ] {
            assert_eq!(PackagingLevelKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Status::parse("Active"), None);
    }
}
