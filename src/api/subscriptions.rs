//! Subscriptions: a reseller subscribes a webhook endpoint (`{url, format}`) or an e-mail
//! digest (`{email, every, format}`) to one of its channels, reads, pauses, re-points and
//! deletes its subscriptions, reads the delivery log, and recovers (`replay`, `enable`,
//! `rotate-secret`). Another reseller's subscription answers 404, exactly like one that does
//! not exist.
//!
//! A subscription whose reseller lost the grant on its channel has ended (see `crate::service::access`):
//! it is still shown (`"state": "ended"`, `"reason"`) and can be deleted, but every change
//! (`PATCH`, `replay`, `enable`, `rotate-secret`) answers 409, checked again on the locked row
//! in the transaction that would make the change. A digest's address gets a one-time
//! confirmation link (see `api::confirm`) and no digest before it is
//! confirmed; a reseller has at most `PARTNERFEED_DIGESTS_PER_RESELLER` digests.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::channels::visible_channel;
use super::query::Query;
use super::{body, ApiError, AppState, Caller};
use crate::catalog::{FieldError, ValidationErrors};
use crate::delta::Cursor;
use crate::feeds::Format;
use crate::jobs::digests::Every;
use crate::service::pull;
use crate::service::tokens::Role;
use crate::store::subscriptions::{self as subs, NewSubscription, Subscription};
use crate::store::{self, channels};
use crate::webhooks::{client, signing};

/// How long a rotated-out secret keeps being used to sign.
const OLD_SECRET_HOURS: i64 = 24;
const URL_MAX: usize = 2048;
const EMAIL_MAX: usize = 254;
/// How long a digest confirmation link stays valid.
const CONFIRM_DAYS: i64 = 7;
/// Confirmation mails a reseller may have sent per hour (subscribes and re-points of digests
/// together): each one lands in a mailbox the reseller names, so this bounds how hard a
/// reseller can mail-bomb an address. Per reseller, not per subscription, so deleting and
/// subscribing again does not reset it.
pub const CONFIRMATION_MAILS_PER_HOUR: i32 = 10;

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
    subscriptions: Vec<SubscriptionView>,
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
    attempts: Vec<Attempt>,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    pub id: String,
    pub secret: String,
    /// Until then, deliveries carry a signature with the previous secret too.
    pub previous_secret_valid_until: String,
}

