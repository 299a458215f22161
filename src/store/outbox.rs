//! Queries on `catalog_outbox`: one row per committed catalog change, consumed by row (never by
//! a high-water mark, since ids of concurrent writers commit out of order).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::products::INSERT_CHUNK;
use super::schema::catalog_outbox;
use super::{DbConnection, StoreResult};

/// One catalog change: the new content hash, or `None` for a deletion.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = catalog_outbox)]
pub struct NewOutboxEvent<'a> {
    pub sku: &'a str,
    // The column has no default: NULL as before, and SQLite rows go in multi-row INSERTs.
    #[diesel(treat_none_as_null = true)]
    pub hash: Option<&'a str>,
    pub by_name: &'a str,
    pub at: NaiveDateTime,
    /// Part of a large batch or an import: served after the interactive lane.
    pub bulk: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = catalog_outbox)]
pub struct OutboxEvent {
    pub id: i64,
    pub sku: String,
    pub hash: Option<String>,
    pub by_name: String,
    pub at: NaiveDateTime,
    pub bulk: bool,
}

pub fn insert(conn: &mut DbConnection, rows: &[NewOutboxEvent<'_>]) -> StoreResult<()> {
    use super::sqlite_sql::{self, Bind};
    if let DbConnection::Sqlite(c) = conn {
        sqlite_sql::insert(
            c,
            "INSERT INTO catalog_outbox (sku, hash, by_name, at, bulk) VALUES ",
            "",
            rows,
            |row| {
                [
                    Bind::Text(row.sku),
                    Bind::OptText(row.hash),
                    Bind::Text(row.by_name),
                    Bind::OptTime(Some(row.at)),
                    Bind::Int(i64::from(row.bulk)),
                ]
            },
        )?;
        return Ok(());
    }
    super::products::insert_batched!(conn, catalog_outbox::table, rows, 5);
    Ok(())
}

/// Unprocessed events, oldest first.
pub fn pending(conn: &mut DbConnection, limit: i64) -> StoreResult<Vec<OutboxEvent>> {
    Ok(catalog_outbox::table
        .order(catalog_outbox::id.asc())
        .limit(limit)
        .select(OutboxEvent::as_select())
        .load(conn)?)
}

/// Takes up to `limit` events that some group of `groups` (a bit mask of channel groups) has not
/// applied yet, oldest first, from the interactive lane while it has any and from the bulk lane
/// otherwise (unless `bulk_too` is false). On PostgreSQL rows another generator holds are skipped (`FOR UPDATE SKIP
/// LOCKED`); SQLite has a single writer.
///
/// Serving the lanes out of order is safe: an event only says that a product changed, and the
/// generator projects the product as it is when it handles the event. Applying an event twice
/// is as harmless: the second finds the hashes it would write already stored.
pub fn claim(
    conn: &mut DbConnection,
    groups: i64,
    limit: i64,
    bulk_too: bool,
) -> StoreResult<Vec<OutboxEvent>> {
    // `groups` is a number of ours, never input: it is written into the statement as is.
    let pending = diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "(done_groups & {groups}) <> {groups}"
    ));
    let lanes: &[bool] = if bulk_too { &[false, true] } else { &[false] };
    for &bulk in lanes {
        let query = catalog_outbox::table
            .filter(lane(bulk))
            .filter(pending.clone())
            .order((catalog_outbox::bulk.asc(), catalog_outbox::id.asc()))
            .limit(limit);
        let events = match conn {
            DbConnection::Postgres(c) => query
                .select(OutboxEvent::as_select())
                .for_update()
                .skip_locked()
                .load(c)?,
            DbConnection::Sqlite(c) => query.select(OutboxEvent::as_select()).load(c)?,
        };
        if !events.is_empty() {
            return Ok(events);
        }
    }
    Ok(Vec::new())
}

/// The events of one lane, found on the lane's index `(bulk, id)` whatever the planner believes
/// of the outbox: a query ordered by `(bulk, id)` with the lane as a range (`bulk < TRUE`, not
/// `bulk = FALSE`, which would fix `bulk` and leave the order to the primary key as well).
///
/// With `bulk = $1`, PostgreSQL planned the statement once for both lanes after five runs and
/// took the primary key, reading every event of the other lane to find none of this one: the
/// newest interactive event behind 200,000 bulk ones took 39 ms, against 0.02 ms on the lane's
/// index, and during a whole-catalog change that lookup was up to a quarter of the statements
/// PostgreSQL ran (sampled).
fn lane(bulk: bool) -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql(if bulk { "bulk > FALSE" } else { "bulk < TRUE" })
}

/// The id of the newest event of the interactive lane, if it holds any.
pub fn newest_interactive(conn: &mut DbConnection) -> StoreResult<Option<i64>> {
    Ok(catalog_outbox::table
        .filter(lane(false))
        .order((catalog_outbox::bulk.desc(), catalog_outbox::id.desc()))
        .select(catalog_outbox::id)
        .first::<i64>(conn)
        .optional()?)
}

/// Records, in the transaction that applied them, that the groups `groups` have applied the
/// events `ids`, and deletes those that every group of `all` has now applied. Returns how many
/// it deleted.
pub fn finish(conn: &mut DbConnection, ids: &[i64], groups: i64, all: i64) -> StoreResult<usize> {
    let mut deleted = 0;
    for chunk in ids.chunks(INSERT_CHUNK) {
        let these = || catalog_outbox::table.filter(catalog_outbox::id.eq_any(chunk));
        if groups == all {
            deleted += diesel::delete(these()).execute(conn)?;
            continue;
        }
        // A number of ours, as in `claim`.
        let done =
            diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!("done_groups | {groups}"));
        diesel::update(these())
            .set(catalog_outbox::done_groups.eq(done))
            .execute(conn)?;
        deleted +=
            diesel::delete(these().filter(catalog_outbox::done_groups.eq(all))).execute(conn)?;
    }
    Ok(deleted)
}

/// Events not yet applied, and when the oldest was made: the first by id, found on the primary
/// key (a `min` over the times would read the whole outbox, which a large batch fills).
///
/// With a `cap`, at most `cap + 1` events are counted, on the primary key: a page can say
/// "more than `cap`" without reading an outbox a large batch filled. Without one the count is
/// exact, and reads the whole table (on PostgreSQL with its dead rows too, until a vacuum).
pub fn backlog(
    conn: &mut DbConnection,
    cap: Option<i64>,
) -> StoreResult<(i64, Option<NaiveDateTime>)> {
    let count = match cap {
        Some(cap) => catalog_outbox::table
            .select(catalog_outbox::id)
            .order(catalog_outbox::id.asc())
            .limit(cap + 1)
            .load::<i64>(conn)?
            .len() as i64,
        None => catalog_outbox::table.count().get_result(conn)?,
    };
    let oldest = catalog_outbox::table
        .order(catalog_outbox::id.asc())
        .select(catalog_outbox::at)
        .first(conn)
        .optional()?;
    Ok((count, oldest))
}
