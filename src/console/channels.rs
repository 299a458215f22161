//! The vendor console's channels: the list, a channel's page (its definition, edited by an
//! admin through the API's rule `api::channels::store_channel`; its assortment size; its
//! latest changes; the resellers granted) and its readiness per profile (the feed report,
//! grouped by reason, each product linking to its page).

use actix_web::http::StatusCode;
use actix_web::{web, Scope};
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use super::home::Notice;
use super::layout::{self, Control, FieldErrors, Frame};
use super::products::href as product_href;
use super::session::{Posted, Session};
use super::{ConsoleError, Page};
use crate::api::{self, ApiError, AppState};
use crate::catalog::FieldError;
use crate::feeds::Format;
use crate::service::snapshots::{self, DigestFigures};
use crate::service::tokens::Role;
use crate::store::{self, channels::ChannelRow};

/// Changes listed on a channel's page.
const RECENT: i64 = 20;
/// Days the chart of changes shows, today included.
const DAYS: u64 = 30;

/// A bar chart of the changes published per day over the last [`DAYS`] days, as SVG (no
/// script, no inline style): each bar titled with its day and count.
fn chart(days: &[(String, i64)], today: chrono::NaiveDate) -> maud::Markup {
    let slots: Vec<(String, i64)> = (0..DAYS)
        .rev()
        .map(|back| {
            let day = (today - chrono::Days::new(back))
                .format("%Y-%m-%d")
                .to_string();
            let n = days.iter().find(|(d, _)| *d == day).map_or(0, |(_, n)| *n);
            (day, n)
        })
        .collect();
    let max = slots.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let total: i64 = slots.iter().map(|(_, n)| n).sum();
    let (width, height, bar) = (600i64, 100i64, 20i64);
    let summary =
        format!("{total} changes published over the last {DAYS} days, at most {max} in a day");
    html! {
        svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(summary)
            viewBox=(format!("0 0 {width} {}", height + 20)) width=(width) height=(height + 20) {
            @for (i, (day, n)) in slots.iter().enumerate() {
                @let h = if *n == 0 { 0 } else { (n * height / max).max(2) };
                rect x=(i as i64 * bar + 1) y=(height - h) width=(bar - 2) height=(h) fill="#2b6cb0" {
                    title { (day) ": " (n) " changes" }
                }
            }
            line x1="0" y1=(height) x2=(width) y2=(height) stroke="#555" {}
            text x="0" y=(height + 15) font-size="11" fill="#333" { (slots[0].0) }
            text x=(width) y=(height + 15) font-size="11" fill="#333" text-anchor="end" { (slots[slots.len() - 1].0) }
        }
        p class="hint" { (summary) "." }
    }
}

pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/console/channels", web::get().to(list))
        .route("/console/channels/{code}", web::get().to(show))
        .route("/console/channels/{code}", web::post().to(save))
        .route(
            "/console/channels/{code}/readiness/{profile}",
            web::get().to(readiness),
        )
}

fn href(code: &str) -> String {
    format!("/console/channels/{code}")
}

