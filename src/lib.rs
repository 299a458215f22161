//! partnerfeed: a vendor's product catalog, projected per partner channel, delivered as hashed
//! deltas, feeds and signed webhooks.
//!
//! Modules in dependency order (each may use those above it, never those below):
//! - [`jcs`]: RFC 8785 canonical JSON and SHA-256 hashing.
//! - [`files`]: owner-only files and directories (0600/0700).
//! - [`catalog`]: products and their validation (domain, no I/O).
//! - [`delta`]: channels, projection of a product for a channel, cursors, digests (domain).
//! - [`feeds`]: renderers of feeds and change pages to `impl Write` (domain).
//! - [`webhooks`]: Standard Webhooks signing, retry schedule, SSRF guard, delivery state
//!   machine, HTTP client edge.
//! - [`mail`]: the mailer (SMTP, file outbox, memory) and the alert templates.
//! - [`store`]: the only module that knows diesel and SQL.
//! - [`secrets`]: the key outside the database that encrypts the secrets stored in it.
//! - [`config`]: typed configuration.
//! - [`jobs`]: background loops.
//! - [`access`]: withdrawal of access; the one place where subscriptions end.
//! - [`api`]: actix-web handlers.
//! - [`console`]: the web console and partner portal (server-rendered HTML over the API's rules).
//! - [`app`]: wires the HTTP server and the jobs from a `Config`.

pub mod access;
pub mod api;
pub mod app;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod console;
pub mod delta;
pub mod demo;
pub mod demo_load;
pub mod editing;
pub mod export;
pub mod feeds;
pub mod files;
pub mod import;
pub mod jcs;
pub mod jobs;
pub mod mail;
pub mod pull;
pub mod secrets;
pub mod store;
pub mod tokens;
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
