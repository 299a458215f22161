//! The background computation of each channel's snapshot (live count, digest, readiness per
//! profile: `service::snapshots`), so that no console page walks a large channel. A channel's
//! snapshot is recomputed when the channel moved on (a new seq or definition), at most once
//! per channel at a time across every instance (a lease in `channel_snapshots`), and not more
//! often than every [`Settings::min_interval`] nor than four times its last walk's duration.
//! A pass walks one channel, the one whose snapshot is oldest among those due, and the job then
//! rests four times as long as the pass worked. So however many channels change all the time
//! (a catalog-wide change published to a hundred channels), it costs at most a fifth of a core
//! over any walk and its rest, not only on average over many minutes, and leaves the rest to
//! the generator and the requests. Each pass also folds the catalog size's kept differences
//! into one row.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::service::snapshots;
use crate::store::{self, snapshots as stored, Db};

#[derive(Debug, Clone)]
pub struct Settings {
    /// How often the channels are looked at.
    pub poll: Duration,
    /// How long a claim on a computation holds before another instance may take it over.
    pub lease: Duration,
    /// The least time between two computations of one channel.
    pub min_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(600),
            min_interval: Duration::from_secs(2),
        }
    }
}

/// The loop: every `poll`, [`refresh_due`].
pub async fn run(db: Db, clock: Arc<dyn Clock>, settings: Settings) {
    let owner = format!("snapshots-{}", crate::random::hex(16));
    loop {
        let started = Instant::now();
        let step = {
            let (db, settings, owner, now) =
                (db.clone(), settings.clone(), owner.clone(), clock.now());
            tokio::task::spawn_blocking(move || refresh_due(&db, now, &owner, &settings)).await
        };
        let worked = started.elapsed();
        match step {
            Ok(Ok(n)) if n > 0 => tracing::debug!(channels = n, "channel snapshots computed"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "channel snapshots failed; retrying")
            }
            Err(e) => tracing::error!(error = %e, "channel snapshots panicked; retrying"),
        }
        tokio::time::sleep(settings.poll.max(worked * 4)).await;
    }
}

/// Folds the catalog size, then computes the snapshot of one channel that moved on since its
/// last one and whose last computation is old enough: the one never computed, or computed
/// longest ago. Returns the snapshots stored (0 or 1).
pub fn refresh_due(
    db: &Db,
    now: DateTime<Utc>,
    owner: &str,
    settings: &Settings,
) -> anyhow::Result<usize> {
    let (channels, snapshots) = {
        let mut conn = db.write_conn()?;
        stored::fold_catalog_size(&mut conn)?;
        (
            store::channels::list(&mut conn, None)?,
            stored::list(&mut conn)?,
        )
    };
    let mut due = Vec::new();
    for channel in channels {
        let last = snapshots.iter().find(|s| s.channel_id == channel.id);
        if let Some(s) = last {
            let current = s.seq == channel.last_seq && s.definition_hash == channel.definition_hash;
            let took = Duration::from_millis(u64::try_from(s.took_ms).unwrap_or_default());
            let rest =
                chrono::Duration::from_std(settings.min_interval.max(took * 4)).unwrap_or_default();
            let recent = s.computed_at.is_some_and(|at| at + rest > now.naive_utc());
            if current || recent {
                continue;
            }
        }
        due.push((last.and_then(|s| s.computed_at), channel.id));
    }
    // Never computed (`None`) first, then the oldest.
    due.sort_unstable();
    for (_, id) in due {
        if refresh(db, id, owner, now, settings.lease)? {
            return Ok(1);
        }
    }
    Ok(0)
}

/// Computes and stores the snapshot of channel `channel_id` as `owner`, unless another owner
/// is computing it (false). The walk runs in one read snapshot, so the figures are those of the
/// seq they are stored with.
pub fn refresh(
    db: &Db,
    channel_id: i64,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> anyhow::Result<bool> {
    let at = now.naive_utc();
    let until = at + chrono::Duration::from_std(lease).unwrap_or_default();
    if !stored::claim(&mut *db.write_conn()?, channel_id, owner, at, until)? {
        return Ok(false);
    }
    let started = Instant::now();
    let walked = {
        let mut conn = db.read_conn()?;
        store::snapshot(&mut conn, |c| snapshots::compute(c, channel_id))
    };
    let mut conn = db.write_conn()?;
    let walk = match walked {
        Ok(walk) => walk,
        Err(e) => {
            stored::release(&mut conn, channel_id, owner)?;
            // A channel deleted meanwhile took its snapshot row with it: nothing to do.
            if matches!(e, crate::service::pull::PullError::NoChannel) {
                return Ok(false);
            }
            return Err(e.into());
        }
    };
    let readiness = serde_json::to_string(&walk.readiness)?;
    let took_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    Ok(stored::store(
        &mut conn,
        channel_id,
        owner,
        &stored::Computed {
            seq: walk.seq,
            definition_hash: &walk.definition_hash,
            live: i64::try_from(walk.live).unwrap_or(i64::MAX),
            digest: &walk.digest,
            readiness: &readiness,
            computed_at: at,
            took_ms,
        },
    )?)
}
