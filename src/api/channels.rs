//! Channel definitions (admin) and the pull endpoints a reseller uses: full feed, changes since
//! a cursor, digest. A reseller reaches only its own channels; any other answers 404, exactly
//! like a channel that does not exist.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use utoipa::{IntoParams, ToSchema};

use super::{body, stream, ApiError, AppState, Caller};
use crate::delta::{self, ChannelDef, ChannelDigest, Cursor};
use crate::feeds::{Change, ChangesWriter, FeedWriter, Format};
use crate::store::channel_records::{self, RecordRow};
use crate::store::channels::{self, ChannelRow, PutOutcome};
use crate::store::{self, DbConnection, StoreError};
use crate::tokens::Role;

/// Rows read per query while streaming.
const PAGE: i64 = 1000;
/// Changes per page by default, and at most.
const CHANGES_DEFAULT: i64 = 1000;
const CHANGES_MAX: i64 = 10_000;
/// Bumped whenever a renderer's output changes, so that ETags of old renderings go stale.
const RENDERER_VERSION: &str = "1";

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
    let not_found = || ApiError::not_found("no channel with this code");
    let reseller = match caller.role {
        Role::Admin => None,
        Role::Reseller => Some(caller.reseller.clone().ok_or_else(not_found)?),
        Role::Editor => return Err(ApiError::Forbidden),
    };
    let code = code.to_string();
    let row = state
        .db
        .read(move |conn| -> Result<_, StoreError> {
            if let Some(reseller) = reseller {
                if !store::resellers::channels_of(conn, &reseller)?.contains(&code) {
                    return Ok(None);
                }
            }
            channels::get(conn, &code)
        })
        .await?;
    row.ok_or_else(not_found)
}

fn parse_definition(row: &ChannelRow) -> Result<ChannelDef, ApiError> {
    let value: Value = serde_json::from_str(&row.definition)
        .map_err(|e| ApiError::Internal(format!("channel {}: {e}", row.code)))?;
    delta::parse_channel(&value)
        .map_err(|e| ApiError::Internal(format!("channel {} invalid: {:?}", row.code, e.errors)))
}

/// The channel as the API shows it: its code, then its definition.
fn channel_json(code: &str, definition: &str) -> Result<Value, ApiError> {
    let mut out = Map::new();
    out.insert("code".into(), Value::String(code.into()));
    let def: Map<String, Value> = serde_json::from_str(definition)
        .map_err(|e| ApiError::Internal(format!("channel {code}: {e}")))?;
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
    request_body(content = Object, description = "A channel definition, as in PRODUCT.md"),
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
    validate_code(&code)?;
    body::require_media_type(&req, &["application/json"])?;
    let mut value = body::json(&body::read(payload, state.body_limit).await?)?;
    if let Some(obj) = value.as_object_mut() {
        match obj.remove("code") {
            Some(Value::String(c)) if c == *code => {}
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
    let code = code.into_inner();
    let shown = channel_json(&code, &definition)?;
    let outcome = state
        .db
        .write(move |conn| channels::put(conn, &code, &definition, &hash))
        .await?;
    state.wake.notify_one();
    let status = if outcome == PutOutcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(shown))
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
    let channels = rows
        .iter()
        .map(|r| channel_json(&r.code, &r.definition))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(ChannelList { channels }))
}

