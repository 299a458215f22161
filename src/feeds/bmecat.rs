//! BMEcat 2005 (`http://www.bmecat.org/bmecat/2005fd`): the full feed as `T_NEW_CATALOG`, a
//! change page as `T_UPDATE_PRODUCTS` whose `prev_version` is the channel seq the page follows.
//! Every document validates against `bmecat_2005.xsd` (the tests validate each with libxml2).

use std::io::Write;

use super::profile::{Problem, Profile, Publication};
use super::units;
use super::view::View;
use super::xml::escape;
use super::{Doc, FeedError};

pub const BMECAT_NAMESPACE: &str = "http://www.bmecat.org/bmecat/2005fd";

/// BMEcat's `dtLANG` is ISO 639-2 (three letters); a channel locale is BCP 47.
fn language(locale: &str) -> &'static str {
    let primary = locale.split('-').next().unwrap_or(locale);
    match primary.to_ascii_lowercase().as_str() {
        "fr" => "fra",
        "de" => "deu",
        "es" => "spa",
        "it" => "ita",
        "nl" => "nld",
        "pt" => "por",
        "pl" => "pol",
        "sv" => "swe",
        "da" => "dan",
        "fi" => "fin",
        "cs" => "ces",
        "hu" => "hun",
        "ro" => "ron",
        _ => "eng",
    }
}

