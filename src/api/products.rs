//! Product endpoints: PUT/PATCH/GET/DELETE one product, the keyset list, the batch upsert and
//! the history.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{body, ApiError, AppState, Caller};
use crate::catalog::{self, FieldError, Product};
use crate::service::edit::{self, PutStatus, Stored};
use crate::service::tokens::Role;
use crate::store;

/// Most items one batch request may carry.
pub const BATCH_MAX_ITEMS: usize = 10_000;
/// Items validated and written per transaction within a batch.
const BATCH_CHUNK: usize = 1_000;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Return products whose SKU sorts after this one.
    after: Option<String>,
    /// Page size, 1 to 1,000 (default 100).
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ProductList {
    #[schema(value_type = Vec<Object>)]
    products: Vec<Value>,
    next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchResult {
    stored: usize,
    failed: usize,
    results: Vec<BatchItem>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchItem {
    line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    sku: Option<String>,
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    errors: Vec<FieldError>,
}

#[derive(Serialize, ToSchema)]
pub struct History {
    entries: Vec<HistoryEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryEntry {
    at: String,
    by: String,
    fields: Vec<String>,
    hash_before: Option<String>,
    hash_after: Option<String>,
}

fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn stored_response(status: StatusCode, stored: Stored) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, edit::etag(&stored.hash)))
        .content_type("application/json")
        .body(stored.body)
}

/// Create or replace a product.
#[utoipa::path(
    tag = "products",
    params(("sku" = String, Path, description = "Product SKU")),
    request_body(content = Object, description = "A product as written (schemas/product.schema.json)"),
    responses(
        (status = 201, description = "Created"), (status = 200, description = "Replaced or unchanged"),
        (status = 412, description = "Stale If-Match"), (status = 422, description = "Invalid product")
    ),
    security(("bearer" = []))
)]
#[put("/v1/products/{sku}")]
pub async fn put_product(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    sku: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Editor)?;
    body::require_media_type(&req, &["application/json"])?;
    let value = body::json(&body::read(payload, state.body_limit).await?)?;
    let product = catalog::parse_product(&value, Some(&sku))?;
    let if_match = if_match(&req);
    let now = state.clock.now();
    let stored = state
        .db
        .write(move |conn| {
            edit::put_product(conn, &product, if_match.as_deref(), &caller.name, now)
        })
        .await?;
    state.wake.notify_one();
    let status = match stored.status {
        PutStatus::Created => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    Ok(stored_response(status, stored))
}

/// Change a product with a JSON Merge Patch (RFC 7396).
#[utoipa::path(
    tag = "products",
    params(("sku" = String, Path, description = "Product SKU")),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Patched"), (status = 404), (status = 412), (status = 422)),
    security(("bearer" = []))
)]
#[patch("/v1/products/{sku}")]
pub async fn patch_product(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    sku: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Editor)?;
    body::require_media_type(&req, &["application/merge-patch+json", "application/json"])?;
    let patch = body::json(&body::read(payload, state.body_limit).await?)?;
    if !patch.is_object() {
        return Err(ApiError::invalid(
            "",
            "a merge patch for a product must be a JSON object",
        ));
    }
    let if_match = if_match(&req);
    let now = state.clock.now();
    let sku = sku.into_inner();
    let stored = state
        .db
        .write(move |conn| {
            edit::patch_product(conn, &sku, &patch, if_match.as_deref(), &caller.name, now)
        })
        .await?;
    state.wake.notify_one();
    Ok(stored_response(StatusCode::OK, stored))
}

/// One product in canonical form.
#[utoipa::path(
    tag = "products",
    params(("sku" = String, Path, description = "Product SKU")),
    responses((status = 200, description = "The product"), (status = 404)),
    security(("bearer" = []))
)]
#[get("/v1/products/{sku}")]
pub async fn get_product(
    state: web::Data<AppState>,
    caller: Caller,
    sku: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Editor)?;
    let sku = sku.into_inner();
    let row = state
        .db
        .read(move |conn| store::products::get(conn, &sku))
        .await?
        .ok_or_else(|| ApiError::not_found("no product with this SKU"))?;
    // The stored body is the canonical JSON: served as it is.
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, edit::etag(&row.hash)))
        .content_type("application/json")
        .body(row.body))
}

