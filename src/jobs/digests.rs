//! E-mail digests. Per enabled digest subscription whose `next_digest_at` has come (by the
//! app's clock): claim it (the same lease as webhooks), render the channel's changes after its
//! cursor in its format from one snapshot, and mail them as an attachment. The cursor moves
//! only once the mail transport has accepted the message; a refused message leaves the cursor
//! where it was and is tried again after the retry schedule's delays (at most one period
//! later). Nothing changed: no mail, the next digest is simply scheduled.
//!
//! Only confirmed addresses get digests (`due_digests`, and again [`subs::begin_send`] right
//! before the mail goes, with the same grant check and cancellation as webhooks). A refusal
//! the transport calls permanent (an SMTP 5xx, an address it cannot send to) disables the
//! digest at once; transient refusals follow the retry schedule and, when it runs out,
//! disable it too. Either way the reseller's contact gets an alert. Each retry renders the
//! changes again: the retries are bounded by the schedule, not kept forever.
//!
//! A digest carries at most [`MAX_DIGEST_CHANGES`] changes, so memory stays bounded; when more
//! are waiting, the next digest is due at once.

use std::sync::Arc;

use chrono::NaiveDateTime;

use crate::clock::Clock;
use crate::delta::Cursor;
use crate::feeds::Format;
use crate::mail::{self, Attachment};
use crate::service::pull::{self, PageHead, PullError};
use crate::store::subscriptions::{self as subs, AttemptRow, Subscription};
use crate::store::{self, channels, StoreError};

use super::worker::Worker;

/// Changes in one digest, at most.
pub const MAX_DIGEST_CHANGES: i64 = 50_000;
/// Digests served at once by one instance.
const MAX_AT_ONCE: i64 = 64;

/// How often a digest goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    Hourly,
    Daily,
}

impl Every {
    pub fn parse(s: &str) -> Option<Every> {
        match s {
            "hourly" => Some(Every::Hourly),
            "daily" => Some(Every::Daily),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Every::Hourly => "hourly",
            Every::Daily => "daily",
        }
    }

    pub fn period(self) -> chrono::Duration {
        match self {
            Every::Hourly => chrono::Duration::hours(1),
            Every::Daily => chrono::Duration::days(1),
        }
    }
}

/// The digest job: the worker's database, mailer, settings, lease owner and digest counters,
/// plus the clock that says when a digest is due.
pub struct Digester {
    pub worker: Arc<Worker>,
    pub clock: Arc<dyn Clock>,
}

/// What a digest found to say.
struct Rendered {
    to: i64,
    changes: i64,
    has_more: bool,
    since: String,
    next: String,
    bytes: Vec<u8>,
}

impl Digester {
    pub fn new(worker: Arc<Worker>, clock: Arc<dyn Clock>) -> Digester {
        Digester { worker, clock }
    }

    fn now(&self) -> NaiveDateTime {
        self.clock.now().naive_utc()
    }

