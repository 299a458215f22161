//! The subscriptions use case: a reseller subscribes a webhook endpoint (`{url, format}`) or an
//! e-mail digest (`{email, every, format}`) to one of its channels, reads, pauses, re-points and
//! deletes its subscriptions, reads the delivery log, and recovers (`replay`, `enable`,
//! `rotate_secret`, `send_test`). Another reseller's subscription is not found, exactly like one
//! that does not exist. The HTTP API (`api::subscriptions`) and the console's portal call these
//! functions; they take a [`Context`] and the [`Who`] that asks, and answer domain values or a
//! [`SubscriptionError`] (mapped to statuses once, in `api::error`).
//!
//! A subscription whose reseller lost the grant on its channel has ended (see
//! [`crate::service::access`]): it is still shown (`"state": "ended"`, `"reason"`) and can be
//! deleted, but every change (`patch`, `replay`, `enable`, `rotate_secret`) is refused
//! ([`SubscriptionError::Ended`]), checked again on the locked row in the transaction that would
//! make the change. A digest's address gets a one-time confirmation link (see `api::confirm`)
//! and no digest before it is confirmed; a reseller has at most
//! `PARTNERFEED_DIGESTS_PER_RESELLER` digests and [`CONFIRMATION_MAILS_PER_HOUR`] confirmation
//! mails an hour.

mod input;
mod view;

use chrono::NaiveDateTime;
use serde_json::Value;
use tokio::sync::Notify;

use self::input::{
    check_email, check_url, invalid, object, parse_every, parse_format, since_seq, target, Target,
};
use self::view::time;
pub use self::view::{
    attempt_view, view, Attempt, AttemptList, PendingBatch, RotatedSecret, SubscriptionList,
    SubscriptionView,
};
use crate::catalog::ValidationErrors;
use crate::clock::Clock;
use crate::config::DigestSettings;
use crate::feeds::Format;
use crate::jobs::worker::Worker;
use crate::service::access::{self, ChannelDenied, Who};
use crate::service::secrets::SecretKey;
use crate::service::tokens::Role;
use crate::store::subscriptions::{self as subs, NewSubscription, Subscription};
use crate::store::{self, channels, Db, StoreError};
use crate::webhooks::{signing, AllowList};

/// How long a rotated-out secret keeps being used to sign.
const OLD_SECRET_HOURS: i64 = 24;
/// How long a digest confirmation link stays valid.
const CONFIRM_DAYS: i64 = 7;
/// Confirmation mails a reseller may have sent per hour (subscribes and re-points of digests
/// together): each one lands in a mailbox the reseller names, so this bounds how hard a
/// reseller can mail-bomb an address. Per reseller, not per subscription, so deleting and
/// subscribing again does not reset it.
pub const CONFIRMATION_MAILS_PER_HOUR: i32 = 10;

/// What the use case needs of the running service (the API builds it from its state).
pub struct Context<'a> {
    pub db: &'a Db,
    pub clock: &'a dyn Clock,
    /// The key that authenticates cursors.
    pub cursor_key: &'a [u8],
    /// The key that encrypts webhook secrets in the database.
    pub secret_key: &'a SecretKey,
    /// Ranges webhooks may reach although they are not public.
    pub webhook_allow: &'a AllowList,
    /// Sends test events and mails.
    pub worker: &'a Worker,
    /// Digest limits and the public URL of confirmation links.
    pub digests: &'a DigestSettings,
    /// Wakes the webhook delivery loop (a subscription was made, enabled or replayed).
    pub wake_deliveries: &'a Notify,
}

fn new_id() -> String {
    format!("sub_{}", crate::random::hex(24))
}

