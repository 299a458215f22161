//! The projection of a product for a channel (the record partners receive) and its hash. Pure
//! function of the product, the channel definition and the instant: no I/O, no clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value};

use super::channel::{status_str, ChannelDef, Field, Units};
use crate::catalog::{
    AttrValue, Dimensions, Gtin, Media, PackagingLevel, Price, Product, Status, Weight,
};
use crate::jcs::{Arr, Obj};

/// Millimetres in an inch (exact by definition).
const MM_PER_INCH: Decimal = Decimal::from_parts(254, 0, 0, false, 1);
/// Grams in an avoirdupois pound (exact by definition).
const G_PER_POUND: Decimal = Decimal::from_parts(45_359_237, 0, 0, false, 5);
/// Decimals kept for inches and pounds.
const INCH_DECIMALS: u32 = 2;
const POUND_DECIMALS: u32 = 3;

/// The fields of a product the projection reads, borrowed. Everything but the sku, which is
/// passed on its own, so that the projection can be computed (and tested) from parts.
#[derive(Debug, Clone, Copy)]
pub struct ProductView<'a> {
    pub gtin: Option<&'a str>,
    pub status: Status,
    pub brand: Option<&'a str>,
    pub category: Option<&'a str>,
    pub title: &'a BTreeMap<String, String>,
    pub description: &'a BTreeMap<String, String>,
    pub attributes: &'a BTreeMap<String, AttrValue>,
    pub media: &'a [Media],
    pub prices: &'a [Price],
    pub dimensions: Option<&'a Dimensions>,
    pub weight: Option<&'a Weight>,
    pub packaging: &'a [PackagingLevel],
}

impl<'a> From<&'a Product> for ProductView<'a> {
    fn from(p: &'a Product) -> Self {
        ProductView {
            gtin: p.gtin.as_ref().map(Gtin::as_str),
            status: p.status,
            brand: p.brand.as_deref(),
            category: p.category.as_deref(),
            title: &p.title,
            description: &p.description,
            attributes: &p.attributes,
            media: &p.media,
            prices: &p.prices,
            dimensions: p.dimensions.as_ref(),
            weight: p.weight.as_ref(),
            packaging: &p.packaging,
        }
    }
}

/// The record `channel` publishes for the product `sku` at `now`, or `None` when the product is
/// outside the channel's assortment. `product.sku` is not read: `sku` is.
pub fn project(
    sku: &str,
    product: &Product,
    channel: &ChannelDef,
    now: DateTime<Utc>,
) -> Option<Map<String, Value>> {
    project_view(sku, &ProductView::from(product), channel, now)
}

/// [`project`] over a [`ProductView`]: the record [`write_canonical`] writes, as a map.
pub fn project_view(
    sku: &str,
    p: &ProductView<'_>,
    channel: &ChannelDef,
    now: DateTime<Utc>,
) -> Option<Map<String, Value>> {
    let mut out = Vec::with_capacity(1024);
    if !write_canonical(sku, p, channel, now, &mut out) {
        return None;
    }
    // The writer writes JSON text; a map of it cannot fail to parse.
    serde_json::from_slice(&out).ok()
}

