//! `ApiError`: every failure the API reports, as RFC 7807 `application/problem+json`. The status
//! mapping lives in one `match`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::catalog::{FieldError, ValidationErrors};
use crate::service::access::ChannelDenied;
use crate::service::edit::EditError;
use crate::service::pull::PullError;
use crate::service::subscriptions::SubscriptionError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request is malformed")]
    BadRequest {
        detail: String,
        pointer: Option<String>,
    },
    #[error("authentication required")]
    Unauthorized,
    #[error("this token's role may not do this")]
    Forbidden,
    #[error("not found")]
    NotFound { detail: String },
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    #[error("gone")]
    Gone { detail: String },
    #[error("conflict")]
    Conflict { detail: String },
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("the request body stalled")]
    RequestTimeout,
    #[error("the request body is too large")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported media type")]
    UnsupportedMediaType { detail: String },
    #[error("too many requests")]
    TooManyRequests { retry_after: u64 },
    #[error("too many concurrent requests")]
    TooManyConcurrent,
    /// The reseller's confirmation mails of the hour are spent (a bound against mail bombing
    /// an address through its confirmation links).
    #[error("too many confirmation mails")]
    TooManyConfirmationMails { limit: i32, retry_after: u64 },
    #[error("the content is invalid")]
    Invalid(ValidationErrors),
    #[error("the database is unavailable")]
    Unavailable(String),
    /// The cause is kept whole (its chain is logged), never shown: the body is generic.
    #[error("internal error")]
    Internal(anyhow::Error),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            detail: detail.into(),
            pointer: None,
        }
    }

    pub fn bad_field(pointer: &str, detail: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            detail: detail.into(),
            pointer: Some(pointer.to_string()),
        }
    }

    /// 409: the request does not fit the resource's state (an ended subscription, a limit).
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            detail: detail.into(),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::NotFound {
            detail: detail.into(),
        }
    }

    pub fn invalid(pointer: &str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid(ValidationErrors {
            errors: vec![FieldError {
                pointer: pointer.to_string(),
                message: message.into(),
            }],
        })
    }

    /// The problem's type, title and detail (the console shows the same words).
    pub fn parts(&self) -> (&'static str, &'static str, String) {
        match self {
            ApiError::BadRequest { detail, .. } => ("bad-request", "Bad request", detail.clone()),
            ApiError::Unauthorized => (
                "unauthorized",
                "Unauthorized",
                "send a valid token as `Authorization: Bearer <token>`".into(),
            ),
            ApiError::Forbidden => (
                "forbidden",
                "Forbidden",
                "this token's role does not allow this operation".into(),
            ),
            ApiError::NotFound { detail } => ("not-found", "Not found", detail.clone()),
            ApiError::MethodNotAllowed { allow } => (
                "method-not-allowed",
                "Method not allowed",
                format!("this path accepts {allow}"),
            ),
            ApiError::Gone { detail } => ("cursor-expired", "Gone", detail.clone()),
            ApiError::Conflict { detail } => ("conflict", "Conflict", detail.clone()),
            ApiError::PreconditionFailed => (
                "precondition-failed",
                "Precondition failed",
                "the resource changed since the ETag given in If-Match; GET it again and retry"
                    .into(),
            ),
            ApiError::RequestTimeout => (
                "request-timeout",
                "Request timeout",
                "the request body stopped arriving; the connection is closed".into(),
            ),
            ApiError::PayloadTooLarge { limit } => (
                "payload-too-large",
                "Payload too large",
                format!("the request body exceeds the limit of {limit} bytes"),
            ),
            ApiError::UnsupportedMediaType { detail } => (
                "unsupported-media-type",
                "Unsupported media type",
                detail.clone(),
            ),
            ApiError::TooManyRequests { retry_after } => (
                "rate-limited",
                "Too many requests",
                format!("this token exceeded its request rate; retry after {retry_after} s"),
            ),
            ApiError::TooManyConfirmationMails { limit, retry_after } => (
                "confirmation-mail-limit",
                "Too many confirmation mails",
                format!(
                    "this reseller may have at most {limit} confirmation mails per hour sent (new \
                     or re-pointed digest addresses); retry after {retry_after} s"
                ),
            ),
            ApiError::TooManyConcurrent => (
                "too-many-concurrent",
                "Too many requests",
                "this token has as many requests in flight as it may \
                 (PARTNERFEED_TOKEN_CONCURRENCY); retry once one has finished"
                    .into(),
            ),
            ApiError::Invalid(errors) => (
                "validation",
                "Validation failed",
                format!(
                    "{} problem(s) in the request; see `errors`",
                    errors.errors.len()
                ),
            ),
            ApiError::Unavailable(_) => (
                "unavailable",
                "Service unavailable",
                "the database is unavailable; retry shortly".into(),
            ),
            ApiError::Internal(_) => (
                "internal",
                "Internal server error",
                "an unexpected error occurred".into(),
            ),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. }
            | ApiError::TooManyConcurrent
            | ApiError::TooManyConfirmationMails { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(cause = %format!("{cause:#}"), "request failed")
            }
            ApiError::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            _ => {}
        }
        let (kind, title, detail) = self.parts();
        let kind = format!("urn:partnerfeed:problem:{kind}");
        let (pointer, errors) = match self {
            ApiError::BadRequest { pointer, .. } => (pointer.as_deref(), None),
            ApiError::Invalid(e) => (None, Some(e.errors.as_slice())),
            _ => (None, None),
        };
        let body = Problem {
            kind: &kind,
            title,
            status: status.as_u16(),
            detail,
            pointer,
            errors,
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, super::openapi::PROBLEM));
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        match self {
            ApiError::Unavailable(_) | ApiError::TooManyConcurrent => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::TooManyRequests { retry_after }
            | ApiError::TooManyConfirmationMails { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            // The rest of the body is not coming: the connection cannot carry another request.
            ApiError::RequestTimeout => {
                response.force_close();
            }
            _ => {}
        }
        response.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            ApiError::Unavailable(e.to_string())
        } else {
            ApiError::Internal(e.into())
        }
    }
}

