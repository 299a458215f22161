//! The delta generator: the one writer of channel sequence numbers.
//!
//! Channels are generated in groups (`store::channels::GROUPS`, a channel in group
//! `id % GROUPS`), independently: each group has its own lock and its own bit in each outbox
//! event, so a large change being published for one group never holds up another, and on
//! PostgreSQL several generators (threads of an instance, and instances) work on different
//! groups at once. SQLite has one writer, so its one generator covers every group in each step.
//!
//! Each step, for a group (or, on SQLite, all of them), in its own transactions:
//! - price windows: products whose projection changes by itself now get an outbox event;
//! - outbox: claims catalog events the group has not applied (the interactive lane first, then
//!   the bulk lane of large batches and imports; fewer at once the more channels the group has,
//!   so that a step stays short), locks the group's channels (in id order), re-projects each
//!   changed product for each channel and gives a new seq only where the record's hash changed
//!   or the product entered or left the assortment; the group's bit is set on the events in the
//!   same transaction, and an event every group has applied is deleted;
//! - re-evaluation: after a channel definition changes, walks the catalog by SKU in pages;
//! - retention: purges tombstones older than the retention and remembers the highest purged seq.
//!
//! Because sequence numbers are assigned while the channel's row is locked, and committed with
//! that lock held, they become visible in seq order: a reader never skips one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
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
use crate::store::channel_records::{self, Hash, NewRecord};
use crate::store::channels::{self, ChannelRow};
use crate::store::outbox::{self, NewOutboxEvent};
use crate::store::products::{self, ProductRow};
use crate::store::record_codec::{self, Codec};
use crate::store::{self, Db, DbConnection, StoreError, StoreResult};

/// Products of a re-evaluation page (one channel) handled per transaction, and the most
/// outbox events claimed at once.
const BATCH: i64 = 500;
/// How long a step (an outbox step, or a page of a re-evaluation) is meant to take: a single
/// edit waits for the step in progress (on SQLite, so does every write), and is then served
/// first. Steps are sized to it from the time each pair took in the steps before ([`Pace`]).
const STEP_TARGET: Duration = Duration::from_millis(200);
/// (channel, product) pairs a step projects, at least and at most: every step also has costs
/// of its own (its claim, each channel's counters, the pages every commit rewrites), and with
/// many channels a small step pays them for few events.
const PAIRS_MIN: i64 = 5_000;
const PAIRS_MAX: i64 = 40_000;

/// The generator's pace: the time a (channel, product) pair has taken, as an average over the
/// last steps, which sizes the next ones so that each takes about [`STEP_TARGET`].
struct Pace {
    nanos_per_pair: AtomicU64,
}

impl Pace {
    /// Before any step is measured: 10 µs a pair, 20,000 pairs a step.
    const fn new() -> Self {
        Pace {
            nanos_per_pair: AtomicU64::new(10_000),
        }
    }

    /// Pairs the next step projects.
    fn pairs(&self) -> i64 {
        let per_pair = self.nanos_per_pair.load(Ordering::Relaxed).max(1);
        let pairs = STEP_TARGET.as_nanos() / u128::from(per_pair);
        i64::try_from(pairs)
            .unwrap_or(PAIRS_MAX)
            .clamp(PAIRS_MIN, PAIRS_MAX)
    }

    /// Counts a step of `pairs` pairs that took `took`. Steps of fewer than 1,000 pairs say
    /// more of a step's own costs than of a pair's, and are not counted.
    fn record(&self, pairs: usize, took: Duration) {
        if pairs < 1_000 {
            return;
        }
        let sample = u64::try_from(took.as_nanos() / pairs as u128).unwrap_or(u64::MAX);
        // The new step counts for a quarter: a few slow steps (a checkpoint, a cold page
        // cache) move the size by little, a lasting change within a few steps. Two generators
        // of one process may each overwrite the other's sample: an average either way.
        let old = self.nanos_per_pair.load(Ordering::Relaxed);
        let new = old.saturating_mul(3).saturating_add(sample) / 4;
        self.nanos_per_pair.store(new.max(1), Ordering::Relaxed);
    }
}

/// The process's pace: every generator of the process measures and follows it.
static PACE: Pace = Pace::new();

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

