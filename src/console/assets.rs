//! The console's one stylesheet, embedded in the binary and served under a name that carries a
//! hash of its content, so browsers may keep it for a year (`immutable`).

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse, Scope};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("assets/console.css");

/// `console.<hash>.css`.
static CSS_NAME: LazyLock<String> = LazyLock::new(|| {
    let digest = hex::encode(Sha256::digest(CSS.as_bytes()));
    format!("console.{}.css", &digest[..12])
});

/// The stylesheet's URL (what the layout links to).
pub fn css_href() -> String {
    format!("/assets/{}", *CSS_NAME)
}

pub fn routes(scope: Scope) -> Scope {
    scope.route("/assets/{name}", web::get().to(asset))
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    if *name != *CSS_NAME {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such asset");
    }
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(CSS)
}
