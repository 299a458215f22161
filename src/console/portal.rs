//! The partner portal (reseller): its channels and its subscriptions. Every rule is the API's:
//! the pages call the functions the API handlers call.

use actix_web::{web, Scope};
use maud::html;

use super::home::Notice;
use super::layout::{self, Frame};
use super::session::Session;
use super::Page;
use crate::api::{self, AppState};

pub fn routes(scope: Scope) -> Scope {
    scope.route("/portal/channels", web::get().to(channels))
}

async fn channels(state: web::Data<AppState>, session: Session, query: web::Query<Notice>) -> Page {
    let rows = api::channels::visible_channels(&state, &session.caller).await?;
    let frame = Frame::new("My channels", Some(&session))
        .current("/portal/channels")
        .notice_key(query.notice.as_deref());
    Ok(layout::html(layout::page(
        &frame,
        html! {
            h1 { "My channels" }
            @if rows.is_empty() {
                p { "No channel is granted to you yet." }
            } @else {
                table {
                    caption class="visually-hidden" { "Channels granted to you" }
                    thead { tr { th scope="col" { "Channel" } th scope="col" { "Last change" } } }
                    tbody {
                        @for row in &rows {
                            tr {
                                td { code { (row.code) } }
                                td { (row.updated_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                            }
                        }
                    }
                }
            }
        },
    )))
}
