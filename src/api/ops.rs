//! Operational endpoints: liveness (never touches the database), readiness (answers within a
//! second whether the database does) and metrics (admin or metrics token).

use actix_web::{get, http::header, web, FromRequest, HttpRequest, HttpResponse};

use super::{ApiError, AppState, Caller};
use crate::service::tokens::{self, Role};

/// Who may read `/metrics`, and where.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess {
    /// `PARTNERFEED_METRICS_TOKEN`: a bearer token that may read metrics (and nothing else);
    /// `Debug` shows it redacted.
    pub token: Option<crate::config::Secret>,
    /// `PARTNERFEED_METRICS_BIND` is set: metrics are served there, not on the main listener.
    pub separate: bool,
}

impl MetricsAccess {
    /// Whether `req` carries the metrics token (compared in constant time, through hashes).
    fn presents_token(&self, req: &HttpRequest) -> bool {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(super::auth::bearer)
            .map(tokens::hash);
        match (&self.token, presented) {
            (Some(token), Some(presented)) => {
                tokens::hash_matches(&presented, &tokens::hash(token.expose()))
            }
            _ => false,
        }
    }
}

/// Liveness: the process answers. It never touches the database.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Longest `/readyz` waits for the database.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(900);

/// Readiness: the database answered within the last second (the token table's refresh, on a
/// connection of its own, is such an answer), or answers a ping now; 503 otherwise. Answers
/// within a second whatever the pools are doing.
#[utoipa::path(tag = "operations", responses((status = 200), (status = 503)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let backend = state.db.backend().name();
    if !state.tokens.is_fresh() {
        state.db.ping_within(READY_WITHIN).await?;
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready", "database": backend})))
}

/// Prometheus text exposition: catalog size, outbox backlog, every channel's position, webhook
/// attempts and digests by outcome (this instance's, since it started), and subscriptions
/// counted and their largest lag, by kind and state (never one series per subscription). Needs
/// an admin token or `PARTNERFEED_METRICS_TOKEN`; absent (404) when metrics have their own
/// listener (`PARTNERFEED_METRICS_BIND`).
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format"),
        (status = 401),
        (status = 403)
    ),
    security(("bearer" = []))
)]
#[get("/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if state.metrics.separate {
        return Err(ApiError::not_found("no such endpoint"));
    }
    if !state.metrics.presents_token(&req) {
        Caller::extract(&req).await?.require(Role::Admin)?;
    }
    render(&state).await
}

/// `/metrics` on its own listener (`PARTNERFEED_METRICS_BIND`): the address is the access
/// control, plus the metrics token when one is configured.
pub async fn metrics_listener(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if state.metrics.token.is_some() && !state.metrics.presents_token(&req) {
        return Err(ApiError::Unauthorized);
    }
    render(&state).await
}

