//! Background loops, one file each. Each exposes a synchronous `run_once` step (used by tests to
//! drive the work to completion) and an async loop that `serve` runs.
//! `deliveries` and `digests` share one [`worker::Worker`] context and its counters; neither
//! imports the other.

pub mod checkpoint;
pub mod deliveries;
pub mod delta;
pub mod digests;
pub mod snapshots;
pub mod worker;

/// How much nicer than the process a [`lowly`] thread is: under contention it gets about a
/// tenth of a core beside a request's thread (weights 110 against 1024 at nice 10 and 0), and
/// all it wants of an idle machine.
pub const LOWLY_NICE: i32 = 10;

/// Runs `f` on a thread of its own at a lower CPU priority ([`LOWLY_NICE`] more), for background
/// work that may take seconds of CPU and is never waited for by a request: it then yields the
/// cores to the requests (a first download renders on two threads) instead of sharing them.
/// `None` if `f` panicked. Where the priority cannot be lowered, `f` runs at the usual one.
pub async fn lowly<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let tid = Some(rustix::thread::gettid());
            let lowered = rustix::process::getpriority_process(tid).and_then(|nice| {
                rustix::process::setpriority_process(tid, (nice + LOWLY_NICE).min(19))
            });
            if let Err(e) = lowered {
                tracing::debug!(error = %e, "could not lower a background thread's priority");
            }
            // The receiver went away only if the loop itself stopped.
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start a background thread");
        return None;
    }
    rx.await.ok()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn lowly_work_runs_at_a_lower_priority_than_the_caller() {
        let nice = || rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let caller = nice();
        let inside = super::lowly("test", nice).await.unwrap();
        assert_eq!(inside, (caller + super::LOWLY_NICE).min(19));
        assert_eq!(nice(), caller, "the caller's own priority is unchanged");
        assert_eq!(super::lowly("test", || panic!("boom")).await, None::<()>);
    }
}
