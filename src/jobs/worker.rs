//! What the delivery and digest jobs share: one [`Worker`] context (database, settings, HTTP
//! sender, mailer, keys, lease owner, sends in flight) and the outcome [`Counters`] of both, so
//! that `deliveries` and `digests` each depend on this module and not on each other. A send of
//! either goes through [`Worker::guarded`], which re-checks the grant and cancels the send
//! when its subscription ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::mail::{self, Mailer};
use crate::service::secrets::SecretKey;
use crate::store::group::GroupWriter;
use crate::store::subscriptions as subs;
use crate::store::{Db, StoreError};
use crate::webhooks::client::Sender;
use crate::webhooks::delivery;
use crate::webhooks::Settings;

use crate::service::inflight::InFlight;

/// Digests by outcome, as counted in [`Worker::digests`].
pub const DIGEST_OUTCOMES: [&str; 3] = ["sent", "failed", "empty"];

/// Everything a delivery or a digest needs; shared by both loops and their tasks.
pub struct Worker {
    pub db: Db,
    /// The deliveries' and digests' small writes (claims, send checks, outcomes), committed
    /// in groups: a fan-out to many subscriptions costs a few transactions.
    pub writes: GroupWriter,
    pub settings: Settings,
    pub sender: Sender,
    pub mailer: Arc<dyn Mailer>,
    pub cursor_key: Arc<Vec<u8>>,
    /// Opens the webhook secrets stored in the database.
    pub secret_key: Arc<SecretKey>,
    /// This instance's name in leases.
    pub owner: String,
    /// Attempts by outcome (`delivery::OUTCOMES`), since this instance started.
    pub attempts: Counters,
    /// Digests by outcome ([`DIGEST_OUTCOMES`]), since this instance started.
    pub digests: Counters,
    /// Sends in flight on this instance, cancelled by a withdrawal of access.
    pub inflight: Arc<InFlight>,
    /// Changes pages rendered for webhooks, shared by the subscriptions at the same cursor.
    pub pages: Pages,
}

/// A changes page rendered for webhook batches: its end, its bytes in the subscription's
/// format (before the per-subscription JSON envelope), its head and the channel's code.
#[derive(Debug)]
pub struct SharedPage {
    pub to: i64,
    pub bytes: Vec<u8>,
    pub head: crate::service::pull::PageHead,
    pub channel_code: String,
}

/// (channel id, cursor, format): subscriptions with the same key get the same page.
pub type PageKey = (i64, i64, &'static str);

/// How long a rendered page serves later subscriptions at the same cursor. Any page built
/// from a committed snapshot is a valid batch for its cursor; a page that newer changes
/// outgrew only ends earlier (the next batch carries them).
const PAGE_KEPT: Duration = Duration::from_secs(1);

/// A page being rendered, or rendered.
type Slot = Arc<OnceCell<Arc<SharedPage>>>;

/// Pages rendered once per [`PageKey`] for a fan-out: the first subscription renders, the
/// others at the same cursor wait for it and share the bytes.
#[derive(Default)]
pub struct Pages {
    kept: Mutex<HashMap<PageKey, (Instant, Slot)>>,
}

impl Pages {
    /// The page of `key`, rendered by `build` unless a page of the last [`PAGE_KEPT`] is
    /// there (or being rendered: then this waits for it). Only a page is kept: when `build`
    /// answers something else (`Ok(Err(other))`: nothing to send, a cursor too old) or fails,
    /// that answer is this caller's, and the next caller builds again.
    pub async fn get_or_build<X, E, F, Fut>(
        &self,
        key: PageKey,
        build: F,
    ) -> Result<Result<Arc<SharedPage>, X>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Result<SharedPage, X>, E>>,
    {
        let cell = {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            kept.retain(|_, (at, _)| at.elapsed() < PAGE_KEPT);
            kept.entry(key)
                .or_insert_with(|| (Instant::now(), Arc::default()))
                .1
                .clone()
        };
        let page = cell
            .get_or_try_init(|| async {
                match build().await {
                    Ok(Ok(page)) => Ok(Arc::new(page)),
                    Ok(Err(other)) => Err(Ok(other)),
                    Err(e) => Err(Err(e)),
                }
            })
            .await;
        match page {
            Ok(page) => Ok(Ok(page.clone())),
            Err(Ok(other)) => Ok(Err(other)),
            Err(Err(e)) => Err(e),
        }
    }
}

/// How often a send in flight looks whether its subscription ended on another instance.
const ENDED_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Counters by name, for the metrics; a name outside the list is not counted.
pub struct Counters {
    names: &'static [&'static str],
    counts: Vec<AtomicU64>,
}

