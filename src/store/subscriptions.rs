//! Queries on `subscriptions` and `delivery_attempts`: per subscription an acknowledged cursor
//! and at most one frozen batch, claimed by one instance at a time through a lease. A
//! subscription is a webhook (`kind = 'webhook'`: url, format, secret) or an e-mail digest
//! (`kind = 'email'`: email, every, next_digest_at); both keep a cursor the same way.
//!
//! Every write the delivery job makes is conditioned on its lease (`lease_owner`) and, for an
//! outcome, on the batch it sent (`batch_id`): a claim taken over after expiry, a replay or a
//! format change in the meantime make a late outcome a no-op instead of a corruption.
//!
//! A subscription ends (`ended_reason`: `access_revoked`, `channel_deleted`,
//! `reseller_deleted`) in the transaction that withdraws its reseller's grant: the row stays,
//! with its channel's code, and nothing is sent for it again. Every statement that starts a
//! send ([`claim`], [`freeze`], [`begin_send`]) and every outcome ([`delivered`], ...) requires
//! it not ended and the grant still held.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    channel_records, channels, confirmation_mails, delivery_attempts, digest_confirmations,
    reseller_channels, resellers, subscriptions,
};
use super::{now, DbConnection, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subscriptions)]
pub struct SubscriptionRow {
    pub id: String,
    pub reseller_code: String,
    pub channel_id: i64,
    pub url: String,
    pub format: String,
    pub secret: String,
    pub old_secret: Option<String>,
    pub old_secret_until: Option<NaiveDateTime>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub cursor_seq: i64,
    pub failures: i32,
    pub batch_id: Option<String>,
    pub batch_from: Option<i64>,
    pub batch_to: Option<i64>,
    pub batch_body: Option<String>,
    pub batch_attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub lease_until: Option<NaiveDateTime>,
    pub lease_owner: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// `webhook` or `email`.
    pub kind: String,
    pub email: Option<String>,
    /// `hourly` or `daily`, for a digest.
    pub every: Option<String>,
    pub next_digest_at: Option<NaiveDateTime>,
    pub behind_since: Option<NaiveDateTime>,
    /// `access_revoked`, `channel_deleted` or `reseller_deleted` once ended.
    pub ended_reason: Option<String>,
    pub ended_at: Option<NaiveDateTime>,
    /// The channel's code, kept once the channel is gone.
    pub channel_code: String,
    /// A digest's address was confirmed.
    pub email_confirmed: bool,
}

pub const WEBHOOK: &str = "webhook";
pub const EMAIL: &str = "email";

pub const ACCESS_REVOKED: &str = "access_revoked";
pub const CHANNEL_DELETED: &str = "channel_deleted";
pub const RESELLER_DELETED: &str = "reseller_deleted";

/// A subscription with its channel's code, its owner's contact address (none once the reseller
/// is deleted) and whether the owner holds a grant on the channel now.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub row: SubscriptionRow,
    pub channel_code: String,
    pub contact: Option<String>,
    pub granted: bool,
}

impl Subscription {
    /// Why the subscription ended, if it did. One without a grant counts as ended
    /// (`access_revoked`) even if no withdrawal marked it (the ending and the withdrawal commit
    /// together, so this is only a second line).
    pub fn ended(&self) -> Option<&str> {
        match &self.row.ended_reason {
            Some(reason) => Some(reason),
            None if !self.granted => Some(ACCESS_REVOKED),
            None => None,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = subscriptions)]
pub struct NewSubscription<'a> {
    pub id: &'a str,
    pub reseller_code: &'a str,
    pub channel_id: i64,
    pub url: &'a str,
    pub format: &'a str,
    pub secret: &'a str,
    pub enabled: bool,
    pub cursor_seq: i64,
    pub failures: i32,
    pub batch_attempts: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub kind: &'a str,
    pub email: Option<&'a str>,
    pub every: Option<&'a str>,
    pub next_digest_at: Option<NaiveDateTime>,
    pub channel_code: &'a str,
    pub email_confirmed: bool,
}

pub fn insert(conn: &mut DbConnection, new: &NewSubscription<'_>) -> StoreResult<()> {
    diesel::insert_into(subscriptions::table)
        .values(new)
        .execute(conn)?;
    Ok(())
}

type Joined = (SubscriptionRow, Option<String>, Option<i64>);

fn joined(rows: Vec<Joined>) -> Vec<Subscription> {
    rows.into_iter()
        .map(|(row, contact, grant)| Subscription {
            channel_code: row.channel_code.clone(),
            row,
            contact,
            granted: grant.is_some(),
        })
        .collect()
}