fn time(t: NaiveDateTime) -> String {
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

/// The subscription `id` if the caller may see it; 404 otherwise.
pub async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<Subscription, ApiError> {
    let reseller = match caller.role {
        Role::Admin => None,
        Role::Reseller => Some(
            caller
                .reseller
                .clone()
                .ok_or_else(|| ApiError::not_found("no subscription with this id"))?,
        ),
        Role::Editor => return Err(ApiError::Forbidden),
    };
    let id = id.to_string();
    state
        .db
        .read(move |c| subs::get(c, &id, reseller.as_deref()))
        .await?
        .ok_or_else(|| ApiError::not_found("no subscription with this id"))
}

/// 409 for a change to an ended subscription.
fn require_live(sub: &Subscription) -> Result<(), ApiError> {
    match sub.ended() {
        Some(reason) => Err(ApiError::conflict(format!(
            "this subscription has ended ({reason}): nothing is sent for it any more; it can \
             be read and deleted, not changed"
        ))),
        None => Ok(()),
    }
}

/// The subscription `id`, its row locked for the rest of the transaction, if it has not ended:
/// the check a change makes in the transaction that writes it.
fn lock_live(c: &mut store::DbConnection, id: &str) -> Result<Subscription, ApiError> {
    let sub =
        subs::lock(c, id)?.ok_or_else(|| ApiError::not_found("no subscription with this id"))?;
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
) -> Result<String, ApiError> {
    let limit = CONFIRMATION_MAILS_PER_HOUR;
    if let Some(until) =
        subs::count_confirmation_mail(c, reseller, now, limit, chrono::Duration::hours(1))?
    {
        let retry_after = (until - now).num_seconds().max(1).unsigned_abs();
        return Err(ApiError::TooManyConfirmationMails { limit, retry_after });
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
async fn send_confirmation(state: &AppState, sub: &Subscription, token: &str) {
    let link = format!(
        "{}/v1/subscriptions/confirm?token={token}",
        state.digests.public_url
    );
    let to = sub.row.email.clone().unwrap_or_default();
    let mail = crate::mail::confirm_digest(
        &to,
        &sub.row.reseller_code,
        &sub.channel_code,
        &link,
        CONFIRM_DAYS,
    );
    state.worker.mail(&mail).await;
}

async fn reload(state: &AppState, id: &str) -> Result<Subscription, ApiError> {
    let id = id.to_string();
    state
        .db
        .read(move |c| subs::get(c, &id, None))
        .await?
        .ok_or_else(|| ApiError::not_found("no subscription with this id"))
}

/// A format that has change pages: the built-in ones and the profiles that support changes
/// (Google Merchant feeds are snapshots only).
fn parse_format(value: &Value) -> Result<Format, ApiError> {
    let with_changes = || {
        Format::ALL
            .into_iter()
            .chain(Format::profiles())
            .filter(Format::has_changes)
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let format = value.as_str().and_then(Format::parse).ok_or_else(|| {
        ApiError::invalid(
            "/format",
            format!(
                "format must be a feed format with change pages: {}",
                with_changes()
            ),
        )
    })?;
    if !format.has_changes() {
        return Err(ApiError::invalid(
            "/format",
            format!(
                "{} feeds are snapshots without change pages, so they cannot be pushed; \
                 subscribe with one of {} or pull the {} feed instead",
                format.as_str(),
                with_changes(),
                format.as_str()
            ),
        ));
    }
    Ok(format)
}

/// Checks a URL as given, and every address it resolves to, against the SSRF rules.
async fn check_url(state: &AppState, value: &Value) -> Result<String, ApiError> {
    let url = value
        .as_str()
        .map(|u| u.trim_matches(' '))
        .filter(|u| !u.is_empty() && u.len() <= URL_MAX)
        .ok_or_else(|| ApiError::invalid("/url", "url is required: an https URL"))?;
    let invalid = |e: crate::webhooks::guard::GuardError| ApiError::invalid("/url", e.to_string());
    let url = crate::webhooks::guard::normalize(url).map_err(invalid)?;
    client::check_url(&url, &state.webhook_allow)
        .await
        .map_err(invalid)?;
    Ok(url)
}

/// A digest's recipient.
fn check_email(value: &Value) -> Result<String, ApiError> {
    let email = value
        .as_str()
        .map(str::trim)
        .filter(|e| !e.is_empty() && e.len() <= EMAIL_MAX)
        .ok_or_else(|| ApiError::invalid("/email", "email is required: an e-mail address"))?;
    crate::mail::check_address(email).map_err(|e| ApiError::invalid("/email", e.to_string()))?;
    Ok(email.to_string())
}

/// A digest's period.
fn parse_every(value: &Value) -> Result<Every, ApiError> {
    value
        .as_str()
        .and_then(Every::parse)
        .ok_or_else(|| ApiError::invalid("/every", "every is \"hourly\" or \"daily\""))
}

/// What a new subscription delivers to.
enum Target {
    Webhook { url: String },
    Digest { email: String, every: Every },
}

/// `{url}` for a webhook or `{email, every?}` for a digest, never both.
async fn target(state: &AppState, obj: &Map<String, Value>) -> Result<Target, ApiError> {
    match (obj.get("url"), obj.get("email")) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "/email",
            "give url (a webhook) or email (an e-mail digest), not both",
        )),
        (None, Some(email)) => Ok(Target::Digest {
            email: check_email(email)?,
            every: obj
                .get("every")
                .map(parse_every)
                .transpose()?
                .unwrap_or(Every::Daily),
        }),
        (url, None) => {
            if obj.contains_key("every") {
                return Err(ApiError::invalid(
                    "/every",
                    "every belongs to e-mail digests (with email), not to webhooks",
                ));
            }
            Ok(Target::Webhook {
                url: check_url(state, url.unwrap_or(&Value::Null)).await?,
            })
        }
    }
}

fn object<'a>(value: &'a Value, allowed: &[&str]) -> Result<&'a Map<String, Value>, ApiError> {
    let obj = value
        .as_object()
        .ok_or_else(|| ApiError::invalid("", "the body must be a JSON object"))?;
    let unknown: Vec<FieldError> = obj
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| FieldError {
            pointer: format!("/{k}"),
            message: format!("unknown field; allowed: {}", allowed.join(", ")),
        })
        .collect();
    if unknown.is_empty() {
        Ok(obj)
    } else {
        Err(ApiError::Invalid(ValidationErrors { errors: unknown }))
    }
}