/// Appends the record `channel` publishes for `sku` at `now` to `out` in its RFC 8785
/// canonical form (the bytes partners hash), straight from the typed product: members in
/// sorted order, no map built. Returns `false` (and writes nothing) when the product is outside
/// the channel's assortment.
pub fn write_canonical(
    sku: &str,
    p: &ProductView<'_>,
    channel: &ChannelDef,
    now: DateTime<Utc>,
    out: &mut Vec<u8>,
) -> bool {
    if !in_assortment(sku, p, channel) {
        return false;
    }
    let carries = |f: Field| channel.carries(f);
    let units = channel.units;
    // Members in the order RFC 8785 sorts them (all names are ASCII, so byte order).
    let mut r = Obj::open(out);
    if carries(Field::Attributes) && !p.attributes.is_empty() {
        r.key("attributes");
        AttrValue::write_map(p.attributes, r.out);
    }
    if carries(Field::Brand) {
        r.str_opt("brand", p.brand);
    }
    if carries(Field::Category) {
        r.str_opt("category", p.category);
    }
    if carries(Field::Description) {
        r.str_opt("description", localized(p.description, &channel.locale));
    }
    if carries(Field::Dimensions) {
        if let Some(d) = p.dimensions {
            r.key("dimensions");
            dimensions(d, units, r.out);
        }
    }
    if carries(Field::Gtin) {
        r.str_opt("gtin", p.gtin);
    }
    if carries(Field::Media) && !p.media.is_empty() {
        r.key("media");
        Media::write_list(p.media, r.out);
    }
    if carries(Field::Packaging) && !p.packaging.is_empty() {
        r.key("packaging");
        let mut levels = Arr::open(r.out);
        for l in p.packaging {
            packaging(l, units, levels.item());
        }
        levels.close();
    }
    if carries(Field::Price) {
        let tiers = price_tiers(p.prices, channel, now);
        if let Some((min_qty, amount)) = tiers.first() {
            r.key("price");
            let mut price = Obj::open(r.out);
            price.str("amount", amount);
            price.str("currency", channel.currency.0.code());
            price.uint("min_qty", *min_qty);
            price.close();
            r.key("price_tiers");
            let mut items = Arr::open(r.out);
            for (min_qty, amount) in &tiers {
                let mut tier = Obj::open(items.item());
                tier.str("amount", amount);
                tier.uint("min_qty", *min_qty);
                tier.close();
            }
            items.close();
        }
    }
    r.str("sku", sku);
    if carries(Field::Status) {
        r.str("status", status_str(p.status));
    }
    if carries(Field::Title) {
        r.str_opt("title", localized(p.title, &channel.locale));
    }
    if carries(Field::Weight) {
        if let Some(w) = p
            .weight
            .filter(|w| w.net_g.is_some() || w.gross_g.is_some())
        {
            r.key("weight");
            let mut o = Obj::open(r.out);
            if let Some(gross) = w.gross_g {
                o.str("gross", &mass(gross, units));
            }
            if let Some(net) = w.net_g {
                o.str("net", &mass(net, units));
            }
            o.str("unit", mass_unit(units));
            o.close();
        }
    }
    r.close();
    true
}

/// Lowercase hex SHA-256 of the record's RFC 8785 canonical JSON.
pub fn record_hash(record: &Map<String, Value>) -> String {
    // Cloning into a Value costs one copy; records are small and this keeps one JCS code path.
    crate::jcs::sha256_hex(&Value::Object(record.clone()))
}

/// The nearest instant strictly after `now` at which one of `prices` opens or closes (any list,
/// any currency): when the product's projection may change by itself.
pub fn next_price_change(prices: &[Price], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    prices
        .iter()
        .flat_map(|p| [p.valid_from, p.valid_to])
        .flatten()
        .filter(|t| *t > now)
        .min()
}

/// The nearest instant strictly after `now` at which the product's projection for `channel` may
/// change by itself: a window of the channel's price list and currency opening or closing.
/// `None` when nothing is scheduled or the channel does not carry prices.
pub fn next_projection_change(
    product: &Product,
    channel: &ChannelDef,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if !channel.carries(Field::Price) {
        return None;
    }
    let relevant: Vec<Price> = product
        .prices
        .iter()
        .filter(|p| p.list == channel.price_list && p.currency == channel.currency)
        .cloned()
        .collect();
    next_price_change(&relevant, now)
}

/// Assortment rules, in this order: an excluded sku is out; a status not listed is out (even
/// for included skus: drafts never leak); an included sku is in; otherwise category and brand
/// must both match when restricted. Empty lists do not restrict.
fn in_assortment(sku: &str, p: &ProductView<'_>, channel: &ChannelDef) -> bool {
    let a = &channel.assortment;
    if a.exclude_skus.iter().any(|s| s == sku) {
        return false;
    }
    if !a.statuses.is_empty() && !a.statuses.contains(&p.status) {
        return false;
    }
    if a.include_skus.iter().any(|s| s == sku) {
        return true;
    }
    let category_ok = a.categories.is_empty()
        || p.category.is_some_and(|c| {
            a.categories
                .iter()
                .any(|prefix| category_matches(prefix, c))
        });
    let brand_ok = a.brands.is_empty() || p.brand.is_some_and(|b| a.brands.iter().any(|x| x == b));
    category_ok && brand_ok
}

