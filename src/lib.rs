//! partnerfeed: a vendor's product catalog, projected per partner channel, delivered as hashed
//! deltas, feeds and signed webhooks.
//!
//! Modules in dependency order (each may use those above it, never those below):
//! - [`jcs`], [`random`], [`clock`], [`files`]: leaves. RFC 8785 canonical JSON and SHA-256;
//!   random ids; the clock jobs and tests move; owner-only files and directories (0600/0700).
//! - [`catalog`]: products, their validation, and the one NDJSON/CSV line reader
//!   (`catalog::lines`) (domain, no I/O).
//! - [`delta`]: channels, projection of a product for a channel, cursors, digests (domain).
//! - [`feeds`]: renderers of feeds and change pages to `impl Write` (domain).
//! - [`webhooks`]: Standard Webhooks signing, retry schedule, SSRF guard, delivery state
//!   machine, HTTP client edge.
//! - [`mail`]: the mailer (SMTP, file outbox, memory) and the alert templates.
//! - [`store`]: the only module that knows diesel and SQL.
//! - [`service`]: the use cases, one function each, called by the API, the CLI, the demo
//!   loader and the jobs: `edit` (a vendor edit), `pull` (what a channel publishes), `tokens`,
//!   `access` (where subscriptions end), `subscriptions` (subscribing a webhook or a digest and
//!   managing it), `inflight` (the sends a withdrawal cancels), `secrets` (the key outside the
//!   database), `snapshots` (a channel's figures for the console without a walk of a large one).
//! - [`demo`]: the deterministic sample catalog (pure); `demo::load` stores it through `service`.
//! - [`config`]: typed configuration.
//! - [`jobs`]: background loops (delta generation, deliveries, digests, the console's channel
//!   snapshots); deliveries and digests share one `jobs::worker::Worker`.
//! - [`api`]: actix-web handlers, the only actix user; `ApiError` maps every failure once.
//! - [`cli`]: the command-line commands other than `serve` (import, export, token, secret-key,
//!   demo, migrate).
//! - [`console`]: the web console and partner portal (server-rendered HTML over the API's rules).
//! - [`app`]: wires the HTTP server and the jobs from a `Config`.
//!
//! Following a request through the tree:
//! - An edit: `api::products::put_product` → `service::edit::put_product` (product row,
//!   history entry, outbox event in one transaction) → `jobs::delta` projects it for every
//!   channel into `channel_records` (`delta::projection`, `store::channel_records`).
//! - A feed: `api::feeds::channel_feed` (ETag, gzip, cache) → `service::pull::write_feed` (one
//!   snapshot from `store`) → a `feeds` renderer, streamed through `api::stream`.
//! - A webhook: `api::subscriptions::create_subscription` → `service::subscriptions::create`
//!   (SSRF check, grant held, cursor placed, secret sealed) → `store::subscriptions`; then
//!   `jobs::deliveries` claims a due subscription → `service::pull::write_changes`
//!   freezes a batch → `webhooks::signing` signs it and `webhooks::client` POSTs it under
//!   `jobs::worker::Worker::guarded` → `webhooks::delivery::decide` → `store::subscriptions`.

pub mod api;
pub mod app;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod delta;
pub mod demo;
pub mod feeds;
pub mod files;
pub mod jcs;
pub mod jobs;
pub mod mail;
pub mod random;
pub mod service;
pub mod store;
pub mod webhooks;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