fn new_id() -> String {
    format!("sub_{}", crate::random::hex(24))
}

/// Where `since` puts the cursor: `"start"`, a cursor of this channel, or (absent) now.
fn since_seq(
    since: Option<&Value>,
    channel: &channels::ChannelRow,
    key: &[u8],
) -> Result<i64, ApiError> {
    match since {
        None | Some(Value::Null) => Ok(channel.last_seq),
        Some(Value::String(s)) if s == "start" => Ok(0),
        Some(Value::String(s)) => pull::since_seq(Some(s), channel, key)
            .map_err(|e| ApiError::invalid("/since", e.to_string())),
        Some(_) => Err(ApiError::invalid(
            "/since",
            "since is \"start\" or a cursor of this channel",
        )),
    }
}

/// Creates a subscription of channel `code` from a request body (`POST
/// /v1/channels/{code}/subscriptions`, and the portal's form): the subscription, and a
/// webhook's secret, shown only now.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    code: &str,
    value: &Value,
) -> Result<(Subscription, Option<String>), ApiError> {
    let allowed: &[&str] = if caller.role == Role::Admin {
        &["url", "email", "every", "format", "since", "reseller"]
    } else {
        &["url", "email", "every", "format", "since"]
    };
    let obj = object(value, allowed)?;
    let channel = visible_channel(state, caller, code).await?;
    let reseller = match caller.role {
        Role::Reseller => caller
            .reseller
            .clone()
            .ok_or_else(|| ApiError::not_found("no channel with this code"))?,
        _ => obj
            .get("reseller")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::invalid("/reseller", "an admin names the reseller that owns it")
            })?,
    };
    let target = target(state, obj).await?;
    let format = match (obj.get("format"), &target) {
        (Some(f), _) => parse_format(f)?,
        (None, Target::Webhook { .. }) => Format::Json,
        (None, Target::Digest { .. }) => Format::Csv,
    };
    let since = obj.get("since").cloned();
    let key = state.cursor_key.clone();
    let now = state.clock.now().naive_utc();
    let id = new_id();
    let (secret, shown) = match target {
        Target::Webhook { .. } => {
            let secret = signing::generate_secret();
            let stored = state
                .secret_key
                .seal(&crate::service::secrets::subscription_row(&id), &secret);
            (stored, Some(secret))
        }
        Target::Digest { .. } => (String::new(), None),
    };
    let sid = id.clone();
    let limit = state.digests.per_reseller;
    let token = state
        .db
        .write(move |c| -> Result<Option<String>, ApiError> {
            // Read the channel again inside the transaction: the cursor is its position now.
            let channel = channels::get_by_id(c, channel.id)?
                .ok_or_else(|| ApiError::not_found("no channel with this code"))?;
            // The grant is held (PostgreSQL: FOR SHARE) until this commits: a withdrawal waits
            // and then ends the new subscription with the others.
            if store::resellers::get(c, &reseller)?.is_none()
                || !store::resellers::lock_grant(c, &reseller, channel.id)?
            {
                return Err(ApiError::invalid(
                    "/reseller",
                    "no reseller with access to this channel",
                ));
            }
            if matches!(target, Target::Digest { .. }) {
                // Concurrent subscribes of this reseller count one after the other.
                store::resellers::lock_row(c, &reseller)?;
                if subs::count_digests(c, &reseller)? >= i64::from(limit) {
                    return Err(ApiError::conflict(format!(
                        "this reseller has {limit} e-mail digest subscriptions already, the \
                         most allowed (PARTNERFEED_DIGESTS_PER_RESELLER); delete one first"
                    )));
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
    state.wake_deliveries.notify_one();
    let sub = reload(state, &id).await?;
    if let Some(token) = token {
        send_confirmation(state, &sub, &token).await;
    }
    Ok((sub, shown))
}

/// Subscribe a webhook endpoint (`{url, format[, since]}`) or an e-mail digest (`{email,
/// every, format[, since]}`) to a channel. A webhook's secret is shown only here (and at
/// rotation).
#[utoipa::path(
    tag = "webhooks",
    params(("code" = String, Path, description = "Channel code")),
    request_body(content = Object, description = "{url, format, since?} or {email, every, format, since?}"),
    responses((status = 201, body = SubscriptionView), (status = 404), (status = 409, description = "The reseller has the most e-mail digests allowed"), (status = 422)),
    security(("bearer" = []))
)]
#[post("/v1/channels/{code}/subscriptions")]
pub async fn create_subscription(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    code: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    body::require_media_type(&req, &["application/json"])?;
    let value = body::json(&body::read(payload, state.body_limit).await?)?;
    let (sub, shown) = create(&state, &caller, &code, &value).await?;
    Ok(HttpResponse::Created().json(view(&sub, &state.cursor_key, shown)))
}

/// The caller's subscriptions (an admin sees all; an editor none: 403).
pub async fn visible_subscriptions(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<Subscription>, ApiError> {
    let reseller = match caller.role {
        Role::Admin => None,
        Role::Reseller => Some(caller.reseller.clone().unwrap_or_default()),
        Role::Editor => return Err(ApiError::Forbidden),
    };
    let rows = state
        .db
        .read(move |c| subs::list(c, reseller.as_deref()))
        .await?;
    Ok(rows)
}

/// The caller's subscriptions (an admin sees all).
#[utoipa::path(tag = "webhooks", responses((status = 200, body = SubscriptionList)), security(("bearer" = [])))]
#[get("/v1/subscriptions")]
pub async fn list_subscriptions(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let rows = visible_subscriptions(&state, &caller).await?;
    let subscriptions = rows
        .iter()
        .map(|s| view(s, &state.cursor_key, None))
        .collect();
    Ok(HttpResponse::Ok().json(SubscriptionList { subscriptions }))
}

/// One subscription (never its secret).
#[utoipa::path(
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = SubscriptionView), (status = 404)),
    security(("bearer" = []))
)]
#[get("/v1/subscriptions/{id}")]
pub async fn get_subscription(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let sub = owned(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&sub, &state.cursor_key, None)))
}

