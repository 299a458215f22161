//! What a channel publishes, read from the store in one snapshot and rendered to any `Write`:
//! the full feed, a page of changes since a cursor, and the digest. The HTTP pull endpoints and
//! `partnerfeed export` both use it.

use std::io::Write;

use serde_json::Value;

use crate::delta::{self, ChannelDef, ChannelDigest, Cursor};
use crate::feeds::{ChangesWriter, FeedWriter, Format, Problem, Publication};
use crate::store::channel_records::{self, LivePage, LiveRow};
use crate::store::channels::{self, ChannelRow};
use crate::store::{DbConnection, StoreError};

/// Rows read per query while rendering.
const PAGE: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("no channel with this code")]
    NoChannel,
    #[error(
        "this cursor is malformed: pass a cursor exactly as received from a feed or a changes page"
    )]
    MalformedCursor,
    #[error("this cursor is ahead of the channel")]
    FutureCursor,
    #[error("{0}")]
    Gone(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the document: {0}")]
    Write(#[from] std::io::Error),
}

const GONE_OTHER_EPOCH: &str = "this cursor belongs to another channel or to an earlier \
    incarnation of this one; resync from the full feed and follow its cursor";
const GONE_PURGED: &str = "this cursor is older than the deletions kept for this channel; \
    resync from the full feed and follow its cursor";

/// When a document is made (RFC 3339, UTC, whole seconds), for formats whose headers carry it
/// (GDSN's creation and last-change date-times).
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The parsed definition of a stored channel.
pub fn definition(row: &ChannelRow) -> Result<ChannelDef, StoreError> {
    let value: Value = serde_json::from_str(&row.definition)
        .map_err(|e| StoreError::Corrupt(format!("channel {}: {e}", row.code)))?;
    delta::parse_channel(&value).map_err(|e| {
        StoreError::Corrupt(format!(
            "channel {} no longer validates: {:?}",
            row.code, e.errors
        ))
    })
}

/// The top-level fields a channel carries, as the renderers name them.
pub fn carried_fields(def: &ChannelDef) -> Vec<String> {
    match &def.fields {
        Some(fields) => fields.iter().map(|f| f.as_str().to_string()).collect(),
        None => delta::Field::ALL
            .iter()
            .map(|f| f.as_str().to_string())
            .collect(),
    }
}

/// The cursor naming position `seq` of `channel`.
pub fn cursor(channel: &ChannelRow, seq: i64, key: &[u8]) -> String {
    Cursor {
        channel_id: channel.id,
        epoch: channel.id,
        seq,
    }
    .encode(key)
}

/// Resolves `since` (absent or empty: the beginning) to the seq to read after.
pub fn since_seq(since: Option<&str>, channel: &ChannelRow, key: &[u8]) -> Result<i64, PullError> {
    let Some(since) = since.filter(|s| !s.is_empty()) else {
        return Ok(0);
    };
    let cursor = Cursor::decode(since, key).map_err(|_| PullError::MalformedCursor)?;
    if cursor.channel_id != channel.id || cursor.epoch != channel.id {
        return Err(PullError::Gone(GONE_OTHER_EPOCH));
    }
    if cursor.seq < channel.purged_seq {
        return Err(PullError::Gone(GONE_PURGED));
    }
    if cursor.seq > channel.last_seq {
        return Err(PullError::FutureCursor);
    }
    Ok(cursor.seq)
}

fn reread(conn: &mut DbConnection, channel_id: i64) -> Result<ChannelRow, PullError> {
    channels::get_by_id(conn, channel_id)?.ok_or(PullError::NoChannel)
}

/// Walks the live records in SKU order, a page at a time. From the second page on, the pages
/// are read on a thread of their own, one page ahead of `f`: a first download then reads the
/// store and renders (and sends) on two cores instead of one after the other. The reading
/// thread uses `conn` (and its snapshot) alone until the walk ends.
fn for_each_live(
    conn: &mut DbConnection,
    channel_id: i64,
    mut f: impl FnMut(LiveRow<'_>) -> Result<(), PullError>,
) -> Result<(), PullError> {
    let first = channel_records::live_page(conn, channel_id, "", PAGE)?;
    let Some(after) = first.last().filter(|_| first.len() as i64 == PAGE) else {
        return first.iter().try_for_each(f);
    };
    let mut after = after.sku.to_string();
    // Pages read ahead at most: one being rendered, one waiting.
    let (pages, read) = std::sync::mpsc::sync_channel::<LivePage>(1);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> Result<(), PullError> {
            loop {
                let rows = channel_records::live_page(conn, channel_id, &after, PAGE)?;
                let more = rows.len() as i64 == PAGE;
                if let Some(last) = rows.last().filter(|_| more) {
                    after = last.sku.to_string();
                }
                // The walk stopped (an error, a client gone): nothing more to read.
                if pages.send(rows).is_err() || !more {
                    return Ok(());
                }
            }
        });
        let rendered = std::iter::once(first)
            .chain(read.iter())
            .try_for_each(|page| page.iter().try_for_each(&mut f));
        // Stops the reader if rendering failed first.
        drop(read);
        let reading = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        rendered.and(reading)
    })
}

