//! Renderers of a channel's full feed and of its change pages (JSON, NDJSON, CSV, XML) to any
//! `impl Write`, one item at a time; no I/O beyond the writer, no HTTP, no database.
//!
//! The records handed in are already projected for the channel: JSON and NDJSON write them
//! verbatim, so that `hash` stays the SHA-256 of the JCS form of
//! `record`. CSV and XML flatten only the channel's carried `fields`, in the fixed order of
//! [`Field::ALL`]. The formats are specified in `docs/feeds.md`; the XML schema is
//! `feeds/partnerfeed-feed.xsd`.
//!
//! The writers make many small writes: hand them a buffered writer (`BufWriter`, a `Vec`, a
//! chunking body stream) rather than a raw socket or file.

mod bmecat;
mod csv;
mod gdsn;
mod google;
mod json;
pub mod profile;
mod units;
mod view;
mod xml;

#[cfg(test)]
mod tests;

use std::io::{self, Write};

use serde_json::{Map, Value};

pub use profile::{Problem, ProfileId, Publication, Severity};

/// HTTP header carrying the cursor a full feed is consistent with (every format).
pub const FEED_CURSOR_HEADER: &str = "Feed-Cursor";
/// HTTP header carrying the cursor to ask for the next change page (every format).
pub const CHANGES_NEXT_HEADER: &str = "Changes-Next";
/// HTTP header saying whether more changes follow `Changes-Next` (`true` or `false`).
pub const CHANGES_HAS_MORE_HEADER: &str = "Changes-Has-More";
/// Namespace of the built-in XML feed and changes documents.
pub const XML_NAMESPACE: &str = "urn:partnerfeed:feed:1";

/// Errors raised while rendering, in domain words. The writers' methods return `io::Result` (the
/// caller streams into an `impl Write`); these convert into `io::Error` with the right kind.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A carried field name that is not one of [`Field::ALL`].
    #[error("unknown carried field `{0}`")]
    UnknownField(String),
    /// The profile renders full feeds only (Google feeds are snapshots).
    #[error("the {0} profile has no change pages; take its full feed instead")]
    SnapshotOnly(&'static str),
    /// The CSV encoder failed (other than by I/O).
    #[error("CSV encoding failed: {0}")]
    Csv(String),
    /// The underlying writer failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<FeedError> for io::Error {
    fn from(e: FeedError) -> Self {
        match e {
            FeedError::Io(e) => e,
            e @ FeedError::UnknownField(_) => io::Error::new(io::ErrorKind::InvalidInput, e),
            e @ FeedError::SnapshotOnly(_) => io::Error::new(io::ErrorKind::Unsupported, e),
            e @ FeedError::Csv(_) => io::Error::other(e),
        }
    }
}

/// A feed format: one of the four built-in ones, or a profile from `feeds/profiles/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON document.
    Json,
    /// Newline-delimited JSON: one item per line.
    Ndjson,
    /// RFC 4180 CSV, one row per item, carried fields flattened.
    Csv,
    /// XML in the `urn:partnerfeed:feed:1` namespace.
    Xml,
    /// A partner-network profile (Google Merchant, BMEcat, GS1 GDSN, ...).
    Profile(ProfileId),
}

impl Format {
    /// Every built-in format.
    pub const ALL: [Format; 4] = [Format::Json, Format::Ndjson, Format::Csv, Format::Xml];

    /// Every profile format, in the order of `feeds/profiles/`.
    pub fn profiles() -> impl Iterator<Item = Format> {
        (0..profile::all().len())
            .filter_map(|i| u8::try_from(i).ok())
            .map(|i| Format::Profile(ProfileId(i)))
    }