/// What one step did; zero events and evaluations mean there was nothing to do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    /// Outbox events finished: applied by every channel group.
    pub events: usize,
    /// Outbox events claimed, by each group that applied them.
    pub claimed: usize,
    pub evaluated: usize,
    pub changes: usize,
    /// Channel groups skipped because another generator was working on them (PostgreSQL).
    pub busy: usize,
}

impl Work {
    pub fn is_idle(&self) -> bool {
        self.claimed == 0 && self.evaluated == 0
    }

    fn add(&mut self, other: Work) {
        self.events += other.events;
        self.claimed += other.claimed;
        self.evaluated += other.evaluated;
        self.changes += other.changes;
        self.busy += other.busy;
    }
}

/// Generators that run at once in this process: on PostgreSQL one per core (at most one per
/// channel group), each with its own connection; on SQLite one, since its single writer would
/// serialise the others (the projection still runs on the other cores, beside the writer).
pub fn workers(db: &Db) -> usize {
    match db.backend() {
        store::Backend::Sqlite(_) => 1,
        store::Backend::Postgres(_) => cores().min(channels::GROUPS as usize),
    }
}

/// The cores this process may use, read once (the standard library reads the cgroup's quota
/// files on every call).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// One step of every kind of work, for every channel group; each part commits on its own.
pub fn run_once(db: &Db, now: DateTime<Utc>) -> StoreResult<Work> {
    run_worker_once(db, now, 0, 1)
}

/// One step of worker `k` of `n`. On SQLite it covers every channel group at once. On
/// PostgreSQL each group's outbox step is a transaction of its own under the group's lock,
/// taken in turn from a group that depends on `k` (so that workers start apart); a group
/// another generator holds is skipped, not waited for. Before a group's step, a single edit
/// newer than the last one served is served for every group first, so that it never waits
/// for a round of the other groups' bulk steps.
fn run_worker_once(db: &Db, now: DateTime<Utc>, k: usize, n: usize) -> StoreResult<Work> {
    let mut conn = db.write_conn()?;
    let conn = &mut *conn;
    let mut work = Work::default();
    if k == 0 {
        // Products and the outbox only: nothing the in-memory views trust.
        store::transaction_counted_if(conn, |c| enqueue_due_prices(c, now), |_| false)?;
    }
    // Read once a round: which channels each group has, and which are being re-evaluated.
    let listed = channels::list(conn, None)?;
    let sets: Vec<i64> = match conn {
        DbConnection::Sqlite(_) => vec![channels::ALL_GROUPS],
        DbConnection::Postgres(_) => {
            // The groups without a channel are stepped together: every event still needs
            // their bits before it is deleted, and one update gives it all of them.
            let occupied = listed.iter().fold(0, |m, c| m | group_bit(c.id));
            let first = (k * channels::GROUPS as usize / n.max(1)) as u32;
            let mut sets: Vec<i64> = (0..channels::GROUPS)
                .map(|i| 1 << ((first + i) % channels::GROUPS))
                .filter(|g| occupied & g != 0)
                .collect();
            if channels::ALL_GROUPS & !occupied != 0 {
                sets.push(channels::ALL_GROUPS & !occupied);
            }
            sets
        }
    };
    // The newest single edit this round has served every group for: a pass over the groups
    // is made once per new edit, not again for one still waiting for a busy group (the passes
    // would take the groups' locks from under the other generators' steps).
    let mut served = 0;
    for &groups in &sets {
        if sets.len() > 1 {
            if let Some(newest) = outbox::newest_interactive(conn)?.filter(|&id| id > served) {
                served = newest;
                for &each in &sets {
                    work.add(step(conn, each, &listed, Lanes::Interactive, now)?);
                }
            }
        }
        work.add(step(conn, groups, &listed, Lanes::Both, now)?);
    }
    Ok(work)
}

