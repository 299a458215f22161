//! Queries on `tokens`: API tokens, stored as SHA-256 of the secret, each with a public id.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::tokens;
use super::{DbConnection, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct TokenRow {
    pub id: i64,
    pub public_id: String,
    pub token_hash: String,
    pub name: String,
    pub role: String,
    pub reseller_code: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tokens)]
pub struct NewToken<'a> {
    pub public_id: &'a str,
    pub token_hash: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub reseller_code: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
}

pub fn find_by_hash(conn: &mut DbConnection, token_hash: &str) -> StoreResult<Option<TokenRow>> {
    Ok(tokens::table
        .filter(tokens::token_hash.eq(token_hash))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_id(conn: &mut DbConnection, id: i64) -> StoreResult<Option<TokenRow>> {
    Ok(tokens::table
        .find(id)
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts a token; answers its row id.
pub fn insert(conn: &mut DbConnection, token: &NewToken<'_>) -> StoreResult<i64> {
    diesel::insert_into(tokens::table)
        .values(token)
        .execute(conn)?;
    Ok(tokens::table
        .filter(tokens::token_hash.eq(token.token_hash))
        .select(tokens::id)
        .first(conn)?)
}

pub fn count_role(conn: &mut DbConnection, role: &str) -> StoreResult<i64> {
    Ok(tokens::table
        .filter(tokens::role.eq(role))
        .count()
        .get_result(conn)?)
}

/// Locks the admin tokens' rows for this transaction (PostgreSQL `FOR UPDATE`; SQLite has one
/// writer), so that two revocations each checking that an admin is left run one after the
/// other.
pub fn lock_admins(conn: &mut DbConnection) -> StoreResult<()> {
    if let DbConnection::Postgres(c) = conn {
        tokens::table
            .filter(tokens::role.eq("admin"))
            .select(tokens::id)
            .for_update()
            .load::<i64>(c)?;
    }
    Ok(())
}

/// Every token, oldest first: one query, what the authentication table is built from.
pub fn list(conn: &mut DbConnection) -> StoreResult<Vec<TokenRow>> {
    Ok(tokens::table
        .order(tokens::id)
        .select(TokenRow::as_select())
        .load(conn)?)
}

/// Deletes the token with this public id; answers the deleted row.
pub fn delete(conn: &mut DbConnection, public_id: &str) -> StoreResult<Option<TokenRow>> {
    let row = tokens::table
        .filter(tokens::public_id.eq(public_id))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(row) = &row {
        diesel::delete(tokens::table.find(row.id)).execute(conn)?;
    }
    Ok(row)
}

/// Records when tokens were last used (`(row id, time)`); a time never moves back.
pub fn touch(conn: &mut DbConnection, used: &[(i64, NaiveDateTime)]) -> StoreResult<()> {
    for (id, at) in used {
        diesel::update(
            tokens::table.filter(
                tokens::id.eq(id).and(
                    tokens::last_used_at
                        .is_null()
                        .or(tokens::last_used_at.lt(at)),
                ),
            ),
        )
        .set(tokens::last_used_at.eq(at))
        .execute(conn)?;
    }
    Ok(())
}
