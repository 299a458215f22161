//! A channel definition: one partner network's view of the catalog (assortment, price list,
//! locale, units, carried fields), parsed from its JSON with every problem reported at once.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use crate::catalog::{Currency, FieldError, Status, ValidationErrors};

/// Bumped whenever the projection code changes what it publishes for the same inputs, so that
/// every channel's definition hash changes and the whole catalog is re-evaluated once.
pub const PROJECTION_VERSION: u32 = 1;

/// A top-level field of the projected record that a channel may carry (`sku` always is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Gtin,
    Status,
    Brand,
    Category,
    Title,
    Description,
    Attributes,
    Media,
    /// Brings `price` and `price_tiers`.
    Price,
    Dimensions,
    Weight,
    Packaging,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::Gtin,
        Field::Status,
        Field::Brand,
        Field::Category,
        Field::Title,
        Field::Description,
        Field::Attributes,
        Field::Media,
        Field::Price,
        Field::Dimensions,
        Field::Weight,
        Field::Packaging,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Gtin => "gtin",
            Field::Status => "status",
            Field::Brand => "brand",
            Field::Category => "category",
            Field::Title => "title",
            Field::Description => "description",
            Field::Attributes => "attributes",
            Field::Media => "media",
            Field::Price => "price",
            Field::Dimensions => "dimensions",
            Field::Weight => "weight",
            Field::Packaging => "packaging",
        }
    }

    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// The unit system a channel publishes measures in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Units {
    /// Millimetres and grams.
    #[default]
    Metric,
    /// Inches and pounds.
    Imperial,
}

impl Units {
    pub fn as_str(self) -> &'static str {
        match self {
            Units::Metric => "metric",
            Units::Imperial => "imperial",
        }
    }
}

/// Which products a channel publishes. Every empty list means "no restriction".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assortment {
    pub statuses: Vec<Status>,
    /// Category path prefixes, matched on whole `/`-separated segments.
    pub categories: Vec<String>,
    /// Exact, case-sensitive brand names.
    pub brands: Vec<String>,
    /// Published regardless of the category and brand rules (the status rule still applies).
    pub include_skus: Vec<String>,
    /// Never published.
    pub exclude_skus: Vec<String>,
}

/// A parsed, valid channel definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelDef {
    pub name: String,
    /// BCP 47 tag, e.g. `fr` or `fr-BE`.
    pub locale: String,
    pub currency: Currency,
    pub price_list: String,
    /// Percentage applied to every published amount, e.g. `-5`; always greater than -100.
    pub price_adjustment_percent: Option<Decimal>,
    pub units: Units,
    pub assortment: Assortment,
    /// Carried fields, in the order given; `None` carries every field.
    pub fields: Option<Vec<Field>>,
    /// Free-form settings for feed profiles (link templates, GLNs, ...); never projected.
    pub settings: BTreeMap<String, String>,
}

const TOP_LEVEL: [&str; 9] = [
    "name",
    "locale",
    "currency",
    "price_list",
    "price_adjustment_percent",
    "units",
    "assortment",
    "fields",
    "settings",
];
const ASSORTMENT: [&str; 5] = [
    "statuses",
    "categories",
    "brands",
    "include_skus",
    "exclude_skus",
];

