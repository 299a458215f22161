//! Confirming a digest address. The link mailed to it (`GET /v1/subscriptions/confirm?token=`)
//! only answers a small page with a button; the POST that button makes (form-encoded `token`),
//! or an API client's `POST {"token"}`, confirms. Mail scanners that open every link (Safe
//! Links and the like) therefore confirm nothing: a person has to press the button. No API
//! token is needed: the one-time token is the proof.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::query::Query;
use super::{body, ApiError, AppState};
use crate::store::subscriptions as subs;

/// The policy of the confirmation pages: no script, no style, nothing from elsewhere; the one
/// form posts back here only.
pub const PAGE_POLICY: &str =
    "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
const UNKNOWN: &str = "this confirmation link is unknown, used or expired";

/// The confirmation pages in the served document: the link's page (200) and the page saying a
/// link is not valid (404) are HTML; the POST answers a page to the form and JSON to JSON.
pub fn describe_pages(doc: &mut serde_json::Value) {
    let html = |example: &str| {
        serde_json::json!({
            "schema": {"type": "string"},
            "example": format!("<!DOCTYPE html>\n<html lang=\"en\">...<h1>{example}</h1>...</html>")
        })
    };
    let path = &mut doc["paths"]["/v1/subscriptions/confirm"];
    let get = &mut path["get"]["responses"];
    get["200"]["content"] = serde_json::json!({"text/html": html("Confirm e-mail digests")});
    get["404"] = serde_json::json!({
        "description": "An unknown, used or expired link: a page saying so",
        "content": {"text/html": html("Link not valid")}
    });
    let post = &mut path["post"]["responses"];
    post["200"]["content"]["text/html"] = html("Confirmed");
    post["404"]["content"]["text/html"] = html("Link not valid");
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ConfirmQuery {
    /// The one-time token from the confirmation mail.
    token: Option<String>,
}

/// The body of `POST /v1/subscriptions/confirm` (JSON, or the page's form).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmRequest {
    /// The one-time token from the confirmation mail.
    token: String,
}

#[derive(Serialize, ToSchema)]
pub struct Confirmed {
    /// The digest subscription now confirmed.
    id: String,
    email: String,
    confirmed: bool,
}

/// A token as [`crate::service::tokens::generate`] makes them (`pf_` and base64url): anything else is
/// unknown, and what is put in the page is plain text.
fn well_formed(token: &str) -> Option<&str> {
    let ok = !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then_some(token)
}

fn page(mut response: HttpResponseBuilder, title: &str, body: &str) -> HttpResponse {
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
        // The token is in the page's URL: it must not travel on in a Referer or sit in a cache.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
             <title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
        ))
}

fn unknown_page() -> HttpResponse {
    page(
        HttpResponse::NotFound(),
        "Link not valid",
        "<p>This confirmation link is unknown, already used or expired.</p>",
    )
}

/// The page of the link mailed to a digest address: a button that confirms (a POST of the
/// token). Opening the link confirms nothing.
#[utoipa::path(
    tag = "webhooks",
    params(ConfirmQuery),
    responses((status = 200, description = "A page with a button that POSTs the token"))
)]
#[get("/v1/subscriptions/confirm")]
pub async fn confirm_page(query: Query<ConfirmQuery>) -> HttpResponse {
    let Some(token) = query.token.as_deref().and_then(well_formed) else {
        return unknown_page();
    };
    page(
        HttpResponse::Ok(),
        "Confirm e-mail digests",
        &format!(
            "<p>Press the button to receive the e-mail digests that were asked for this \
             address. If you did not expect them, close this page: nothing will be sent.</p>\n\
             <form method=\"post\" action=\"/v1/subscriptions/confirm\">\n\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
             <button type=\"submit\">Confirm this address</button>\n</form>"
        ),
    )
}

/// Confirm a digest address with the one-time token of its confirmation mail: `{"token"}` as
/// JSON (answered with JSON), or the form of the link's page (answered with a page). The token
/// is used up; an unknown, used or expired one answers 404.
#[utoipa::path(
    tag = "webhooks",
    request_body(content = ConfirmRequest, description = "{token}, as JSON or form-encoded"),
    responses((status = 200, body = Confirmed), (status = 404, description = "Unknown, used or expired token"))
)]
#[post("/v1/subscriptions/confirm")]
pub async fn confirm_digest(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let media = body::require_media_type(&req, &[JSON, FORM])?;
    let bytes = body::read(payload, state.body_limit.min(4096)).await?;
    let form = media == FORM;
    let request: Option<ConfirmRequest> = if form {
        serde_urlencoded::from_bytes(&bytes).ok()
    } else {
        serde_json::from_slice(&bytes).ok()
    };
    let token = request.as_ref().and_then(|r| well_formed(&r.token));
    let hash = token.map(crate::service::tokens::hash);
    let at = state.clock.now().naive_utc();
    let id = match hash {
        Some(hash) => state.db.write(move |c| subs::confirm(c, &hash, at)).await?,
        None => None,
    };
    let Some(id) = id else {
        return match form {
            true => Ok(unknown_page()),
            false => Err(ApiError::not_found(UNKNOWN)),
        };
    };
    let sub = state
        .db
        .read(move |c| subs::get(c, &id, None))
        .await?
        .ok_or_else(|| ApiError::not_found(UNKNOWN))?;
    if form {
        return Ok(page(
            HttpResponse::Ok(),
            "Address confirmed",
            &format!(
                "<p>This address is confirmed: the digests of channel {} will be sent to it.</p>",
                sub.channel_code
            ),
        ));
    }
    Ok(HttpResponse::Ok().json(Confirmed {
        id: sub.row.id,
        email: sub.row.email.unwrap_or_default(),
        confirmed: true,
    }))
}
