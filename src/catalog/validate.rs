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

impl Cx {
    fn err(&mut self, pointer: impl IntoPointer, message: impl Into<String>) {
        self.errors.push(pointer.into_pointer(), message);
    }

    fn check<T>(&mut self, r: Result<T, String>, pointer: impl IntoPointer) -> Option<T> {
        r.map_err(|e| self.err(pointer, e)).ok()
    }

    /// An object whose keys are all in `allowed`; unknown keys are reported one by one.
    fn object<'a>(
        &mut self,
        v: &'a Value,
        p: Ptr<'_>,
        allowed: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        let Some(m) = v.as_object() else {
            self.err(p, format!("must be an object, not {}", kind(v)));
            return None;
        };
        for key in m.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.err(
                p.key(key),
                format!("is not a known field; allowed here: {}", allowed.join(", ")),
            );
        }
        Some(m)
    }

    fn string<'a>(&mut self, v: &'a Value, p: Ptr<'_>) -> Option<&'a str> {
        let s = v.as_str();
        if s.is_none() {
            self.err(p, format!("must be a string, not {}", kind(v)));
        }
        s
    }

    /// Optional string member `key` of `obj` (at pointer `base`); absent and null are `None`.
    fn opt_str<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        base: Ptr<'_>,
    ) -> Option<&'a str> {
        present(obj, key).and_then(|v| self.string(v, base.key(key)))
    }

    /// Required string member.
    fn req_str<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        base: Ptr<'_>,
        what: &str,
    ) -> Option<&'a str> {
        let p = base.key(key);
        match present(obj, key) {
            None => {
                self.err(p, format!("is required: {what}"));
                None
            }
            Some(v) => self.string(v, p),
        }
    }

    fn non_empty(&mut self, s: &str, p: Ptr<'_>) -> Option<String> {
        if s.trim().is_empty() {
            self.err(p, "must not be empty");
            None
        } else {
            Some(s.to_string())
        }
    }

    /// An optional array member; each item parsed by `item`, results kept by index.
    fn array<T>(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        base: Ptr<'_>,
        mut item: impl FnMut(&mut Cx, &Value, Ptr<'_>) -> Option<T>,
    ) -> Vec<Option<T>> {
        let p = base.key(key);
        let Some(v) = present(obj, key) else {
            return Vec::new();
        };
        let Some(items) = v.as_array() else {
            self.err(p, format!("must be an array, not {}", kind(v)));
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| item(self, v, p.index(i)))
            .collect()
    }

    fn sku(&mut self, body: Option<&Value>, path_sku: Option<&str>) -> Option<Sku> {
        let body = match body.filter(|v| !v.is_null()) {
            None => None,
            Some(v) => Some(self.string(v, Ptr::Str("/sku"))?),
        };
        match (body, path_sku) {
            (None, None) => {
                self.err(
                    "/sku",
                    "is required: 1 to 64 characters A-Z, a-z, 0-9, '.', '_' or '-'",
                );
                None
            }
            (Some(b), Some(p)) if b != p => {
                self.err(
                    "/sku",
                    format!("must equal the SKU of the URL ({p:?}), not {b:?}"),
                );
                None
            }
            (Some(s), _) => self.check(Sku::parse(s), "/sku"),
            (None, Some(p)) => self.check(Sku::parse(p), "/sku"),
        }
    }

    fn category(&mut self, s: &str) -> Option<String> {
        let problem = if s.is_empty() {
            Some("must not be empty")
        } else if s.starts_with('/') {
            Some("must not start with '/' (write \"tools/drills\")")
        } else if s.ends_with('/') {
            Some("must not end with '/' (write \"tools/drills\")")
        } else if s.split('/').any(|seg| seg.trim().is_empty()) {
            Some("must not have empty segments between '/'")
        } else {
            None
        };
        match problem {
            Some(m) => {
                self.err("/category", m);
                None
            }
            None => Some(s.to_string()),
        }
    }

    fn locale_map(&mut self, v: &Value, p: Ptr<'_>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(m) = v.as_object() else {
            self.err(
                p,
                format!(
                    "must be an object of locale -> text, e.g. {{\"en\": \"...\"}}, not {}",
                    kind(v)
                ),
            );
            return out;
        };
        for (locale, text) in m {
            let lp = p.key(locale);
            if !is_locale(locale) {
                self.err(
                    lp,
                    format!("{locale:?} is not a locale: use a language code like \"fr\", \"en\" or \"en-GB\""),
                );
                continue;
            }
            if let Some(t) = self.string(text, lp).and_then(|t| self.non_empty(t, lp)) {
                out.insert(locale.clone(), t);
            }
        }
        out
    }

    fn attributes(&mut self, v: &Value) -> BTreeMap<String, AttrValue> {
        /// I-JSON (RFC 7493): integers beyond 2^53 lose precision in most JSON libraries, and
        /// the canonical form (RFC 8785) writes every number as an IEEE double, so partners
        /// could not recompute the record hash. An integer beyond 64 bits reaches here already
        /// turned into a double by the JSON parser, indistinguishable from a double written
        /// as one: every number whose magnitude passes 2^53 - 1 is refused (a double that
        /// large has no fraction left anyway).
        fn is_interoperable(n: &serde_json::Number) -> bool {
            const MAX_SAFE: u64 = (1 << 53) - 1;
            match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.unsigned_abs() <= MAX_SAFE,
                (None, Some(u)) => u <= MAX_SAFE,
                (None, None) => n
                    .as_f64()
                    .is_some_and(|f| f.is_finite() && f.abs() <= MAX_SAFE as f64),
            }
        }
        let mut out = BTreeMap::new();
        let Some(m) = v.as_object() else {
            self.err("/attributes", format!("must be an object, not {}", kind(v)));
            return out;
        };
        for (name, value) in m {
            let p = ATTRIBUTES.key(name);
            if name.trim().is_empty() {
                self.err(p, "attribute names must not be empty");
                continue;
            }
            let a = match value {
                Value::String(s) => AttrValue::Text(s.clone()),
                Value::Number(n) if !is_interoperable(n) => {
                    self.err(
                        p,
                        "numbers must lie within ±9007199254740991 (2^53 - 1), beyond which JSON \
                         libraries disagree and the record's canonical JSON cannot carry every \
                         integer exactly; send larger values as strings",
                    );
                    continue;
                }
                Value::Number(n) => AttrValue::Number(n.clone()),
                Value::Bool(b) => AttrValue::Bool(*b),
                other => {
                    self.err(
                        p,
                        format!("must be a string, number or boolean, not {}", kind(other)),
                    );
                    continue;
                }
            };
            out.insert(name.clone(), a);
        }
        out
    }

    fn media(&mut self, v: &Value, p: Ptr<'_>) -> Option<Media> {
        let m = self.object(v, p, &["url", "role"])?;
        let url = self.req_str(m, "url", p, "an absolute http(s) URL");
        let url = url.and_then(|u| {
            if is_http_url(u) {
                Some(u.to_string())
            } else {
                self.err(
                    p.key("url"),
                    "must be an absolute http:// or https:// URL with a host and no spaces",
                );
                None
            }
        });
        let role = self
            .req_str(m, "role", p, "a non-empty string such as \"main\"")
            .and_then(|r| self.non_empty(r, p.key("role")));
        Some(Media {
            url: url?,
            role: role?,
        })
    }

    fn price(&mut self, v: &Value, p: Ptr<'_>) -> Option<Price> {
        let m = self.object(
            v,
            p,
            &[
                "list",
                "currency",
                "amount",
                "min_qty",
                "valid_from",
                "valid_to",
            ],
        )?;
        let list = self
            .req_str(m, "list", p, "the price list name, e.g. \"retail\"")
            .and_then(|l| {
                if !l.is_empty() && l.chars().all(is_key_char) {
                    Some(l.to_string())
                } else {
                    self.err(
                        p.key("list"),
                        "must be a non-empty name of letters, digits, '.', '_' or '-'",
                    );
                    None
                }
            });
        let currency = self
            .req_str(m, "currency", p, "an ISO 4217 code such as \"EUR\"")
            .and_then(|c| {
                let cur = Currency::from_code(c);
                if cur.is_none() {
                    self.err(
                        p.key("currency"),
                        format!(
                            "{c:?} is not an ISO 4217 currency code (upper case, e.g. \"EUR\")"
                        ),
                    );
                }
                cur
            });
        let amount = self.amount(m.get("amount"), p.key("amount"), currency);
        let min_qty = match present(m, "min_qty") {
            None => Some(1),
            Some(q) => self.count(q, p.key("min_qty")),
        };
        let valid_from = self.timestamp(m, "valid_from", p);
        let valid_to = self.timestamp(m, "valid_to", p);
        if let (Some(Some(f)), Some(Some(t))) = (valid_from, valid_to) {
            if f >= t {
                self.err(p.key("valid_to"), "must be later than valid_from");
                return None;
            }
        }
        Some(Price {
            list: list?,
            currency: currency?,
            amount: amount?,
            min_qty: min_qty?,
            valid_from: valid_from?,
            valid_to: valid_to?,
        })
    }

    fn amount(
        &mut self,
        v: Option<&Value>,
        p: Ptr<'_>,
        currency: Option<Currency>,
    ) -> Option<Decimal> {
        let s = match v {
            None | Some(Value::Null) => {
                self.err(p, "is required: a decimal string like \"129.90\"");
                return None;
            }
            Some(Value::Number(_)) => {
                self.err(
                    p,
                    "must be a decimal string like \"129.90\", not a JSON number",
                );
                return None;
            }
            Some(Value::String(s)) => s,
            Some(other) => {
                self.err(
                    p,
                    format!(
                        "must be a decimal string like \"129.90\", not {}",
                        kind(other)
                    ),
                );
                return None;
            }
        };
        let Some(d) = parse_plain_decimal(s) else {
            self.err(
                p,
                format!(
                    "must be a decimal string like \"129.90\": {:?} {}",
                    s,
                    decimal_syntax_reason(s)
                ),
            );
            return None;
        };
        if let Some(c) = currency {
            if d.scale() > c.exponent() {
                self.err(
                    p,
                    format!(
                        "has {} decimal(s) but {} allows at most {}",
                        d.scale(),
                        c.code(),
                        c.exponent()
                    ),
                );
                return None;
            }
        }
        Some(d)
    }

    /// A whole number of at least 1 that fits in u32.
    fn count(&mut self, v: &Value, p: Ptr<'_>) -> Option<u32> {
        match v.as_u64().map(u32::try_from) {
            Some(Ok(n)) if n >= 1 => Some(n),
            _ => {
                self.err(
                    p,
                    format!(
                        "must be a whole JSON number of at least 1, not {}",
                        match v {
                            Value::Number(n) => n.to_string(),
                            other => kind(other).to_string(),
                        }
                    ),
                );
                None
            }
        }
    }

    /// Optional RFC 3339 timestamp: `Some(None)` when absent, `None` when invalid.
    fn timestamp(
        &mut self,
        m: &Map<String, Value>,
        key: &str,
        base: Ptr<'_>,
    ) -> Option<Option<DateTime<Utc>>> {
        let p = base.key(key);
        let Some(v) = present(m, key) else {
            return Some(None);
        };
        let s = self.string(v, p)?;
        match DateTime::parse_from_rfc3339(s) {
            Ok(t) if t.nanosecond() == 0 => Some(Some(t.with_timezone(&Utc))),
            Ok(_) => {
                self.err(p, "must be precise to the second (no fractional seconds)");
                None
            }
            Err(_) => {
                self.err(
                    p,
                    format!(
                        "must be an RFC 3339 timestamp like \"2027-01-01T00:00:00Z\", not {s:?}"
                    ),
                );
                None
            }
        }
    }

    fn duplicate_prices(&mut self, raw: Option<&Value>, prices: &[Option<Price>]) {
        if raw.is_none() {
            return;
        }
        let mut seen: HashMap<PriceKey, usize> = HashMap::new();
        for (i, p) in prices.iter().enumerate() {
            let Some(p) = p else { continue };
            let key = (
                p.list.clone(),
                p.currency.code().to_string(),
                p.min_qty,
                p.valid_from,
            );
            if let Some(first) = seen.get(&key) {
                self.err(
                    format!("/prices/{i}"),
                    format!(
                        "duplicates /prices/{first}: same list, currency, min_qty and valid_from"
                    ),
                );
            } else {
                seen.insert(key, i);
            }
        }
    }

    /// A strictly positive measure: a decimal string or a JSON number (read in its textual form).
    fn measure(&mut self, v: Option<&Value>, p: Ptr<'_>) -> Option<Decimal> {
        let text = match v {
            None | Some(Value::Null) => {
                self.err(p, "is required: a decimal string like \"32.5\" or a number");
                return None;
            }
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                self.err(
                    p,
                    format!(
                        "must be a decimal string like \"32.5\" or a number, not {}",
                        kind(other)
                    ),
                );
                return None;
            }
        };
        let Some(d) = parse_plain_decimal(&text) else {
            let reason = if text.starts_with('-') {
                "must be strictly positive"
            } else {
                decimal_syntax_reason(&text)
            };
            self.err(
                p,
                format!("must be a decimal like \"32.5\": {text:?} {reason}"),
            );
            return None;
        };
        if d.is_zero() {
            self.err(p, "must be strictly positive, not zero");
            return None;
        }
        Some(d)
    }

    fn length_unit(&mut self, m: &Map<String, Value>, p: Ptr<'_>) -> Option<LengthUnit> {
        let u = self.req_str(m, "unit", p, "one of mm, cm, m, in")?;
        let unit = LengthUnit::parse(u);
        if unit.is_none() {
            self.err(
                p.key("unit"),
                format!("must be one of mm, cm, m, in, not {u:?}"),
            );
        }
        unit
    }

    fn mass_unit(&mut self, m: &Map<String, Value>, p: Ptr<'_>) -> Option<MassUnit> {
        let u = self.req_str(m, "unit", p, "one of g, kg, lb")?;
        let unit = MassUnit::parse(u);
        if unit.is_none() {
            self.err(
                p.key("unit"),
                format!("must be one of g, kg, lb, not {u:?}"),
            );
        }
        unit
    }

    fn convert_mm(
        &mut self,
        d: Option<Decimal>,
        unit: Option<LengthUnit>,
        p: Ptr<'_>,
    ) -> Option<Decimal> {
        let (d, unit) = (d?, unit?);
        let mm = unit.to_mm(d);
        if mm.is_none() {
            self.err(p, "is too large");
        }
        mm
    }

    fn convert_g(
        &mut self,
        d: Option<Decimal>,
        unit: Option<MassUnit>,
        p: Ptr<'_>,
    ) -> Option<Decimal> {
        let (d, unit) = (d?, unit?);
        let g = unit.to_g(d);
        if g.is_none() {
            self.err(p, "is too large");
        }
        g
    }

    fn dimensions(&mut self, v: &Value, p: Ptr<'_>) -> Option<Dimensions> {
        let m = self.object(v, p, &["length", "width", "height", "unit"])?;
        let unit = self.length_unit(m, p);
        let side = |cx: &mut Cx, key: &str| {
            let sp = p.key(key);
            let d = cx.measure(m.get(key), sp);
            cx.convert_mm(d, unit, sp)
        };
        let length_mm = side(self, "length");
        let width_mm = side(self, "width");
        let height_mm = side(self, "height");
        Some(Dimensions {
            length_mm: length_mm?,
            width_mm: width_mm?,
            height_mm: height_mm?,
        })
    }

    fn weight(&mut self, v: &Value) -> Option<Weight> {
        let p = Ptr::Str("/weight");
        let m = self.object(v, p, &["net", "gross", "unit"])?;
        let unit = self.mass_unit(m, p);
        let (net_raw, gross_raw) = (present(m, "net"), present(m, "gross"));
        if net_raw.is_none() && gross_raw.is_none() {
            self.err(p, "needs a net weight, a gross weight or both");
            return None;
        }
        let part = |cx: &mut Cx, key: &str, raw: Option<&Value>| -> Option<Option<Decimal>> {
            let Some(raw) = raw else { return Some(None) };
            let wp = p.key(key);
            let d = cx.measure(Some(raw), wp);
            cx.convert_g(d, unit, wp).map(Some)
        };
        let net_g = part(self, "net", net_raw);
        let gross_g = part(self, "gross", gross_raw);
        let (net_g, gross_g) = (net_g?, gross_g?);
        if let (Some(n), Some(g)) = (net_g, gross_g) {
            if g < n {
                self.err("/weight/gross", "must not be less than the net weight");
                return None;
            }
        }
        Some(Weight { net_g, gross_g })
    }

    fn packaging_level(&mut self, v: &Value, p: Ptr<'_>) -> Option<PackagingLevel> {
        let m = self.object(
            v,
            p,
            &[
                "level",
                "quantity",
                "gtin",
                "dimensions",
                "gross_weight",
                "type",
            ],
        )?;
        let level = self
            .req_str(m, "level", p, "one of each, inner, case, pallet")
            .and_then(|l| {
                let k = PackagingLevelKind::parse(l);
                if k.is_none() {
                    self.err(
                        p.key("level"),
                        format!("must be one of each, inner, case, pallet, not {l:?}"),
                    );
                }
                k
            });
        let qp = p.key("quantity");
        let quantity = match present(m, "quantity") {
            None => {
                self.err(qp, "is required: the number of base units this level holds");
                None
            }
            Some(q) => self.count(q, qp),
        };
        if let (Some(PackagingLevelKind::Each), Some(q)) = (level, quantity) {
            if q != 1 {
                self.err(qp, format!("must be 1 for the level \"each\", not {q}"));
                return None;
            }
        }
        let gtin = match self.opt_str(m, "gtin", p) {
            None => Some(None),
            Some(g) => self.check(Gtin::parse(g), p.key("gtin")).map(Some),
        };
        let dimensions = match present(m, "dimensions") {
            None => Some(None),
            Some(d) => self.dimensions(d, p.key("dimensions")).map(Some),
        };
        let gross_weight_g = match present(m, "gross_weight") {
            None => Some(None),
            Some(w) => {
                let wp = p.key("gross_weight");
                self.object(w, wp, &["value", "unit"]).and_then(|wm| {
                    let unit = self.mass_unit(wm, wp);
                    let vp = wp.key("value");
                    let d = self.measure(wm.get("value"), vp);
                    self.convert_g(d, unit, vp).map(Some)
                })
            }
        };
        let kind = match self.opt_str(m, "type", p) {
            None => Some(None),
            Some(t) => self.non_empty(t, p.key("type")).map(Some),
        };
        Some(PackagingLevel {
            level: level?,
            quantity: quantity?,
            gtin: gtin?,
            dimensions: dimensions?,
            gross_weight_g: gross_weight_g?,
            kind: kind?,
        })
    }

    /// Order each < inner < case < pallet without duplicates, strictly growing quantities, and
    /// no level lighter than what it contains.
    fn packaging_rules(
        &mut self,
        raw: Option<&Value>,
        levels: &[Option<PackagingLevel>],
        weight: Option<&Weight>,
    ) {
        if raw.is_none() {
            return;
        }
        let product_g = weight.and_then(|w| w.gross_g.or(w.net_g));
        let mut prev: Option<(usize, &PackagingLevel)> = None;
        // The last level before this one whose gross weight is known: (index, quantity, grams).
        let mut heavy: Option<(usize, u32, Decimal)> = None;
        for (i, l) in levels.iter().enumerate() {
            let Some(l) = l else { continue };
            if let Some((j, pl)) = prev {
                if l.level == pl.level {
                    self.err(
                        format!("/packaging/{i}/level"),
                        format!(
                            "duplicates the level {:?} of /packaging/{j}",
                            l.level.as_str()
                        ),
                    );
                } else if l.level < pl.level {
                    self.err(
                        format!("/packaging/{i}/level"),
                        format!(
                            "{:?} must come before {:?} (/packaging/{j}): levels go each, inner, case, pallet",
                            l.level.as_str(),
                            pl.level.as_str()
                        ),
                    );
                }
                if l.quantity <= pl.quantity {
                    self.err(
                        format!("/packaging/{i}/quantity"),
                        format!(
                            "must be greater than {} (the quantity of /packaging/{j}): quantities grow from each to pallet",
                            pl.quantity
                        ),
                    );
                }
            }
            if let Some(w) = l.gross_weight_g {
                let q = Decimal::from(l.quantity);
                let (needed, what) = match heavy {
                    Some((j, hq, hw)) => (
                        q.checked_mul(hw)
                            .and_then(|x| x.checked_div(Decimal::from(hq))),
                        format!(
                            "{} / {hq} times the gross weight of /packaging/{j} ({hw} g)",
                            l.quantity
                        ),
                    ),
                    None => (
                        product_g.and_then(|pw| q.checked_mul(pw)),
                        format!(
                            "{} times the product's {} weight ({} g)",
                            l.quantity,
                            if weight.and_then(|w| w.gross_g).is_some() {
                                "gross"
                            } else {
                                "net"
                            },
                            product_g.unwrap_or_default()
                        ),
                    ),
                };
                if let Some(needed) = needed {
                    if w < needed {
                        self.err(
                            format!("/packaging/{i}/gross_weight"),
                            format!(
                                "is {w} g, less than what it contains: at least {} g ({what})",
                                needed.round_dp(3).normalize()
                            ),
                        );
                    }
                }
                heavy = Some((i, l.quantity, w));
            }
            prev = Some((i, l));
        }
    }
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
mod tests {
    use super::*;
    use serde_json::json;