    /// The format named by a `format=` query value (`json`, `ndjson`, `csv`, `xml`, or a
    /// profile name such as `google-tsv`).
    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .or_else(|| ProfileId::find(name).map(Format::Profile))
    }

    /// Every name [`Format::parse`] accepts, comma-separated, for error messages.
    pub fn names() -> String {
        Format::ALL
            .into_iter()
            .chain(Format::profiles())
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The profile, for a profile format.
    pub fn profile(&self) -> Option<&'static profile::Profile> {
        match self {
            Format::Profile(id) => Some(id.get()),
            _ => None,
        }
    }

    /// Whether change pages exist in this format (Google profiles are snapshots).
    pub fn has_changes(&self) -> bool {
        self.profile().is_none_or(|p| p.changes)
    }

    /// Whether a change page with no change is still a document. BMEcat's T_UPDATE_PRODUCTS
    /// and a GDSN CIN need at least one product: their empty pages are no document (the API
    /// answers 204).
    pub fn has_empty_change_page(&self) -> bool {
        self.profile().is_none_or(|p| {
            !matches!(
                p.renderer,
                profile::Renderer::Bmecat | profile::Renderer::GdsnCin
            )
        })
    }

    /// The name used in `format=` and in subscriptions.
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Xml => "xml",
            Format::Profile(id) => &id.get().name,
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(&self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xml => "application/xml",
            Format::Profile(id) => &id.get().content_type,
        }
    }

    /// The file extension (without dot) for attachments and downloads.
    pub fn extension(&self) -> &'static str {
        match self {
            Format::Profile(id) => &id.get().extension,
            _ => self.as_str(),
        }
    }

    /// What stops `record` from rendering validly in this format (nothing for the built-in
    /// formats). A product with an error is left out of the profile's documents.
    pub fn check(
        &self,
        sku: &str,
        record: &Map<String, Value>,
        publication: &Publication,
    ) -> Vec<Problem> {
        let text = record_text(record);
        match view::View::parse(&text) {
            Ok(record) => self.check_view(sku, &record, publication),
            // A map always writes an object.
            Err(_) => Vec::new(),
        }
    }

    /// [`Format::check`] of a record as compact JSON text, as the store keeps it; an error
    /// when the text is not a JSON object.
    pub fn check_json(
        &self,
        sku: &str,
        record: &str,
        publication: &Publication,
    ) -> io::Result<Vec<Problem>> {
        let record = view::View::parse(record).map_err(invalid_record)?;
        Ok(self.check_view(sku, &record, publication))
    }

    fn check_view(
        &self,
        sku: &str,
        record: &view::View<'_>,
        publication: &Publication,
    ) -> Vec<Problem> {
        let Some(p) = self.profile() else {
            return Vec::new();
        };
        let mut problems = profile::missing_settings(p, publication);
        match p.renderer {
            profile::Renderer::GoogleRss | profile::Renderer::Tabular => {
                problems.extend(google::values(sku, record, p, publication).1)
            }
            profile::Renderer::Bmecat => problems.extend(bmecat::check(sku, record, p)),
            profile::Renderer::GdsnCin => problems.extend(gdsn::check(record, p, publication)),
        }
        problems
    }
}

/// A record given as a map, as the compact JSON text the store would keep: every renderer
/// other than JSON reads records as text ([`view::View`]).
fn record_text(record: &Map<String, Value>) -> String {
    // Writing a map with string keys into a `String` cannot fail.
    serde_json::to_string(record).unwrap_or_else(|_| "{}".to_owned())
}

/// Runs `f` on a record given as a map, read as the renderers read stored records.
fn with_view<T>(
    record: &Map<String, Value>,
    f: impl FnOnce(&view::View<'_>) -> Result<T, FeedError>,
) -> Result<T, FeedError> {
    let text = record_text(record);
    f(&view::View::parse(&text).map_err(invalid_record)?)
}

pub use crate::delta::Field;

/// The carried fields named in `names`, deduplicated and in [`Field::ALL`] order (the order
/// of CSV columns and XML elements). `sku` is accepted and ignored (always carried); any other
/// unknown name is an error.
fn parse_fields(names: &[String]) -> Result<Vec<Field>, FeedError> {
    let mut fields = Vec::with_capacity(names.len());
    for name in names {
        if name == "sku" {
            continue;
        }
        let field = Field::parse(name).ok_or_else(|| FeedError::UnknownField(name.clone()))?;
        fields.push(field);
    }
    fields.sort();
    fields.dedup();
    Ok(fields)
}

/// One entry of a change page.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// The product's projection is (now) this record, with this hash.
    Upsert {
        sku: &'a str,
        hash: &'a str,
        record: &'a Map<String, Value>,
    },
    /// The product left the channel (deleted, or out of the assortment).
    Delete { sku: &'a str },
}

/// Which document is being written: it decides the envelope and whether entries carry `op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Doc {
    Feed,
    Changes,
}

