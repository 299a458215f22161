//! `/`, the sign-in page and sign-out (the vendor console's home is `dashboard`).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, Scope};
use maud::html;
use serde::Deserialize;

use super::layout::{self, Control, FieldErrors, Frame};
use super::session::{self, Posted};
use super::Page;
use crate::api::{ApiError, AppState};
use crate::service::tokens::Role;

pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/", web::get().to(root))
        .route("/sign-in", web::get().to(sign_in_page))
        .route("/sign-in", web::post().to(sign_in))
        .route("/sign-out", web::post().to(sign_out))
}

/// Where a role starts.
pub fn home_of(role: Role) -> &'static str {
    match role {
        Role::Reseller => "/portal/channels",
        Role::Editor | Role::Admin => "/console",
    }
}

/// `?notice=<key>` of a page reached by a redirect.
#[derive(Deserialize)]
pub struct Notice {
    pub notice: Option<String>,
}

async fn root(req: HttpRequest) -> Page {
    Ok(match session::resolve(&req).await? {
        Some(s) => layout::redirect(home_of(s.caller.role)),
        None => layout::redirect("/sign-in"),
    })
}

fn sign_in_form(errors: &FieldErrors, notice: Option<&str>) -> HttpResponse {
    let frame = Frame::new("Sign in", None).notice_key(notice);
    layout::html(layout::page(
        &frame,
        html! {
            h1 { "Sign in" }
            p { "Paste an API token. It is kept on the server; this browser only holds a session cookie." }
            (layout::error_summary(errors, &["/token"]))
            form method="post" action="/sign-in" {
                (layout::field("API token", "token", "/token",
                    Control::Input { kind: "password", value: "" },
                    Some("The token you were given, starting with pf_."), errors))
                button type="submit" { "Sign in" }
            }
        },
    ))
}

async fn sign_in_page(req: HttpRequest, query: web::Query<Notice>) -> Page {
    if let Some(s) = session::resolve(&req).await? {
        return Ok(layout::redirect(home_of(s.caller.role)));
    }
    Ok(sign_in_form(
        &FieldErrors::default(),
        query.notice.as_deref(),
    ))
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    token: String,
}

async fn sign_in(state: web::Data<AppState>, form: web::Form<SignInForm>) -> Page {
    match session::sign_in(&state, &form.token).await? {
        Some((id, caller)) => with_cookie(
            layout::redirect(home_of(caller.role)),
            &session::set_cookie(&state, Some(&id)),
        ),
        None => {
            let mut response = sign_in_form(
                &FieldErrors::one(
                    "/token",
                    "This token is not valid: unknown, revoked or expired.",
                ),
                None,
            );
            *response.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
            Ok(response)
        }
    }
}

fn with_cookie(mut response: HttpResponse, cookie: &str) -> Page {
    response.headers_mut().insert(
        header::SET_COOKIE,
        header::HeaderValue::from_str(cookie).map_err(|e| ApiError::Internal(e.into()))?,
    );
    Ok(response)
}

async fn sign_out(state: web::Data<AppState>, posted: Posted<serde_json::Value>) -> Page {
    session::sign_out(&state, &posted.session).await?;
    with_cookie(
        layout::redirect("/sign-in?notice=signed-out"),
        &session::set_cookie(&state, None),
    )
}