/// Parses a channel definition as an admin writes it (`PUT /v1/channels/{code}` body).
pub fn parse_channel(value: &Value) -> Result<ChannelDef, ValidationErrors> {
    let mut errors = Errors::default();
    let Some(obj) = value.as_object() else {
        errors.push("", "must be a JSON object");
        return Err(errors.finish());
    };
    for key in obj.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            errors.push(&format!("/{}", escape(key)), "unknown field");
        }
    }

    let name = required_text(obj, "name", &mut errors);
    let locale = required_text(obj, "locale", &mut errors);
    if let Some(locale) = &locale {
        if !is_locale(locale) {
            errors.push(
                "/locale",
                "must be a BCP 47 language tag such as \"fr\" or \"fr-BE\"",
            );
        }
    }
    let currency = match obj.get("currency") {
        None => {
            errors.push("/currency", "is required");
            None
        }
        Some(Value::String(code)) => match iso_currency::Currency::from_code(code) {
            Some(c) => Some(Currency(c)),
            None => {
                errors.push(
                    "/currency",
                    "must be an ISO 4217 currency code such as \"EUR\"",
                );
                None
            }
        },
        Some(_) => {
            errors.push("/currency", "must be a string");
            None
        }
    };
    let price_list = required_text(obj, "price_list", &mut errors);
    let price_adjustment_percent = match obj.get("price_adjustment_percent") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let parsed = match v {
                Value::String(s) => parse_decimal(s),
                Value::Number(n) => parse_decimal(&n.to_string()),
                _ => None,
            };
            match parsed {
                Some(p) if p > Decimal::from(-100) => Some(p),
                Some(_) => {
                    errors.push("/price_adjustment_percent", "must be greater than -100");
                    None
                }
                None => {
                    errors.push(
                        "/price_adjustment_percent",
                        "must be a decimal string such as \"-5\" or \"2.5\"",
                    );
                    None
                }
            }
        }
    };
    let units = match obj.get("units") {
        None => Units::Metric,
        Some(Value::String(s)) if s == "metric" => Units::Metric,
        Some(Value::String(s)) if s == "imperial" => Units::Imperial,
        Some(_) => {
            errors.push("/units", "must be \"metric\" or \"imperial\"");
            Units::Metric
        }
    };
    let assortment = match obj.get("assortment") {
        None | Some(Value::Null) => Assortment::default(),
        Some(Value::Object(a)) => parse_assortment(a, &mut errors),
        Some(_) => {
            errors.push("/assortment", "must be an object");
            Assortment::default()
        }
    };
    let fields = match obj.get("fields") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut fields = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str().and_then(Field::parse) {
                    Some(f) if fields.contains(&f) => {
                        errors.push(&format!("/fields/{i}"), "is listed twice")
                    }
                    Some(f) => fields.push(f),
                    None if item.as_str() == Some("sku") => errors.push(
                        &format!("/fields/{i}"),
                        "sku is always carried and must not be listed",
                    ),
                    None => errors.push(&format!("/fields/{i}"), &field_names_message()),
                }
            }
            Some(fields)
        }
        Some(_) => {
            errors.push("/fields", "must be an array of field names");
            None
        }
    };
    let mut settings = BTreeMap::new();
    match obj.get("settings") {
        None | Some(Value::Null) => {}
        Some(Value::Object(s)) => {
            for (key, v) in s {
                match v {
                    Value::String(text) => {
                        settings.insert(key.clone(), text.clone());
                    }
                    _ => errors.push(&format!("/settings/{}", escape(key)), "must be a string"),
                }
            }
        }
        Some(_) => errors.push("/settings", "must be an object of strings"),
    }

    match (name, locale, currency, price_list) {
        (Some(name), Some(locale), Some(currency), Some(price_list)) if errors.is_empty() => {
            Ok(ChannelDef {
                name,
                locale,
                currency,
                price_list,
                price_adjustment_percent,
                units,
                assortment,
                fields,
                settings,
            })
        }
        _ => Err(errors.finish()),
    }
}

