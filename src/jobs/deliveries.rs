//! The webhook delivery loop. Per enabled subscription with work, one batch at a time:
//! claim (a lease in the database), freeze a batch of the changes after the cursor (built from
//! one snapshot with `pull::write_changes`, at most `max_changes` and about `max_bytes`), sign
//! and POST it, then apply the outcome (`webhooks::delivery::decide`) in one transaction:
//! advance the cursor, schedule a retry of the same bytes, or disable. Alerts go out by mail
//! after the outcome commits.
//!
//! Right before the bytes leave, one statement ([`subs::begin_send`]) checks again that the
//! subscription has not ended and its reseller still holds the grant on the channel, and
//! freezes a new batch (a retried or resumed batch is checked to be still the frozen one). The
//! send then runs under a cancellation ([`crate::service::inflight`]) that a withdrawal on this
//! instance triggers before it commits, and that a poll of the subscription triggers for
//! withdrawals committed elsewhere. A cancelled send is dropped and its outcome advances nothing.
//!
//! Subscriptions are served concurrently, each by its own task; a slow endpoint delays only its
//! own subscription. The lease (longer than the 15 s request timeout) keeps a second instance
//! away; after a crash it expires and the frozen batch is resumed with the same id and bytes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::delta::Cursor;
use crate::feeds::Format;
use crate::mail;
use crate::service::pull::{self, PageHead, PullError};
use crate::store::channels;
use crate::store::subscriptions::{self as subs, AttemptRow, Subscription};
use crate::store::{self, Db, StoreError};
use crate::webhooks::client::Response;
use crate::webhooks::delivery::{self, Next};
use crate::webhooks::{body, signing};

use super::worker::{SharedPage, Worker};

/// Subscriptions served at once by one instance.
const MAX_IN_FLIGHT: usize = 256;

/// A frozen batch, as stored.
#[derive(Debug, Clone)]
struct Batch {
    id: String,
    from: i64,
    to: i64,
    body: String,
    /// The changes page it was built from had more after it.
    more: bool,
}

/// What building a batch found.
enum Built {
    Nothing,
    /// The batch's end, its body, and whether more changes follow it.
    Batch(i64, String, bool),
    /// The cursor can no longer be served (the channel's kept deletions start after it).
    Expired(String),
}

impl Worker {
    /// Serves one subscription until it has nothing due: claims it, sends batches while they
    /// succeed and more changes wait, and gives the claim back. True when it delivered a batch:
    /// changes committed after its last look, while it still held the claim, were skipped by
    /// the loop, so the loop looks again (see [`run`]).
    pub async fn serve(&self, id: &str) -> Result<bool, StoreError> {
        let mut delivered = false;
        loop {
            let now = store::now();
            let (sid, owner, until) = (id.to_string(), self.owner.clone(), self.lease_until(now));
            // The claim, and the subscription as it stands under it.
            let claimed = self
                .writes
                .write_relaxed(move |c| {
                    if subs::claim(c, &sid, &owner, now, until)? {
                        subs::get(c, &sid, None)
                    } else {
                        Ok(None)
                    }
                })
                .await?;
            let Some(sub) = claimed else {
                return Ok(delivered);
            };
            // Claim again only when more changes are known to wait; otherwise the loop's next
            // look (woken because this delivered) finds whatever came meanwhile.
            match self.step(id, sub).await {
                Ok(Some(true)) => delivered = true,
                // Delivered, and the claim given up with the outcome.
                Ok(Some(false)) => return Ok(true),
                step => {
                    let (sid, owner) = (id.to_string(), self.owner.clone());
                    self.writes
                        .write_relaxed(move |c| subs::release(c, &sid, &owner))
                        .await?;
                    return step.map(|s| delivered || s.is_some());
                }
            }
        }
    }

    /// One attempt under a claim: `Some(more)` when the batch was delivered, `more` being
    /// whether changes after it were already known to wait; when they were not, the claim was
    /// given up with the outcome.
    async fn step(&self, id: &str, sub: Subscription) -> Result<Option<bool>, StoreError> {
        if !sub.row.enabled {
            return Ok(None);
        }
        let now = store::now();
        if sub.row.next_attempt_at.is_some_and(|t| t > now) {
            return Ok(None);
        }
        let (batch, start) = match (
            &sub.row.batch_id,
            sub.row.batch_from,
            sub.row.batch_to,
            &sub.row.batch_body,
        ) {
            (Some(bid), Some(from), Some(to), Some(body)) => (
                Batch {
                    id: bid.clone(),
                    from,
                    to,
                    body: body.clone(),
                    // Resumed: what follows it is not known.
                    more: true,
                },
                subs::Start::Frozen(bid.clone()),
            ),
            _ => match self.build(&sub).await? {
                Built::Nothing => return Ok(None),
                Built::Expired(reason) => {
                    let (sid, r) = (id.to_string(), reason.clone());
                    self.writes
                        .write(move |c| subs::disable(c, &sid, &r))
                        .await?;
                    self.alert_disabled(&sub, &reason).await;
                    return Ok(None);
                }
                Built::Batch(to, body, more) => {
                    let batch = Batch {
                        id: new_webhook_id(),
                        from: sub.row.cursor_seq,
                        to,
                        body,
                        more,
                    };
                    // Frozen by the statement that starts its send.
                    let start = subs::Start::Freeze {
                        batch_id: batch.id.clone(),
                        from: batch.from,
                        to: batch.to,
                        body: batch.body.clone(),
                    };
                    (batch, start)
                }
            },
        };
        let Some(response) = self.guarded(id, start, self.send(&sub, &batch)).await? else {
            return Ok(None);
        };
        let delivered = self.record(&sub, &batch, response).await?;
        Ok(delivered.then_some(batch.more))
    }

