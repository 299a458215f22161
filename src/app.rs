//! Builds the HTTP server and the background workers from a `Config`.

use std::sync::Arc;

use actix_web::dev::Service;
use actix_web::{middleware, web, App, HttpResponse, HttpServer};
use anyhow::Context;
use tokio::sync::Notify;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa_actix_web::AppExt;

use crate::api::{self, ApiError, AppState};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Secret, Storage};
use crate::jobs;
use crate::service::secrets::{self, SecretKey};
use crate::service::tokens::{self, Role};
use crate::store::{self, Db};

/// Opens the configured database and applies migrations.
pub fn open_db(storage: &Storage) -> anyhow::Result<Db> {
    let backend = storage.backend().map_err(anyhow::Error::msg)?;
    // An existing data directory is tightened to 0700 by every command; `serve` creates it.
    if storage.data_dir().is_dir() {
        private_data_dir(storage)?;
    }
    let db = Db::connect(backend).context("cannot open the database")?;
    db.migrate().context("cannot apply migrations")?;
    Ok(db)
}

/// The OpenAPI document, collected from the same `service` calls that register the routes.
pub fn openapi() -> OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .configure(api::configure)
        .split_for_parts();
    doc.info.title = "partnerfeed".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description =
        Some("Product catalog syndication: hashed per-channel deltas, feeds and webhooks.".into());
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    api::feeds::describe_formats(&mut doc);
    api::openapi::describe_errors(&mut doc);
    doc
}

/// The document `/openapi.json` serves: [`openapi`] with the schema and an example of every
/// request and response body (`api::openapi::describe_bodies`).
pub fn openapi_document() -> serde_json::Value {
    let mut doc = serde_json::to_value(openapi()).expect("an OpenAPI document serialises");
    api::openapi::describe_bodies(&mut doc);
    api::confirm::describe_pages(&mut doc);
    doc
}

/// Makes sure an admin can log in: the configured bootstrap token, or at first start a new one
/// written to `<data dir>/admin.token` (mode 0600). The log says where it is, never what it is.
pub fn bootstrap_admin(db: &Db, config: &Config) -> anyhow::Result<()> {
    let mut conn = db.write_conn()?;
    if let Some(token) = &config.serve.admin_token {
        let token_hash = tokens::hash(token.expose());
        if store::tokens::find_by_hash(&mut conn, &token_hash)?.is_none() {
            store::tokens::insert(
                &mut conn,
                &store::tokens::NewToken {
                    token_hash: &token_hash,
                    name: "admin",
                    role: Role::Admin.as_str(),
                    reseller_code: None,
                    created_at: store::now(),
                    public_id: &tokens::public_id(),
                    expires_at: None,
                },
            )?;
        }
        return Ok(());
    }
    if store::tokens::count_role(&mut conn, Role::Admin.as_str())? > 0 {
        return Ok(());
    }
    let issued = crate::service::tokens::issue(&mut conn, Role::Admin, "admin", None, None)?;
    let dir = private_data_dir(&config.storage)?;
    let path = dir.join("admin.token");
    crate::files::write_private(&path, format!("{}\n", issued.token).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!(
        path = %path.display(),
        "bootstrap admin token written (mode 0600); read it from that file"
    );
    Ok(())
}

/// The data directory, created with mode 0700 or tightened to it.
pub fn private_data_dir(storage: &Storage) -> anyhow::Result<&std::path::Path> {
    let dir = storage.data_dir();
    crate::files::private_dir(dir).with_context(|| format!("cannot prepare {}", dir.display()))?;
    Ok(dir)
}

/// The key that encrypts the secrets stored in the database: `configured`
/// (`PARTNERFEED_SECRET_KEY`), or `<data dir>/secret.key` (made at first start).
pub fn secret_key(storage: &Storage, configured: Option<&Secret>) -> anyhow::Result<SecretKey> {
    let dir = private_data_dir(storage)?;
    Ok(secrets::load_key(configured.map(Secret::expose), dir)?)
}

/// Whether [`secret_key`] would make `<data dir>/secret.key` now: no key configured, no file.
pub fn key_file_missing(storage: &Storage, configured: Option<&Secret>) -> bool {
    configured.is_none_or(|k| k.expose().trim().is_empty())
        && !storage.data_dir().join(secrets::KEY_FILE).exists()
}

/// Removes `<data dir>/secret.key` if it holds `key`: a key file this process made for a
/// database whose values are sealed with another key is not the key, and must not be taken
/// for it (or backed up as it).
pub fn forget_key_file(storage: &Storage, key: &SecretKey) {
    let path = storage.data_dir().join(secrets::KEY_FILE);
    let ours = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| SecretKey::parse(&text, "").ok())
        .is_some_and(|k| k.id() == key.id());
    if ours {
        let _ = std::fs::remove_file(&path);
    }
}

