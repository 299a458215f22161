//! Withdrawal of access: the one place where subscriptions end. A grant withdrawn by
//! `PUT /v1/resellers/{code}` (`access_revoked`), a channel deleted (`channel_deleted`) or a
//! reseller deleted (`reseller_deleted`) ends the affected subscriptions in the same
//! transaction as the withdrawal, and cancels their sends in flight on this instance before
//! that transaction commits. After the commit, each reseller concerned gets one notice mail
//! listing what ended. The HTTP API and the demo loader call these functions; the delivery and
//! digest jobs re-check the grant before every send (`store::subscriptions::begin_send`).

use crate::mail::{self, Mailer};
use crate::service::inflight::InFlight;
use crate::store::subscriptions::{self as subs, Ended};
use crate::store::{self, channels, DbConnection, StoreResult};

/// One notice to send after the withdrawal commits.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The reseller's contact address, read in the withdrawal's transaction.
    pub contact: String,
    pub reseller: String,
    pub reason: &'static str,
    pub ended: Vec<Ended>,
}

/// Ends `reseller`'s subscriptions (on `channel_ids` only, when given) or those on the channels
/// `channel_ids`, cancelling their sends in flight here. Call after locking the grants.
fn end(
    conn: &mut DbConnection,
    inflight: &InFlight,
    reseller: Option<&str>,
    channel_ids: Option<&[i64]>,
    reason: &str,
) -> StoreResult<Vec<Ended>> {
    let ended = subs::end(conn, reseller, channel_ids, reason)?;
    let ids: Vec<&str> = ended.iter().map(|e| e.id.as_str()).collect();
    inflight.cancel(&ids);
    Ok(ended)
}

/// Groups ended subscriptions into one notice per reseller that still has a contact.
fn notices(
    conn: &mut DbConnection,
    ended: Vec<Ended>,
    reason: &'static str,
) -> StoreResult<Vec<Notice>> {
    let mut out: Vec<Notice> = Vec::new();
    for e in ended {
        match out.iter_mut().find(|n| n.reseller == e.reseller_code) {
            Some(n) => n.ended.push(e),
            None => {
                if let Some(r) = store::resellers::get(conn, &e.reseller_code)? {
                    out.push(Notice {
                        contact: r.email,
                        reseller: r.code,
                        reason,
                        ended: vec![e],
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Creates or replaces a reseller and its grants (channel codes that exist; the caller checks
/// them). Subscriptions on a channel whose grant this withdraws end with `access_revoked`.
/// Returns whether the reseller was created, and the notice to send after commit.
pub fn put_reseller(
    conn: &mut DbConnection,
    inflight: &InFlight,
    code: &str,
    name: &str,
    email: &str,
    channel_codes: &[String],
) -> StoreResult<(bool, Vec<Notice>)> {
    store::resellers::lock_grants(conn, Some(code), None)?;
    let put = store::resellers::put(conn, code, name, email, channel_codes)?;
    if put.withdrawn.is_empty() {
        return Ok((put.created, Vec::new()));
    }
    let ended = end(
        conn,
        inflight,
        Some(code),
        Some(&put.withdrawn),
        subs::ACCESS_REVOKED,
    )?;
    Ok((put.created, notices(conn, ended, subs::ACCESS_REVOKED)?))
}

/// Deletes a channel: its subscriptions end with `channel_deleted` (kept, with the channel's
/// code), its grants go with it. `None` when there is no such channel.
pub fn delete_channel(
    conn: &mut DbConnection,
    inflight: &InFlight,
    code: &str,
) -> StoreResult<Option<Vec<Notice>>> {
    let Some(channel) = channels::get(conn, code)? else {
        return Ok(None);
    };
    store::resellers::lock_grants(conn, None, Some(channel.id))?;
    let ended = end(
        conn,
        inflight,
        None,
        Some(&[channel.id]),
        subs::CHANNEL_DELETED,
    )?;
    let notices = notices(conn, ended, subs::CHANNEL_DELETED)?;
    store::resellers::revoke_channel(conn, channel.id)?;
    channels::delete(conn, code)?;
    Ok(Some(notices))
}

/// Deletes a reseller, its grants and tokens: its subscriptions end with `reseller_deleted`
/// (readable by an admin only), those that had ended before included. The notice goes to the contact read just before the deletion.
/// `None` when there is no such reseller.
pub fn delete_reseller(
    conn: &mut DbConnection,
    inflight: &InFlight,
    code: &str,
) -> StoreResult<Option<Vec<Notice>>> {
    if store::resellers::get(conn, code)?.is_none() {
        return Ok(None);
    }
    store::resellers::lock_grants(conn, Some(code), None)?;
    let ended = end(conn, inflight, Some(code), None, subs::RESELLER_DELETED)?;
    let notices = notices(conn, ended, subs::RESELLER_DELETED)?;
    subs::disown_ended(conn, code)?;
    store::resellers::delete(conn, code)?;
    Ok(Some(notices))
}

/// Mails each notice (after the withdrawal committed); a failure is logged, not retried.
pub async fn send_notices(mailer: &dyn Mailer, notices: &[Notice]) {
    for n in notices {
        let lines: Vec<(&str, &str, &str, &str)> = n
            .ended
            .iter()
            .map(|e| {
                (
                    e.id.as_str(),
                    e.channel_code.as_str(),
                    e.kind.as_str(),
                    e.target.as_str(),
                )
            })
            .collect();
        let notice = mail::access_ended(&n.contact, &n.reseller, n.reason, &lines);
        match mailer.send(&notice).await {
            Ok(()) => {
                tracing::info!(to = %n.contact, ended = n.ended.len(), "access notice mailed")
            }
            Err(e) => tracing::warn!(error = %e, to = %n.contact, "cannot send an access notice"),
        }
    }
}

/// Who asks: a role and, for a reseller, its code (the edge builds it from the caller's token).
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub role: crate::service::tokens::Role,
    pub reseller: Option<&'a str>,
}

impl<'a> Who<'a> {
    /// Which channels `self` may read: `Ok(None)` every one (an admin), `Ok(Some(code))` those
    /// reseller `code` has a grant on, or why none.
    pub fn channel_scope(&self) -> Result<Option<&'a str>, ChannelDenied> {
        use crate::service::tokens::Role;
        match self.role {
            Role::Admin => Ok(None),
            Role::Reseller => self.reseller.map(Some).ok_or(ChannelDenied::NotFound),
            Role::Editor => Err(ChannelDenied::Forbidden),
        }
    }
}

/// Why a channel is not shown to the one who asks.
#[derive(Debug, thiserror::Error)]
pub enum ChannelDenied {
    /// No such channel, or one the reseller has no grant on (the same answer for both).
    #[error("no channel with this code")]
    NotFound,
    /// An editor reads no channels here.
    #[error("this role may not read channels")]
    Forbidden,
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// The channel `code` if `who` may read it (an admin any, a reseller one it has a grant on).
pub async fn visible_channel(
    db: &store::Db,
    who: Who<'_>,
    code: &str,
) -> Result<channels::ChannelRow, ChannelDenied> {
    let reseller = who.channel_scope()?.map(str::to_string);
    let code = code.to_string();
    let row = db
        .read(move |conn| -> Result<_, store::StoreError> {
            if let Some(reseller) = reseller {
                if !store::resellers::channels_of(conn, &reseller)?.contains(&code) {
                    return Ok(None);
                }
            }
            channels::get(conn, &code)
        })
        .await?;
    row.ok_or(ChannelDenied::NotFound)
}
