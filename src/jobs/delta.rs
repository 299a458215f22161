//! The delta generator: the one writer of channel sequence numbers.
//!
//! Each step, in its own transaction:
//! - price windows: products whose projection changes by itself now get an outbox event;
//! - outbox: claims catalog events (the interactive lane first, then the bulk lane of large
//!   batches and imports; fewer at once the more channels there are, so that a step stays
//!   short), locks every channel (in id order), re-projects each changed product for each
//!   channel and gives a new seq only where the record's hash changed or the product entered or
//!   left the assortment; the events are deleted in the same transaction;
//! - re-evaluation: after a channel definition changes, walks the catalog by SKU in pages;
//! - retention: purges tombstones older than the retention and remembers the highest purged seq.
//!
//! Because sequence numbers are assigned while the channel rows are locked, and committed with
//! that lock held, they become visible in seq order: a reader never skips one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Notify;

use crate::catalog::{self, Product};
use crate::clock::Clock;
use crate::delta::{self, ChannelDef};
use crate::jcs;
use crate::service::pull;
use crate::store::channel_records::{self, NewRecord, RecordRow};
use crate::store::channels::{self, ChannelRow};
use crate::store::outbox::{self, NewOutboxEvent};
use crate::store::products::{self, ProductRow};
use crate::store::{self, Db, DbConnection, StoreError, StoreResult};

/// Products of a re-evaluation page (one channel) handled per transaction, and the most
/// outbox events claimed at once.
const BATCH: i64 = 500;
/// (channel, product) pairs an outbox step projects at most: with many channels a step takes
/// fewer events, so that it ends (and the interactive lane is served again) within about a
/// quarter of a second however many channels there are.
const PAIRS_PER_STEP: i64 = 5_000;

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long tombstones are kept before cursors that precede them get 410.
    pub tombstone_retention: chrono::Duration,
    /// Longest sleep between steps when nothing wakes the generator (other instances' edits
    /// and CLI imports are seen by this poll).
    pub poll: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tombstone_retention: chrono::Duration::days(30),
            poll: Duration::from_millis(250),
        }
    }
}

/// What one step did; zero everywhere means there was nothing to do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    pub events: usize,
    pub evaluated: usize,
    pub changes: usize,
}

impl Work {
    pub fn is_idle(&self) -> bool {
        self.events == 0 && self.evaluated == 0
    }
}

/// One step of every kind of work; each part commits on its own.
pub fn run_once(db: &Db, now: DateTime<Utc>) -> StoreResult<Work> {
    let mut conn = db.write_conn()?;
    let mut work = Work::default();
    // Products and the outbox only: nothing the in-memory views trust.
    store::transaction_counted_if(&mut conn, |c| enqueue_due_prices(c, now), |_| false)?;
    // A step moves a channel's last seq only when it publishes a change.
    let (events, changes) = store::transaction_counted_if(
        &mut conn,
        |c| apply_outbox(c, now),
        |(_, changes)| *changes > 0,
    )?;
    work.events += events;
    work.changes += changes;
    // Channels being re-evaluated, grouped by where they are in the catalog (in id order, the
    // order locks are taken in).
    let mut groups: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for channel in channels::list(&mut conn, None)? {
        if let Some(after) = channel.reeval_after {
            groups.entry(after).or_default().push(channel.id);
        }
    }
    for mut ids in groups.into_values() {
        ids.sort_unstable();
        let (evaluated, changes) = store::transaction_counted_if(
            &mut conn,
            |c| reevaluate_page(c, &ids, now),
            |(_, changes)| *changes > 0,
        )?;
        work.evaluated += evaluated;
        work.changes += changes;
    }
    Ok(work)
}

/// Purges the tombstones older than the retention (the loop does it once a minute).
pub fn purge_expired(db: &Db, settings: &Settings, now: DateTime<Utc>) -> StoreResult<()> {
    let mut conn = db.write_conn()?;
    store::transaction(&mut conn, |c| purge(c, now - settings.tombstone_retention))
}