/// Why a subscription request is refused.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// No subscription with this id, or one the caller may not see.
    #[error("no subscription with this id")]
    NotFound,
    /// An editor has no subscriptions.
    #[error("this role has no subscriptions")]
    Forbidden,
    /// The channel to subscribe to is not visible to the caller.
    #[error(transparent)]
    Channel(#[from] ChannelDenied),
    /// A change to a subscription that has ended (the reason it ended).
    #[error(
        "this subscription has ended ({0}): nothing is sent for it any more; it can be read \
         and deleted, not changed"
    )]
    Ended(String),
    /// The reseller has the most e-mail digests allowed.
    #[error(
        "this reseller has {limit} e-mail digest subscriptions already, the most allowed \
         (PARTNERFEED_DIGESTS_PER_RESELLER); delete one first"
    )]
    TooManyDigests { limit: u32 },
    /// The reseller's confirmation mails of the hour are spent.
    #[error("too many confirmation mails")]
    TooManyConfirmationMails { limit: i32, retry_after: u64 },
    /// An e-mail digest asked for what only a webhook has (a secret, a test event).
    #[error("{0}")]
    NotAWebhook(&'static str),
    /// The request body, field by field.
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The subscription `id` if the caller may see it; 404 otherwise.
pub async fn owned(
    cx: &Context<'_>,
    who: Who<'_>,
    id: &str,
) -> Result<Subscription, SubscriptionError> {
    let reseller = match who.role {
        Role::Admin => None,
        Role::Reseller => Some(
            who.reseller
                .map(str::to_string)
                .ok_or_else(|| SubscriptionError::NotFound)?,
        ),
        Role::Editor => return Err(SubscriptionError::Forbidden),
    };
    let id = id.to_string();
    cx.db
        .read(move |c| subs::get(c, &id, reseller.as_deref()))
        .await?
        .ok_or_else(|| SubscriptionError::NotFound)
}

/// 409 for a change to an ended subscription.
fn require_live(sub: &Subscription) -> Result<(), SubscriptionError> {
    match sub.ended() {
        Some(reason) => Err(SubscriptionError::Ended(reason.to_string())),
        None => Ok(()),
    }
}

/// The subscription `id`, its row locked for the rest of the transaction, if it has not ended:
/// the check a change makes in the transaction that writes it.
fn lock_live(c: &mut store::DbConnection, id: &str) -> Result<Subscription, SubscriptionError> {
    let sub = subs::lock(c, id)?.ok_or_else(|| SubscriptionError::NotFound)?;
    require_live(&sub)?;
    Ok(sub)
}

/// A new confirmation token for a digest address: the token (for the link) and its hash
/// (stored), valid [`CONFIRM_DAYS`]. Counts the mail against the reseller's budget of
/// [`CONFIRMATION_MAILS_PER_HOUR`] (429 beyond, the transaction rolled back: no change, no
/// mail); the caller holds the reseller's row lock.
fn confirmation(
    c: &mut store::DbConnection,
    reseller: &str,
    id: &str,
    now: NaiveDateTime,
) -> Result<String, SubscriptionError> {
    let limit = CONFIRMATION_MAILS_PER_HOUR;
    if let Some(until) =
        subs::count_confirmation_mail(c, reseller, now, limit, chrono::Duration::hours(1))?
    {
        let retry_after = (until - now).num_seconds().max(1).unsigned_abs();
        return Err(SubscriptionError::TooManyConfirmationMails { limit, retry_after });
    }
    let token = crate::service::tokens::generate();
    subs::await_confirmation(
        c,
        id,
        &crate::service::tokens::hash(&token),
        now + chrono::Duration::days(CONFIRM_DAYS),
    )?;
    Ok(token)
}

/// Mails the confirmation link to a digest's new address (after the commit).
async fn send_confirmation(cx: &Context<'_>, sub: &Subscription, token: &str) {
    let link = format!(
        "{}/v1/subscriptions/confirm?token={token}",
        cx.digests.public_url
    );
    let to = sub.row.email.clone().unwrap_or_default();
    let mail = crate::mail::confirm_digest(
        &to,
        &sub.row.reseller_code,
        &sub.channel_code,
        &link,
        CONFIRM_DAYS,
    );
    cx.worker.mail(&mail).await;
}

async fn reload(cx: &Context<'_>, id: &str) -> Result<Subscription, SubscriptionError> {
    let id = id.to_string();
    cx.db
        .read(move |c| subs::get(c, &id, None))
        .await?
        .ok_or_else(|| SubscriptionError::NotFound)
}

/// Creates a subscription of channel `code` from a request body (`POST
/// /v1/channels/{code}/subscriptions`, and the portal's form): the subscription, and a
/// webhook's secret, shown only now.
pub async fn create(
    cx: &Context<'_>,
    who: Who<'_>,
    code: &str,
    value: &Value,
) -> Result<(Subscription, Option<String>), SubscriptionError> {
    let allowed: &[&str] = if who.role == Role::Admin {
        &["url", "email", "every", "format", "since", "reseller"]
    } else {
        &["url", "email", "every", "format", "since"]
    };
    let obj = object(value, allowed)?;
    let channel = access::visible_channel(cx.db, who, code).await?;
    let reseller = match who.role {
        Role::Reseller => who
            .reseller
            .map(str::to_string)
            .ok_or_else(|| SubscriptionError::Channel(ChannelDenied::NotFound))?,
        _ => obj
            .get("reseller")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| invalid("/reseller", "an admin names the reseller that owns it"))?,
    };
    let target = target(cx, obj).await?;
    let format = match (obj.get("format"), &target) {
        (Some(f), _) => parse_format(f)?,
        (None, Target::Webhook { .. }) => Format::Json,
        (None, Target::Digest { .. }) => Format::Csv,
    };
    let since = obj.get("since").cloned();
    let key = cx.cursor_key.to_vec();
    let now = cx.clock.now().naive_utc();
    let id = new_id();
    let (secret, shown) = match target {
        Target::Webhook { .. } => {
            let secret = signing::generate_secret();
            let stored = cx
                .secret_key
                .seal(&crate::service::secrets::subscription_row(&id), &secret);
            (stored, Some(secret))
        }
        Target::Digest { .. } => (String::new(), None),
    };
    let sid = id.clone();
    let limit = cx.digests.per_reseller;
    let token = cx
        .db
        .write(move |c| -> Result<Option<String>, SubscriptionError> {
            // Read the channel again inside the transaction: the cursor is its position now.
            let channel = channels::get_by_id(c, channel.id)?
                .ok_or_else(|| SubscriptionError::Channel(ChannelDenied::NotFound))?;
            // The grant is held (PostgreSQL: FOR SHARE) until this commits: a withdrawal waits
            // and then ends the new subscription with the others.
            if store::resellers::get(c, &reseller)?.is_none()
                || !store::resellers::lock_grant(c, &reseller, channel.id)?
            {
                return Err(invalid(
                    "/reseller",
                    "no reseller with access to this channel",
                ));
            }
            if matches!(target, Target::Digest { .. }) {
                // Concurrent subscribes of this reseller count one after the other.
                store::resellers::lock_row(c, &reseller)?;
                if subs::count_digests(c, &reseller)? >= i64::from(limit) {
                    return Err(SubscriptionError::TooManyDigests { limit });
                }
            }
            let seq = since_seq(since.as_ref(), &channel, &key)?;
            let at = store::now();
            let (kind, url, email, every, next_digest_at) = match &target {
                Target::Webhook { url } => (subs::WEBHOOK, url.as_str(), None, None, None),
                Target::Digest { email, every } => (
                    subs::EMAIL,
                    "",
                    Some(email.as_str()),
                    Some(every.as_str()),
                    Some(now + every.period()),
                ),
            };
            subs::insert(
                c,
                &NewSubscription {
                    id: &sid,
                    reseller_code: &reseller,
                    channel_id: channel.id,
                    url,
                    format: format.as_str(),
                    secret: &secret,
                    enabled: true,
                    cursor_seq: seq,
                    failures: 0,
                    batch_attempts: 0,
                    created_at: at,
                    updated_at: at,
                    kind,
                    email,
                    every,
                    next_digest_at,
                    channel_code: &channel.code,
                    email_confirmed: false,
                },
            )?;
            Ok(match &target {
                Target::Digest { .. } => Some(confirmation(c, &reseller, &sid, now)?),
                Target::Webhook { .. } => None,
            })
        })
        .await?;
    cx.wake_deliveries.notify_one();
    let sub = reload(cx, &id).await?;
    if let Some(token) = token {
        send_confirmation(cx, &sub, &token).await;
    }
    Ok((sub, shown))
}