/// Delete a channel and its change log. Its cursors answer 410 from then on, even if a
/// channel with the same code is created again.
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
    let deleted = state
        .db
        .write(move |conn| channels::delete(conn, &code))
        .await?;
    if !deleted {
        return Err(ApiError::not_found("no channel with this code"));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct FeedQuery {
    /// `json` (default), `ndjson`, `csv` or `xml`.
    format: Option<String>,
}

fn parse_format(format: Option<&str>) -> Result<Format, ApiError> {
    let name = format.unwrap_or("json");
    Format::parse(name).ok_or_else(|| {
        ApiError::bad_field(
            "/format",
            format!("unknown format {name:?}; use json, ndjson, csv or xml"),
        )
    })
}

fn carried_fields(def: &ChannelDef) -> Vec<String> {
    match &def.fields {
        Some(fields) => fields.iter().map(|f| f.as_str().to_string()).collect(),
        None => delta::Field::ALL
            .iter()
            .map(|f| f.as_str().to_string())
            .collect(),
    }
}

fn strong_etag(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    format!("\"{}\"", hex::encode(&hasher.finalize()[..16]))
}

fn feed_etag(channel: &ChannelRow, format: Format) -> String {
    strong_etag(&[
        "feed",
        RENDERER_VERSION,
        &channel.id.to_string(),
        &channel.last_seq.to_string(),
        &channel.definition_hash,
        format.as_str(),
    ])
}

fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

fn parse_record(row: &RecordRow) -> Result<Map<String, Value>, StoreError> {
    serde_json::from_str(row.record.as_deref().unwrap_or("{}")).map_err(|e| {
        StoreError::Corrupt(format!(
            "record {} of channel {}: {e}",
            row.sku, row.channel_id
        ))
    })
}

/// What a streaming read learned before its body: sent ahead so headers can be set.
struct Head {
    cursor: String,
    etag: String,
    next: Option<(String, bool)>,
}

/// Runs `render` on a blocking thread in a read snapshot; its head comes back first, then the
/// body streams. Errors before the head become the response; later ones truncate the body.
async fn stream_response<F>(
    state: &AppState,
    content_type: &'static str,
    render: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConnection, &mut dyn FnMut(Head), stream::BodyWriter) -> Result<(), ApiError>
        + Send
        + 'static,
{
    let (writer, body) = stream::channel();
    let (head_tx, head_rx) = oneshot::channel::<Result<Head, ApiError>>();
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut head_tx = Some(head_tx);
        let result = db.read_conn().map_err(ApiError::from).and_then(|mut conn| {
            store::snapshot(&mut conn, |c| {
                let mut send_head = |head: Head| {
                    if let Some(tx) = head_tx.take() {
                        let _ = tx.send(Ok(head));
                    }
                };
                render(c, &mut send_head, writer)
            })
        });
        if let Err(e) = result {
            match head_tx.take() {
                Some(tx) => {
                    let _ = tx.send(Err(e));
                }
                None => tracing::warn!(error = %e, "feed stream failed after its head"),
            }
        }
    });
    let head = head_rx
        .await
        .map_err(|_| ApiError::Internal("the feed renderer stopped early".into()))??;
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type)
        .insert_header((header::ETAG, head.etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header(("Feed-Cursor", head.cursor));
    if let Some((next, has_more)) = head.next {
        response.insert_header(("Changes-Next", next));
        response.insert_header(("Changes-Has-More", has_more.to_string()));
    }
    Ok(response.streaming(body))
}

/// The channel's full feed, consistent with the cursor it carries.
#[utoipa::path(
    tag = "feeds",
    params(("code" = String, Path, description = "Channel code"), FeedQuery),
    responses((status = 200, description = "The feed, streamed"), (status = 304), (status = 404)),
    security(("bearer" = []))
)]
#[get("/v1/channels/{code}/feed")]
pub async fn channel_feed(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    code: web::Path<String>,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = parse_format(query.format.as_deref())?;
    let channel = visible_channel(&state, &caller, &code).await?;
    let etag = feed_etag(&channel, format);
    if not_modified(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let key = state.cursor_key.clone();
    stream_response(
        &state,
        format.content_type(),
        move |conn, send_head, writer| {
            // Re-read inside the snapshot: the cursor must match the rows streamed below.
            let channel = channels::get_by_id(conn, channel.id)?
                .ok_or_else(|| ApiError::not_found("no channel with this code"))?;
            let def = parse_definition(&channel)?;
            let cursor = Cursor {
                channel_id: channel.id,
                epoch: channel.id,
                seq: channel.last_seq,
            }
            .encode(&key);
            send_head(Head {
                cursor: cursor.clone(),
                etag: feed_etag(&channel, format),
                next: None,
            });
            let mut feed = FeedWriter::begin(
                writer,
                format,
                &channel.code,
                &cursor,
                &carried_fields(&def),
            )
            .map_err(|e| ApiError::Internal(e.to_string()))?;
            let mut after = String::new();
            loop {
                let rows = channel_records::live_page(conn, channel.id, &after, PAGE)?;
                for row in &rows {
                    let record = parse_record(row)?;
                    let hash = row.hash.as_deref().unwrap_or_default();
                    if feed.product(&row.sku, hash, &record).is_err() {
                        return Ok(()); // the client went away
                    }
                }
                match rows.last() {
                    Some(last) if rows.len() as i64 == PAGE => after = last.sku.clone(),
                    _ => break,
                }
            }
            let _ = feed.finish();
            Ok(())
        },
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ChangesQuery {
    /// A cursor from a feed or a previous page; absent means from the beginning.
    since: Option<String>,
    /// Changes per page, 1 to 10,000 (default 1,000).
    limit: Option<i64>,
    /// `json` (default), `ndjson`, `csv` or `xml`.
    format: Option<String>,
}

fn gone(detail: &str) -> ApiError {
    ApiError::Gone {
        detail: detail.to_string(),
    }
}

/// Resolves `since` against the channel: the seq to read after.
fn since_seq(since: Option<&str>, channel: &ChannelRow, key: &[u8]) -> Result<i64, ApiError> {
    let Some(since) = since.filter(|s| !s.is_empty()) else {
        return Ok(0);
    };
    let cursor = Cursor::decode(since, key).map_err(|_| {
        ApiError::bad_field(
            "/since",
            "this cursor is malformed: pass a cursor exactly as received from a feed or a changes page",
        )
    })?;
    if cursor.channel_id != channel.id {
        return Err(gone(
            "this cursor belongs to another channel or to an earlier incarnation of this one; \
             resync from the full feed and follow its cursor",
        ));
    }
    if cursor.seq < channel.purged_seq {
        return Err(gone(
            "this cursor is older than the deletions kept for this channel; resync from the \
             full feed and follow its cursor",
        ));
    }
    if cursor.seq > channel.last_seq {
        return Err(ApiError::bad_field(
            "/since",
            "this cursor is ahead of the channel",
        ));
    }
    Ok(cursor.seq)
}

/// Changes after a cursor, each product once at its current state, in sequence order.
#[utoipa::path(
    tag = "feeds",
    params(("code" = String, Path, description = "Channel code"), ChangesQuery),
    responses((status = 200), (status = 400), (status = 404), (status = 410)),
    security(("bearer" = []))
)]
#[get("/v1/channels/{code}/changes")]
pub async fn channel_changes(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    code: web::Path<String>,
    query: web::Query<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    let ChangesQuery {
        since,
        limit,
        format,
    } = query.into_inner();
    let format = parse_format(format.as_deref())?;
    let limit = limit.unwrap_or(CHANGES_DEFAULT);
    if !(1..=CHANGES_MAX).contains(&limit) {
        return Err(ApiError::bad_field(
            "/limit",
            format!("limit must be between 1 and {CHANGES_MAX}"),
        ));
    }
    let channel = visible_channel(&state, &caller, &code).await?;
    let key = state.cursor_key.clone();
    since_seq(since.as_deref(), &channel, &key)?;
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
    let response = stream_response(
        &state,
        format.content_type(),
        move |conn, send_head, writer| {
            let channel = channels::get_by_id(conn, channel.id)?
                .ok_or_else(|| ApiError::not_found("no channel with this code"))?;
            let from = since_seq(since.as_deref(), &channel, &key)?;
            let def = parse_definition(&channel)?;
            let seqs = channel_records::page_seqs(conn, channel.id, from, limit)?;
            let has_more = seqs.len() as i64 > limit;
            let until = seqs
                .get(limit as usize - 1)
                .or(seqs.last())
                .copied()
                .unwrap_or(from);
            let cursor_at = |seq: i64| {
                Cursor {
                    channel_id: channel.id,
                    epoch: channel.id,
                    seq,
                }
                .encode(&key)
            };
            let (since_cursor, next) = (cursor_at(from), cursor_at(until));
            let etag = strong_etag(&[
                "changes",
                RENDERER_VERSION,
                &since_cursor,
                &next,
                format.as_str(),
                &channel.definition_hash,
            ]);
            send_head(Head {
                cursor: next.clone(),
                etag,
                next: Some((next.clone(), has_more)),
            });
            let mut page = ChangesWriter::begin(
                writer,
                format,
                &channel.code,
                &since_cursor,
                &carried_fields(&def),
            )
            .map_err(|e| ApiError::Internal(e.to_string()))?;
            let mut after = from;
            while after < until {
                let rows = channel_records::changes_until(conn, channel.id, after, until, PAGE)?;
                for row in &rows {
                    let written = match &row.hash {
                        Some(hash) => page.change(Change::Upsert {
                            sku: &row.sku,
                            hash,
                            record: &parse_record(row)?,
                        }),
                        None => page.change(Change::Delete { sku: &row.sku }),
                    };
                    if written.is_err() {
                        return Ok(());
                    }
                }
                match rows.last() {
                    Some(last) => after = last.seq,
                    None => break,
                }
            }
            let _ = page.finish(&next, has_more);
            Ok(())
        },
    )
    .await?;
    if let Some(tag) = if_none_match {
        let etag = response.headers().get(header::ETAG).cloned();
        if etag.is_some_and(|e| {
            tag.to_str()
                .is_ok_and(|t| t.split(',').any(|t| t.trim().as_bytes() == e.as_bytes()))
        }) {
            let mut not_modified = HttpResponse::NotModified();
            if let Some(e) = response.headers().get(header::ETAG) {
                not_modified.insert_header((header::ETAG, e.clone()));
            }
            return Ok(not_modified.finish());
        }
    }
    Ok(response)
}

#[derive(Serialize, ToSchema)]
pub struct DigestResponse {
    cursor: String,
    count: u64,
    digest: String,
}

/// SHA-256 over `sku<TAB>hash<LF>` of the live records in SKU byte order, with the cursor it
/// is consistent with.
#[utoipa::path(
    tag = "feeds",
    params(("code" = String, Path, description = "Channel code")),
    responses((status = 200, body = DigestResponse), (status = 404)),
    security(("bearer" = []))
)]
#[get("/v1/channels/{code}/digest")]
pub async fn channel_digest(
    state: web::Data<AppState>,
    caller: Caller,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let channel = visible_channel(&state, &caller, &code).await?;
    let key = state.cursor_key.clone();
    let digest = state
        .db
        .read(move |conn| {
            store::snapshot(conn, |c| -> Result<_, ApiError> {
                let channel = channels::get_by_id(c, channel.id)?
                    .ok_or_else(|| ApiError::not_found("no channel with this code"))?;
                let mut digest = ChannelDigest::new();
                let mut after = String::new();
                loop {
                    let rows = channel_records::live_page(c, channel.id, &after, PAGE)?;
                    for row in &rows {
                        digest.push(&row.sku, row.hash.as_deref().unwrap_or_default());
                    }
                    match rows.last() {
                        Some(last) if rows.len() as i64 == PAGE => after = last.sku.clone(),
                        _ => break,
                    }
                }
                let cursor = Cursor {
                    channel_id: channel.id,
                    epoch: channel.id,
                    seq: channel.last_seq,
                }
                .encode(&key);
                let count = digest.count();
                Ok(DigestResponse {
                    cursor,
                    count,
                    digest: digest.finish(),
                })
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(digest))
}
