//! The delivery state machine: what an attempt's outcome does to a subscription. Pure: the job
//! applies the decision in one transaction.

use std::time::Duration;

use super::client::{Failure, Response};
use super::schedule::{next_delay, RetrySchedule};

/// Consecutive failed attempts after which the reseller's contact is warned by e-mail.
pub const ALERT_AFTER_FAILURES: u32 = 3;

/// How an attempt is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the batch is delivered.
    Delivered,
    /// 410: the receiver asked to stop.
    Gone,
    /// Anything else: 3xx (redirects are not followed), 4xx, 5xx, transport errors.
    Failed,
}

pub fn judge(response: &Response) -> Verdict {
    match response.status {
        Some(s) if (200..300).contains(&s) => Verdict::Delivered,
        Some(410) => Verdict::Gone,
        _ => Verdict::Failed,
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Advance the cursor to the batch's end and drop the batch.
    Advance,
    /// Keep the frozen batch and try again after `after`. `alert` is set on the attempt that
    /// makes [`ALERT_AFTER_FAILURES`] failures in a row.
    Retry { after: Duration, alert: bool },
    /// Disable the subscription (the frozen batch is dropped; `enable` resumes from the cursor).
    Disable { reason: String },
}

/// The decision after an attempt, given the batch's failed attempts before this one and the
/// subscription's consecutive failures before this one. `jitter` is in [-1, 1].
pub fn decide(
    response: &Response,
    batch_failures: u32,
    consecutive_failures: u32,
    schedule: &RetrySchedule,
    jitter: f64,
) -> Next {
    match judge(response) {
        Verdict::Delivered => Next::Advance,
        Verdict::Gone => Next::Disable {
            reason: "the endpoint answered 410 Gone".into(),
        },
        Verdict::Failed => {
            let failed = batch_failures + 1;
            match schedule.delay_after(failed, jitter) {
                None => Next::Disable {
                    reason: format!(
                        "{failed} attempts failed over the whole retry schedule; last: {}",
                        describe(response)
                    ),
                },
                Some(scheduled) => {
                    let honoured = match response.status {
                        Some(429 | 503) => response.retry_after,
                        _ => None,
                    };
                    Next::Retry {
                        after: next_delay(scheduled, honoured, schedule.longest()),
                        alert: consecutive_failures + 1 == ALERT_AFTER_FAILURES,
                    }
                }
            }
        }
    }
}

/// Every value of [`outcome`], in the order the metrics list them.
pub const OUTCOMES: [&str; 6] = [
    "delivered",
    "failed",
    "gone",
    "timeout",
    "connection",
    "refused",
];

/// An attempt's outcome as one word, for the metrics: `delivered` (2xx), `gone` (410),
/// `failed` (any other answer), or the kind of transport failure (`timeout`, `connection`,
/// `refused` by the SSRF guard).
pub fn outcome(response: &Response) -> &'static str {
    match (judge(response), response.status, response.failure) {
        (Verdict::Delivered, _, _) => "delivered",
        (Verdict::Gone, _, _) => "gone",
        (_, Some(_), _) => "failed",
        (_, None, Some(Failure::Timeout)) => "timeout",
        (_, None, Some(Failure::Refused)) => "refused",
        (_, None, _) => "connection",
    }
}

/// An attempt's outcome in a few words, for logs and alert mails.
pub fn describe(response: &Response) -> String {
    match (response.status, &response.error) {
        (Some(s), None) => format!("HTTP {s}"),
        (Some(s), Some(e)) => format!("HTTP {s} ({e})"),
        (None, Some(e)) => e.clone(),
        (None, None) => "no response".into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn status(s: u16) -> Response {
        Response {
            status: Some(s),
            ..Default::default()
        }
    }

    #[test]
    fn outcomes_map_to_transitions() {
        let sched = RetrySchedule::parse("1s,2s").unwrap();
        assert_eq!(decide(&status(204), 1, 5, &sched, 0.0), Next::Advance);
        assert!(matches!(
            decide(&status(410), 0, 0, &sched, 0.0),
            Next::Disable { .. }
        ));
        assert_eq!(
            decide(&status(500), 0, 0, &sched, 0.0),
            Next::Retry {
                after: Duration::from_secs(1),
                alert: false
            }
        );
        // A redirect is a failure.
        assert!(matches!(
            decide(&status(302), 0, 0, &sched, 0.0),
            Next::Retry { .. }
        ));
        assert_eq!(
            decide(&status(500), 1, 2, &sched, 0.0),
            Next::Retry {
                after: Duration::from_secs(2),
                alert: true
            }
        );
        match decide(&status(500), 2, 3, &sched, 0.0) {
            Next::Disable { reason } => assert!(reason.contains("HTTP 500"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_counts_on_429_and_503_only() {
        let sched = RetrySchedule::parse("1s,1h").unwrap();
        let mut r = status(429);
        r.retry_after = Some(Duration::from_secs(30));
        assert_eq!(
            decide(&r, 0, 0, &sched, 0.0),
            Next::Retry {
                after: Duration::from_secs(30),
                alert: false
            }
        );
        r.status = Some(500);
        assert_eq!(
            decide(&r, 0, 0, &sched, 0.0),
            Next::Retry {
                after: Duration::from_secs(1),
                alert: false
            }
        );
    }
}
