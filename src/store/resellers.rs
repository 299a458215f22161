//! Queries on `resellers` and `reseller_channels`. A grant names the channel by its id, never
//! by its code: a channel deleted and created again with the same code starts with no grants.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{channels, reseller_channels, resellers, tokens};
use super::{now, DbConnection, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = resellers)]
pub struct ResellerRow {
    pub code: String,
    pub name: String,
    pub email: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What a `put` did: whether it created the reseller, and the channel ids whose grant it
/// withdrew.
#[derive(Debug, Clone, Default)]
pub struct Put {
    pub created: bool,
    pub withdrawn: Vec<i64>,
}

/// Creates or replaces a reseller and its channel access (channel codes, resolved to the
/// channels that have them now; unknown codes are skipped, the caller checks them first).
pub fn put(
    conn: &mut DbConnection,
    code: &str,
    name: &str,
    email: &str,
    channels: &[String],
) -> StoreResult<Put> {
    let at = now();
    let created = get(conn, code)?.is_none();
    if created {
        diesel::insert_into(resellers::table)
            .values((
                resellers::code.eq(code),
                resellers::name.eq(name),
                resellers::email.eq(email),
                resellers::created_at.eq(at),
                resellers::updated_at.eq(at),
            ))
            .execute(conn)?;
    } else {
        diesel::update(resellers::table.find(code))
            .set((
                resellers::name.eq(name),
                resellers::email.eq(email),
                resellers::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    let before = channel_ids_of(conn, code)?;
    let after: Vec<i64> = channels::table
        .filter(channels::code.eq_any(channels))
        .select(channels::id)
        .load(conn)?;
    diesel::delete(reseller_channels::table.filter(reseller_channels::reseller_code.eq(code)))
        .execute(conn)?;
    for channel_id in &after {
        diesel::insert_into(reseller_channels::table)
            .values((
                reseller_channels::reseller_code.eq(code),
                reseller_channels::channel_id.eq(channel_id),
            ))
            .execute(conn)?;
    }
    let withdrawn = before
        .into_iter()
        .filter(|id| !after.contains(id))
        .collect();
    Ok(Put { created, withdrawn })
}

/// The ids of the channels a reseller holds a grant on.
pub fn channel_ids_of(conn: &mut DbConnection, code: &str) -> StoreResult<Vec<i64>> {
    Ok(reseller_channels::table
        .filter(reseller_channels::reseller_code.eq(code))
        .order(reseller_channels::channel_id.asc())
        .select(reseller_channels::channel_id)
        .load(conn)?)
}

/// Whether a reseller holds a grant on the channel `channel_id` now.
pub fn may_read(conn: &mut DbConnection, code: &str, channel_id: i64) -> StoreResult<bool> {
    let n: i64 = reseller_channels::table
        .filter(reseller_channels::reseller_code.eq(code))
        .filter(reseller_channels::channel_id.eq(channel_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

pub fn get(conn: &mut DbConnection, code: &str) -> StoreResult<Option<ResellerRow>> {
    Ok(resellers::table
        .find(code)
        .select(ResellerRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list(conn: &mut DbConnection) -> StoreResult<Vec<ResellerRow>> {
    Ok(resellers::table
        .order(resellers::code.asc())
        .select(ResellerRow::as_select())
        .load(conn)?)
}

/// The channel codes a reseller may read, sorted.
pub fn channels_of(conn: &mut DbConnection, code: &str) -> StoreResult<Vec<String>> {
    Ok(reseller_channels::table
        .inner_join(channels::table)
        .filter(reseller_channels::reseller_code.eq(code))
        .order(channels::code.asc())
        .select(channels::code)
        .load(conn)?)
}

/// Deletes a reseller, its channel access and its tokens.
pub fn delete(conn: &mut DbConnection, code: &str) -> StoreResult<bool> {
    diesel::delete(tokens::table.filter(tokens::reseller_code.eq(code))).execute(conn)?;
    diesel::delete(reseller_channels::table.filter(reseller_channels::reseller_code.eq(code)))
        .execute(conn)?;
    Ok(diesel::delete(resellers::table.find(code)).execute(conn)? > 0)
}

/// Locks the grants a withdrawal is about to remove (a reseller's, or those on a channel) for
/// this transaction: on PostgreSQL `SELECT … FOR UPDATE`, so that a subscription being created
/// under one of them ([`lock_grant`]) commits first and is then ended with the others. SQLite
/// has a single writer anyway.
pub fn lock_grants(
    conn: &mut DbConnection,
    reseller: Option<&str>,
    channel_id: Option<i64>,
) -> StoreResult<()> {
    let DbConnection::Postgres(c) = conn else {
        return Ok(());
    };
    let query = reseller_channels::table.select(reseller_channels::channel_id);
    match (reseller, channel_id) {
        (Some(r), _) => query
            .filter(reseller_channels::reseller_code.eq(r))
            .for_update()
            .load::<i64>(c)?,
        (None, Some(id)) => query
            .filter(reseller_channels::channel_id.eq(id))
            .for_update()
            .load::<i64>(c)?,
        (None, None) => query.for_update().load::<i64>(c)?,
    };
    Ok(())
}

/// Whether `reseller` holds a grant on `channel_id`, holding it (PostgreSQL `FOR SHARE`) until
/// this transaction ends: a withdrawal waits for it.
pub fn lock_grant(conn: &mut DbConnection, reseller: &str, channel_id: i64) -> StoreResult<bool> {
    let query = reseller_channels::table
        .filter(reseller_channels::reseller_code.eq(reseller))
        .filter(reseller_channels::channel_id.eq(channel_id))
        .select(reseller_channels::channel_id);
    let found = match conn {
        DbConnection::Postgres(c) => query.for_share().first::<i64>(c).optional()?,
        DbConnection::Sqlite(c) => query.first::<i64>(c).optional()?,
    };
    Ok(found.is_some())
}

/// Locks a reseller's row for this transaction (PostgreSQL `FOR UPDATE`; SQLite has one
/// writer), so that a count of its subscriptions and the insert that depends on it do not
/// interleave with another's. Take it after [`lock_grant`], in the order withdrawals lock.
pub fn lock_row(conn: &mut DbConnection, code: &str) -> StoreResult<()> {
    if let DbConnection::Postgres(c) = conn {
        resellers::table
            .find(code)
            .select(resellers::code)
            .for_update()
            .first::<String>(c)
            .optional()?;
    }
    Ok(())
}

/// Deletes every grant on a channel (before the channel itself).
pub fn revoke_channel(conn: &mut DbConnection, channel_id: i64) -> StoreResult<()> {
    diesel::delete(reseller_channels::table.filter(reseller_channels::channel_id.eq(channel_id)))
        .execute(conn)?;
    Ok(())
}

/// The resellers granted a channel, by code.
pub fn granted(conn: &mut DbConnection, channel_id: i64) -> StoreResult<Vec<String>> {
    Ok(reseller_channels::table
        .filter(reseller_channels::channel_id.eq(channel_id))
        .order(reseller_channels::reseller_code.asc())
        .select(reseller_channels::reseller_code)
        .load(conn)?)
}
