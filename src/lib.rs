//! partnerfeed: a vendor's product catalog, projected per partner channel, delivered as hashed
//! deltas, feeds and signed webhooks.
//!
//! Modules in dependency order (each may use those above it, never those below):
//! - [`jcs`]: RFC 8785 canonical JSON and SHA-256 hashing.
//! - [`catalog`]: products and their validation (domain, no I/O).
//! - [`delta`]: channels, projection of a product for a channel, cursors, digests (domain).
//! - [`feeds`]: renderers of feeds and change pages to `impl Write` (domain).
//! - [`store`]: the only module that knows diesel and SQL.
//! - [`config`]: typed configuration.
//! - [`jobs`]: background loops.
//! - [`api`]: actix-web handlers.
//! - [`app`]: wires the HTTP server and the jobs from a `Config`.

pub mod catalog;
pub mod jcs;
