//! The `Caller` extractor: resolves `Authorization: Bearer <token>` to a role.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};

use super::{ApiError, AppState};
use crate::store;
use crate::tokens::{self, Role};

/// Who is calling: the token's name (recorded in history) and role.
#[derive(Debug, Clone)]
pub struct Caller {
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
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| tokens::hash(t.trim()));
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("no application state".into()))?;
            let token_hash = presented.ok_or(ApiError::Unauthorized)?;
            // Looked up by its SHA-256: the secret itself is never compared or stored. Timing
            // of the indexed lookup can tell at most how a hash compares, which says nothing
            // of a token with that hash; the final decision is a constant-time comparison.
            let presented = token_hash.clone();
            let row = state
                .db
                .read(move |conn| store::tokens::find_by_hash(conn, &token_hash))
                .await?
                .filter(|row| tokens::hash_matches(&presented, &row.token_hash))
                .ok_or(ApiError::Unauthorized)?;
            if let Err(wait) = state.rate_limit.check(row.id, std::time::Instant::now()) {
                return Err(ApiError::TooManyRequests {
                    retry_after: wait.as_secs().max(1),
                });
            }
            let role = Role::parse(&row.role).ok_or_else(|| {
                ApiError::Internal(format!("token {} has role {}", row.id, row.role))
            })?;
            Ok(Caller {
                name: row.name,
                role,
                reseller: row.reseller_code,
            })
        })
    }
}
