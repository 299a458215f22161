//! Subscriptions over HTTP: `POST /v1/channels/{code}/subscriptions`, `/v1/subscriptions` and
//! its recovery routes. Each handler reads the request, calls the use case in
//! `service::subscriptions` (where the rules live: ownership, ended subscriptions, digest
//! limits and confirmations) and answers; refusals map to problems in `api::error`.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::query::Query;
use super::{body, ApiError, AppState, Caller};
use crate::service::subscriptions::{
    self, view, Attempt, AttemptList, RotatedSecret, SubscriptionList, SubscriptionView,
};

impl AppState {
    /// What the subscriptions use case needs of the running service.
    pub fn subscriptions(&self) -> subscriptions::Context<'_> {
        subscriptions::Context {
            db: &self.db,
            clock: self.clock.as_ref(),
            cursor_key: &self.cursor_key,
            secret_key: &self.secret_key,
            webhook_allow: &self.webhook_allow,
            worker: &self.worker,
            digests: &self.digests,
            wake_deliveries: &self.wake_deliveries,
        }
    }
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
    let (sub, shown) =
        subscriptions::create(&state.subscriptions(), caller.who(), &code, &value).await?;
    Ok(HttpResponse::Created().json(view(&sub, &state.cursor_key, shown)))
}

/// The caller's subscriptions (an admin sees all).
#[utoipa::path(tag = "webhooks", responses((status = 200, body = SubscriptionList)), security(("bearer" = [])))]
#[get("/v1/subscriptions")]
pub async fn list_subscriptions(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let rows = subscriptions::visible_subscriptions(&state.subscriptions(), caller.who()).await?;
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
    let sub = subscriptions::owned(&state.subscriptions(), caller.who(), &id).await?;
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
    let sub = subscriptions::patch(&state.subscriptions(), caller.who(), &id, &value).await?;
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
    subscriptions::delete(&state.subscriptions(), caller.who(), &id).await?;
    Ok(HttpResponse::NoContent().finish())
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
    let sub = subscriptions::owned(&state.subscriptions(), caller.who(), &id).await?;
    let attempts = subscriptions::attempts(&state.subscriptions(), &sub, limit).await?;
    Ok(HttpResponse::Ok().json(AttemptList { attempts }))
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
    let since = subscriptions::replay_since(&value)?;
    let sub = subscriptions::replay(&state.subscriptions(), caller.who(), &id, since).await?;
    Ok(HttpResponse::Ok().json(view(&sub, &state.cursor_key, None)))
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
    let sub = subscriptions::enable(&state.subscriptions(), caller.who(), &id).await?;
    Ok(HttpResponse::Ok().json(view(&sub, &state.cursor_key, None)))
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
    Ok(HttpResponse::Ok()
        .json(subscriptions::rotate_secret(&state.subscriptions(), caller.who(), &id).await?))
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
    Ok(HttpResponse::Ok()
        .json(subscriptions::send_test(&state.subscriptions(), caller.who(), &id).await?))
}