/// Whole-segment prefix: `tools` and `tools/` both match `tools` and `tools/drills`, not
/// `toolsets`.
fn category_matches(prefix: &str, category: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    match category.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The text for `locale`: the exact locale (case-insensitive), then its language alone (`fr`
/// for `fr-BE`), then another region of that language (first in sorted order), then `en`, then
/// the first locale in sorted order.
fn localized<'a>(texts: &'a BTreeMap<String, String>, locale: &str) -> Option<&'a str> {
    let language = locale.split('-').next().unwrap_or(locale);
    let lang_of = |k: &str| k.split('-').next().unwrap_or(k).to_owned();
    texts
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(locale))
        .or_else(|| texts.iter().find(|(k, _)| k.eq_ignore_ascii_case(language)))
        .or_else(|| {
            texts
                .iter()
                .find(|(k, _)| lang_of(k).eq_ignore_ascii_case(language))
        })
        .or_else(|| texts.iter().find(|(k, _)| k.eq_ignore_ascii_case("en")))
        .or_else(|| texts.iter().next())
        .map(|(_, v)| v.as_str())
}

/// The tiers of the channel's list and currency valid at `now` (`valid_from <= now <
/// valid_to`), adjusted and rounded, sorted by `min_qty`. Where several valid prices share a
/// `min_qty`, the one whose window opened last wins (a promotion over a standing price), then
/// the lower amount.
fn price_tiers(prices: &[Price], channel: &ChannelDef, now: DateTime<Utc>) -> Vec<(u32, String)> {
    let mut best: BTreeMap<u32, &Price> = BTreeMap::new();
    for p in prices.iter().filter(|p| {
        p.list == channel.price_list
            && p.currency == channel.currency
            && p.valid_from.is_none_or(|from| from <= now)
            && p.valid_to.is_none_or(|to| now < to)
    }) {
        let replace = match best.get(&p.min_qty) {
            None => true,
            Some(cur) => {
                (p.valid_from, std::cmp::Reverse(p.amount))
                    > (cur.valid_from, std::cmp::Reverse(cur.amount))
            }
        };
        if replace {
            best.insert(p.min_qty, p);
        }
    }
    best.into_iter()
        .filter_map(|(min_qty, p)| Some((min_qty, published_amount(p, channel)?)))
        .collect()
}

/// The amount adjusted by the channel's percentage, rounded half-even to the currency's minor
/// unit and written with exactly that many decimals. A currency without a minor unit (XAU, ...)
/// keeps the vendor's scale. `None` only on arithmetic overflow, which drops the tier.
fn published_amount(p: &Price, channel: &ChannelDef) -> Option<String> {
    let mut amount = p.amount;
    if let Some(pct) = channel.price_adjustment_percent {
        let factor = Decimal::ONE_HUNDRED.checked_add(pct)?;
        amount = amount
            .checked_mul(factor)?
            .checked_div(Decimal::ONE_HUNDRED)?;
    }
    let decimals = channel
        .currency
        .0
        .exponent()
        .map(u32::from)
        .unwrap_or(p.amount.scale());
    let mut rounded =
        amount.round_dp_with_strategy(decimals, RoundingStrategy::MidpointNearestEven);
    rounded.rescale(decimals);
    Some(rounded.to_string())
}

fn length(mm: Decimal, units: Units) -> String {
    match units {
        Units::Metric => mm.normalize().to_string(),
        Units::Imperial => convert(mm, MM_PER_INCH, INCH_DECIMALS),
    }
}

fn mass(g: Decimal, units: Units) -> String {
    match units {
        Units::Metric => g.normalize().to_string(),
        Units::Imperial => convert(g, G_PER_POUND, POUND_DECIMALS),
    }
}

/// `value / per_unit`, rounded half-even to `decimals`, trailing zeros dropped.
fn convert(value: Decimal, per_unit: Decimal, decimals: u32) -> String {
    value
        .checked_div(per_unit)
        .unwrap_or_default()
        .round_dp_with_strategy(decimals, RoundingStrategy::MidpointNearestEven)
        .normalize()
        .to_string()
}

fn length_unit(units: Units) -> &'static str {
    match units {
        Units::Metric => "mm",
        Units::Imperial => "in",
    }
}

fn mass_unit(units: Units) -> &'static str {
    match units {
        Units::Metric => "g",
        Units::Imperial => "lb",
    }
}

fn dimensions(d: &Dimensions, units: Units, out: &mut Vec<u8>) {
    let mut o = Obj::open(out);
    o.str("height", &length(d.height_mm, units));
    o.str("length", &length(d.length_mm, units));
    o.str("unit", length_unit(units));
    o.str("width", &length(d.width_mm, units));
    o.close();
}

