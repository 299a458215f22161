//! Webhooks: Standard Webhooks signing, the retry schedule, the SSRF guard, the delivery state
//! machine and the HTTP client edge. No diesel and no actix here; the delivery loop lives in
//! `jobs::deliveries`.

pub mod body;
pub mod client;
pub mod delivery;
pub mod guard;
pub mod schedule;
pub mod signing;

use std::time::Duration;

pub use guard::AllowList;
pub use schedule::RetrySchedule;

/// Changes per batch, at most.
pub const MAX_BATCH_CHANGES: i64 = 500;
/// Bytes per batch, at most (a single change larger than this still goes, alone).
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// Everything the delivery job needs to know, resolved from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub allow: AllowList,
    pub schedule: RetrySchedule,
    pub max_changes: i64,
    pub max_bytes: usize,
    /// Longest sleep between looks for work.
    pub poll: Duration,
    /// How long a claim on a subscription lasts; a crashed instance's claim expires after it.
    /// Longer than `timeout`.
    pub lease: Duration,
    /// How long one attempt may take in all (connect, send, answer).
    pub timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allow: AllowList::default(),
            schedule: RetrySchedule::default(),
            max_changes: MAX_BATCH_CHANGES,
            max_bytes: MAX_BATCH_BYTES,
            poll: Duration::from_millis(250),
            lease: Duration::from_secs(60),
            timeout: client::TOTAL_TIMEOUT,
        }
    }
}