/// The per-format encoder both writers drive.
enum Encoder<W: Write> {
    Json(json::JsonEncoder<W>),
    /// Boxed: the csv writer holds its own buffer state.
    Csv(Box<csv::CsvEncoder<W>>),
    Xml(xml::XmlEncoder<W>),
    /// A profile: its renderer, and what it knows of the channel.
    Profile(Box<ProfileEncoder<W>>),
}

/// The renderers of profiles.
enum ProfileRenderer<W: Write> {
    Rss(google::RssEncoder<W>),
    /// Boxed: the csv writer holds its own buffer state.
    Tabular(Box<google::TabularEncoder<W>>),
    Bmecat(bmecat::BmecatEncoder<W>),
    Gdsn(gdsn::GdsnEncoder<W>),
}

struct ProfileEncoder<W: Write> {
    format: Format,
    profile: &'static profile::Profile,
    publication: Publication,
    renderer: ProfileRenderer<W>,
}

impl<W: Write> ProfileEncoder<W> {
    /// A product that left the channel; `last` is the last record the channel published for
    /// it, when known (GDSN names the trade items it deletes by their GTINs).
    fn delete(&mut self, sku: &str, last: Option<&view::View<'_>>) -> Result<(), FeedError> {
        match &mut self.renderer {
            ProfileRenderer::Bmecat(e) => e.delete(sku),
            ProfileRenderer::Gdsn(e) => e.delete(last, &self.publication),
            // Snapshot formats have no change pages, hence no deletes.
            ProfileRenderer::Rss(_) | ProfileRenderer::Tabular(_) => Ok(()),
        }
    }

    /// Whether deletes need the last record (parsed only then).
    fn deletes_need_record(&self) -> bool {
        matches!(self.renderer, ProfileRenderer::Gdsn(_))
    }

    fn entry(&mut self, change: &Change<'_>) -> Result<(), FeedError> {
        match *change {
            Change::Upsert { sku, record, .. } => with_view(record, |r| self.upsert(sku, r)),
            Change::Delete { sku } => self.delete(sku, None),
        }
    }

    /// An upsert (a product of the full feed) from its stored record, read in place.
    fn upsert(&mut self, sku: &str, record: &view::View<'_>) -> Result<(), FeedError> {
        // Google's values and their problems come from one pass over the record; `None` when
        // the product cannot be rendered and is left out of the snapshot.
        let google = || {
            let (values, mut problems) =
                google::values(sku, record, self.profile, &self.publication);
            problems.extend(profile::missing_settings(self.profile, &self.publication));
            (!profile::excludes(&problems)).then_some(values)
        };
        let excluded =
            || profile::excludes(&self.format.check_view(sku, record, &self.publication));
        match &mut self.renderer {
            ProfileRenderer::Rss(e) => google().map_or(Ok(()), |values| e.item(&values)),
            ProfileRenderer::Tabular(e) => google().map_or(Ok(()), |values| e.row(&values)),
            // In a change page it leaves the partner's copy: a delete keeps both in step.
            ProfileRenderer::Bmecat(e) if excluded() => e.excluded(sku),
            ProfileRenderer::Bmecat(e) => e.product(sku, record, &self.publication),
            ProfileRenderer::Gdsn(e) => {
                let unrenderable =
                    !profile::missing_settings(self.profile, &self.publication).is_empty();
                e.upsert(record, &self.publication, unrenderable)
            }
        }
    }

    fn finish(self) -> Result<W, FeedError> {
        match self.renderer {
            ProfileRenderer::Rss(e) => e.finish(),
            ProfileRenderer::Tabular(e) => e.finish(),
            ProfileRenderer::Bmecat(e) => e.finish(),
            ProfileRenderer::Gdsn(e) => e.finish(),
        }
    }
}

