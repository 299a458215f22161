//! JSON and NDJSON encoders: compact JSON, the envelope written around the items by hand so that
//! each item goes out as it comes.

use std::io::Write;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Change, Doc, FeedError};

/// One item as JSON shows it. `op` is absent in a full feed.
#[derive(Serialize)]
struct Item<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    op: Option<&'static str>,
    sku: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a Map<String, Value>>,
}

impl<'a> Item<'a> {
    fn new(doc: Doc, change: &Change<'a>) -> Self {
        let op = |name| (doc == Doc::Changes).then_some(name);
        match *change {
            Change::Upsert { sku, hash, record } => Item {
                op: op("upsert"),
                sku,
                hash: Some(hash),
                record: Some(record),
            },
            Change::Delete { sku } => Item {
                op: op("delete"),
                sku,
                hash: None,
                record: None,
            },
        }
    }
}

pub(super) struct JsonEncoder<W: Write> {
    w: W,
    /// NDJSON: items one per line, no envelope.
    lines: bool,
    doc: Doc,
    first: bool,
}

impl<W: Write> JsonEncoder<W> {
    pub(super) fn begin(
        mut w: W,
        lines: bool,
        doc: Doc,
        channel: &str,
        position: &str,
    ) -> Result<Self, FeedError> {
        if !lines {
            let (position_key, items_key) = match doc {
                Doc::Feed => ("cursor", "products"),
                Doc::Changes => ("since", "changes"),
            };
            w.write_all(b"{\"channel\":")?;
            serde_json::to_writer(&mut w, channel).map_err(std::io::Error::from)?;
            write!(w, ",\"{position_key}\":")?;
            serde_json::to_writer(&mut w, position).map_err(std::io::Error::from)?;
            write!(w, ",\"{items_key}\":[")?;
        }
        Ok(JsonEncoder {
            w,
            lines,
            doc,
            first: true,
        })
    }

    pub(super) fn entry(&mut self, change: &Change<'_>) -> Result<(), FeedError> {
        if !self.lines && !self.first {
            self.w.write_all(b",")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.w, &Item::new(self.doc, change))
            .map_err(std::io::Error::from)?;
        if self.lines {
            self.w.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Writes an upsert whose record is already compact JSON text (as the store keeps it),
    /// byte for byte, without parsing it.
    pub(super) fn upsert_raw(
        &mut self,
        sku: &str,
        hash: &str,
        record: &str,
    ) -> Result<(), FeedError> {
        if !self.lines && !self.first {
            self.w.write_all(b",")?;
        }
        self.first = false;
        self.w.write_all(if self.doc == Doc::Changes {
            b"{\"op\":\"upsert\",\"sku\":"
        } else {
            b"{\"sku\":"
        })?;
        serde_json::to_writer(&mut self.w, sku).map_err(std::io::Error::from)?;
        self.w.write_all(b",\"hash\":")?;
        serde_json::to_writer(&mut self.w, hash).map_err(std::io::Error::from)?;
        self.w.write_all(b",\"record\":")?;
        self.w.write_all(record.as_bytes())?;
        self.w.write_all(if self.lines { b"}\n" } else { b"}" })?;
        Ok(())
    }

    pub(super) fn finish(mut self, tail: Option<(&str, bool)>) -> Result<W, FeedError> {
        if !self.lines {
            self.w.write_all(b"]")?;
            if let Some((next, has_more)) = tail {
                self.w.write_all(b",\"next\":")?;
                serde_json::to_writer(&mut self.w, next).map_err(std::io::Error::from)?;
                write!(self.w, ",\"has_more\":{has_more}")?;
            }
            self.w.write_all(b"}\n")?;
        }
        self.w.flush()?;
        Ok(self.w)
    }
}
