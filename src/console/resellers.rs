//! The vendor console's resellers and their tokens (admin): create a reseller, grant and
//! withdraw channels (a withdrawal ends the reseller's subscriptions on the channel, said on
//! its confirmation page), issue tokens (the secret shown once) and revoke them, last use.
//! Every change goes through the API's rules (`api::resellers::store_reseller`,
//! `issue_reseller_token`, `api::tokens::revoke`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, Scope};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::home::Notice;
use super::layout::{self, Control, FieldErrors, Frame};
use super::session::{Posted, Session};
use super::{ConsoleError, Page};
use crate::api::resellers::{self as api_resellers, Reseller};
use crate::api::{self, ApiError, AppState};
use crate::service::tokens::Role;
use crate::store;

pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/console/resellers", web::get().to(list))
        .route("/console/resellers", web::post().to(create))
        .route("/console/resellers/{code}", web::get().to(show))
        .route("/console/resellers/{code}/grant", web::post().to(grant))
        .route(
            "/console/resellers/{code}/withdraw/{channel}",
            web::get().to(confirm_withdraw),
        )
        .route(
            "/console/resellers/{code}/withdraw/{channel}",
            web::post().to(withdraw),
        )
        .route("/console/resellers/{code}/tokens", web::post().to(issue))
        .route(
            "/console/resellers/{code}/tokens/{id}/revoke",
            web::post().to(revoke),
        )
}

fn href(code: &str) -> String {
    format!("/console/resellers/{code}")
}

