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

use std::io::Write;

use actix_web::body::SizedStream;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::feed_cache::{Encoding, Tee};
use super::{body, stream, ApiError, AppState, Caller};
use crate::delta;
use crate::feeds::Format;
use crate::pull::{self, PageHead, PullError};
use crate::store::channels::{self, ChannelRow, PutOutcome};
use crate::store::{self, DbConnection, StoreError};
use crate::tokens::Role;

/// Changes per page by default, and at most.
const CHANGES_DEFAULT: i64 = 1000;
const CHANGES_MAX: i64 = 10_000;
/// Bumped whenever a renderer's output changes, so that ETags of old renderings go stale.
const RENDERER_VERSION: &str = "2";

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
    let inflight = state.deliverer.inflight.clone();
    let notices = state
        .db
        .write(move |conn| crate::access::delete_channel(conn, &inflight, &code))
        .await?
        .ok_or_else(|| ApiError::not_found("no channel with this code"))?;
    crate::access::send_notices(state.deliverer.mailer.as_ref(), &notices).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct FeedQuery {
    /// `json` (default), `ndjson`, `csv`, `xml`, or a profile: `google-xml`, `google-tsv`,
    /// `bmecat`, `gdsn-cin` (profiles in `feeds/profiles/`).
    format: Option<String>,
}

/// Gives the feed and change page responses one media type per format, profiles included, so
/// the OpenAPI document follows `feeds/profiles/` without being edited.
pub fn describe_formats(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Content, RefOr, Schema};
    let builtin = [Format::Json, Format::Ndjson, Format::Csv, Format::Xml];
    let mut types: Vec<&str> = builtin
        .into_iter()
        .chain(Format::profiles())
        .map(|f| {
            f.content_type()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
        })
        .collect();
    types.sort_unstable();
    types.dedup();
    for path in ["/v1/channels/{code}/feed", "/v1/channels/{code}/changes"] {
        let op = doc
            .paths
            .paths
            .get_mut(path)
            .and_then(|item| item.get.as_mut());
        if let Some(RefOr::T(ok)) = op.and_then(|op| op.responses.responses.get_mut("200")) {
            ok.content = types
                .iter()
                .map(|t| (t.to_string(), Content::new(None::<RefOr<Schema>>)))
                .collect();
        }
    }
}

fn parse_format(format: Option<&str>) -> Result<Format, ApiError> {
    let name = format.unwrap_or("json");
    Format::parse(name).ok_or_else(|| {
        ApiError::bad_field(
            "/format",
            format!("unknown format {name:?}; use {}", Format::names()),
        )
    })
}

/// 406 problem for a snapshot-only profile (Google): its changes do not exist, the full feed
/// does, and the body and the `Link` header point to it.
fn snapshot_only(code: &str, format: Format) -> HttpResponse {
    let feed = format!("/v1/channels/{code}/feed?format={}", format.as_str());
    let body = serde_json::json!({
        "type": "urn:partnerfeed:problem:snapshot-only",
        "title": "Not acceptable",
        "status": 406,
        "detail": format!(
            "the {} profile is a snapshot format without change pages; download the full feed \
             instead: {feed}",
            format.as_str()
        ),
        "pointer": "/format",
        "feed": feed,
    });
    HttpResponse::NotAcceptable()
        .content_type("application/problem+json")
        .insert_header((header::LINK, format!("<{feed}>; rel=\"alternate\"")))
        .body(body.to_string())
}

fn strong_etag(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    format!("\"{}\"", hex::encode(&hasher.finalize()[..16]))
}

/// A feed's ETag: it changes exactly when the cursor, the definition or the renderer does.
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

fn matches_if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

/// Headers known before a streamed body starts.
struct Head {
    cursor: String,
    etag: String,
    page: Option<PageHead>,
    /// 204 instead of 200: the format has no document for what there is to say (an empty
    /// BMEcat change page).
    no_content: bool,
}

