//! Queries on `channel_records`: per (channel, SKU) the latest projection, its hash and the seq
//! at which it last changed. This table is the change log: `changes since` is a range scan on
//! (channel, seq), the full feed is its live rows. Hashes and records are stored compactly
//! ([`record_codec`](super::record_codec)): the functions here give hashes as hex and records as
//! text, except the generator's: its lookups and writes take and give hashes as their 32 bytes
//! ([`Hash`]), and a write takes records already encoded (the generator compresses them with
//! their projection).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::record_codec::{decoded_len, hash_hex, push_hex, Decoder};
use super::schema::channel_records;
use super::sqlite_sql::{self, Bind, Sql};
use super::{DbConnection, StoreError, StoreResult};
use diesel::sql_types::{Binary, Nullable, Text};

/// A record's SHA-256 as the generator compares and writes it.
pub type Hash = [u8; 32];

#[derive(Debug, Clone)]
pub struct RecordRow {
    pub channel_id: i64,
    pub sku: String,
    pub seq: i64,
    pub hash: Option<String>,
    pub record: Option<String>,
    pub deleted_at: Option<NaiveDateTime>,
}

/// A row as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = channel_records)]
struct StoredRow {
    channel_id: i64,
    sku: String,
    seq: i64,
    hash: Option<Vec<u8>>,
    record: Option<Vec<u8>>,
    deleted_at: Option<NaiveDateTime>,
}

fn decode_rows(conn: &mut DbConnection, rows: Vec<StoredRow>) -> StoreResult<Vec<RecordRow>> {
    let mut decoder = Decoder::default();
    rows.into_iter()
        .map(|r| {
            let hash = r
                .hash
                .as_deref()
                .map(|h| checked_hash(&r.sku, h))
                .transpose()?;
            Ok(RecordRow {
                channel_id: r.channel_id,
                seq: r.seq,
                hash: hash.map(|h| hash_hex(h)),
                record: match r.record {
                    Some(bytes) => Some(decoder.decode(conn, bytes)?),
                    None => None,
                },
                deleted_at: r.deleted_at,
                sku: r.sku,
            })
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct NewRecord<'a> {
    pub channel_id: i64,
    pub sku: &'a str,
    pub seq: i64,
    pub hash: Option<&'a Hash>,
    /// The record in its stored form
    /// ([`Codec::encode`](super::record_codec::Codec::encode)).
    pub record: Option<&'a [u8]>,
    pub deleted_at: Option<NaiveDateTime>,
}

/// A row as written.
#[derive(Insertable)]
#[diesel(table_name = channel_records)]
struct StoredNew<'a> {
    channel_id: i64,
    sku: &'a str,
    seq: i64,
    #[diesel(treat_none_as_null = true)]
    hash: Option<&'a [u8]>,
    #[diesel(treat_none_as_null = true)]
    record: Option<&'a [u8]>,
    #[diesel(treat_none_as_null = true)]
    deleted_at: Option<NaiveDateTime>,
}

/// The stored state of `skus` in one channel.
pub fn get_many(
    conn: &mut DbConnection,
    channel_id: i64,
    skus: &[&str],
) -> StoreResult<Vec<RecordRow>> {
    let rows = by_skus(skus, |chunk| {
        channel_records::table
            .filter(channel_records::channel_id.eq(channel_id))
            .filter(channel_records::sku.eq_any(chunk))
            .select(StoredRow::as_select())
            .load(conn)
    })?;
    decode_rows(conn, rows)
}

/// Loads the rows of `skus`, 500 SKUs a query.
fn by_skus<T>(
    skus: &[&str],
    mut load: impl FnMut(&[&str]) -> diesel::QueryResult<Vec<T>>,
) -> StoreResult<Vec<T>> {
    let mut rows = Vec::with_capacity(skus.len());
    for chunk in skus.chunks(500) {
        rows.extend(load(chunk)?);
    }
    Ok(rows)
}

/// The records of `skus` in their stored form (live or a tombstone's), by SKU.
pub fn stored_records(
    conn: &mut DbConnection,
    channel_id: i64,
    skus: &[&str],
) -> StoreResult<Vec<(String, Vec<u8>)>> {
    by_skus(skus, |chunk| {
        channel_records::table
            .filter(channel_records::channel_id.eq(channel_id))
            .filter(channel_records::sku.eq_any(chunk))
            .filter(channel_records::record.is_not_null())
            .select((
                channel_records::sku,
                channel_records::record.assume_not_null(),
            ))
            .load(conn)
    })
}

/// The stored hash of each of `skus` that the channel has a row for (`None`: a tombstone),
/// without the records: what the generator compares a new projection with.
pub fn hashes(
    conn: &mut DbConnection,
    channel_id: i64,
    skus: &[&str],
) -> StoreResult<Vec<(String, Option<Hash>)>> {
    let rows = super::load_in_chunks(
        conn,
        skus,
        |c, chunk| {
            let mut q = Sql::<(Text, Nullable<Binary>)>::new(
                "SELECT sku, hash FROM channel_records WHERE channel_id = ",
            );
            q.bind(Bind::Int(channel_id)).sql(" AND sku IN ");
            q.list(chunk);
            q.load(c)
        },
        |c, chunk| {
            channel_records::table
                .filter(channel_records::channel_id.eq(channel_id))
                .filter(channel_records::sku.eq_any(chunk))
                .select((channel_records::sku, channel_records::hash))
                .load(c)
        },
    )?;
    raw_hashes(rows)
}

fn raw_hashes(rows: Vec<(String, Option<Vec<u8>>)>) -> StoreResult<Vec<(String, Option<Hash>)>> {
    rows.into_iter()
        .map(|(sku, hash)| {
            let hash = hash.map(|h| checked_hash(&sku, &h).copied()).transpose()?;
            Ok((sku, hash))
        })
        .collect()
}

/// A stored hash, which is 32 bytes, or the store is corrupt.
fn checked_hash<'a>(sku: &str, bytes: &'a [u8]) -> StoreResult<&'a Hash> {
    <&Hash>::try_from(bytes)
        .map_err(|_| StoreError::Corrupt(format!("the stored hash of {sku} is not 32 bytes")))
}

