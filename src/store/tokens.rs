//! Queries on `tokens`: API tokens, stored as SHA-256 of the secret.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::tokens;
use super::{DbConnection, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct TokenRow {
    pub id: i64,
    pub token_hash: String,
    pub name: String,
    pub role: String,
    pub reseller_code: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tokens)]
pub struct NewToken<'a> {
    pub token_hash: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub reseller_code: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

pub fn find_by_hash(conn: &mut DbConnection, token_hash: &str) -> StoreResult<Option<TokenRow>> {
    Ok(tokens::table
        .filter(tokens::token_hash.eq(token_hash))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert(conn: &mut DbConnection, token: &NewToken<'_>) -> StoreResult<()> {
    diesel::insert_into(tokens::table)
        .values(token)
        .execute(conn)?;
    Ok(())
}

pub fn count_role(conn: &mut DbConnection, role: &str) -> StoreResult<i64> {
    Ok(tokens::table
        .filter(tokens::role.eq(role))
        .count()
        .get_result(conn)?)
}