/// The API's problems mapped to the form's fields (a 422), or the error itself.
fn form_errors(e: ApiError) -> Result<FieldErrors, ConsoleError> {
    match e {
        ApiError::Invalid(e) => Ok(FieldErrors(e.errors)),
        e => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
struct NewReseller {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

fn list_page(
    session: &Session,
    resellers: &[Reseller],
    typed: &NewReseller,
    errors: &FieldErrors,
    notice: Option<&str>,
) -> HttpResponse {
    let frame = Frame::new("Resellers", Some(session))
        .current("/console/resellers")
        .notice_key(notice);
    let mut response = layout::html(layout::page(
        &frame,
        html! {
            h1 { "Resellers" }
            @if resellers.is_empty() { p { "No reseller yet." } } @else {
                table {
                    caption class="visually-hidden" { "Resellers" }
                    thead { tr { th scope="col" { "Reseller" } th scope="col" { "Name" }
                        th scope="col" { "Contact" } th scope="col" { "Channels" } } }
                    tbody { @for r in resellers { tr {
                        td { a href=(href(&r.code)) { code { (r.code) } } }
                        td { (r.name) }
                        td { (r.email) }
                        td { (r.channels.join(", ")) }
                    } } }
                }
            }
            h2 id="new" { "New reseller" }
            (layout::error_summary(errors, &["/code", "/name", "/email"]))
            form method="post" action="/console/resellers" aria-labelledby="new" {
                (layout::csrf_field(session))
                (layout::field("Code", "code", "/code", Control::Input { kind: "text", value: &typed.code },
                    Some("Letters, digits, '.', '_' or '-'; used in URLs, never changed."), errors))
                (layout::field("Name", "name", "/name", Control::Input { kind: "text", value: &typed.name }, None, errors))
                (layout::field("Contact e-mail", "email", "/email", Control::Input { kind: "email", value: &typed.email },
                    Some("Where notices about its access go."), errors))
                button type="submit" { "Create the reseller" }
            }
        },
    ));
    if !errors.is_empty() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

async fn list(state: web::Data<AppState>, session: Session, query: web::Query<Notice>) -> Page {
    let resellers = api_resellers::resellers(&state, &session.caller).await?;
    Ok(list_page(
        &session,
        &resellers,
        &NewReseller::default(),
        &FieldErrors::default(),
        query.notice.as_deref(),
    ))
}

async fn create(state: web::Data<AppState>, posted: Posted<NewReseller>) -> Page {
    let Posted { session, form } = posted;
    session.caller.require(Role::Admin)?;
    let code = form.code.trim().to_string();
    let exists = api_resellers::reseller(&state, &session.caller, &code)
        .await
        .is_ok();
    let result = if exists {
        Err(ApiError::invalid(
            "/code",
            "a reseller with this code exists already",
        ))
    } else if let Err(e) = api::channels::validate_code(&code) {
        Err(match e {
            ApiError::Invalid(_) => e,
            _ => ApiError::invalid("/code", "letters, digits, '.', '_' or '-' only"),
        })
    } else {
        let body = json!({"name": form.name, "email": form.email, "channels": []});
        api_resellers::store_reseller(&state, &session.caller, &code, &body).await
    };
    match result {
        Ok(_) => Ok(layout::redirect(&format!("{}?notice=saved", href(&code)))),
        Err(e) => {
            let errors = form_errors(e)?;
            let resellers = api_resellers::resellers(&state, &session.caller).await?;
            Ok(list_page(&session, &resellers, &form, &errors, None))
        }
    }
}

/// What a reseller's page shows: the reseller, every channel, its tokens.
async fn reseller_page(
    state: &AppState,
    session: &Session,
    code: &str,
    issued: Option<&api::tokens::IssuedToken>,
    notice: Option<&str>,
) -> Page {
    let reseller = api_resellers::reseller(state, &session.caller, code).await?;
    let channels = api::channels::visible_channels(state, &session.caller).await?;
    let owner = reseller.code.clone();
    let tokens: Vec<store::tokens::TokenRow> = state
        .db
        .read(store::tokens::list)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .filter(|t| t.reseller_code.as_deref() == Some(owner.as_str()))
        .collect();
    let title = format!("Reseller {}", reseller.code);
    let frame = Frame::new(&title, Some(session))
        .current("/console/resellers")
        .notice_key(notice);
    let base = href(&reseller.code);
    let ungranted: Vec<&str> = channels
        .iter()
        .map(|c| c.code.as_str())
        .filter(|c| !reseller.channels.iter().any(|g| g == c))
        .collect();
    let time = |t: Option<chrono::NaiveDateTime>| {
        t.map_or("never".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        })
    };
    Ok(layout::html(layout::page(
        &frame,
        html! {
            p { a href="/console/resellers" { "Resellers" } }
            h1 { "Reseller " code { (reseller.code) } }
            p { (reseller.name) " · " (reseller.email) }
            @if let Some(t) = issued {
                div class="flash notice secret" role="status" {
                    p { strong { "New token " code { (t.id) } ": copy it now, it is not shown again." } }
                    p { code class="token" { (t.token) } }
                }
            }
            section aria-labelledby="grants" {
                h2 id="grants" { "Channels granted" }
                @if reseller.channels.is_empty() { p { "None." } }
                ul { @for c in &reseller.channels { li {
                    code { (c) } " "
                    a href=(format!("{base}/withdraw/{c}")) { "Withdraw " (c) }
                } } }
                @if !ungranted.is_empty() {
                    form method="post" action=(format!("{base}/grant")) {
                        (layout::csrf_field(session))
                        @let options: Vec<(&str, &str)> = ungranted.iter().map(|c| (*c, *c)).collect();
                        (layout::field("Channel", "channel", "/channels",
                            Control::Select { options: &options, selected: "" }, None, &FieldErrors::default()))
                        button type="submit" { "Grant" }
                    }
                }
            }
            section aria-labelledby="tokens" {
                h2 id="tokens" { "Tokens" }
                @if tokens.is_empty() { p { "No token." } } @else {
                    table {
                        caption class="visually-hidden" { "Tokens of " (reseller.code) }
                        thead { tr { th scope="col" { "Token" } th scope="col" { "Name" }
                            th scope="col" { "Created" } th scope="col" { "Last used" }
                            th scope="col" { "Expires" } th scope="col" { span class="visually-hidden" { "Actions" } } } }
                        tbody { @for t in &tokens { tr {
                            td { code { (t.public_id) } }
                            td { (t.name) }
                            td { (time(Some(t.created_at))) }
                            td class="last-used" { (time(t.last_used_at)) }
                            td { (t.expires_at.map_or("never".to_string(), |e| time(Some(e)))) }
                            td { form method="post" action=(format!("{base}/tokens/{}/revoke", t.public_id)) {
                                (layout::csrf_field(session))
                                button type="submit" class="danger" { "Revoke " (t.public_id) }
                            } }
                        } } }
                    }
                }
                form method="post" action=(format!("{base}/tokens")) {
                    (layout::csrf_field(session))
                    (layout::field("Token name", "name", "/name", Control::Input { kind: "text", value: "" },
                        Some("Shown in logs; the reseller's code when empty."), &FieldErrors::default()))
                    button type="submit" { "Issue a token" }
                }
            }
        },
    )))
}

async fn show(
    state: web::Data<AppState>,
    session: Session,
    code: web::Path<String>,
    query: web::Query<Notice>,
) -> Page {
    reseller_page(&state, &session, &code, None, query.notice.as_deref()).await
}

/// Stores the reseller with `channels` as its grants.
async fn set_grants(
    state: &AppState,
    session: &Session,
    reseller: Reseller,
    channels: Vec<String>,
) -> Page {
    let body = json!({"name": reseller.name, "email": reseller.email, "channels": channels});
    api_resellers::store_reseller(state, &session.caller, &reseller.code, &body).await?;
    Ok(layout::redirect(&format!(
        "{}?notice=saved",
        href(&reseller.code)
    )))
}

#[derive(Deserialize)]
struct GrantForm {
    #[serde(default)]
    channel: String,
}

async fn grant(
    state: web::Data<AppState>,
    code: web::Path<String>,
    posted: Posted<GrantForm>,
) -> Page {
    let Posted { session, form } = posted;
    let reseller = api_resellers::reseller(&state, &session.caller, &code).await?;
    let mut channels = reseller.channels.clone();
    if !channels.contains(&form.channel) {
        channels.push(form.channel);
    }
    set_grants(&state, &session, reseller, channels).await
}

async fn confirm_withdraw(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Page {
    let (code, channel) = path.into_inner();
    let reseller = api_resellers::reseller(&state, &session.caller, &code).await?;
    if !reseller.channels.contains(&channel) {
        return Err(ConsoleError::not_found());
    }
    let frame = Frame::new("Withdraw a channel", Some(&session)).current("/console/resellers");
    Ok(layout::html(layout::page(
        &frame,
        html! {
            h1 { "Withdraw " code { (channel) } " from " code { (reseller.code) } "?" }
            p class="warning" { "This ends every subscription of " (reseller.code) " on " (channel)
                " at once (reason access_revoked); its contact gets one notice listing them. Its feeds of "
                (channel) " answer 404 from then on." }
            form method="post" action=(format!("{}/withdraw/{}", href(&reseller.code), channel)) {
                (layout::csrf_field(&session))
                button type="submit" class="danger" { "Withdraw and end its subscriptions" }
                " "
                a href=(href(&reseller.code)) { "Cancel" }
            }
        },
    )))
}

async fn withdraw(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    posted: Posted<serde_json::Value>,
) -> Page {
    let (code, channel) = path.into_inner();
    let session = posted.session;
    let reseller = api_resellers::reseller(&state, &session.caller, &code).await?;
    let channels = reseller
        .channels
        .iter()
        .filter(|c| **c != channel)
        .cloned()
        .collect();
    set_grants(&state, &session, reseller, channels).await
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    name: String,
}

async fn issue(
    state: web::Data<AppState>,
    code: web::Path<String>,
    posted: Posted<TokenForm>,
) -> Page {
    let Posted { session, form } = posted;
    let name = form.name.trim();
    let name = (!name.is_empty()).then_some(name);
    let issued =
        api_resellers::issue_reseller_token(&state, &session.caller, &code, name, None).await?;
    // The secret is in this answer only (no redirect: it is never in a URL or stored).
    reseller_page(&state, &session, &code, Some(&issued), None).await
}

async fn revoke(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    posted: Posted<serde_json::Value>,
) -> Page {
    let (code, id) = path.into_inner();
    let session = posted.session;
    api_resellers::reseller(&state, &session.caller, &code).await?;
    api::tokens::revoke(&state, &session.caller, &id).await?;
    Ok(layout::redirect(&format!("{}?notice=revoked", href(&code))))
}
