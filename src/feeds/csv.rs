//! CSV encoder: RFC 4180 (CRLF line ends, quotes only where needed), UTF-8 without BOM, one row
//! per item, carried fields flattened into fixed columns, every cell guarded against formula
//! injection.

use std::io::Write;

use serde_json::{Map, Value};

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
pub(crate) fn guard(cell: String) -> String {
    if cell.starts_with(GUARDED) {
        let mut guarded = String::with_capacity(cell.len() + 1);
        guarded.push('\'');
        guarded.push_str(&cell);
        guarded
    } else {
        cell
    }
}

/// A value as one cell: strings as they are, numbers and booleans as JSON writes them, objects
/// and arrays as compact JSON text, absent or null as an empty cell.
fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(v @ (Value::Array(_) | Value::Object(_))) => v.to_string(),
    }
}

/// `price_tiers` as `min_qty:amount` pairs joined by `|`, e.g. `1:79.80|10:75.00`.
fn tiers(value: Option<&Value>) -> String {
    match value {
        Some(Value::Array(tiers)) => tiers
            .iter()
            .map(|t| format!("{}:{}", text(t.get("min_qty")), text(t.get("amount"))))
            .collect::<Vec<_>>()
            .join("|"),
        other => text(other),
    }
}

/// Appends the cells of `field` taken from `record` (or empty cells when there is no record).
fn push_cells(row: &mut Vec<String>, field: Field, record: Option<&Map<String, Value>>) {
    let top = |name: &str| record.and_then(|r| r.get(name));
    let sub = |name: &str, key: &str| top(name).and_then(|v| v.get(key));
    match field {
        Field::Price => {
            row.push(text(sub("price", "amount")));
            row.push(text(sub("price", "currency")));
            row.push(text(sub("price", "min_qty")));
            row.push(tiers(top("price_tiers")));
        }
        Field::Dimensions | Field::Weight => {
            let name = field.as_str();
            for column in columns(field) {
                let key = &column[name.len() + 1..];
                row.push(text(sub(name, key)));
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
        let mut row = Vec::with_capacity(3 + self.fields.len() * 2);
        let (op, sku, hash, record) = match *change {
            Change::Upsert { sku, hash, record } => ("upsert", sku, hash, Some(record)),
            Change::Delete { sku } => ("delete", sku, "", None),
        };
        if self.doc == Doc::Changes {
            row.push(op.to_owned());
        }
        row.push(sku.to_owned());
        row.push(hash.to_owned());
        for field in &self.fields {
            push_cells(&mut row, *field, record);
        }
        self.w
            .write_record(row.into_iter().map(guard))
            .map_err(csv_error)
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