    fn example() -> Value {
        json!({"sku": "DRL-1001", "gtin": "3700123456780", "status": "active", "brand": "Acme",
         "category": "tools/drills", "title": {"fr": "Perceuse 18 V", "en": "18 V drill"},
         "description": {"fr": "...", "en": "..."}, "attributes": {"voltage": 18, "cordless": true},
         "media": [{"url": "https://cdn.example.com/drl-1001.jpg", "role": "main"}],
         "prices": [{"list": "retail", "currency": "EUR", "amount": "129.90", "min_qty": 1},
                    {"list": "reseller", "currency": "EUR", "amount": "84.00", "min_qty": 1},
                    {"list": "reseller", "currency": "EUR", "amount": "79.00", "min_qty": 10,
                     "valid_from": "2027-01-01T00:00:00Z"}],
         "dimensions": {"length": "32.5", "width": "9", "height": "24", "unit": "cm"},
         "weight": {"net": "1.45", "gross": "1.9", "unit": "kg"},
         "packaging": [{"level": "each", "quantity": 1, "type": "box"},
                       {"level": "case", "quantity": 6, "gtin": "13700123456787",
                        "dimensions": {"length": "40", "width": "30", "height": "26", "unit": "cm"},
                        "gross_weight": {"value": "12.2", "unit": "kg"}},
                       {"level": "pallet", "quantity": 240}]})
    }

