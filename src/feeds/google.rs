//! Google Merchant Center: the values Google's product data specification names, computed from
//! a projected record and the channel's settings, and two renderers of a profile's columns:
//! RSS 2.0 with the `g:` namespace, and delimited text (TSV, or CSV for another network).

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Map, Value};

use super::csv::guard;
use super::profile::{Problem, Profile, Publication};
use super::units;
use super::xml::escape;
use super::FeedError;

/// Namespace of Google's product attributes in RSS.
pub const GOOGLE_NAMESPACE: &str = "http://base.google.com/ns/1.0";

fn text<'r>(record: &'r Map<String, Value>, key: &str) -> Option<&'r str> {
    record
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The values a Google profile may put in its columns, and the problems found on the way.
/// Missing values are absent from the map; the columns decide whether that matters.
pub(crate) fn values(
    sku: &str,
    record: &Map<String, Value>,
    profile: &Profile,
    publication: &Publication,
) -> (BTreeMap<String, String>, Vec<Problem>) {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    let mut put = |key: &str, value: String| {
        out.insert(key.to_owned(), value);
    };
    put("id", sku.to_owned());
    let limits = &profile.limits;
    if let Some(title) = text(record, "title") {
        let chars = title.chars().count();
        match limits.title_max_chars {
            Some(max) if chars > max => problems.push(Problem::error(
                "title",
                format!("the title has {chars} characters; at most {max} are allowed"),
            )),
            _ => {}
        }
        put("title", title.to_owned());
    }
    if let Some(description) = text(record, "description") {
        let chars = description.chars().count();
        match limits.description_max_chars {
            Some(max) if chars > max => problems.push(Problem::error(
                "description",
                format!("the description has {chars} characters; at most {max} are allowed"),
            )),
            _ => {}
        }
        put("description", description.to_owned());
    }
    // A missing `link_template` is reported once per product by `missing_settings`.
    if let Some(template) = publication.setting("link_template") {
        put("link", template.replace("{sku}", sku));
    }
    if let Some(Value::Array(media)) = record.get("media") {
        let main = media
            .iter()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("main"))
            .or(media.first());
        if let Some(url) = main.and_then(|m| m.get("url")).and_then(Value::as_str) {
            put("image_link", url.to_owned());
        }
    }
    if let Some(brand) = text(record, "brand") {
        put("brand", brand.to_owned());
    }
    if let Some(gtin) = text(record, "gtin") {
        put("gtin", gtin.to_owned());
    }
    let availability = match text(record, "status") {
        Some("discontinued") => "out_of_stock",
        _ => "in_stock",
    };
    put("availability", availability.to_owned());
    if let Some(price) = record.get("price") {
        let amount = price.get("amount").and_then(Value::as_str);
        let currency = price.get("currency").and_then(Value::as_str);
        if let (Some(amount), Some(currency)) = (amount, currency) {
            put("price", format!("{amount} {currency}"));
        }
    }
    if let Some(category) = text(record, "category") {
        put(
            "product_type",
            category.split('/').collect::<Vec<_>>().join(" > "),
        );
    }

    let rules = &profile.units;
    let mut length = |prefix: &str, dims: Option<&Value>| {
        let Some(dims) = dims.filter(|d| d.is_object()) else {
            return;
        };
        let unit = dims.get("unit").and_then(Value::as_str).unwrap_or("mm");
        let to = units::target(unit, &rules.metric_length, &rules.imperial_length);
        for axis in ["length", "width", "height"] {
            let name = format!("{prefix}_{axis}");
            let Some(v) = units::decimal(dims.get(axis)).and_then(|v| units::rescale(v, unit, to))
            else {
                continue;
            };
            match limits.dimension_max() {
                Some(max) if v > max => problems.push(Problem::error(
                    &name,
                    format!("{} {to} is over the limit of {max} {to}", units::text(v)),
                )),
                _ => {}
            }
            out.insert(name, format!("{} {to}", units::text(v)));
        }
    };
    length("product", record.get("dimensions"));
    let each = record
        .get("packaging")
        .and_then(Value::as_array)
        .and_then(|levels| {
            levels
                .iter()
                .find(|l| l.get("level").and_then(Value::as_str) == Some("each"))
        });
    length("shipping", each.and_then(|l| l.get("dimensions")));
    if let Some(weight) = record.get("weight").filter(|w| w.is_object()) {
        let unit = weight.get("unit").and_then(Value::as_str).unwrap_or("g");
        let to = units::target(unit, &rules.metric_mass, &rules.imperial_mass);
        for (key, name) in [("net", "product_weight"), ("gross", "shipping_weight")] {
            let Some(v) = units::decimal(weight.get(key)).and_then(|v| units::rescale(v, unit, to))
            else {
                continue;
            };
            match limits.weight_max() {
                Some(max) if v > max => problems.push(Problem::error(
                    name,
                    format!("{} {to} is over the limit of {max} {to}", units::text(v)),
                )),
                _ => {}
            }
            out.insert(name.to_owned(), format!("{} {to}", units::text(v)));
        }
    }
    for (key, value) in &profile.constants {
        out.insert(key.clone(), value.clone());
    }
    for column in &profile.columns {
        if out.contains_key(&column.value) {
            continue;
        }
        let what = match column.value.as_str() {
            "gtin" => "no GTIN".to_owned(),
            "price" => "no price in the channel's price list and currency".to_owned(),
            "link" => continue, // reported above, with the setting to add
            other => format!("no {other}"),
        };
        if column.required {
            problems.push(Problem::error(&column.value, what));
        } else if column.recommended {
            problems.push(Problem::warning(
                &column.value,
                format!("{what}: the network may reject or demote the item"),
            ));
        }
    }
    (out, problems)
}