    /// The batch after the subscription's cursor in its format: a changes page rendered from
    /// one snapshot, shared with the other subscriptions at the same cursor of the channel
    /// ([`super::worker::Pages`]), in this subscription's envelope.
    async fn build(&self, sub: &Subscription) -> Result<Built, StoreError> {
        let format = Format::parse(&sub.row.format).unwrap_or(Format::Json);
        let (channel_id, cursor_seq) = (sub.row.channel_id, sub.row.cursor_seq);
        let page = self
            .pages
            .get_or_build((channel_id, cursor_seq, format.as_str()), || {
                self.render(channel_id, cursor_seq, format)
            })
            .await?;
        let page = match page {
            Ok(page) => page,
            Err(other) => return Ok(other),
        };
        let bytes = if format == Format::Json {
            body::json_envelope(
                &page.bytes,
                &page.channel_code,
                &sub.row.id,
                &page.head.since,
                &page.head.next,
                page.head.has_more,
            )
            .ok_or_else(|| StoreError::Corrupt("unexpected changes page shape".into()))?
        } else {
            page.bytes.clone()
        };
        let text = String::from_utf8(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Built::Batch(page.to, text, page.head.has_more))
    }

    /// Renders the changes of channel `channel_id` after `cursor_seq` in `format`, from one
    /// snapshot: a page, or what else there is to say ([`Built::Nothing`], [`Built::Expired`]).
    async fn render(
        &self,
        channel_id: i64,
        cursor_seq: i64,
        format: Format,
    ) -> Result<Result<SharedPage, Built>, StoreError> {
        let (key, settings) = (self.cursor_key.clone(), self.settings.clone());
        self.db
            .read(move |conn| {
                store::snapshot(conn, |c| {
                    let Some(channel) = channels::get_by_id(c, channel_id)? else {
                        return Ok(Err(Built::Nothing));
                    };
                    if cursor_seq >= channel.last_seq {
                        return Ok(Err(Built::Nothing));
                    }
                    let since = pull::cursor(&channel, cursor_seq, &key);
                    let mut limit = settings.max_changes.max(1);
                    loop {
                        let mut head: Option<PageHead> = None;
                        let rendered = pull::write_changes(
                            c,
                            channel.id,
                            Some(&since),
                            Some(limit),
                            format,
                            &key,
                            |_, h| head = Some(h.clone()),
                            Vec::new(),
                        );
                        let page = match rendered {
                            Ok(page) => page,
                            Err(PullError::Gone(reason)) => {
                                return Ok(Err(Built::Expired(format!(
                                    "{reason} (replay the subscription from \"start\")"
                                ))))
                            }
                            Err(PullError::Store(e)) => return Err(e),
                            Err(e) => return Err(StoreError::Corrupt(e.to_string())),
                        };
                        if page.len() > settings.max_bytes && limit > 1 {
                            limit = (limit / 2).max(1);
                            continue;
                        }
                        let head =
                            head.ok_or_else(|| StoreError::Corrupt("no page head".into()))?;
                        let to = Cursor::decode(&head.next, &key)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?
                            .seq;
                        return Ok(Ok(SharedPage {
                            to,
                            bytes: page,
                            head,
                            channel_code: channel.code,
                        }));
                    }
                })
            })
            .await
    }

    /// The secrets a message to `row` is signed with at `now`, decrypted: the current one, and
    /// the previous one while it is still valid.
    pub fn signing_secrets(
        &self,
        row: &subs::SubscriptionRow,
        now: chrono::NaiveDateTime,
    ) -> Result<Vec<String>, crate::service::secrets::SecretError> {
        let aad = crate::service::secrets::subscription_row(&row.id);
        let mut secrets = vec![self.secret_key.open(&aad, &row.secret)?];
        if let (Some(old), Some(until)) = (&row.old_secret, row.old_secret_until) {
            if until > now {
                secrets.push(self.secret_key.open(&aad, old)?);
            }
        }
        Ok(secrets)
    }

