//! The web console, served by `partnerfeed serve` under `/`: the vendor console (admin,
//! editor) and the partner portal (reseller). Server-rendered HTML (maud: templates checked at
//! compile time, every interpolation escaped), plain forms that work without JavaScript, one
//! stylesheet embedded in the binary. See docs/console.md, "How the console is built".
//!
//! - [`layout`]: the base page, navigation, flash area, form and field-error helpers.
//! - [`session`]: sign-in, the `Session` extractor (a signed-in person), CSRF and `Origin`.
//! - [`assets`]: the embedded stylesheet, served with long-lived caching.
//! - [`home`]: `/`, sign-in, sign-out.
//! - [`dashboard`]: the vendor console's home and the subscriptions across resellers.
//! - [`portal`]: the partner portal (a reseller's channels and subscriptions).
//! - [`channels`]: the vendor console's channels (definition, readiness, latest changes).
//! - [`resellers`]: the vendor console's resellers, their grants and tokens.
//! - [`products`]: the vendor console's products (search, page, edit, create, delete).
//!
//! Roles are enforced by the same functions the API handlers call (`api::channels::
//! visible_channel`, `service::subscriptions::visible_subscriptions`, ...): a page never re-implements a rule.

pub mod assets;
pub mod channels;
pub mod dashboard;
pub mod home;
pub mod layout;
pub mod portal;
pub mod products;
pub mod resellers;
pub mod session;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpResponse, ResponseError};
use futures_util::future::Either;

use crate::api::ApiError;
use crate::store::StoreError;

/// The policy of every console response: no inline script or style, nothing from elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; \
     base-uri 'none'; object-src 'none'";

/// Registers the console's routes in one scope at `/`, after the API's: it takes only the
/// paths the API does not. On the console's own paths ([`is_console_path`]) it adds the
/// security headers to every answer and refuses (403) unsafe methods unless `Origin` (or
/// `Referer`) names this very host.
pub fn scope() -> impl actix_web::dev::HttpServiceFactory {
    let scope = web::scope("");
    let scope = home::routes(scope);
    let scope = portal::routes(scope);
    let scope = products::routes(scope);
    let scope = channels::routes(scope);
    let scope = resellers::routes(scope);
    let scope = dashboard::routes(scope);
    let scope = assets::routes(scope);
    scope.wrap_fn(|req, service| {
        // The scope takes every path the API does not; what is not the console's (an unknown
        // API path) passes through untouched to the application's 404/405.
        let console = is_console_path(req.path());
        let started = std::time::Instant::now();
        let refused = if !console || matches!(*req.method(), Method::GET | Method::HEAD) {
            None
        } else {
            session::same_origin(req.request()).err()
        };
        let response = match refused {
            Some(e) => {
                let (http, _) = req.into_parts();
                Either::Left(std::future::ready(Ok(ServiceResponse::new(
                    http,
                    e.error_response(),
                ))))
            }
            None => Either::Right(service.call(req)),
        };
        async move {
            let mut response = response.await?;
            if console {
                secure_headers(response.headers_mut());
                server_timing(response.headers_mut(), started.elapsed());
            }
            Ok(response)
        }
    })
}

/// The paths the console owns: `/`, `/sign-in`, `/sign-out`, and everything under
/// `/console/`, `/portal/` and `/assets/`. A new area of pages gets its prefix here.
pub fn is_console_path(path: &str) -> bool {
    const EXACT: &[&str] = &["/", "/sign-in", "/sign-out", "/console", "/portal"];
    const UNDER: &[&str] = &["/console/", "/portal/", "/assets/"];
    EXACT.contains(&path) || UNDER.iter().any(|p| path.starts_with(p))
}

/// Sets the console's security headers (those already set, like an asset's caching, stay).
fn secure_headers(headers: &mut header::HeaderMap) {
    let set = |headers: &mut header::HeaderMap, name: header::HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, header::HeaderValue::from_static(value));
        }
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::CACHE_CONTROL, "no-store");
}

/// `Server-Timing: app;dur=<ms>`: the time the server spent on the page (the console's pages
/// are rendered whole before the first byte goes out), for the browser's developer tools and
/// the bench's `ui` scenario.
fn server_timing(headers: &mut header::HeaderMap, spent: std::time::Duration) {
    let value = format!("app;dur={:.3}", spent.as_secs_f64() * 1000.0);
    if let Ok(value) = header::HeaderValue::from_str(&value) {
        headers.insert(header::HeaderName::from_static("server-timing"), value);
    }
}

/// Why a console request failed: shown as an HTML page with the API's status and words.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No valid session: go to the sign-in page.
    #[error("sign in first")]
    SignIn,
    /// A form without the right CSRF token, or from another origin.
    #[error("refused: {0}")]
    Refused(&'static str),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        ConsoleError::Api(ApiError::from(e))
    }
}

impl From<crate::service::subscriptions::SubscriptionError> for ConsoleError {
    fn from(e: crate::service::subscriptions::SubscriptionError) -> Self {
        ConsoleError::Api(ApiError::from(e))
    }
}

impl ConsoleError {
    pub fn not_found() -> ConsoleError {
        ConsoleError::Api(ApiError::not_found("no such page"))
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::Refused(_) => StatusCode::FORBIDDEN,
            ConsoleError::Api(ApiError::Unauthorized) => StatusCode::SEE_OTHER,
            ConsoleError::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, detail) = match self {
            ConsoleError::SignIn | ConsoleError::Api(ApiError::Unauthorized) => {
                return layout::redirect("/sign-in");
            }
            ConsoleError::Refused(why) => ("Forbidden", (*why).to_string()),
            ConsoleError::Api(e) => {
                if let ApiError::Internal(cause) = e {
                    tracing::error!(cause = %format!("{cause:#}"), "console request failed");
                }
                let (_, title, detail) = e.parts();
                (title, detail)
            }
        };
        let mut response = layout::html(layout::error_page(self.status_code(), title, &detail));
        *response.status_mut() = self.status_code();
        response
    }
}

/// The answer of a console handler.
pub type Page = Result<HttpResponse, ConsoleError>;
