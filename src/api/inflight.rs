//! Per-token bound on concurrent requests (`PARTNERFEED_TOKEN_CONCURRENCY`). A request holds
//! a [`Permit`] from authentication until its response body is finished or dropped, so a
//! streaming download counts for as long as the client takes to read it.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::web::Bytes;
use actix_web::HttpMessage;

pub struct InFlight {
    /// 0: no bound.
    limit: usize,
    counts: Mutex<HashMap<i64, usize>>,
}

/// One request of one token in flight; released when dropped.
pub struct Permit {
    owner: Arc<InFlight>,
    token: i64,
}

impl InFlight {
    pub fn new(limit: usize) -> Arc<InFlight> {
        Arc::new(InFlight {
            limit,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A permit for `token`, or `None` when it already has `limit` requests in flight.
    pub fn try_acquire(self: &Arc<Self>, token: i64) -> Option<Permit> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(token).or_insert(0);
        if self.limit > 0 && *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Permit {
            owner: self.clone(),
            token,
        })
    }

    /// Requests of `token` in flight.
    pub fn count(&self, token: i64) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(&token).copied().unwrap_or(0)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.token) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.token);
            }
        }
    }
}

/// Moves the request's permit (left in its extensions by authentication) into the response
/// body, which releases it when it ends or is dropped.
pub fn hold_until_sent<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> ServiceResponse<Guarded> {
    let permit = response.request().extensions_mut().remove::<Permit>();
    response
        .map_into_boxed_body()
        .map_body(|_, body| Guarded { body, permit })
}

/// A response body that holds a permit until its last byte.
pub struct Guarded {
    body: BoxBody,
    permit: Option<Permit>,
}

impl MessageBody for Guarded {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let next = Pin::new(&mut this.body).poll_next(cx);
        if matches!(next, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.permit = None;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_at_most_limit_permits_and_each_comes_back() {
        let inflight = InFlight::new(2);
        let a = inflight.try_acquire(1).unwrap();
        let _b = inflight.try_acquire(1).unwrap();
        assert!(inflight.try_acquire(1).is_none());
        assert!(
            inflight.try_acquire(2).is_some(),
            "tokens are bounded apart"
        );
        drop(a);
        assert_eq!(inflight.count(1), 1);
        assert!(inflight.try_acquire(1).is_some());
    }
}