/// Subscriptions with their owner's contact and grant (left joins: an ended subscription's
/// reseller or channel may be gone).
macro_rules! with_owner {
    () => {
        subscriptions::table
            .left_join(resellers::table)
            .left_join(
                reseller_channels::table.on(reseller_channels::reseller_code
                    .eq(subscriptions::reseller_code)
                    .and(reseller_channels::channel_id.eq(subscriptions::channel_id))),
            )
            .select((
                SubscriptionRow::as_select(),
                resellers::email.nullable(),
                reseller_channels::channel_id.nullable(),
            ))
            .into_boxed()
    };
}

/// One subscription; with `reseller`, only if it belongs to that reseller (a reseller never
/// sees the subscriptions ended by the deletion of a reseller that had the same code).
pub fn get(
    conn: &mut DbConnection,
    id: &str,
    reseller: Option<&str>,
) -> StoreResult<Option<Subscription>> {
    let mut query = with_owner!().filter(subscriptions::id.eq(id));
    if let Some(reseller) = reseller {
        query = query
            .filter(subscriptions::reseller_code.eq(reseller))
            .filter(
                subscriptions::ended_reason
                    .is_null()
                    .or(subscriptions::ended_reason.ne(RESELLER_DELETED)),
            );
    }
    Ok(joined(query.load(conn)?).into_iter().next())
}

/// One subscription, its row locked for this transaction (PostgreSQL `FOR UPDATE`; SQLite has
/// one writer): a withdrawal that would end it waits, or has committed and shows.
pub fn lock(conn: &mut DbConnection, id: &str) -> StoreResult<Option<Subscription>> {
    let query = subscriptions::table.find(id).select(subscriptions::id);
    let found = match conn {
        DbConnection::Postgres(c) => query.for_update().first::<String>(c).optional()?,
        DbConnection::Sqlite(c) => query.first::<String>(c).optional()?,
    };
    match found {
        Some(id) => get(conn, &id, None),
        None => Ok(None),
    }
}

/// Every subscription (or a reseller's), by id.
pub fn list(conn: &mut DbConnection, reseller: Option<&str>) -> StoreResult<Vec<Subscription>> {
    let mut query = with_owner!().order(subscriptions::id.asc());
    if let Some(reseller) = reseller {
        query = query
            .filter(subscriptions::reseller_code.eq(reseller))
            .filter(
                subscriptions::ended_reason
                    .is_null()
                    .or(subscriptions::ended_reason.ne(RESELLER_DELETED)),
            );
    }
    Ok(joined(query.load(conn)?))
}

/// What the notice of an ending lists about one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub id: String,
    pub reseller_code: String,
    pub channel_code: String,
    pub kind: String,
    /// The webhook URL or the digest address.
    pub target: String,
}

/// Ends every live subscription of `reseller` (on `channel_ids` only, when given) or of the
/// channels `channel_ids` (any reseller): `ended_reason`, disabled, frozen batch and claim
/// dropped, pending confirmation deleted. Returns what ended. Call it in the transaction that
/// withdraws the grant, after [`super::resellers::lock_grants`].
pub fn end(
    conn: &mut DbConnection,
    reseller: Option<&str>,
    channel_ids: Option<&[i64]>,
    reason: &str,
) -> StoreResult<Vec<Ended>> {
    let mut query = subscriptions::table
        .filter(subscriptions::ended_reason.is_null())
        .order(subscriptions::id.asc())
        .select((
            subscriptions::id,
            subscriptions::reseller_code,
            subscriptions::channel_code,
            subscriptions::kind,
            subscriptions::url,
            subscriptions::email,
        ))
        .into_boxed();
    if let Some(reseller) = reseller {
        query = query.filter(subscriptions::reseller_code.eq(reseller));
    }
    if let Some(ids) = channel_ids {
        query = query.filter(subscriptions::channel_id.eq_any(ids));
    }
    let rows: Vec<(String, String, String, String, String, Option<String>)> = query.load(conn)?;
    let ids: Vec<&String> = rows.iter().map(|r| &r.0).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let at = now();
    diesel::update(
        subscriptions::table
            .filter(subscriptions::id.eq_any(&ids))
            .filter(subscriptions::ended_reason.is_null()),
    )
    .set((
        subscriptions::ended_reason.eq(Some(reason)),
        subscriptions::ended_at.eq(Some(at)),
        subscriptions::enabled.eq(false),
        subscriptions::lease_owner.eq(None::<String>),
        subscriptions::lease_until.eq(None::<NaiveDateTime>),
        subscriptions::updated_at.eq(at),
    ))
    .execute(conn)?;
    for id in &ids {
        drop_batch(conn, id)?;
    }
    diesel::delete(
        digest_confirmations::table.filter(digest_confirmations::subscription_id.eq_any(&ids)),
    )
    .execute(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, reseller_code, channel_code, kind, url, email)| Ended {
                target: if kind == EMAIL {
                    email.unwrap_or_default()
                } else {
                    url
                },
                id,
                reseller_code,
                channel_code,
                kind,
            },
        )
        .collect())
}

