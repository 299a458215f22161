//! The `Retry-After` header of a webhook receiver's answer, and the delay it leads to.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use partnerfeed::webhooks::schedule::{next_delay, parse_retry_after, RetrySchedule};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let schedule = RetrySchedule::default();
    let asked = parse_retry_after(text);
    for failed in 1..4 {
        if let Some(scheduled) = schedule.delay_after(failed, 0.5) {
            let delay = next_delay(scheduled, asked, schedule.longest());
            assert!(delay <= schedule.longest().max(scheduled));
            assert!(delay >= scheduled.min(Duration::from_secs(1)));
        }
    }
    // The operator's retry schedule uses the same duration syntax.
    let _ = RetrySchedule::parse(text);
});
