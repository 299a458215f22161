//! The vendor console's products (admin, editor): search by SKU prefix, GTIN or title words
//! (the `product_search` index and the primary key; keyset paging), a product's page (its
//! canonical body, its history, what each channel publishes for it), editing and creating
//! through the API's edit use case (`editing::put_product`), deleting with a confirmation.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, Scope};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{self, Control, FieldErrors, Frame};
use super::session::{Posted, Session};
use super::{ConsoleError, Page};
use crate::api::{ApiError, AppState};
use crate::catalog::{self, search, FieldError, Gtin, ValidationErrors};
use crate::feeds::profile::excludes;
use crate::feeds::Format;
use crate::service::edit::{self as editing, EditError};
use crate::service::pull;
use crate::service::tokens::Role;
use crate::store::{self, products::ProductRow};

/// Products a page of the list shows.
const PAGE: i64 = 50;
/// Different words a title search takes at most.
const MAX_WORDS: usize = 8;

pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/console/products", web::get().to(list))
        .route("/console/products/new", web::get().to(new_page))
        .route("/console/products/new", web::post().to(create))
        .route("/console/products/{sku}", web::get().to(show))
        .route("/console/products/{sku}", web::post().to(save))
        .route(
            "/console/products/{sku}/delete",
            web::get().to(confirm_delete),
        )
        .route("/console/products/{sku}/delete", web::post().to(delete))
        .route(
            "/console/products/{sku}/feeds/{channel}/{format}",
            web::get().to(feed_document),
        )
}

/// The link to a product's page (SKUs are letters, digits, `.`, `_` and `-`: safe in a path).
pub fn href(sku: &str) -> String {
    format!("/console/products/{sku}")
}

#[derive(Deserialize)]
struct ListQuery {
    /// `sku` (prefix), `gtin` or `title` (words).
    by: Option<String>,
    q: Option<String>,
    after: Option<String>,
    notice: Option<String>,
}

/// How the list searches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Sku,
    Gtin,
    Title,
}

impl By {
    fn parse(s: Option<&str>) -> By {
        match s {
            Some("gtin") => By::Gtin,
            Some("title") => By::Title,
            _ => By::Sku,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            By::Sku => "sku",
            By::Gtin => "gtin",
            By::Title => "title",
        }
    }
}

/// A page of products matching the search, in SKU order after `after`; one more than the page
/// tells whether a next page exists.
fn search_page(
    conn: &mut store::DbConnection,
    by: By,
    q: &str,
    after: Option<&str>,
) -> Result<Result<Vec<ProductRow>, String>, store::StoreError> {
    let words = match by {
        By::Sku => return Ok(Ok(store::products::with_prefix(conn, q, after, PAGE + 1)?)),
        By::Gtin => match Gtin::parse(q.trim()) {
            Ok(g) => vec![g.as_str().to_string()],
            Err(e) => return Ok(Err(format!("This is not a GTIN: {e}"))),
        },
        By::Title => {
            let mut words = search::words(q);
            words.sort_unstable();
            words.dedup();
            words
        }
    };
    if words.is_empty() {
        return Ok(Err("Type at least one word of a title.".into()));
    }
    // Each word is a read of the index per round of the search: a bounded number of them.
    if words.len() > MAX_WORDS {
        return Ok(Err(format!(
            "Search for at most {MAX_WORDS} different words."
        )));
    }
    // One snapshot: the rounds of a search of several words and the rows read after them see
    // the catalog at one point.
    store::snapshot(conn, |conn| {
        let skus = store::products::search_words(conn, &words, after, PAGE + 1)?;
        let refs: Vec<&str> = skus.iter().map(String::as_str).collect();
        let mut rows = store::products::get_many(conn, &refs)?;
        rows.sort_by(|a, b| a.sku.cmp(&b.sku));
        Ok(Ok(rows))
    })
}

