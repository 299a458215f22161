//! The pull endpoints a reseller uses on a channel it may see: the full feed (streamed, with
//! ETags, gzip and the on-disk cache of rendered feeds), changes since a cursor, the digest and
//! the feed report. Reading and rendering are [`crate::service::pull`]'s; this module adds
//! HTTP: formats as media types, conditional requests, compression and streaming.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use utoipa::{IntoParams, ToSchema};

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::body::SizedStream;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::channels::visible_channel;
use super::feed_cache::{Encoding, Tee};
use super::{stream, ApiError, AppState, Caller};
use crate::feeds::Format;
use crate::service::pull::{self, PageHead, PullError};
use crate::store::channels::ChannelRow;
use crate::store::{self, DbConnection};

/// Changes per page by default, and at most.
const CHANGES_DEFAULT: i64 = 1000;
const CHANGES_MAX: i64 = 10_000;
/// Bumped whenever a renderer's output changes, so that ETags of old renderings go stale.
const RENDERER_VERSION: &str = "2";

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
    head_etag(
        channel.id,
        channel.last_seq,
        &channel.definition_hash,
        format,
    )
}

/// The ETag of channel `id`'s feed at `last_seq` under the definition `definition_hash`.
fn head_etag(id: i64, last_seq: i64, definition_hash: &str, format: Format) -> String {
    strong_etag(&[
        "feed",
        RENDERER_VERSION,
        &id.to_string(),
        &last_seq.to_string(),
        definition_hash,
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

/// The head of a streamed response, held until its body starts to leave the renderer.
struct PendingHead {
    head: Option<Head>,
    tx: Option<oneshot::Sender<Result<Head, ApiError>>>,
}

impl PendingHead {
    /// Sends the head held, once; a renderer that never gave one drops the sender, which the
    /// handler reports as a renderer that stopped early.
    fn release(pending: &Mutex<PendingHead>) {
        let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.head.is_some() {
            if let (Some(tx), Some(head)) = (p.tx.take(), p.head.take()) {
                let _ = tx.send(Ok(head));
            }
        }
    }
}

/// When the headers of a streamed response go out.
#[derive(Clone, Copy)]
enum HeadGoes {
    /// With the body's first chunk, or when a body smaller than a chunk is complete: a feed,
    /// whose size has no bound.
    WithFirstChunk,
    /// When the body is complete: a change page, bounded by its `limit`, is never cut.
    WhenComplete,
}

/// Runs `render` on a blocking thread inside a read snapshot. It must call its `head`
/// callback before writing; the headers go out as `goes` says, and the rest streams behind
/// them. An error before the headers go out becomes the response; a later one truncates the
/// body. The body goes through a spool (`stream`): the snapshot and its pooled connection end
/// when the rendering does, however slowly the client reads.
async fn stream_response<F>(
    state: &AppState,
    content_type: &'static str,
    goes: HeadGoes,
    render: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConnection, &mut dyn FnMut(Head), stream::BodyWriter) -> Result<(), PullError>
        + Send
        + 'static,
{
    let (mut writer, body) = stream::channel(&state.spool_dir);
    let abort = writer.abort_handle();
    let (head_tx, head_rx) = oneshot::channel::<Result<Head, ApiError>>();
    // The head waits until the first chunk of the body leaves the renderer (a feed), or until
    // the renderer ends (a change page, or a feed that fits in one chunk): a body whole before
    // anything is sent turns a failure while rendering it (the database going away) into a
    // problem response, not a cut connection.
    let pending = Arc::new(Mutex::new(PendingHead {
        head: None,
        tx: Some(head_tx),
    }));
    if let HeadGoes::WithFirstChunk = goes {
        let pending = pending.clone();
        writer.on_first_send(move || PendingHead::release(&pending));
    }
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || {
        let result = db
            .read_conn()
            .map_err(PullError::from)
            .and_then(|mut conn| {
                store::snapshot(&mut conn, |c| {
                    let mut send_head = |head: Head| {
                        let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
                        if p.tx.is_some() && p.head.is_none() {
                            p.head = Some(head);
                        }
                    };
                    render(c, &mut send_head, writer)
                })
            });
        match result {
            Ok(()) => PendingHead::release(&pending),
            Err(e) => {
                let tx = pending.lock().unwrap_or_else(|e| e.into_inner()).tx.take();
                match tx {
                    Some(tx) => {
                        let _ = tx.send(Err(e.into()));
                    }
                    // The client went away, or the database failed mid-body: the client must
                    // see a cut transfer, never a body that ends cleanly but short.
                    None => {
                        tracing::debug!(error = %e, "feed stream ended early");
                        abort.fail(e.to_string());
                    }
                }
            }
        }
    });
    let head = head_rx.await.map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context("the feed renderer stopped early"))
    })??;
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
    feed(&state, &caller, &req, &code, query.format.as_deref()).await
}

/// The full feed of channel `code` in `format` (default JSON) as the caller may read it:
/// `GET /v1/channels/{code}/feed`, and the console's download links.
pub async fn feed(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
    code: &str,
    format: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let format = parse_format(format)?;
    // A conditional request is answered from the in-memory channel heads when they can answer
    // (see `token_table`): a 304 then needs no database connection.
    if req.headers().contains_key(header::IF_NONE_MATCH) {
        if let Some(head) = state.tokens.visible_channel(caller.who(), code) {
            let etag = head_etag(head.id, head.last_seq, &head.definition_hash, format);
            if matches_if_none_match(req, &etag) {
                return Ok(HttpResponse::NotModified()
                    .insert_header((header::ETAG, etag))
                    .finish());
            }
        }
    }
    let channel = visible_channel(state, caller, code).await?;
    let etag = feed_etag(&channel, format);
    if matches_if_none_match(req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let encoding = if accepts_gzip(req) {
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
        state,
        format.content_type(),
        HeadGoes::WithFirstChunk,
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
    /// `json` (default), `ndjson`, `csv`, `xml`, `bmecat` or `gdsn-cin` (the Google profiles are
    /// snapshots only: 406, naming the full feed).
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
        HeadGoes::WhenComplete,
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
    pub cursor: String,
    pub count: u64,
    pub digest: String,
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
    Ok(HttpResponse::Ok().json(digest(&state, &caller, &code).await?))
}

/// The digest of channel `code` as the caller may read it: cursor, record count, SHA-256.
pub async fn digest(
    state: &AppState,
    caller: &Caller,
    code: &str,
) -> Result<DigestResponse, ApiError> {
    let channel = visible_channel(state, caller, code).await?;
    let key = state.cursor_key.clone();
    let (cursor, count, digest) = state
        .db
        .read(move |conn| store::snapshot(conn, |c| pull::digest(c, channel.id, &key)))
        .await?;
    Ok(DigestResponse {
        cursor,
        count,
        digest,
    })
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