    fn minimal() -> Value {
        json!({"sku": "A-1", "status": "active", "title": {"en": "Thing"}})
    }

    /// `minimal()` with `patch` merged in.
    fn with(patch: Value) -> Value {
        let mut v = minimal();
        crate::catalog::merge_patch(&mut v, &patch);
        v
    }

    fn errors(v: &Value) -> Vec<(String, String)> {
        match parse_product(v, None) {
            Ok(p) => panic!("expected errors, got {p:?}"),
            Err(e) => e
                .errors
                .into_iter()
                .map(|e| (e.pointer, e.message))
                .collect(),
        }
    }

    fn pointers(v: &Value) -> Vec<String> {
        errors(v).into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn the_product_md_example_is_valid_and_normalised() {
        let p = parse_product(&example(), None).unwrap();
        assert_eq!(p.sku().as_str(), "DRL-1001");
        assert_eq!(p.gtin.as_ref().unwrap().as_str(), "03700123456780");
        let j = p.to_json();
        assert_eq!(
            j["dimensions"],
            json!({"length": "325", "width": "90", "height": "240", "unit": "mm"})
        );
        assert_eq!(
            j["weight"],
            json!({"net": "1450", "gross": "1900", "unit": "g"})
        );
        assert_eq!(j["prices"][0]["amount"], "129.90");
        assert_eq!(j["prices"][1]["amount"], "84.00");
        assert_eq!(j["prices"][2]["valid_from"], "2027-01-01T00:00:00Z");
        assert_eq!(
            j["packaging"][1]["gross_weight"],
            json!({"value": "12200", "unit": "g"})
        );
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, TOP_LEVEL);
    }