/// The title shown for a product: English if it has one, else its first locale's.
fn title_of(body: &Value) -> String {
    let titles = body.get("title").and_then(Value::as_object);
    titles
        .and_then(|t| t.get("en").or_else(|| t.values().next()))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

async fn list(state: web::Data<AppState>, session: Session, query: web::Query<ListQuery>) -> Page {
    session.caller.require(Role::Editor)?;
    let by = By::parse(query.by.as_deref());
    let q = query.q.clone().unwrap_or_default();
    let after = query.after.clone();
    let (q2, after2) = (q.clone(), after.clone());
    let found = state
        .db
        .read(move |conn| search_page(conn, by, &q2, after2.as_deref()))
        .await
        .map_err(ApiError::from)?;
    let (rows, problem) = match found {
        Ok(rows) => (rows, None),
        Err(problem) => (Vec::new(), Some(problem)),
    };
    let more = rows.len() as i64 > PAGE;
    let rows = &rows[..rows.len().min(PAGE as usize)];
    let next = more.then(|| rows.last().map(|r| r.sku.clone())).flatten();
    let options = [
        ("sku", "SKU starts with"),
        ("gtin", "GTIN is"),
        ("title", "Title has the words"),
    ];
    let errors = problem
        .as_deref()
        .map(|p| FieldErrors::one("/q", p))
        .unwrap_or_default();
    let frame = Frame::new("Products", Some(&session))
        .current("/console/products")
        .notice_key(query.notice.as_deref());
    let content = html! {
        h1 { "Products" }
        p { a href="/console/products/new" { "New product" } }
        form method="get" action="/console/products" class="search" role="search" {
            (layout::field("Search by", "by", "/by",
                Control::Select { options: &options, selected: by.as_str() }, None, &errors))
            (layout::field("Search for", "q", "/q", Control::Input { kind: "search", value: &q },
                Some("A SKU's beginning (empty: every product), a GTIN, or words of a title."),
                &errors))
            button type="submit" { "Search" }
        }
        @if rows.is_empty() && problem.is_none() {
            p { "No product matches." }
        }
        @if !rows.is_empty() {
            table {
                caption class="visually-hidden" { "Products" }
                thead { tr {
                    th scope="col" { "SKU" } th scope="col" { "Title" }
                    th scope="col" { "GTIN" } th scope="col" { "Status" }
                    th scope="col" { "Updated" }
                } }
                tbody {
                    @for row in rows {
                        @let body = editing::parse_body(row).unwrap_or(Value::Null);
                        tr {
                            td { a href=(href(&row.sku)) { code { (row.sku) } } }
                            td class="title" { (title_of(&body)) }
                            td { (body.get("gtin").and_then(Value::as_str).unwrap_or("")) }
                            td { (body.get("status").and_then(Value::as_str).unwrap_or("")) }
                            td { (row.updated_at.format("%Y-%m-%d %H:%M")) }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &next {
            p { a rel="next" href=(next_href(by, &q, next)) { "Next page" } }
        }
    };
    Ok(layout::html(layout::page(&frame, content)))
}

fn next_href(by: By, q: &str, after: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("by", by.as_str())
        .append_pair("q", q)
        .append_pair("after", after)
        .finish();
    format!("/console/products?{query}")
}

/// The fields of the product form: (form name, JSON pointer, label, hint).
const SIMPLE_FIELDS: [(&str, &str, &str); 3] = [
    (
        "gtin",
        "GTIN",
        "8, 12, 13 or 14 digits with a valid check digit; empty for none.",
    ),
    ("brand", "Brand", "Empty for none."),
    ("category", "Category", "Empty for none."),
];

const STATUSES: [(&str, &str); 3] = [
    ("active", "active"),
    ("draft", "draft"),
    ("discontinued", "discontinued"),
];

/// The product form: SKU (new products only), status, GTIN, brand, category, a title per
/// locale; the rest of the body is kept as it is. `hash` is the version edited (If-Match).
fn product_form(
    session: &Session,
    body: &Value,
    sku: Option<&str>,
    hash: &str,
    errors: &FieldErrors,
) -> Markup {
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut titles: BTreeMap<String, String> = body
        .get("title")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    if titles.is_empty() {
        titles.insert("en".into(), String::new());
    }
    let mut placed: Vec<String> = vec!["/sku".into(), "/status".into()];
    placed.extend(titles.keys().map(|l| format!("/title/{l}")));
    placed.extend(SIMPLE_FIELDS.iter().map(|(k, _, _)| format!("/{k}")));
    let placed_refs: Vec<&str> = placed.iter().map(String::as_str).collect();
    let action = match sku {
        None => "/console/products/new".to_string(),
        Some(sku) => href(sku),
    };
    let status = text("status");
    html! {
        (layout::error_summary(errors, &placed_refs))
        form method="post" action=(action) novalidate {
            (layout::csrf_field(session))
            input type="hidden" name="hash" value=(hash);
            @if sku.is_none() {
                (layout::field("SKU", "sku", "/sku", Control::Input { kind: "text", value: &text("sku") },
                    Some("1 to 64 letters, digits, '.', '_' or '-'."), errors))
            }
            (layout::field("Status", "status", "/status",
                Control::Select { options: &STATUSES, selected: if status.is_empty() { "draft" } else { &status } },
                None, errors))
            @for (locale, title) in &titles {
                (layout::field(&format!("Title ({locale})"), &format!("title.{locale}"),
                    &format!("/title/{locale}"), Control::Input { kind: "text", value: title },
                    None, errors))
            }
            @for (name, label, hint) in &SIMPLE_FIELDS {
                (layout::field(label, name, &format!("/{name}"),
                    Control::Input { kind: "text", value: &text(name) }, Some(hint), errors))
            }
            button type="submit" { @if sku.is_none() { "Create" } @else { "Save" } }
        }
    }
}

/// The body the form describes: `base` (the stored body, or `{}`) with the form's fields set;
/// an empty optional field removes the member.
fn body_from_form(base: &Value, form: &HashMap<String, String>, sku: &str) -> Value {
    let mut body = base.as_object().cloned().unwrap_or_default();
    body.insert("sku".into(), sku.into());
    if let Some(status) = form.get("status") {
        body.insert("status".into(), status.as_str().into());
    }
    for (name, _, _) in &SIMPLE_FIELDS {
        match form.get(*name).map(|v| v.trim()) {
            Some("") | None => {
                body.remove(*name);
            }
            Some(v) => {
                body.insert((*name).into(), v.into());
            }
        }
    }
    let mut titles = body
        .get("title")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (name, value) in form {
        if let Some(locale) = name.strip_prefix("title.") {
            if value.trim().is_empty() {
                titles.remove(locale);
            } else {
                titles.insert(locale.to_string(), value.as_str().into());
            }
        }
    }
    body.insert("title".into(), Value::Object(titles));
    Value::Object(body)
}

/// The page of a new product's form.
fn new_form(session: &Session, body: &Value, errors: &FieldErrors) -> HttpResponse {
    let frame = Frame::new("New product", Some(session)).current("/console/products");
    let mut response = layout::html(layout::page(
        &frame,
        html! {
            h1 { "New product" }
            p { "The other members (description, attributes, media, prices, measures, packaging) can be added through the API." }
            (product_form(session, body, None, "", errors))
        },
    ));
    if !errors.is_empty() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

async fn new_page(session: Session) -> Page {
    session.caller.require(Role::Editor)?;
    Ok(new_form(
        &session,
        &serde_json::json!({}),
        &FieldErrors::default(),
    ))
}

/// Stores the product of a form through the API's edit use case. `Ok(Err(errors))`: the form
/// goes back with its problems.
async fn store_form(
    state: &AppState,
    session: &Session,
    body: Value,
    sku: &str,
    if_match: Option<String>,
    create: bool,
) -> Result<Result<(), FieldErrors>, ConsoleError> {
    let product = match catalog::parse_product(&body, Some(sku)) {
        Ok(p) => p,
        Err(e) => return Ok(Err(FieldErrors(e.errors))),
    };
    let (by, now) = (session.caller.name.clone(), state.clock.now());
    let sku = sku.to_string();
    let stored = state
        .db
        .write(move |conn| {
            if create && store::products::get(conn, &sku)?.is_some() {
                return Err(EditError::Invalid(ValidationErrors {
                    errors: vec![FieldError::new(
                        "/sku",
                        "a product with this SKU exists already",
                    )],
                }));
            }
            editing::put_product(conn, &product, if_match.as_deref(), &by, now)
        })
        .await;
    match stored {
        Ok(_) => {
            state.wake.notify_one();
            Ok(Ok(()))
        }
        Err(EditError::Invalid(e)) => Ok(Err(FieldErrors(e.errors))),
        Err(EditError::PreconditionFailed) => Ok(Err(FieldErrors::one(
            "",
            "Someone changed this product since you opened it: reload the page to edit the current version.",
        ))),
        Err(e) => Err(ApiError::from(e).into()),
    }
}

async fn create(state: web::Data<AppState>, posted: Posted<HashMap<String, String>>) -> Page {
    let Posted { session, form } = posted;
    session.caller.require(Role::Editor)?;
    let sku = form.get("sku").map(|s| s.trim()).unwrap_or("").to_string();
    let body = body_from_form(&serde_json::json!({}), &form, &sku);
    match store_form(&state, &session, body.clone(), &sku, None, true).await? {
        Ok(()) => Ok(layout::redirect(&format!("{}?notice=saved", href(&sku)))),
        Err(errors) => Ok(new_form(&session, &body, &errors)),
    }
}

/// A product's stored row, or 404.
async fn product_row(state: &AppState, sku: &str) -> Result<ProductRow, ConsoleError> {
    let sku = sku.to_string();
    state
        .db
        .read(move |conn| store::products::get(conn, &sku))
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no product with this SKU").into())
}

/// What one channel publishes for the product.
struct ChannelView {
    code: String,
    record: Option<String>,
    /// Per profile: its name and problems.
    profiles: Vec<(&'static str, Vec<crate::feeds::profile::Problem>)>,
}

/// History entries shown on a product's page (the API's history has them all).
const HISTORY: i64 = 50;

/// One changed field of a history entry: its value before and after (None: absent).
struct FieldChange {
    field: String,
    before: Option<Value>,
    after: Option<Value>,
}

/// The changed fields of an entry with their values, or None where the values were not kept
/// (the entry predates them, or it is a creation: the first version has nothing to diff).
fn field_changes(h: &store::products::HistoryRow) -> Option<Vec<FieldChange>> {
    let changes: serde_json::Map<String, Value> =
        serde_json::from_str(h.changes.as_deref()?).ok()?;
    Some(
        changes
            .into_iter()
            .map(|(field, change)| FieldChange {
                field,
                before: change.get("before").cloned(),
                after: change.get("after").cloned(),
            })
            .collect(),
    )
}

/// A field's value as text: a string as it is, anything else as compact JSON.
fn value_text(v: &Option<Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The history, newest first: per entry, each changed field's old and new value.
fn history_table(history: &[store::products::HistoryRow]) -> maud::Markup {
    let shown = &history[..history.len().min(HISTORY as usize)];
    html! {
        table class="history" {
            caption class="visually-hidden" { "Changes, newest first" }
            thead { tr { th scope="col" { "When" } th scope="col" { "By" } th scope="col" { "Change" } th scope="col" { "Hash before → after" } } }
            tbody {
                @for h in shown {
                    @let fields: Vec<String> = serde_json::from_str(&h.fields).unwrap_or_default();
                    tr {
                        td { (h.at.format("%Y-%m-%d %H:%M:%S")) }
                        td { (h.by_name) }
                        td {
                            @match (field_changes(h), &h.hash_before, &h.hash_after) {
                                (_, None, _) => {
                                    "Created with " @for (i, f) in fields.iter().enumerate() { @if i > 0 { ", " } code { (f) } }
                                }
                                (Some(changes), _, after) => {
                                    @if after.is_none() { "Deleted. " }
                                    dl class="diff" {
                                        @for c in &changes {
                                            dt { code { (c.field) } }
                                            dd {
                                                span class="visually-hidden" { "before: " }
                                                del class="before" { (value_text(&c.before)) }
                                                " → "
                                                span class="visually-hidden" { "after: " }
                                                ins class="after" { (value_text(&c.after)) }
                                            }
                                        }
                                    }
                                }
                                (None, _, _) => {
                                    @for (i, f) in fields.iter().enumerate() { @if i > 0 { ", " } code { (f) } }
                                    " " span class="hint" { "(values not kept: recorded before the history kept them)" }
                                }
                            }
                        }
                        td { code { (short(h.hash_before.as_deref())) } " → " code { (short(h.hash_after.as_deref())) } }
                    }
                }
            }
        }
        @if history.len() > shown.len() {
            p class="hint" { "The latest " (HISTORY) " changes are shown; " code { "GET /v1/products/{sku}/history" } " has them all." }
        }
    }
}

async fn product_page(
    state: &AppState,
    session: &Session,
    row: &ProductRow,
    edited: Option<(&Value, &FieldErrors)>,
    notice: Option<&str>,
) -> Page {
    let sku = row.sku.clone();
    // Channels are the admin's, as in the API (an editor gets 403 there).
    let admin = session.caller.role >= Role::Admin;
    let (history, channels) = state
        .db
        .read(move |conn| {
            store::snapshot(conn, |c| {
                let history = store::products::latest_history(c, &sku, HISTORY + 1)?;
                let mut channels = Vec::new();
                let all = if admin {
                    store::channels::list(c, None)?
                } else {
                    Vec::new()
                };
                for ch in all {
                    let (record, checks) = pull::product_report(c, ch.id, &sku)?;
                    channels.push(ChannelView {
                        code: ch.code,
                        record,
                        profiles: checks.into_iter().map(|(f, p)| (f.as_str(), p)).collect(),
                    });
                }
                Ok::<_, ApiError>((history, channels))
            })
        })
        .await?;
    let body = editing::parse_body(row).map_err(ApiError::from)?;
    let pretty = serde_json::to_string_pretty(&body).unwrap_or_default();
    let title = title_of(&body);
    let no_errors = FieldErrors::default();
    let (form_body, errors) = edited.unwrap_or((&body, &no_errors));
    let heading = format!("Product {}", row.sku);
    let frame = Frame::new(&heading, Some(session))
        .current("/console/products")
        .notice_key(notice);
    let content = html! {
        p { a href="/console/products" { "Products" } }
        h1 { "Product " code { (row.sku) } }
        p class="title" { (title) }
        p { "Version " (row.version) ", updated " (row.updated_at.format("%Y-%m-%d %H:%M:%S UTC")) ". "
            a href=(format!("{}/delete", href(&row.sku))) { "Delete this product" } }
        section aria-labelledby="edit" {
            h2 id="edit" { "Edit" }
            (product_form(session, form_body, Some(&row.sku), &row.hash, errors))
        }
        section aria-labelledby="channels" {
            h2 id="channels" { "What each channel publishes" }
            @if !admin { p { "Channels are shown to admins." } }
            @else if channels.is_empty() { p { "No channel is defined." } }
            @for ch in &channels {
                h3 { "Channel " code { (ch.code) } }
                @match &ch.record {
                    None => p { "Not in this channel's assortment: its feeds leave it out." },
                    Some(record) => {
                        details {
                            summary { "The projected record" }
                            pre { (pretty_json(record)) }
                        }
                        p { "Its item in this channel's feeds: "
                            @for (i, format) in Format::ALL.into_iter().chain(Format::profiles()).enumerate() {
                                @if i > 0 { " · " }
                                a href=(document_href(&row.sku, &ch.code, format)) { (format.as_str()) }
                            }
                        }
                        table {
                            caption class="visually-hidden" { "Profiles of " (ch.code) }
                            thead { tr { th scope="col" { "Profile" } th scope="col" { "Published" } th scope="col" { "Problems" } } }
                            tbody {
                                @for (profile, problems) in &ch.profiles {
                                    tr {
                                        td { (profile) }
                                        td { @if excludes(problems) { strong { "left out" } } @else { "yes" } }
                                        td {
                                            @if problems.is_empty() { "none" }
                                            (problem_list(problems))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="history" {
            h2 id="history" { "History" }
            p class="hint" { "Each change: who made it, when, and each changed top-level field's value before and after; newest first." }
            (history_table(&history))
        }
        section aria-labelledby="body" {
            h2 id="body" { "Canonical body" }
            pre { (pretty) }
        }
    };
    let mut response = layout::html(layout::page(&frame, content));
    if !errors.is_empty() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// A profile's problems with a product: severity, field and message.
fn problem_list(problems: &[crate::feeds::profile::Problem]) -> Markup {
    html! {
        ul { @for p in problems {
            li { (format!("{:?}", p.severity).to_lowercase()) ": " code { (p.field) } " " (p.message) }
        } }
    }
}

/// The page showing a product as one channel's feed in `format` publishes it.
fn document_href(sku: &str, channel: &str, format: Format) -> String {
    format!("{}/feeds/{channel}/{}", href(sku), format.as_str())
}

/// The channel's feed in one format, holding this product alone: what a partner's download
/// carries for it (admins, as the channels are).
async fn feed_document(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String, String)>,
) -> Page {
    session.caller.require(Role::Admin)?;
    let (sku, code, name) = path.into_inner();
    let format = Format::parse(&name).ok_or_else(|| ApiError::not_found("no such format"))?;
    let channel = crate::api::channels::visible_channel(&state, &session.caller, &code).await?;
    let (id, key, wanted) = (channel.id, state.cursor_key.clone(), sku.clone());
    let shown = state
        .db
        .read(move |conn| {
            store::snapshot(conn, |c| {
                Ok::<_, ApiError>(pull::product_document(c, id, &wanted, format, &key)?)
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found("this channel does not publish this product"))?;
    let heading = format!("{sku} in {code}, {}", format.as_str());
    let frame = Frame::new(&heading, Some(&session)).current("/console/products");
    Ok(layout::html(layout::page(
        &frame,
        html! {
            p { a href=(href(&sku)) { "Product " (sku) } }
            h1 { "Product " code { (sku) } " in channel " code { (code) } ", " (format.as_str()) }
            p { "The channel's full feed in this format (" code { (format.content_type()) } "), rendered now with this product alone: the item each partner's download carries for it. A profile that leaves the product out renders its feed without it." }
            @if !shown.problems.is_empty() {
                h2 { "Problems" }
                (problem_list(&shown.problems))
            }
            @if shown.document.is_empty() {
                p { strong { "No document:" } " with this product left out, the feed in this format has nothing to carry." }
            } @else {
                pre { (String::from_utf8_lossy(&shown.document)) }
            }
        },
    )))
}

fn short(hash: Option<&str>) -> String {
    match hash {
        None => "none".into(),
        Some(h) => h.chars().take(12).collect(),
    }
}

fn pretty_json(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string())
}

async fn show(
    state: web::Data<AppState>,
    session: Session,
    sku: web::Path<String>,
    query: web::Query<super::home::Notice>,
) -> Page {
    session.caller.require(Role::Editor)?;
    let row = product_row(&state, &sku).await?;
    product_page(&state, &session, &row, None, query.notice.as_deref()).await
}

async fn save(
    state: web::Data<AppState>,
    sku: web::Path<String>,
    posted: Posted<HashMap<String, String>>,
) -> Page {
    let Posted { session, form } = posted;
    session.caller.require(Role::Editor)?;
    let row = product_row(&state, &sku).await?;
    let base = editing::parse_body(&row).map_err(ApiError::from)?;
    let body = body_from_form(&base, &form, &row.sku);
    let if_match = form.get("hash").map(|h| editing::etag(h));
    match store_form(&state, &session, body.clone(), &row.sku, if_match, false).await? {
        Ok(()) => Ok(layout::redirect(&format!(
            "{}?notice=saved",
            href(&row.sku)
        ))),
        Err(errors) => product_page(&state, &session, &row, Some((&body, &errors)), None).await,
    }
}

async fn confirm_delete(
    state: web::Data<AppState>,
    session: Session,
    sku: web::Path<String>,
) -> Page {
    session.caller.require(Role::Editor)?;
    let row = product_row(&state, &sku).await?;
    let frame = Frame::new("Delete a product", Some(&session)).current("/console/products");
    Ok(layout::html(layout::page(
        &frame,
        html! {
            h1 { "Delete product " code { (row.sku) } "?" }
            p { "Every channel that carries it publishes its deletion; partners remove it at their next sync. Its history stays." }
            form method="post" action=(format!("{}/delete", href(&row.sku))) {
                (layout::csrf_field(&session))
                input type="hidden" name="hash" value=(row.hash);
                button type="submit" class="danger" { "Delete " (row.sku) }
                " "
                a href=(href(&row.sku)) { "Cancel" }
            }
        },
    )))
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    hash: String,
}

async fn delete(
    state: web::Data<AppState>,
    sku: web::Path<String>,
    posted: Posted<DeleteForm>,
) -> Page {
    let Posted { session, form } = posted;
    session.caller.require(Role::Editor)?;
    let (by, now, sku) = (
        session.caller.name.clone(),
        state.clock.now(),
        sku.into_inner(),
    );
    let if_match = (!form.hash.is_empty()).then(|| editing::etag(&form.hash));
    state
        .db
        .write(move |conn| editing::delete_product(conn, &sku, if_match.as_deref(), &by, now))
        .await
        .map_err(ApiError::from)?;
    state.wake.notify_one();
    Ok(layout::redirect("/console/products?notice=deleted"))
}
