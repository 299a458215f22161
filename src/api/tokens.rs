//! Token endpoints: admin and editor tokens (reseller tokens live with resellers).

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{body, ApiError, AppState, Caller};
use crate::store;
use crate::tokens::{self, Role};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// `admin` or `editor`.
    role: String,
    /// Shown in product history as the author of changes.
    name: String,
}

/// A token, shown once.
#[derive(Serialize, ToSchema)]
pub struct IssuedToken {
    pub token: String,
    pub name: String,
    pub role: String,
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
    let request: NewToken = serde_json::from_value(value)
        .map_err(|e| ApiError::invalid("", format!("expected {{\"role\", \"name\"}}: {e}")))?;
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
    let issued = state
        .db
        .write(move |conn| issue(conn, role, &name, None))
        .await?;
    Ok(HttpResponse::Created().json(issued))
}

/// A token name: 1 to 100 printable characters.
pub fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "/name",
            "name must be 1 to 100 printable characters",
        ));
    }
    Ok(name.to_string())
}

/// Creates a token and stores its hash; the secret is returned once and never kept.
pub fn issue(
    conn: &mut store::DbConnection,
    role: Role,
    name: &str,
    reseller: Option<&str>,
) -> Result<IssuedToken, store::StoreError> {
    let token = tokens::generate();
    store::tokens::insert(
        conn,
        &store::tokens::NewToken {
            token_hash: &tokens::hash(&token),
            name,
            role: role.as_str(),
            reseller_code: reseller,
            created_at: store::now(),
        },
    )?;
    Ok(IssuedToken {
        token,
        name: name.to_string(),
        role: role.as_str().to_string(),
    })
}