/// Runs steps until there is nothing left to do.
pub fn drain(db: &Db, now: DateTime<Utc>) -> StoreResult<Work> {
    let mut total = Work::default();
    loop {
        let work = run_once(db, now)?;
        total.events += work.events;
        total.evaluated += work.evaluated;
        total.changes += work.changes;
        if work.is_idle() {
            return Ok(total);
        }
    }
}

/// The background loop: wakes on `wake` (an edit committed here) or after `settings.poll`,
/// and notifies `published` whenever a channel got new changes (the webhook deliveries wait
/// on it).
pub async fn run(
    db: Db,
    clock: Arc<dyn Clock>,
    settings: Settings,
    wake: Arc<Notify>,
    published: Arc<Notify>,
) {
    const PURGE_EVERY: Duration = Duration::from_secs(60);
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        let purge_due = last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY);
        if purge_due {
            last_purge = Some(std::time::Instant::now());
        }
        let step = {
            let (db, settings, now) = (db.clone(), settings.clone(), clock.now());
            tokio::task::spawn_blocking(move || {
                if purge_due {
                    purge_expired(&db, &settings, now)?;
                }
                drain(&db, now)
            })
            .await
        };
        match step {
            Ok(Ok(work)) if work.changes > 0 => {
                published.notify_one();
                tracing::debug!(
                    events = work.events,
                    changes = work.changes,
                    "deltas generated"
                )
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "delta generation failed; retrying"),
            Err(e) => tracing::error!(error = %e, "delta generation panicked; retrying"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(settings.poll) => {}
        }
    }
}

/// Products whose price window opened or closed get an outbox event, and their next instant.
fn enqueue_due_prices(conn: &mut DbConnection, now: DateTime<Utc>) -> StoreResult<usize> {
    let due = products::due(conn, now.naive_utc(), BATCH)?;
    for row in &due {
        let product = parse_product(row)?;
        let next = product.next_change_after(now).map(|t| t.naive_utc());
        products::set_next_change(conn, &row.sku, next)?;
        outbox::insert(
            conn,
            &[NewOutboxEvent {
                sku: &row.sku,
                hash: Some(&row.hash),
                by_name: "clock",
                at: now.naive_utc(),
                bulk: false,
            }],
        )?;
    }
    Ok(due.len())
}

fn parse_product(row: &ProductRow) -> StoreResult<Product> {
    let value: Value = serde_json::from_str(&row.body)
        .map_err(|e| StoreError::Corrupt(format!("product {}: {e}", row.sku)))?;
    catalog::parse_product(&value, None).map_err(|e| {
        StoreError::Corrupt(format!(
            "product {} no longer validates: {:?}",
            row.sku, e.errors
        ))
    })
}

/// Events an outbox step claims with `channels` channels.
fn events_per_step(channels: usize) -> i64 {
    (PAIRS_PER_STEP / channels.max(1) as i64).clamp(1, BATCH)
}

/// Applies one batch of outbox events to every channel.
fn apply_outbox(conn: &mut DbConnection, now: DateTime<Utc>) -> StoreResult<(usize, usize)> {
    let limit = events_per_step(channels::count(conn)?);
    let events = outbox::claim(conn, limit)?;
    if events.is_empty() {
        return Ok((0, 0));
    }
    // Lock the channels before reading products, so that the product states read here are at
    // least as new as those any earlier holder of the lock has published.
    let mut locked = channels::lock_all(conn)?;
    let mut skus: Vec<&str> = events.iter().map(|e| e.sku.as_str()).collect();
    skus.sort_unstable();
    skus.dedup();
    let current: HashMap<String, Product> = products::get_many(conn, &skus)?
        .iter()
        .map(|row| Ok((row.sku.clone(), parse_product(row)?)))
        .collect::<StoreResult<_>>()?;
    let products: Vec<(&str, Option<&Product>)> =
        skus.iter().map(|sku| (*sku, current.get(*sku))).collect();
    let changes = publish_all(conn, &mut locked, &products, Stored::Listed, now)?;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    outbox::remove(conn, &ids)?;
    Ok((events.len(), changes))
}

/// A projection in its stored form: the record's SHA-256 and its canonical text.
type Projected = Option<(String, String)>;

/// (channel, product) pairs from which the projection runs on a thread of its own, beside the
/// writer; below, a thread would cost more than it saves.
const PAIRS_FOR_A_THREAD: usize = 1_000;