/// Loads the secret key (as [`secret_key`]) and hands it to `open`, which checks it against the
/// database. When `open` fails and `<data dir>/secret.key` was made by this call, the file is
/// removed ([`forget_key_file`]): every command that opens the stored secrets (serve, export,
/// secret-key rotate) leaves no stray key behind.
pub fn open_with_secret_key<T>(
    storage: &Storage,
    configured: Option<&Secret>,
    open: impl FnOnce(&SecretKey) -> anyhow::Result<T>,
) -> anyhow::Result<(SecretKey, T)> {
    let made_now = key_file_missing(storage, configured);
    let key = secret_key(storage, configured)?;
    match open(&key) {
        Ok(opened) => Ok((key, opened)),
        Err(e) => {
            if made_now {
                forget_key_file(storage, &key);
            }
            Err(e)
        }
    }
}

/// Opens the secrets stored in the database with `key`: seals the ones an older version stored
/// in plaintext, checks that every sealed one opens (a wrong key stops the start here, before
/// anything is changed), and answers the cursor key.
pub fn open_stored_secrets(db: &Db, key: &SecretKey) -> anyhow::Result<Vec<u8>> {
    let mut conn = db.write_conn()?;
    let (cursor_key, sealed) =
        store::transaction(&mut conn, |c| -> Result<_, secrets::SecretError> {
            let cursor_key = secrets::cursor_key(c, key)?;
            Ok((cursor_key, secrets::seal_stored_secrets(c, key)?))
        })
        .context("cannot open the secrets stored in the database")?;
    if sealed > 0 {
        tracing::info!(
            sealed,
            "webhook secrets stored in plaintext are now encrypted"
        );
    }
    Ok(cursor_key)
}

/// A running server: its address, and a handle to stop it.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub server: actix_web::dev::Server,
    /// The metrics listener (`PARTNERFEED_METRICS_BIND`): its address and server, which the
    /// caller runs and stops beside `server`.
    pub metrics: Option<(std::net::SocketAddr, actix_web::dev::Server)>,
    /// What the delivery and digest jobs work with; tests drive the jobs with it
    /// (`jobs::deliveries::run_once`, `jobs::digests::Digester::run_once`).
    pub worker: Arc<jobs::worker::Worker>,
}

/// Binds the HTTP server. The caller awaits `server` (it stops gracefully on SIGTERM/SIGINT,
/// letting in-flight requests finish).
pub fn start(config: &Config, db: Db, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    let (secret_key, cursor_key) =
        open_with_secret_key(&config.storage, config.secret_key.as_ref(), |key| {
            open_stored_secrets(&db, key)
        })?;
    let (secret_key, cursor_key) = (Arc::new(secret_key), Arc::new(cursor_key));
    let wake = Arc::new(Notify::new());
    let webhook_settings = config.webhooks.clone();
    let mailer = crate::mail::from_config(
        config.mail.smtp_url.as_ref().map(Secret::expose),
        config.storage.data_dir().join("outbox"),
        &config.mail.from,
    )
    .context("cannot set up mail")?;
    let worker = Arc::new(
        jobs::worker::Worker::new(
            db.clone(),
            webhook_settings.clone(),
            mailer,
            cursor_key.clone(),
            secret_key.clone(),
        )
        .map_err(anyhow::Error::msg)?,
    );
    let wake_deliveries = Arc::new(Notify::new());
    // Authentication reads this table, never the pools. Filled once before the first request
    // (a failure here only means lookups ask the database until the refresher succeeds).
    let token_table = Arc::new(api::token_table::TokenTable::new());
    if let Err(e) = db
        .connect_one()
        .and_then(|mut conn| token_table.refresh(&mut conn))
    {
        tracing::warn!(error = %e, "cannot read the token table yet");
    }
    actix_web::rt::spawn(api::token_table::run(token_table.clone(), db.clone()));
    let spool_dir = config.storage.data_dir().join("spool");
    crate::files::private_dir(&spool_dir)
        .with_context(|| format!("cannot create {}", spool_dir.display()))?;
    // Outside `run_jobs`: an instance that only answers requests still commits edits.
    actix_web::rt::spawn(jobs::checkpoint::run(db.clone()));
    if config.run_jobs {
        actix_web::rt::spawn(jobs::delta::run(
            db.clone(),
            clock.clone(),
            jobs::delta::Settings {
                tombstone_retention: chrono::Duration::days(
                    config.serve.tombstone_retention_days.into(),
                ),
                ..Default::default()
            },
            wake.clone(),
            wake_deliveries.clone(),
        ));
        actix_web::rt::spawn(jobs::deliveries::run(
            worker.clone(),
            wake_deliveries.clone(),
        ));
        actix_web::rt::spawn(jobs::digests::run(Arc::new(jobs::digests::Digester::new(
            worker.clone(),
            clock.clone(),
        ))));
        actix_web::rt::spawn(jobs::snapshots::run(
            db.clone(),
            clock.clone(),
            Default::default(),
        ));
    }
    let job_worker = worker.clone();
    let state = web::Data::new(AppState {
        db,
        clock,
        body_limit: config.serve.body_limit,
        cursor_key,
        secret_key,
        wake,
        wake_deliveries,
        webhook_allow: Arc::new(webhook_settings.allow),
        worker,
        digests: Arc::new(config.digest_settings()),
        rate_limit: Arc::new(api::ratelimit::RateLimiter::new(config.serve.rate_limit)),
        feed_cache: Arc::new(api::feed_cache::FeedCache::new(
            config
                .serve
                .feed_cache
                .then(|| api::feed_cache::default_dir(config.storage.data_dir())),
        )?),
        metrics: Arc::new(api::ops::MetricsAccess {
            token: config.serve.metrics_token.clone(),
            separate: config.serve.metrics_bind.is_some(),
        }),
        tokens: token_table,
        inflight: api::inflight::InFlight::new(config.serve.token_concurrency),
        spool_dir: Arc::new(spool_dir),
    });
    let metrics = match config.serve.metrics_bind {
        Some(bind) => Some(metrics_listener(state.clone(), bind)?),
        None => None,
    };
    let routes = web::Data::new(api::openapi::Routes::from_doc(&openapi()));
    let doc = web::Data::new(serde_json::to_string(&openapi_document())?);
    let limits = config.connections;
    let mut server =
        HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(doc.clone())
                .app_data(routes.clone())
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::bad_request(format!("invalid query string: {e}")).into()
                }))
                .app_data(web::PathConfig::default().error_handler(|e, _| {
                    ApiError::bad_request(format!("invalid path: {e}")).into()
                }))
                .wrap_fn(|req, service| {
                    let response = service.call(req);
                    async move { Ok(api::inflight::hold_until_sent(response.await?)) }
                })
                .wrap_fn(move |mut req, service| {
                    api::body::limit_read_time(&mut req, limits.body_read_timeout);
                    service.call(req)
                })
                .wrap(middleware::Compress::default())
                .wrap(tracing_actix_web::TracingLogger::<RequestSpan>::new())
                .into_utoipa_app()
                .configure(api::configure)
                .into_app()
                .route("/openapi.json", web::get().to(openapi_json))
                .service(crate::console::scope())
                .default_service(web::to(no_route))
        })
        .tcp_nodelay(true)
        .shutdown_timeout(30)
        .keep_alive(limits.keep_alive)
        .client_request_timeout(limits.client_request_timeout)
        .client_disconnect_timeout(limits.client_disconnect_timeout);
    if let Some(workers) = config.serve.workers {
        server = server.workers(workers);
    }
    let server = server
        .bind(config.serve.bind)
        .with_context(|| format!("cannot listen on {}", config.serve.bind))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .context("no listening address")?;
    Ok(Running {
        addr,
        server: server.run(),
        metrics,
        worker: job_worker,
    })
}