/// The stored hash of each SKU from `first` to `last` that the channel has a row for: the
/// same as [`hashes`] when the SKUs are every product between the two, as a range of the
/// primary key instead of a lookup each.
pub fn hashes_between(
    conn: &mut DbConnection,
    channel_id: i64,
    first: &str,
    last: &str,
) -> StoreResult<Vec<(String, Option<Hash>)>> {
    raw_hashes(
        channel_records::table
            .filter(channel_records::channel_id.eq(channel_id))
            .filter(channel_records::sku.ge(first))
            .filter(channel_records::sku.le(last))
            .select((channel_records::sku, channel_records::hash))
            .load(conn)?,
    )
}

/// Writes new states (insert or replace on (channel, SKU)), in multi-row statements.
pub fn upsert(conn: &mut DbConnection, rows: &[NewRecord<'_>]) -> StoreResult<()> {
    let rows: Vec<StoredNew<'_>> = rows
        .iter()
        .map(|r| StoredNew {
            channel_id: r.channel_id,
            sku: r.sku,
            seq: r.seq,
            hash: r.hash.map(|h| h.as_slice()),
            record: r.record,
            deleted_at: r.deleted_at,
        })
        .collect();
    match conn {
        DbConnection::Postgres(c) => {
            for chunk in rows.chunks(500) {
                diesel::insert_into(channel_records::table)
                    .values(chunk)
                    .on_conflict((channel_records::channel_id, channel_records::sku))
                    .do_update()
                    .set((
                        channel_records::seq.eq(excluded(channel_records::seq)),
                        channel_records::hash.eq(excluded(channel_records::hash)),
                        channel_records::record.eq(excluded(channel_records::record)),
                        channel_records::deleted_at.eq(excluded(channel_records::deleted_at)),
                    ))
                    .execute(c)?;
            }
        }
        DbConnection::Sqlite(c) => sqlite_sql::insert(
            c,
            "INSERT INTO channel_records (channel_id, sku, seq, hash, record, deleted_at) VALUES ",
            " ON CONFLICT (channel_id, sku) DO UPDATE SET seq = excluded.seq, \
             hash = excluded.hash, record = excluded.record, deleted_at = excluded.deleted_at",
            &rows,
            |row| {
                [
                    Bind::Int(row.channel_id),
                    Bind::Text(row.sku),
                    Bind::Int(row.seq),
                    Bind::OptBlob(row.hash),
                    Bind::OptBlob(row.record),
                    Bind::OptTime(row.deleted_at),
                ]
            },
        )?,
    }
    Ok(())
}

/// A live record as full feeds, digests and reports read it: only what they use.
#[derive(Debug, Clone, Copy)]
pub struct LiveRow<'a> {
    pub sku: &'a str,
    /// 64 hex digits.
    pub hash: &'a str,
    pub record: &'a str,
}