/// Delete a product; every channel that carried it publishes a deletion.
#[utoipa::path(
    tag = "products",
    params(("sku" = String, Path, description = "Product SKU")),
    responses((status = 204, description = "Deleted"), (status = 404), (status = 412)),
    security(("bearer" = []))
)]
#[delete("/v1/products/{sku}")]
pub async fn delete_product(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    sku: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Editor)?;
    let if_match = if_match(&req);
    let now = state.clock.now();
    let sku = sku.into_inner();
    state
        .db
        .write(move |conn| edit::delete_product(conn, &sku, if_match.as_deref(), &caller.name, now))
        .await?;
    state.wake.notify_one();
    Ok(HttpResponse::NoContent().finish())
}

/// Products in SKU order, a page at a time.
#[utoipa::path(
    tag = "products",
    params(ListQuery),
    responses((status = 200, body = ProductList)),
    security(("bearer" = []))
)]
#[get("/v1/products")]
pub async fn list_products(
    state: web::Data<AppState>,
    caller: Caller,
    query: super::query::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Editor)?;
    let ListQuery { after, limit } = query.into_inner();
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_field(
            "/limit",
            "limit must be between 1 and 1000",
        ));
    }
    let rows = state
        .db
        .read(move |conn| store::products::list(conn, after.as_deref(), limit + 1))
        .await?;
    let more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next = if more {
        rows.last().map(|r| r.sku.clone())
    } else {
        None
    };
    let products = rows
        .iter()
        .map(edit::parse_body)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(ProductList { products, next }))
}

/// Upsert many products from NDJSON or a JSON array; every item gets a result.
#[utoipa::path(
    tag = "products",
    request_body(
        description = "Products: a JSON array, or NDJSON (one product a line)",
        content(
            (Vec<Object> = "application/json"),
            (Vec<Object> = "application/x-ndjson")
        )
    ),
    responses((status = 200, body = BatchResult), (status = 413), (status = 415)),
    security(("bearer" = []))
)]
#[post("/v1/products/batch")]
pub async fn batch_products(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Editor)?;
    let media = body::require_media_type(&req, &["application/x-ndjson", "application/json"])?;
    let bytes = body::read(payload, state.body_limit).await?;
    let is_json = media == "application/json";
    let (db, by, now) = (state.db.clone(), caller.name.clone(), state.clock.now());
    let wake = state.wake.clone();
    // Items are parsed one at a time and stored a chunk per transaction: memory follows the
    // chunk, not the batch. The writer's connection is taken for each chunk's transaction only,
    // not while items are parsed and validated, so the generator can publish in between. The
    // body is counted, parsed and stored off the request's worker: a 10,000-line body does not
    // hold up the thread that serves other requests.
    let results = web::block(move || -> Result<Vec<BatchItem>, ApiError> {
        // Counted before anything is stored, so that an oversized batch stores nothing.
        let count = if is_json {
            count_array_items(&bytes)?
        } else {
            catalog::lines::ndjson_count(&bytes)
        };
        if count > BATCH_MAX_ITEMS {
            return Err(ApiError::invalid(
                "",
                format!("a batch holds at most {BATCH_MAX_ITEMS} items; this one has {count}"),
            ));
        }
        let mut results = Vec::with_capacity(count);
        let mut chunk = Vec::with_capacity(BATCH_CHUNK);
        let mut flush = |chunk: &mut Vec<catalog::lines::Item>| -> Result<(), ApiError> {
            let outcome = BatchOutcome::validate(std::mem::take(chunk));
            let mut conn = db.write_conn()?;
            let stored = store::transaction(&mut conn, |c| {
                edit::put_products(c, &outcome.valid, &by, now)
            })?;
            results.extend(outcome.finish(stored));
            wake.notify_one();
            Ok(())
        };
        let mut push = |item: catalog::lines::Item| -> Result<(), ApiError> {
            chunk.push(item);
            if chunk.len() == BATCH_CHUNK {
                flush(&mut chunk)?;
            }
            Ok(())
        };
        if is_json {
            let mut index = 0;
            for_each_array_item(&bytes, |value| {
                index += 1;
                push((index, Ok(value)))
            })?;
        } else {
            // `line` is the item's 1-based position; the parse errors name the file line.
            // Reading bytes in memory cannot fail.
            for (position, (_, item)) in catalog::lines::ndjson(&bytes[..]).flatten().enumerate() {
                push((position + 1, item))?;
            }
        }
        flush(&mut chunk)?;
        Ok(results)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    let failed = results.iter().filter(|r| r.status == "error").count();
    Ok(HttpResponse::Ok().json(BatchResult {
        stored: results.len() - failed,
        failed,
        results,
    }))
}

/// Counts the items of a JSON array without keeping them; a syntax error is a 400.
fn count_array_items(bytes: &[u8]) -> Result<usize, ApiError> {
    let mut count = 0;
    for_each_array_item_as::<serde::de::IgnoredAny>(bytes, |_| {
        count += 1;
        Ok(())
    })?;
    Ok(count)
}

fn for_each_array_item(
    bytes: &[u8],
    f: impl FnMut(Value) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    for_each_array_item_as::<Value>(bytes, f)
}

/// Deserialises the items of a top-level JSON array one at a time, handing each to `f`.
fn for_each_array_item_as<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    mut f: impl FnMut(T) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    use serde::de::{Deserializer as _, Error as _, SeqAccess, Visitor};

    struct Items<'a, T, F> {
        f: &'a mut F,
        stopped: &'a mut Option<ApiError>,
        item: std::marker::PhantomData<T>,
    }
    impl<'de, T: serde::de::DeserializeOwned, F: FnMut(T) -> Result<(), ApiError>> Visitor<'de>
        for Items<'_, T, F>
    {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of products")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(item) = seq.next_element::<T>()? {
                if let Err(e) = (self.f)(item) {
                    *self.stopped = Some(e);
                    return Err(A::Error::custom("stopped"));
                }
            }
            Ok(())
        }
    }

    let mut stopped = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let visited = de.deserialize_seq(Items {
        f: &mut f,
        stopped: &mut stopped,
        item: std::marker::PhantomData,
    });
    if let Some(e) = stopped {
        return Err(e);
    }
    visited.and_then(|()| de.end()).map_err(|e| {
        if e.is_data() {
            ApiError::invalid("", "a JSON batch must be an array of products")
        } else {
            body::not_json(e)
        }
    })
}