fn packaging(l: &PackagingLevel, units: Units, out: &mut Vec<u8>) {
    let mut o = Obj::open(out);
    if let Some(d) = &l.dimensions {
        o.key("dimensions");
        dimensions(d, units, o.out);
    }
    if let Some(g) = l.gross_weight_g {
        o.key("gross_weight");
        let mut w = Obj::open(o.out);
        w.str("unit", mass_unit(units));
        w.str("value", &mass(g, units));
        w.close();
    }
    if let Some(gtin) = &l.gtin {
        o.str("gtin", gtin.as_str());
    }
    o.str("level", l.level.as_str());
    o.uint("quantity", l.quantity);
    if let Some(kind) = &l.kind {
        o.str("type", kind);
    }
    o.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Currency, PackagingLevelKind};
    use crate::delta::channel::parse_channel;
    use chrono::TimeZone;
    use serde_json::json;

    /// An owned product without its sku (which cannot be built outside `catalog`).
    struct Fixture {
        gtin: Option<String>,
        status: Status,
        brand: Option<String>,
        category: Option<String>,
        title: BTreeMap<String, String>,
        description: BTreeMap<String, String>,
        attributes: BTreeMap<String, AttrValue>,
        media: Vec<Media>,
        prices: Vec<Price>,
        dimensions: Option<Dimensions>,
        weight: Option<Weight>,
        packaging: Vec<PackagingLevel>,
    }

    impl Fixture {
        fn view(&self) -> ProductView<'_> {
            ProductView {
                gtin: self.gtin.as_deref(),
                status: self.status,
                brand: self.brand.as_deref(),
                category: self.category.as_deref(),
                title: &self.title,
                description: &self.description,
                attributes: &self.attributes,
                media: &self.media,
                prices: &self.prices,
                dimensions: self.dimensions.as_ref(),
                weight: self.weight.as_ref(),
                packaging: &self.packaging,
            }
        }
    }

    fn dec(s: &str) -> Decimal {
        s.parse().expect("decimal literal")
    }

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
            .single()
            .expect("valid date")
    }

    fn price(list: &str, amount: &str, min_qty: u32) -> Price {
        Price {
            list: list.into(),
            currency: Currency(iso_currency::Currency::EUR),
            amount: dec(amount),
            min_qty,
            valid_from: None,
            valid_to: None,
        }
    }

    /// DRL-1001 of docs/api.md, in canonical form.
    fn drill() -> Fixture {
        let texts = |fr: &str, en: &str| {
            BTreeMap::from([("en".to_string(), en.to_string()), ("fr".into(), fr.into())])
        };
        let mut promo = price("reseller", "79.00", 10);
        promo.valid_from = Some(at(2027, 1, 1));
        Fixture {
            gtin: Some("03700123456780".into()),
            status: Status::Active,
            brand: Some("Acme".into()),
            category: Some("tools/drills".into()),
            title: texts("Perceuse 18 V", "18 V drill"),
            description: texts("Perceuse sans fil", "Cordless drill"),
            attributes: BTreeMap::from([
                ("voltage".to_string(), AttrValue::Number(18.into())),
                ("cordless".into(), AttrValue::Bool(true)),
            ]),
            media: vec![Media {
                url: "https://cdn.example.com/drl-1001.jpg".into(),
                role: "main".into(),
            }],
            prices: vec![
                price("retail", "129.90", 1),
                price("reseller", "84.00", 1),
                promo,
            ],
            dimensions: Some(Dimensions {
                length_mm: dec("325.0"),
                width_mm: dec("90"),
                height_mm: dec("240"),
            }),
            weight: Some(Weight {
                net_g: Some(dec("1450.00")),
                gross_g: Some(dec("1900.0")),
            }),
            packaging: vec![
                PackagingLevel {
                    level: PackagingLevelKind::Each,
                    quantity: 1,
                    gtin: None,
                    dimensions: None,
                    gross_weight_g: None,
                    kind: Some("box".into()),
                },
                PackagingLevel {
                    level: PackagingLevelKind::Case,
                    quantity: 6,
                    gtin: None,
                    dimensions: Some(Dimensions {
                        length_mm: dec("400"),
                        width_mm: dec("300"),
                        height_mm: dec("260"),
                    }),
                    gross_weight_g: Some(dec("12200")),
                    kind: None,
                },
            ],
        }
    }

    fn channel(patch: Value) -> ChannelDef {
        let mut v = json!({"name": "French reseller network", "locale": "fr", "currency": "EUR",
            "price_list": "reseller", "price_adjustment_percent": "-5", "units": "metric",
            "assortment": {"statuses": ["active"], "categories": ["tools/"]}});
        if let (Some(obj), Value::Object(patch)) = (v.as_object_mut(), patch) {
            obj.extend(patch);
        }
        parse_channel(&v).expect("valid channel")
    }

    fn now() -> DateTime<Utc> {
        at(2026, 6, 1)
    }

    fn project_drill(f: &Fixture, c: &ChannelDef) -> Option<Map<String, Value>> {
        project_view("DRL-1001", &f.view(), c, now())
    }

    #[test]
    fn projects_the_product_md_example() {
        let record = project_drill(&drill(), &channel(json!({}))).expect("in assortment");
        assert_eq!(
            Value::Object(record),
            json!({"sku": "DRL-1001", "gtin": "03700123456780", "status": "active",
                "brand": "Acme", "category": "tools/drills", "title": "Perceuse 18 V",
                "description": "Perceuse sans fil",
                "attributes": {"voltage": 18, "cordless": true},
                "media": [{"url": "https://cdn.example.com/drl-1001.jpg", "role": "main"}],
                "price": {"amount": "79.80", "currency": "EUR", "min_qty": 1},
                "price_tiers": [{"min_qty": 1, "amount": "79.80"}],
                "dimensions": {"length": "325", "width": "90", "height": "240", "unit": "mm"},
                "weight": {"net": "1450", "gross": "1900", "unit": "g"},
                "packaging": [{"level": "each", "quantity": 1, "type": "box"},
                    {"level": "case", "quantity": 6,
                     "dimensions": {"length": "400", "width": "300", "height": "260",
                                    "unit": "mm"},
                     "gross_weight": {"value": "12200", "unit": "g"}}]})
        );
    }

    #[test]
    fn assortment_rules() {
        let f = drill();
        let in_ = |c: Value| project_drill(&f, &channel(json!({"assortment": c}))).is_some();
        assert!(in_(json!({})));
        assert!(in_(json!({"categories": ["tools"]})));
        assert!(in_(json!({"categories": ["garden/", "tools/drills"]})));
        assert!(!in_(json!({"categories": ["tool"]})), "whole segments only");
        assert!(!in_(json!({"categories": ["tools/drills/cordless"]})));
        assert!(!in_(json!({"statuses": ["draft", "discontinued"]})));
        assert!(in_(json!({"brands": ["Acme", "Bosch"]})));
        assert!(!in_(json!({"brands": ["acme"]})), "brands match exactly");
        assert!(!in_(json!({"exclude_skus": ["DRL-1001"]})));
        // include_skus bypasses category and brand, but neither exclusion nor status.
        assert!(in_(json!({"categories": ["garden"], "brands": ["Bosch"],
                           "include_skus": ["DRL-1001"]})));
        assert!(!in_(
            json!({"include_skus": ["DRL-1001"], "exclude_skus": ["DRL-1001"]})
        ));
        assert!(!in_(
            json!({"statuses": ["draft"], "include_skus": ["DRL-1001"]})
        ));
        // A non-empty include list does not restrict the others.
        assert!(in_(json!({"include_skus": ["OTHER-1"]})));

        let mut no_category = drill();
        no_category.category = None;
        no_category.brand = None;
        assert!(project_drill(&no_category, &channel(json!({}))).is_none());
        let all = channel(json!({"assortment": {}}));
        assert!(project_drill(&no_category, &all).is_some());
        let brands = channel(json!({"assortment": {"brands": ["Acme"]}}));
        assert!(project_drill(&no_category, &brands).is_none());
    }

    #[test]
    fn locale_fallback() {
        let texts = BTreeMap::from([
            ("de".to_string(), "Bohrer".to_string()),
            ("en".into(), "Drill".into()),
            ("fr".into(), "Perceuse".into()),
            ("fr-CA".into(), "Perceuse (CA)".into()),
            ("pt-BR".into(), "Furadeira".into()),
        ]);
        assert_eq!(localized(&texts, "fr-CA"), Some("Perceuse (CA)"));
        assert_eq!(localized(&texts, "fr-ca"), Some("Perceuse (CA)"));
        assert_eq!(localized(&texts, "fr-BE"), Some("Perceuse"));
        assert_eq!(localized(&texts, "pt"), Some("Furadeira"));
        assert_eq!(localized(&texts, "nl-BE"), Some("Drill"));
        let no_en = BTreeMap::from([
            ("it".to_string(), "Trapano".to_string()),
            ("de".into(), "Bohrer".into()),
        ]);
        assert_eq!(localized(&no_en, "nl"), Some("Bohrer"));
        assert_eq!(localized(&BTreeMap::new(), "fr"), None);
    }

    #[test]
    fn absent_values_are_omitted_never_null() {
        let mut f = drill();
        f.gtin = None;
        f.brand = None;
        f.description.clear();
        f.attributes.clear();
        f.media.clear();
        f.prices.clear();
        f.dimensions = None;
        f.weight = Some(Weight {
            net_g: None,
            gross_g: Some(dec("1900")),
        });
        f.packaging.clear();
        let c = channel(json!({"assortment": {}}));
        let record = project_drill(&f, &c).expect("in assortment");
        assert_eq!(
            Value::Object(record.clone()),
            json!({"sku": "DRL-1001", "status": "active", "category": "tools/drills",
                   "title": "Perceuse 18 V", "weight": {"gross": "1900", "unit": "g"}})
        );
        assert!(record.values().all(|v| !v.is_null()));
    }

    #[test]
    fn carries_only_the_channel_fields() {
        let c = channel(json!({"fields": ["title", "price"]}));
        let record = project_drill(&drill(), &c).expect("in assortment");
        let keys: Vec<&str> = record.keys().map(String::as_str).collect();
        // In the record's canonical order.
        assert_eq!(keys, ["price", "price_tiers", "sku", "title"]);
        let c = channel(json!({"fields": []}));
        let record = project_drill(&drill(), &c).expect("in assortment");
        assert_eq!(Value::Object(record), json!({"sku": "DRL-1001"}));
    }

    #[test]
    fn price_window_selection_and_tiers() {
        let mut f = drill();
        let mut old = price("reseller", "90.00", 1);
        old.valid_to = Some(now()); // closes exactly now: no longer valid
        let mut future = price("reseller", "60.00", 1);
        future.valid_from = Some(at(2026, 6, 2));
        let mut promo = price("reseller", "80.00", 1);
        promo.valid_from = Some(now()); // opens exactly now: valid
        promo.valid_to = Some(at(2026, 7, 1));
        let mut usd = price("reseller", "10.00", 1);
        usd.currency = Currency(iso_currency::Currency::USD);
        f.prices
            .extend([old, future, promo, usd, price("reseller", "70.00", 50)]);
        f.prices.push(price("reseller", "75.00", 5));
        let c = channel(json!({"price_adjustment_percent": null}));
        let record = project_drill(&f, &c).expect("in assortment");
        // The promotion (opened last) wins over the standing 84.00 for min_qty 1.
        assert_eq!(
            record["price"],
            json!({"amount": "80.00", "currency": "EUR", "min_qty": 1})
        );
        assert_eq!(
            record["price_tiers"],
            json!([{"min_qty": 1, "amount": "80.00"}, {"min_qty": 5, "amount": "75.00"},
                   {"min_qty": 50, "amount": "70.00"}])
        );
        // Later, the 2027 tier of docs/api.md is valid too, and the promotion has closed.
        let later = project_view("DRL-1001", &f.view(), &c, at(2027, 1, 1)).expect("in");
        assert_eq!(later["price"]["amount"], json!("60.00"));
        assert_eq!(
            later["price_tiers"][2],
            json!({"min_qty": 10, "amount": "79.00"})
        );
    }

    #[test]
    fn lowest_tier_is_the_price_even_above_one() {
        let mut f = drill();
        f.prices = vec![
            price("reseller", "50.00", 12),
            price("reseller", "55.00", 6),
        ];
        let c = channel(json!({"price_adjustment_percent": null}));
        let record = project_drill(&f, &c).expect("in assortment");
        assert_eq!(
            record["price"],
            json!({"amount": "55.00", "currency": "EUR", "min_qty": 6})
        );
    }

    #[test]
    fn no_valid_price_means_no_price_fields() {
        let mut f = drill();
        f.prices.retain(|p| p.list == "retail");
        let record = project_drill(&f, &channel(json!({}))).expect("in assortment");
        assert!(!record.contains_key("price"));
        assert!(!record.contains_key("price_tiers"));
    }

    #[test]
    fn adjustment_rounds_half_even_to_the_minor_unit() {
        let amount = |written: &str, pct: Option<&str>, currency: iso_currency::Currency| {
            let mut c = channel(json!({}));
            c.currency = Currency(currency);
            c.price_adjustment_percent = pct.map(dec);
            let mut p = price("reseller", written, 1);
            p.currency = Currency(currency);
            published_amount(&p, &c).expect("no overflow")
        };
        use iso_currency::Currency::{EUR, JPY, KWD};
        assert_eq!(amount("84.00", Some("-5"), EUR), "79.80");
        assert_eq!(amount("84", Some("-5"), EUR), "79.80");
        // 84.30 * 0.95 = 80.085: the midpoint goes to the even neighbour (half-up says 80.09).
        assert_eq!(amount("84.30", Some("-5"), EUR), "80.08");
        // 84.50 * 0.95 = 80.275 -> 80.28.
        assert_eq!(amount("84.50", Some("-5"), EUR), "80.28");
        assert_eq!(amount("12.345", None, EUR), "12.34");
        assert_eq!(amount("12.355", None, EUR), "12.36");
        assert_eq!(amount("129.9", None, EUR), "129.90");
        assert_eq!(amount("100", Some("2.5"), EUR), "102.50");
        assert_eq!(amount("1250", Some("-10"), JPY), "1125");
        assert_eq!(amount("2.5", None, JPY), "2");
        assert_eq!(amount("10", Some("-5"), KWD), "9.500");
    }

    #[test]
    fn imperial_units() {
        let c = channel(json!({"units": "imperial"}));
        let record = project_drill(&drill(), &c).expect("in assortment");
        // 325 mm = 12.795... in; 90 mm = 3.543... in; 240 mm = 9.448... in.
        assert_eq!(
            record["dimensions"],
            json!({"length": "12.8", "width": "3.54", "height": "9.45", "unit": "in"})
        );
        // 1450 g = 3.1967... lb; 1900 g = 4.1888... lb.
        assert_eq!(
            record["weight"],
            json!({"net": "3.197", "gross": "4.189", "unit": "lb"})
        );
        // 400 x 300 x 260 mm; 12200 g = 26.896... lb.
        assert_eq!(
            record["packaging"][1],
            json!({"level": "case", "quantity": 6,
                   "dimensions": {"length": "15.75", "width": "11.81", "height": "10.24",
                                  "unit": "in"},
                   "gross_weight": {"value": "26.896", "unit": "lb"}})
        );
        // Exact conversions lose nothing: 254 mm is 10 in, 453.59237 g is 1 lb.
        assert_eq!(length(dec("254"), Units::Imperial), "10");
        assert_eq!(mass(dec("453.59237"), Units::Imperial), "1");
        // 0.5 hundredths of an inch (0.127 mm) is a midpoint: 0.005 in -> 0.00 (half-even).
        assert_eq!(length(dec("0.127"), Units::Imperial), "0");
        assert_eq!(length(dec("0.381"), Units::Imperial), "0.02");
    }

    #[test]
    fn attribute_numbers_pass_through() {
        let mut f = drill();
        f.attributes.insert(
            "torque_nm".into(),
            AttrValue::Number(serde_json::Number::from_f64(42.5).expect("finite")),
        );
        f.attributes
            .insert("colour".into(), AttrValue::Text("blue".into()));
        let record = project_drill(&f, &channel(json!({}))).expect("in assortment");
        assert_eq!(
            record["attributes"],
            json!({"colour": "blue", "cordless": true, "torque_nm": 42.5, "voltage": 18})
        );
    }

    /// The writer's bytes are what RFC 8785 makes of the record they parse back into: members
    /// in order, strings and numbers in canonical form, for every demo product in every demo
    /// channel, in both unit systems, and for attribute names whose UTF-16 order is not their
    /// UTF-8 order.
    #[test]
    fn the_canonical_writer_writes_rfc_8785_for_every_demo_product_and_channel() {
        let mut defs: Vec<ChannelDef> = crate::demo::channels()
            .iter()
            .map(|(_, v)| parse_channel(v).expect("demo channel"))
            .collect();
        defs.push(channel(json!({"units": "imperial", "assortment": {}})));
        let mut checked = 0;
        for (i, mut value) in crate::demo::products(300).enumerate() {
            if i % 7 == 0 {
                // U+FB01 sorts after U+1F600 in UTF-8 and before it in UTF-16.
                value["attributes"] = json!({"\u{fb01}": "x", "\u{1f600}": 1.5e-7, "b": true,
                    "a\"\n": -0.0, "z": 9007199254740991u64, "y": 0.1, "\u{e9}": "\u{7f}"});
            }
            let product = crate::catalog::parse_product(&value, None).expect("demo product");
            let sku = value["sku"].as_str().expect("sku");
            for def in &defs {
                let mut out = Vec::new();
                if !write_canonical(sku, &ProductView::from(&product), def, now(), &mut out) {
                    continue;
                }
                let parsed: Value = serde_json::from_slice(&out).expect("JSON");
                assert_eq!(
                    String::from_utf8(crate::jcs::canonical_bytes(&parsed)).unwrap(),
                    String::from_utf8(out).unwrap()
                );
                checked += 1;
            }
        }
        assert!(checked > 300, "{checked} records checked");
    }

    #[test]
    fn record_hash_is_sha256_of_jcs() {
        let mut record = Map::new();
        record.insert("sku".into(), json!("DRL-1001"));
        record.insert(
            "price".into(),
            json!({"min_qty": 1, "currency": "EUR", "amount": "79.80"}),
        );
        let canonical =
            br#"{"price":{"amount":"79.80","currency":"EUR","min_qty":1},"sku":"DRL-1001"}"#;
        use sha2::Digest;
        assert_eq!(
            record_hash(&record),
            hex::encode(sha2::Sha256::digest(canonical))
        );
        // Insertion order does not matter.
        let mut reordered = Map::new();
        reordered.insert("price".into(), record["price"].clone());
        reordered.insert("sku".into(), json!("DRL-1001"));
        assert_eq!(record_hash(&reordered), record_hash(&record));
    }

    #[test]
    fn next_change_is_the_nearest_future_window_edge() {
        let f = drill();
        assert_eq!(next_price_change(&f.prices, now()), Some(at(2027, 1, 1)));
        assert_eq!(
            next_price_change(&f.prices, at(2027, 1, 1)),
            None,
            "strictly after"
        );
        let mut prices = f.prices.clone();
        let mut promo = price("retail", "99.00", 1);
        promo.valid_from = Some(at(2026, 1, 1));
        promo.valid_to = Some(at(2026, 8, 1));
        prices.push(promo);
        assert_eq!(next_price_change(&prices, now()), Some(at(2026, 8, 1)));
        assert_eq!(next_price_change(&[], now()), None);
    }

    /// The worked example of docs/sync-protocol.md: keep the two in step.
    #[test]
    fn documented_worked_example() {
        let record = json!({"sku": "DRL-1001", "gtin": "03700123456780", "title": "Perceuse 18 V",
            "attributes": {"voltage": 18, "cordless": true},
            "price": {"amount": "79.80", "currency": "EUR", "min_qty": 1},
            "price_tiers": [{"min_qty": 1, "amount": "79.80"}],
            "weight": {"net": "1450", "gross": "1900", "unit": "g"}});
        assert_eq!(
            String::from_utf8(crate::jcs::canonical_bytes(&record)).expect("utf-8"),
            concat!(
                r#"{"attributes":{"cordless":true,"voltage":18},"gtin":"03700123456780","#,
                r#""price":{"amount":"79.80","currency":"EUR","min_qty":1},"#,
                r#""price_tiers":[{"amount":"79.80","min_qty":1}],"sku":"DRL-1001","#,
                r#""title":"Perceuse 18 V","weight":{"gross":"1900","net":"1450","unit":"g"}}"#
            )
        );
        let Value::Object(record) = record else {
            unreachable!()
        };
        let drill = record_hash(&record);
        assert_eq!(
            drill,
            "8b5562a59352a528fb5f9cdef291cc9f3eb3560dde819916056f59857a3317a9"
        );
        let Value::Object(saw) = json!({"sku": "SAW-2002", "title": "Scie sauteuse"}) else {
            unreachable!()
        };
        let saw = record_hash(&saw);
        assert_eq!(
            saw,
            "65c3c3cffd31b9edf56b0e53f837285bb679564329c2aeefa76496b31e6f683b"
        );
        let mut digest = crate::delta::ChannelDigest::new();
        digest.push("DRL-1001", &drill);
        digest.push("SAW-2002", &saw);
        assert_eq!(
            digest.finish(),
            "6ea89db87cf5571c38235777fba5e3d2207d83d0190da5c24301e69664eed441"
        );
    }
}
