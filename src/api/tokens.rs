//! Token endpoints: create admin and editor tokens (reseller tokens are created under their
//! reseller), list every token, revoke one. Secrets are shown once, at creation; a token is
//! named everywhere else by its public id (`tok_...`), which reveals nothing of the secret.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::token_table::Principal;
use super::{body, ApiError, AppState, Caller};
use crate::service::tokens::{self, validate_expiry, validate_name, Role};
use crate::store;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// `admin` or `editor`.
    role: String,
    /// Shown in product history as the author of changes.
    name: String,
    /// When the token stops working (RFC 3339, in the future); never when absent.
    expires_at: Option<String>,
}

/// A token, shown once.
#[derive(Serialize, ToSchema)]
pub struct IssuedToken {
    /// The secret: send it as `Authorization: Bearer <token>`. Not shown again.
    pub token: String,
    /// The public id (`tok_...`), for listing and revoking.
    pub id: String,
    pub name: String,
    pub role: String,
    /// RFC 3339; only when the request asked for an expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// A token as listed: never its secret nor its hash.
#[derive(Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    /// `admin`, `editor` or `reseller`.
    pub role: String,
    /// The reseller's code, for a reseller token.
    pub reseller: Option<String>,
    pub created_at: String,
    /// Recorded coarsely: each instance writes it at most every 5 seconds.
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

fn rfc3339(t: chrono::NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl From<store::tokens::TokenRow> for TokenInfo {
    fn from(row: store::tokens::TokenRow) -> TokenInfo {
        TokenInfo {
            id: row.public_id,
            name: row.name,
            role: row.role,
            reseller: row.reseller_code,
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
            expires_at: row.expires_at.map(rfc3339),
        }
    }
}

/// Create an admin or editor token.
#[utoipa::path(
    tag = "tokens",
    request_body = NewToken,
    responses((status = 201, body = IssuedToken), (status = 422)),
    security(("bearer" = []))
)]
#[post("/v1/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    body::require_media_type(&req, &["application/json"])?;
    let value = body::json(&body::read(payload, state.body_limit).await?)?;
    let request: NewToken = serde_json::from_value(value).map_err(|e| {
        ApiError::invalid(
            "",
            format!("expected {{\"role\", \"name\", \"expires_at\"}}: {e}"),
        )
    })?;
    let role = match Role::parse(&request.role) {
        Some(r @ (Role::Admin | Role::Editor)) => r,
        _ => {
            return Err(ApiError::invalid(
                "/role",
                "role must be \"admin\" or \"editor\"",
            ))
        }
    };
    let name = validate_name(&request.name)?;
    let expires_at = validate_expiry(request.expires_at.as_deref(), state.clock.now())?;
    let (issued, principal) = state
        .db
        .write(move |conn| issue(conn, role, &name, None, expires_at))
        .await?;
    state.tokens.add(principal);
    Ok(HttpResponse::Created().json(issued))
}

/// Every token: admin, editor and reseller ones, oldest first. Secrets are never shown.
#[utoipa::path(
    tag = "tokens",
    responses((status = 200, body = TokenList)),
    security(("bearer" = []))
)]
#[get("/v1/tokens")]
pub async fn list_tokens(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let rows = state.db.read(store::tokens::list).await?;
    Ok(HttpResponse::Ok().json(TokenList {
        tokens: rows.into_iter().map(TokenInfo::from).collect(),
    }))
}

/// Revoke a token: it gets 401 at once on this instance and within a second on every other.
/// A token may revoke itself. The last admin token that has not expired cannot be revoked
/// here (409): create another first, or use `partnerfeed token revoke` on the host.
#[utoipa::path(
    tag = "tokens",
    params(("id" = String, Path, description = "The token's public id (tok_...)")),
    responses((status = 204), (status = 404), (status = 409)),
    security(("bearer" = []))
)]
#[delete("/v1/tokens/{id}")]
pub async fn delete_token(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    revoke(&state, &caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Issues a token ([`tokens::issue`]): what to show, and the principal for the
/// authentication table.
pub fn issue(
    conn: &mut store::DbConnection,
    role: Role,
    name: &str,
    reseller: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(IssuedToken, Principal), store::StoreError> {
    let issued = tokens::issue(conn, role, name, reseller, expires_at)?;
    Ok((
        IssuedToken {
            token: issued.token,
            id: issued.public_id,
            name: issued.name.clone(),
            role: role.as_str().to_string(),
            expires_at: expires_at.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        },
        Principal {
            id: issued.id,
            token_hash: issued.token_hash,
            name: issued.name,
            role,
            reseller: issued.reseller,
            expires_at,
        },
    ))
}

/// Revokes the token with public id `id` (admin only): the rule of `DELETE /v1/tokens/{id}`,
/// shared with the console (404 unknown, 409 for the last admin token).
pub async fn revoke(state: &AppState, caller: &Caller, id: &str) -> Result<(), ApiError> {
    caller.require(Role::Admin)?;
    let id = id.to_string();
    let now = state.clock.now().naive_utc();
    let revoked = state
        .db
        .write(move |conn| -> Result<_, ApiError> {
            // Concurrent revocations check for a remaining admin one after the other.
            store::tokens::lock_admins(conn)?;
            let Some(row) = store::tokens::delete(conn, &id)? else {
                return Err(ApiError::not_found("no token with this id"));
            };
            let admins_left = store::tokens::list(conn)?
                .into_iter()
                .filter(|t| t.role == Role::Admin.as_str())
                .any(|t| t.expires_at.is_none_or(|e| e > now));
            if row.role == Role::Admin.as_str() && !admins_left {
                // Rolls the deletion back.
                return Err(ApiError::Conflict {
                    detail: "this is the last admin token; create another admin token first".into(),
                });
            }
            Ok(row.id)
        })
        .await?;
    state.tokens.remove(revoked);
    Ok(())
}
