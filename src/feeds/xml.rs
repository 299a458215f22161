//! XML encoder for the `urn:partnerfeed:feed:1` feed and changes documents (schema:
//! `feeds/partnerfeed-feed.xsd`), written event by event with quick-xml.

use std::borrow::Cow;
use std::io::Write;

use super::view::{Kind, Node, View};
use super::{Change, Doc, FeedError, Field, XML_NAMESPACE};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// Whether XML 1.0 allows `c` at all (its `Char` production). C0 controls other than TAB, LF and
/// CR, and U+FFFE/U+FFFF, are not allowed even as character references.
fn allowed(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Escapes `s` for element text (`attr == false`) or a double-quoted attribute value.
/// Characters XML 1.0 forbids become U+FFFD. CR (and, in attributes, TAB and LF) are written as
/// character references so that parsers' end-of-line and attribute normalisation keep them.
pub(crate) fn escape(s: &str, attr: bool) -> Cow<'_, str> {
    let needs = |c: char| {
        matches!(c, '&' | '<' | '>' | '\r')
            || (attr && matches!(c, '"' | '\t' | '\n'))
            || !allowed(c)
    };
    // Bytes that may need work: markup, C0 controls, and the lead byte of U+FFFE/U+FFFF.
    let suspect = |b: u8| matches!(b, b'&' | b'<' | b'>' | b'"' | 0xEF) || b < 0x20;
    if !s.bytes().any(suspect) || !s.contains(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attr => out.push_str("&quot;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' if attr => out.push_str("&#10;"),
            c if !allowed(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The attributes `(xml name, json key)` present (and not null) in `object`, in the given order.
fn attrs_of<'v>(
    object: Option<&View<'v>>,
    keys: &[(&'static str, &str)],
) -> Vec<(&'static str, Cow<'v, str>)> {
    let Some(object) = object else {
        return Vec::new();
    };
    keys.iter()
        .filter_map(|(name, key)| object.value(key).map(|v| (*name, v.text())))
        .collect()
}

const MEASURES: [(&str, &str); 4] = [
    ("length", "length"),
    ("width", "width"),
    ("height", "height"),
    ("unit", "unit"),
];

pub(super) struct XmlEncoder<W: Write> {
    w: Writer<W>,
    doc: Doc,
    fields: Vec<Field>,
}

impl<W: Write> XmlEncoder<W> {
    pub(super) fn begin(
        w: W,
        doc: Doc,
        channel: &str,
        position: &str,
        fields: Vec<Field>,
    ) -> Result<Self, FeedError> {
        let mut enc = XmlEncoder {
            w: Writer::new_with_indent(w, b' ', 2),
            doc,
            fields,
        };
        enc.w
            .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        let (root, position_name) = match doc {
            Doc::Feed => ("feed", "cursor"),
            Doc::Changes => ("changes", "since"),
        };
        let attrs = [
            ("xmlns", Cow::Borrowed(XML_NAMESPACE)),
            ("channel", Cow::Borrowed(channel)),
            (position_name, Cow::Borrowed(position)),
        ];
        enc.start(root, &attrs, false)?;
        Ok(enc)
    }

    /// Writes `<name attrs>` (or `<name attrs/>` when `empty`).
    fn start(
        &mut self,
        name: &str,
        attrs: &[(&str, Cow<'_, str>)],
        empty: bool,
    ) -> Result<(), FeedError> {
        let mut start = BytesStart::new(name);
        for (key, value) in attrs {
            start.push_attribute((key.as_bytes(), escape(value, true).as_bytes()));
        }
        self.w.write_event(if empty {
            Event::Empty(start)
        } else {
            Event::Start(start)
        })?;
        Ok(())
    }

    fn end(&mut self, name: &str) -> Result<(), FeedError> {
        self.w.write_event(Event::End(BytesEnd::new(name)))?;
        Ok(())
    }

    fn text_element(
        &mut self,
        name: &str,
        attrs: &[(&str, Cow<'_, str>)],
        value: &str,
    ) -> Result<(), FeedError> {
        self.start(name, attrs, false)?;
        self.w
            .write_event(Event::Text(BytesText::from_escaped(escape(value, false))))?;
        self.end(name)
    }

    /// `<name>` holding one `child` per element of `items`, each rendered by `each`.
    fn list<'v>(
        &mut self,
        name: &str,
        items: Node<'v>,
        each: impl Fn(&mut Self, Node<'v>) -> Result<(), FeedError>,
    ) -> Result<(), FeedError> {
        let Some(items) = items.array() else {
            return Ok(());
        };
        if items.is_empty() {
            return self.start(name, &[], true);
        }
        self.start(name, &[], false)?;
        for item in items {
            each(self, item)?;
        }
        self.end(name)
    }

    fn field(&mut self, field: Field, record: &View<'_>) -> Result<(), FeedError> {
        let name = field.as_str();
        match field {
            Field::Gtin
            | Field::Status
            | Field::Brand
            | Field::Category
            | Field::Title
            | Field::Description => {
                if let Some(v) = record.value(name) {
                    self.text_element(name, &[], &v.text())?;
                }
            }
            Field::Attributes => {
                if let Some(attributes) = record.get(name).and_then(|v| v.object()) {
                    if attributes.is_empty() {
                        return self.start(name, &[], true);
                    }
                    self.start(name, &[], false)?;
                    for (key, value) in attributes.iter() {
                        let kind = match value.kind() {
                            Kind::String => "string",
                            Kind::Number => "number",
                            Kind::Bool => "boolean",
                            _ => "json",
                        };
                        let attrs = [("name", Cow::Borrowed(key)), ("type", Cow::Borrowed(kind))];
                        self.text_element("attribute", &attrs, &value.text())?;
                    }
                    self.end(name)?;
                }
            }
            Field::Media => {
                if let Some(media) = record.get(name) {
                    self.list(name, media, |enc, item| {
                        let attrs =
                            attrs_of(item.object().as_ref(), &[("role", "role"), ("url", "url")]);
                        enc.start("item", &attrs, true)
                    })?;
                }
            }
            Field::Price => {
                if let Some(price) = record.get("price").and_then(|v| v.object()) {
                    let keys = [
                        ("amount", "amount"),
                        ("currency", "currency"),
                        ("min_qty", "min_qty"),
                    ];
                    self.start("price", &attrs_of(Some(&price), &keys), true)?;
                }
                if let Some(tiers) = record.get("price_tiers") {
                    self.list("price_tiers", tiers, |enc, tier| {
                        let keys = [("min_qty", "min_qty"), ("amount", "amount")];
                        enc.start("tier", &attrs_of(tier.object().as_ref(), &keys), true)
                    })?;
                }
            }
            Field::Dimensions => {
                if let Some(d) = record.get(name).and_then(|v| v.object()) {
                    self.start(name, &attrs_of(Some(&d), &MEASURES), true)?;
                }
            }
            Field::Weight => {
                if let Some(w) = record.get(name).and_then(|v| v.object()) {
                    let keys = [("net", "net"), ("gross", "gross"), ("unit", "unit")];
                    self.start(name, &attrs_of(Some(&w), &keys), true)?;
                }
            }
            Field::Packaging => {
                if let Some(levels) = record.get(name) {
                    self.list(name, levels, |enc, level| enc.packaging_level(level))?;
                }
            }
        }
        Ok(())
    }

    fn packaging_level(&mut self, level: Node<'_>) -> Result<(), FeedError> {
        let keys = [
            ("name", "level"),
            ("quantity", "quantity"),
            ("gtin", "gtin"),
            ("type", "type"),
        ];
        let level = level.object();
        let attrs = attrs_of(level.as_ref(), &keys);
        let member = |key| {
            level
                .as_ref()
                .and_then(|l| l.get(key))
                .and_then(|v| v.object())
        };
        let dimensions = member("dimensions");
        let gross_weight = member("gross_weight");
        if dimensions.is_none() && gross_weight.is_none() {
            return self.start("level", &attrs, true);
        }
        self.start("level", &attrs, false)?;
        if let Some(d) = dimensions {
            self.start("dimensions", &attrs_of(Some(&d), &MEASURES), true)?;
        }
        if let Some(g) = gross_weight {
            let keys = [("value", "value"), ("unit", "unit")];
            self.start("gross_weight", &attrs_of(Some(&g), &keys), true)?;
        }
        self.end("level")
    }

    pub(super) fn entry(&mut self, change: &Change<'_>) -> Result<(), FeedError> {
        match *change {
            Change::Upsert { sku, hash, record } => {
                super::with_view(record, |record| self.upsert(sku, hash, record))
            }
            Change::Delete { sku } => self.start("delete", &[("sku", Cow::Borrowed(sku))], true),
        }
    }

    /// Writes one product (a full feed) or upsert (a change page) from its stored record.
    pub(super) fn upsert(
        &mut self,
        sku: &str,
        hash: &str,
        record: &View<'_>,
    ) -> Result<(), FeedError> {
        let name = match self.doc {
            Doc::Feed => "product",
            Doc::Changes => "upsert",
        };
        let attrs = [("sku", Cow::Borrowed(sku)), ("hash", Cow::Borrowed(hash))];
        let fields = std::mem::take(&mut self.fields);
        let carries_any = fields.iter().any(|f| {
            record.contains_key(f.as_str())
                || (*f == Field::Price && record.contains_key("price_tiers"))
        });
        let result = if carries_any {
            self.start(name, &attrs, false)
                .and_then(|()| fields.iter().try_for_each(|f| self.field(*f, record)))
                .and_then(|()| self.end(name))
        } else {
            self.start(name, &attrs, true)
        };
        self.fields = fields;
        result
    }

    pub(super) fn finish(mut self, tail: Option<(&str, bool)>) -> Result<W, FeedError> {
        let root = match self.doc {
            Doc::Feed => "feed",
            Doc::Changes => "changes",
        };
        if let Some((next, has_more)) = tail {
            let attrs = [
                ("cursor", Cow::Borrowed(next)),
                (
                    "has_more",
                    Cow::Borrowed(if has_more { "true" } else { "false" }),
                ),
            ];
            self.start("next", &attrs, true)?;
        }
        self.end(root)?;
        let mut w = self.w.into_inner();
        w.write_all(b"\n")?;
        w.flush()?;
        Ok(w)
    }
}
