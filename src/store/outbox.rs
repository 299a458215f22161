//! Queries on `catalog_outbox`: one row per committed catalog change, consumed by row (never by
//! a high-water mark, since ids of concurrent writers commit out of order).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::products::INSERT_CHUNK;
use super::schema::catalog_outbox;
use super::{DbConnection, StoreResult};
use crate::with_conn;

/// One catalog change: the new content hash, or `None` for a deletion.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = catalog_outbox)]
pub struct NewOutboxEvent<'a> {
    pub sku: &'a str,
    pub hash: Option<&'a str>,
    pub by_name: &'a str,
    pub at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = catalog_outbox)]
pub struct OutboxEvent {
    pub id: i64,
    pub sku: String,
    pub hash: Option<String>,
    pub by_name: String,
    pub at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, rows: &[NewOutboxEvent<'_>]) -> StoreResult<()> {
    for chunk in rows.chunks(INSERT_CHUNK / 4) {
        with_conn!(conn, |c| diesel::insert_into(catalog_outbox::table)
            .values(chunk)
            .execute(c))?;
    }
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