/// The caller's subscriptions (an admin sees all; an editor none: 403).
pub async fn visible_subscriptions(
    cx: &Context<'_>,
    who: Who<'_>,
) -> Result<Vec<Subscription>, SubscriptionError> {
    let reseller = match who.role {
        Role::Admin => None,
        Role::Reseller => Some(who.reseller.map(str::to_string).unwrap_or_default()),
        Role::Editor => return Err(SubscriptionError::Forbidden),
    };
    let rows = cx
        .db
        .read(move |c| subs::list(c, reseller.as_deref()))
        .await?;
    Ok(rows)
}

/// Pauses (`{"enabled": false}`), resumes, re-points (`url` of a webhook, `email` of a
/// digest), changes a digest's period (`every`) or the format of the caller's subscription
/// `id`, from a request body; answers the subscription after.
pub async fn patch(
    cx: &Context<'_>,
    who: Who<'_>,
    id: &str,
    value: &Value,
) -> Result<Subscription, SubscriptionError> {
    let obj = object(value, &["enabled", "url", "email", "every", "format"])?;
    let sub = owned(cx, who, id).await?;
    require_live(&sub)?;
    let digest = sub.row.kind == subs::EMAIL;
    let (foreign, own): (&[&str], &str) = if digest {
        (&["url"], "email and every")
    } else {
        (&["email", "every"], "url")
    };
    if let Some(name) = foreign.iter().find(|n| obj.contains_key(**n)) {
        return Err(invalid(
            &format!("/{name}"),
            format!(
                "a {} subscription has no {name}; it has {own}",
                sub.row.kind
            ),
        ));
    }
    let enabled = match obj.get("enabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid("/enabled", "enabled is true or false")),
    };
    let format = obj.get("format").map(parse_format).transpose()?;
    let url = match obj.get("url") {
        Some(u) => Some(check_url(cx, u).await?),
        None => None,
    };
    let email = obj.get("email").map(check_email).transpose()?;
    let every = obj.get("every").map(parse_every).transpose()?;
    let now = cx.clock.now().naive_utc();
    let sid = sub.row.id.clone();
    let reseller = sub.row.reseller_code.clone();
    let token = cx
        .db
        .write(move |c| -> Result<Option<String>, SubscriptionError> {
            if email.is_some() {
                // The confirmation mail counts against the reseller's budget: its row is locked
                // before the subscription's, the order a reseller's update or deletion takes.
                store::resellers::lock_row(c, &reseller)?;
            }
            let sub = lock_live(c, &sid)?;
            if let Some(url) = &url {
                subs::set_url(c, &sid, url)?;
            }
            // A new address (or the same one given again) is unconfirmed until its link is
            // opened.
            let token = match &email {
                Some(email) => {
                    subs::set_email(c, &sid, email)?;
                    Some(confirmation(c, &sub.row.reseller_code, &sid, now)?)
                }
                None => None,
            };
            if let Some(every) = every.filter(|e| sub.row.every.as_deref() != Some(e.as_str())) {
                subs::set_every(c, &sid, every.as_str(), now + every.period())?;
            }
            if let Some(format) = format.filter(|f| f.as_str() != sub.row.format) {
                subs::set_format(c, &sid, format.as_str())?;
            }
            match enabled {
                Some(false) if sub.row.enabled => subs::disable(c, &sid, "paused")?,
                Some(true) if !sub.row.enabled => subs::enable(c, &sid)?,
                _ => {}
            }
            Ok(token)
        })
        .await?;
    cx.wake_deliveries.notify_one();
    let sub = reload(cx, id).await?;
    if let Some(token) = token {
        send_confirmation(cx, &sub, &token).await;
    }
    Ok(sub)
}

