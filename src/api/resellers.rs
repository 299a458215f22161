//! Reseller accounts (admin only): contact, channel access and reseller tokens.

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::channels::validate_code;
use super::tokens::{issue, IssuedToken};
use super::{body, ApiError, AppState, Caller};
use crate::catalog::{FieldError, ValidationErrors};
use crate::service::access;
use crate::service::tokens::Role;
use crate::service::tokens::{validate_expiry, validate_name};
use crate::store::{self, StoreError};

#[derive(Debug, Serialize, ToSchema)]
pub struct Reseller {
    pub code: String,
    pub name: String,
    pub email: String,
    pub channels: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ResellerList {
    pub resellers: Vec<Reseller>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResellerToken {
    name: Option<String>,
    /// When the token stops working (RFC 3339, in the future); never when absent.
    expires_at: Option<String>,
}

/// Checks a reseller body, naming every bad field: `{"name", "email", "channels"}`.
fn parse_reseller(value: &Value) -> Result<(String, String, Vec<String>), ValidationErrors> {
    let mut errors = Vec::new();
    let mut err = |pointer: &str, message: &str| {
        errors.push(FieldError {
            pointer: pointer.into(),
            message: message.into(),
        })
    };
    let Some(obj) = value.as_object() else {
        err("", "a reseller must be a JSON object");
        return Err(ValidationErrors { errors });
    };
    for key in obj.keys() {
        if !matches!(key.as_str(), "code" | "name" | "email" | "channels") {
            err(
                &format!("/{key}"),
                "unknown field; allowed: name, email, channels",
            );
        }
    }
    let name = match obj.get("name").and_then(Value::as_str).map(str::trim) {
        Some(n) if !n.is_empty() && n.chars().count() <= 200 => n.to_string(),
        _ => {
            err(
                "/name",
                "name is required: a non-empty string of at most 200 characters",
            );
            String::new()
        }
    };
    let email = match obj.get("email").and_then(Value::as_str).map(str::trim) {
        Some(e) if is_email(e) => e.to_string(),
        _ => {
            err(
                "/email",
                "email is required: an address like it@shop.example",
            );
            String::new()
        }
    };
    let mut channels = Vec::new();
    match obj.get("channels") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(c) if validate_code(c).is_ok() => channels.push(c.to_string()),
                    _ => err(&format!("/channels/{i}"), "a channel code"),
                }
            }
        }
        Some(_) => err("/channels", "channels must be an array of channel codes"),
    }
    channels.sort();
    channels.dedup();
    if errors.is_empty() {
        Ok((name, email, channels))
    } else {
        Err(ValidationErrors { errors })
    }
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && s.len() <= 254
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

fn reseller_json(
    conn: &mut store::DbConnection,
    row: store::resellers::ResellerRow,
) -> Result<Reseller, StoreError> {
    let channels = store::resellers::channels_of(conn, &row.code)?;
    Ok(Reseller {
        code: row.code,
        name: row.name,
        email: row.email,
        channels,
    })
}

/// Create or replace a reseller. Subscriptions on a channel left out of `channels` end
/// (`access_revoked`) in the same transaction; the contact gets one notice listing them.
#[utoipa::path(
    tag = "resellers",
    params(("code" = String, Path, description = "Reseller code")),
    request_body(content = Object, description = "{name, email, channels}"),
    responses((status = 201, body = Reseller), (status = 200, body = Reseller), (status = 422)),
    security(("bearer" = []))
)]
#[put("/v1/resellers/{code}")]
pub async fn put_reseller(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    code: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    validate_code(&code)?;
    body::require_media_type(&req, &["application/json"])?;
    let value = body::json(&body::read(payload, state.body_limit).await?)?;
    let (created, reseller) = store_reseller(&state, &caller, &code, &value).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(reseller))
}

/// Creates or replaces reseller `code` from a body as written (admin only): the rule of
/// `PUT /v1/resellers/{code}`, shared with the console. A grant withdrawn ends the reseller's
/// subscriptions on that channel, and its contact gets one notice. True when created.
pub async fn store_reseller(
    state: &AppState,
    caller: &Caller,
    code: &str,
    value: &Value,
) -> Result<(bool, Reseller), ApiError> {
    caller.require(Role::Admin)?;
    validate_code(code)?;
    if value.get("code").is_some_and(|c| c.as_str() != Some(code)) {
        return Err(ApiError::invalid(
            "/code",
            "code must equal the code in the URL",
        ));
    }
    let (name, email, channels) = parse_reseller(value)?;
    let code = code.to_string();
    let inflight = state.worker.inflight.clone();
    let (created, reseller, notices) = state
        .db
        .write(move |conn| -> Result<_, ApiError> {
            let existing: Vec<String> = store::channels::list(conn, Some(&channels))?
                .into_iter()
                .map(|c| c.code)
                .collect();
            let missing: Vec<FieldError> = channels
                .iter()
                .enumerate()
                .filter(|(_, c)| !existing.contains(c))
                .map(|(i, c)| FieldError {
                    pointer: format!("/channels/{i}"),
                    message: format!("no channel {c:?}"),
                })
                .collect();
            if !missing.is_empty() {
                return Err(ApiError::Invalid(ValidationErrors { errors: missing }));
            }
            // A grant this withdraws ends the reseller's subscriptions on that channel.
            let (created, notices) =
                access::put_reseller(conn, &inflight, &code, &name, &email, &channels)?;
            Ok((
                created,
                Reseller {
                    code,
                    name,
                    email,
                    channels,
                },
                notices,
            ))
        })
        .await?;
    access::send_notices(state.worker.mailer.as_ref(), &notices).await;
    Ok((created, reseller))
}