/// Validation results of one chunk, before and after the valid items are stored.
struct BatchOutcome {
    valid: Vec<Product>,
    /// Per item: its 1-based line, its SKU if known, and its errors (empty = valid).
    items: Vec<(usize, Option<String>, Vec<FieldError>)>,
}

impl BatchOutcome {
    fn validate(chunk: Vec<catalog::lines::Item>) -> BatchOutcome {
        let mut valid = Vec::new();
        let mut items = Vec::with_capacity(chunk.len());
        for (line, item) in chunk {
            match item {
                Err(errors) => items.push((line, None, errors)),
                Ok(value) => {
                    let sku = value.get("sku").and_then(Value::as_str).map(str::to_string);
                    match catalog::parse_product(&value, None) {
                        Ok(p) => {
                            valid.push(p);
                            items.push((line, sku, Vec::new()));
                        }
                        Err(e) => items.push((line, sku, e.errors)),
                    }
                }
            }
        }
        BatchOutcome { valid, items }
    }

    fn finish(self, stored: Vec<Stored>) -> Vec<BatchItem> {
        let mut stored = stored.into_iter();
        self.items
            .into_iter()
            .map(|(line, sku, errors)| {
                let status = if errors.is_empty() {
                    stored.next().map_or("error", |s| s.status.as_str())
                } else {
                    "error"
                };
                BatchItem {
                    line,
                    sku,
                    status,
                    errors,
                }
            })
            .collect()
    }
}

/// Who changed a product, when, and which fields.
#[utoipa::path(
    tag = "products",
    params(("sku" = String, Path, description = "Product SKU")),
    responses((status = 200, body = History), (status = 404)),
    security(("bearer" = []))
)]
#[get("/v1/products/{sku}/history")]
pub async fn product_history(
    state: web::Data<AppState>,
    caller: Caller,
    sku: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Editor)?;
    let sku = sku.into_inner();
    let rows = state
        .db
        .read(move |conn| store::products::history(conn, &sku))
        .await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(
            "no product with this SKU has ever existed",
        ));
    }
    let entries = rows
        .into_iter()
        .map(|r| HistoryEntry {
            at: r
                .at
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            by: r.by_name,
            fields: serde_json::from_str(&r.fields).unwrap_or_default(),
            hash_before: r.hash_before,
            hash_after: r.hash_after,
        })
        .collect();
    Ok(HttpResponse::Ok().json(History { entries }))
}
