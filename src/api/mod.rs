//! The HTTP API (actix-web only): extractors, handlers and `ApiError`. Handlers are thin:
//! extract, parse into domain types, one store or editing call, respond. No SQL here.

pub mod auth;
pub mod body;
pub mod channels;
pub mod confirm;
pub mod error;
pub mod feed_cache;
pub mod feeds;
pub mod inflight;
pub mod openapi;
pub mod ops;
pub mod products;
pub mod query;
pub mod ratelimit;
pub mod resellers;
pub mod schemas;
pub mod stream;
pub mod subscriptions;
pub mod token_table;
pub mod tokens;

use std::sync::Arc;

use tokio::sync::Notify;

use utoipa_actix_web::service_config::ServiceConfig;

use crate::clock::Clock;
use crate::store::Db;

pub use auth::Caller;
pub use error::ApiError;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub body_limit: usize,
    /// The key that authenticates cursors, shared by every instance through the database.
    pub cursor_key: Arc<Vec<u8>>,
    /// The key that encrypts webhook secrets in the database (kept outside it).
    pub secret_key: Arc<crate::service::secrets::SecretKey>,
    /// Wakes the delta generator after a catalog or channel change commits.
    pub wake: Arc<Notify>,
    /// Wakes the webhook delivery loop (a subscription was made, enabled or replayed).
    pub wake_deliveries: Arc<Notify>,
    /// Ranges webhooks may reach although they are not public (`PARTNERFEED_WEBHOOK_ALLOW`).
    pub webhook_allow: Arc<crate::webhooks::AllowList>,
    /// The delivery and digest worker (tests drive it with `jobs::deliveries::run_once`).
    pub worker: Arc<crate::jobs::worker::Worker>,
    /// Digest limits and the public URL of confirmation links.
    pub digests: Arc<crate::config::DigestSettings>,
    pub rate_limit: Arc<ratelimit::RateLimiter>,
    /// Rendered full feeds kept on disk per ETag (`<data dir>/feed-cache`).
    pub feed_cache: Arc<feed_cache::FeedCache>,
    /// Who may read `/metrics`, and whether it has its own listener.
    pub metrics: Arc<ops::MetricsAccess>,
    /// Every token by hash, refreshed in the background: authentication needs no connection.
    pub tokens: Arc<token_table::TokenTable>,
    /// Requests in flight per token (`PARTNERFEED_TOKEN_CONCURRENCY`).
    pub inflight: Arc<inflight::InFlight>,
    /// Where response bodies are spooled beyond memory (`<data dir>/spool`), so that no
    /// database connection waits on a slow client.
    pub spool_dir: Arc<std::path::PathBuf>,
}

/// Registers every route; the OpenAPI document is collected from the same calls.
///
/// Routes are matched in the order they are registered, a pattern with parameters by a regular
/// expression: the routes partners poll (feeds, change pages) come first, so that their
/// requests (most of them answered 304 from memory) try no other pattern. No two patterns
/// match the same path, so the order changes nothing else.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(feeds::channel_feed)
        .service(feeds::channel_changes)
        .service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(schemas::list_schemas)
        .service(schemas::get_schema)
        .service(products::list_products)
        .service(products::batch_products)
        .service(products::get_product)
        .service(products::put_product)
        .service(products::patch_product)
        .service(products::delete_product)
        .service(products::product_history)
        .service(tokens::create_token)
        .service(tokens::list_tokens)
        .service(tokens::delete_token)
        .service(channels::list_channels)
        .service(channels::put_channel)
        .service(channels::get_channel)
        .service(channels::delete_channel)
        .service(feeds::channel_feed_report)
        .service(feeds::channel_digest)
        .service(resellers::list_resellers)
        .service(resellers::put_reseller)
        .service(resellers::get_reseller)
        .service(resellers::delete_reseller)
        .service(resellers::create_reseller_token)
        .service(subscriptions::create_subscription)
        .service(confirm::confirm_page)
        .service(confirm::confirm_digest)
        .service(subscriptions::list_subscriptions)
        .service(subscriptions::get_subscription)
        .service(subscriptions::patch_subscription)
        .service(subscriptions::delete_subscription)
        .service(subscriptions::subscription_attempts)
        .service(subscriptions::replay_subscription)
        .service(subscriptions::enable_subscription)
        .service(subscriptions::rotate_subscription_secret)
        .service(subscriptions::test_subscription);
}