fn name_of(row: &ChannelRow) -> String {
    serde_json::from_str::<Value>(&row.definition)
        .ok()
        .and_then(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default()
}

async fn list(state: web::Data<AppState>, session: Session, query: web::Query<Notice>) -> Page {
    session.caller.require(Role::Editor)?;
    let rows = api::channels::visible_channels(&state, &session.caller).await?;
    let frame = Frame::new("Channels", Some(&session))
        .current("/console/channels")
        .notice_key(query.notice.as_deref());
    Ok(layout::html(layout::page(
        &frame,
        html! {
            h1 { "Channels" }
            @if rows.is_empty() { p { "No channel is defined yet (PUT /v1/channels/{code})." } }
            @else {
                table {
                    caption class="visually-hidden" { "Channels" }
                    thead { tr { th scope="col" { "Channel" } th scope="col" { "Name" }
                        th scope="col" { "Changes published" } th scope="col" { "Defined" } } }
                    tbody { @for row in &rows { tr {
                        td { a href=(href(&row.code)) { code { (row.code) } } }
                        td { (name_of(row)) }
                        td { (row.last_seq) }
                        td { (row.updated_at.format("%Y-%m-%d %H:%M")) }
                    } } }
                }
            }
        },
    )))
}

/// What a channel's page shows besides its definition.
struct Facts {
    days: Vec<(String, i64)>,
    live: Option<DigestFigures>,
    recent: Vec<store::channel_records::RecordRow>,
    granted: Vec<String>,
}

async fn channel_page(
    state: &AppState,
    session: &Session,
    code: &str,
    edited: Option<(&str, &FieldErrors)>,
    notice: Option<&str>,
) -> Page {
    let row = api::channels::visible_channel(state, &session.caller, code).await?;
    let id = row.id;
    let today = state.clock.now().date_naive();
    let from = (today - chrono::Days::new(DAYS - 1))
        .format("%Y-%m-%d")
        .to_string();
    let key = state.cursor_key.clone();
    let facts = state
        .db
        .read(move |conn| {
            store::snapshot(conn, |c| {
                Ok::<_, ApiError>(Facts {
                    days: store::channel_records::days_since(c, id, &from)?,
                    live: snapshots::digest_figures(c, id, &key)?,
                    recent: store::channel_records::latest_changes(c, id, RECENT)?,
                    granted: store::resellers::granted(c, id)?,
                })
            })
        })
        .await?;
    let shown = api::channels::channel_json(&row.code, &row.definition)?;
    let pretty = serde_json::to_string_pretty(&shown).unwrap_or_default();
    let no_errors = FieldErrors::default();
    let (text, errors) = edited.unwrap_or((&pretty, &no_errors));
    let title = format!("Channel {}", row.code);
    let frame = Frame::new(&title, Some(session))
        .current("/console/channels")
        .notice_key(notice);
    let admin = session.caller.role >= Role::Admin;
    let content = html! {
        p { a href="/console/channels" { "Channels" } }
        h1 { "Channel " code { (row.code) } }
        p { (name_of(&row)) }
        dl {
            dt { "Assortment" } dd { (layout::live_count(&facts.live, " live records")) }
            dt { "Changes published" } dd { (row.last_seq) }
            dt { "Resellers granted" }
            dd { @if facts.granted.is_empty() { "none" }
                 @for (i, r) in facts.granted.iter().enumerate() { @if i > 0 { ", " } code { (r) } } }
        }
        section aria-labelledby="per-day" {
            h2 id="per-day" { "Changes per day" }
            (chart(&facts.days, today))
        }
        section aria-labelledby="readiness" {
            h2 id="readiness" { "Readiness per profile" }
            p { "Which products each profile leaves out, and why (the feed report)." }
            ul { @for f in Format::profiles() {
                li { a href=(format!("{}/readiness/{}", href(&row.code), f.as_str())) { (f.as_str()) } }
            } }
        }
        section aria-labelledby="recent" {
            h2 id="recent" { "Latest changes" }
            @if facts.recent.is_empty() { p { "No change published yet." } }
            @else {
                table {
                    caption class="visually-hidden" { "Latest changes, newest first" }
                    thead { tr { th scope="col" { "Seq" } th scope="col" { "Product" } th scope="col" { "Change" } } }
                    tbody { @for r in &facts.recent { tr {
                        td { (r.seq) }
                        td { a href=(product_href(&r.sku)) { code { (r.sku) } } }
                        td { @if r.hash.is_some() { "published" } @else { "removed" } }
                    } } }
                }
            }
        }
        section aria-labelledby="definition" {
            h2 id="definition" { "Definition" }
            @if admin {
                (layout::error_summary(errors, &["/definition"]))
                form method="post" action=(href(&row.code)) {
                    (layout::csrf_field(session))
                    (layout::field("Definition (JSON)", "definition", "/definition",
                        Control::TextArea { value: text, rows: 24 },
                        Some("The channel definition as PUT /v1/channels/{code} takes it."), errors))
                    button type="submit" { "Save the definition" }
                }
            } @else {
                pre { (pretty) }
            }
        }
    };
    let mut response = layout::html(layout::page(&frame, content));
    if !errors.is_empty() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

async fn show(
    state: web::Data<AppState>,
    session: Session,
    code: web::Path<String>,
    query: web::Query<Notice>,
) -> Page {
    session.caller.require(Role::Editor)?;
    channel_page(&state, &session, &code, None, query.notice.as_deref()).await
}

#[derive(Deserialize)]
struct DefinitionForm {
    #[serde(default)]
    definition: String,
}

async fn save(
    state: web::Data<AppState>,
    code: web::Path<String>,
    posted: Posted<DefinitionForm>,
) -> Page {
    let Posted { session, form } = posted;
    session.caller.require(Role::Admin)?;
    // The channel must exist: this page edits, it does not create.
    api::channels::visible_channel(&state, &session.caller, &code).await?;
    let problems = match serde_json::from_str::<Value>(&form.definition) {
        Err(e) => vec![FieldError::new("", format!("not JSON: {e}"))],
        Ok(value) => {
            match api::channels::store_channel(&state, &session.caller, &code, value).await {
                Ok(_) => {
                    return Ok(layout::redirect(&format!("{}?notice=saved", href(&code))));
                }
                Err(ApiError::Invalid(e)) => e.errors,
                Err(e) => return Err(e.into()),
            }
        }
    };
    // Every problem sits at the one field, naming the member it concerns.
    let errors = FieldErrors(
        problems
            .into_iter()
            .map(|e| {
                let at = if e.pointer.is_empty() {
                    "/"
                } else {
                    &e.pointer
                };
                FieldError::new("/definition", format!("{at}: {}", e.message))
            })
            .collect(),
    );
    channel_page(
        &state,
        &session,
        &code,
        Some((&form.definition, &errors)),
        None,
    )
    .await
}

async fn readiness(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Page {
    session.caller.require(Role::Editor)?;
    let (code, profile) = path.into_inner();
    let format = Format::parse(&profile)
        .filter(|f| f.profile().is_some())
        .ok_or_else(ConsoleError::not_found)?;
    let row = api::channels::visible_channel(&state, &session.caller, &code).await?;
    let id = row.id;
    let figures = state
        .db
        .read(move |conn| store::snapshot(conn, |c| snapshots::readiness_figures(c, id, format)))
        .await
        .map_err(ApiError::from)?;
    let title = format!("Readiness of {} in {}", row.code, format.as_str());
    let frame = Frame::new(&title, Some(&session)).current("/console/channels");
    let api_report = format!(
        "GET /v1/channels/{}/feed/report?format={}",
        row.code,
        format.as_str()
    );
    Ok(layout::html(layout::page(
        &frame,
        html! {
            p { a href=(href(&row.code)) { "Channel " (row.code) } }
            h1 { "Readiness of " code { (row.code) } " in " (format.as_str()) }
            @match &figures {
                None => p class="summary" {
                    "This channel is large: its readiness is computed in the background and is "
                    "not ready yet. Reload this page in a moment, or ask the API (" code { (api_report) } ")."
                },
                Some(f) => {
                    @let r = &f.readiness;
                    p class="summary" { (r.checked) " live products checked: " strong { (r.excluded) " left out" } ", "
                        (r.warned) " published with warnings."
                        (layout::as_of(f.seq, f.last_seq, f.freshness)) }
                    @if r.reasons.is_empty() { p { "Every product is published without a problem." } }
                    @for reason in &r.reasons {
                        section class="reason" {
                            h2 { @if reason.error { "Left out" } @else { "Warning" } ": " code { (reason.field) } " " (reason.message)
                                " (" (reason.count) ")" }
                            ul { @for sku in &reason.skus { li { a href=(product_href(sku)) { code { (sku) } } } } }
                            @if reason.count > reason.skus.len() as u64 {
                                p class="hint" { "The first " (reason.skus.len()) " are listed; " code { (api_report) } " lists them all." }
                            }
                        }
                    }
                }
            }
        },
    )))
}