    #[test]
    fn canonical_form_round_trips_unchanged() {
        let p = parse_product(&example(), None).unwrap();
        let canonical = p.to_json();
        let again = parse_product(&canonical, Some("DRL-1001")).unwrap();
        assert_eq!(again, p);
        assert_eq!(again.to_json(), canonical);
        assert_eq!(
            serde_json::to_string(&again.to_json()).unwrap(),
            serde_json::to_string(&canonical).unwrap()
        );
        assert_eq!(again.content_hash(), p.content_hash());
        assert_eq!(p.content_hash().len(), 64);
    }

    #[test]
    fn empty_and_null_optionals_are_omitted_and_min_qty_defaults_to_1() {
        let v = with(json!({"brand": null, "media": [], "attributes": {},
            "prices": [{"list": "retail", "currency": "JPY", "amount": "1500"}]}));
        let j = parse_product(&v, None).unwrap().to_json();
        assert_eq!(
            j,
            json!({"sku": "A-1", "status": "active", "title": {"en": "Thing"},
                "prices": [{"list": "retail", "currency": "JPY", "amount": "1500", "min_qty": 1}]})
        );
    }

    #[test]
    fn several_errors_are_reported_at_once_with_pointers() {
        let v = json!({"sku": "bad sku", "status": "sold", "title": {},
            "colour": "red",
            "prices": [{"list": "retail", "currency": "EUR", "amount": 129.9}],
            "packaging": [{"level": "each", "quantity": 1}, {"level": "case", "quantity": 0},
                          {"level": "pallet", "quantity": 10, "colour": "x"}]});
        let ptrs = pointers(&v);
        for expected in [
            "/colour",
            "/sku",
            "/status",
            "/title",
            "/prices/0/amount",
            "/packaging/1/quantity",
            "/packaging/2/colour",
        ] {
            assert!(
                ptrs.contains(&expected.to_string()),
                "{expected} missing in {ptrs:?}"
            );
        }
        let amount = errors(&v)
            .into_iter()
            .find(|(p, _)| p == "/prices/0/amount")
            .unwrap()
            .1;
        assert_eq!(
            amount,
            "must be a decimal string like \"129.90\", not a JSON number"
        );
    }

