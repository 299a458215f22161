//! The vendor console's dashboard (`/console`) and the subscriptions across resellers
//! (`/console/subscriptions`, admin): what the metrics say, for a person.

use actix_web::{web, Scope};
use maud::{html, Markup};

use super::home::Notice;
use super::layout::{self, Frame};
use super::session::Session;
use super::Page;
use crate::api::{ApiError, AppState};
use crate::service::snapshots::{self, DigestFigures};
use crate::service::tokens::Role;
use crate::store::{self, subscriptions::Health};

/// Subscriptions the dashboard lists (disabled or failing), and the subscriptions page.
const TROUBLED: i64 = 20;
const ALL: i64 = 500;
/// Alert mails listed.
const MAILS: usize = 10;
/// Changes waiting counted at most; more read "more than" this.
const BACKLOG_COUNTED: i64 = 10_000;

pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/console", web::get().to(dashboard))
        .route("/console/subscriptions", web::get().to(subscriptions))
}

/// One channel's line.
struct ChannelLine {
    code: String,
    /// Its live count and how fresh it is (None: not computed yet).
    live: Option<DigestFigures>,
    last_seq: i64,
    reevaluating: bool,
}

/// Subscriptions with the time of their latest attempt.
fn with_last_attempts(
    conn: &mut store::DbConnection,
    rows: Vec<Health>,
) -> Result<Vec<(Health, Option<chrono::NaiveDateTime>)>, store::StoreError> {
    let ids: Vec<String> = rows.iter().map(|h| h.id.clone()).collect();
    let last = store::subscriptions::last_attempts(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|h| {
            let at = last
                .iter()
                .find(|(id, _)| *id == h.id)
                .and_then(|(_, at)| *at);
            (h, at)
        })
        .collect())
}

fn when(t: Option<chrono::NaiveDateTime>) -> String {
    t.map_or("never".into(), |t| {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    })
}

/// The table of subscriptions: state, lag, last attempt.
fn subscription_table(rows: &[(Health, Option<chrono::NaiveDateTime>)]) -> Markup {
    html! {
        table class="subscriptions" {
            caption class="visually-hidden" { "Subscriptions, disabled and failing first" }
            thead { tr {
                th scope="col" { "Subscription" } th scope="col" { "Reseller" } th scope="col" { "Channel" }
                th scope="col" { "State" } th scope="col" { "Failures" } th scope="col" { "Behind by" }
                th scope="col" { "Last attempt" } th scope="col" { "Next attempt" }
            } }
            tbody { @for (h, last) in rows { tr {
                td { code { (h.id) } " (" (h.kind) ")" }
                td { code { (h.reseller_code) } }
                td { code { (h.channel_code) } }
                td { @if h.enabled { "enabled" } @else {
                    strong { "disabled" } @if let Some(r) = &h.disabled_reason { ": " (r) } } }
                td { (h.failures) }
                td { (h.last_seq - h.cursor_seq) " changes"
                    @if let Some(since) = h.behind_since { ", since " (since.format("%Y-%m-%d %H:%M")) } }
                td { (when(*last)) }
                td { (when(h.next_attempt_at)) }
            } } }
        }
    }
}

