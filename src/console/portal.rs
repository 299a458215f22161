//! The partner portal (reseller): its channels (counts, cursors, digests, downloads in every
//! format and profile) and its subscriptions (create, send a test event, the attempts log and
//! its chart, replay, enable, rotate the secret, delete). Every rule is the API's: the pages
//! call the functions the API handlers call (`api::channels::{visible_channels, digest, feed}`,
//! the use case `service::subscriptions::{create, owned, attempts, send_test, replay, enable,
//! rotate_secret, delete}`), as the session's caller.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, Scope};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::home::Notice;
use super::layout::{self, Control, FieldErrors, Frame};
use super::session::{Posted, Session};
use super::Page;
use crate::api::{self, ApiError, AppState};
use crate::feeds::Format;
use crate::service::snapshots::{self, Freshness};
use crate::service::subscriptions::{self as service_subs, Attempt, SubscriptionView};
use crate::store;

pub fn routes(scope: Scope) -> Scope {
    scope
        .route(
            "/portal",
            web::get().to(|| async { layout::redirect("/portal/channels") }),
        )
        .route("/portal/channels", web::get().to(channels))
        .route("/portal/channels/{code}/feed", web::get().to(download))
        .route("/portal/sync", web::get().to(sync_protocol))
        .route("/portal/subscriptions", web::get().to(subscriptions))
        .route("/portal/subscriptions", web::post().to(create))
        .route("/portal/subscriptions/{id}", web::get().to(subscription))
        .route("/portal/subscriptions/{id}/test", web::post().to(send_test))
        .route("/portal/subscriptions/{id}/replay", web::post().to(replay))
        .route("/portal/subscriptions/{id}/enable", web::post().to(enable))
        .route("/portal/subscriptions/{id}/rotate", web::post().to(rotate))
        .route(
            "/portal/subscriptions/{id}/delete",
            web::get().to(confirm_delete),
        )
        .route("/portal/subscriptions/{id}/delete", web::post().to(delete))
}

