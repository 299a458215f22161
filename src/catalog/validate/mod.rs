//! Parsing product JSON into a [`Product`], reporting every problem at once with JSON pointers.
//! Pure: takes a `serde_json::Value`, never reads a request or the database.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Timelike, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::product::is_key_char;
use super::{
    AttrValue, Currency, Dimensions, Gtin, LengthUnit, MassUnit, Media, PackagingLevel,
    PackagingLevelKind, Price, Product, Sku, Status, Weight,
};

mod content;
mod measures;
mod packaging;
mod prices;
mod values;

/// One problem with the input, located by a JSON pointer into the request body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub pointer: String,
    pub message: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("invalid product: {} problem(s)", errors.len())]
pub struct ValidationErrors {
    pub errors: Vec<FieldError>,
}

impl ValidationErrors {
    /// A single problem.
    pub fn one(pointer: impl Into<String>, message: impl Into<String>) -> ValidationErrors {
        ValidationErrors {
            errors: vec![FieldError::new(pointer, message)],
        }
    }

    pub fn push(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(pointer, message));
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Appends `key` to a JSON pointer, escaping it per RFC 6901 (`~` -> `~0`, `/` -> `~1`).
pub fn pointer_join(base: &str, key: &str) -> String {
    // One allocation: this runs for every field of every product validated.
    let mut pointer = String::with_capacity(base.len() + key.len() + 1);
    pointer.push_str(base);
    pointer.push('/');
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
    pointer
}

/// A JSON pointer written out only when a problem is reported: validating a valid product
/// builds no pointer strings.
#[derive(Clone, Copy)]
enum Ptr<'a> {
    /// The whole document: "".
    Root,
    /// A pointer already written out, e.g. "/weight".
    Str(&'a str),
    /// A member of the value at the first pointer.
    Key(&'a Ptr<'a>, &'a str),
    /// An item of the array at the first pointer.
    Index(&'a Ptr<'a>, usize),
}

impl<'a> Ptr<'a> {
    fn key(&'a self, key: &'a str) -> Ptr<'a> {
        Ptr::Key(self, key)
    }

    fn index(&'a self, i: usize) -> Ptr<'a> {
        Ptr::Index(self, i)
    }

    fn write(&self, out: &mut String) {
        match self {
            Ptr::Root => {}
            Ptr::Str(s) => out.push_str(s),
            Ptr::Key(base, key) => {
                base.write(out);
                out.push('/');
                for c in key.chars() {
                    match c {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        c => out.push(c),
                    }
                }
            }
            Ptr::Index(base, i) => {
                use std::fmt::Write as _;
                base.write(out);
                let _ = write!(out, "/{i}");
            }
        }
    }
}

static ATTRIBUTES: Ptr<'static> = Ptr::Str("/attributes");

/// What [`Cx::err`] accepts as the location of a problem.
trait IntoPointer {
    fn into_pointer(self) -> String;
}

impl IntoPointer for &str {
    fn into_pointer(self) -> String {
        self.to_string()
    }
}

impl IntoPointer for String {
    fn into_pointer(self) -> String {
        self
    }
}

impl IntoPointer for Ptr<'_> {
    fn into_pointer(self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

const TOP_LEVEL: [&str; 13] = [
    "sku",
    "gtin",
    "status",
    "brand",
    "category",
    "title",
    "description",
    "attributes",
    "media",
    "prices",
    "dimensions",
    "weight",
    "packaging",
];

/// Parses and validates a product as the vendor writes it. `path_sku`, when given, is the SKU
/// of the URL: the body's `sku` may be absent, and must equal it when present.
///
/// Optional fields may be absent or `null` (both mean "no value"). Every problem found is
/// reported, each with the RFC 6901 pointer of the offending value.
pub fn parse_product(
    value: &serde_json::Value,
    path_sku: Option<&str>,
) -> Result<Product, ValidationErrors> {
    let mut cx = Cx::default();
    let Some(obj) = cx.object(value, Ptr::Root, &TOP_LEVEL) else {
        return Err(cx.errors);
    };

    let sku = cx.sku(obj.get("sku"), path_sku);
    let gtin = cx
        .opt_str(obj, "gtin", Ptr::Root)
        .and_then(|s| cx.check(Gtin::parse(s), "/gtin"));
    let status = match present(obj, "status") {
        None => {
            cx.err("/status", "is required: one of active, draft, discontinued");
            None
        }
        Some(v) => cx.string(v, Ptr::Str("/status")).and_then(|s| {
            let st = Status::parse(s);
            if st.is_none() {
                cx.err(
                    "/status",
                    format!("must be one of active, draft, discontinued, not {s:?}"),
                );
            }
            st
        }),
    };
    let brand = cx
        .opt_str(obj, "brand", Ptr::Root)
        .and_then(|s| cx.non_empty(s, Ptr::Str("/brand")));
    let category = cx
        .opt_str(obj, "category", Ptr::Root)
        .and_then(|s| cx.category(s));
    let title = match present(obj, "title") {
        None => {
            cx.err(
                "/title",
                "is required: an object of locale -> text, e.g. {\"en\": \"18 V drill\"}",
            );
            BTreeMap::new()
        }
        Some(v) => {
            let t = cx.locale_map(v, Ptr::Str("/title"));
            if v.as_object().is_some_and(|m| m.is_empty()) {
                cx.err(
                    "/title",
                    "needs at least one locale, e.g. {\"en\": \"18 V drill\"}",
                );
            }
            t
        }
    };
    let description = present(obj, "description")
        .map(|v| cx.locale_map(v, Ptr::Str("/description")))
        .unwrap_or_default();
    let attributes = present(obj, "attributes")
        .map(|v| cx.attributes(v))
        .unwrap_or_default();
    let media = cx.array(obj, "media", Ptr::Root, |cx, v, p| cx.media(v, p));
    let prices = cx.array(obj, "prices", Ptr::Root, |cx, v, p| cx.price(v, p));
    cx.duplicate_prices(obj.get("prices"), &prices);
    let dimensions =
        present(obj, "dimensions").and_then(|v| cx.dimensions(v, Ptr::Str("/dimensions")));
    let weight = present(obj, "weight").and_then(|v| cx.weight(v));
    let packaging = cx.array(obj, "packaging", Ptr::Root, |cx, v, p| {
        cx.packaging_level(v, p)
    });
    cx.packaging_rules(obj.get("packaging"), &packaging, weight.as_ref());

    match (sku, status) {
        (Some(sku), Some(status)) if cx.errors.is_empty() => Ok(Product {
            sku,
            gtin,
            status,
            brand,
            category,
            title,
            description,
            attributes,
            media: media.into_iter().flatten().collect(),
            prices: prices.into_iter().flatten().collect(),
            dimensions,
            weight,
            packaging: packaging.into_iter().flatten().collect(),
        }),
        _ => Err(cx.errors),
    }
}

/// The value of `key`, treating JSON `null` as absent.
fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// "a JSON number", "an array", ... for messages about a value of the wrong type.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a JSON number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `^[0-9]+(\.[0-9]+)?$`, read exactly (the scale written is kept).
fn parse_plain_decimal(s: &str) -> Option<Decimal> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return None;
    }
    Decimal::from_str_exact(s).ok()
}

/// Why a decimal text is not `^[0-9]+(\.[0-9]+)?$`, in words.
fn decimal_syntax_reason(s: &str) -> &'static str {
    if s.starts_with('-') {
        "must not be negative"
    } else if s.contains(['e', 'E']) && s.bytes().any(|b| b.is_ascii_digit()) {
        "must be written without an exponent"
    } else {
        "must be digits, optionally followed by a dot and more digits"
    }
}

/// What makes two prices the same tier: list, currency, min_qty and valid_from.
type PriceKey = (String, String, u32, Option<DateTime<Utc>>);

#[derive(Default)]
struct Cx {
    errors: ValidationErrors,
}

/// BCP-47-ish: a 2-3 letter language, optionally `-` and a 2-8 letter/digit region or script.
fn is_locale(s: &str) -> bool {
    let (lang, rest) = match s.split_once('-') {
        Some((l, r)) => (l, Some(r)),
        None => (s, None),
    };
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_alphabetic())
        && rest.is_none_or(|r| {
            (2..=8).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// An absolute http(s) URL with a non-empty host and no whitespace.
fn is_http_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let Some(rest) = rest else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !host.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests;