/// Pause (`{"enabled": false}`), resume, re-point (`url` of a webhook, `email` of a digest),
/// change a digest's period (`every`) or the format.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    request_body(content = Object, description = "{enabled?, url?, email?, every?, format?}"),
    responses((status = 200, body = SubscriptionView), (status = 404), (status = 409, description = "The subscription has ended"), (status = 422)),
    security(("bearer" = []))
)]
#[patch("/v1/subscriptions/{id}")]
pub async fn patch_subscription(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    body::require_media_type(&req, &["application/json", "application/merge-patch+json"])?;
    let value = body::json(&body::read(payload, state.body_limit).await?)?;
    let obj = object(&value, &["enabled", "url", "email", "every", "format"])?;
    let sub = owned(&state, &caller, &id).await?;
    require_live(&sub)?;
    let digest = sub.row.kind == subs::EMAIL;
    let (foreign, own): (&[&str], &str) = if digest {
        (&["url"], "email and every")
    } else {
        (&["email", "every"], "url")
    };
    if let Some(name) = foreign.iter().find(|n| obj.contains_key(**n)) {
        return Err(ApiError::invalid(
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
        Some(_) => return Err(ApiError::invalid("/enabled", "enabled is true or false")),
    };
    let format = obj.get("format").map(parse_format).transpose()?;
    let url = match obj.get("url") {
        Some(u) => Some(check_url(&state, u).await?),
        None => None,
    };
    let email = obj.get("email").map(check_email).transpose()?;
    let every = obj.get("every").map(parse_every).transpose()?;
    let now = state.clock.now().naive_utc();
    let sid = sub.row.id.clone();
    let reseller = sub.row.reseller_code.clone();
    let token = state
        .db
        .write(move |c| -> Result<Option<String>, ApiError> {
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
    state.wake_deliveries.notify_one();
    let sub = reload(&state, &id).await?;
    if let Some(token) = token {
        send_confirmation(&state, &sub, &token).await;
    }
    Ok(HttpResponse::Ok().json(view(&sub, &state.cursor_key, None)))
}

/// Delete a subscription and its delivery log.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 204), (status = 404)),
    security(("bearer" = []))
)]
#[delete("/v1/subscriptions/{id}")]
pub async fn delete_subscription(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    delete(&state, &caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes the caller's subscription `id` and its delivery log.
pub async fn delete(state: &AppState, caller: &Caller, id: &str) -> Result<(), ApiError> {
    let sub = owned(state, caller, id).await?;
    state
        .db
        .write(move |c| subs::delete(c, &sub.row.id))
        .await?;
    Ok(())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AttemptsQuery {
    /// Attempts per page, 1 to 1,000 (default 100), latest first.
    limit: Option<i64>,
}

/// The delivery log, latest attempt first.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id"), AttemptsQuery),
    responses((status = 200, body = AttemptList), (status = 404)),
    security(("bearer" = []))
)]
#[get("/v1/subscriptions/{id}/attempts")]
pub async fn subscription_attempts(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    query: Query<AttemptsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_field(
            "/limit",
            "limit must be between 1 and 1000",
        ));
    }
    let sub = owned(&state, &caller, &id).await?;
    let attempts = attempts(&state, &sub, limit).await?;
    Ok(HttpResponse::Ok().json(AttemptList { attempts }))
}

/// The latest `limit` attempts of `sub` (one the caller may see), latest first.
pub async fn attempts(
    state: &AppState,
    sub: &Subscription,
    limit: i64,
) -> Result<Vec<Attempt>, ApiError> {
    let sid = sub.row.id.clone();
    let rows = state
        .db
        .read(move |c| subs::attempts(c, &sid, None, limit))
        .await?;
    Ok(rows
        .into_iter()
        .map(|a| attempt_view(sub, a, &state.cursor_key))
        .collect())
}

fn attempt_view(sub: &Subscription, a: subs::AttemptRow, key: &[u8]) -> Attempt {
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

/// Move the cursor to `{"since": CURSOR}` or `{"since": "start"}`; the next batch starts there.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    request_body(content = Object, description = "{since: CURSOR | \"start\"}"),
    responses((status = 200, body = SubscriptionView), (status = 404), (status = 409, description = "The subscription has ended"), (status = 422)),
    security(("bearer" = []))
)]
#[post("/v1/subscriptions/{id}/replay")]
pub async fn replay_subscription(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let value = body::json(&body::read(payload, state.body_limit).await?)?;
    let obj = object(&value, &["since"])?;
    let since = obj
        .get("since")
        .cloned()
        .ok_or_else(|| ApiError::invalid("/since", "since is \"start\" or a cursor"))?;
    let sub = replay(&state, &caller, &id, since).await?;
    Ok(HttpResponse::Ok().json(view(&sub, &state.cursor_key, None)))
}

