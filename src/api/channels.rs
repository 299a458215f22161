//! Channel definitions: create, read, list, delete (admin), and which channels a caller may
//! see. A reseller reaches only its own channels; any other answers 404, exactly like a channel
//! that does not exist. What a channel publishes is served by [`super::feeds`].

use actix_web::http::StatusCode;
use actix_web::{delete, get, put, web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{body, ApiError, AppState, Caller};
use crate::delta;
use crate::service::tokens::Role;
use crate::store::channels::{self, ChannelRow, PutOutcome};
use crate::store::{self, StoreError};

/// Codes of channels and resellers share the SKU syntax.
pub fn validate_code(code: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "/code",
            "a code is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
        ))
    }
}

/// The channel `code` if the caller may read it; 404 otherwise (also for a reseller asking for
/// a channel that exists but is not its own).
pub async fn visible_channel(
    state: &AppState,
    caller: &Caller,
    code: &str,
) -> Result<ChannelRow, ApiError> {
    Ok(crate::service::access::visible_channel(&state.db, caller.who(), code).await?)
}

/// Every channel the caller may read: all for an admin, its own for a reseller; 403 for an
/// editor (what `GET /v1/channels` answers, and the console shows).
pub async fn visible_channels(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<ChannelRow>, ApiError> {
    let reseller = match caller.role {
        Role::Admin => None,
        Role::Reseller => caller.reseller.clone(),
        Role::Editor => return Err(ApiError::Forbidden),
    };
    let is_admin = caller.role == Role::Admin;
    let rows = state
        .db
        .read(move |conn| -> Result<_, StoreError> {
            let codes = match reseller {
                Some(r) => Some(store::resellers::channels_of(conn, &r)?),
                None if is_admin => None,
                None => Some(Vec::new()),
            };
            channels::list(conn, codes.as_deref())
        })
        .await?;
    Ok(rows)
}

/// The channel as the API shows it: its code, then its definition.
pub fn channel_json(code: &str, definition: &str) -> Result<Value, ApiError> {
    let mut out = Map::new();
    out.insert("code".into(), Value::String(code.into()));
    let def: Map<String, Value> = serde_json::from_str(definition).map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context(format!("channel {code}")))
    })?;
    out.extend(def);
    Ok(Value::Object(out))
}

#[derive(Serialize, ToSchema)]
pub struct ChannelList {
    #[schema(value_type = Vec<Object>)]
    channels: Vec<Value>,
}

/// Create or redefine a channel. A new definition re-evaluates the catalog for it; only real
/// differences reach its partners.
#[utoipa::path(
    tag = "channels",
    params(("code" = String, Path, description = "Channel code")),
    request_body(content = Object, description = "A channel definition (schemas/channel.schema.json)"),
    responses((status = 201), (status = 200), (status = 422)),
    security(("bearer" = []))
)]
#[put("/v1/channels/{code}")]
pub async fn put_channel(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    code: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    body::require_media_type(&req, &["application/json"])?;
    let value = body::json(&body::read(payload, state.body_limit).await?)?;
    let (outcome, shown) = store_channel(&state, &caller, &code, value).await?;
    let status = if outcome == PutOutcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(shown))
}

/// Creates or redefines channel `code` from a definition as written (admin only): the rule
/// of `PUT /v1/channels/{code}`, shared with the console. Gives what was stored as the API
/// shows it.
pub async fn store_channel(
    state: &AppState,
    caller: &Caller,
    code: &str,
    mut value: Value,
) -> Result<(PutOutcome, Value), ApiError> {
    caller.require(Role::Admin)?;
    validate_code(code)?;
    if let Some(obj) = value.as_object_mut() {
        match obj.remove("code") {
            Some(Value::String(c)) if c == code => {}
            Some(_) => {
                return Err(ApiError::invalid(
                    "/code",
                    "code must equal the code in the URL",
                ))
            }
            None => {}
        }
    }
    let def = delta::parse_channel(&value)?;
    let definition = def.to_json().to_string();
    let hash = def.definition_hash();
    let code = code.to_string();
    let shown = channel_json(&code, &definition)?;
    let outcome = state
        .db
        .write(move |conn| channels::put(conn, &code, &definition, &hash))
        .await?;
    state.wake.notify_one();
    Ok((outcome, shown))
}

/// One channel.
#[utoipa::path(
    tag = "channels",
    params(("code" = String, Path, description = "Channel code")),
    responses((status = 200), (status = 404)),
    security(("bearer" = []))
)]
#[get("/v1/channels/{code}")]
pub async fn get_channel(
    state: web::Data<AppState>,
    caller: Caller,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = visible_channel(&state, &caller, &code).await?;
    Ok(HttpResponse::Ok().json(channel_json(&row.code, &row.definition)?))
}

/// Every channel the caller may read.
#[utoipa::path(tag = "channels", responses((status = 200, body = ChannelList)), security(("bearer" = [])))]
#[get("/v1/channels")]
pub async fn list_channels(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let rows = visible_channels(&state, &caller).await?;
    let channels = rows
        .iter()
        .map(|r| channel_json(&r.code, &r.definition))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(ChannelList { channels }))
}

/// Delete a channel and its change log. Its cursors answer 410 from then on, even if a
/// channel with the same code is created again; its grants go with it (a re-created channel
/// starts with none), its subscriptions end (`channel_deleted`) and each reseller concerned
/// gets one notice.
#[utoipa::path(
    tag = "channels",
    params(("code" = String, Path, description = "Channel code")),
    responses((status = 204), (status = 404)),
    security(("bearer" = []))
)]
#[delete("/v1/channels/{code}")]
pub async fn delete_channel(
    state: web::Data<AppState>,
    caller: Caller,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let code = code.into_inner();
    let inflight = state.worker.inflight.clone();
    let notices = state
        .db
        .write(move |conn| crate::service::access::delete_channel(conn, &inflight, &code))
        .await?
        .ok_or_else(|| ApiError::not_found("no channel with this code"))?;
    crate::service::access::send_notices(state.worker.mailer.as_ref(), &notices).await;
    Ok(HttpResponse::NoContent().finish())
}