/// Renders the full feed. Call inside a snapshot: `head` receives the channel and the cursor
/// the feed is consistent with before the first byte is written.
pub fn write_feed<W: Write>(
    conn: &mut DbConnection,
    channel_id: i64,
    format: Format,
    key: &[u8],
    head: impl FnOnce(&ChannelRow, &str),
    w: W,
    mut progress: impl FnMut(u64),
) -> Result<W, PullError> {
    let channel = reread(conn, channel_id)?;
    let def = definition(&channel)?;
    let cursor = cursor(&channel, channel.last_seq, key);
    head(&channel, &cursor);
    let publication = Publication::of(&def, channel.last_seq, channel.last_seq, &now());
    let mut feed = FeedWriter::begin_with(
        w,
        format,
        &channel.code,
        &cursor,
        &carried_fields(&def),
        &publication,
    )?;
    let mut written = 0;
    for_each_live(conn, channel.id, |row| {
        feed.product_json(row.sku, row.hash, row.record)?;
        written += 1;
        if written % PAGE as u64 == 0 {
            progress(written);
        }
        Ok(())
    })?;
    progress(written);
    Ok(feed.finish()?)
}

/// Where a page of changes starts and ends.
#[derive(Debug, Clone)]
pub struct PageHead {
    pub since: String,
    pub next: String,
    pub has_more: bool,
    /// No change in the page. Formats that have no empty update document (BMEcat) write
    /// nothing then; the API answers 204.
    pub empty: bool,
}

/// Renders the changes after `since`, at most `limit` (all of them when `None`). Call inside a
/// snapshot: `head` receives the page's bounds before the first byte is written.
#[allow(clippy::too_many_arguments)]
pub fn write_changes<W: Write>(
    conn: &mut DbConnection,
    channel_id: i64,
    since: Option<&str>,
    limit: Option<i64>,
    format: Format,
    key: &[u8],
    head: impl FnOnce(&ChannelRow, &PageHead),
    w: W,
) -> Result<W, PullError> {
    let channel = reread(conn, channel_id)?;
    let from = since_seq(since, &channel, key)?;
    let def = definition(&channel)?;
    let (until, has_more) = match limit {
        Some(limit) => {
            let seqs = channel_records::page_seqs(conn, channel.id, from, limit)?;
            let until = seqs
                .get(limit as usize - 1)
                .or(seqs.last())
                .copied()
                .unwrap_or(from);
            (until, seqs.len() as i64 > limit)
        }
        None => (channel.last_seq, false),
    };
    let page = PageHead {
        since: cursor(&channel, from, key),
        next: cursor(&channel, until, key),
        has_more,
        empty: until <= from,
    };
    head(&channel, &page);
    let publication = Publication::of(&def, from, until, &now());
    let mut out = ChangesWriter::begin_with(
        w,
        format,
        &channel.code,
        &page.since,
        &carried_fields(&def),
        &publication,
    )?;
    let mut after = from;
    while after < until {
        let rows = channel_records::changes_until(conn, channel.id, after, until, PAGE)?;
        for row in &rows {
            match &row.hash {
                Some(hash) => {
                    out.upsert_json(&row.sku, hash, row.record.as_deref().unwrap_or("{}"))?
                }
                None => out.delete_json(&row.sku, row.record.as_deref())?,
            }
        }
        match rows.last() {
            Some(last) => after = last.seq,
            None => break,
        }
    }
    Ok(out.finish(&page.next, page.has_more)?)
}

/// The channel digest and the cursor it is consistent with. Call inside a snapshot. The
/// background snapshot (`jobs::snapshots`) is served when it is of the channel's current seq
/// (the live records are then exactly those it walked); otherwise the live records are walked.
pub fn digest(
    conn: &mut DbConnection,
    channel_id: i64,
    key: &[u8],
) -> Result<(String, u64, String), PullError> {
    let channel = reread(conn, channel_id)?;
    if let Some(s) = crate::store::snapshots::get(conn, channel.id)? {
        if s.seq == channel.last_seq {
            let count = u64::try_from(s.live).unwrap_or_default();
            return Ok((cursor(&channel, s.seq, key), count, s.digest));
        }
    }
    let mut digest = ChannelDigest::new();
    for_each_live(conn, channel.id, |row| {
        digest.push(row.sku, row.hash);
        Ok(())
    })?;
    let count = digest.count();
    Ok((
        cursor(&channel, channel.last_seq, key),
        count,
        digest.finish(),
    ))
}