    #[test]
    fn top_level_must_be_an_object() {
        assert_eq!(pointers(&json!([1])), [""]);
    }

    #[test]
    fn sku_against_the_path() {
        let mut v = minimal();
        v.as_object_mut().unwrap().remove("sku");
        assert_eq!(pointers(&v), ["/sku"]);
        assert_eq!(
            parse_product(&v, Some("A-1")).unwrap().sku().as_str(),
            "A-1"
        );
        let e = parse_product(&minimal(), Some("B-2")).unwrap_err();
        assert_eq!(e.errors[0].pointer, "/sku");
        assert!(e.errors[0].message.contains("URL"));
        assert!(parse_product(&minimal(), Some("A-1")).is_ok());
    }

    #[test]
    fn gtin_is_verified() {
        assert_eq!(pointers(&with(json!({"gtin": "3700123456781"}))), ["/gtin"]);
        assert_eq!(
            pointers(&with(json!({"gtin": 3700123456780u64}))),
            ["/gtin"]
        );
        let p = parse_product(&with(json!({"gtin": "02345673"})), None).unwrap();
        assert_eq!(p.to_json()["gtin"], "00000002345673");
    }

    #[test]
    fn status_is_required() {
        let mut v = minimal();
        v.as_object_mut().unwrap().remove("status");
        assert_eq!(pointers(&v), ["/status"]);
    }