/// RSS 2.0 with one `<item>` of `<g:…>` elements per product.
pub(super) struct RssEncoder<W: Write> {
    w: W,
    profile: &'static Profile,
}

impl<W: Write> RssEncoder<W> {
    pub(super) fn begin(
        mut w: W,
        profile: &'static Profile,
        channel: &str,
        cursor: &str,
        publication: &Publication,
    ) -> Result<Self, FeedError> {
        let title = if publication.name.is_empty() {
            channel
        } else {
            &publication.name
        };
        let site = publication
            .setting("link_template")
            .map(|t| match t.find("://") {
                Some(i) => match t[i + 3..].find('/') {
                    Some(j) => &t[..i + 3 + j + 1],
                    None => t,
                },
                None => t,
            })
            .unwrap_or_default();
        write!(
            w,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <rss version=\"2.0\" xmlns:g=\"{GOOGLE_NAMESPACE}\">\n  <channel>\n    \
             <title>{}</title>\n    <link>{}</link>\n    \
             <description>{}</description>\n",
            escape(title, false),
            escape(site, false),
            escape(
                &format!("partnerfeed channel {channel}, consistent with cursor {cursor}"),
                false
            ),
        )?;
        Ok(RssEncoder { w, profile })
    }

    pub(super) fn item(&mut self, values: &BTreeMap<String, String>) -> Result<(), FeedError> {
        self.w.write_all(b"    <item>\n")?;
        for column in &self.profile.columns {
            if let Some(v) = values.get(&column.value) {
                writeln!(
                    self.w,
                    "      <g:{0}>{1}</g:{0}>",
                    column.header,
                    escape(v, false)
                )?;
            }
        }
        self.w.write_all(b"    </item>\n")?;
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<W, FeedError> {
        self.w.write_all(b"  </channel>\n</rss>\n")?;
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Delimited text with a header row: RFC 4180 quoting, CRLF, every cell guarded against
/// formula injection exactly like our CSV.
pub(super) struct TabularEncoder<W: Write> {
    w: ::csv::Writer<W>,
    profile: &'static Profile,
}

fn csv_error(e: ::csv::Error) -> FeedError {
    match e.into_kind() {
        ::csv::ErrorKind::Io(e) => FeedError::Io(e),
        other => FeedError::Csv(format!("{other:?}")),
    }
}

impl<W: Write> TabularEncoder<W> {
    pub(super) fn begin(w: W, profile: &'static Profile) -> Result<Self, FeedError> {
        let delimiter = profile.delimiter.unwrap_or(',');
        let mut w = ::csv::WriterBuilder::new()
            .delimiter(u8::try_from(delimiter).unwrap_or(b','))
            .terminator(::csv::Terminator::CRLF)
            .from_writer(w);
        for column in &profile.columns {
            w.write_field(guard(column.header.as_str()).as_bytes())
                .map_err(csv_error)?;
        }
        w.write_record(None::<&[u8]>).map_err(csv_error)?;
        Ok(TabularEncoder { w, profile })
    }

    pub(super) fn row(&mut self, values: &BTreeMap<String, String>) -> Result<(), FeedError> {
        for column in &self.profile.columns {
            let value = values.get(&column.value).map_or("", String::as_str);
            self.w
                .write_field(guard(value).as_bytes())
                .map_err(csv_error)?;
        }
        self.w.write_record(None::<&[u8]>).map_err(csv_error)
    }

    pub(super) fn finish(self) -> Result<W, FeedError> {
        let mut w = self
            .w
            .into_inner()
            .map_err(|e| FeedError::Io(e.into_error()))?;
        w.flush()?;
        Ok(w)
    }
}
