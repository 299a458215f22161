//! The `Caller` extractor: resolves `Authorization: Bearer <token>` to a role, from the
//! in-memory token table (no database connection on this path; see `token_table`). It also
//! applies the token's request rate and takes its concurrency permit.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpMessage, HttpRequest};

use super::token_table::{Lookup, Principal};
use super::{inflight, ApiError, AppState};
use crate::service::tokens::{self, Role};
use crate::store;

/// Who is calling: the token's name (recorded in history) and role.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's row id.
    pub token: i64,
    pub name: String,
    pub role: Role,
    pub reseller: Option<String>,
}

impl Caller {
    /// Fails with 403 unless the caller's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// Who asks, in the use cases' words.
    pub fn who(&self) -> crate::service::access::Who<'_> {
        crate::service::access::Who {
            role: self.role,
            reseller: self.reseller.as_deref(),
        }
    }
}

/// The principal of a token hash: from the table, or from the database while the table is
/// too old to be trusted.
pub(crate) async fn principal(state: &AppState, token_hash: String) -> Result<Principal, ApiError> {
    match state.tokens.lookup(&token_hash) {
        Lookup::Found(p) => Ok((*p).clone()),
        Lookup::Unknown => Err(ApiError::Unauthorized),
        Lookup::Stale => {
            // Looked up by its SHA-256: the secret itself is never compared or stored; the
            // final decision is a constant-time comparison.
            let presented = token_hash.clone();
            let row = state
                .db
                .read(move |conn| store::tokens::find_by_hash(conn, &token_hash))
                .await?
                .filter(|row| tokens::hash_matches(&presented, &row.token_hash))
                .ok_or(ApiError::Unauthorized)?;
            let id = row.id;
            Principal::from_row(row).ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("token {id} has an unknown role"))
            })
        }
    }
}

/// The token of an `Authorization` header value `Bearer <token>`; the scheme is matched
/// without regard to case (RFC 9110, 11.1).
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .map(tokens::hash);
        let req = req.clone();
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no application state")))?;
            let token_hash = presented.ok_or(ApiError::Unauthorized)?;
            let principal = principal(&state, token_hash).await?;
            let now = state.clock.now();
            if principal.expired(now) {
                return Err(ApiError::Unauthorized);
            }
            if let Err(wait) = state
                .rate_limit
                .check(principal.id, std::time::Instant::now())
            {
                return Err(ApiError::TooManyRequests {
                    retry_after: wait.as_secs().max(1),
                });
            }
            if req.extensions().get::<inflight::Permit>().is_none() {
                let permit = state
                    .inflight
                    .try_acquire(principal.id)
                    .ok_or(ApiError::TooManyConcurrent)?;
                req.extensions_mut().insert(permit);
            }
            state.tokens.note_use(principal.id, now);
            Ok(Caller {
                token: principal.id,
                name: principal.name,
                role: principal.role,
                reseller: principal.reseller,
            })
        })
    }
}
