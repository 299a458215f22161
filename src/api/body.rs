//! Reading request bodies with a size limit, and JSON parsing that says where it failed.

use std::time::Duration;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::{http::header, web, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde_json::Value;

use super::ApiError;

/// Makes the request body fail with `TimedOut` when no byte arrives for `timeout`, so that a
/// client trickling a body cannot hold a connection (and a handler) forever. `read` answers it
/// with 408.
pub fn limit_read_time(req: &mut ServiceRequest, timeout: Duration) {
    let payload = req.take_payload();
    let stream = futures_util::stream::unfold(Some(payload), move |payload| async move {
        let mut payload = payload?;
        match tokio::time::timeout(timeout, payload.next()).await {
            Ok(Some(item)) => Some((item, Some(payload))),
            Ok(None) => None,
            Err(_) => {
                let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "body read timed out");
                Some((Err(PayloadError::Io(e)), None))
            }
        }
    });
    req.set_payload(Payload::Stream {
        payload: Box::pin(stream),
    });
}

/// Reads the whole body, refusing with 413 past `limit` bytes.
pub async fn read(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                ApiError::RequestTimeout
            }
            e => ApiError::bad_request(format!("cannot read body: {e}")),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses a JSON document; a syntax error names its line and column.
pub fn json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(not_json)
}

/// The 400 for a body that is not JSON: serde_json's message names the line and column once.
pub fn not_json(e: serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("the body is not valid JSON: {e}"))
}

/// The media type of the request, without parameters, lowercased.
pub fn media_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// Accepts only the listed media types (an absent Content-Type is taken as the first).
pub fn require_media_type<'a>(req: &HttpRequest, allowed: &[&'a str]) -> Result<&'a str, ApiError> {
    match media_type(req) {
        None => Ok(allowed[0]),
        Some(m) => allowed.iter().find(|a| **a == m).copied().ok_or_else(|| {
            ApiError::UnsupportedMediaType {
                detail: format!(
                    "Content-Type {m} is not accepted here; use one of {}",
                    allowed.join(", ")
                ),
            }
        }),
    }
}