/// The metrics text.
async fn render(state: &AppState) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let (products, (backlog, oldest), channels, lags) = state
        .db
        .read(|conn| -> Result<_, crate::store::StoreError> {
            Ok((
                crate::store::products::count(conn)?,
                crate::store::outbox::backlog(conn, None)?,
                crate::store::channels::list(conn, None)?,
                crate::store::subscriptions::lags(conn)?,
            ))
        })
        .await?;
    let lag = oldest.map_or(0.0, |t| {
        (now.naive_utc() - t).num_milliseconds().max(0) as f64 / 1000.0
    });
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, kind: &str, samples: Vec<(String, f64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    metric(
        "partnerfeed_products",
        "Products in the catalog.",
        "gauge",
        vec![(String::new(), products as f64)],
    );
    metric(
        "partnerfeed_outbox_backlog",
        "Catalog changes not yet applied to the channels.",
        "gauge",
        vec![(String::new(), backlog as f64)],
    );
    metric(
        "partnerfeed_outbox_lag_seconds",
        "Age of the oldest catalog change not yet applied.",
        "gauge",
        vec![(String::new(), lag)],
    );
    // Channel codes are [A-Za-z0-9._-]: nothing to escape in a label value.
    let label = |code: &str| format!("{{channel=\"{code}\"}}");
    metric(
        "partnerfeed_channel_last_seq",
        "The channel's last change sequence number.",
        "counter",
        channels
            .iter()
            .map(|c| (label(&c.code), c.last_seq as f64))
            .collect(),
    );
    metric(
        "partnerfeed_channel_reevaluating",
        "1 while the channel's catalog re-evaluation after a definition change runs.",
        "gauge",
        channels
            .iter()
            .map(|c| {
                (
                    label(&c.code),
                    f64::from(u8::from(c.reeval_after.is_some())),
                )
            })
            .collect(),
    );
    let outcomes = |counters: &crate::jobs::worker::Counters| -> Vec<(String, f64)> {
        counters
            .values()
            .into_iter()
            .map(|(name, n)| (format!("{{outcome=\"{name}\"}}"), n as f64))
            .collect()
    };
    metric(
        "partnerfeed_webhook_attempts_total",
        "Webhook delivery attempts by outcome: delivered (2xx), failed (another answer), gone \
         (410), timeout, connection (refused, reset, closed), refused (SSRF guard).",
        "counter",
        outcomes(&state.worker.attempts),
    );
    metric(
        "partnerfeed_digests_total",
        "E-mail digests by outcome: sent (accepted by the mail server), failed, empty (nothing \
         changed, no mail).",
        "counter",
        outcomes(&state.worker.digests),
    );
    // Aggregates over a fixed label set (kind x state): the series do not grow with the
    // number of subscriptions, and no subscription id is published.
    let groups = lag_groups(&lags, crate::store::now());
    let per_group = |value: fn(&LagGroup) -> f64| -> Vec<(String, f64)> {
        groups
            .iter()
            .map(|g| {
                (
                    format!("{{kind=\"{}\",state=\"{}\"}}", g.kind, g.state),
                    value(g),
                )
            })
            .collect()
    };
    metric(
        "partnerfeed_subscriptions",
        "Subscriptions by kind (webhook, email) and state (enabled, disabled).",
        "gauge",
        per_group(|g| g.count as f64),
    );
    metric(
        "partnerfeed_subscriptions_behind",
        "Subscriptions whose cursor is behind their channel's head.",
        "gauge",
        per_group(|g| g.behind as f64),
    );
    metric(
        "partnerfeed_subscription_lag_changes_max",
        "The largest number of change sequence numbers between a subscription's cursor and its \
         channel's head.",
        "gauge",
        per_group(|g| g.max_changes as f64),
    );
    metric(
        "partnerfeed_subscription_lag_seconds_max",
        "The age of the oldest undelivered change of any subscription (0 when all are caught up).",
        "gauge",
        per_group(|g| g.max_seconds),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out))
}

/// Subscriptions of one kind and state, summed up for the metrics.
#[derive(Debug, Clone, PartialEq)]
struct LagGroup {
    kind: &'static str,
    state: &'static str,
    count: u64,
    behind: u64,
    max_changes: i64,
    max_seconds: f64,
}

/// Every (kind, state) group, present even when empty, so the label set never changes.
fn lag_groups(
    lags: &[crate::store::subscriptions::Lag],
    now: chrono::NaiveDateTime,
) -> Vec<LagGroup> {
    use crate::store::subscriptions::{EMAIL, WEBHOOK};
    let mut groups: Vec<LagGroup> = [WEBHOOK, EMAIL]
        .into_iter()
        .flat_map(|kind| {
            ["enabled", "disabled"].map(|state| LagGroup {
                kind,
                state,
                count: 0,
                behind: 0,
                max_changes: 0,
                max_seconds: 0.0,
            })
        })
        .collect();
    for l in lags {
        let state = if l.enabled { "enabled" } else { "disabled" };
        let Some(g) = groups
            .iter_mut()
            .find(|g| g.kind == l.kind && g.state == state)
        else {
            continue;
        };
        g.count += 1;
        let changes = (l.last_seq - l.cursor_seq).max(0);
        if changes > 0 {
            g.behind += 1;
            g.max_changes = g.max_changes.max(changes);
            if let Some(t) = l.behind_since {
                let age = (now - t).num_milliseconds().max(0) as f64 / 1000.0;
                g.max_seconds = g.max_seconds.max(age);
            }
        }
    }
    groups
}
