//! Builds the HTTP server and the background workers from a `Config`.

use std::io::Write;
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
use crate::config::Config;
use crate::jobs;
use crate::store::{self, Db};
use crate::tokens::{self, Role};

/// Opens the configured database and applies migrations.
pub fn open_db(storage: &crate::config::StorageArgs) -> anyhow::Result<Db> {
    let backend = storage.backend().map_err(anyhow::Error::msg)?;
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
    api::channels::describe_formats(&mut doc);
    api::openapi::describe_errors(&mut doc);
    doc
}

/// Makes sure an admin can log in: the configured bootstrap token, or at first start a new one
/// written to `<data dir>/admin.token` (mode 0600) and printed once.
pub fn bootstrap_admin(db: &Db, config: &Config) -> anyhow::Result<()> {
    let mut conn = db.write_conn()?;
    if let Some(token) = &config.serve.admin_token {
        let token_hash = tokens::hash(token);
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
    let (issued, _) = api::tokens::issue(&mut conn, Role::Admin, "admin", None, None)?;
    let dir = config.storage.data_dir();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("admin.token");
    write_secret_file(&path, &issued.token)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "Admin token (shown once, also saved to {}):\n{}",
        path.display(),
        issued.token
    );
    Ok(())
}

fn write_secret_file(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")
}

/// A running server: its address, and a handle to stop it.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub server: actix_web::dev::Server,
}

/// Binds the HTTP server. The caller awaits `server` (it stops gracefully on SIGTERM/SIGINT,
/// letting in-flight requests finish).
pub fn start(config: &Config, db: Db, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    let cursor_key = Arc::new(crate::pull::cursor_key(&mut *db.write_conn()?)?);
    let wake = Arc::new(Notify::new());
    let webhook_settings = config.deliveries.settings().map_err(anyhow::Error::msg)?;
    let mailer = crate::mail::from_config(
        config.deliveries.smtp_url.as_deref(),
        config.storage.data_dir().join("outbox"),
        config.deliveries.mail_from(),
    )
    .context("cannot set up mail")?;
    let deliverer = Arc::new(
        jobs::deliveries::Deliverer::new(
            db.clone(),
            webhook_settings.clone(),
            mailer,
            cursor_key.clone(),
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
    std::fs::create_dir_all(&spool_dir)
        .with_context(|| format!("cannot create {}", spool_dir.display()))?;
    if config.run_jobs {
        actix_web::rt::spawn(jobs::delta::run(
            db.clone(),
            clock.clone(),
            config.delta.clone(),
            wake.clone(),
            wake_deliveries.clone(),
        ));
        actix_web::rt::spawn(jobs::deliveries::run(
            deliverer.clone(),
            wake_deliveries.clone(),
        ));
        actix_web::rt::spawn(jobs::digests::run(Arc::new(jobs::digests::Digester::new(
            deliverer.clone(),
            clock.clone(),
        ))));
    }
    let state = web::Data::new(AppState {
        db,
        clock,
        body_limit: config.serve.body_limit,
        cursor_key,
        wake,
        wake_deliveries,
        webhook_allow: Arc::new(webhook_settings.allow),
        deliverer,
        rate_limit: Arc::new(api::ratelimit::RateLimiter::new(config.serve.rate_limit)),
        feed_cache: Arc::new(api::feed_cache::FeedCache::new(
            config
                .serve
                .feed_cache
                .then(|| api::feed_cache::default_dir(config.storage.data_dir())),
        )?),
        tokens: token_table,
        inflight: api::inflight::InFlight::new(config.serve.token_concurrency),
        spool_dir: Arc::new(spool_dir),
    });
    let document = openapi();
    let routes = web::Data::new(api::openapi::Routes::from_doc(&document));
    let doc = web::Data::new(serde_json::to_string(&document)?);
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
                .wrap(tracing_actix_web::TracingLogger::default())
                .into_utoipa_app()
                .configure(api::configure)
                .into_app()
                .route("/openapi.json", web::get().to(openapi_json))
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
    })
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
    let db = open_db(&config.storage)?;
    bootstrap_admin(&db, &config)?;
    let running = start(&config, db.clone(), Arc::new(SystemClock))?;
    tracing::info!(addr = %running.addr, database = db.backend().name(), "partnerfeed listening");
    running.server.await?;
    tracing::info!("partnerfeed stopped");
    Ok(())
}
