//! Console sessions: a person pastes an API token once at sign-in; it becomes a server-side
//! session (table `sessions`) whose random id travels in the `pf_session` cookie (`HttpOnly`,
//! `SameSite=Strict`, `Path=/`, `Secure` when `PARTNERFEED_PUBLIC_URL` is `https://...`).
//!
//! A session ends at sign-out, [`ABSOLUTE`] after sign-in, after [`IDLE`] without a request,
//! and as soon as its token is revoked or expires: every request resolves the session's token
//! through the in-memory token table (`api::token_table`), like the API's `Caller` does.
//!
//! Forms: every unsafe request must come from this very origin ([`same_origin`], applied to the
//! whole console scope) and, once signed in, carry the session's CSRF token ([`Posted`]).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::de::DeserializeOwned;

use super::ConsoleError;
use crate::api::token_table::{Lookup, Principal};
use crate::api::{ApiError, AppState, Caller};
use crate::service::tokens;
use crate::store;

/// The session cookie.
pub const COOKIE: &str = "pf_session";
/// A session ends this long after sign-in, whatever happens.
pub const ABSOLUTE: chrono::Duration = chrono::Duration::hours(12);
/// A session ends after this long without a request.
pub const IDLE: chrono::Duration = chrono::Duration::minutes(30);
/// How stale `last_seen_at` may get before a request writes it again.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// A signed-in person: the session and who its token is.
#[derive(Debug, Clone)]
pub struct Session {
    /// SHA-256 of the cookie's id (what the table stores).
    pub id_hash: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// The token's principal, exactly as the API would see it.
    pub caller: Caller,
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of cookie `name` in the request, if any.
fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether cookies must be `Secure`: the public URL (`PARTNERFEED_PUBLIC_URL`) is https.
fn secure(state: &AppState) -> bool {
    state.digests.public_url.starts_with("https://")
}

/// The `Set-Cookie` value carrying session `id` (or clearing it, with `None`).
pub fn set_cookie(state: &AppState, id: Option<&str>) -> String {
    let secure = if secure(state) { "; Secure" } else { "" };
    match id {
        Some(id) => format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            ABSOLUTE.num_seconds()
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// The principal of token row `id` now: from the token table, or from the database while the
/// table is too old to be trusted; `None` once the token is revoked or expired.
async fn principal_by_id(
    state: &AppState,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Principal>, ConsoleError> {
    let principal = match state.tokens.by_id(id) {
        Lookup::Found(p) => Some((*p).clone()),
        Lookup::Unknown => None,
        Lookup::Stale => state
            .db
            .read(move |conn| store::tokens::find_by_id(conn, id))
            .await
            .map_err(ApiError::from)?
            .and_then(Principal::from_row),
    };
    Ok(principal.filter(|p| !p.expired(now)))
}

fn caller(p: Principal) -> Caller {
    Caller {
        token: p.id,
        name: p.name,
        role: p.role,
        reseller: p.reseller,
    }
}

/// The session of `req`, if it has a live one.
pub async fn resolve(req: &HttpRequest) -> Result<Option<Session>, ConsoleError> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::Internal(anyhow::anyhow!("no application state")).into());
    };
    let Some(id) = cookie_value(req, COOKIE).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let id_hash = tokens::hash(&id);
    let now = state.clock.now();
    let lookup = id_hash.clone();
    let Some(row) = state
        .db
        .read(move |conn| store::sessions::find(conn, &lookup))
        .await
        .map_err(ApiError::from)?
        .filter(|row| tokens::hash_matches(&id_hash, &row.id_hash))
    else {
        return Ok(None);
    };
    let naive = now.naive_utc();
    let principal = principal_by_id(&state, row.token_id, now).await?;
    let live = row.expires_at > naive && row.last_seen_at > naive - IDLE;
    let Some(principal) = principal.filter(|_| live) else {
        let gone = row.id_hash.clone();
        state
            .db
            .write(move |conn| store::sessions::delete(conn, &gone))
            .await
            .map_err(ApiError::from)?;
        return Ok(None);
    };
    if naive - row.last_seen_at >= TOUCH_EVERY {
        let seen = row.id_hash.clone();
        state
            .db
            .write(move |conn| store::sessions::touch(conn, &seen, naive))
            .await
            .map_err(ApiError::from)?;
    }
    state.tokens.note_use(principal.id, now);
    Ok(Some(Session {
        id_hash: row.id_hash,
        csrf: row.csrf_secret,
        caller: caller(principal),
    }))
}

impl FromRequest for Session {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Session, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { resolve(&req).await?.ok_or(ConsoleError::SignIn) })
    }
}

