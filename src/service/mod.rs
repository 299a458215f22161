//! Use cases between the edge and the domain: each is one function here that the HTTP API, the
//! CLI, the demo loader and the jobs all call. They speak in domain types and take a store
//! connection or a `Db`; they never see HTTP.
//! - [`edit`]: a vendor edit as one transaction (product row, history entry, outbox event).
//! - [`pull`]: what a channel publishes (full feed, changes since a cursor, digest, feed
//!   report), read in one snapshot and rendered to any `Write`.
//! - [`tokens`]: API tokens: generation, hashing, public ids, validation and issuing.
//! - [`access`]: withdrawal of access; the one place where subscriptions end.
//! - [`inflight`]: the sends in flight on this instance, which a withdrawal cancels before it
//!   commits (the delivery and digest jobs register theirs).
//! - [`subscriptions`]: webhook and e-mail digest subscriptions: subscribing, reading,
//!   pausing, re-pointing, replaying, rotating the secret, test events, deleting.
//! - [`secrets`]: the key outside the database and the secrets it encrypts inside it.
//! - [`snapshots`]: a channel's live count, digest and readiness as the console shows them
//!   (walked when small, else the background snapshot of `jobs::snapshots`, as of its seq).

pub mod access;
pub mod edit;
pub mod inflight;
pub mod pull;
pub mod secrets;
pub mod snapshots;
pub mod subscriptions;
pub mod tokens;