impl Counters {
    pub fn new(names: &'static [&'static str]) -> Counters {
        Counters {
            names,
            counts: names.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn add(&self, name: &str) {
        if let Some(i) = self.names.iter().position(|n| *n == name) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every name with its count, in the order given at creation.
    pub fn values(&self) -> Vec<(&'static str, u64)> {
        self.names
            .iter()
            .zip(&self.counts)
            .map(|(n, c)| (*n, c.load(Ordering::Relaxed)))
            .collect()
    }
}

impl Worker {
    pub fn new(
        db: Db,
        settings: Settings,
        mailer: Arc<dyn Mailer>,
        cursor_key: Arc<Vec<u8>>,
        secret_key: Arc<SecretKey>,
    ) -> Result<Worker, String> {
        let sender = Sender::new(settings.allow.clone(), settings.timeout)?;
        let owner = format!("inst_{}", crate::random::hex(16));
        Ok(Worker {
            writes: GroupWriter::new(db.clone()),
            db,
            settings,
            sender,
            mailer,
            cursor_key,
            secret_key,
            owner,
            attempts: Counters::new(&delivery::OUTCOMES),
            digests: Counters::new(&DIGEST_OUTCOMES),
            inflight: Arc::default(),
            pages: Pages::default(),
        })
    }

    /// Runs `send` for subscription `id` if the statement that starts it ([`subs::begin_send`]
    /// of `start`) still allows it, cancelled as soon as the subscription ends: `None` when it
    /// was not started or was cancelled.
    pub async fn guarded<T>(
        &self,
        id: &str,
        start: subs::Start,
        send: impl std::future::Future<Output = T>,
    ) -> Result<Option<T>, StoreError> {
        // Registered before the check: a withdrawal committing after it cancels this send.
        let mut guard = self.inflight.start(id);
        let (sid, owner) = (id.to_string(), self.owner.clone());
        let allowed = self
            .writes
            .write(move |c| subs::begin_send(c, &sid, &owner, &start))
            .await?;
        if !allowed {
            return Ok(None);
        }
        tokio::select! {
            out = send => Ok(Some(out)),
            _ = guard.cancelled() => {
                tracing::info!(subscription = %id, "send cancelled: the subscription ended");
                Ok(None)
            }
            _ = self.ended_elsewhere(id) => {
                tracing::info!(subscription = %id, "send cancelled: the subscription ended");
                Ok(None)
            }
        }
    }

    /// Resolves once the subscription has ended (or is gone), looking every [`ENDED_POLL`].
    async fn ended_elsewhere(&self, id: &str) {
        loop {
            tokio::time::sleep(ENDED_POLL).await;
            let sid = id.to_string();
            match self.db.read(move |c| subs::get(c, &sid, None)).await {
                Ok(Some(sub)) if sub.ended().is_none() => {}
                Ok(_) => return,
                // The database is away: the send goes on; its outcome is checked on record.
                Err(_) => {}
            }
        }
    }

    pub(super) fn lease_until(&self, now: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
        now + chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::MAX)
    }

    pub async fn mail(&self, mail: &mail::Mail) {
        match self.mailer.send(mail).await {
            Ok(()) => tracing::info!(to = %mail.to, subject = %mail.subject, "alert mailed"),
            Err(e) => tracing::warn!(error = %e, to = %mail.to, "cannot send an alert mail"),
        }
    }
}