/// Signs in with a pasted API `token`: answers the new session's cookie id and its caller, or
/// `None` when the token is unknown, revoked or expired.
pub async fn sign_in(
    state: &AppState,
    token: &str,
) -> Result<Option<(String, Caller)>, ConsoleError> {
    let token_hash = tokens::hash(token.trim());
    let principal = match crate::api::auth::principal(state, token_hash).await {
        Ok(p) => p,
        Err(ApiError::Unauthorized) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let now = state.clock.now();
    if principal.expired(now) {
        return Ok(None);
    }
    let id = random_secret();
    let naive = now.naive_utc();
    let row = store::sessions::SessionRow {
        id_hash: tokens::hash(&id),
        token_id: principal.id,
        csrf_secret: random_secret(),
        created_at: naive,
        last_seen_at: naive,
        expires_at: naive + ABSOLUTE,
    };
    state
        .db
        .write(move |conn| {
            store::sessions::delete_stale(conn, naive, naive - IDLE)?;
            store::sessions::insert(conn, &row)
        })
        .await
        .map_err(ApiError::from)?;
    state.tokens.note_use(principal.id, now);
    Ok(Some((id, caller(principal))))
}

/// Ends `session`.
pub async fn sign_out(state: &AppState, session: &Session) -> Result<(), ConsoleError> {
    let id_hash = session.id_hash.clone();
    state
        .db
        .write(move |conn| store::sessions::delete(conn, &id_hash))
        .await
        .map_err(ApiError::from)?;
    Ok(())
}

/// `host[:port]` of an `Origin` or `Referer` value.
fn authority(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    Some(match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// Refuses (403) an unsafe request unless its `Origin` (or, without one, its `Referer`) is this
/// request's own host: a form posted from another site never acts.
pub fn same_origin(req: &HttpRequest) -> Result<(), ConsoleError> {
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return Err(ConsoleError::Refused("the request names no host"));
    };
    let from = req
        .headers()
        .get(header::ORIGIN)
        .or_else(|| req.headers().get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(from) = from else {
        return Err(ConsoleError::Refused(
            "the request says neither Origin nor Referer; forms must be sent by a browser from this site",
        ));
    };
    // Default ports: `Host: example.com` and `Origin: https://example.com` agree.
    let host = host
        .strip_suffix(":80")
        .or_else(|| host.strip_suffix(":443"))
        .unwrap_or(host);
    match authority(from) {
        Some(a) if a.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(ConsoleError::Refused(
            "this form was sent from another site; it was not acted on",
        )),
    }
}

/// A form posted by a signed-in person: the session, and the form's fields once its CSRF
/// token (field `csrf`) matched the session's. Use it for every signed-in POST.
pub struct Posted<T> {
    pub session: Session,
    pub form: T,
}

#[derive(serde::Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

impl<T: DeserializeOwned + 'static> FromRequest for Posted<T> {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Posted<T>, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = Session::from_request(req, payload);
        let form = web::Form::<WithCsrf<T>>::from_request(req, payload);
        Box::pin(async move {
            let session = session.await?;
            let form = form
                .await
                .map_err(|e| ApiError::bad_request(format!("the form is malformed: {e}")))?
                .into_inner();
            if !tokens::hash_matches(&form.csrf, &session.csrf) {
                return Err(ConsoleError::Refused(
                    "the form's security token is missing or stale; reload the page and try again",
                ));
            }
            Ok(Posted {
                session,
                form: form.form,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn only_this_hosts_origin_may_post() {
        let req = |origin: Option<(&str, &str)>| {
            let mut r = TestRequest::post().insert_header((header::HOST, "feeds.example:8080"));
            if let Some(h) = origin {
                r = r.insert_header(h);
            }
            r.to_http_request()
        };
        assert!(same_origin(&req(Some(("origin", "http://feeds.example:8080")))).is_ok());
        assert!(same_origin(&req(Some(("referer", "http://feeds.example:8080/x")))).is_ok());
        assert!(same_origin(&req(Some(("origin", "http://evil.example:8080")))).is_err());
        assert!(same_origin(&req(Some(("origin", "http://feeds.example")))).is_err());
        assert!(same_origin(&req(Some(("origin", "null")))).is_err());
        assert!(same_origin(&req(None)).is_err());
    }
}