/// Deletes the caller's subscription `id` and its delivery log.
pub async fn delete(cx: &Context<'_>, who: Who<'_>, id: &str) -> Result<(), SubscriptionError> {
    let sub = owned(cx, who, id).await?;
    cx.db.write(move |c| subs::delete(c, &sub.row.id)).await?;
    Ok(())
}

/// The latest `limit` attempts of `sub` (one the caller may see), latest first.
pub async fn attempts(
    cx: &Context<'_>,
    sub: &Subscription,
    limit: i64,
) -> Result<Vec<Attempt>, SubscriptionError> {
    let sid = sub.row.id.clone();
    let rows = cx
        .db
        .read(move |c| subs::attempts(c, &sid, None, limit))
        .await?;
    Ok(rows
        .into_iter()
        .map(|a| attempt_view(sub, a, cx.cursor_key))
        .collect())
}

/// The `since` of a replay request body (`{"since": CURSOR | "start"}`), not yet checked.
pub fn replay_since(value: &Value) -> Result<Value, SubscriptionError> {
    object(value, &["since"])?
        .get("since")
        .cloned()
        .ok_or_else(|| invalid("/since", "since is \"start\" or a cursor"))
}

/// Moves the cursor of the caller's subscription `id` to `since` (`"start"` or a cursor of its
/// channel); answers the subscription after.
pub async fn replay(
    cx: &Context<'_>,
    who: Who<'_>,
    id: &str,
    since: Value,
) -> Result<Subscription, SubscriptionError> {
    let sub = owned(cx, who, id).await?;
    require_live(&sub)?;
    let key = cx.cursor_key.to_vec();
    cx.db
        .write(move |c| -> Result<(), SubscriptionError> {
            lock_live(c, &sub.row.id)?;
            let channel = channels::get_by_id(c, sub.row.channel_id)?
                .ok_or_else(|| SubscriptionError::NotFound)?;
            let seq = since_seq(Some(&since), &channel, &key)?;
            subs::set_cursor(c, &sub.row.id, seq)?;
            Ok(())
        })
        .await?;
    cx.wake_deliveries.notify_one();
    reload(cx, id).await
}