/// One product that cannot be rendered validly in a profile, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportEntry {
    pub sku: String,
    /// Whether the product is left out of the profile's documents (it has an error).
    pub excluded: bool,
    pub problems: Vec<Problem>,
}

/// A product's live record in a channel (if any) and each profile's problems with it.
pub type ProductReport = (Option<String>, Vec<(Format, Vec<Problem>)>);

/// The product's live record in the channel (hash, record), None for a tombstone or when the
/// channel never published it.
fn live_record(
    conn: &mut DbConnection,
    channel_id: i64,
    sku: &str,
) -> Result<Option<(String, String)>, PullError> {
    Ok(channel_records::get_many(conn, channel_id, &[sku])?
        .into_iter()
        .find(|r| r.deleted_at.is_none())
        .and_then(|r| r.hash.zip(r.record)))
}

/// What one channel publishes for one product: its live record (None when the product is not
/// in the channel's assortment, or gone) and, for every profile format, the problems the feed
/// report would list for it (an error leaves it out of that profile's documents). The same
/// check as [`feed_report`], for one record. Call inside a snapshot.
pub fn product_report(
    conn: &mut DbConnection,
    channel_id: i64,
    sku: &str,
) -> Result<ProductReport, PullError> {
    let channel = reread(conn, channel_id)?;
    let def = definition(&channel)?;
    let publication = Publication::of(&def, channel.last_seq, channel.last_seq, "");
    let Some((_, record)) = live_record(conn, channel.id, sku)? else {
        return Ok((None, Vec::new()));
    };
    let parsed: serde_json::Map<String, Value> = serde_json::from_str(&record)
        .map_err(|e| StoreError::Corrupt(format!("record {sku}: {e}")))?;
    let checks = Format::profiles()
        .map(|format| (format, format.check(sku, &parsed, &publication)))
        .collect();
    Ok((Some(record), checks))
}

/// One product as one channel's feed in one format carries it.
pub struct ProductDocument {
    /// The channel's full feed in the format holding this product alone, rendered as the full
    /// feed renders it (the same envelope, cursor, settings and item). A profile that leaves
    /// the product out renders its feed without it, which for some profiles (GS1 GDSN: a
    /// message needs a transaction) is no document at all: empty.
    pub document: Vec<u8>,
    /// What the feed report lists for the product in this format (nothing for the built-in
    /// formats); an error leaves it out.
    pub problems: Vec<Problem>,
}

/// The product as the channel's feed in `format` carries it; None when the product is not live
/// in the channel. Call inside a snapshot.
pub fn product_document(
    conn: &mut DbConnection,
    channel_id: i64,
    sku: &str,
    format: Format,
    key: &[u8],
) -> Result<Option<ProductDocument>, PullError> {
    let channel = reread(conn, channel_id)?;
    let def = definition(&channel)?;
    let Some((hash, record)) = live_record(conn, channel.id, sku)? else {
        return Ok(None);
    };
    let publication = Publication::of(&def, channel.last_seq, channel.last_seq, &now());
    let mut feed = FeedWriter::begin_with(
        Vec::new(),
        format,
        &channel.code,
        &cursor(&channel, channel.last_seq, key),
        &carried_fields(&def),
        &publication,
    )?;
    feed.product_json(sku, &hash, &record)?;
    Ok(Some(ProductDocument {
        document: feed.finish()?,
        problems: format.check_json(sku, &record, &publication)?,
    }))
}

/// Every live product of the channel with a problem in `format`, in SKU order, and the number
/// of live products checked, with the cursor the report is consistent with. Call inside a
/// snapshot.
pub fn feed_report(
    conn: &mut DbConnection,
    channel_id: i64,
    format: Format,
    key: &[u8],
) -> Result<(String, u64, Vec<ReportEntry>), PullError> {
    let channel = reread(conn, channel_id)?;
    let def = definition(&channel)?;
    let publication = Publication::of(&def, channel.last_seq, channel.last_seq, "");
    let mut checked = 0;
    let mut entries = Vec::new();
    for_each_live(conn, channel.id, |row| {
        checked += 1;
        let record: serde_json::Map<String, Value> = serde_json::from_str(row.record)
            .map_err(|e| StoreError::Corrupt(format!("record {}: {e}", row.sku)))?;
        let problems = format.check(row.sku, &record, &publication);
        if !problems.is_empty() {
            entries.push(ReportEntry {
                sku: row.sku.to_string(),
                excluded: crate::feeds::profile::excludes(&problems),
                problems,
            });
        }
        Ok(())
    })?;
    Ok((cursor(&channel, channel.last_seq, key), checked, entries))
}
