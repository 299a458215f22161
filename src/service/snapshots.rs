//! The figures of a channel that need a walk over its live records (live count, digest,
//! readiness per profile), as the console shows them without ever waiting for a walk of a
//! large channel: a channel of at most [`INLINE`] live records is walked at request time
//! (exact, bounded cost); a larger one shows the snapshot `jobs::snapshots` computed in the
//! background, with the seq it is consistent with and when it was computed.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::pull::{self, PullError};
use crate::delta::ChannelDigest;
use crate::feeds::{profile, Format, Publication};
use crate::store::channel_records;
use crate::store::channels::{self, ChannelRow};
use crate::store::{snapshots, DbConnection, StoreError};

/// Live records a page may walk itself: above this, it shows the background snapshot.
pub const INLINE: u64 = 1000;
/// Products listed per reason of a readiness report (the count covers them all).
pub const LISTED: usize = 50;
/// Rows read per query of a walk.
const PAGE: i64 = 1000;

/// One reason a profile leaves products out (an error) or publishes them with a warning.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reason {
    pub error: bool,
    pub field: String,
    pub message: String,
    /// Products with this problem.
    pub count: u64,
    /// The first [`LISTED`] of them, in SKU order.
    pub skus: Vec<String>,
}

/// A profile's readiness: the feed report, grouped by reason.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Readiness {
    /// Live products checked.
    pub checked: u64,
    /// Products left out of the profile's documents.
    pub excluded: u64,
    /// Products published with warnings only.
    pub warned: u64,
    /// Errors first, then warnings; by field and message.
    pub reasons: Vec<Reason>,
}

/// What one walk over a channel's live records found.
#[derive(Debug, Clone)]
pub struct Walk {
    pub seq: i64,
    pub definition_hash: String,
    pub live: u64,
    pub digest: String,
    /// Per profile name.
    pub readiness: BTreeMap<String, Readiness>,
}

/// Reasons being gathered: (warning?, field, message) -> (count, first SKUs).
type Gathered = BTreeMap<(bool, String, String), (u64, Vec<String>)>;

/// Walks the live records of `channel` (read in the caller's snapshot) in SKU order: the
/// digest, the count, and the readiness of each of `profiles`. With `limit`, gives up (None)
/// as soon as the channel has more live records than that.
pub fn walk(
    conn: &mut DbConnection,
    channel: &ChannelRow,
    profiles: &[Format],
    limit: Option<u64>,
) -> Result<Option<Walk>, PullError> {
    let def = pull::definition(channel)?;
    let publication = Publication::of(&def, channel.last_seq, channel.last_seq, "");
    let mut digest = ChannelDigest::new();
    let mut gathered: Vec<(Readiness, Gathered)> = profiles
        .iter()
        .map(|_| (Readiness::default(), Gathered::new()))
        .collect();
    let mut after = String::new();
    loop {
        let rows = channel_records::live_page(conn, channel.id, &after, PAGE)?;
        for row in rows.iter() {
            digest.push(row.sku, row.hash);
            if limit.is_some_and(|l| digest.count() > l) {
                return Ok(None);
            }
            if profiles.is_empty() {
                continue;
            }
            let record: serde_json::Map<String, Value> = serde_json::from_str(row.record)
                .map_err(|e| StoreError::Corrupt(format!("record {}: {e}", row.sku)))?;
            for (format, (readiness, reasons)) in profiles.iter().zip(&mut gathered) {
                readiness.checked += 1;
                let problems = format.check(row.sku, &record, &publication);
                if problems.is_empty() {
                    continue;
                }
                if profile::excludes(&problems) {
                    readiness.excluded += 1;
                } else {
                    readiness.warned += 1;
                }
                for p in problems {
                    let warning = p.severity != profile::Severity::Error;
                    let (count, skus) = reasons.entry((warning, p.field, p.message)).or_default();
                    *count += 1;
                    if skus.len() < LISTED && skus.last().map(String::as_str) != Some(row.sku) {
                        skus.push(row.sku.to_string());
                    }
                }
            }
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == PAGE => after = last.sku.to_string(),
            _ => break,
        }
    }
    let readiness = profiles
        .iter()
        .zip(gathered)
        .map(|(format, (mut readiness, reasons))| {
            readiness.reasons = reasons
                .into_iter()
                .map(|((warning, field, message), (count, skus))| Reason {
                    error: !warning,
                    field,
                    message,
                    count,
                    skus,
                })
                .collect();
            (format.as_str().to_string(), readiness)
        })
        .collect();
    Ok(Some(Walk {
        seq: channel.last_seq,
        definition_hash: channel.definition_hash.clone(),
        live: digest.count(),
        digest: digest.finish(),
        readiness,
    }))
}

/// The whole walk of channel `channel_id` for its snapshot: every profile. Call inside a
/// snapshot (the figures are then consistent with the seq they carry).
pub fn compute(conn: &mut DbConnection, channel_id: i64) -> Result<Walk, PullError> {
    let channel = channels::get_by_id(conn, channel_id)?.ok_or(PullError::NoChannel)?;
    let profiles: Vec<Format> = Format::profiles().collect();
    walk(conn, &channel, &profiles, None)?.ok_or(PullError::NoChannel)
}