/// A page of live records, decoded into one buffer: a page costs a few allocations, not a few
/// a record (it is read on one thread and rendered on another, where freeing each record's
/// strings cost the renderer as much as copying them).
#[derive(Debug, Default)]
pub struct LivePage {
    text: String,
    /// Where each row's SKU ends and its record ends in `text`; the hash's 64 digits follow
    /// the SKU, the record follows the hash, and the next row starts where the record ends.
    rows: Vec<(usize, usize)>,
}

impl LivePage {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<LiveRow<'_>> {
        let start = match i {
            0 => 0,
            _ => self.rows.get(i - 1)?.1,
        };
        let &(sku_end, end) = self.rows.get(i)?;
        Some(LiveRow {
            sku: &self.text[start..sku_end],
            hash: &self.text[sku_end..sku_end + 64],
            record: &self.text[sku_end + 64..end],
        })
    }

    pub fn last(&self) -> Option<LiveRow<'_>> {
        self.get(self.rows.len().checked_sub(1)?)
    }

    pub fn iter(&self) -> impl Iterator<Item = LiveRow<'_>> {
        (0..self.rows.len()).filter_map(|i| self.get(i))
    }
}

/// Live records (not tombstones) with a SKU after `after`, in SKU byte order.
pub fn live_page(
    conn: &mut DbConnection,
    channel_id: i64,
    after: &str,
    limit: i64,
) -> StoreResult<LivePage> {
    let rows: Vec<(String, Vec<u8>, Vec<u8>)> = channel_records::table
        .filter(channel_records::channel_id.eq(channel_id))
        .filter(channel_records::sku.gt(after))
        .filter(channel_records::hash.is_not_null())
        .order(channel_records::sku.asc())
        .limit(limit)
        // A live row always has its record: a NULL one fails the read, never reads as {}.
        .select((
            channel_records::sku,
            channel_records::hash.assume_not_null(),
            channel_records::record.assume_not_null(),
        ))
        .load(conn)?;
    let mut decoder = Decoder::default();
    let mut page = LivePage {
        text: String::with_capacity(
            rows.iter()
                // A corrupt frame's stated size reserves no more than a large record.
                .map(|(sku, _, record)| sku.len() + 64 + decoded_len(record).min(16 << 10))
                .sum(),
        ),
        rows: Vec::with_capacity(rows.len()),
    };
    for (sku, hash, record) in rows {
        let hash = checked_hash(&sku, &hash)?;
        page.text.push_str(&sku);
        let sku_end = page.text.len();
        push_hex(&mut page.text, hash);
        decoder.decode_into(conn, &record, &mut page.text)?;
        page.rows.push((sku_end, page.text.len()));
    }
    Ok(page)
}

/// Deletes tombstones older than `before`; returns the highest seq removed.
pub fn purge_tombstones(
    conn: &mut DbConnection,
    channel_id: i64,
    before: NaiveDateTime,
) -> StoreResult<Option<i64>> {
    let old = channel_records::table
        .filter(channel_records::channel_id.eq(channel_id))
        .filter(channel_records::deleted_at.lt(before));
    let max: Option<i64> = old
        .select(diesel::dsl::max(channel_records::seq))
        .first(conn)?;
    if max.is_some() {
        diesel::delete(old).execute(conn)?;
    }
    Ok(max)
}

