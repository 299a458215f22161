//! CSV encoder: RFC 4180 (CRLF line ends, quotes only where needed), UTF-8 without BOM, one row
//! per item, carried fields flattened into fixed columns, every cell guarded against formula
//! injection.

use std::borrow::Cow;
use std::io::Write;

use super::view::{Node, View};
use super::{Change, Doc, FeedError, Field};

/// The columns a carried field flattens into, in order.
fn columns(field: Field) -> &'static [&'static str] {
    match field {
        Field::Gtin => &["gtin"],
        Field::Status => &["status"],
        Field::Brand => &["brand"],
        Field::Category => &["category"],
        Field::Title => &["title"],
        Field::Description => &["description"],
        Field::Attributes => &["attributes"],
        Field::Media => &["media"],
        Field::Price => &[
            "price_amount",
            "price_currency",
            "price_min_qty",
            "price_tiers",
        ],
        Field::Dimensions => &[
            "dimensions_length",
            "dimensions_width",
            "dimensions_height",
            "dimensions_unit",
        ],
        Field::Weight => &["weight_net", "weight_gross", "weight_unit"],
        Field::Packaging => &["packaging"],
    }
}

/// The header row for a document carrying `fields`.
pub(crate) fn header(doc: Doc, fields: &[Field]) -> Vec<&'static str> {
    let mut header = match doc {
        Doc::Feed => vec!["sku", "hash"],
        Doc::Changes => vec!["op", "sku", "hash"],
    };
    header.extend(fields.iter().flat_map(|f| columns(*f).iter().copied()));
    header
}

/// Characters that make a spreadsheet read a cell as a formula (`=`, `+`, `-`, `@`, TAB, CR),
/// plus `'` itself so that the guard can always be undone by dropping one leading `'`.
const GUARDED: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\''];

/// Prefixes a cell that a spreadsheet would read as a formula with `'`. Valid numbers in our
/// feeds are never negative, so numeric cells never start with a guarded character.
pub(crate) fn guard<'a>(cell: impl Into<Cow<'a, str>>) -> Cow<'a, str> {
    let cell = cell.into();
    if cell.starts_with(GUARDED) {
        let mut guarded = String::with_capacity(cell.len() + 1);
        guarded.push('\'');
        guarded.push_str(&cell);
        Cow::Owned(guarded)
    } else {
        cell
    }
}

/// A value as one cell: strings as they are, numbers and booleans as JSON writes them, objects
/// and arrays as compact JSON text, absent or null as an empty cell.
fn text(value: Option<Node<'_>>) -> Cow<'_, str> {
    match value.filter(|v| !v.is_null()) {
        None => Cow::Borrowed(""),
        Some(v) => v.text(),
    }
}

/// `price_tiers` as `min_qty:amount` pairs joined by `|`, e.g. `1:79.80|10:75.00`.
fn tiers(value: Option<Node<'_>>) -> Cow<'_, str> {
    match value.and_then(|v| v.array()) {
        Some(tiers) => {
            let mut cell = String::new();
            for (i, tier) in tiers.iter().enumerate() {
                if i > 0 {
                    cell.push('|');
                }
                let tier = tier.object();
                let value = |key| tier.as_ref().and_then(|t| t.value(key));
                cell.push_str(&text(value("min_qty")));
                cell.push(':');
                cell.push_str(&text(value("amount")));
            }
            Cow::Owned(cell)
        }
        None => text(value),
    }
}

/// Appends the cells of `field` taken from `record` (or empty cells when there is no record).
fn push_cells<'a>(row: &mut Vec<Cow<'a, str>>, field: Field, record: Option<&View<'a>>) {
    let top = |name: &str| record.and_then(|r| r.get(name));
    match field {
        Field::Price => {
            let price = top("price").and_then(|v| v.object());
            let sub = |key| price.as_ref().and_then(|p| p.value(key));
            row.push(text(sub("amount")));
            row.push(text(sub("currency")));
            row.push(text(sub("min_qty")));
            row.push(tiers(top("price_tiers")));
        }
        Field::Dimensions | Field::Weight => {
            let name = field.as_str();
            let object = top(name).and_then(|v| v.object());
            for column in columns(field) {
                let key = &column[name.len() + 1..];
                row.push(text(object.as_ref().and_then(|o| o.value(key))));
            }
        }
        _ => row.push(text(top(field.as_str()))),
    }
}

fn csv_error(e: ::csv::Error) -> FeedError {
    match e.into_kind() {
        ::csv::ErrorKind::Io(e) => FeedError::Io(e),
        other => FeedError::Csv(format!("{other:?}")),
    }
}

pub(super) struct CsvEncoder<W: Write> {
    w: ::csv::Writer<W>,
    doc: Doc,
    fields: Vec<Field>,
}

impl<W: Write> CsvEncoder<W> {
    pub(super) fn begin(w: W, doc: Doc, fields: Vec<Field>) -> Result<Self, FeedError> {
        let mut w = ::csv::WriterBuilder::new()
            .terminator(::csv::Terminator::CRLF)
            .from_writer(w);
        w.write_record(header(doc, &fields)).map_err(csv_error)?;
        Ok(CsvEncoder { w, doc, fields })
    }

    pub(super) fn entry(&mut self, change: &Change<'_>) -> Result<(), FeedError> {
        match *change {
            Change::Upsert { sku, hash, record } => {
                super::with_view(record, |record| self.row("upsert", sku, hash, Some(record)))
            }
            Change::Delete { sku } => self.row("delete", sku, "", None),
        }
    }

    /// Writes one product (a full feed) or upsert (a change page) from its stored record.
    pub(super) fn upsert(
        &mut self,
        sku: &str,
        hash: &str,
        record: &View<'_>,
    ) -> Result<(), FeedError> {
        self.row("upsert", sku, hash, Some(record))
    }

    fn row(
        &mut self,
        op: &str,
        sku: &str,
        hash: &str,
        record: Option<&View<'_>>,
    ) -> Result<(), FeedError> {
        let mut row = Vec::with_capacity(3 + self.fields.len() * 2);
        if self.doc == Doc::Changes {
            row.push(Cow::Borrowed(op));
        }
        row.push(Cow::Borrowed(sku));
        row.push(Cow::Borrowed(hash));
        for field in &self.fields {
            push_cells(&mut row, *field, record);
        }
        for cell in row {
            self.w
                .write_field(guard(cell).as_bytes())
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