/// Resumes the caller's subscription `id` from its cursor; answers it after.
pub async fn enable(
    cx: &Context<'_>,
    who: Who<'_>,
    id: &str,
) -> Result<Subscription, SubscriptionError> {
    let sub = owned(cx, who, id).await?;
    require_live(&sub)?;
    cx.db
        .write(move |c| -> Result<(), SubscriptionError> {
            lock_live(c, &sub.row.id)?;
            Ok(subs::enable(c, &sub.row.id)?)
        })
        .await?;
    cx.wake_deliveries.notify_one();
    reload(cx, id).await
}

/// A new secret for the caller's webhook `id`, shown once; the previous one keeps signing for
/// 24 hours.
pub async fn rotate_secret(
    cx: &Context<'_>,
    who: Who<'_>,
    id: &str,
) -> Result<RotatedSecret, SubscriptionError> {
    let sub = owned(cx, who, id).await?;
    require_live(&sub)?;
    if sub.row.kind == subs::EMAIL {
        return Err(SubscriptionError::NotAWebhook(
            "an e-mail digest is not signed: it has no secret to rotate",
        ));
    }
    let secret = signing::generate_secret();
    let until = store::now() + chrono::Duration::hours(OLD_SECRET_HOURS);
    // The previous secret keeps its stored (encrypted) form: both belong to this row.
    let sealed = cx.secret_key.seal(
        &crate::service::secrets::subscription_row(&sub.row.id),
        &secret,
    );
    let (sid, new, old) = (sub.row.id.clone(), sealed, sub.row.secret.clone());
    cx.db
        .write(move |c| -> Result<(), SubscriptionError> {
            lock_live(c, &sid)?;
            Ok(subs::rotate_secret(c, &sid, &new, &old, until)?)
        })
        .await?;
    Ok(RotatedSecret {
        id: sub.row.id,
        secret,
        previous_secret_valid_until: time(until),
    })
}

/// Sends a test event to the caller's webhook `id`; answers the attempt.
pub async fn send_test(
    cx: &Context<'_>,
    who: Who<'_>,
    id: &str,
) -> Result<Attempt, SubscriptionError> {
    let sub = owned(cx, who, id).await?;
    require_live(&sub)?;
    if sub.row.kind == subs::EMAIL {
        return Err(SubscriptionError::NotAWebhook(
            "an e-mail digest has no webhook to send a test event to",
        ));
    }
    let attempt = cx.worker.send_test(&sub).await?;
    Ok(attempt_view(&sub, attempt, cx.cursor_key))
}