impl<W: Write> Encoder<W> {
    fn begin(
        w: W,
        format: Format,
        doc: Doc,
        channel: &str,
        position: &str,
        fields: &[String],
        publication: &Publication,
    ) -> Result<Self, FeedError> {
        let fields = parse_fields(fields)?;
        Ok(match format {
            Format::Json => {
                Encoder::Json(json::JsonEncoder::begin(w, false, doc, channel, position)?)
            }
            Format::Ndjson => {
                Encoder::Json(json::JsonEncoder::begin(w, true, doc, channel, position)?)
            }
            Format::Csv => Encoder::Csv(Box::new(csv::CsvEncoder::begin(w, doc, fields)?)),
            Format::Xml => Encoder::Xml(xml::XmlEncoder::begin(w, doc, channel, position, fields)?),
            Format::Profile(id) => {
                let profile = id.get();
                if doc == Doc::Changes && !profile.changes {
                    return Err(FeedError::SnapshotOnly(&profile.name));
                }
                let renderer =
                    match profile.renderer {
                        profile::Renderer::GoogleRss => ProfileRenderer::Rss(
                            google::RssEncoder::begin(w, profile, channel, position, publication)?,
                        ),
                        profile::Renderer::Tabular => ProfileRenderer::Tabular(Box::new(
                            google::TabularEncoder::begin(w, profile)?,
                        )),
                        profile::Renderer::Bmecat => {
                            ProfileRenderer::Bmecat(bmecat::BmecatEncoder::begin(
                                w,
                                profile,
                                doc,
                                channel,
                                position,
                                publication,
                            )?)
                        }
                        profile::Renderer::GdsnCin => ProfileRenderer::Gdsn(
                            gdsn::GdsnEncoder::begin(w, profile, doc, channel, publication)?,
                        ),
                    };
                Encoder::Profile(Box::new(ProfileEncoder {
                    format,
                    profile,
                    publication: publication.clone(),
                    renderer,
                }))
            }
        })
    }

    fn entry(&mut self, change: &Change<'_>) -> Result<(), FeedError> {
        match self {
            Encoder::Json(e) => e.entry(change),
            Encoder::Csv(e) => e.entry(change),
            Encoder::Xml(e) => e.entry(change),
            Encoder::Profile(e) => e.entry(change),
        }
    }

    /// An upsert whose record is compact JSON text: JSON and NDJSON copy it as it is, the other
    /// formats parse it.
    fn upsert_json(&mut self, sku: &str, hash: &str, record: &str) -> Result<(), FeedError> {
        match self {
            Encoder::Json(e) => e.upsert_raw(sku, hash, record),
            // The other formats read the record in place.
            Encoder::Xml(e) => e.upsert(
                sku,
                hash,
                &view::View::parse(record).map_err(invalid_record)?,
            ),
            Encoder::Csv(e) => e.upsert(
                sku,
                hash,
                &view::View::parse(record).map_err(invalid_record)?,
            ),
            Encoder::Profile(e) => {
                e.upsert(sku, &view::View::parse(record).map_err(invalid_record)?)
            }
        }
    }

    /// A delete with the last record the channel published for the product, as compact JSON
    /// text when the store still has it. Only formats that name deleted items by their content
    /// (GDSN: by GTIN) read it.
    fn delete_json(&mut self, sku: &str, last: Option<&str>) -> Result<(), FeedError> {
        match self {
            Encoder::Profile(e) if e.deletes_need_record() => {
                let last = last
                    .map(view::View::parse)
                    .transpose()
                    .map_err(invalid_record)?;
                e.delete(sku, last.as_ref())
            }
            _ => self.entry(&Change::Delete { sku }),
        }
    }

    fn finish(self, tail: Option<(&str, bool)>) -> Result<W, FeedError> {
        match self {
            Encoder::Json(e) => e.finish(tail),
            Encoder::Csv(e) => e.finish(),
            Encoder::Xml(e) => e.finish(tail),
            Encoder::Profile(e) => e.finish(),
        }
    }
}