fn when(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `page` with `status` (a form shown again with its problems: 422).
fn with_status(mut response: HttpResponse, status: StatusCode) -> HttpResponse {
    *response.status_mut() = status;
    response
}

// ------------------------------------------------------------------------------- channels

async fn channels(state: web::Data<AppState>, session: Session, query: web::Query<Notice>) -> Page {
    // The channels the caller may see (the API's rule); their figures without a walk of a
    // large channel (service::snapshots), all read in one snapshot.
    let rows = api::channels::visible_channels(&state, &session.caller).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let key = state.cursor_key.clone();
    let digests = state
        .db
        .read(move |conn| {
            store::snapshot(conn, |c| {
                ids.iter()
                    .map(|&id| snapshots::digest_figures(c, id, &key))
                    .collect::<Result<Vec<_>, _>>()
            })
        })
        .await
        .map_err(ApiError::from)?;
    let formats: Vec<Format> = Format::ALL.into_iter().chain(Format::profiles()).collect();
    let frame = Frame::new("My channels", Some(&session))
        .current("/portal/channels")
        .notice_key(query.notice.as_deref());
    Ok(layout::html(layout::page(
        &frame,
        html! {
            h1 { "My channels" }
            p {
                "Each channel is the catalog as prepared for you. Pull a full feed below, then "
                "follow its changes from the cursor (" a href="/portal/sync" { "the sync protocol" } "), "
                "or subscribe a webhook or an e-mail digest under "
                a href="/portal/subscriptions" { "My subscriptions" } "."
            }
            @if rows.is_empty() {
                p { "No channel is granted to you yet." }
            }
            @for (row, d) in rows.iter().zip(&digests) {
                section aria-labelledby=(format!("ch-{}", row.code)) {
                    h2 id=(format!("ch-{}", row.code)) { "Channel " code { (row.code) } }
                    dl class="facts" {
                        @match d {
                            None => {
                                dt { "Records" } dd { "not counted yet" }
                                dt { "Last change" } dd { (when(row.updated_at)) }
                                dt { "Cursor and digest" } dd {
                                    "A large channel: they are computed in the background; reload in a moment, or ask "
                                    code { "GET /v1/channels/" (row.code) "/digest" } "." }
                            }
                            Some(d) => {
                                dt { "Records" } dd { (d.live) }
                                dt { "Last change" } dd { (when(row.updated_at)) }
                                dt { "Cursor" } dd { code { (d.cursor) } }
                                dt { "Digest (SHA-256)" } dd { code { (d.digest) } }
                                @if d.freshness != Freshness::Live {
                                    dt { "As of" } dd { (layout::as_of(d.seq, d.last_seq, d.freshness))
                                        " The digest is that of the records at this cursor: follow the changes from it, then compare." }
                                }
                            }
                        }
                    }
                    h3 { "Download the full feed" }
                    ul class="actions" {
                        @for f in &formats {
                            li {
                                a href=(format!("/portal/channels/{}/feed?format={}", row.code, f.as_str())) download {
                                    (f.as_str())
                                }
                            }
                        }
                    }
                    p class="hint" {
                        "With the API: " code { "GET /v1/channels/" (row.code) "/feed?format=…" }
                        ", " code { "/changes?since=CURSOR" } ", " code { "/digest" } "."
                    }
                }
            }
        },
    )))
}

#[derive(Deserialize)]
struct FeedQuery {
    format: Option<String>,
}

/// A download link: the API's feed, with the session's caller.
async fn download(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    code: web::Path<String>,
    query: web::Query<FeedQuery>,
) -> Page {
    let mut response = api::feeds::feed(
        &state,
        &session.caller,
        &req,
        &code,
        query.format.as_deref(),
    )
    .await?;
    let ext = query
        .format
        .as_deref()
        .and_then(Format::parse)
        .unwrap_or(Format::Json)
        .extension();
    if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{code}.{ext}\""))
    {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The sync protocol, as docs/sync-protocol.md tells it (embedded at build time).
async fn sync_protocol(session: Session) -> Page {
    const DOC: &str = include_str!("../../docs/sync-protocol.md");
    let frame = Frame::new("Sync protocol", Some(&session)).current("/portal/sync");
    Ok(layout::html(layout::page(
        &frame,
        html! {
            h1 { "The sync protocol" }
            p { "How a client keeps an exact copy of a channel: a full feed with its cursor, then its changes." }
            pre class="mono" { (DOC) }
        },
    )))
}

// -------------------------------------------------------------------------- subscriptions

/// The values of the create form.
#[derive(Deserialize, Default, Clone)]
struct CreateForm {
    #[serde(default)]
    channel: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    every: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    since: String,
}

impl CreateForm {
    /// The API's request body.
    fn body(&self) -> Value {
        let mut body = Map::new();
        if self.kind == "email" {
            body.insert("email".into(), json!(self.email));
            body.insert("every".into(), json!(self.every));
        } else {
            body.insert("url".into(), json!(self.url));
        }
        if !self.format.is_empty() {
            body.insert("format".into(), json!(self.format));
        }
        if !self.since.trim().is_empty() {
            body.insert("since".into(), json!(self.since.trim()));
        }
        Value::Object(body)
    }
}

const CREATE_FIELDS: &[&str] = &["/channel", "/url", "/email", "/every", "/format", "/since"];

async fn subscriptions(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<Notice>,
) -> Page {
    list_page(
        &state,
        &session,
        query.notice.as_deref(),
        &CreateForm::default(),
        &FieldErrors::default(),
        None,
    )
    .await
}

async fn list_page(
    state: &AppState,
    session: &Session,
    notice: Option<&str>,
    form: &CreateForm,
    errors: &FieldErrors,
    error: Option<&str>,
) -> Page {
    let subs =
        service_subs::visible_subscriptions(&state.subscriptions(), session.caller.who()).await?;
    let channels = api::channels::visible_channels(state, &session.caller).await?;
    let views: Vec<SubscriptionView> = subs
        .iter()
        .map(|s| service_subs::view(s, &state.cursor_key, None))
        .collect();
    let channel_options: Vec<(&str, &str)> = channels
        .iter()
        .map(|c| (c.code.as_str(), c.code.as_str()))
        .collect();
    let formats: Vec<Format> = Format::ALL
        .into_iter()
        .chain(Format::profiles())
        .filter(Format::has_changes)
        .collect();
    let mut format_options = vec![("", "default (webhook: json, digest: csv)")];
    format_options.extend(formats.iter().map(|f| (f.as_str(), f.as_str())));
    let kind = if form.kind.is_empty() {
        "webhook"
    } else {
        form.kind.as_str()
    };
    let every = if form.every.is_empty() {
        "daily"
    } else {
        form.every.as_str()
    };
    let frame = Frame::new("My subscriptions", Some(session))
        .current("/portal/subscriptions")
        .notice_key(notice)
        .error(error);
    Ok(layout::html(layout::page(
        &frame,
        html! {
            h1 { "My subscriptions" }
            @if views.is_empty() {
                p { "No subscription yet." }
            } @else {
                table {
                    caption class="visually-hidden" { "Your subscriptions" }
                    thead { tr {
                        th scope="col" { "Subscription" } th scope="col" { "Channel" }
                        th scope="col" { "Delivers to" } th scope="col" { "Format" }
                        th scope="col" { "State" } th scope="col" { "Failures" }
                    } }
                    tbody {
                        @for v in &views {
                            tr {
                                td { a href=(format!("/portal/subscriptions/{}", v.id)) { code { (v.id) } } }
                                td { code { (v.channel) } }
                                td { (target(v)) }
                                td { (v.format) }
                                td { (state_badge(v)) }
                                td { (v.failures) }
                            }
                        }
                    }
                }
            }
            h2 id="new" { "New subscription" }
            @if channels.is_empty() {
                p { "No channel is granted to you: there is nothing to subscribe to yet." }
            } @else {
                (layout::error_summary(errors, CREATE_FIELDS))
                form method="post" action="/portal/subscriptions" aria-labelledby="new" {
                    (layout::csrf_field(session))
                    (layout::field("Channel", "channel", "/channel",
                        Control::Select { options: &channel_options, selected: &form.channel }, None, errors))
                    (layout::field("Kind", "kind", "/kind",
                        Control::Select { options: &[("webhook", "Webhook (signed HTTPS POST)"), ("email", "E-mail digest")], selected: kind },
                        None, errors))
                    (layout::field("Webhook URL", "url", "/url",
                        Control::Input { kind: "url", value: &form.url },
                        Some("For a webhook: an https URL that answers 2xx."), errors))
                    (layout::field("E-mail address", "email", "/email",
                        Control::Input { kind: "email", value: &form.email },
                        Some("For a digest: the address gets a confirmation link first."), errors))
                    (layout::field("Every", "every", "/every",
                        Control::Select { options: &[("daily", "daily"), ("hourly", "hourly")], selected: every },
                        Some("For a digest."), errors))
                    (layout::field("Format", "format", "/format",
                        Control::Select { options: &format_options, selected: &form.format }, None, errors))
                    (layout::field("Start from", "since", "/since",
                        Control::Input { kind: "text", value: &form.since },
                        Some("Empty: from now. \"start\": the whole channel first. Or a cursor of this channel."), errors))
                    button type="submit" { "Create subscription" }
                }
            }
        },
    )))
}

fn target(v: &SubscriptionView) -> Markup {
    html! {
        @if let Some(url) = &v.url { code { (url) } }
        @if let Some(email) = &v.email {
            (email) " (" (v.every.as_deref().unwrap_or("")) " digest"
            @if v.confirmed == Some(false) { ", awaiting confirmation" }
            ")"
        }
    }
}

fn state_badge(v: &SubscriptionView) -> Markup {
    html! {
        span class=(format!("state-{}", v.state)) { (v.state) }
        @if let Some(reason) = v.reason.as_deref().or(v.disabled_reason.as_deref()) {
            " (" (reason) ")"
        }
    }
}

/// The secret of a webhook, shown once (creation, rotation).
fn secret_page(
    session: &Session,
    title: &str,
    id: &str,
    secret: &str,
    extra: Markup,
) -> HttpResponse {
    let frame = Frame::new(title, Some(session)).current("/portal/subscriptions");
    layout::html(layout::page(
        &frame,
        html! {
            h1 { (title) }
            div class="flash notice" role="status" {
                p { strong { "Copy the signing secret now: it is not shown again." } }
                p class="secret" id="secret" { (secret) }
            }
            (extra)
            p { a href=(format!("/portal/subscriptions/{id}")) { "Go to the subscription" } }
        },
    ))
}

async fn create(state: web::Data<AppState>, posted: Posted<CreateForm>) -> Page {
    let Posted { session, form } = posted;
    let result = service_subs::create(
        &state.subscriptions(),
        session.caller.who(),
        &form.channel,
        &form.body(),
    )
    .await
    .map_err(ApiError::from);
    match result {
        Ok((sub, Some(secret))) => Ok(secret_page(
            &session,
            "Webhook created",
            &sub.row.id,
            &secret,
            html! { p { "Verify each delivery's " code { "webhook-signature" } " with it (Standard Webhooks). Send a test event from the subscription's page." } },
        )),
        Ok((sub, None)) => Ok(layout::redirect(&format!(
            "/portal/subscriptions/{}?notice=saved",
            sub.row.id
        ))),
        Err(ApiError::Invalid(errors)) => Ok(with_status(
            list_page(
                &state,
                &session,
                None,
                &form,
                &FieldErrors(errors.errors),
                None,
            )
            .await?,
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        Err(ApiError::NotFound { .. }) => Ok(with_status(
            list_page(
                &state,
                &session,
                None,
                &form,
                &FieldErrors::one("/channel", "no channel with this code is granted to you"),
                None,
            )
            .await?,
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        Err(e @ ApiError::Conflict { .. }) => {
            let (_, _, detail) = e.parts();
            Ok(with_status(
                list_page(
                    &state,
                    &session,
                    None,
                    &form,
                    &FieldErrors::default(),
                    Some(&detail),
                )
                .await?,
                StatusCode::CONFLICT,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct ReplayForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    cursor: String,
}

async fn subscription(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<String>,
    query: web::Query<Notice>,
) -> Page {
    detail_page(
        &state,
        &session,
        &id,
        query.notice.as_deref(),
        &FieldErrors::default(),
        None,
    )
    .await
}

async fn detail_page(
    state: &AppState,
    session: &Session,
    id: &str,
    notice: Option<&str>,
    errors: &FieldErrors,
    error: Option<&str>,
) -> Page {
    let sub = service_subs::owned(&state.subscriptions(), session.caller.who(), id).await?;
    let attempts = service_subs::attempts(&state.subscriptions(), &sub, 200).await?;
    let v = service_subs::view(&sub, &state.cursor_key, None);
    let webhook = v.kind == "webhook";
    let live = v.state != "ended";
    let title = format!("Subscription {}", v.id);
    let frame = Frame::new(&title, Some(session))
        .current("/portal/subscriptions")
        .notice_key(notice)
        .error(error);
    let action = |name: &str| format!("/portal/subscriptions/{}/{name}", v.id);
    Ok(layout::html(layout::page(
        &frame,
        html! {
            p { a href="/portal/subscriptions" { "← My subscriptions" } }
            h1 { "Subscription " code { (v.id) } }
            dl class="facts" {
                dt { "Channel" } dd { code { (v.channel) } }
                dt { "Kind" } dd { (v.kind) }
                dt { "Delivers to" } dd { (target(&v)) }
                dt { "Format" } dd { (v.format) }
                dt { "State" } dd { (state_badge(&v)) }
                dt { "Failures in a row" } dd { (v.failures) }
                dt { "Delivered up to" } dd { code { (v.cursor) } }
                @if let Some(p) = &v.pending {
                    dt { "Pending batch" } dd { code { (p.webhook_id) } ", " (p.attempts) " failed attempt(s)"
                        @if let Some(next) = &p.next_attempt_at { ", next at " (next) } }
                }
                dt { "Created" } dd { (v.created_at) }
            }
            h2 { "Actions" }
            @if !live {
                p { "This subscription has ended: nothing is sent for it any more. It can be deleted." }
            }
            div class="actions" {
                @if webhook && live {
                    form class="inline" method="post" action=(action("test")) {
                        (layout::csrf_field(session))
                        button type="submit" id="send-test" { "Send test event" }
                    }
                }
                @if live && !v.enabled {
                    form class="inline" method="post" action=(action("enable")) {
                        (layout::csrf_field(session))
                        button type="submit" { "Enable" }
                    }
                }
                @if webhook && live {
                    form class="inline" method="post" action=(action("rotate")) {
                        (layout::csrf_field(session))
                        button type="submit" class="secondary" { "Rotate the secret" }
                    }
                }
                a class="button secondary" href=(action("delete")) { "Delete…" }
            }
            @if live {
                h3 id="replay" { "Replay" }
                (layout::error_summary(errors, &["/since"]))
                form method="post" action=(action("replay")) aria-labelledby="replay" {
                    (layout::csrf_field(session))
                    (layout::field("From", "from", "/from",
                        Control::Select { options: &[("start", "the start of the channel"), ("cursor", "the cursor below")], selected: "start" },
                        None, errors))
                    (layout::field("Cursor", "cursor", "/since",
                        Control::Input { kind: "text", value: "" },
                        Some("A cursor of this channel, from a feed, a change page or a delivery."), errors))
                    button type="submit" class="secondary" { "Replay" }
                }
            }
            h2 { "Deliveries" }
            (chart(&attempts))
            h3 { "Attempts" }
            @if attempts.is_empty() {
                p { "No attempt yet." }
            } @else {
                table id="attempts" {
                    caption class="visually-hidden" { "Delivery attempts, latest first" }
                    thead { tr {
                        th scope="col" { "At" } th scope="col" { "Message" } th scope="col" { "Status" }
                        th scope="col" { "Latency" } th scope="col" { "Receiver's answer" }
                    } }
                    tbody {
                        @for a in &attempts {
                            tr {
                                td { (a.at) }
                                td { code { (a.webhook_id) } }
                                td class=(if ok(a) { "ok" } else { "bad" }) {
                                    @match a.status { Some(s) => (s), None => "no answer" }
                                }
                                td { (a.latency_ms) " ms" }
                                td { @if let Some(e) = &a.error { (e) } @else { code { (a.response.as_deref().unwrap_or("")) } } }
                            }
                        }
                    }
                }
            }
        },
    )))
}

fn ok(a: &Attempt) -> bool {
    a.status.is_some_and(|s| (200..300).contains(&s))
}

/// Outcomes over time: one bar per hour (the hours of the attempts shown), delivered in green
/// above failed in red; server-rendered SVG with a text summary for screen readers.
fn chart(attempts: &[Attempt]) -> Markup {
    use std::collections::BTreeMap;
    let mut hours: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for a in attempts {
        let hour = a.at.get(..13).unwrap_or(&a.at).to_string();
        let e = hours.entry(hour).or_default();
        if ok(a) {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let hours: Vec<_> = hours.into_iter().rev().take(24).rev().collect();
    let (delivered, failed) = hours
        .iter()
        .fold((0, 0), |(d, f), (_, (a, b))| (d + a, f + b));
    let max = hours
        .iter()
        .map(|(_, (a, b))| a + b)
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, bar) = (600u32, 120u32, 600 / 24);
    let summary = format!(
        "Outcomes of the last {} attempts over {} hour(s): {delivered} delivered, {failed} failed",
        attempts.len(),
        hours.len()
    );
    html! {
        svg class="chart" id="outcomes" role="img" aria-label=(summary) viewBox=(format!("0 0 {w} {}", h + 20))
            width=(w) height=(h + 20) xmlns="http://www.w3.org/2000/svg" {
            title { (summary) }
            line x1="0" y1=(h) x2=(w) y2=(h) stroke="#57606a" {}
            @for (i, (hour, (good, bad))) in hours.iter().enumerate() {
                @let x = u32::try_from(i).unwrap_or(0) * bar + 2;
                @let gh = good * h / max;
                @let bh = bad * h / max;
                rect x=(x) y=(h - gh) width=(bar - 4) height=(gh) fill="#116329" {
                    title { (hour) ":00 UTC: " (good) " delivered" }
                }
                rect x=(x) y=(h - gh - bh) width=(bar - 4) height=(bh) fill="#a40e26" {
                    title { (hour) ":00 UTC: " (bad) " failed" }
                }
            }
            text x="0" y=(h + 16) font-size="12" fill="#57606a" {
                @match hours.first() {
                    Some((first, _)) => { "from " (first) ":00 UTC" }
                    None => "no attempts",
                }
            }
        }
        p { (summary) "." }
    }
}

async fn send_test(
    state: web::Data<AppState>,
    posted: Posted<Value>,
    id: web::Path<String>,
) -> Page {
    service_subs::send_test(&state.subscriptions(), posted.session.caller.who(), &id).await?;
    Ok(layout::redirect(&format!(
        "/portal/subscriptions/{id}?notice=test-sent#attempts"
    )))
}

async fn replay(
    state: web::Data<AppState>,
    posted: Posted<ReplayForm>,
    id: web::Path<String>,
) -> Page {
    let Posted { session, form } = posted;
    let since = if form.from == "cursor" {
        json!(form.cursor.trim())
    } else {
        json!("start")
    };
    match service_subs::replay(&state.subscriptions(), session.caller.who(), &id, since)
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(layout::redirect(&format!(
            "/portal/subscriptions/{id}?notice=replayed"
        ))),
        Err(ApiError::Invalid(errors)) => Ok(with_status(
            detail_page(
                &state,
                &session,
                &id,
                None,
                &FieldErrors(errors.errors),
                None,
            )
            .await?,
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        Err(e) => Err(e.into()),
    }
}

async fn enable(state: web::Data<AppState>, posted: Posted<Value>, id: web::Path<String>) -> Page {
    service_subs::enable(&state.subscriptions(), posted.session.caller.who(), &id).await?;
    Ok(layout::redirect(&format!(
        "/portal/subscriptions/{id}?notice=enabled"
    )))
}

async fn rotate(state: web::Data<AppState>, posted: Posted<Value>, id: web::Path<String>) -> Page {
    let rotated =
        service_subs::rotate_secret(&state.subscriptions(), posted.session.caller.who(), &id)
            .await?;
    Ok(secret_page(
        &posted.session,
        "Secret rotated",
        &rotated.id,
        &rotated.secret,
        html! { p { "Until " (rotated.previous_secret_valid_until) ", deliveries carry a signature with the previous secret too." } },
    ))
}

async fn confirm_delete(
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<String>,
) -> Page {
    let sub = service_subs::owned(&state.subscriptions(), session.caller.who(), &id).await?;
    let v = service_subs::view(&sub, &state.cursor_key, None);
    let frame =
        Frame::new("Delete the subscription", Some(&session)).current("/portal/subscriptions");
    Ok(layout::html(layout::page(
        &frame,
        html! {
            h1 { "Delete subscription " code { (v.id) } "?" }
            p { "It delivers " (target(&v)) " for channel " code { (v.channel) } ". Its delivery log goes with it. This cannot be undone." }
            form method="post" action=(format!("/portal/subscriptions/{}/delete", v.id)) {
                (layout::csrf_field(&session))
                div class="actions" {
                    button type="submit" class="danger" { "Delete" }
                    a href=(format!("/portal/subscriptions/{}", v.id)) { "Cancel" }
                }
            }
        },
    )))
}

async fn delete(state: web::Data<AppState>, posted: Posted<Value>, id: web::Path<String>) -> Page {
    service_subs::delete(&state.subscriptions(), posted.session.caller.who(), &id).await?;
    Ok(layout::redirect("/portal/subscriptions?notice=deleted"))
}