async fn dashboard(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<Notice>,
) -> Page {
    session.caller.require(Role::Editor)?;
    let admin = session.caller.role >= Role::Admin;
    let now = state.clock.now().naive_utc();
    let key = state.cursor_key.clone();
    let (products, (backlog, oldest), channels, troubled) = state
        .db
        .read(move |conn| {
            store::snapshot(conn, |c| {
                let mut channels = Vec::new();
                if admin {
                    for ch in store::channels::list(c, None)? {
                        channels.push(ChannelLine {
                            live: snapshots::digest_figures(c, ch.id, &key)?,
                            code: ch.code,
                            last_seq: ch.last_seq,
                            reevaluating: ch.reeval_after.is_some(),
                        });
                    }
                }
                let troubled = if admin {
                    let rows = store::subscriptions::health(c, true, TROUBLED)?;
                    with_last_attempts(c, rows)?
                } else {
                    Vec::new()
                };
                Ok::<_, ApiError>((
                    snapshots::catalog_size(c)?,
                    store::outbox::backlog(c, Some(BACKLOG_COUNTED))?,
                    channels,
                    troubled,
                ))
            })
        })
        .await?;
    let lag = oldest.map(|t| (now - t).num_seconds().max(0));
    let waiting = if backlog > BACKLOG_COUNTED {
        format!("more than {BACKLOG_COUNTED}")
    } else {
        backlog.to_string()
    };
    let mails = match (admin, state.worker.mailer.outbox()) {
        (true, Some(dir)) => {
            let dir = dir.to_path_buf();
            Some(
                web::block(move || crate::mail::latest_subjects(&dir, MAILS))
                    .await
                    .unwrap_or_default(),
            )
        }
        _ => None,
    };
    let frame = Frame::new("Dashboard", Some(&session))
        .current("/console")
        .notice_key(query.notice.as_deref());
    let content = html! {
        h1 { "Vendor console" }
        dl class="facts" {
            dt { "Catalog" } dd id="catalog-size" { (products) " products" }
            dt { "Changes waiting for the generator" } dd id="backlog" { (waiting)
                @if let Some(lag) = lag { " (the oldest " (lag) " s old)" } }
        }
        @if admin {
            section aria-labelledby="channels" {
                h2 id="channels" { "Channels" }
                @if channels.is_empty() { p { "No channel yet." } } @else {
                    table {
                        caption class="visually-hidden" { "Channels" }
                        thead { tr { th scope="col" { "Channel" } th scope="col" { "Live records" }
                            th scope="col" { "Changes published" } th scope="col" { "Generator" } } }
                        tbody { @for ch in &channels { tr {
                            td { a href=(format!("/console/channels/{}", ch.code)) { code { (ch.code) } } }
                            td { (layout::live_count(&ch.live, "")) }
                            td { (ch.last_seq) }
                            td { @if ch.reevaluating { "re-evaluating the catalog" }
                                 @else if backlog > 0 { (waiting) " changes to apply" }
                                 @else { "up to date" } }
                        } } }
                    }
                }
            }
            section aria-labelledby="troubled" {
                h2 id="troubled" { "Subscriptions failing or disabled" }
                @if troubled.is_empty() { p { "None: every subscription delivers." } }
                @else { (subscription_table(&troubled)) }
                p { a href="/console/subscriptions" { "All subscriptions" } }
            }
            section aria-labelledby="mails" {
                h2 id="mails" { "Recent mails" }
                @match &mails {
                    None => p { "Mails go out over SMTP: they are not kept here." },
                    Some(m) if m.is_empty() => p { "No mail yet." },
                    Some(m) => ul { @for (name, subject) in m { li {
                        (name.get(..16).unwrap_or(name)) " " (subject)
                    } } },
                }
            }
        }
    };
    Ok(layout::html(layout::page(&frame, content)))
}

async fn subscriptions(state: web::Data<AppState>, session: Session) -> Page {
    session.caller.require(Role::Admin)?;
    let rows = state
        .db
        .read(|conn| {
            let rows = store::subscriptions::health(conn, false, ALL)?;
            with_last_attempts(conn, rows)
        })
        .await
        .map_err(ApiError::from)?;
    let frame = Frame::new("Subscriptions", Some(&session)).current("/console/subscriptions");
    Ok(layout::html(layout::page(
        &frame,
        html! {
            h1 { "Subscriptions" }
            p { "Every live subscription of every reseller: disabled first, then by failures. At most " (ALL) " are listed." }
            @if rows.is_empty() { p { "No subscription yet." } } @else { (subscription_table(&rows)) }
        },
    )))
}