/// Runs `render` on a blocking thread inside a read snapshot. It must call its `head`
/// callback before writing; the headers go out then, and the body streams behind them. An
/// error before the head becomes the response; a later one truncates the body. The body goes
/// through a spool (`stream`): the snapshot and its pooled connection end when the rendering
/// does, however slowly the client reads.
async fn stream_response<F>(
    state: &AppState,
    content_type: &'static str,
    render: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConnection, &mut dyn FnMut(Head), stream::BodyWriter) -> Result<(), PullError>
        + Send
        + 'static,
{
    let (writer, body) = stream::channel(&state.spool_dir);
    let abort = writer.abort_handle();
    let (head_tx, head_rx) = oneshot::channel::<Result<Head, ApiError>>();
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut head_tx = Some(head_tx);
        let result = db
            .read_conn()
            .map_err(PullError::from)
            .and_then(|mut conn| {
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
                    let _ = tx.send(Err(e.into()));
                }
                // The client went away, or the database failed mid-body: the client must see
                // a cut transfer, never a body that ends cleanly but short.
                None => {
                    tracing::debug!(error = %e, "feed stream ended early");
                    abort.fail(e.to_string());
                }
            }
        }
    });
    let head = head_rx
        .await
        .map_err(|_| ApiError::Internal("the feed renderer stopped early".into()))??;
    let mut response = if head.no_content {
        HttpResponse::NoContent()
    } else {
        HttpResponse::Ok()
    };
    response
        .content_type(content_type)
        .insert_header((header::ETAG, head.etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header(("Feed-Cursor", head.cursor));
    if let Some(page) = head.page {
        response.insert_header(("Changes-Next", page.next));
        response.insert_header(("Changes-Has-More", page.has_more.to_string()));
    }
    if head.no_content {
        return Ok(response.finish());
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
    query: super::query::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = parse_format(query.format.as_deref())?;
    let channel = visible_channel(&state, &caller, &code).await?;
    let etag = feed_etag(&channel, format);
    if matches_if_none_match(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let encoding = if accepts_gzip(&req) {
        Encoding::Gzip
    } else {
        Encoding::Identity
    };
    let key = state.cursor_key.clone();
    if let Some(path) = state.feed_cache.lookup(channel.id, format, encoding, &etag) {
        let cursor = pull::cursor(&channel, channel.last_seq, &key);
        if let Some(response) = cached_response(path, format, encoding, &etag, &cursor).await {
            return Ok(response);
        }
    }
    let cache_file = state.feed_cache.writer(channel.id, format, encoding);
    let mut response = stream_response(
        &state,
        format.content_type(),
        move |conn, send_head, writer| {
            let mut rendered_etag = String::new();
            let head = |channel: &ChannelRow, cursor: &str| {
                rendered_etag = feed_etag(channel, format);
                send_head(Head {
                    cursor: cursor.to_string(),
                    etag: rendered_etag.clone(),
                    page: None,
                    no_content: false,
                })
            };
            let tee = Tee {
                client: writer,
                file: cache_file,
            };
            let mut tee = match encoding {
                Encoding::Identity => {
                    pull::write_feed(conn, channel.id, format, &key, head, tee, |_| {})?
                }
                Encoding::Gzip => {
                    // Renderers write many small pieces; deflate wants them gathered.
                    let gz = std::io::BufWriter::with_capacity(
                        64 * 1024,
                        GzEncoder::new(tee, Compression::fast()),
                    );
                    pull::write_feed(conn, channel.id, format, &key, head, gz, |_| {})?
                        .into_inner()
                        .map_err(|e| PullError::from(e.into_error()))?
                        .finish()?
                }
            };
            tee.flush()?;
            if let Some(file) = tee.file {
                file.commit(&rendered_etag);
            }
            Ok(())
        },
    )
    .await?;
    if encoding == Encoding::Gzip {
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
        headers.insert(
            header::VARY,
            header::HeaderValue::from_static("accept-encoding"),
        );
    }
    Ok(response)
}

/// Whether the client takes gzip (`Accept-Encoding` lists it with a non-zero quality).
fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            name.eq_ignore_ascii_case("gzip") && q > 0.0
        })
}

