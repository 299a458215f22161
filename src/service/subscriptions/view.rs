//! A subscription, its pending batch and its attempts as the API and the console show them.

use chrono::NaiveDateTime;
use serde::Serialize;
use utoipa::ToSchema;

use crate::delta::Cursor;
use crate::store::subscriptions::{self as subs, Subscription};

#[derive(Serialize, ToSchema)]
pub struct PendingBatch {
    pub webhook_id: String,
    pub from: String,
    pub to: String,
    /// Failed attempts of this batch so far.
    pub attempts: i32,
    pub next_attempt_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    /// `webhook` or `email` (a digest).
    pub kind: String,
    pub channel: String,
    /// A webhook's endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A digest's recipient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A digest's period: `hourly` or `daily`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// When the next digest is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_digest_at: Option<String>,
    pub format: String,
    /// `active`, `disabled` (paused or stopped by failures; see `disabled_reason`) or `ended`
    /// (access withdrawn: nothing is sent again; see `reason`).
    pub state: String,
    /// Why an ended subscription ended: `access_revoked`, `channel_deleted` or
    /// `reseller_deleted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A digest's address was confirmed through the link mailed to it; no digest goes out
    /// before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<bool>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Everything up to this cursor was delivered.
    pub cursor: String,
    /// Failed attempts in a row.
    pub failures: i32,
    /// The frozen batch being delivered, if any.
    pub pending: Option<PendingBatch>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionList {
    pub subscriptions: Vec<SubscriptionView>,
}

#[derive(Serialize, ToSchema)]
pub struct Attempt {
    pub at: String,
    pub webhook_id: String,
    pub from: String,
    pub to: String,
    pub status: Option<i32>,
    pub latency_ms: i64,
    pub response: Option<String>,
    pub error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AttemptList {
    pub attempts: Vec<Attempt>,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    pub id: String,
    pub secret: String,
    /// Until then, deliveries carry a signature with the previous secret too.
    pub previous_secret_valid_until: String,
}

pub(super) fn time(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn cursor(channel_id: i64, seq: i64, key: &[u8]) -> String {
    Cursor {
        channel_id,
        epoch: channel_id,
        seq,
    }
    .encode(key)
}

/// A subscription as the API shows it (`secret` only when it is shown once).
pub fn view(s: &Subscription, key: &[u8], secret: Option<String>) -> SubscriptionView {
    let r = &s.row;
    let pending = match (&r.batch_id, r.batch_from, r.batch_to) {
        (Some(id), Some(from), Some(to)) => Some(PendingBatch {
            webhook_id: id.clone(),
            from: cursor(r.channel_id, from, key),
            to: cursor(r.channel_id, to, key),
            attempts: r.batch_attempts,
            next_attempt_at: r.next_attempt_at.map(time),
        }),
        _ => None,
    };
    let digest = r.kind == subs::EMAIL;
    let reason = s.ended().map(str::to_string);
    let state = match (&reason, r.enabled) {
        (Some(_), _) => "ended",
        (None, true) => "active",
        (None, false) => "disabled",
    };
    SubscriptionView {
        id: r.id.clone(),
        kind: r.kind.clone(),
        channel: s.channel_code.clone(),
        url: (!digest).then(|| r.url.clone()),
        email: r.email.clone(),
        every: r.every.clone(),
        next_digest_at: r.next_digest_at.map(time),
        format: r.format.clone(),
        state: state.to_string(),
        reason,
        confirmed: digest.then_some(r.email_confirmed),
        enabled: r.enabled && s.ended().is_none(),
        disabled_reason: r.disabled_reason.clone(),
        cursor: cursor(r.channel_id, r.cursor_seq, key),
        failures: r.failures,
        pending,
        created_at: time(r.created_at),
        secret,
    }
}

/// An attempt of `sub` as the API shows it.
pub fn attempt_view(sub: &Subscription, a: subs::AttemptRow, key: &[u8]) -> Attempt {
    Attempt {
        at: time(a.at),
        webhook_id: a.webhook_id,
        from: cursor(sub.row.channel_id, a.from_seq, key),
        to: cursor(sub.row.channel_id, a.to_seq, key),
        status: a.status,
        latency_ms: a.latency_ms,
        response: a.response,
        error: a.error,
    }
}