impl From<EditError> for ApiError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::Invalid(errors) => ApiError::Invalid(errors),
            EditError::NotFound => ApiError::not_found("no product with this SKU"),
            EditError::PreconditionFailed => ApiError::PreconditionFailed,
            EditError::Store(e) => e.into(),
        }
    }
}

impl From<PullError> for ApiError {
    fn from(e: PullError) -> Self {
        match e {
            PullError::NoChannel => ApiError::not_found("no channel with this code"),
            PullError::MalformedCursor | PullError::FutureCursor => {
                ApiError::bad_field("/since", e.to_string())
            }
            PullError::Gone(detail) => ApiError::Gone {
                detail: detail.to_string(),
            },
            PullError::Store(e) => e.into(),
            PullError::Write(e) => ApiError::Internal(e.into()),
        }
    }
}

impl From<ChannelDenied> for ApiError {
    fn from(e: ChannelDenied) -> Self {
        match e {
            ChannelDenied::NotFound => ApiError::not_found("no channel with this code"),
            ChannelDenied::Forbidden => ApiError::Forbidden,
            ChannelDenied::Store(e) => e.into(),
        }
    }
}

/// The subscriptions use case's refusals, in the API's statuses, problem types and words.
impl From<SubscriptionError> for ApiError {
    fn from(e: SubscriptionError) -> Self {
        match e {
            SubscriptionError::NotFound => ApiError::not_found("no subscription with this id"),
            SubscriptionError::Forbidden => ApiError::Forbidden,
            SubscriptionError::Channel(e) => e.into(),
            SubscriptionError::Ended(_) | SubscriptionError::TooManyDigests { .. } => {
                ApiError::conflict(e.to_string())
            }
            SubscriptionError::TooManyConfirmationMails { limit, retry_after } => {
                ApiError::TooManyConfirmationMails { limit, retry_after }
            }
            SubscriptionError::NotAWebhook(detail) => ApiError::bad_request(detail),
            SubscriptionError::Invalid(errors) => ApiError::Invalid(errors),
            SubscriptionError::Store(e) => e.into(),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError::Invalid(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_refusal_answers_the_status_type_and_words_the_api_always_gave() {
        let cases = [
            (
                SubscriptionError::NotFound,
                404,
                "not-found",
                "no subscription with this id",
            ),
            (
                SubscriptionError::Channel(ChannelDenied::NotFound),
                404,
                "not-found",
                "no channel with this code",
            ),
            (
                SubscriptionError::Ended("access_revoked".into()),
                409,
                "conflict",
                "this subscription has ended (access_revoked): nothing is sent for it any more; \
                 it can be read and deleted, not changed",
            ),
            (
                SubscriptionError::TooManyDigests { limit: 3 },
                409,
                "conflict",
                "this reseller has 3 e-mail digest subscriptions already, the most allowed \
                 (PARTNERFEED_DIGESTS_PER_RESELLER); delete one first",
            ),
            (
                SubscriptionError::NotAWebhook("an e-mail digest has no webhook"),
                400,
                "bad-request",
                "an e-mail digest has no webhook",
            ),
        ];
        for (refusal, status, kind, detail) in cases {
            let error = ApiError::from(refusal);
            assert_eq!(error.status_code().as_u16(), status);
            let (k, _, d) = error.parts();
            assert_eq!((k, d.as_str()), (kind, detail));
        }
        let forbidden = ApiError::from(SubscriptionError::Forbidden);
        assert_eq!(forbidden.status_code(), StatusCode::FORBIDDEN);
        let budget = ApiError::from(SubscriptionError::TooManyConfirmationMails {
            limit: 10,
            retry_after: 60,
        });
        assert_eq!(budget.status_code(), StatusCode::TOO_MANY_REQUESTS);
        let response = budget.error_response();
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "60");
    }

    #[test]
    fn an_internal_error_keeps_its_cause_chain_and_answers_a_generic_body() {
        let io = std::io::Error::other("disk on fire");
        let error = ApiError::Internal(anyhow::Error::new(io).context("writing the spool"));
        let ApiError::Internal(cause) = &error else {
            unreachable!()
        };
        assert_eq!(format!("{cause:#}"), "writing the spool: disk on fire");
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = actix_web::rt::System::new()
            .block_on(actix_web::body::to_bytes(response.into_body()))
            .expect("a body in memory");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("an unexpected error occurred"), "{text}");
        assert!(
            !text.contains("disk on fire"),
            "the cause is logged, never shown: {text}"
        );
    }
}