/// How fresh the figures shown are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Walked for this request: exact at the channel's current seq.
    Live,
    /// The background snapshot, and the channel has not changed since.
    Current { computed_at: NaiveDateTime },
    /// The background snapshot of an earlier seq: the channel has changed since (a newer one
    /// is on its way).
    Behind { computed_at: NaiveDateTime },
}

/// A channel's count and digest, with the cursor they are consistent with.
#[derive(Debug, Clone)]
pub struct DigestFigures {
    pub seq: i64,
    /// The channel's current seq (`seq` is behind it when `freshness` is `Behind`).
    pub last_seq: i64,
    pub live: u64,
    pub digest: String,
    pub cursor: String,
    pub freshness: Freshness,
}

/// A profile's readiness with the seq it is consistent with.
#[derive(Debug, Clone)]
pub struct ReadinessFigures {
    pub seq: i64,
    pub last_seq: i64,
    pub readiness: Readiness,
    pub freshness: Freshness,
}

/// The stored snapshot of `channel`, and whether it is current (same seq and definition).
fn stored(
    conn: &mut DbConnection,
    channel: &ChannelRow,
) -> Result<Option<(snapshots::SnapshotRow, bool)>, StoreError> {
    Ok(snapshots::get(conn, channel.id)?.map(|s| {
        let current = s.seq == channel.last_seq && s.definition_hash == channel.definition_hash;
        (s, current)
    }))
}

/// Whether a page may walk the channel itself: no snapshot says it is larger than [`INLINE`].
fn small(snapshot: &Option<(snapshots::SnapshotRow, bool)>) -> bool {
    snapshot
        .as_ref()
        .is_none_or(|(s, _)| u64::try_from(s.live).unwrap_or(u64::MAX) <= INLINE)
}

fn freshness(s: &snapshots::SnapshotRow, current: bool) -> Freshness {
    let computed_at = s.computed_at.unwrap_or_default();
    if current {
        Freshness::Current { computed_at }
    } else {
        Freshness::Behind { computed_at }
    }
}

/// The live count and digest of channel `channel_id` as a page shows them: never a walk of
/// more than [`INLINE`] records. None when the channel is large and no snapshot exists yet.
/// Call inside a snapshot.
pub fn digest_figures(
    conn: &mut DbConnection,
    channel_id: i64,
    key: &[u8],
) -> Result<Option<DigestFigures>, PullError> {
    let channel = channels::get_by_id(conn, channel_id)?.ok_or(PullError::NoChannel)?;
    let snapshot = stored(conn, &channel)?;
    let figures = |seq: i64, live: u64, digest: String, freshness| DigestFigures {
        seq,
        last_seq: channel.last_seq,
        live,
        digest,
        cursor: pull::cursor(&channel, seq, key),
        freshness,
    };
    if let Some((s, true)) = &snapshot {
        let fresh = freshness(s, true);
        return Ok(Some(figures(s.seq, s.live as u64, s.digest.clone(), fresh)));
    }
    if small(&snapshot) {
        if let Some(w) = walk(conn, &channel, &[], Some(INLINE))? {
            return Ok(Some(figures(w.seq, w.live, w.digest, Freshness::Live)));
        }
    }
    Ok(snapshot.map(|(s, current)| {
        let fresh = freshness(&s, current);
        figures(s.seq, s.live as u64, s.digest, fresh)
    }))
}

/// The readiness of channel `channel_id` in profile `format` as a page shows it, under the
/// same rule as [`digest_figures`]. Call inside a snapshot.
pub fn readiness_figures(
    conn: &mut DbConnection,
    channel_id: i64,
    format: Format,
) -> Result<Option<ReadinessFigures>, PullError> {
    let channel = channels::get_by_id(conn, channel_id)?.ok_or(PullError::NoChannel)?;
    let snapshot = stored(conn, &channel)?;
    let from_snapshot = |s: &snapshots::SnapshotRow, current: bool| {
        let mut all: BTreeMap<String, Readiness> =
            serde_json::from_str(&s.readiness).map_err(|e| {
                StoreError::Corrupt(format!("snapshot of channel {}: {e}", s.channel_id))
            })?;
        Ok::<_, StoreError>(
            all.remove(format.as_str())
                .map(|readiness| ReadinessFigures {
                    seq: s.seq,
                    last_seq: channel.last_seq,
                    readiness,
                    freshness: freshness(s, current),
                }),
        )
    };
    if let Some((s, true)) = &snapshot {
        if let Some(f) = from_snapshot(s, true)? {
            return Ok(Some(f));
        }
    }
    if small(&snapshot) {
        if let Some(mut w) = walk(conn, &channel, &[format], Some(INLINE))? {
            return Ok(Some(ReadinessFigures {
                seq: w.seq,
                last_seq: channel.last_seq,
                readiness: w.readiness.remove(format.as_str()).unwrap_or_default(),
                freshness: Freshness::Live,
            }));
        }
    }
    match &snapshot {
        Some((s, current)) => Ok(from_snapshot(s, *current)?),
        None => Ok(None),
    }
}

/// The catalog's size, as kept by the edit path.
pub fn catalog_size(conn: &mut DbConnection) -> Result<i64, StoreError> {
    snapshots::catalog_size(conn)
}