    #[test]
    fn at_least_one_title() {
        let mut v = minimal();
        v.as_object_mut().unwrap().remove("title");
        assert_eq!(pointers(&v), ["/title"]);
        assert_eq!(pointers(&with(json!({"title": {"en": null}}))), ["/title"]);
        assert_eq!(
            pointers(&with(json!({"title": {"en": " "}}))),
            ["/title/en"]
        );
        assert_eq!(
            pointers(&with(json!({"title": {"english": "x"}}))),
            ["/title/english"]
        );
        assert!(parse_product(&with(json!({"title": {"en-GB": "x"}})), None).is_ok());
        assert_eq!(
            pointers(&with(json!({"description": {"fr": 1}}))),
            ["/description/fr"]
        );
    }

    #[test]
    fn category_paths() {
        assert!(parse_product(&with(json!({"category": "tools/drills"})), None).is_ok());
        for bad in ["/tools", "tools/", "tools//drills", ""] {
            assert_eq!(
                pointers(&with(json!({"category": bad}))),
                ["/category"],
                "{bad}"
            );
        }
        assert_eq!(pointers(&with(json!({"brand": ""}))), ["/brand"]);
    }

    #[test]
    fn attributes_are_flat() {
        // Built by hand: a merge patch would drop the null.
        let mut v = minimal();
        v["attributes"] = json!({"a": "x", "b": 1.5, "c": false, "d": null,
            "e": [1], "f": {"g": 1}, "a/b": []});
        assert_eq!(
            pointers(&v),
            [
                "/attributes/d",
                "/attributes/e",
                "/attributes/f",
                "/attributes/a~1b"
            ]
        );
    }