/// Marks the subscriptions of a deleted reseller that had already ended for another reason
/// (`access_revoked`, `channel_deleted`) as `reseller_deleted` too, so that a new reseller
/// given the same code never sees them. Call it in the transaction that deletes the reseller.
pub fn disown_ended(conn: &mut DbConnection, reseller: &str) -> StoreResult<usize> {
    Ok(diesel::update(
        subscriptions::table
            .filter(subscriptions::reseller_code.eq(reseller))
            .filter(subscriptions::ended_reason.ne(RESELLER_DELETED)),
    )
    .set((
        subscriptions::ended_reason.eq(Some(RESELLER_DELETED)),
        subscriptions::updated_at.eq(now()),
    ))
    .execute(conn)?)
}

/// Digest subscriptions of a reseller that have not ended.
pub fn count_digests(conn: &mut DbConnection, reseller: &str) -> StoreResult<i64> {
    Ok(subscriptions::table
        .filter(subscriptions::reseller_code.eq(reseller))
        .filter(subscriptions::kind.eq(EMAIL))
        .filter(subscriptions::ended_reason.is_null())
        .count()
        .get_result(conn)?)
}

/// A digest's new address waits for confirmation: `token_hash` until `expires_at`.
pub fn await_confirmation(
    conn: &mut DbConnection,
    id: &str,
    token_hash: &str,
    expires_at: NaiveDateTime,
) -> StoreResult<()> {
    diesel::delete(digest_confirmations::table.find(id)).execute(conn)?;
    diesel::insert_into(digest_confirmations::table)
        .values((
            digest_confirmations::subscription_id.eq(id),
            digest_confirmations::token_hash.eq(token_hash),
            digest_confirmations::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    diesel::update(subscriptions::table.find(id))
        .set(subscriptions::email_confirmed.eq(false))
        .execute(conn)?;
    Ok(())
}

/// Counts one confirmation mail against `reseller`'s budget: at most `limit` in a `window` that
/// starts with the first mail after the previous window ended. Answers `None` when counted, or
/// the end of the current window when the budget is spent (nothing counted). Call it in the
/// transaction that records the pending confirmation, with the reseller's row locked
/// ([`super::resellers::lock_row`]), so concurrent requests count one after the other.
pub fn count_confirmation_mail(
    conn: &mut DbConnection,
    reseller: &str,
    at: NaiveDateTime,
    limit: i32,
    window: chrono::Duration,
) -> StoreResult<Option<NaiveDateTime>> {
    let current: Option<(NaiveDateTime, i32)> = confirmation_mails::table
        .find(reseller)
        .select((confirmation_mails::window_start, confirmation_mails::sent))
        .first(conn)
        .optional()?;
    let row = confirmation_mails::table.find(reseller);
    match current {
        Some((start, sent)) if at < start + window => {
            if sent >= limit {
                return Ok(Some(start + window));
            }
            diesel::update(row)
                .set(confirmation_mails::sent.eq(sent + 1))
                .execute(conn)?;
        }
        Some(_) => {
            diesel::update(row)
                .set((
                    confirmation_mails::window_start.eq(at),
                    confirmation_mails::sent.eq(1),
                ))
                .execute(conn)?;
        }
        None => {
            diesel::insert_into(confirmation_mails::table)
                .values((
                    confirmation_mails::reseller_code.eq(reseller),
                    confirmation_mails::window_start.eq(at),
                    confirmation_mails::sent.eq(1),
                ))
                .execute(conn)?;
        }
    }
    Ok(None)
}

/// Confirms the digest whose pending token hashes to `token_hash`, if it has not expired at
/// `at` and the subscription has not ended; the token is used up. Returns the subscription id.
pub fn confirm(
    conn: &mut DbConnection,
    token_hash: &str,
    at: NaiveDateTime,
) -> StoreResult<Option<String>> {
    let found: Option<(String, NaiveDateTime)> = digest_confirmations::table
        .filter(digest_confirmations::token_hash.eq(token_hash))
        .select((
            digest_confirmations::subscription_id,
            digest_confirmations::expires_at,
        ))
        .first(conn)
        .optional()?;
    let Some((id, expires_at)) = found else {
        return Ok(None);
    };
    if expires_at <= at {
        return Ok(None);
    }
    diesel::delete(digest_confirmations::table.find(&id)).execute(conn)?;
    let n = diesel::update(
        subscriptions::table
            .find(&id)
            .filter(subscriptions::ended_reason.is_null()),
    )
    .set((
        subscriptions::email_confirmed.eq(true),
        subscriptions::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok((n == 1).then_some(id))
}

pub fn delete(conn: &mut DbConnection, id: &str) -> StoreResult<bool> {
    diesel::delete(digest_confirmations::table.find(id)).execute(conn)?;
    diesel::delete(delivery_attempts::table.filter(delivery_attempts::subscription_id.eq(id)))
        .execute(conn)?;
    Ok(diesel::delete(subscriptions::table.find(id)).execute(conn)? > 0)
}

pub fn set_url(conn: &mut DbConnection, id: &str, url: &str) -> StoreResult<()> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::url.eq(url),
            subscriptions::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A digest's new recipient.
pub fn set_email(conn: &mut DbConnection, id: &str, email: &str) -> StoreResult<()> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::email.eq(Some(email)),
            subscriptions::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A digest's new period, and when the next digest is due.
pub fn set_every(
    conn: &mut DbConnection,
    id: &str,
    every: &str,
    next_digest_at: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::every.eq(Some(every)),
            subscriptions::next_digest_at.eq(Some(next_digest_at)),
            subscriptions::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A new format: the frozen batch, rendered in the old one, is dropped (rebuilt from the cursor).
pub fn set_format(conn: &mut DbConnection, id: &str, format: &str) -> StoreResult<()> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::format.eq(format),
            subscriptions::updated_at.eq(now()),
        ))
        .execute(conn)?;
    drop_batch(conn, id)
}

/// The changes that drop a subscription's frozen batch.
macro_rules! no_batch {
    () => {
        (
            subscriptions::batch_id.eq(None::<String>),
            subscriptions::batch_from.eq(None::<i64>),
            subscriptions::batch_to.eq(None::<i64>),
            subscriptions::batch_body.eq(None::<String>),
            subscriptions::batch_attempts.eq(0),
            subscriptions::next_attempt_at.eq(None::<NaiveDateTime>),
        )
    };
}

fn drop_batch(conn: &mut DbConnection, id: &str) -> StoreResult<()> {
    diesel::update(subscriptions::table.find(id))
        .set(no_batch!())
        .execute(conn)?;
    Ok(())
}

/// Stops deliveries, keeping the cursor.
pub fn disable(conn: &mut DbConnection, id: &str, reason: &str) -> StoreResult<()> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::enabled.eq(false),
            subscriptions::disabled_reason.eq(Some(reason)),
            subscriptions::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Resumes from the cursor: whatever changed meanwhile goes out as fresh current-state batches.
pub fn enable(conn: &mut DbConnection, id: &str) -> StoreResult<()> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::enabled.eq(true),
            subscriptions::disabled_reason.eq(None::<String>),
            subscriptions::failures.eq(0),
            subscriptions::updated_at.eq(now()),
        ))
        .execute(conn)?;
    drop_batch(conn, id)
}