    /// Sends every digest due now; returns how many were due.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let (at, lease_at) = (self.now(), store::now());
        let ids = self
            .worker
            .db
            .read(move |c| subs::due_digests(c, at, lease_at, MAX_AT_ONCE))
            .await?;
        for id in &ids {
            if let Err(e) = self.serve(id).await {
                tracing::warn!(error = %e, subscription = %id, "digest failed; retrying");
            }
        }
        Ok(ids.len())
    }

    /// Claims one digest, sends it if it is still due, and gives the claim back.
    async fn serve(&self, id: &str) -> Result<(), StoreError> {
        let d = &self.worker;
        let now = store::now();
        let until = now + chrono::Duration::from_std(d.settings.lease).unwrap_or_default();
        let (sid, owner) = (id.to_string(), d.owner.clone());
        if !d
            .db
            .write(move |c| subs::claim(c, &sid, &owner, now, until))
            .await?
        {
            return Ok(());
        }
        let result = self.send(id).await;
        let (sid, owner) = (id.to_string(), d.owner.clone());
        d.db.write(move |c| subs::release(c, &sid, &owner)).await?;
        result
    }

    async fn send(&self, id: &str) -> Result<(), StoreError> {
        let d = &self.worker;
        let sid = id.to_string();
        let Some(sub) = d.db.read(move |c| subs::get(c, &sid, None)).await? else {
            return Ok(());
        };
        let now = self.now();
        if !sub.row.enabled || sub.row.next_digest_at.is_none_or(|t| t > now) {
            return Ok(());
        }
        let every = sub
            .row
            .every
            .as_deref()
            .and_then(Every::parse)
            .unwrap_or(Every::Daily);
        let format = Format::parse(&sub.row.format).unwrap_or(Format::Csv);
        let from = sub.row.cursor_seq;
        let rendered = match self.render(&sub, format).await? {
            Ok(Some(r)) => r,
            Ok(None) => {
                self.worker.digests.add("empty");
                let next = now + every.period();
                let (sid, owner) = (id.to_string(), d.owner.clone());
                d.db.write(move |c| subs::digest_sent(c, &sid, &owner, from, from, next))
                    .await?;
                return Ok(());
            }
            Err(reason) => {
                let (sid, r) = (id.to_string(), reason.clone());
                d.db.write(move |c| subs::disable(c, &sid, &r)).await?;
                return Ok(());
            }
        };
        let recipient = sub.row.email.clone().unwrap_or_default();
        let stamp = self.clock.now().format("%Y%m%dT%H%M%SZ");
        let mail = mail::digest(
            &recipient,
            &sub.row.id,
            &sub.channel_code,
            rendered.changes,
            &rendered.since,
            &rendered.next,
            rendered.has_more,
            Attachment {
                filename: format!(
                    "{}-changes-{stamp}.{}",
                    sub.channel_code,
                    format.extension()
                ),
                content_type: format.content_type().to_string(),
                bytes: rendered.bytes,
            },
        );
        let started = std::time::Instant::now();
        let Some(sent) = d
            .guarded(id, subs::Start::Digest, d.mailer.send(&mail))
            .await?
        else {
            // Ended (or no longer allowed) before or while it was being sent: nothing recorded.
            return Ok(());
        };
        let attempt = AttemptRow {
            id: 0,
            subscription_id: sub.row.id.clone(),
            at: store::now(),
            webhook_id: format!("dig_{}", crate::random::hex(32)),
            from_seq: from,
            to_seq: rendered.to,
            status: None,
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            response: sent
                .is_ok()
                .then(|| format!("mail accepted for {recipient}")),
            error: sent.as_ref().err().map(|e| e.to_string()),
        };
        let (sid, owner, to) = (id.to_string(), d.owner.clone(), rendered.to);
        match sent {
            Ok(()) => {
                self.worker.digests.add("sent");
                tracing::info!(subscription = %id, changes = rendered.changes, "digest mailed");
                let next = if rendered.has_more {
                    now
                } else {
                    now + every.period()
                };
                d.db.write(move |c| -> Result<bool, StoreError> {
                    subs::log_attempt(c, &attempt)?;
                    subs::digest_sent(c, &sid, &owner, from, to, next)
                })
                .await?;
            }
            Err(e) => {
                self.worker.digests.add("failed");
                let failed = u32::try_from(sub.row.batch_attempts).unwrap_or(0) + 1;
                let delay = d
                    .settings
                    .schedule
                    .delay_after(failed, rand::random::<f64>() * 2.0 - 1.0);
                let reason = if e.is_permanent() {
                    Some(format!(
                        "the mail transport refused the digest for good: {e}"
                    ))
                } else if delay.is_none() {
                    Some(format!(
                        "the mail transport refused every attempt of the retry schedule; last: {e}"
                    ))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    tracing::warn!(subscription = %id, error = %e, "digest refused; disabled");
                    let r = reason.clone();
                    let disabled =
                        d.db.write(move |c| -> Result<bool, StoreError> {
                            subs::log_attempt(c, &attempt)?;
                            subs::digest_failed_for_good(c, &sid, &owner, &r)
                        })
                        .await?;
                    if let (true, Some(contact)) = (disabled, &sub.contact) {
                        let alert = mail::digest_disabled(
                            contact,
                            &sub.row.id,
                            &sub.channel_code,
                            &recipient,
                            &reason,
                        );
                        d.mail(&alert).await;
                    }
                    return Ok(());
                }
                tracing::warn!(subscription = %id, error = %e, "digest refused; retrying later");
                let delay = chrono::Duration::from_std(delay.unwrap_or_default())
                    .unwrap_or(every.period())
                    .min(every.period());
                let retry = now + delay;
                d.db.write(move |c| -> Result<bool, StoreError> {
                    subs::log_attempt(c, &attempt)?;
                    subs::digest_failed(c, &sid, &owner, retry)
                })
                .await?;
            }
        }
        Ok(())
    }

    /// The changes after the cursor in `format`, from one snapshot: `Ok(None)` when nothing
    /// changed, `Err(reason)` when the cursor can no longer be served.
    async fn render(
        &self,
        sub: &Subscription,
        format: Format,
    ) -> Result<Result<Option<Rendered>, String>, StoreError> {
        let key = self.worker.cursor_key.clone();
        let (channel_id, cursor_seq) = (sub.row.channel_id, sub.row.cursor_seq);
        self.worker
            .db
            .read(move |conn| {
                store::snapshot(conn, |c| {
                    let Some(channel) = channels::get_by_id(c, channel_id)? else {
                        return Ok(Ok(None));
                    };
                    if cursor_seq >= channel.last_seq {
                        return Ok(Ok(None));
                    }
                    let since = pull::cursor(&channel, cursor_seq, &key);
                    let mut head: Option<PageHead> = None;
                    let bytes = match pull::write_changes(
                        c,
                        channel.id,
                        Some(&since),
                        Some(MAX_DIGEST_CHANGES),
                        format,
                        &key,
                        |_, h| head = Some(h.clone()),
                        Vec::new(),
                    ) {
                        Ok(bytes) => bytes,
                        Err(PullError::Gone(reason)) => {
                            return Ok(Err(format!(
                                "{reason} (replay the subscription from \"start\")"
                            )))
                        }
                        Err(PullError::Store(e)) => return Err(e),
                        Err(e) => return Err(StoreError::Corrupt(e.to_string())),
                    };
                    let head = head.ok_or_else(|| StoreError::Corrupt("no page head".into()))?;
                    let to = Cursor::decode(&head.next, &key)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?
                        .seq;
                    let changes = subs::count_changes(c, channel.id, cursor_seq, to)?;
                    Ok(Ok(Some(Rendered {
                        to,
                        changes,
                        has_more: head.has_more,
                        since: head.since,
                        next: head.next,
                        bytes,
                    })))
                })
            })
            .await
    }
}

/// The background loop: sends due digests, every `poll`.
pub async fn run(digester: Arc<Digester>) {
    loop {
        if let Err(e) = digester.run_once().await {
            tracing::warn!(error = %e, "cannot look for due digests; retrying");
        }
        tokio::time::sleep(digester.worker.settings.poll).await;
    }
}
