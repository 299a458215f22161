//! Google Merchant Center: the values Google's product data specification names, computed from
//! a projected record and the channel's settings, and two renderers of a profile's columns:
//! RSS 2.0 with the `g:` namespace, and delimited text (TSV, or CSV for another network).

use std::borrow::Cow;
use std::io::Write;

use super::csv::guard;
use super::profile::{Problem, Profile, Publication};
use super::units;
use super::view::View;
use super::xml::escape;
use super::FeedError;

/// Namespace of Google's product attributes in RSS.
pub const GOOGLE_NAMESPACE: &str = "http://base.google.com/ns/1.0";

/// The values a Google profile may put in its columns, by value name, each at most once: a
/// handful, so a list searched in order beats a map.
#[derive(Default)]
pub(crate) struct Values<'a> {
    values: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> Values<'a> {
    /// Sets `key` to `value`, replacing an earlier value.
    fn put(&mut self, key: &'a str, value: Cow<'a, str>) {
        match self.values.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.values.push((key, value)),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    }
}

/// The values a Google profile may put in its columns, and the problems found on the way.
/// Missing values are absent; the columns decide whether that matters.
pub(crate) fn values<'a>(
    sku: &'a str,
    record: &View<'a>,
    profile: &'a Profile,
    publication: &Publication,
) -> (Values<'a>, Vec<Problem>) {
    let mut out = Values::default();
    let mut problems = Vec::new();
    out.put("id", Cow::Borrowed(sku));
    let limits = &profile.limits;
    if let Some(title) = record.text_of("title") {
        let chars = title.chars().count();
        match limits.title_max_chars {
            Some(max) if chars > max => problems.push(Problem::error(
                "title",
                format!("the title has {chars} characters; at most {max} are allowed"),
            )),
            _ => {}
        }
        out.put("title", title);
    }
    if let Some(description) = record.text_of("description") {
        let chars = description.chars().count();
        match limits.description_max_chars {
            Some(max) if chars > max => problems.push(Problem::error(
                "description",
                format!("the description has {chars} characters; at most {max} are allowed"),
            )),
            _ => {}
        }
        out.put("description", description);
    }
    // A missing `link_template` is reported once per product by `missing_settings`.
    if let Some(template) = publication.setting("link_template") {
        out.put("link", Cow::Owned(template.replace("{sku}", sku)));
    }
    if let Some(media) = record.array("media") {
        let items: Vec<Option<View<'a>>> = media.iter().map(|m| m.object()).collect();
        let main = items
            .iter()
            .find(|m| matches!(m, Some(m) if m.str("role").as_deref() == Some("main")))
            .or(items.first());
        if let Some(url) = main.and_then(|m| m.as_ref()).and_then(|m| m.str("url")) {
            out.put("image_link", url);
        }
    }
    if let Some(brand) = record.text_of("brand") {
        out.put("brand", brand);
    }
    if let Some(gtin) = record.text_of("gtin") {
        out.put("gtin", gtin);
    }
    let availability = match record.text_of("status").as_deref() {
        Some("discontinued") => "out_of_stock",
        _ => "in_stock",
    };
    out.put("availability", Cow::Borrowed(availability));
    if let Some(price) = record.get("price") {
        let price = price.object();
        let amount = price.as_ref().and_then(|p| p.str("amount"));
        let currency = price.as_ref().and_then(|p| p.str("currency"));
        if let (Some(amount), Some(currency)) = (amount, currency) {
            out.put("price", Cow::Owned(format!("{amount} {currency}")));
        }
    }
    if let Some(category) = record.text_of("category") {
        let path = if category.contains('/') {
            Cow::Owned(category.replace('/', " > "))
        } else {
            category
        };
        out.put("product_type", path);
    }

    let rules = &profile.units;
    let mut length = |names: [&'a str; 3], dims: Option<View<'a>>| {
        let Some(dims) = dims else {
            return;
        };
        let unit = dims.str("unit");
        let unit = unit.as_deref().unwrap_or("mm");
        let to = units::target(unit, &rules.metric_length, &rules.imperial_length);
        for (axis, name) in ["length", "width", "height"].into_iter().zip(names) {
            let Some(v) = units::decimal(dims.get(axis)).and_then(|v| units::rescale(v, unit, to))
            else {
                continue;
            };
            match limits.dimension_max() {
                Some(max) if v > max => problems.push(Problem::error(
                    name,
                    format!("{} {to} is over the limit of {max} {to}", units::text(v)),
                )),
                _ => {}
            }
            out.put(name, Cow::Owned(format!("{} {to}", units::text(v))));
        }
    };
    length(
        ["product_length", "product_width", "product_height"],
        record.object("dimensions"),
    );
    let each = record.array("packaging").and_then(|levels| {
        levels
            .iter()
            .filter_map(|l| l.object())
            .find(|l| l.str("level").as_deref() == Some("each"))
    });
    length(
        ["shipping_length", "shipping_width", "shipping_height"],
        each.and_then(|l| l.object("dimensions")),
    );
    if let Some(weight) = record.object("weight") {
        let unit = weight.str("unit");
        let unit = unit.as_deref().unwrap_or("g");
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
            out.put(name, Cow::Owned(format!("{} {to}", units::text(v))));
        }
    }
    for (key, value) in &profile.constants {
        out.put(key, Cow::Borrowed(value));
    }
    for column in &profile.columns {
        if out.get(&column.value).is_some() {
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

    pub(super) fn item(&mut self, values: &Values<'_>) -> Result<(), FeedError> {
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

    pub(super) fn row(&mut self, values: &Values<'_>) -> Result<(), FeedError> {
        for column in &self.profile.columns {
            let value = values.get(&column.value).unwrap_or("");
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
