//! Queries on `catalog_size_changes` (the catalog's size, kept by the edit path) and
//! `channel_snapshots` (per channel, the figures that need a walk over its live records,
//! computed in the background, with the seq they are consistent with and a single-flight
//! lease). The console reads these instead of counting or walking at request time.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{DbConnection, StoreResult};

diesel::table! {
    catalog_size_changes (id) {
        id -> BigInt,
        delta -> BigInt,
    }
}

diesel::table! {
    channel_snapshots (channel_id) {
        channel_id -> BigInt,
        seq -> BigInt,
        definition_hash -> Text,
        live -> BigInt,
        digest -> Text,
        readiness -> Text,
        computed_at -> Nullable<Timestamp>,
        took_ms -> BigInt,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
    }
}

// ------------------------------------------------------------------------- catalog size

/// The number of products in the catalog (the sum of the kept differences).
pub fn catalog_size(conn: &mut DbConnection) -> StoreResult<i64> {
    use catalog_size_changes as t;
    // SUM over BIGINT is NUMERIC on PostgreSQL: fold through a cast to keep one type.
    let total: Option<i64> = crate::with_conn!(conn, |c| t::table
        .select(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        >("CAST(SUM(delta) AS BIGINT)"))
        .first(c))?;
    Ok(total.unwrap_or(0))
}

/// Adds `delta` products (created minus deleted) to the catalog's size, in the caller's
/// transaction: the one that wrote them.
pub fn add_catalog_size(conn: &mut DbConnection, delta: i64) -> StoreResult<()> {
    use catalog_size_changes as t;
    if delta != 0 {
        diesel::insert_into(t::table)
            .values(t::delta.eq(delta))
            .execute(conn)?;
    }
    Ok(())
}

/// Folds the kept differences into one row. The rows deleted are exactly the rows summed
/// (`DELETE … RETURNING`), so a difference committed meanwhile is never lost.
pub fn fold_catalog_size(conn: &mut DbConnection) -> StoreResult<()> {
    use catalog_size_changes as t;
    // The catalog's size only: nothing the in-memory views trust.
    super::transaction_counted_if(
        conn,
        |conn| {
            let ids: Vec<i64> = t::table.select(t::id).order(t::id.asc()).load(conn)?;
            if ids.len() < 2 {
                return Ok(());
            }
            let last = ids[ids.len() - 1];
            let deltas: Vec<i64> =
                crate::with_conn!(conn, |c| diesel::delete(t::table.filter(t::id.le(last)))
                    .returning(t::delta)
                    .get_results(c))?;
            let total: i64 = deltas.iter().sum();
            diesel::insert_into(t::table)
                .values(t::delta.eq(total))
                .execute(conn)?;
            Ok(())
        },
        |_| false,
    )
}

// --------------------------------------------------------------------- channel snapshots

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = channel_snapshots)]
pub struct SnapshotRow {
    pub channel_id: i64,
    /// The channel's `last_seq` the figures are consistent with.
    pub seq: i64,
    /// The definition they were computed under (readiness depends on it).
    pub definition_hash: String,
    pub live: i64,
    pub digest: String,
    /// JSON, as `service::snapshots` writes it.
    pub readiness: String,
    /// None until a first computation finished.
    pub computed_at: Option<NaiveDateTime>,
    pub took_ms: i64,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<NaiveDateTime>,
}

/// What a computation found.
pub struct Computed<'a> {
    pub seq: i64,
    pub definition_hash: &'a str,
    pub live: i64,
    pub digest: &'a str,
    pub readiness: &'a str,
    pub computed_at: NaiveDateTime,
    pub took_ms: i64,
}

/// The stored snapshot of a channel, when one was computed.
pub fn get(conn: &mut DbConnection, channel_id: i64) -> StoreResult<Option<SnapshotRow>> {
    use channel_snapshots as t;
    Ok(t::table
        .find(channel_id)
        .filter(t::computed_at.is_not_null())
        .select(SnapshotRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every row (computed or only claimed), by channel id.
pub fn list(conn: &mut DbConnection) -> StoreResult<Vec<SnapshotRow>> {
    use channel_snapshots as t;
    Ok(t::table
        .order(t::channel_id.asc())
        .select(SnapshotRow::as_select())
        .load(conn)?)
}

/// Takes the lease on computing `channel_id`'s snapshot for `owner` until `until`, unless
/// another owner holds a lease that has not expired at `now`. Returns whether `owner` holds it:
/// one computation per channel at a time, across instances.
pub fn claim(
    conn: &mut DbConnection,
    channel_id: i64,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> StoreResult<bool> {
    use channel_snapshots as t;
    super::transaction(conn, |conn| {
        let placeholder = (
            t::channel_id.eq(channel_id),
            t::seq.eq(-1i64),
            t::definition_hash.eq(""),
            t::live.eq(0i64),
            t::digest.eq(""),
            t::readiness.eq("{}"),
            t::took_ms.eq(0i64),
        );
        crate::with_conn!(&mut *conn, |c| diesel::insert_into(t::table)
            .values(placeholder)
            .on_conflict(t::channel_id)
            .do_nothing()
            .execute(c))?;
        let taken = diesel::update(
            t::table.find(channel_id).filter(
                t::claimed_until
                    .is_null()
                    .or(t::claimed_until.lt(now))
                    .or(t::claimed_by.eq(owner)),
            ),
        )
        .set((t::claimed_by.eq(owner), t::claimed_until.eq(until)))
        .execute(conn)?;
        Ok(taken == 1)
    })
}

/// Stores what `owner` computed and ends its lease; nothing is written when the lease was
/// lost to another owner meanwhile (that owner's result will be stored instead). Returns
/// whether it was stored.
pub fn store(
    conn: &mut DbConnection,
    channel_id: i64,
    owner: &str,
    computed: &Computed<'_>,
) -> StoreResult<bool> {
    use channel_snapshots as t;
    let n = diesel::update(t::table.find(channel_id).filter(t::claimed_by.eq(owner)))
        .set((
            t::seq.eq(computed.seq),
            t::definition_hash.eq(computed.definition_hash),
            t::live.eq(computed.live),
            t::digest.eq(computed.digest),
            t::readiness.eq(computed.readiness),
            t::computed_at.eq(Some(computed.computed_at)),
            t::took_ms.eq(computed.took_ms),
            t::claimed_by.eq(None::<String>),
            t::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Ends `owner`'s lease without storing anything (its computation failed).
pub fn release(conn: &mut DbConnection, channel_id: i64, owner: &str) -> StoreResult<()> {
    use channel_snapshots as t;
    diesel::update(t::table.find(channel_id).filter(t::claimed_by.eq(owner)))
        .set((
            t::claimed_by.eq(None::<String>),
            t::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}