/// The seqs of the first `limit + 1` changes after `since`: enough to know a page's end and
/// whether more follow, before its records are streamed.
pub fn page_seqs(
    conn: &mut DbConnection,
    channel_id: i64,
    since: i64,
    limit: i64,
) -> StoreResult<Vec<i64>> {
    Ok(channel_records::table
        .filter(channel_records::channel_id.eq(channel_id))
        .filter(channel_records::seq.gt(since))
        .order(channel_records::seq.asc())
        .limit(limit + 1)
        .select(channel_records::seq)
        .load(conn)?)
}

/// Records with `since < seq <= until`, in seq order, at most `limit`.
pub fn changes_until(
    conn: &mut DbConnection,
    channel_id: i64,
    since: i64,
    until: i64,
    limit: i64,
) -> StoreResult<Vec<RecordRow>> {
    let rows = channel_records::table
        .filter(channel_records::channel_id.eq(channel_id))
        .filter(channel_records::seq.gt(since))
        .filter(channel_records::seq.le(until))
        .order(channel_records::seq.asc())
        .limit(limit)
        .select(StoredRow::as_select())
        .load(conn)?;
    decode_rows(conn, rows)
}

/// The number of live records (the assortment's size): counted on the channel's rows of the
/// primary key.
pub fn count_live(conn: &mut DbConnection, channel_id: i64) -> StoreResult<i64> {
    Ok(channel_records::table
        .filter(channel_records::channel_id.eq(channel_id))
        .filter(channel_records::hash.is_not_null())
        .count()
        .get_result(conn)?)
}

/// The latest `limit` changes (records and tombstones), newest first (index on (channel, seq)).
pub fn latest_changes(
    conn: &mut DbConnection,
    channel_id: i64,
    limit: i64,
) -> StoreResult<Vec<RecordRow>> {
    let rows = channel_records::table
        .filter(channel_records::channel_id.eq(channel_id))
        .order(channel_records::seq.desc())
        .limit(limit)
        .select(StoredRow::as_select())
        .load(conn)?;
    decode_rows(conn, rows)
}

/// Counts `changes` more changes published by the channel on `day` ('YYYY-MM-DD', UTC).
pub fn count_day(
    conn: &mut DbConnection,
    channel_id: i64,
    day: &str,
    changes: i64,
) -> StoreResult<()> {
    use super::schema::channel_change_days as d;
    if let DbConnection::Sqlite(c) = conn {
        let mut q =
            Sql::<()>::new("INSERT INTO channel_change_days (channel_id, day, changes) VALUES (");
        q.bind(Bind::Int(channel_id))
            .sql(", ")
            .bind(Bind::Text(day))
            .sql(", ")
            .bind(Bind::Int(changes))
            .sql(
                ") ON CONFLICT (channel_id, day) DO UPDATE SET \
                 changes = channel_change_days.changes + excluded.changes",
            );
        q.execute(c)?;
        return Ok(());
    }
    let row = (
        d::channel_id.eq(channel_id),
        d::day.eq(day),
        d::changes.eq(changes),
    );
    crate::with_conn!(conn, |c| diesel::insert_into(d::table)
        .values(row)
        .on_conflict((d::channel_id, d::day))
        .do_update()
        .set(d::changes.eq(d::changes + excluded(d::changes)))
        .execute(c))?;
    Ok(())
}

/// The changes published per day from `from` ('YYYY-MM-DD') on, by day (days without a change
/// are absent).
pub fn days_since(
    conn: &mut DbConnection,
    channel_id: i64,
    from: &str,
) -> StoreResult<Vec<(String, i64)>> {
    use super::schema::channel_change_days as d;
    Ok(d::table
        .filter(d::channel_id.eq(channel_id))
        .filter(d::day.ge(from))
        .order(d::day.asc())
        .select((d::day, d::changes))
        .load(conn)?)
}