/// `/metrics` alone on `bind` (`PARTNERFEED_METRICS_BIND`), one worker, stopped with the main
/// server (see [`serve`]).
fn metrics_listener(
    state: web::Data<AppState>,
    bind: std::net::SocketAddr,
) -> anyhow::Result<(std::net::SocketAddr, actix_web::dev::Server)> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(api::ops::metrics_listener))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::not_found("only /metrics is served here"))
            }))
    })
    .workers(1)
    .disable_signals()
    .bind(bind)
    .with_context(|| format!("cannot listen on {bind} (PARTNERFEED_METRICS_BIND)"))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .context("no metrics listening address")?;
    Ok((addr, server.run()))
}

/// A request no route took: 405 with `Allow` when the path exists under other methods, 404
/// otherwise; both problem+json.
async fn no_route(
    req: actix_web::HttpRequest,
    routes: web::Data<api::openapi::Routes>,
) -> Result<HttpResponse, ApiError> {
    Err(match routes.allowed(req.path()) {
        Some(methods) => ApiError::MethodNotAllowed {
            allow: methods
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        },
        None => ApiError::not_found("no such endpoint"),
    })
}

async fn openapi_json(doc: web::Data<String>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.get_ref().clone())
}

/// `partnerfeed serve`: open the database, make sure an admin exists, serve until stopped.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::debug!(?config, "configuration (secrets redacted)");
    let db = open_db(&config.storage)?;
    bootstrap_admin(&db, &config)?;
    let running = start(&config, db.clone(), Arc::new(SystemClock))?;
    let metrics = running.metrics.map(|(addr, server)| {
        tracing::info!(%addr, "metrics listening");
        let handle = server.handle();
        actix_web::rt::spawn(server);
        handle
    });
    tracing::info!(addr = %running.addr, database = db.backend().name(), "partnerfeed listening");
    running.server.await?;
    if let Some(metrics) = metrics {
        metrics.stop(true).await;
    }
    tracing::info!("partnerfeed stopped");
    Ok(())
}

/// The root span of each request, as `tracing_actix_web`'s default builds it (method, route,
/// status, request id), but only when its level is enabled: the default looks the route's
/// pattern up in the resource map for every request even when nothing records the span, a
/// regex walk over the routes that cost about a fifth of a 304's time.
pub struct RequestSpan;

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        if tracing::enabled!(tracing::Level::INFO) {
            tracing_actix_web::root_span!(level = tracing::Level::INFO, request)
        } else {
            tracing::Span::none()
        }
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