/// Takes the generator's lock on each group of `groups`; false if another generator holds one.
fn take(conn: &mut DbConnection, groups: i64) -> StoreResult<bool> {
    for g in 0..channels::GROUPS {
        if groups & (1 << g) != 0 && !channels::try_lock_group(conn, g)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The outbox lanes a step takes events from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lanes {
    /// Single edits only.
    Interactive,
    /// Single edits while there are any, then large batches and imports.
    Both,
}

/// A step for the channels of `groups`: the outbox, then (with both lanes) a page of each of
/// their re-evaluations; `listed` is every channel as the round began.
fn step(
    conn: &mut DbConnection,
    groups: i64,
    listed: &[ChannelRow],
    lanes: Lanes,
    now: DateTime<Utc>,
) -> StoreResult<Work> {
    let members = listed.iter().filter(|c| in_groups(c.id, groups)).count();
    let limit = events_per_step(members);
    // A step moves a channel's last seq only when it publishes a change.
    let started = std::time::Instant::now();
    let applied = store::transaction_counted_if(
        conn,
        |c| match take(c, groups)? {
            true => apply_outbox(c, groups, limit, lanes == Lanes::Both, now).map(Some),
            false => Ok(None),
        },
        |r| matches!(r, Some(applied) if applied.changes > 0),
    )?;
    let busy = Work {
        busy: 1,
        ..Work::default()
    };
    let Some(mut work) = applied else {
        return Ok(busy);
    };
    PACE.record(work.claimed * members, started.elapsed());
    if lanes == Lanes::Interactive {
        return Ok(work);
    }
    // The group's channels being re-evaluated, grouped by where they are in the catalog (in id
    // order, the order locks are taken in). Channels of other groups at the same place do not
    // share the page: on PostgreSQL each group's pages are larger and run beside the others'.
    let mut places: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
    for channel in listed {
        if let (Some(after), true) = (&channel.reeval_after, in_groups(channel.id, groups)) {
            places.entry(after).or_default().push(channel.id);
        }
    }
    for mut ids in places.into_values() {
        ids.sort_unstable();
        let started = std::time::Instant::now();
        let page = store::transaction_counted_if(
            conn,
            |c| match take(c, groups)? {
                true => reevaluate_page(c, &ids, now).map(Some),
                false => Ok(None),
            },
            |r| matches!(r, Some((_, changes)) if *changes > 0),
        )?;
        let Some((evaluated, changes)) = page else {
            work.add(busy);
            break;
        };
        PACE.record(evaluated, started.elapsed());
        work.evaluated += evaluated;
        work.changes += changes;
    }
    Ok(work)
}

fn group_bit(channel_id: i64) -> i64 {
    1 << channel_id.rem_euclid(channels::GROUPS as i64)
}

fn in_groups(channel_id: i64, groups: i64) -> bool {
    groups & group_bit(channel_id) != 0
}

/// Purges the tombstones older than the retention (the loop does it once a minute).
pub fn purge_expired(db: &Db, settings: &Settings, now: DateTime<Utc>) -> StoreResult<()> {
    let mut conn = db.write_conn()?;
    store::transaction(&mut conn, |c| purge(c, now - settings.tombstone_retention))
}

/// Runs steps until there is nothing left to do.
pub fn drain(db: &Db, now: DateTime<Utc>) -> StoreResult<Work> {
    drain_worker(db, now, 0, 1)
}

fn drain_worker(db: &Db, now: DateTime<Utc>, k: usize, n: usize) -> StoreResult<Work> {
    let mut total = Work::default();
    loop {
        let work = run_worker_once(db, now, k, n)?;
        total.add(work);
        if work.is_idle() {
            return Ok(total);
        }
    }
}

/// Runs `workers` generators at once, each on its own thread and connection, until none finds
/// anything left to do.
pub fn drain_with(db: &Db, now: DateTime<Utc>, workers: usize) -> StoreResult<Work> {
    if workers <= 1 {
        return drain(db, now);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|k| scope.spawn(move || drain_worker(db, now, k, workers)))
            .collect();
        let mut total = Work::default();
        for handle in handles {
            match handle.join() {
                Ok(work) => total.add(work?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(total)
    })
}

/// The background loop: wakes on `wake` (an edit committed here) or after `settings.poll`,
/// and notifies `published` whenever a channel got new changes (the webhook deliveries wait
/// on it). When another generator held a group, it looks again soon rather than after the
/// whole poll: that generator may have finished before the last events came in.
pub async fn run(
    db: Db,
    clock: Arc<dyn Clock>,
    settings: Settings,
    wake: Arc<Notify>,
    published: Arc<Notify>,
) {
    const PURGE_EVERY: Duration = Duration::from_secs(60);
    const BUSY_RETRY: Duration = Duration::from_millis(20);
    let workers = workers(&db);
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
                drain_with(&db, now, workers)
            })
            .await
        };
        let mut wait = settings.poll;
        match step {
            Ok(Ok(work)) => {
                if work.busy > 0 {
                    wait = wait.min(BUSY_RETRY);
                }
                if work.changes > 0 {
                    published.notify_one();
                    tracing::debug!(
                        events = work.events,
                        changes = work.changes,
                        "deltas generated"
                    )
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "delta generation failed; retrying"),
            Err(e) => tracing::error!(error = %e, "delta generation panicked; retrying"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
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
    (PACE.pairs() / channels.max(1) as i64).clamp(1, BATCH)
}

/// Applies one batch of outbox events to the channels of `groups`, whose generator lock the
/// transaction holds.
fn apply_outbox(
    conn: &mut DbConnection,
    groups: i64,
    limit: i64,
    bulk_too: bool,
    now: DateTime<Utc>,
) -> StoreResult<Work> {
    let events = outbox::claim(conn, groups, limit, bulk_too)?;
    if events.is_empty() {
        return Ok(Work::default());
    }
    // A claim takes events of one lane.
    let defer = events.iter().all(|e| e.bulk);
    // Lock the channels before reading products, so that the product states read here are at
    // least as new as those any earlier holder of the lock has published.
    let mut locked = channels::lock_groups(conn, groups)?;
    let mut skus: Vec<&str> = events.iter().map(|e| e.sku.as_str()).collect();
    skus.sort_unstable();
    skus.dedup();
    let changes = if locked.is_empty() {
        0
    } else {
        let current: HashMap<String, Product> = products::get_many(conn, &skus)?
            .iter()
            .map(|row| Ok((row.sku.clone(), parse_product(row)?)))
            .collect::<StoreResult<_>>()?;
        let products: Vec<(&str, Option<&Product>)> =
            skus.iter().map(|sku| (*sku, current.get(*sku))).collect();
        publish_all(conn, &mut locked, &products, Stored::Listed { defer }, now)?
    };
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    Ok(Work {
        events: outbox::finish(conn, &ids, groups, channels::ALL_GROUPS)?,
        claimed: events.len(),
        changes,
        ..Work::default()
    })
}

/// A projection in its stored form: the record's SHA-256 and the record as stored (its
/// canonical text, compressed: [`Codec`]).
type Projected = Option<(Hash, Vec<u8>)>;

/// (channel, product) pairs from which the projection runs on a thread of its own, beside the
/// writer; below, a thread would cost more than it saves.
const PAIRS_FOR_A_THREAD: usize = 1_000;

/// One product projected for one channel (`None`: deleted, or outside the channel).
fn project(
    sku: &str,
    product: Option<&Product>,
    def: &ChannelDef,
    now: DateTime<Utc>,
    codec: &Codec,
) -> Projected {
    // The record is stored in its canonical form: the bytes partners hash.
    let canonical = canonical(sku, product?, def, now)?;
    let hash = jcs::sha256_of(&canonical);
    // RFC 8785 output is UTF-8.
    Some((hash, codec.encode(canonical)))
}

/// The canonical bytes of `product` projected for `def` (`None`: outside the channel).
fn canonical(
    sku: &str,
    product: &Product,
    def: &ChannelDef,
    now: DateTime<Utc>,
) -> Option<Vec<u8>> {
    let mut canonical = Vec::with_capacity(1024);
    let view = delta::ProductView::from(product);
    delta::write_canonical(sku, &view, def, now, &mut canonical).then_some(canonical)
}

/// A product of a step: its SKU, and its state (`None`: deleted).
type Item<'a> = (&'a str, Option<&'a Product>);

/// How the stored state of the products of a step is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// A lookup per SKU (the products of outbox events, anywhere in the catalog). With
    /// `defer` (events of the bulk lane: imports and large batches), a channel being
    /// re-evaluated takes only the products its re-evaluation has passed, and the products
    /// deleted: the re-evaluation projects the others when it reaches them, as they are then,
    /// so projecting them now would be done twice. It lists the products that exist, so a
    /// deletion is published here. Single edits are published at once in every channel.
    Listed { defer: bool },
    /// The products are every product from the first SKU to the last, in SKU order (a page of
    /// a re-evaluation): one range of the channel's rows.
    Range,
}

/// Projects `products` for every channel of `locked` and publishes the differences; returns
/// how many records changed. The projection is pure: with enough pairs it runs on threads of
/// its own ([`projection_threads`]), channels ahead of the writer, so that the writer (the one
/// connection that may write, on SQLite) rarely waits for it and the projection costs no time
/// of its own.
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
    // What each channel takes of `products`.
    let deferring: Vec<Option<Vec<Item<'_>>>> = locked
        .iter()
        .map(|c| match (stored, c.reeval_after.as_deref()) {
            (Stored::Listed { defer: true }, Some(after)) => Some(
                products
                    .iter()
                    .filter(|(sku, product)| product.is_none() || *sku <= after)
                    .copied()
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    let taken: Vec<&[Item<'_>]> = deferring
        .iter()
        .map(|d| d.as_deref().unwrap_or(products))
        .collect();
    // Records are compressed with the projection, on its thread when it has one.
    let source: Vec<&str> = locked.iter().map(|c| c.definition_hash.as_str()).collect();
    let codec = Codec::current(conn, &source, |c| training_samples(c, &defs, now))?;
    let run_of = |def: &ChannelDef, products: &[Item<'_>]| -> Vec<Projected> {
        products
            .iter()
            .map(|(sku, product)| project(sku, *product, def, now, &codec))
            .collect()
    };
    let mut changes = 0;
    if taken.iter().map(|t| t.len()).sum::<usize>() < PAIRS_FOR_A_THREAD {
        for ((channel, def), products) in locked.iter_mut().zip(&defs).zip(&taken) {
            changes += publish(conn, channel, products, &run_of(def, products), stored, now)?;
        }
        return Ok(changes);
    }
    // Channels are dealt to the projection threads in turn, and the writer takes their runs
    // in channel order: channel i comes from thread i % threads.
    let threads = projection_threads(conn, stored).min(locked.len());
    std::thread::scope(|scope| {
        let (defs, taken, run_of) = (&defs, &taken, &run_of);
        let runs: Vec<_> = (0..threads)
            .map(|t| {
                // Two of a thread's channels projected ahead at most: memory stays a few runs
                // per thread, however many channels there are.
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Projected>>(2);
                scope.spawn(move || {
                    for (def, products) in defs.iter().zip(taken).skip(t).step_by(threads) {
                        // The writer stopped (an error): nothing more is wanted.
                        if tx.send(run_of(def, products)).is_err() {
                            return;
                        }
                    }
                });
                rx
            })
            .collect();
        for (i, (channel, products)) in locked.iter_mut().zip(taken).enumerate() {
            // Ends only if a projection panicked; the scope then passes the panic on.
            let Ok(run) = runs[i % threads].recv() else {
                return Err(StoreError::Corrupt(
                    "the projection of a channel failed".into(),
                ));
            };
            changes += publish(conn, channel, products, &run, stored, now)?;
        }
        Ok(changes)
    })
}

/// Threads that project a step's channels beside its writer. On SQLite a page of a
/// re-evaluation (a channel's creation or redefinition) is projected on one thread per core:
/// it inserts or changes records in one range of each channel's rows, and the one writer
/// leaves the other cores to the projection, the slower of the two there. Outbox events change
/// records at scattered places, where the writer is the slower: more threads would only take
/// the cores from it and from the API. On PostgreSQL every core already runs a generator of
/// its own, with one projection thread each.
fn projection_threads(conn: &DbConnection, stored: Stored) -> usize {
    match (conn, stored) {
        (DbConnection::Sqlite(_), Stored::Range) => cores().clamp(1, MAX_PROJECTION_THREADS),
        _ => 1,
    }
}

/// At most this many projection threads per step.
const MAX_PROJECTION_THREADS: usize = 4;

/// Records to train the first compression dictionary on: up to
/// [`record_codec::TRAIN_SAMPLES`] products taken evenly over the whole catalog, each projected
/// for the next of `defs` in turn. SKU order groups similar products, so the products a step
/// publishes alone could make a dictionary for one kind of product.
fn training_samples(
    conn: &mut DbConnection,
    defs: &[ChannelDef],
    now: DateTime<Utc>,
) -> StoreResult<Vec<Vec<u8>>> {
    let skus = products::all_skus(conn)?;
    let every = skus.len().div_ceil(record_codec::TRAIN_SAMPLES).max(1);
    let picked: Vec<&str> = skus.iter().step_by(every).map(String::as_str).collect();
    let mut samples = Vec::with_capacity(picked.len());
    for (row, def) in products::get_many(conn, &picked)?
        .iter()
        .zip(defs.iter().cycle())
    {
        samples.extend(canonical(&row.sku, &parse_product(row)?, def, now));
    }
    Ok(samples)
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
    if products.is_empty() {
        return Ok(0);
    }
    let skus: Vec<&str> = products.iter().map(|(sku, _)| *sku).collect();
    // Hashes only: records are read back just for the products that leave the channel.
    let hashes = match (read, skus.first(), skus.last()) {
        (Stored::Range, Some(first), Some(last)) => {
            channel_records::hashes_between(conn, channel.id, first, last)?
        }
        _ => channel_records::hashes(conn, channel.id, &skus)?,
    };
    let stored: HashMap<String, Option<Hash>> = hashes.into_iter().collect();
    // The channel row is locked, and every change of this transaction to its counter went
    // through `channel`.
    let mut seq = channel.last_seq;
    let mut changed = Vec::new();
    for (sku, new) in skus.iter().zip(projected) {
        let old_hash = stored.get(*sku).and_then(Option::as_ref);
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
    let last_records: HashMap<String, Vec<u8>> = if leaving.is_empty() {
        HashMap::new()
    } else {
        channel_records::stored_records(conn, channel.id, &leaving)?
            .into_iter()
            .collect()
    };
    let rows: Vec<NewRecord<'_>> = changed
        .iter()
        .map(|(sku, seq, new)| NewRecord {
            channel_id: channel.id,
            sku,
            seq: *seq,
            hash: new.as_ref().map(|(h, _)| h),
            // A tombstone keeps the last record published (its hash is what marks it deleted):
            // formats that name deleted items by content (GDSN, by GTIN) need it.
            record: match new {
                Some((_, r)) => Some(r.as_slice()),
                None => last_records.get(*sku).map(Vec::as_slice),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_sized_to_take_the_target_time_within_their_bounds() {
        let pace = Pace::new();
        assert_eq!(pace.pairs(), 20_000, "10 µs a pair before any step");
        // Steps of 4 µs a pair: the size grows towards 50,000 and stops at the most.
        for _ in 0..40 {
            pace.record(20_000, Duration::from_millis(80));
        }
        assert_eq!(pace.pairs(), PAIRS_MAX);
        // One slow step (a checkpoint) moves it by a quarter of the difference, not all of it.
        pace.record(20_000, Duration::from_millis(2_000));
        let after_one = pace.pairs();
        assert!(
            (PAIRS_MIN..PAIRS_MAX).contains(&after_one),
            "{after_one} pairs after one step of 100 µs a pair"
        );
        // Lasting slowness (50 µs a pair): down to 5,000 pairs, the least, within a few steps.
        for _ in 0..20 {
            pace.record(10_000, Duration::from_millis(500));
        }
        assert_eq!(pace.pairs(), PAIRS_MIN);
        // 20 µs a pair: about 10,000 pairs make a step of 200 ms.
        for _ in 0..40 {
            pace.record(10_000, Duration::from_millis(200));
        }
        let settled = pace.pairs();
        assert!((9_900..=10_100).contains(&settled), "{settled}");
        // Small steps say nothing of a pair's cost.
        pace.record(999, Duration::from_secs(10));
        assert_eq!(pace.pairs(), settled);
    }

    #[test]
    fn a_step_claims_fewer_events_the_more_channels_it_has() {
        let pairs = PACE.pairs();
        assert_eq!(events_per_step(1), BATCH);
        assert_eq!(events_per_step(0), BATCH);
        assert_eq!(events_per_step(1_000), (pairs / 1_000).clamp(1, BATCH));
        assert_eq!(events_per_step(1_000_000), 1);
    }
}