/// Moves the cursor (back, usually) and drops the frozen batch.
pub fn set_cursor(conn: &mut DbConnection, id: &str, seq: i64) -> StoreResult<()> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::cursor_seq.eq(seq),
            subscriptions::failures.eq(0),
            // Marked again by the next delivery pass if the cursor is behind.
            subscriptions::behind_since.eq(None::<NaiveDateTime>),
            subscriptions::updated_at.eq(now()),
        ))
        .execute(conn)?;
    drop_batch(conn, id)
}

/// A new secret; the previous one stays valid (both signatures sent) until `old_until`.
pub fn rotate_secret(
    conn: &mut DbConnection,
    id: &str,
    secret: &str,
    old: &str,
    old_until: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::secret.eq(secret),
            subscriptions::old_secret.eq(Some(old)),
            subscriptions::old_secret_until.eq(Some(old_until)),
            subscriptions::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Which stored secret of a webhook: the one in force or the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretColumn {
    Current,
    Previous,
}

/// Every subscription's id and stored secrets (current, previous), as stored.
pub fn stored_secrets(
    conn: &mut DbConnection,
) -> StoreResult<Vec<(String, String, Option<String>)>> {
    Ok(subscriptions::table
        .select((
            subscriptions::id,
            subscriptions::secret,
            subscriptions::old_secret,
        ))
        .order(subscriptions::id)
        .load(conn)?)
}

/// Replaces one stored secret, only if it still is `old` (so that two instances never encrypt
/// a value twice); answers how many rows changed.
pub fn replace_secret(
    conn: &mut DbConnection,
    id: &str,
    column: SecretColumn,
    old: &str,
    new: &str,
) -> StoreResult<usize> {
    let row = subscriptions::table.find(id);
    Ok(match column {
        SecretColumn::Current => diesel::update(row.filter(subscriptions::secret.eq(old)))
            .set(subscriptions::secret.eq(new))
            .execute(conn)?,
        SecretColumn::Previous => diesel::update(row.filter(subscriptions::old_secret.eq(old)))
            .set(subscriptions::old_secret.eq(Some(new)))
            .execute(conn)?,
    })
}

/// Ids of enabled subscriptions with work due at `at` and no live claim: a frozen batch whose
/// next attempt is due, or changes after their cursor.
pub fn due(conn: &mut DbConnection, at: NaiveDateTime, limit: i64) -> StoreResult<Vec<String>> {
    Ok(subscriptions::table
        .inner_join(channels::table)
        .filter(subscriptions::kind.eq(WEBHOOK))
        .filter(subscriptions::enabled.eq(true))
        .filter(subscriptions::ended_reason.is_null())
        .filter(
            subscriptions::lease_until
                .is_null()
                .or(subscriptions::lease_until.lt(at)),
        )
        .filter(
            subscriptions::next_attempt_at
                .is_null()
                .or(subscriptions::next_attempt_at.le(at)),
        )
        .filter(
            subscriptions::batch_id
                .is_not_null()
                .or(subscriptions::cursor_seq.lt(channels::last_seq)),
        )
        .order(subscriptions::next_attempt_at.asc())
        .limit(limit)
        .select(subscriptions::id)
        .load(conn)?)
}

/// The subscription's reseller holds a grant on its channel: a subquery correlated with the
/// subscription's row, so that a claim or a send check is one statement.
macro_rules! grant_held {
    () => {
        diesel::dsl::exists(
            reseller_channels::table
                .filter(reseller_channels::reseller_code.eq(subscriptions::reseller_code))
                .filter(reseller_channels::channel_id.eq(subscriptions::channel_id)),
        )
    };
}

/// Takes (or extends) the claim on a subscription until `until`, if it is enabled, not ended,
/// its owner still holds the grant on its channel, and it is free (or already ours). One
/// statement: of two instances, exactly one gets it.
pub fn claim(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    at: NaiveDateTime,
    until: NaiveDateTime,
) -> StoreResult<bool> {
    let n = diesel::update(
        subscriptions::table
            .find(id)
            .filter(subscriptions::enabled.eq(true))
            .filter(subscriptions::ended_reason.is_null())
            .filter(grant_held!())
            .filter(
                subscriptions::lease_until
                    .is_null()
                    .or(subscriptions::lease_until.lt(at))
                    .or(subscriptions::lease_owner.eq(owner)),
            ),
    )
    .set((
        subscriptions::lease_until.eq(Some(until)),
        subscriptions::lease_owner.eq(Some(owner)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Gives the claim up.
pub fn release(conn: &mut DbConnection, id: &str, owner: &str) -> StoreResult<()> {
    diesel::update(
        subscriptions::table
            .find(id)
            .filter(subscriptions::lease_owner.eq(owner)),
    )
    .set((
        subscriptions::lease_until.eq(None::<NaiveDateTime>),
        subscriptions::lease_owner.eq(None::<String>),
    ))
    .execute(conn)?;
    Ok(())
}

/// One logged attempt.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = delivery_attempts)]
pub struct AttemptRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub subscription_id: String,
    pub at: NaiveDateTime,
    pub webhook_id: String,
    pub from_seq: i64,
    pub to_seq: i64,
    pub status: Option<i32>,
    pub latency_ms: i64,
    pub response: Option<String>,
    pub error: Option<String>,
}

pub fn log_attempt(conn: &mut DbConnection, attempt: &AttemptRow) -> StoreResult<()> {
    diesel::insert_into(delivery_attempts::table)
        .values(attempt)
        .execute(conn)?;
    Ok(())
}

/// The latest attempts first, at most `limit`, older than `before` (an attempt id) if given.
pub fn attempts(
    conn: &mut DbConnection,
    id: &str,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<AttemptRow>> {
    let mut query = delivery_attempts::table
        .filter(delivery_attempts::subscription_id.eq(id))
        .order(delivery_attempts::id.desc())
        .limit(limit)
        .select(AttemptRow::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(delivery_attempts::id.lt(before));
    }
    Ok(query.load(conn)?)
}

/// What a send starts ([`begin_send`]).
#[derive(Debug, Clone)]
pub enum Start {
    /// A digest: its address must be confirmed.
    Digest,
    /// A webhook's batch frozen earlier (being retried or resumed), by its id.
    Frozen(String),
    /// A webhook's new batch after its cursor `from`, frozen by the statement that starts its
    /// send, if no batch is frozen and the cursor has not moved.
    Freeze {
        batch_id: String,
        from: i64,
        to: i64,
        body: String,
    },
}

/// The statement that starts a send, run right before the bytes leave: true when `owner` still
/// holds the claim, the batch of `start` is (or, newly frozen, becomes) the subscription's
/// batch, the subscription is enabled and not ended, a digest's address is confirmed, and the
/// owner holds the grant on the channel. An `UPDATE`, so that on PostgreSQL it waits for the
/// row lock of a withdrawal in progress and then sees it committed; on SQLite it is a write,
/// serialised with every withdrawal.
pub fn begin_send(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    start: &Start,
) -> StoreResult<bool> {
    let target = subscriptions::table
        .filter(subscriptions::id.eq(id))
        .filter(subscriptions::lease_owner.eq(owner))
        .filter(subscriptions::enabled.eq(true))
        .filter(subscriptions::ended_reason.is_null())
        .filter(grant_held!());
    let touch = subscriptions::lease_owner.eq(Some(owner));
    let n = match start {
        Start::Frozen(batch_id) => diesel::update(
            target
                .filter(subscriptions::kind.eq(WEBHOOK))
                .filter(subscriptions::batch_id.eq(batch_id)),
        )
        .set(touch)
        .execute(conn)?,
        Start::Freeze {
            batch_id,
            from,
            to,
            body,
        } => diesel::update(
            target
                .filter(subscriptions::kind.eq(WEBHOOK))
                .filter(subscriptions::batch_id.is_null())
                .filter(subscriptions::cursor_seq.eq(from)),
        )
        .set((
            subscriptions::batch_id.eq(Some(batch_id)),
            subscriptions::batch_from.eq(Some(from)),
            subscriptions::batch_to.eq(Some(to)),
            subscriptions::batch_body.eq(Some(body)),
            subscriptions::batch_attempts.eq(0),
            subscriptions::next_attempt_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?,
        Start::Digest => diesel::update(
            target
                .filter(subscriptions::kind.eq(EMAIL))
                .filter(subscriptions::email_confirmed.eq(true)),
        )
        .set(touch)
        .execute(conn)?,
    };
    Ok(n == 1)
}

/// Whether `owner` still holds the claim, `batch_id` is still the frozen batch and the
/// subscription has not ended.
fn holds(conn: &mut DbConnection, id: &str, owner: &str, batch_id: &str) -> StoreResult<bool> {
    let n: i64 = subscriptions::table
        .find(id)
        .filter(subscriptions::ended_reason.is_null())
        .filter(subscriptions::lease_owner.eq(owner))
        .filter(subscriptions::batch_id.eq(batch_id))
        .count()
        .get_result(conn)?;
    Ok(n == 1)
}

/// The changes that move the cursor forward to `to` after a delivery: failures reset, and the
/// lag mark cleared unless the channel has changes after `to` (or kept while it has).
macro_rules! advanced {
    ($to:expr) => {
        (
            subscriptions::cursor_seq.eq($to),
            subscriptions::failures.eq(0),
            subscriptions::updated_at.eq(now()),
            subscriptions::behind_since.eq(diesel::dsl::case_when(
                diesel::dsl::exists(
                    channels::table
                        .filter(channels::id.eq(subscriptions::channel_id))
                        .filter(channels::last_seq.gt($to)),
                ),
                subscriptions::behind_since,
            )),
        )
    };
}

/// The batch was delivered: the cursor moves to its end, the batch is dropped, the lag mark
/// is cleared when the cursor reached the channel's head, and with `release` the claim is
/// given up. False when the claim or the batch changed meanwhile, or the subscription ended
/// (nothing written then). One statement, which checks and writes at once.
pub fn delivered(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    batch_id: &str,
    to: i64,
    release: bool,
) -> StoreResult<bool> {
    let held = subscriptions::table
        .find(id)
        .filter(subscriptions::ended_reason.is_null())
        .filter(subscriptions::lease_owner.eq(owner))
        .filter(subscriptions::batch_id.eq(batch_id));
    let moved = (advanced!(to), no_batch!());
    let n = if release {
        diesel::update(held)
            .set((
                moved,
                subscriptions::lease_until.eq(None::<NaiveDateTime>),
                subscriptions::lease_owner.eq(None::<String>),
            ))
            .execute(conn)?
    } else {
        diesel::update(held).set(moved).execute(conn)?
    };
    Ok(n == 1)
}

/// Moves the cursor forward to `to` after a delivery (`advanced!`).
fn advance(conn: &mut DbConnection, id: &str, to: i64) -> StoreResult<()> {
    diesel::update(subscriptions::table.find(id))
        .set(advanced!(to))
        .execute(conn)?;
    Ok(())
}

/// The attempt failed: the batch stays frozen until `next_attempt_at`.
pub fn failed(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    batch_id: &str,
    next_attempt_at: NaiveDateTime,
) -> StoreResult<bool> {
    if !holds(conn, id, owner, batch_id)? {
        return Ok(false);
    }
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::batch_attempts.eq(subscriptions::batch_attempts + 1),
            subscriptions::failures.eq(subscriptions::failures + 1),
            subscriptions::next_attempt_at.eq(Some(next_attempt_at)),
        ))
        .execute(conn)?;
    Ok(true)
}

/// The subscription is disabled after this attempt (410, or the schedule ran out).
pub fn failed_for_good(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    batch_id: &str,
    reason: &str,
) -> StoreResult<bool> {
    if !holds(conn, id, owner, batch_id)? {
        return Ok(false);
    }
    diesel::update(subscriptions::table.find(id))
        .set(subscriptions::failures.eq(subscriptions::failures + 1))
        .execute(conn)?;
    disable(conn, id, reason)?;
    drop_batch(conn, id)?;
    Ok(true)
}

/// Ids of subscriptions (any kind, enabled or not) whose cursor is behind their channel's
/// `last_seq` and that are not marked as behind yet. A read, so that the mark costs a write
/// only when something fell behind.
pub fn newly_behind(conn: &mut DbConnection) -> StoreResult<Vec<String>> {
    Ok(subscriptions::table
        .inner_join(channels::table)
        .filter(subscriptions::ended_reason.is_null())
        .filter(subscriptions::behind_since.is_null())
        .filter(subscriptions::cursor_seq.lt(channels::last_seq))
        .select(subscriptions::id)
        .load(conn)?)
}

/// Marks `ids` as behind since `at` (those still unmarked).
pub fn mark_behind(conn: &mut DbConnection, ids: &[String], at: NaiveDateTime) -> StoreResult<()> {
    diesel::update(
        subscriptions::table
            .filter(subscriptions::id.eq_any(ids))
            .filter(subscriptions::behind_since.is_null()),
    )
    .set(subscriptions::behind_since.eq(Some(at)))
    .execute(conn)?;
    Ok(())
}

/// One subscription's position, for the metrics.
#[derive(Debug, Clone, Queryable)]
pub struct Lag {
    pub id: String,
    pub kind: String,
    pub enabled: bool,
    pub cursor_seq: i64,
    pub last_seq: i64,
    pub behind_since: Option<NaiveDateTime>,
}

/// Every live subscription's lag, in one query (an ended one has no lag: nothing is owed).
pub fn lags(conn: &mut DbConnection) -> StoreResult<Vec<Lag>> {
    Ok(subscriptions::table
        .inner_join(channels::table)
        .filter(subscriptions::ended_reason.is_null())
        .order(subscriptions::id.asc())
        .select((
            subscriptions::id,
            subscriptions::kind,
            subscriptions::enabled,
            subscriptions::cursor_seq,
            channels::last_seq,
            subscriptions::behind_since,
        ))
        .load(conn)?)
}

/// Ids of enabled digests due at `at` (the app's clock) with no live claim.
pub fn due_digests(
    conn: &mut DbConnection,
    at: NaiveDateTime,
    lease_at: NaiveDateTime,
    limit: i64,
) -> StoreResult<Vec<String>> {
    Ok(subscriptions::table
        .filter(subscriptions::kind.eq(EMAIL))
        .filter(subscriptions::enabled.eq(true))
        .filter(subscriptions::ended_reason.is_null())
        .filter(subscriptions::email_confirmed.eq(true))
        .filter(subscriptions::next_digest_at.le(at))
        .filter(
            subscriptions::lease_until
                .is_null()
                .or(subscriptions::lease_until.lt(lease_at)),
        )
        .order(subscriptions::next_digest_at.asc())
        .limit(limit)
        .select(subscriptions::id)
        .load(conn)?)
}

/// Changes of a channel in `(from, to]` (each product once, at its latest seq).
pub fn count_changes(
    conn: &mut DbConnection,
    channel_id: i64,
    from: i64,
    to: i64,
) -> StoreResult<i64> {
    Ok(channel_records::table
        .filter(channel_records::channel_id.eq(channel_id))
        .filter(channel_records::seq.gt(from))
        .filter(channel_records::seq.le(to))
        .count()
        .get_result(conn)?)
}

/// A digest went out (or had nothing to say): the cursor moves from `from` to `to` and the next
/// digest is due at `next`. False when the claim was lost or the cursor moved meanwhile.
pub fn digest_sent(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    from: i64,
    to: i64,
    next: NaiveDateTime,
) -> StoreResult<bool> {
    let n: i64 = subscriptions::table
        .find(id)
        .filter(subscriptions::ended_reason.is_null())
        .filter(subscriptions::lease_owner.eq(owner))
        .filter(subscriptions::cursor_seq.eq(from))
        .count()
        .get_result(conn)?;
    if n != 1 {
        return Ok(false);
    }
    advance(conn, id, to)?;
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::batch_attempts.eq(0),
            subscriptions::next_digest_at.eq(Some(next)),
        ))
        .execute(conn)?;
    Ok(true)
}

/// A digest was refused: the cursor stays, it is tried again at `retry_at`.
pub fn digest_failed(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    retry_at: NaiveDateTime,
) -> StoreResult<bool> {
    let n = diesel::update(
        subscriptions::table
            .find(id)
            .filter(subscriptions::ended_reason.is_null())
            .filter(subscriptions::lease_owner.eq(owner)),
    )
    .set((
        subscriptions::batch_attempts.eq(subscriptions::batch_attempts + 1),
        subscriptions::failures.eq(subscriptions::failures + 1),
        subscriptions::next_digest_at.eq(Some(retry_at)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// A digest the mail transport refused for good (or whose retries ran out): disabled with
/// `reason`, if the claim is still ours and it has not ended.
pub fn digest_failed_for_good(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    reason: &str,
) -> StoreResult<bool> {
    let n = diesel::update(
        subscriptions::table
            .find(id)
            .filter(subscriptions::ended_reason.is_null())
            .filter(subscriptions::lease_owner.eq(owner)),
    )
    .set((
        subscriptions::failures.eq(subscriptions::failures + 1),
        subscriptions::enabled.eq(false),
        subscriptions::disabled_reason.eq(Some(reason)),
        subscriptions::batch_attempts.eq(0),
        subscriptions::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// A live subscription's health, as the vendor console lists it.
#[derive(Debug, Clone, Queryable)]
pub struct Health {
    pub id: String,
    pub reseller_code: String,
    pub channel_code: String,
    pub kind: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failures: i32,
    pub cursor_seq: i64,
    pub last_seq: i64,
    pub behind_since: Option<NaiveDateTime>,
    pub next_attempt_at: Option<NaiveDateTime>,
}

/// Live subscriptions across resellers, the disabled first, then by failures (most first),
/// at most `limit`; with `troubled`, only those disabled or failing.
pub fn health(conn: &mut DbConnection, troubled: bool, limit: i64) -> StoreResult<Vec<Health>> {
    let mut query = subscriptions::table
        .inner_join(channels::table)
        .filter(subscriptions::ended_reason.is_null())
        .into_boxed();
    if troubled {
        query = query.filter(
            subscriptions::enabled
                .eq(false)
                .or(subscriptions::failures.gt(0)),
        );
    }
    Ok(query
        .order((
            subscriptions::enabled.asc(),
            subscriptions::failures.desc(),
            subscriptions::id.asc(),
        ))
        .limit(limit)
        .select((
            subscriptions::id,
            subscriptions::reseller_code,
            subscriptions::channel_code,
            subscriptions::kind,
            subscriptions::enabled,
            subscriptions::disabled_reason,
            subscriptions::failures,
            subscriptions::cursor_seq,
            channels::last_seq,
            subscriptions::behind_since,
            subscriptions::next_attempt_at,
        ))
        .load(conn)?)
}

/// The time of the latest delivery attempt of each of `ids` that has one.
pub fn last_attempts(
    conn: &mut DbConnection,
    ids: &[String],
) -> StoreResult<Vec<(String, Option<NaiveDateTime>)>> {
    Ok(delivery_attempts::table
        .filter(delivery_attempts::subscription_id.eq_any(ids))
        .group_by(delivery_attempts::subscription_id)
        .select((
            delivery_attempts::subscription_id,
            diesel::dsl::max(delivery_attempts::at),
        ))
        .load(conn)?)
}
