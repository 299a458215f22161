//! The base layout and the helpers every page uses: skip link, landmarks, navigation by role,
//! the page-level flash area, labelled fields with their errors (by JSON pointer), the CSRF
//! field. Everything interpolated is escaped by maud; nothing here marks text as safe.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

use super::assets;
use super::session::Session;
use crate::catalog::FieldError;
use crate::service::snapshots::{DigestFigures, Freshness};
use crate::service::tokens::Role;

/// A 303 to `location` (after a form, or to the sign-in page).
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A 200 HTML page.
pub fn html(markup: Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// Messages a redirect may ask the next page to show (`?notice=<key>`): fixed words, never
/// text from the request.
pub fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "signed-out" => "You are signed out.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "revoked" => "The token is revoked: it stops working at once.",
        "enabled" => "The subscription is enabled again.",
        "replayed" => "Replay started: deliveries resume from the chosen position.",
        "test-sent" => "Test event sent: its attempt is at the top of the log.",
        _ => return None,
    })
}

/// What the frame of a page shows around its content.
pub struct Frame<'a> {
    pub title: &'a str,
    /// The signed-in person (navigation and sign-out); `None` on the sign-in and error pages.
    pub session: Option<&'a Session>,
    /// The navigation entry of this page (`aria-current`).
    pub current: &'a str,
    /// A flash message shown at the top (`notice`, green) or an error (`error`, red).
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
}

impl<'a> Frame<'a> {
    pub fn new(title: &'a str, session: Option<&'a Session>) -> Frame<'a> {
        Frame {
            title,
            session,
            current: "",
            notice: None,
            error: None,
        }
    }

    pub fn current(mut self, current: &'a str) -> Self {
        self.current = current;
        self
    }

    /// The notice named by `?notice=<key>`, if it is one of [`notice_text`]'s.
    pub fn notice_key(mut self, key: Option<&str>) -> Self {
        self.notice = key.and_then(notice_text);
        self
    }

    pub fn error(mut self, error: Option<&'a str>) -> Self {
        self.error = error;
        self
    }
}

/// The navigation of a role: (href, label).
fn nav(role: Role) -> &'static [(&'static str, &'static str)] {
    match role {
        Role::Reseller => &[
            ("/portal/channels", "My channels"),
            ("/portal/subscriptions", "My subscriptions"),
            ("/portal/sync", "Sync protocol"),
        ],
        Role::Editor => &[("/console", "Dashboard"), ("/console/products", "Products")],
        Role::Admin => &[
            ("/console", "Dashboard"),
            ("/console/products", "Products"),
            ("/console/channels", "Channels"),
            ("/console/resellers", "Resellers"),
            ("/console/subscriptions", "Subscriptions"),
        ],
    }
}

/// The whole page: `content` inside the frame.
pub fn page(frame: &Frame<'_>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (frame.title) " · partnerfeed" }
                link rel="stylesheet" href=(assets::css_href());
            }
            body {
                a class="skip-link" href="#main" { "Skip to content" }
                header class="site" {
                    a class="brand" href="/" { "partnerfeed" }
                    @if let Some(session) = frame.session {
                        nav aria-label="Main" {
                            ul {
                                @for (href, label) in nav(session.caller.role) {
                                    li {
                                        @if *href == frame.current {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        div class="who" {
                            span { (session.caller.name) " (" (session.caller.role.as_str()) ")" }
                            form class="inline" method="post" action="/sign-out" {
                                (csrf_field(session))
                                button type="submit" class="secondary" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    (flash(frame.notice, frame.error))
                    (content)
                }
                footer class="site" {
                    "partnerfeed " (env!("CARGO_PKG_VERSION")) " · "
                    a href="/openapi.json" { "API description" }
                }
            }
        }
    }
}

/// The page-level message area: a notice (`role=status`) or an error (`role=alert`).
pub fn flash(notice: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error {
            div class="flash error" role="alert" { (error) }
        }
        @if let Some(notice) = notice {
            div class="flash notice" role="status" { (notice) }
        }
    }
}

/// An error page (no session needed): the status, its title and the detail.
pub fn error_page(status: StatusCode, title: &str, detail: &str) -> Markup {
    page(
        &Frame::new(title, None),
        html! {
            h1 { (title) }
            p { (detail) }
            p { "HTTP " (status.as_u16()) ". " a href="/" { "Back to the start" } }
        },
    )
}

/// The hidden field that carries the session's CSRF token; every form of a signed-in page has
/// it (checked by `session::Posted`).
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// Problems of a form, by the JSON pointer of the field they concern (the API's pointers).
#[derive(Debug, Default, Clone)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn one(pointer: &str, message: impl Into<String>) -> FieldErrors {
        FieldErrors(vec![FieldError::new(pointer, message)])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The messages of `pointer` and of anything below it.
    pub fn at<'a>(&'a self, pointer: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |e| covers(pointer, &e.pointer))
            .map(|e| e.message.as_str())
    }

    /// The problems no field of the form shows (listed in the summary with their pointer).
    pub fn unplaced<'a>(&'a self, placed: &'a [&'a str]) -> Vec<&'a FieldError> {
        self.0
            .iter()
            .filter(|e| !placed.iter().any(|p| covers(p, &e.pointer)))
            .collect()
    }
}

