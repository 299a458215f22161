//! What the in-memory access table (`api::token_table`) reads besides tokens: each channel's
//! head (what a feed's ETag derives from) and every grant. Both are small: one row per
//! channel, one per (reseller, channel).

use diesel::prelude::*;

use super::schema::{channels, reseller_channels};
use super::{DbConnection, StoreResult};

/// A channel as a conditional feed request needs it.
#[derive(Debug, Clone, Queryable)]
pub struct ChannelHead {
    pub id: i64,
    pub code: String,
    pub last_seq: i64,
    pub definition_hash: String,
}

/// Every channel's head.
pub fn channel_heads(conn: &mut DbConnection) -> StoreResult<Vec<ChannelHead>> {
    Ok(channels::table
        .select((
            channels::id,
            channels::code,
            channels::last_seq,
            channels::definition_hash,
        ))
        .load(conn)?)
}

/// Every grant: (reseller code, channel id).
pub fn grants(conn: &mut DbConnection) -> StoreResult<Vec<(String, i64)>> {
    Ok(reseller_channels::table
        .select((
            reseller_channels::reseller_code,
            reseller_channels::channel_id,
        ))
        .load(conn)?)
}