/// A kept rendering, sent with the headers the rendering had; `None` when the file went away
/// in between (a newer rendering replaced it), and the caller renders afresh.
async fn cached_response(
    path: std::path::PathBuf,
    format: Format,
    encoding: Encoding,
    etag: &str,
    cursor: &str,
) -> Option<HttpResponse> {
    let file = std::fs::File::open(&path).ok()?;
    let (body, len) = stream::file(file).ok()?;
    let mut response = HttpResponse::Ok();
    response
        .content_type(format.content_type())
        .insert_header((header::ETAG, etag.to_string()))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header(("Feed-Cursor", cursor.to_string()));
    if encoding == Encoding::Gzip {
        response
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .insert_header((header::VARY, "accept-encoding"));
    }
    Some(response.body(SizedStream::new(len, body)))
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

/// Changes after a cursor, each product once at its current state, in sequence order.
#[utoipa::path(
    tag = "feeds",
    params(("code" = String, Path, description = "Channel code"), ChangesQuery),
    responses(
        (status = 200, description = "A page of changes, streamed"),
        (status = 204, description = "An empty page in a format without an empty document (BMEcat)"),
        (status = 304), (status = 400), (status = 404),
        (status = 406, description = "A snapshot-only profile: the problem links its full feed"),
        (status = 410, description = "The cursor is older than the retained change log")
    ),
    security(("bearer" = []))
)]
#[get("/v1/channels/{code}/changes")]
pub async fn channel_changes(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    code: web::Path<String>,
    query: super::query::Query<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    let ChangesQuery {
        since,
        limit,
        format,
    } = query.into_inner();
    let format = parse_format(format.as_deref())?;
    if !format.has_changes() {
        let channel = visible_channel(&state, &caller, &code).await?;
        return Ok(snapshot_only(&channel.code, format));
    }
    let limit = limit.unwrap_or(CHANGES_DEFAULT);
    if !(1..=CHANGES_MAX).contains(&limit) {
        return Err(ApiError::bad_field(
            "/limit",
            format!("limit must be between 1 and {CHANGES_MAX}"),
        ));
    }
    let channel = visible_channel(&state, &caller, &code).await?;
    let key = state.cursor_key.clone();
    let response = stream_response(
        &state,
        format.content_type(),
        move |conn, send_head, writer| {
            let head = |channel: &ChannelRow, page: &PageHead| {
                let etag = strong_etag(&[
                    "changes",
                    RENDERER_VERSION,
                    &page.since,
                    &page.next,
                    &limit.to_string(),
                    format.as_str(),
                    &channel.definition_hash,
                ]);
                send_head(Head {
                    cursor: page.next.clone(),
                    etag,
                    page: Some(page.clone()),
                    // T_UPDATE_PRODUCTS and a GDSN CIN need at least one product.
                    no_content: page.empty && !format.has_empty_change_page(),
                })
            };
            pull::write_changes(
                conn,
                channel.id,
                since.as_deref(),
                Some(limit),
                format,
                &key,
                head,
                writer,
            )?;
            Ok(())
        },
    )
    .await?;
    let etag = response
        .headers()
        .get(header::ETAG)
        .and_then(|e| e.to_str().ok())
        .map(str::to_string);
    match etag {
        Some(etag) if matches_if_none_match(&req, &etag) => Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish()),
        _ => Ok(response),
    }
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
    let (cursor, count, digest) = state
        .db
        .read(move |conn| store::snapshot(conn, |c| pull::digest(c, channel.id, &key)))
        .await?;
    Ok(HttpResponse::Ok().json(DigestResponse {
        cursor,
        count,
        digest,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// A profile: `google-xml`, `google-tsv`, `bmecat` or `gdsn-cin`.
    format: String,
}

#[derive(Serialize, ToSchema)]
pub struct FeedReport {
    channel: String,
    format: String,
    /// The cursor the report is consistent with (the feed at this cursor leaves out exactly
    /// the `excluded` products).
    cursor: String,
    /// Live products checked.
    checked: u64,
    /// Products left out of the profile's documents.
    excluded: u64,
    #[schema(value_type = Vec<Object>)]
    products: Vec<pull::ReportEntry>,
}

/// The feed managers' analyzer: every product of the channel that cannot be rendered validly
/// in a profile (left out of its documents), or only with warnings, with the reasons.
#[utoipa::path(
    tag = "feeds",
    params(("code" = String, Path, description = "Channel code"), ReportQuery),
    responses((status = 200, body = FeedReport), (status = 400), (status = 404)),
    security(("bearer" = []))
)]
#[get("/v1/channels/{code}/feed/report")]
pub async fn channel_feed_report(
    state: web::Data<AppState>,
    caller: Caller,
    code: web::Path<String>,
    query: super::query::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = parse_format(Some(&query.format))?;
    if format.profile().is_none() {
        return Err(ApiError::bad_field(
            "/format",
            format!(
                "{} renders every product; the report is for profiles: {}",
                format.as_str(),
                Format::profiles()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let channel = visible_channel(&state, &caller, &code).await?;
    let key = state.cursor_key.clone();
    let id = channel.id;
    let (cursor, checked, products) = state
        .db
        .read(move |conn| store::snapshot(conn, |c| pull::feed_report(c, id, format, &key)))
        .await?;
    Ok(HttpResponse::Ok().json(FeedReport {
        channel: channel.code,
        format: format.as_str().to_owned(),
        cursor,
        checked,
        excluded: products.iter().filter(|p| p.excluded).count() as u64,
        products,
    }))
}
