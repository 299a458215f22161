//! The retry schedule (`PARTNERFEED_WEBHOOK_RETRY_SCHEDULE`), its ±20 % jitter, and
//! `Retry-After` within bounds. Pure.

use std::time::Duration;

/// The default schedule: about three days in all.
pub const DEFAULT: &str = "5s,5m,30m,2h,5h,10h,14h,20h,24h";

/// Delays between attempts: after the n-th failed attempt of a batch, wait `delays[n-1]`.
/// When the delays run out, the subscription is disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    pub delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule::parse(DEFAULT).expect("the default schedule parses")
    }
}

/// Parses `250ms`, `5s`, `5m`, `2h` or `1d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?} is not a duration: no unit (ms, s, m, h or d)"))?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration: it does not start with a number"))?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "{s:?} is not a duration: unknown unit {unit:?}; use ms, s, m, h or d"
            ))
        }
    };
    Ok(Duration::from_millis(n.saturating_mul(ms)))
}

/// Writes a duration as [`parse_duration`] reads it, in the largest unit up to hours that
/// divides it (`24h`, `90s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms > 0 && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// The schedule as it is written, e.g. `5s,5m,30m`.
impl std::fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let delays: Vec<String> = self.delays.iter().map(|d| format_duration(*d)).collect();
        f.write_str(&delays.join(","))
    }
}

impl RetrySchedule {
    /// Parses a comma-separated list of delays, e.g. `5s,5m,30m`.
    pub fn parse(s: &str) -> Result<RetrySchedule, String> {
        let delays = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(parse_duration)
            .collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() {
            return Err("the retry schedule needs at least one delay".into());
        }
        Ok(RetrySchedule { delays })
    }

    /// The delay after the `failed`-th failed attempt (1-based), jittered by `jitter` in
    /// [-1, 1] times 20 %; `None` when the schedule is exhausted.
    pub fn delay_after(&self, failed: u32, jitter: f64) -> Option<Duration> {
        let base = *self.delays.get((failed as usize).checked_sub(1)?)?;
        let factor = 1.0 + 0.2 * jitter.clamp(-1.0, 1.0);
        Some(base.mul_f64(factor))
    }

    /// The longest delay of the schedule: the upper bound of an honoured `Retry-After`.
    pub fn longest(&self) -> Duration {
        self.delays.iter().copied().max().unwrap_or_default()
    }
}

/// A `Retry-After` value in seconds (HTTP dates are not honoured: they depend on the
/// receiver's clock), or `None` when absent or unreadable.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The wait after a failed attempt: the receiver's `Retry-After` when it gave one (429 or
/// 503), kept between one second (or the scheduled delay, if shorter) and the schedule's
/// longest delay; otherwise the scheduled delay.
pub fn next_delay(
    scheduled: Duration,
    retry_after: Option<Duration>,
    longest: Duration,
) -> Duration {
    match retry_after {
        Some(asked) => asked.clamp(
            scheduled.min(Duration::from_secs(1)),
            longest.max(scheduled),
        ),
        None => scheduled,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_schedule_is_written_back_as_it_is_read() {
        let schedule = RetrySchedule::parse("250ms, 90s,5m,2h,1d").unwrap();
        assert_eq!(schedule.to_string(), "250ms,90s,5m,2h,24h");
        assert_eq!(
            RetrySchedule::parse(&schedule.to_string()).unwrap(),
            schedule
        );
        assert_eq!(RetrySchedule::default().to_string(), DEFAULT);
    }

    #[test]
    fn the_default_schedule_spans_about_three_days() {
        let s = RetrySchedule::default();
        assert_eq!(s.delays.len(), 9);
        let total: Duration = s.delays.iter().sum();
        assert!(
            total > Duration::from_secs(3 * 86_400 - 6 * 3600),
            "{total:?}"
        );
        assert!(total < Duration::from_secs(4 * 86_400));
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let s = RetrySchedule::parse("100ms,10s").unwrap();
        assert_eq!(s.delay_after(1, 0.0), Some(Duration::from_millis(100)));
        assert_eq!(s.delay_after(2, 1.0), Some(Duration::from_secs(12)));
        assert_eq!(s.delay_after(2, -1.0), Some(Duration::from_secs(8)));
        assert_eq!(s.delay_after(2, 7.0), Some(Duration::from_secs(12)));
        assert_eq!(s.delay_after(3, 0.0), None);
        assert_eq!(s.delay_after(0, 0.0), None);
    }

    #[test]
    fn bad_schedules_are_refused_with_the_offending_part() {
        assert!(RetrySchedule::parse("").is_err());
        assert!(RetrySchedule::parse("5x").unwrap_err().contains("5x"));
        assert!(RetrySchedule::parse("s").is_err());
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let longest = Duration::from_secs(3600);
        let five = Duration::from_secs(5);
        assert_eq!(
            next_delay(five, Some(Duration::from_secs(60)), longest),
            Duration::from_secs(60)
        );
        assert_eq!(
            next_delay(five, Some(Duration::from_secs(86_400)), longest),
            longest
        );
        assert_eq!(
            next_delay(five, Some(Duration::ZERO), longest),
            Duration::from_secs(1)
        );
        assert_eq!(next_delay(five, None, longest), five);
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
