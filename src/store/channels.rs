//! Queries on `channels`: definitions, sequence counters and re-evaluation progress.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::channels;
use super::{now, DbConnection, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = channels)]
pub struct ChannelRow {
    pub id: i64,
    pub code: String,
    pub definition: String,
    pub definition_hash: String,
    pub evaluated_hash: Option<String>,
    pub reeval_after: Option<String>,
    pub last_seq: i64,
    pub purged_seq: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = channels)]
struct NewChannel<'a> {
    code: &'a str,
    definition: &'a str,
    definition_hash: &'a str,
    evaluated_hash: Option<&'a str>,
    reeval_after: Option<&'a str>,
    last_seq: i64,
    purged_seq: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// What `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// The definition changed: a re-evaluation of the catalog is scheduled.
    Updated,
    Unchanged,
}

pub fn get(conn: &mut DbConnection, code: &str) -> StoreResult<Option<ChannelRow>> {
    Ok(channels::table
        .filter(channels::code.eq(code))
        .select(ChannelRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn get_by_id(conn: &mut DbConnection, id: i64) -> StoreResult<Option<ChannelRow>> {
    Ok(channels::table
        .find(id)
        .select(ChannelRow::as_select())
        .first(conn)
        .optional()?)
}

/// All channels (or only `codes`), by code.
pub fn list(conn: &mut DbConnection, codes: Option<&[String]>) -> StoreResult<Vec<ChannelRow>> {
    let query = channels::table
        .select(ChannelRow::as_select())
        .order(channels::code.asc());
    Ok(match codes {
        Some(codes) => query.filter(channels::code.eq_any(codes)).load(conn)?,
        None => query.load(conn)?,
    })
}

/// Creates or redefines a channel. A new definition hash schedules a re-evaluation of the
/// whole catalog from the first SKU.
pub fn put(
    conn: &mut DbConnection,
    code: &str,
    definition: &str,
    definition_hash: &str,
) -> StoreResult<PutOutcome> {
    let at = now();
    match get(conn, code)? {
        None => {
            diesel::insert_into(channels::table)
                .values(NewChannel {
                    code,
                    definition,
                    definition_hash,
                    evaluated_hash: None,
                    reeval_after: Some(""),
                    last_seq: 0,
                    purged_seq: 0,
                    created_at: at,
                    updated_at: at,
                })
                .execute(conn)?;
            Ok(PutOutcome::Created)
        }
        Some(row) if row.definition_hash == definition_hash && row.definition == definition => {
            Ok(PutOutcome::Unchanged)
        }
        Some(row) => {
            let reeval = row.definition_hash != definition_hash;
            diesel::update(channels::table.find(row.id))
                .set((
                    channels::definition.eq(definition),
                    channels::definition_hash.eq(definition_hash),
                    channels::updated_at.eq(at),
                ))
                .execute(conn)?;
            if reeval {
                diesel::update(channels::table.find(row.id))
                    .set(channels::reeval_after.eq(Some("")))
                    .execute(conn)?;
            }
            Ok(PutOutcome::Updated)
        }
    }
}

pub fn delete(conn: &mut DbConnection, code: &str) -> StoreResult<bool> {
    Ok(diesel::delete(channels::table.filter(channels::code.eq(code))).execute(conn)? > 0)
}

/// Channels are generated in groups, independently of each other: a channel is in group
/// `id % GROUPS`. The outbox records which groups applied an event in a bit mask of this width.
pub const GROUPS: u32 = 8;

/// Every group, as a bit mask.
pub const ALL_GROUPS: i64 = (1 << GROUPS) - 1;

/// The channels of the groups `groups` (a bit mask), locked for this transaction
/// (PostgreSQL; SQLite write transactions are exclusive) in id order, the one order every
/// generator takes channel locks in.
pub fn lock_groups(conn: &mut DbConnection, groups: i64) -> StoreResult<Vec<ChannelRow>> {
    let members: Vec<String> = (0..GROUPS)
        .filter(|g| groups & (1 << g) != 0)
        .map(|g| g.to_string())
        .collect();
    // Numbers of ours, never input.
    let in_groups =
        diesel::dsl::sql::<diesel::sql_types::Bool>(&if groups & ALL_GROUPS == ALL_GROUPS {
            "1 = 1".to_string()
        } else {
            format!("id % {GROUPS} IN ({})", members.join(", "))
        });
    let query = channels::table.filter(in_groups).order(channels::id.asc());
    Ok(match conn {
        DbConnection::Postgres(c) => query.select(ChannelRow::as_select()).for_update().load(c)?,
        DbConnection::Sqlite(c) => query.select(ChannelRow::as_select()).load(c)?,
    })
}

/// Takes the generator's lock on channel group `group` for this transaction, unless another
/// generator holds it: false then, and the caller moves on to another group instead of waiting.
/// PostgreSQL: a transaction-scoped advisory lock (the two-key space, apart from the per-SKU
/// locks); SQLite: always true, its write transactions are already exclusive.
pub fn try_lock_group(conn: &mut DbConnection, group: u32) -> StoreResult<bool> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    let DbConnection::Postgres(c) = conn else {
        return Ok(true);
    };
    let row: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock(7273, $1) AS locked")
        .bind::<diesel::sql_types::Integer, _>(group as i32)
        .get_result(c)?;
    Ok(row.locked)
}

/// One channel, locked like [`lock_groups`].
pub fn lock(conn: &mut DbConnection, id: i64) -> StoreResult<Option<ChannelRow>> {
    let query = channels::table.find(id);
    Ok(match conn {
        DbConnection::Postgres(c) => query
            .select(ChannelRow::as_select())
            .for_update()
            .first(c)
            .optional()?,
        DbConnection::Sqlite(c) => query.select(ChannelRow::as_select()).first(c).optional()?,
    })
}

pub fn set_last_seq(conn: &mut DbConnection, id: i64, last_seq: i64) -> StoreResult<()> {
    if let DbConnection::Sqlite(c) = conn {
        // Once a channel a generator step: prepared once (see `sqlite_sql`).
        use super::sqlite_sql::{Bind, Sql};
        let mut q = Sql::<()>::new("UPDATE channels SET last_seq = ");
        q.bind(Bind::Int(last_seq))
            .sql(" WHERE id = ")
            .bind(Bind::Int(id));
        q.execute(c)?;
        return Ok(());
    }
    diesel::update(channels::table.find(id))
        .set(channels::last_seq.eq(last_seq))
        .execute(conn)?;
    Ok(())
}

/// Records re-evaluation progress: the last SKU done, or completion against `evaluated_hash`.
pub fn set_reeval(
    conn: &mut DbConnection,
    id: i64,
    reeval_after: Option<&str>,
    evaluated_hash: Option<&str>,
) -> StoreResult<()> {
    diesel::update(channels::table.find(id))
        .set((
            channels::reeval_after.eq(reeval_after),
            channels::evaluated_hash.eq(evaluated_hash),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_purged_seq(conn: &mut DbConnection, id: i64, purged_seq: i64) -> StoreResult<()> {
    diesel::update(channels::table.find(id))
        .set(channels::purged_seq.eq(purged_seq))
        .execute(conn)?;
    Ok(())
}
