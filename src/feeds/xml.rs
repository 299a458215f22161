//! XML encoder for the `urn:partnerfeed:feed:1` feed and changes documents (schema:
//! `feeds/partnerfeed-feed.xsd`), written event by event with quick-xml.

use std::borrow::Cow;
use std::io::Write;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use serde_json::{Map, Value};

use super::{Change, Doc, FeedError, Field, XML_NAMESPACE};

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
    if !s.contains(needs) {
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

/// A scalar as XML text: strings as they are, numbers and booleans as JSON writes them, anything
/// else as compact JSON text.
fn text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        Value::Number(n) => Cow::Owned(n.to_string()),
        Value::Bool(b) => Cow::Owned(b.to_string()),
        other => Cow::Owned(other.to_string()),
    }
}

/// The attributes `(xml name, json key)` present (and not null) in `object`, in the given order.
fn attrs_of<'v>(
    object: &'v Value,
    keys: &[(&'static str, &str)],
) -> Vec<(&'static str, Cow<'v, str>)> {
    keys.iter()
        .filter_map(|(name, key)| match object.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some((*name, text(v))),
        })
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
    fn list(
        &mut self,
        name: &str,
        items: &Value,
        each: impl Fn(&mut Self, &Value) -> Result<(), FeedError>,
    ) -> Result<(), FeedError> {
        let items = match items {
            Value::Array(items) => items,
            _ => return Ok(()),
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

    fn field(&mut self, field: Field, record: &Map<String, Value>) -> Result<(), FeedError> {
        let name = field.as_str();
        match field {
            Field::Gtin
            | Field::Status
            | Field::Brand
            | Field::Category
            | Field::Title
            | Field::Description => {
                if let Some(v) = record.get(name).filter(|v| !v.is_null()) {
                    self.text_element(name, &[], &text(v))?;
                }
            }
            Field::Attributes => {
                if let Some(Value::Object(attributes)) = record.get(name) {
                    if attributes.is_empty() {
                        return self.start(name, &[], true);
                    }
                    self.start(name, &[], false)?;
                    for (key, value) in attributes {
                        let kind = match value {
                            Value::String(_) => "string",
                            Value::Number(_) => "number",
                            Value::Bool(_) => "boolean",
                            _ => "json",
                        };
                        let attrs = [
                            ("name", Cow::Borrowed(key.as_str())),
                            ("type", Cow::Borrowed(kind)),
                        ];
                        self.text_element("attribute", &attrs, &text(value))?;
                    }
                    self.end(name)?;
                }
            }
            Field::Media => {
                if let Some(media) = record.get(name) {
                    self.list(name, media, |enc, item| {
                        enc.start(
                            "item",
                            &attrs_of(item, &[("role", "role"), ("url", "url")]),
                            true,
                        )
                    })?;
                }
            }
            Field::Price => {
                if let Some(price) = record.get("price").filter(|v| v.is_object()) {
                    let keys = [
                        ("amount", "amount"),
                        ("currency", "currency"),
                        ("min_qty", "min_qty"),
                    ];
                    self.start("price", &attrs_of(price, &keys), true)?;
                }
                if let Some(tiers) = record.get("price_tiers") {
                    self.list("price_tiers", tiers, |enc, tier| {
                        let keys = [("min_qty", "min_qty"), ("amount", "amount")];
                        enc.start("tier", &attrs_of(tier, &keys), true)
                    })?;
                }
            }
            Field::Dimensions => {
                if let Some(d) = record.get(name).filter(|v| v.is_object()) {
                    self.start(name, &attrs_of(d, &MEASURES), true)?;
                }
            }
            Field::Weight => {
                if let Some(w) = record.get(name).filter(|v| v.is_object()) {
                    let keys = [("net", "net"), ("gross", "gross"), ("unit", "unit")];
                    self.start(name, &attrs_of(w, &keys), true)?;
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

    fn packaging_level(&mut self, level: &Value) -> Result<(), FeedError> {
        let keys = [
            ("name", "level"),
            ("quantity", "quantity"),
            ("gtin", "gtin"),
            ("type", "type"),
        ];
        let attrs = attrs_of(level, &keys);
        let dimensions = level.get("dimensions").filter(|v| v.is_object());
        let gross_weight = level.get("gross_weight").filter(|v| v.is_object());
        if dimensions.is_none() && gross_weight.is_none() {
            return self.start("level", &attrs, true);
        }
        self.start("level", &attrs, false)?;
        if let Some(d) = dimensions {
            self.start("dimensions", &attrs_of(d, &MEASURES), true)?;
        }
        if let Some(g) = gross_weight {
            self.start(
                "gross_weight",
                &attrs_of(g, &[("value", "value"), ("unit", "unit")]),
                true,
            )?;
        }
        self.end("level")
    }

    pub(super) fn entry(&mut self, change: &Change<'_>) -> Result<(), FeedError> {
        match *change {
            Change::Upsert { sku, hash, record } => {
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
            Change::Delete { sku } => self.start("delete", &[("sku", Cow::Borrowed(sku))], true),
        }
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