/// One product projected for one channel (`None`: deleted, or outside the channel).
fn project(
    sku: &str,
    product: Option<&Product>,
    def: &ChannelDef,
    now: DateTime<Utc>,
) -> Projected {
    // The record is stored in its canonical form: the bytes partners hash.
    let mut canonical = Vec::with_capacity(1024);
    let view = delta::ProductView::from(product?);
    if !delta::write_canonical(sku, &view, def, now, &mut canonical) {
        return None;
    }
    let hash = jcs::sha256_hex_of(&canonical);
    // RFC 8785 output is UTF-8; the bytes move into the string without a copy.
    let text = String::from_utf8(canonical)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Some((hash, text))
}

/// How the stored state of the products of a step is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// A lookup per SKU (the products of outbox events, anywhere in the catalog).
    Listed,
    /// The products are every product from the first SKU to the last, in SKU order (a page of
    /// a re-evaluation): one range of the channel's rows.
    Range,
}

/// Projects `products` for every channel of `locked` and publishes the differences; returns
/// how many records changed. The projection is pure: with enough pairs it runs on a thread of
/// its own, a channel ahead of the writer, so that the writer (the one connection that may
/// write, on SQLite) never waits for it and the projection costs no time of its own.
fn publish_all(
    conn: &mut DbConnection,
    locked: &mut [ChannelRow],
    products: &[(&str, Option<&Product>)],
    stored: Stored,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    if products.is_empty() {
        return Ok(0);
    }
    let defs: Vec<ChannelDef> = locked
        .iter()
        .map(pull::definition)
        .collect::<Result<_, _>>()?;
    let run_of = |def: &ChannelDef| -> Vec<Projected> {
        products
            .iter()
            .map(|(sku, product)| project(sku, *product, def, now))
            .collect()
    };
    let mut changes = 0;
    if defs.len() * products.len() < PAIRS_FOR_A_THREAD {
        for (channel, def) in locked.iter_mut().zip(&defs) {
            changes += publish(conn, channel, products, &run_of(def), stored, now)?;
        }
        return Ok(changes);
    }
    std::thread::scope(|scope| {
        // Two channels' projections ahead at most: memory stays a few runs, however many
        // channels there are.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Projected>>(2);
        let (defs, run_of) = (&defs, &run_of);
        scope.spawn(move || {
            for def in defs {
                // The writer stopped (an error): nothing more is wanted.
                if tx.send(run_of(def)).is_err() {
                    return;
                }
            }
        });
        for channel in locked.iter_mut() {
            // Ends only if the projection panicked; the scope then passes the panic on.
            let Ok(run) = rx.recv() else {
                return Err(StoreError::Corrupt(
                    "the projection of a channel failed".into(),
                ));
            };
            changes += publish(conn, channel, products, &run, stored, now)?;
        }
        Ok(changes)
    })
}