    async fn send(&self, sub: &Subscription, batch: &Batch) -> Response {
        let format = Format::parse(&sub.row.format).unwrap_or(Format::Json);
        self.sign_and_post(
            &sub.row,
            &batch.id,
            format.content_type(),
            batch.body.clone().into_bytes(),
        )
        .await
    }

    /// Signs `body` as message `webhook_id` with the subscription's secrets and POSTs it to its
    /// URL through the SSRF-guarded sender. Never fails: every outcome is a [`Response`].
    async fn sign_and_post(
        &self,
        row: &subs::SubscriptionRow,
        webhook_id: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Response {
        let now = chrono::Utc::now();
        let cannot_sign = |e: &dyn std::fmt::Display| Response {
            error: Some(format!("cannot sign: {e}")),
            ..Default::default()
        };
        let secrets = match self.signing_secrets(row, now.naive_utc()) {
            Ok(s) => s,
            Err(e) => return cannot_sign(&e),
        };
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let timestamp = now.timestamp();
        let signature = match signing::signature_header(&secrets, webhook_id, timestamp, &body) {
            Ok(s) => s,
            Err(e) => return cannot_sign(&e),
        };
        self.sender
            .post(
                &row.url,
                webhook_id,
                timestamp,
                &signature,
                content_type,
                body,
            )
            .await
    }

    /// Sends one signed test message, `{"type": "catalog.test", "channel", "subscription",
    /// "sent_at"}` (JSON whatever the subscription's format), to a webhook's URL, signed and
    /// sent exactly like a delivery, and logs it as an attempt (from and to: its cursor). The
    /// subscription's state (cursor, failures, pending batch) does not change.
    pub async fn send_test(&self, sub: &Subscription) -> Result<AttemptRow, StoreError> {
        let webhook_id = new_webhook_id();
        let body = serde_json::json!({
            "type": "catalog.test",
            "channel": sub.channel_code,
            "subscription": sub.row.id,
            "sent_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        let response = self
            .sign_and_post(
                &sub.row,
                &webhook_id,
                "application/json",
                body.to_string().into_bytes(),
            )
            .await;
        tracing::debug!(
            subscription = %sub.row.id,
            webhook_id = %webhook_id,
            outcome = %delivery::describe(&response),
            "webhook test event"
        );
        let attempt = AttemptRow {
            id: 0,
            subscription_id: sub.row.id.clone(),
            at: store::now(),
            webhook_id,
            from_seq: sub.row.cursor_seq,
            to_seq: sub.row.cursor_seq,
            status: response.status.map(i32::from),
            latency_ms: i64::try_from(response.latency.as_millis()).unwrap_or(i64::MAX),
            response: response.body,
            error: response.error,
        };
        let logged = attempt.clone();
        self.db
            .write(move |c| subs::log_attempt(c, &logged))
            .await?;
        Ok(attempt)
    }

    /// Logs the attempt and applies its outcome; true when delivered. A delivered batch with no
    /// more changes known after it gives the claim up in the same statement.
    async fn record(
        &self,
        sub: &Subscription,
        batch: &Batch,
        response: Response,
    ) -> Result<bool, StoreError> {
        let next = delivery::decide(
            &response,
            u32::try_from(sub.row.batch_attempts).unwrap_or(0),
            u32::try_from(sub.row.failures).unwrap_or(0),
            &self.settings.schedule,
            rand::random::<f64>() * 2.0 - 1.0,
        );
        let now = store::now();
        let attempt = AttemptRow {
            id: 0,
            subscription_id: sub.row.id.clone(),
            at: now,
            webhook_id: batch.id.clone(),
            from_seq: batch.from,
            to_seq: batch.to,
            status: response.status.map(i32::from),
            latency_ms: i64::try_from(response.latency.as_millis()).unwrap_or(i64::MAX),
            response: response.body.clone(),
            error: response.error.clone(),
        };
        self.attempts.add(delivery::outcome(&response));
        tracing::debug!(
            subscription = %sub.row.id,
            webhook_id = %batch.id,
            outcome = %delivery::describe(&response),
            "webhook attempt"
        );
        let (sid, owner, bid, to, n, release) = (
            sub.row.id.clone(),
            self.owner.clone(),
            batch.id.clone(),
            batch.to,
            next.clone(),
            !batch.more,
        );
        // An outcome lost in a crash of the database sends the same batch again, with the
        // same id: receivers deduplicate on it.
        let applied = self
            .writes
            .write_relaxed(move |c| -> Result<bool, StoreError> {
                subs::log_attempt(c, &attempt)?;
                match &n {
                    Next::Advance => subs::delivered(c, &sid, &owner, &bid, to, release),
                    Next::Retry { after, .. } => {
                        let at = now + chrono::Duration::from_std(*after).unwrap_or_default();
                        subs::failed(c, &sid, &owner, &bid, at)
                    }
                    Next::Disable { reason } => {
                        subs::failed_for_good(c, &sid, &owner, &bid, reason)
                    }
                }
            })
            .await?;
        if !applied {
            return Ok(false);
        }
        match next {
            Next::Advance => Ok(true),
            Next::Retry { alert, .. } => {
                if let (true, Some(contact)) = (alert, &sub.contact) {
                    let failures = u32::try_from(sub.row.failures).unwrap_or(0) + 1;
                    let mail = mail::endpoint_failing(
                        contact,
                        &sub.row.id,
                        &sub.channel_code,
                        &sub.row.url,
                        failures,
                        &delivery::describe(&response),
                    );
                    self.mail(&mail).await;
                }
                Ok(false)
            }
            Next::Disable { reason } => {
                self.alert_disabled(sub, &reason).await;
                Ok(false)
            }
        }
    }

    async fn alert_disabled(&self, sub: &Subscription, reason: &str) {
        let Some(contact) = &sub.contact else {
            return;
        };
        let mail = mail::endpoint_disabled(
            contact,
            &sub.row.id,
            &sub.channel_code,
            &sub.row.url,
            reason,
        );
        self.mail(&mail).await;
    }
}

/// A new webhook id: `msg_` and 128 random bits.
pub fn new_webhook_id() -> String {
    format!("msg_{}", crate::random::hex(32))
}

/// Serves every subscription with work due now, each in its own task; returns once all are
/// done. Tests drive deliveries with it instead of sleeping.
pub async fn run_once(worker: &Arc<Worker>) -> Result<usize, StoreError> {
    let now = store::now();
    let ids = worker
        .db
        .read(move |c| subs::due(c, now, MAX_IN_FLIGHT as i64))
        .await?;
    let n = ids.len();
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let d = worker.clone();
            tokio::spawn(async move { d.serve(&id).await.map(|_| ()) })
        })
        .collect();
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "delivery failed; retrying"),
            Err(e) => tracing::error!(error = %e, "delivery task panicked"),
        }
    }
    Ok(n)
}

