//! Operational endpoints: liveness (never touches the database), readiness (answers within a
//! second whether the database does) and metrics.

use actix_web::{get, web, HttpResponse};

use super::{ApiError, AppState};

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
/// attempts and digests by outcome (this instance's, since it started), and every
/// subscription's lag. One query per table, whatever the number of subscriptions.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus text format")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let (products, (backlog, oldest), channels, lags) = state
        .db
        .read(|conn| -> Result<_, crate::store::StoreError> {
            Ok((
                crate::store::products::count(conn)?,
                crate::store::outbox::backlog(conn)?,
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
    let outcomes = |counters: &crate::jobs::deliveries::Counters| -> Vec<(String, f64)> {
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
        outcomes(&state.deliverer.attempts),
    );
    metric(
        "partnerfeed_digests_total",
        "E-mail digests by outcome: sent (accepted by the mail server), failed, empty (nothing \
         changed, no mail).",
        "counter",
        outcomes(&state.deliverer.digests),
    );
    // Subscription ids are sub_ and hex: nothing to escape either.
    let sub = |l: &crate::store::subscriptions::Lag| {
        format!("{{subscription=\"{}\",kind=\"{}\"}}", l.id, l.kind)
    };
    metric(
        "partnerfeed_subscription_lag_changes",
        "Change sequence numbers between the subscription's cursor and its channel's head.",
        "gauge",
        lags.iter()
            .map(|l| (sub(l), (l.last_seq - l.cursor_seq).max(0) as f64))
            .collect(),
    );
    metric(
        "partnerfeed_subscription_lag_seconds",
        "Age of the subscription's oldest undelivered change (0 when it is caught up).",
        "gauge",
        lags.iter()
            .map(|l| {
                let age = match l.behind_since {
                    Some(t) if l.cursor_seq < l.last_seq => {
                        (crate::store::now() - t).num_milliseconds().max(0) as f64 / 1000.0
                    }
                    _ => 0.0,
                };
                (sub(l), age)
            })
            .collect(),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out))
}