    #[test]
    fn attribute_integers_stay_within_what_every_json_library_reads_exactly() {
        let mut v = minimal();
        v["attributes"] = json!({"ok": 9007199254740991_u64, "neg": -9007199254740991_i64,
            "big": 9007199254740992_u64, "huge": 18446744073709551615_u64});
        assert_eq!(pointers(&v), ["/attributes/big", "/attributes/huge"]);
        // Beyond 64 bits the parser hands over a double: refused too, never kept as a float.
        let text = r#"{"beyond_u64": 18446744073709551616, "beyond_i64": -9223372036854775809,
            "e": 1e300, "fine": 1.5, "tiny": 1e-300, "max": 9007199254740991.0}"#;
        v["attributes"] = serde_json::from_str(text).unwrap();
        assert_eq!(
            pointers(&v),
            [
                "/attributes/beyond_u64",
                "/attributes/beyond_i64",
                "/attributes/e"
            ]
        );
    }

    #[test]
    fn media_urls_and_roles() {
        let v = with(json!({"media": [
            {"url": "https://cdn.example.com/a.jpg", "role": "main"},
            {"url": "ftp://x/a.jpg", "role": "main"},
            {"url": "https://", "role": ""},
            {"url": "http://x.example/a b.jpg", "role": "alt", "alt": "x"}]}));
        assert_eq!(
            pointers(&v),
            [
                "/media/1/url",
                "/media/2/url",
                "/media/2/role",
                "/media/3/alt",
                "/media/3/url"
            ]
        );
    }

    fn price(extra: Value) -> Value {
        let mut p = json!({"list": "retail", "currency": "EUR", "amount": "10.00"});
        crate::catalog::merge_patch(&mut p, &extra);
        with(json!({ "prices": [p] }))
    }

    #[test]
    fn money_decimals_follow_the_currency() {
        assert!(parse_product(&price(json!({"amount": "10.5"})), None).is_ok());
        assert!(parse_product(&price(json!({"amount": "10"})), None).is_ok());
        assert!(parse_product(&price(json!({"amount": "0"})), None).is_ok());
        let three = errors(&price(json!({"amount": "10.505"})));
        assert_eq!(three[0].0, "/prices/0/amount");
        assert!(
            three[0].1.contains("EUR allows at most 2"),
            "{}",
            three[0].1
        );
        assert!(parse_product(&price(json!({"currency": "JPY", "amount": "1500"})), None).is_ok());
        assert!(
            parse_product(&price(json!({"currency": "JPY", "amount": "1500.0"})), None).is_err()
        );
        assert!(parse_product(&price(json!({"currency": "KWD", "amount": "1.250"})), None).is_ok());
        assert!(
            parse_product(&price(json!({"currency": "KWD", "amount": "1.2505"})), None).is_err()
        );
    }

    #[test]
    fn amount_syntax() {
        for bad in ["-1.00", "1e3", "1.", ".5", " 1", "1,00", "", "+1"] {
            assert_eq!(
                pointers(&price(json!({ "amount": bad }))),
                ["/prices/0/amount"],
                "{bad}"
            );
        }
        assert!(errors(&price(json!({"amount": "-1"})))[0]
            .1
            .contains("negative"));
        assert_eq!(
            pointers(&price(json!({"amount": 10}))),
            ["/prices/0/amount"]
        );
        assert_eq!(
            pointers(&price(json!({"amount": null}))),
            ["/prices/0/amount"]
        );
        assert_eq!(
            pointers(&price(json!({"currency": "eur"}))),
            ["/prices/0/currency"]
        );
        assert_eq!(
            pointers(&price(json!({"currency": "XYZ"}))),
            ["/prices/0/currency"]
        );
        assert_eq!(
            pointers(&price(json!({"list": "re tail"}))),
            ["/prices/0/list"]
        );
        assert_eq!(
            pointers(&price(json!({"discount": "1"}))),
            ["/prices/0/discount"]
        );
    }

    #[test]
    fn min_qty_is_a_whole_number_of_at_least_one() {
        let p = parse_product(&price(json!({"min_qty": 12})), None).unwrap();
        assert_eq!(p.prices[0].min_qty, 12);
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("2"),
            json!(5_000_000_000u64),
        ] {
            assert_eq!(
                pointers(&price(json!({ "min_qty": bad }))),
                ["/prices/0/min_qty"],
                "{bad}"
            );
        }
    }

    #[test]
    fn validity_windows() {
        let ok = price(json!({"valid_from": "2027-01-01T01:00:00+01:00",
            "valid_to": "2027-02-01T00:00:00.000Z"}));
        let p = parse_product(&ok, None).unwrap();
        assert_eq!(
            p.to_json()["prices"][0]["valid_from"],
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(p.to_json()["prices"][0]["valid_to"], "2027-02-01T00:00:00Z");
        let reversed = price(json!({"valid_from": "2027-02-01T00:00:00Z",
            "valid_to": "2027-01-01T00:00:00Z"}));
        assert_eq!(pointers(&reversed), ["/prices/0/valid_to"]);
        let equal = price(json!({"valid_from": "2027-01-01T00:00:00Z",
            "valid_to": "2027-01-01T00:00:00Z"}));
        assert_eq!(pointers(&equal), ["/prices/0/valid_to"]);
        assert_eq!(
            pointers(&price(json!({"valid_from": "2027-01-01"}))),
            ["/prices/0/valid_from"]
        );
        assert_eq!(
            pointers(&price(json!({"valid_to": "2027-01-01T00:00:00.5Z"}))),
            ["/prices/0/valid_to"]
        );
    }

    #[test]
    fn duplicate_prices_are_rejected() {
        let v = with(json!({"prices": [
            {"list": "retail", "currency": "EUR", "amount": "10.00"},
            {"list": "retail", "currency": "EUR", "amount": "9.00", "min_qty": 10},
            {"list": "retail", "currency": "EUR", "amount": "8.00", "min_qty": 1},
            {"list": "retail", "currency": "EUR", "amount": "8.00",
             "valid_from": "2027-01-01T00:00:00Z"}]}));
        let e = errors(&v);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "/prices/2");
        assert!(e[0].1.contains("/prices/0"));
    }

    #[test]
    fn next_change_after_finds_the_nearest_window_edge() {
        let v = with(json!({"prices": [
            {"list": "r", "currency": "EUR", "amount": "1", "valid_to": "2027-03-01T00:00:00Z"},
            {"list": "r", "currency": "EUR", "amount": "2", "valid_from": "2027-03-01T00:00:00Z",
             "valid_to": "2027-06-01T00:00:00Z"},
            {"list": "s", "currency": "EUR", "amount": "2", "valid_from": "2026-01-01T00:00:00Z"}]}));
        let p = parse_product(&v, None).unwrap();
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            p.next_change_after(t("2026-06-01T00:00:00Z")),
            Some(t("2027-03-01T00:00:00Z"))
        );
        assert_eq!(
            p.next_change_after(t("2027-03-01T00:00:00Z")),
            Some(t("2027-06-01T00:00:00Z"))
        );
        assert_eq!(p.next_change_after(t("2027-06-01T00:00:00Z")), None);
    }

    #[test]
    fn measures_convert_to_mm_and_g() {
        let v = with(
            json!({"dimensions": {"length": 1, "width": "2.5", "height": 0.5, "unit": "in"},
            "weight": {"net": "1", "unit": "lb"}}),
        );
        let j = parse_product(&v, None).unwrap().to_json();
        assert_eq!(
            j["dimensions"],
            json!({"length": "25.4", "width": "63.5", "height": "12.7", "unit": "mm"})
        );
        assert_eq!(j["weight"], json!({"net": "453.59237", "unit": "g"}));
        let m = with(
            json!({"dimensions": {"length": "1.2", "width": "0.05", "height": "3", "unit": "m"}}),
        );
        assert_eq!(
            parse_product(&m, None).unwrap().to_json()["dimensions"],
            json!({"length": "1200", "width": "50", "height": "3000", "unit": "mm"})
        );
    }

    #[test]
    fn measures_must_be_positive_plain_decimals_with_units() {
        let v = with(
            json!({"dimensions": {"length": "0", "width": -1, "height": 1e300, "unit": "ft"},
            "weight": {"unit": "kg"}}),
        );
        assert_eq!(
            pointers(&v),
            [
                "/dimensions/unit",
                "/dimensions/length",
                "/dimensions/width",
                "/dimensions/height",
                "/weight"
            ]
        );
        let missing = with(json!({"dimensions": {"length": "1", "width": "1"}}));
        assert_eq!(
            pointers(&missing),
            ["/dimensions/unit", "/dimensions/height"]
        );
        let lighter = with(json!({"weight": {"net": "2", "gross": "1.5", "unit": "kg"}}));
        assert_eq!(pointers(&lighter), ["/weight/gross"]);
        let only_gross = with(json!({"weight": {"gross": 900, "unit": "g"}}));
        assert!(parse_product(&only_gross, None).is_ok());
    }

    fn packaging(levels: Value) -> Value {
        with(json!({"weight": {"net": "1", "gross": "1.5", "unit": "kg"}, "packaging": levels}))
    }

    #[test]
    fn packaging_levels_go_in_order_without_duplicates() {
        let v =
            packaging(json!([{"level": "case", "quantity": 6}, {"level": "each", "quantity": 1}]));
        assert_eq!(
            pointers(&v),
            ["/packaging/1/level", "/packaging/1/quantity"]
        );
        let dup =
            packaging(json!([{"level": "case", "quantity": 6}, {"level": "case", "quantity": 12}]));
        assert_eq!(pointers(&dup), ["/packaging/1/level"]);
        let bad = packaging(json!([{"level": "crate", "quantity": 6}, {"quantity": 2}]));
        assert_eq!(pointers(&bad), ["/packaging/0/level", "/packaging/1/level"]);
    }

    #[test]
    fn packaging_quantities_grow_and_each_is_one() {
        let v = packaging(json!([{"level": "each", "quantity": 2},
            {"level": "inner", "quantity": 6}, {"level": "case", "quantity": 6},
            {"level": "pallet"}]));
        assert_eq!(
            pointers(&v),
            [
                "/packaging/0/quantity",
                "/packaging/3/quantity",
                "/packaging/2/quantity"
            ]
        );
        let ok = packaging(json!([{"level": "inner", "quantity": 2},
            {"level": "pallet", "quantity": 200, "gtin": "12345678901231"}]));
        assert!(parse_product(&ok, None).is_ok());
        let gtin = packaging(json!([{"level": "case", "quantity": 2, "gtin": "12345678901232"}]));
        assert_eq!(pointers(&gtin), ["/packaging/0/gtin"]);
    }

    #[test]
    fn packaging_weighs_at_least_its_contents() {
        // 6 x 1.5 kg = 9 kg: 8.9 kg is too light, 9 kg is fine.
        let light = packaging(json!([{"level": "case", "quantity": 6,
            "gross_weight": {"value": "8.9", "unit": "kg"}}]));
        let e = errors(&light);
        assert_eq!(e[0].0, "/packaging/0/gross_weight");
        assert!(e[0].1.contains("at least 9000 g"), "{}", e[0].1);
        let exact = packaging(json!([{"level": "case", "quantity": 6,
            "gross_weight": {"value": "9", "unit": "kg"}}]));
        assert!(parse_product(&exact, None).is_ok());
        // The pallet holds 240 / 6 = 40 cases of 10 kg: 399 kg is too light.
        let pallet = packaging(json!([{"level": "case", "quantity": 6,
            "gross_weight": {"value": "10", "unit": "kg"}},
            {"level": "pallet", "quantity": 240, "gross_weight": {"value": "399", "unit": "kg"}}]));
        assert_eq!(pointers(&pallet), ["/packaging/1/gross_weight"]);
        // Net weight is used when the product's gross weight is unknown.
        let net_only = with(json!({"weight": {"net": "100", "unit": "g"},
            "packaging": [{"level": "each", "quantity": 1,
                "gross_weight": {"value": "99", "unit": "g"}}]}));
        assert_eq!(pointers(&net_only), ["/packaging/0/gross_weight"]);
        // Without any product weight only levels with known weights are compared.
        let unknown = with(json!({"packaging": [{"level": "case", "quantity": 6,
            "gross_weight": {"value": "1", "unit": "g"}}]}));
        assert!(parse_product(&unknown, None).is_ok());
        let bad_weight = packaging(json!([{"level": "case", "quantity": 6,
            "gross_weight": {"value": "1", "unit": "t", "tare": 1}}]));
        assert_eq!(
            pointers(&bad_weight),
            [
                "/packaging/0/gross_weight/tare",
                "/packaging/0/gross_weight/unit"
            ]
        );
    }

    #[test]
    fn unknown_fields_are_rejected_everywhere() {
        let v = with(
            json!({"price": "1", "dimensions": {"length": 1, "width": 1, "height": 1,
            "unit": "mm", "depth": 1}, "weight": {"net": 1, "unit": "g", "tare": 1}}),
        );
        assert_eq!(
            pointers(&v),
            ["/price", "/dimensions/depth", "/weight/tare"]
        );
        let e = errors(&with(json!({"colour": "red"})));
        assert!(e[0].1.contains("not a known field"));
    }

    #[test]
    fn pointer_escaping() {
        assert_eq!(pointer_join("/a", "b/c~d"), "/a/b~1c~0d");
    }
}