/// Marks the subscriptions that fell behind their channel since the last look (a read, and a
/// write only when some did): the lag metrics measure from that mark.
pub async fn mark_behind(db: &Db) -> Result<(), StoreError> {
    let ids = db.read(subs::newly_behind).await?;
    if !ids.is_empty() {
        let now = store::now();
        db.write(move |c| subs::mark_behind(c, &ids, now)).await?;
    }
    Ok(())
}

/// The background loop: looks for due work every `poll` (or when woken) and gives each due
/// subscription a task, unless one already serves it. It looks again at once after a task that
/// delivered something (a change committed while that task held its claim would otherwise wait
/// for the next poll), and, when a look found more due work than it could start (a fan-out to
/// many subscriptions), as soon as half of the tasks are done.
pub async fn run(worker: Arc<Worker>, wake: Arc<Notify>) {
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let saturated = Arc::new(AtomicBool::new(false));
    loop {
        if let Err(e) = mark_behind(&worker.db).await {
            tracing::warn!(error = %e, "cannot mark lagging subscriptions; retrying");
        }
        let now = store::now();
        let due = worker
            .db
            .read(move |c| subs::due(c, now, MAX_IN_FLIGHT as i64))
            .await;
        match due {
            Ok(ids) => {
                saturated.store(ids.len() >= MAX_IN_FLIGHT, Ordering::Relaxed);
                for id in ids {
                    {
                        let mut set = in_flight.lock().unwrap_or_else(|e| e.into_inner());
                        if set.len() >= MAX_IN_FLIGHT {
                            saturated.store(true, Ordering::Relaxed);
                            break;
                        }
                        if !set.insert(id.clone()) {
                            continue;
                        }
                    }
                    let (d, set, wake, saturated) = (
                        worker.clone(),
                        in_flight.clone(),
                        wake.clone(),
                        saturated.clone(),
                    );
                    tokio::spawn(async move {
                        let delivered = match d.serve(&id).await {
                            Ok(delivered) => delivered,
                            Err(e) => {
                                tracing::warn!(error = %e, subscription = %id, "delivery failed; retrying");
                                false
                            }
                        };
                        let left = {
                            let mut set = set.lock().unwrap_or_else(|e| e.into_inner());
                            set.remove(&id);
                            set.len()
                        };
                        let drained =
                            left <= MAX_IN_FLIGHT / 2 && saturated.swap(false, Ordering::Relaxed);
                        if delivered || drained {
                            wake.notify_one();
                        }
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for due deliveries; retrying"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(worker.settings.poll) => {}
        }
    }
}