/// Compares the projections of `products` (`projected`, in the same order) with the channel's
/// stored state and writes the differences with the channel's next sequence numbers. Returns
/// how many changed.
fn publish(
    conn: &mut DbConnection,
    channel: &mut ChannelRow,
    products: &[(&str, Option<&Product>)],
    projected: &[Projected],
    read: Stored,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let skus: Vec<&str> = products.iter().map(|(sku, _)| *sku).collect();
    // Hashes only: records are read back just for the products that leave the channel.
    let hashes = match (read, skus.first(), skus.last()) {
        (Stored::Range, Some(first), Some(last)) => {
            channel_records::hashes_between(conn, channel.id, first, last)?
        }
        _ => channel_records::hashes(conn, channel.id, &skus)?,
    };
    let stored: HashMap<String, Option<String>> = hashes.into_iter().collect();
    // The channel row is locked, and every change of this transaction to its counter went
    // through `channel`.
    let mut seq = channel.last_seq;
    let mut changed = Vec::new();
    for (sku, new) in skus.iter().zip(projected) {
        let old_hash = stored.get(*sku).and_then(Option::as_deref);
        let differs = match (new, old_hash) {
            (Some((hash, _)), Some(old)) => hash != old,
            (Some(_), None) => true,
            // Left the assortment or deleted: a tombstone, once.
            (None, Some(_)) => true,
            (None, None) => false,
        };
        if differs {
            seq += 1;
            changed.push((*sku, seq, new));
        }
    }
    if changed.is_empty() {
        return Ok(0);
    }
    let at = now.naive_utc();
    let leaving: Vec<&str> = changed
        .iter()
        .filter(|(_, _, new)| new.is_none())
        .map(|(sku, _, _)| *sku)
        .collect();
    let last_records: HashMap<String, RecordRow> = if leaving.is_empty() {
        HashMap::new()
    } else {
        channel_records::get_many(conn, channel.id, &leaving)?
            .into_iter()
            .map(|r| (r.sku.clone(), r))
            .collect()
    };
    let rows: Vec<NewRecord<'_>> = changed
        .iter()
        .map(|(sku, seq, new)| NewRecord {
            channel_id: channel.id,
            sku,
            seq: *seq,
            hash: new.as_ref().map(|(h, _)| h.as_str()),
            // A tombstone keeps the last record published (its hash is what marks it deleted):
            // formats that name deleted items by content (GDSN, by GTIN) need it.
            record: match new {
                Some((_, r)) => Some(r.as_str()),
                None => last_records.get(*sku).and_then(|r| r.record.as_deref()),
            },
            deleted_at: if new.is_none() { Some(at) } else { None },
        })
        .collect();
    channel_records::upsert(conn, &rows)?;
    let day = now.format("%Y-%m-%d").to_string();
    channel_records::count_day(conn, channel.id, &day, rows.len() as i64)?;
    channels::set_last_seq(conn, channel.id, seq)?;
    channel.last_seq = seq;
    Ok(rows.len())
}

/// One page of the re-evaluation of the channels `ids`, which were at the same place in it
/// when the step began: channels created or redefined together share the reading and parsing
/// of each page of the catalog. A page is smaller the more channels share it, so that a step
/// stays short. Returns the (channel, product) pairs evaluated and the changes.
fn reevaluate_page(
    conn: &mut DbConnection,
    ids: &[i64],
    now: DateTime<Utc>,
) -> StoreResult<(usize, usize)> {
    // Locked, the channels are where they are now: another instance may have moved some on
    // since the step began, so they are grouped again by where they stand.
    let mut groups: std::collections::BTreeMap<String, Vec<ChannelRow>> = Default::default();
    for &id in ids {
        if let Some(channel) = channels::lock(conn, id)? {
            if let Some(after) = channel.reeval_after.clone() {
                groups.entry(after).or_default().push(channel);
            }
        }
    }
    let (mut evaluated, mut changes) = (0, 0);
    for (after, mut group) in groups {
        let page = events_per_step(group.len());
        let rows = products::list(conn, Some(&after), page)?;
        let parsed: Vec<(String, Product)> = rows
            .iter()
            .map(|r| Ok((r.sku.clone(), parse_product(r)?)))
            .collect::<StoreResult<_>>()?;
        let products: Vec<(&str, Option<&Product>)> = parsed
            .iter()
            .map(|(sku, p)| (sku.as_str(), Some(p)))
            .collect();
        changes += publish_all(conn, &mut group, &products, Stored::Range, now)?;
        for channel in &group {
            if (rows.len() as i64) < page {
                channels::set_reeval(conn, channel.id, None, Some(&channel.definition_hash))?;
            } else {
                let last = rows.last().map(|r| r.sku.as_str());
                channels::set_reeval(conn, channel.id, last, channel.evaluated_hash.as_deref())?;
            }
        }
        evaluated += rows.len() * group.len();
    }
    Ok((evaluated, changes))
}

/// Purges tombstones deleted before `before`.
fn purge(conn: &mut DbConnection, before: DateTime<Utc>) -> StoreResult<()> {
    for channel in channels::list(conn, None)? {
        if let Some(max) = channel_records::purge_tombstones(conn, channel.id, before.naive_utc())?
        {
            if max > channel.purged_seq {
                channels::set_purged_seq(conn, channel.id, max)?;
            }
        }
    }
    Ok(())
}