/// Moves the cursor of the caller's subscription `id` to `since` (`"start"` or a cursor of its
/// channel); answers the subscription after.
pub async fn replay(
    state: &AppState,
    caller: &Caller,
    id: &str,
    since: Value,
) -> Result<Subscription, ApiError> {
    let sub = owned(state, caller, id).await?;
    require_live(&sub)?;
    let key = state.cursor_key.clone();
    state
        .db
        .write(move |c| -> Result<(), ApiError> {
            lock_live(c, &sub.row.id)?;
            let channel = channels::get_by_id(c, sub.row.channel_id)?
                .ok_or_else(|| ApiError::not_found("no subscription with this id"))?;
            let seq = since_seq(Some(&since), &channel, &key)?;
            subs::set_cursor(c, &sub.row.id, seq)?;
            Ok(())
        })
        .await?;
    state.wake_deliveries.notify_one();
    reload(state, id).await
}

/// Resume a disabled or paused subscription from its cursor.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = SubscriptionView), (status = 404), (status = 409, description = "The subscription has ended")),
    security(("bearer" = []))
)]
#[post("/v1/subscriptions/{id}/enable")]
pub async fn enable_subscription(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let sub = enable(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(view(&sub, &state.cursor_key, None)))
}

/// Resumes the caller's subscription `id` from its cursor; answers it after.
pub async fn enable(state: &AppState, caller: &Caller, id: &str) -> Result<Subscription, ApiError> {
    let sub = owned(state, caller, id).await?;
    require_live(&sub)?;
    state
        .db
        .write(move |c| -> Result<(), ApiError> {
            lock_live(c, &sub.row.id)?;
            Ok(subs::enable(c, &sub.row.id)?)
        })
        .await?;
    state.wake_deliveries.notify_one();
    reload(state, id).await
}

