//! Queries on `resellers` and `reseller_channels`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{reseller_channels, resellers, tokens};
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

/// Creates or replaces a reseller and its channel access; true when created.
pub fn put(
    conn: &mut DbConnection,
    code: &str,
    name: &str,
    email: &str,
    channels: &[String],
) -> StoreResult<bool> {
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
    diesel::delete(reseller_channels::table.filter(reseller_channels::reseller_code.eq(code)))
        .execute(conn)?;
    for channel in channels {
        diesel::insert_into(reseller_channels::table)
            .values((
                reseller_channels::reseller_code.eq(code),
                reseller_channels::channel_code.eq(channel),
            ))
            .execute(conn)?;
    }
    Ok(created)
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
        .filter(reseller_channels::reseller_code.eq(code))
        .order(reseller_channels::channel_code.asc())
        .select(reseller_channels::channel_code)
        .load(conn)?)
}

/// Deletes a reseller, its channel access and its tokens.
pub fn delete(conn: &mut DbConnection, code: &str) -> StoreResult<bool> {
    diesel::delete(tokens::table.filter(tokens::reseller_code.eq(code))).execute(conn)?;
    diesel::delete(reseller_channels::table.filter(reseller_channels::reseller_code.eq(code)))
        .execute(conn)?;
    Ok(diesel::delete(resellers::table.find(code)).execute(conn)? > 0)
}