/// A stored record that is not the JSON object it should be.
fn invalid_record(e: serde_json::Error) -> FeedError {
    FeedError::Io(io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Streams a channel's full feed: `begin`, one `product` per record (in sku order, as the store
/// reads them), then `finish`. Nothing is buffered beyond the current item.
pub struct FeedWriter<W: Write> {
    enc: Encoder<W>,
}

impl<W: Write> FeedWriter<W> {
    /// Writes the feed's envelope for `channel`, consistent with `cursor`. `fields` are the
    /// channel's carried fields (they choose the CSV columns and the XML elements).
    pub fn begin(
        w: W,
        format: Format,
        channel: &str,
        cursor: &str,
        fields: &[String],
    ) -> io::Result<Self> {
        Self::begin_with(w, format, channel, cursor, fields, &Publication::bare())
    }

    /// [`FeedWriter::begin`] with what profiles need to know of the channel (its settings,
    /// locale, seq); the built-in formats ignore it.
    pub fn begin_with(
        w: W,
        format: Format,
        channel: &str,
        cursor: &str,
        fields: &[String],
        publication: &Publication,
    ) -> io::Result<Self> {
        let enc = Encoder::begin(w, format, Doc::Feed, channel, cursor, fields, publication)?;
        Ok(FeedWriter { enc })
    }

    /// Writes one product.
    pub fn product(
        &mut self,
        sku: &str,
        hash: &str,
        record: &Map<String, Value>,
    ) -> io::Result<()> {
        Ok(self.enc.entry(&Change::Upsert { sku, hash, record })?)
    }

    /// Writes one product whose record is compact JSON text, as the store keeps it: JSON and
    /// NDJSON copy it without parsing.
    pub fn product_json(&mut self, sku: &str, hash: &str, record: &str) -> io::Result<()> {
        Ok(self.enc.upsert_json(sku, hash, record)?)
    }

    /// Closes the document, flushes, and hands the writer back.
    pub fn finish(self) -> io::Result<W> {
        Ok(self.enc.finish(None)?)
    }
}

/// Streams one page of changes since a cursor: `begin`, one `change` per entry in sequence
/// order, then `finish` with the cursor of the next page.
pub struct ChangesWriter<W: Write> {
    enc: Encoder<W>,
}

impl<W: Write> ChangesWriter<W> {
    /// Writes the page's envelope for `channel`, starting after `since`.
    pub fn begin(
        w: W,
        format: Format,
        channel: &str,
        since: &str,
        fields: &[String],
    ) -> io::Result<Self> {
        Self::begin_with(w, format, channel, since, fields, &Publication::bare())
    }

    /// [`ChangesWriter::begin`] with what profiles need to know of the channel. A profile
    /// without change pages (Google) is an `Unsupported` error.
    pub fn begin_with(
        w: W,
        format: Format,
        channel: &str,
        since: &str,
        fields: &[String],
        publication: &Publication,
    ) -> io::Result<Self> {
        let enc = Encoder::begin(w, format, Doc::Changes, channel, since, fields, publication)?;
        Ok(ChangesWriter { enc })
    }

    /// Writes one change.
    pub fn change(&mut self, change: Change<'_>) -> io::Result<()> {
        Ok(self.enc.entry(&change)?)
    }

    /// Writes one upsert whose record is compact JSON text (see [`FeedWriter::product_json`]).
    pub fn upsert_json(&mut self, sku: &str, hash: &str, record: &str) -> io::Result<()> {
        Ok(self.enc.upsert_json(sku, hash, record)?)
    }

    /// Writes one delete; `last` is the last record the channel published for the product
    /// (compact JSON text), when the store kept it: GDSN names what it deletes by its GTINs.
    pub fn delete_json(&mut self, sku: &str, last: Option<&str>) -> io::Result<()> {
        Ok(self.enc.delete_json(sku, last)?)
    }

    /// Closes the page. JSON and XML carry `next` and `has_more` at the end of the document;
    /// NDJSON and CSV carry them only in the `Changes-Next` / `Changes-Has-More` headers.
    pub fn finish(self, next: &str, has_more: bool) -> io::Result<W> {
        Ok(self.enc.finish(Some((next, has_more)))?)
    }
}
