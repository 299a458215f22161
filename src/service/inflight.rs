//! Sends in flight on this instance, one per subscription, each cancellable: a withdrawal of
//! access cancels the sends of the subscriptions it ends before it commits, so that whatever
//! was on its way stops (the POST or SMTP conversation is dropped) and its outcome is not
//! recorded as a delivery. Sends on other instances notice the ending by polling
//! ([`Worker::guarded`](crate::jobs::worker::Worker::guarded)).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

#[derive(Default)]
pub struct InFlight {
    sends: Mutex<HashMap<String, (u64, watch::Sender<bool>)>>,
    next: AtomicU64,
}

/// One registered send; unregistered when dropped.
pub struct Guard<'a> {
    inflight: &'a InFlight,
    id: String,
    serial: u64,
    cancelled: watch::Receiver<bool>,
}

impl InFlight {
    /// Registers a send for subscription `id`. Register before the statement that starts the
    /// send, so that a withdrawal committing after that statement finds it.
    pub fn start(&self, id: &str) -> Guard<'_> {
        let serial = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(false);
        self.sends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), (serial, tx));
        Guard {
            inflight: self,
            id: id.to_string(),
            serial,
            cancelled: rx,
        }
    }

    /// Cancels the sends of these subscriptions (those in flight on this instance).
    pub fn cancel<S: AsRef<str>>(&self, ids: &[S]) {
        let sends = self.sends.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            if let Some((_, tx)) = sends.get(id.as_ref()) {
                tx.send_replace(true);
            }
        }
    }
}

impl Guard<'_> {
    /// Resolves once the send is cancelled (at once if it already was).
    pub async fn cancelled(&mut self) {
        if self.cancelled.wait_for(|c| *c).await.is_err() {
            // The sender is gone only when unregistered: never cancelled then.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let mut sends = self
            .inflight
            .sends
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if sends.get(&self.id).is_some_and(|(s, _)| *s == self.serial) {
            sends.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancel_reaches_the_registered_send_only() {
        let inflight = InFlight::default();
        let mut a = inflight.start("sub_a");
        let mut b = inflight.start("sub_b");
        inflight.cancel(&["sub_a"]);
        tokio::time::timeout(std::time::Duration::from_secs(1), a.cancelled())
            .await
            .expect("cancelled");
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), b.cancelled()).await;
        assert!(waited.is_err(), "sub_b was not cancelled");
        drop(a);
        assert!(inflight.sends.lock().unwrap().get("sub_a").is_none());
    }
}