/// Reseller `code` (admin only), or 404.
pub async fn reseller(state: &AppState, caller: &Caller, code: &str) -> Result<Reseller, ApiError> {
    caller.require(Role::Admin)?;
    let code = code.to_string();
    state
        .db
        .read(move |conn| -> Result<_, StoreError> {
            match store::resellers::get(conn, &code)? {
                Some(row) => Ok(Some(reseller_json(conn, row)?)),
                None => Ok(None),
            }
        })
        .await?
        .ok_or_else(|| ApiError::not_found("no reseller with this code"))
}

/// Every reseller (admin only).
pub async fn resellers(state: &AppState, caller: &Caller) -> Result<Vec<Reseller>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(state
        .db
        .read(|conn| -> Result<_, StoreError> {
            store::resellers::list(conn)?
                .into_iter()
                .map(|row| reseller_json(conn, row))
                .collect()
        })
        .await?)
}

/// One reseller.
#[utoipa::path(
    tag = "resellers",
    params(("code" = String, Path, description = "Reseller code")),
    responses((status = 200, body = Reseller), (status = 404)),
    security(("bearer" = []))
)]
#[get("/v1/resellers/{code}")]
pub async fn get_reseller(
    state: web::Data<AppState>,
    caller: Caller,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let reseller = reseller(&state, &caller, &code).await?;
    Ok(HttpResponse::Ok().json(reseller))
}

/// Every reseller.
#[utoipa::path(tag = "resellers", responses((status = 200, body = ResellerList)), security(("bearer" = [])))]
#[get("/v1/resellers")]
pub async fn list_resellers(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let resellers = resellers(&state, &caller).await?;
    Ok(HttpResponse::Ok().json(ResellerList { resellers }))
}

/// Delete a reseller and revoke its tokens; its subscriptions end (`reseller_deleted`) and its
/// contact gets one notice listing them.
#[utoipa::path(
    tag = "resellers",
    params(("code" = String, Path, description = "Reseller code")),
    responses((status = 204), (status = 404)),
    security(("bearer" = []))
)]
#[delete("/v1/resellers/{code}")]
pub async fn delete_reseller(
    state: web::Data<AppState>,
    caller: Caller,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let code = code.into_inner();
    let inflight = state.worker.inflight.clone();
    let deleted = code.clone();
    let notices = state
        .db
        .write(move |conn| access::delete_reseller(conn, &inflight, &deleted))
        .await?
        .ok_or_else(|| ApiError::not_found("no reseller with this code"))?;
    state.tokens.remove_reseller(&code);
    access::send_notices(state.worker.mailer.as_ref(), &notices).await;
    Ok(HttpResponse::NoContent().finish())
}

/// A token for a reseller, shown once.
#[utoipa::path(
    tag = "resellers",
    params(("code" = String, Path, description = "Reseller code")),
    request_body(content = NewResellerToken, description = "{name, expires_at} (both optional)"),
    responses((status = 201, body = IssuedToken), (status = 404)),
    security(("bearer" = []))
)]
#[post("/v1/resellers/{code}/tokens")]
pub async fn create_reseller_token(
    state: web::Data<AppState>,
    caller: Caller,
    code: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let bytes = body::read(payload, state.body_limit).await?;
    let request: NewResellerToken = if bytes.iter().all(u8::is_ascii_whitespace) {
        NewResellerToken {
            name: None,
            expires_at: None,
        }
    } else {
        serde_json::from_value(body::json(&bytes)?)
            .map_err(|e| ApiError::invalid("", format!("expected {{\"name\"}}: {e}")))?
    };
    let issued = issue_reseller_token(
        &state,
        &caller,
        &code,
        request.name.as_deref(),
        request.expires_at.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Created().json(issued))
}

/// Issues a token for reseller `code` (admin only): named `name` (the code when absent),
/// expiring at `expires_at` (RFC 3339) if given. The secret is in the answer, once.
pub async fn issue_reseller_token(
    state: &AppState,
    caller: &Caller,
    code: &str,
    name: Option<&str>,
    expires_at: Option<&str>,
) -> Result<IssuedToken, ApiError> {
    caller.require(Role::Admin)?;
    let code = code.to_string();
    let name = validate_name(name.unwrap_or(&code))?;
    let expires_at = validate_expiry(expires_at, state.clock.now())?;
    let (issued, principal) = state
        .db
        .write(move |conn| -> Result<_, ApiError> {
            if store::resellers::get(conn, &code)?.is_none() {
                return Err(ApiError::not_found("no reseller with this code"));
            }
            Ok(issue(conn, Role::Reseller, &name, Some(&code), expires_at)?)
        })
        .await?;
    state.tokens.add(principal);
    Ok(issued)
}