/// The HTML id of the field for `pointer` (`/title/en` -> `f-title-en`).
pub fn field_id(pointer: &str) -> String {
    let mut id = String::from("f");
    for c in pointer.chars() {
        id.push(if c.is_ascii_alphanumeric() { c } else { '-' });
    }
    id
}

/// A summary of a form's problems at the top of the form (`role=alert`), each linking to its
/// field; `placed` are the pointers the form has a field for.
pub fn error_summary(errors: &FieldErrors, placed: &[&str]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div class="flash error" role="alert" {
                p { strong { "The form has " (errors.0.len()) " problem(s):" } }
                ul {
                    @for e in &errors.0 {
                        li {
                            @match placed.iter().find(|p| covers(p, &e.pointer)) {
                                Some(p) => a href=(format!("#{}", field_id(p))) { (e.message) },
                                None => { code { (e.pointer) } " " (e.message) },
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Whether a field at `field` shows the problem at `pointer` (its own or below it).
fn covers(field: &str, pointer: &str) -> bool {
    pointer == field
        || pointer
            .strip_prefix(field)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// What kind of control a field is.
pub enum Control<'a> {
    /// `<input type=...>` with a value.
    Input { kind: &'a str, value: &'a str },
    /// `<select>` with (value, label) options and the selected value.
    Select {
        options: &'a [(&'a str, &'a str)],
        selected: &'a str,
    },
    /// `<textarea>` with rows.
    TextArea { value: &'a str, rows: u32 },
}

/// A labelled field named `name`, standing for the body member at `pointer`: its hint, its
/// errors (`aria-invalid`, `aria-describedby`).
pub fn field(
    label: &str,
    name: &str,
    pointer: &str,
    control: Control<'_>,
    hint: Option<&str>,
    errors: &FieldErrors,
) -> Markup {
    let id = field_id(pointer);
    let messages: Vec<&str> = errors.at(pointer).collect();
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let mut described = Vec::new();
    if hint.is_some() {
        described.push(hint_id.as_str());
    }
    if !messages.is_empty() {
        described.push(error_id.as_str());
    }
    let described = (!described.is_empty()).then(|| described.join(" "));
    let invalid = (!messages.is_empty()).then_some("true");
    html! {
        div class="field" {
            label for=(id) { (label) }
            @if let Some(hint) = hint {
                p class="hint" id=(hint_id) { (hint) }
            }
            @match control {
                Control::Input { kind, value } => {
                    input type=(kind) id=(id) name=(name) value=(value)
                        aria-invalid=[invalid] aria-describedby=[described.as_deref()];
                }
                Control::Select { options, selected } => {
                    select id=(id) name=(name) aria-invalid=[invalid]
                        aria-describedby=[described.as_deref()] {
                        @for (value, text) in options {
                            option value=(value) selected[*value == selected] { (text) }
                        }
                    }
                }
                Control::TextArea { value, rows } => {
                    textarea id=(id) name=(name) rows=(rows) aria-invalid=[invalid]
                        aria-describedby=[described.as_deref()] { (value) }
                }
            }
            @if !messages.is_empty() {
                p class="error" id=(error_id) {
                    @for (i, m) in messages.iter().enumerate() {
                        @if i > 0 { br; }
                        (m)
                    }
                }
            }
        }
    }
}

/// A live count as the console shows it (`unit` after the number), then, when it comes from
/// the background snapshot, the change it is as of and when it was computed.
pub fn live_count(figures: &Option<DigestFigures>, unit: &str) -> Markup {
    html! {
        @match figures {
            None => "not counted yet (a large channel: its figures are computed in the background)",
            Some(f) => {
                (f.live) (unit)
                (as_of(f.seq, f.last_seq, f.freshness))
            }
        }
    }
}

/// " (as of change N …, computed T)" for figures taken from a background snapshot; nothing
/// for figures walked for this request.
pub fn as_of(seq: i64, last_seq: i64, freshness: Freshness) -> Markup {
    html! {
        @match freshness {
            Freshness::Live => {},
            Freshness::Current { computed_at } => span class="as-of" {
                " (as of change " (seq) ", the latest; computed " (computed_at.format("%Y-%m-%d %H:%M:%S UTC")) ")"
            },
            Freshness::Behind { computed_at } => span class="as-of" {
                " (as of change " (seq) " of " (last_seq) ", computed " (computed_at.format("%Y-%m-%d %H:%M:%S UTC"))
                "; being brought up to date)"
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_errors_sit_at_their_field() {
        let errors = FieldErrors(vec![
            FieldError::new("/url", "<b>not https</b>"),
            FieldError::new("/other/x", "elsewhere"),
        ]);
        let markup = field(
            "URL",
            "url",
            "/url",
            Control::Input {
                kind: "url",
                value: "\"><img src=x onerror=alert(1)>",
            },
            None,
            &errors,
        )
        .into_string();
        assert!(markup.contains("&lt;b&gt;not https&lt;/b&gt;"), "{markup}");
        assert!(!markup.contains("<img"), "{markup}");
        assert!(markup.contains("aria-invalid=\"true\""), "{markup}");
        assert!(!markup.contains("elsewhere"));
        assert_eq!(errors.unplaced(&["/url"]).len(), 1);
        assert_eq!(field_id("/title/en"), "f-title-en");
    }
}