/// Leading characters of `s`, at most `max` of them (BMEcat limits are in characters).
fn clip(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// What keeps a record out of BMEcat documents (errors) or loses part of it (warnings).
pub(crate) fn check(sku: &str, record: &View<'_>, profile: &Profile) -> Vec<Problem> {
    let mut problems = Vec::new();
    let limits = &profile.limits;
    if let Some(max) = limits.sku_max_chars {
        let chars = sku.chars().count();
        if chars > max {
            problems.push(Problem::error(
                "sku",
                format!("SUPPLIER_PID holds at most {max} characters; this SKU has {chars}"),
            ));
        }
    }
    match record.text_of("title") {
        None => problems.push(Problem::error(
            "title",
            "no title: DESCRIPTION_SHORT is required (carry `title` in the channel)",
        )),
        Some(title) => {
            let chars = title.chars().count();
            if let Some(max) = limits.title_max_chars.filter(|max| chars > *max) {
                problems.push(Problem::error(
                    "title",
                    format!("the title has {chars} characters; DESCRIPTION_SHORT allows {max}"),
                ));
            }
        }
    }
    if let Some(description) = record.text_of("description") {
        let chars = description.chars().count();
        if let Some(max) = limits.description_max_chars.filter(|max| chars > *max) {
            problems.push(Problem::error(
                "description",
                format!("the description has {chars} characters; DESCRIPTION_LONG allows {max}"),
            ));
        }
    }
    if let Some(brand) = record.text_of("brand") {
        if brand.chars().count() > 50 {
            problems.push(Problem::warning(
                "brand",
                "the brand is over 50 characters: MANUFACTURER_NAME is left out",
            ));
        }
    }
    let priced = record
        .object("price")
        .and_then(|p| p.str("amount"))
        .is_some();
    if !priced {
        problems.push(Problem::error(
            "price",
            "no price in the channel's price list and currency",
        ));
    }
    problems
}

pub(super) struct BmecatEncoder<W: Write> {
    w: W,
    profile: &'static Profile,
    doc: Doc,
    /// The prologue, held back until the first product: `T_UPDATE_PRODUCTS` needs at least one
    /// product, so an empty change page is no document at all (the API answers 204).
    prologue: Option<String>,
    /// `new` in a feed and in a page that starts at the beginning, `update` after that.
    mode: &'static str,
    lang: &'static str,
}

impl<W: Write> BmecatEncoder<W> {
    pub(super) fn begin(
        mut w: W,
        profile: &'static Profile,
        doc: Doc,
        channel: &str,
        position: &str,
        publication: &Publication,
    ) -> Result<Self, FeedError> {
        let lang = language(&publication.locale);
        let name = if publication.name.is_empty() {
            channel
        } else {
            &publication.name
        };
        // The supplier is the vendor, not the channel: its name setting, else its GLN.
        let supplier_name = match publication.setting("supplier_name") {
            Some(n) => n.to_owned(),
            None => match publication.setting("sender_gln") {
                Some(gln) => format!("GLN {gln}"),
                None => channel.to_owned(),
            },
        };
        let mut p = String::with_capacity(1024);
        p.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        p.push_str(&format!(
            "<BMECAT version=\"2005\" xmlns=\"{BMECAT_NAMESPACE}\">\n  <HEADER>\n"
        ));
        let generator = match doc {
            Doc::Feed => format!(
                "partnerfeed; channel {channel}; seq {}; cursor {position}",
                publication.seq
            ),
            Doc::Changes => format!(
                "partnerfeed; channel {channel}; seq {} after {}; since {position}",
                publication.next_seq, publication.seq
            ),
        };
        p.push_str(&format!(
            "    <GENERATOR_INFO>{}</GENERATOR_INFO>\n",
            escape(clip(&generator, 250), false)
        ));
        p.push_str("    <CATALOG>\n");
        p.push_str(&format!(
            "      <LANGUAGE default=\"true\">{lang}</LANGUAGE>\n"
        ));
        p.push_str(&format!(
            "      <CATALOG_ID>{}</CATALOG_ID>\n",
            escape(clip(channel, 20), false)
        ));
        p.push_str("      <CATALOG_VERSION>1.0</CATALOG_VERSION>\n");
        p.push_str(&format!(
            "      <CATALOG_NAME lang=\"{lang}\">{}</CATALOG_NAME>\n",
            escape(clip(name, 100), false)
        ));
        p.push_str("    </CATALOG>\n    <SUPPLIER>\n");
        if let Some(gln) = publication.setting("sender_gln") {
            p.push_str(&format!(
                "      <SUPPLIER_ID type=\"gln\">{}</SUPPLIER_ID>\n",
                escape(clip(gln, 250), false)
            ));
        }
        p.push_str(&format!(
            "      <SUPPLIER_NAME>{}</SUPPLIER_NAME>\n    </SUPPLIER>\n  </HEADER>\n",
            escape(clip(&supplier_name, 50), false)
        ));
        let mode = match doc {
            Doc::Feed => {
                p.push_str("  <T_NEW_CATALOG>\n");
                "new"
            }
            Doc::Changes => {
                p.push_str(&format!(
                    "  <T_UPDATE_PRODUCTS prev_version=\"{}\">\n",
                    publication.seq
                ));
                if publication.seq == 0 {
                    "new"
                } else {
                    "update"
                }
            }
        };
        let prologue = match doc {
            Doc::Feed => {
                w.write_all(p.as_bytes())?;
                None
            }
            Doc::Changes => Some(p),
        };
        Ok(BmecatEncoder {
            w,
            profile,
            doc,
            prologue,
            mode,
            lang,
        })
    }

    fn start_product(&mut self, mode: &str, sku: &str) -> Result<(), FeedError> {
        if let Some(p) = self.prologue.take() {
            self.w.write_all(p.as_bytes())?;
        }
        write!(
            self.w,
            "    <PRODUCT mode=\"{mode}\">\n      <SUPPLIER_PID type=\"supplier_specific\">{}</SUPPLIER_PID>\n",
            escape(sku, false)
        )?;
        Ok(())
    }

    fn price_type(&self) -> &'static str {
        self.profile.price_type.as_deref().unwrap_or("net_customer")
    }

    fn code(&self, level: &str) -> &'static str {
        self.profile
            .packing_unit_codes
            .get(level)
            .map_or("C62", String::as_str)
    }

    pub(super) fn product(
        &mut self,
        sku: &str,
        record: &View<'_>,
        _publication: &Publication,
    ) -> Result<(), FeedError> {
        let lang = self.lang;
        self.start_product(self.mode, sku)?;
        let w = &mut self.w;
        w.write_all(b"      <PRODUCT_DETAILS>\n")?;
        let title = record.text_of("title");
        writeln!(
            w,
            "        <DESCRIPTION_SHORT lang=\"{lang}\">{}</DESCRIPTION_SHORT>",
            escape(title.as_deref().unwrap_or(sku), false)
        )?;
        if let Some(d) = record.text_of("description") {
            writeln!(
                w,
                "        <DESCRIPTION_LONG lang=\"{lang}\">{}</DESCRIPTION_LONG>",
                escape(&d, false)
            )?;
        }
        if let Some(gtin) = record.text_of("gtin") {
            writeln!(
                w,
                "        <INTERNATIONAL_PID type=\"gtin\">{}</INTERNATIONAL_PID>",
                escape(&gtin, false)
            )?;
        }
        if let Some(brand) = record.text_of("brand").filter(|b| b.chars().count() <= 50) {
            writeln!(
                w,
                "        <MANUFACTURER_NAME>{}</MANUFACTURER_NAME>",
                escape(&brand, false)
            )?;
        }
        w.write_all(b"      </PRODUCT_DETAILS>\n")?;

        // Measures as features with their Rec 20 unit, in the channel's own units: no
        // conversion here.
        let mut features: Vec<(&str, String, &'static str)> = Vec::new();
        if let Some(d) = record.object("dimensions") {
            let unit = d.str("unit").and_then(|u| units::rec20(&u));
            for axis in ["length", "width", "height"] {
                if let (Some(v), Some(unit)) = (units::decimal(d.get(axis)), unit) {
                    features.push((axis, units::text(v), unit));
                }
            }
        }
        if let Some(m) = record.object("weight") {
            let unit = m.str("unit").and_then(|u| units::rec20(&u));
            for (key, name) in [("net", "net_weight"), ("gross", "gross_weight")] {
                if let (Some(v), Some(unit)) = (units::decimal(m.get(key)), unit) {
                    features.push((name, units::text(v), unit));
                }
            }
        }
        if !features.is_empty() {
            w.write_all(b"      <PRODUCT_FEATURES>\n")?;
            for (name, value, unit) in features {
                writeln!(
                    w,
                    "        <FEATURE>\n          <FNAME lang=\"{lang}\">{name}</FNAME>\n          <FVALUE>{value}</FVALUE>\n          <FUNIT>{unit}</FUNIT>\n        </FEATURE>"
                )?;
            }
            w.write_all(b"      </PRODUCT_FEATURES>\n")?;
        }

        let each = self.code("each");
        let price = record.object("price");
        let min_qty = price.as_ref().and_then(|p| p.u64("min_qty")).unwrap_or(1);
        let levels: Vec<(String, u64)> = record
            .array("packaging")
            .map(|levels| {
                levels
                    .iter()
                    .filter_map(|l| {
                        let l = l.object()?;
                        let name = l.str("level")?;
                        let qty = l.u64("quantity")?;
                        (name != "each" && qty > 1).then(|| (name.into_owned(), qty))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let codes: Vec<&str> = levels.iter().map(|(name, _)| self.code(name)).collect();
        let w = &mut self.w;
        write!(
            w,
            "      <PRODUCT_ORDER_DETAILS>\n        <ORDER_UNIT>{each}</ORDER_UNIT>\n        <CONTENT_UNIT>{each}</CONTENT_UNIT>\n        <NO_CU_PER_OU>1</NO_CU_PER_OU>\n        <PRICE_QUANTITY>1</PRICE_QUANTITY>\n        <QUANTITY_MIN>{min_qty}</QUANTITY_MIN>\n        <QUANTITY_INTERVAL>1</QUANTITY_INTERVAL>\n"
        )?;
        if !levels.is_empty() {
            w.write_all(b"        <PACKING_UNITS>\n")?;
            for ((name, qty), code) in levels.iter().zip(codes) {
                writeln!(
                    w,
                    "          <PACKING_UNIT>\n            <QUANTITY_MIN>{qty}</QUANTITY_MIN>\n            <QUANTITY_MAX>{qty}</QUANTITY_MAX>\n            <PACKING_UNIT_CODE>{code}</PACKING_UNIT_CODE>\n            <PACKING_UNIT_DESCR lang=\"{lang}\">{}</PACKING_UNIT_DESCR>\n          </PACKING_UNIT>",
                    escape(name, false)
                )?;
            }
            w.write_all(b"        </PACKING_UNITS>\n")?;
        }
        w.write_all(b"      </PRODUCT_ORDER_DETAILS>\n")?;

        let price_type = self.price_type();
        let currency = price.as_ref().and_then(|p| p.str("currency"));
        let currency = escape(currency.as_deref().unwrap_or_default(), false);
        let w = &mut self.w;
        w.write_all(b"      <PRODUCT_PRICE_DETAILS>\n")?;
        for tier in record.array("price_tiers").into_iter().flatten() {
            let Some(tier) = tier.object() else {
                continue;
            };
            let (Some(amount), Some(lower)) = (tier.str("amount"), tier.u64("min_qty")) else {
                continue;
            };
            writeln!(
                w,
                "        <PRODUCT_PRICE price_type=\"{price_type}\">\n          <PRICE_AMOUNT>{}</PRICE_AMOUNT>\n          <PRICE_CURRENCY>{currency}</PRICE_CURRENCY>\n          <LOWER_BOUND>{lower}</LOWER_BOUND>\n        </PRODUCT_PRICE>",
                escape(&amount, false),
            )?;
        }
        w.write_all(b"      </PRODUCT_PRICE_DETAILS>\n    </PRODUCT>\n")?;
        Ok(())
    }

    /// A product leaving the partner's copy: BMEcat has no light delete, so the product
    /// carries the children the schema requires (its SKU as the short description, the order
    /// unit, a price element without amount).
    pub(super) fn delete(&mut self, sku: &str) -> Result<(), FeedError> {
        if self
            .profile
            .limits
            .sku_max_chars
            .is_some_and(|max| sku.chars().count() > max)
        {
            // Never sent in BMEcat, so nothing to delete.
            return Ok(());
        }
        let (lang, each, price_type) = (self.lang, self.code("each"), self.price_type());
        self.start_product("delete", sku)?;
        write!(
            self.w,
            "      <PRODUCT_DETAILS>\n        <DESCRIPTION_SHORT lang=\"{lang}\">{}</DESCRIPTION_SHORT>\n      </PRODUCT_DETAILS>\n      <PRODUCT_ORDER_DETAILS>\n        <ORDER_UNIT>{each}</ORDER_UNIT>\n      </PRODUCT_ORDER_DETAILS>\n      <PRODUCT_PRICE_DETAILS>\n        <PRODUCT_PRICE price_type=\"{price_type}\"/>\n      </PRODUCT_PRICE_DETAILS>\n    </PRODUCT>\n",
            escape(sku, false)
        )?;
        Ok(())
    }

    /// An upsert that cannot be rendered: out of the full feed, a delete in a change page.
    pub(super) fn excluded(&mut self, sku: &str) -> Result<(), FeedError> {
        match self.doc {
            Doc::Feed => Ok(()),
            Doc::Changes => self.delete(sku),
        }
    }

    pub(super) fn finish(mut self) -> Result<W, FeedError> {
        if self.prologue.is_none() {
            let close = match self.doc {
                Doc::Feed => "  </T_NEW_CATALOG>\n</BMECAT>\n",
                Doc::Changes => "  </T_UPDATE_PRODUCTS>\n</BMECAT>\n",
            };
            self.w.write_all(close.as_bytes())?;
        }
        self.w.flush()?;
        Ok(self.w)
    }
}