/// A new secret, shown once; the previous one keeps signing for 24 hours.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = RotatedSecret), (status = 404), (status = 409, description = "The subscription has ended")),
    security(("bearer" = []))
)]
#[post("/v1/subscriptions/{id}/rotate-secret")]
pub async fn rotate_subscription_secret(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(rotate_secret(&state, &caller, &id).await?))
}

/// A new secret for the caller's webhook `id`, shown once; the previous one keeps signing for
/// 24 hours.
pub async fn rotate_secret(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<RotatedSecret, ApiError> {
    let sub = owned(state, caller, id).await?;
    require_live(&sub)?;
    if sub.row.kind == subs::EMAIL {
        return Err(ApiError::bad_request(
            "an e-mail digest is not signed: it has no secret to rotate",
        ));
    }
    let secret = signing::generate_secret();
    let until = store::now() + chrono::Duration::hours(OLD_SECRET_HOURS);
    // The previous secret keeps its stored (encrypted) form: both belong to this row.
    let sealed = state.secret_key.seal(
        &crate::service::secrets::subscription_row(&sub.row.id),
        &secret,
    );
    let (sid, new, old) = (sub.row.id.clone(), sealed, sub.row.secret.clone());
    state
        .db
        .write(move |c| -> Result<(), ApiError> {
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

/// Send a test event: one signed `{"type": "catalog.test", "channel", "subscription",
/// "sent_at"}` message to the webhook's URL, signed and sent like a delivery (same secrets,
/// same SSRF guard); it is logged as an attempt and answered here, whatever the receiver said.
/// The subscription's cursor and state do not change.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = Attempt), (status = 400, description = "An e-mail digest has no webhook to test"), (status = 404), (status = 409, description = "The subscription has ended")),
    security(("bearer" = []))
)]
#[post("/v1/subscriptions/{id}/test")]
pub async fn test_subscription(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(send_test(&state, &caller, &id).await?))
}

/// Sends a test event to the caller's webhook `id`; answers the attempt.
pub async fn send_test(state: &AppState, caller: &Caller, id: &str) -> Result<Attempt, ApiError> {
    let sub = owned(state, caller, id).await?;
    require_live(&sub)?;
    if sub.row.kind == subs::EMAIL {
        return Err(ApiError::bad_request(
            "an e-mail digest has no webhook to send a test event to",
        ));
    }
    let attempt = state.worker.send_test(&sub).await?;
    Ok(attempt_view(&sub, attempt, &state.cursor_key))
}