fn parse_assortment(obj: &Map<String, Value>, errors: &mut Errors) -> Assortment {
    for key in obj.keys() {
        if !ASSORTMENT.contains(&key.as_str()) {
            errors.push(&format!("/assortment/{}", escape(key)), "unknown field");
        }
    }
    let statuses = string_list(obj, "statuses", errors, |s| match s {
        "active" => Ok(Status::Active),
        "draft" => Ok(Status::Draft),
        "discontinued" => Ok(Status::Discontinued),
        _ => Err("must be \"active\", \"draft\" or \"discontinued\""),
    });
    let categories = string_list(obj, "categories", errors, |s| {
        if s.trim_matches('/').is_empty() {
            Err("must be a non-empty category path")
        } else {
            Ok(s.to_owned())
        }
    });
    let brands = string_list(obj, "brands", errors, |s| {
        if s.is_empty() {
            Err("must not be empty")
        } else {
            Ok(s.to_owned())
        }
    });
    let sku = |s: &str| {
        if is_sku(s) {
            Ok(s.to_owned())
        } else {
            Err("must be a SKU: 1 to 64 of A-Z a-z 0-9 . _ -")
        }
    };
    let include_skus = string_list(obj, "include_skus", errors, sku);
    let exclude_skus = string_list(obj, "exclude_skus", errors, sku);
    Assortment {
        statuses,
        categories,
        brands,
        include_skus,
        exclude_skus,
    }
}

/// A list of strings under `/assortment/{key}`, each checked by `item`; duplicates are dropped.
fn string_list<T: PartialEq>(
    obj: &Map<String, Value>,
    key: &str,
    errors: &mut Errors,
    item: impl Fn(&str) -> Result<T, &'static str>,
) -> Vec<T> {
    let mut out = Vec::new();
    match obj.get(key) {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                let pointer = format!("/assortment/{key}/{i}");
                match v.as_str().map(&item) {
                    Some(Ok(t)) => {
                        if !out.contains(&t) {
                            out.push(t);
                        }
                    }
                    Some(Err(message)) => errors.push(&pointer, message),
                    None => errors.push(&pointer, "must be a string"),
                }
            }
        }
        Some(_) => errors.push(&format!("/assortment/{key}"), "must be an array of strings"),
    }
    out
}

fn required_text(obj: &Map<String, Value>, key: &str, errors: &mut Errors) -> Option<String> {
    let pointer = format!("/{key}");
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.push(&pointer, "must not be empty");
            None
        }
        None | Some(Value::Null) => {
            errors.push(&pointer, "is required");
            None
        }
        Some(_) => {
            errors.push(&pointer, "must be a string");
            None
        }
    }
}

fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    let plain = s
        .strip_prefix(['-', '+'])
        .unwrap_or(s)
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.');
    if !plain || s.is_empty() {
        return None;
    }
    Decimal::from_str(s).ok()
}

fn is_locale(s: &str) -> bool {
    let mut parts = s.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    lang_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn is_sku(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn field_names_message() -> String {
    let names: Vec<&str> = Field::ALL.iter().map(|f| f.as_str()).collect();
    format!("must be one of {}", names.join(", "))
}

/// RFC 6901 escaping of one reference token.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, pointer: &str, message: &str) {
        self.0.push(FieldError {
            pointer: pointer.to_owned(),
            message: message.to_owned(),
        });
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn finish(self) -> ValidationErrors {
        ValidationErrors { errors: self.0 }
    }
}

pub(crate) fn status_str(status: Status) -> &'static str {
    match status {
        Status::Active => "active",
        Status::Draft => "draft",
        Status::Discontinued => "discontinued",
    }
}

