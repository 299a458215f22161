//! Operational endpoints: liveness, readiness (checks the database) and the OpenAPI document.

use actix_web::{get, web, HttpResponse};

use super::{ApiError, AppState};
use crate::store::ping;

/// Liveness: the process answers.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers.
#[utoipa::path(tag = "operations", responses((status = 200), (status = 503)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let backend = state.db.backend().name();
    state.db.read(ping).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready", "database": backend})))
}