impl ChannelDef {
    /// The definition in its written form; [`parse_channel`] of it gives back an equal value.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("name".into(), json!(self.name));
        obj.insert("locale".into(), json!(self.locale));
        obj.insert("currency".into(), json!(self.currency.0.code()));
        obj.insert("price_list".into(), json!(self.price_list));
        if let Some(p) = self.price_adjustment_percent {
            obj.insert("price_adjustment_percent".into(), json!(p.to_string()));
        }
        obj.insert("units".into(), json!(self.units.as_str()));
        obj.insert("assortment".into(), self.assortment_json(false));
        if let Some(fields) = &self.fields {
            let names: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
            obj.insert("fields".into(), json!(names));
        }
        if !self.settings.is_empty() {
            obj.insert("settings".into(), json!(self.settings));
        }
        Value::Object(obj)
    }

    /// Lowercase hex SHA-256 of the JCS form of what affects the projection: locale, currency,
    /// price list and adjustment, units, assortment and fields, plus [`PROJECTION_VERSION`].
    /// The name and settings are left out; lists are sorted and numbers normalised, so two
    /// definitions that project every product identically hash the same. When it changes, the
    /// whole catalog must be re-evaluated for the channel.
    pub fn definition_hash(&self) -> String {
        let mut fields: Vec<&str> = match &self.fields {
            Some(fields) => fields.iter().map(|f| f.as_str()).collect(),
            None => Field::ALL.iter().map(|f| f.as_str()).collect(),
        };
        fields.sort_unstable();
        let adjustment = self
            .price_adjustment_percent
            .map(|p| p.normalize())
            .filter(|p| !p.is_zero())
            .map(|p| p.to_string());
        crate::jcs::sha256_hex(&json!({
            "projection_version": PROJECTION_VERSION,
            "locale": self.locale,
            "currency": self.currency.0.code(),
            "price_list": self.price_list,
            "price_adjustment_percent": adjustment,
            "units": self.units.as_str(),
            "assortment": self.assortment_json(true),
            "fields": fields,
        }))
    }

    /// Whether the projected record carries `field`.
    pub fn carries(&self, field: Field) -> bool {
        self.fields
            .as_ref()
            .is_none_or(|fields| fields.contains(&field))
    }

    fn assortment_json(&self, sorted: bool) -> Value {
        let a = &self.assortment;
        let list = |items: &[String]| {
            let mut items: Vec<&str> = items.iter().map(String::as_str).collect();
            if sorted {
                items.sort_unstable();
            }
            json!(items)
        };
        let statuses: Vec<String> = a.statuses.iter().map(|s| status_str(*s).into()).collect();
        // "tools" and "tools/" select the same products.
        let categories: Vec<String> = if sorted {
            a.categories
                .iter()
                .map(|c| c.trim_end_matches('/').to_owned())
                .collect()
        } else {
            a.categories.clone()
        };
        json!({
            "statuses": list(&statuses),
            "categories": list(&categories),
            "brands": list(&a.brands),
            "include_skus": list(&a.include_skus),
            "exclude_skus": list(&a.exclude_skus),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Value {
        json!({"name": "French reseller network", "locale": "fr", "currency": "EUR",
               "price_list": "reseller", "price_adjustment_percent": "-5", "units": "metric",
               "assortment": {"statuses": ["active"], "categories": ["tools/"], "brands": [],
                              "include_skus": [], "exclude_skus": []},
               "fields": ["gtin", "title", "brand", "category", "price", "dimensions", "weight",
                          "packaging"]})
    }

    #[test]
    fn parses_the_product_md_example() {
        let c = parse_channel(&example()).expect("valid");
        assert_eq!(c.locale, "fr");
        assert_eq!(c.currency, Currency(iso_currency::Currency::EUR));
        assert_eq!(c.price_adjustment_percent, Some(Decimal::from(-5)));
        assert_eq!(c.units, Units::Metric);
        assert_eq!(c.assortment.statuses, vec![Status::Active]);
        assert_eq!(c.assortment.categories, vec!["tools/".to_string()]);
        assert!(c.carries(Field::Price));
        assert!(!c.carries(Field::Description));
        assert!(!c.carries(Field::Attributes));
    }

    #[test]
    fn optional_parts_default_to_no_restriction() {
        let c = parse_channel(&json!({"name": "All", "locale": "en-GB", "currency": "GBP",
                                      "price_list": "retail"}))
        .expect("valid");
        assert_eq!(c.assortment, Assortment::default());
        assert_eq!(c.units, Units::Metric);
        assert!(Field::ALL.iter().all(|f| c.carries(*f)));
        assert_eq!(c.price_adjustment_percent, None);
    }

    #[test]
    fn to_json_round_trips() {
        let mut v = example();
        v["settings"] = json!({"link_template": "https://shop.example/p/{sku}"});
        let c = parse_channel(&v).expect("valid");
        assert_eq!(c.settings["link_template"], "https://shop.example/p/{sku}");
        assert_eq!(parse_channel(&c.to_json()), Ok(c));
    }

    #[test]
    fn reports_every_problem_with_its_pointer() {
        let errors = parse_channel(&json!({
            "name": "", "locale": "not a locale", "currency": "EURO", "price_list": 3,
            "price_adjustment_percent": "-100", "units": "furlongs", "colour": "red",
            "assortment": {"statuses": ["gone"], "include_skus": ["bad sku!"], "x": []},
            "fields": ["gtin", "price", "gtin", "sku", "colour"],
            "settings": {"sender_gln": 4012345000009u64}
        }))
        .expect_err("invalid");
        let pointers: Vec<&str> = errors.errors.iter().map(|e| e.pointer.as_str()).collect();
        for expected in [
            "/colour",
            "/name",
            "/locale",
            "/currency",
            "/price_list",
            "/price_adjustment_percent",
            "/units",
            "/assortment/x",
            "/assortment/statuses/0",
            "/assortment/include_skus/0",
            "/fields/2",
            "/fields/3",
            "/fields/4",
            "/settings/sender_gln",
        ] {
            assert!(
                pointers.contains(&expected),
                "{expected} missing from {pointers:?}"
            );
        }
        assert_eq!(pointers.len(), 14, "{pointers:?}");
    }

    #[test]
    fn missing_required_fields_are_named() {
        let errors = parse_channel(&json!({})).expect_err("invalid");
        let pointers: Vec<&str> = errors.errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/name", "/locale", "/currency", "/price_list"]);
        assert!(parse_channel(&json!([])).is_err());
    }

    #[test]
    fn adjustment_must_be_above_minus_100() {
        let mut v = example();
        v["price_adjustment_percent"] = json!("-99.5");
        assert!(parse_channel(&v).is_ok());
        v["price_adjustment_percent"] = json!("-150");
        assert!(parse_channel(&v).is_err());
        v["price_adjustment_percent"] = json!("abc");
        assert!(parse_channel(&v).is_err());
        v["price_adjustment_percent"] = json!(2.5);
        let c = parse_channel(&v).expect("numbers are accepted too");
        assert_eq!(c.price_adjustment_percent, Some(Decimal::new(25, 1)));
    }

    #[test]
    fn definition_hash_follows_only_what_changes_the_projection() {
        let base = parse_channel(&example()).expect("valid");
        let hash = base.definition_hash();
        assert_eq!(hash.len(), 64);

        let mut renamed = base.clone();
        renamed.name = "Another name".into();
        renamed
            .settings
            .insert("sender_gln".into(), "4012345000009".into());
        assert_eq!(renamed.definition_hash(), hash);

        let mut reordered = base.clone();
        if let Some(fields) = reordered.fields.as_mut() {
            fields.reverse();
        }
        reordered.price_adjustment_percent = Some(Decimal::new(-500, 2));
        assert_eq!(reordered.definition_hash(), hash);

        let mut repriced = base.clone();
        repriced.price_adjustment_percent = Some(Decimal::from(-6));
        assert_ne!(repriced.definition_hash(), hash);

        let mut imperial = base.clone();
        imperial.units = Units::Imperial;
        assert_ne!(imperial.definition_hash(), hash);

        let mut all_fields = base.clone();
        all_fields.fields = None;
        let mut listed = base;
        listed.fields = Some(Field::ALL.to_vec());
        assert_eq!(all_fields.definition_hash(), listed.definition_hash());
        assert_ne!(all_fields.definition_hash(), hash);
    }
}
