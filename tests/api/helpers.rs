//! `TestApp`: the real server on 127.0.0.1:0 over a fresh database (a temp SQLite file, or a
//! PostgreSQL database created for the test and dropped after it when `TEST_DATABASE_URL` is set).

use std::sync::Arc;

pub mod process;
mod subscriptions;

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use partnerfeed::app;
use partnerfeed::clock::{Clock, ManualClock};
use partnerfeed::config::{Config, Secret, Storage};
use partnerfeed::service::tokens;
use partnerfeed::store::Db;
use reqwest::{Client, RequestBuilder, Response};
use serde_json::Value;

pub struct TestDb {
    pub url: String,
    _dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    /// A new empty database on the backend under test.
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(base) => {
                let name = format!("pf_test_{}", partnerfeed::random::hex(16));
                let mut admin = PgConnection::establish(&base)
                    .unwrap_or_else(|e| panic!("TEST_DATABASE_URL {base} is unreachable: {e}"));
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                let url = replace_db_name(&base, &name);
                TestDb {
                    url,
                    _dir: dir,
                    pg: Some((base, name)),
                }
            }
            None => {
                let url = format!("sqlite://{}", dir.path().join("partnerfeed.db").display());
                TestDb {
                    url,
                    _dir: dir,
                    pg: None,
                }
            }
        }
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().to_path_buf()
    }

    /// A server's configuration on this database: the defaults (never the environment), on
    /// 127.0.0.1:0 with two workers.
    pub fn config(&self) -> Config {
        Config::for_tests(Storage::new(self.data_dir(), Some(&self.url)))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, name)) = &self.pg {
            if let Ok(mut admin) = PgConnection::establish(base) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

fn replace_db_name(base: &str, name: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let path_start = head[scheme_end..].find('/').map(|i| i + scheme_end);
    let mut url = match path_start {
        Some(i) => format!("{}/{}", &head[..i], name),
        None => format!("{head}/{name}"),
    };
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

pub struct TestApp {
    pub address: String,
    /// What this instance's delivery and digest jobs work with: the tests drive the jobs with
    /// it ([`TestApp::deliver_once`], [`TestApp::run_digests`]).
    pub worker: Arc<partnerfeed::jobs::worker::Worker>,
    /// Whether the background jobs run (else the tests drive them).
    pub jobs: bool,
    /// The metrics listener, when `Options::metrics_bind` asked for one.
    pub metrics_address: Option<String>,
    pub admin_token: String,
    pub db: Db,
    pub clock: Arc<ManualClock>,
    pub client: Client,
    /// Kept for its lifetime: the database is dropped with the last holder.
    _test_db: Arc<TestDb>,
    server: actix_web::dev::ServerHandle,
}

#[derive(Clone)]
pub struct Options {
    pub body_limit: usize,
    /// Run the background jobs (off: the outbox stays as the edits left it).
    pub jobs: bool,
    /// Requests per second per token.
    pub rate_limit: u32,
    /// Requests in flight per token (0: no bound).
    pub token_concurrency: usize,
    /// Connection timeouts.
    pub connections: partnerfeed::config::ConnectionLimits,
    /// `PARTNERFEED_METRICS_TOKEN`.
    pub metrics_token: Option<String>,
    /// `PARTNERFEED_METRICS_BIND`.
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// `PARTNERFEED_WEBHOOK_ALLOW` (e.g. `127.0.0.0/8` for a receiver in the test).
    pub webhook_allow: Option<String>,
    /// The webhook delivery settings.
    pub webhooks: partnerfeed::webhooks::Settings,
    /// The mail settings (no SMTP URL: mails go to the outbox in the data directory).
    pub mail: partnerfeed::config::Mail,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            body_limit: Config::default().serve.body_limit,
            jobs: true,
            rate_limit: 100_000,
            token_concurrency: 0,
            connections: Default::default(),
            metrics_token: None,
            metrics_bind: None,
            webhook_allow: None,
            webhooks: Config::default().webhooks,
            mail: Config::default().mail,
        }
    }
}

pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> TestApp {
        let clock = Arc::new(ManualClock::new(start_time()));
        Self::launch(Arc::new(TestDb::new()), tokens::generate(), clock, options)
    }

    /// A server on `test_db`, whose admin token is `admin_token` (a restarted instance of a
    /// deployment when `test_db` held another one before).
    pub fn launch(
        test_db: Arc<TestDb>,
        admin_token: String,
        clock: Arc<ManualClock>,
        options: Options,
    ) -> TestApp {
        Self::launch_prepared(test_db, admin_token, clock, options, |_| ())
    }

    /// A server on a new database that `prepare` fills before the server starts (as a
    /// deployment restarted on a loaded database finds it: tokens included).
    pub fn spawn_prepared(options: Options, prepare: impl FnOnce(&Db)) -> TestApp {
        let clock = Arc::new(ManualClock::new(start_time()));
        let test_db = Arc::new(TestDb::new());
        Self::launch_prepared(test_db, tokens::generate(), clock, options, prepare)
    }

    fn launch_prepared(
        test_db: Arc<TestDb>,
        admin_token: String,
        clock: Arc<ManualClock>,
        options: Options,
        prepare: impl FnOnce(&Db),
    ) -> TestApp {
        let mut config = test_db.config();
        config.serve.admin_token = Some(Secret::new(admin_token.clone()));
        config.serve.body_limit = options.body_limit;
        config.serve.rate_limit = options.rate_limit;
        config.serve.metrics_token = options.metrics_token.clone().map(Secret::new);
        config.serve.metrics_bind = options.metrics_bind;
        config.serve.token_concurrency = options.token_concurrency;
        config.run_jobs = options.jobs;
        config.connections = options.connections;
        config.webhooks = options.webhooks;
        config.mail = options.mail;
        if let Some(allow) = &options.webhook_allow {
            config.webhooks.allow =
                partnerfeed::webhooks::AllowList::parse(allow).expect("webhook allow list");
        }
        let db = app::open_db(&config.storage).expect("open database");
        app::bootstrap_admin(&db, &config).expect("bootstrap admin");
        prepare(&db);
        let running =
            app::start(&config, db.clone(), clock.clone() as Arc<dyn Clock>).expect("start server");
        let server = running.server.handle();
        actix_web::rt::spawn(running.server);
        let metrics_address = running.metrics.map(|(addr, server)| {
            actix_web::rt::spawn(server);
            format!("http://{addr}")
        });
        TestApp {
            address: format!("http://{}", running.addr),
            worker: running.worker,
            jobs: options.jobs,
            metrics_address,
            admin_token,
            db,
            clock,
            client: Client::builder().no_gzip().build().expect("client"),
            _test_db: test_db,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn get(&self, path: &str, token: &str) -> RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(token)
    }

    /// GET `path` as `token`; the answer must be 200, and its body is JSON.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        let r = self.get(path, token).send().await.expect("request");
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("a JSON body")
    }

    /// GET `path` as `token`; the answer must be 200, and its body is text.
    pub async fn get_text(&self, path: &str, token: &str) -> String {
        let r = self.get(path, token).send().await.expect("request");
        assert_eq!(r.status(), 200, "GET {path}");
        r.text().await.expect("a text body")
    }

    pub fn put_json(&self, path: &str, token: &str, body: &Value) -> RequestBuilder {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
    }

    pub fn post_json(&self, path: &str, token: &str, body: &Value) -> RequestBuilder {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
    }

    pub async fn put_product(&self, body: &Value) -> Response {
        let sku = body["sku"].as_str().expect("sku");
        self.put_json(&format!("/v1/products/{sku}"), &self.admin_token, body)
            .send()
            .await
            .expect("request")
    }

    /// `DELETE path` with the admin token.
    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .expect("request")
    }

    /// `POST /v1/products/batch` with the admin token.
    pub async fn batch(&self, content_type: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client
            .post(self.url("/v1/products/batch"))
            .bearer_auth(&self.admin_token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// A new token with `role`, made by the admin through the API.
    pub async fn token(&self, role: &str, name: &str) -> String {
        let response = self
            .post_json(
                "/v1/tokens",
                &self.admin_token,
                &serde_json::json!({"role": role, "name": name}),
            )
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_string()
    }

    /// Purges expired tombstones and runs the delta generator until it has nothing left to
    /// do, at the test clock's time.
    pub async fn drain(&self) {
        let db = self.db.clone();
        let now = self.clock.now();
        actix_web::rt::task::spawn_blocking(move || {
            partnerfeed::jobs::delta::purge_expired(&db, &Default::default(), now)?;
            partnerfeed::jobs::delta::drain(&db, now)
        })
        .await
        .expect("join")
        .expect("delta generation");
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }

    /// Stops the server at once, in-flight requests included (a dying instance).
    pub async fn stop_now(&self) {
        self.server.stop(false).await;
    }
}

/// The product of PRODUCT.md's example, with another SKU.
pub fn drill(sku: &str) -> Value {
    serde_json::json!({
        "sku": sku, "gtin": "3700123456780", "status": "active", "brand": "Acme",
        "category": "tools/drills", "title": {"fr": "Perceuse 18 V", "en": "18 V drill"},
        "description": {"fr": "Perceuse sans fil", "en": "Cordless drill"},
        "attributes": {"voltage": 18, "cordless": true},
        "media": [{"url": "https://cdn.example.com/drl-1001.jpg", "role": "main"}],
        "prices": [{"list": "retail", "currency": "EUR", "amount": "129.90", "min_qty": 1},
                   {"list": "reseller", "currency": "EUR", "amount": "84.00", "min_qty": 1},
                   {"list": "reseller", "currency": "EUR", "amount": "79.00", "min_qty": 10,
                    "valid_from": "2027-01-01T00:00:00Z"}],
        "dimensions": {"length": "32.5", "width": "9", "height": "24", "unit": "cm"},
        "weight": {"net": "1.45", "gross": "1.9", "unit": "kg"},
        "packaging": [{"level": "each", "quantity": 1, "type": "box"},
                      {"level": "case", "quantity": 6, "gtin": "13700123456787",
                       "dimensions": {"length": "40", "width": "30", "height": "26", "unit": "cm"},
                       "gross_weight": {"value": "12.2", "unit": "kg"}},
                      {"level": "pallet", "quantity": 240}]
    })
}

/// Validates an XML file against an XSD (relative to the crate) with libxml2, in-process. A
/// published schema (under `../shared/schemas`, which CI provides beside the repository) that
/// is absent is reported loudly on the terminal, naming the file left unchecked.
pub fn validate_xml(file: &std::path::Path, xsd: &str) {
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(xsd);
    if !schema.exists() && xsd.starts_with("../") {
        use std::io::Write as _;
        // Past the test harness's capture, so that it is seen.
        let _ = writeln!(
            std::io::stderr(),
            "WARNING: NOT CHECKED: {} against the published schema {xsd} (not found)",
            file.display()
        );
        return;
    }
    let doc = std::fs::read(file).expect("read the XML file");
    if let Err(errors) = xsd_check::validate(&schema, &doc) {
        panic!("{} is invalid:\n{}", file.display(), errors.join("\n"));
    }
}

impl TestApp {
    /// Another server on `first`'s database, as a second instance of a deployment: same admin
    /// token (tokens live in the database), same test clock, its own pools, workers and (when
    /// `options.jobs`) delta generator. It does not own the database: stop it before `first`.
    pub async fn spawn_sharing(first: &TestApp, options: Options) -> TestApp {
        let test_db = Arc::new(TestDb {
            url: first._test_db.url.clone(),
            _dir: tempfile::tempdir().expect("temp dir"),
            pg: None,
        });
        // Instances of one deployment share the key that encrypts the stored secrets.
        let key = partnerfeed::service::secrets::KEY_FILE;
        std::fs::copy(first.data_dir().join(key), test_db.data_dir().join(key))
            .expect("copy the secret key");
        Self::launch(
            test_db,
            first.admin_token.clone(),
            first.clock.clone(),
            options,
        )
    }

    /// A database handle of its own (separate pools) on this app's database, as another
    /// instance would open it.
    pub fn open_another_db(&self) -> Db {
        let backend =
            partnerfeed::store::Backend::from_url(&self._test_db.url).expect("database url");
        Db::connect(backend).expect("connect")
    }

    /// The data directory of this app (where `admin.token` and the mail outbox go).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self._test_db.data_dir()
    }

    /// Whether the suite runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self._test_db.url.starts_with("postgres")
    }
}

impl TestApp {
    /// Drains, then waits (bounded) until no outbox event and no channel re-evaluation is left,
    /// so that work another generator (the background one, another instance's) had claimed is
    /// committed too: from then on the channel state is final until the next edit.
    pub async fn settle(&self) {
        use partnerfeed::store::{channels, outbox};
        for _ in 0..600 {
            self.drain().await;
            let db = self.db.clone();
            let idle = actix_web::rt::task::spawn_blocking(move || {
                let mut conn = db.read_conn().expect("connection");
                outbox::pending(&mut conn, 1).expect("outbox").is_empty()
                    && channels::list(&mut conn, None)
                        .expect("channels")
                        .iter()
                        .all(|c| {
                            c.reeval_after.is_none()
                                && c.evaluated_hash.as_deref() == Some(c.definition_hash.as_str())
                        })
            })
            .await
            .expect("join");
            if idle {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the delta generators never settled");
    }
}

/// The cursor key of a deployment whose data directory is `data_dir`, read from the database.
pub fn cursor_key(db: &Db, data_dir: &std::path::Path) -> Vec<u8> {
    let key = partnerfeed::service::secrets::load_key(None, data_dir).expect("secret key");
    let mut conn = db.write_conn().expect("connection");
    partnerfeed::service::secrets::cursor_key(&mut conn, &key).expect("cursor key")
}

/// Waits until the server at `address` accepts `token`: a token made on another instance is
/// known everywhere within a second (the token table's refresh).
pub async fn token_known_at(address: &str, token: &str) {
    let client = Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let r = client
            .get(format!("{address}/v1/channels"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        if r.status() != 401 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{address} still refuses the token after a second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// An instance in a thread of its own, as a process: `kill` stops it at once, dropping its
/// runtime with every task in it (an attempt in flight included).
pub struct Process {
    pub hub: TestApp,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Process {
    pub fn start(db: Arc<TestDb>, admin: String, options: Options) -> Process {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let clock = Arc::new(ManualClock::new(start_time()));
                tx.send(TestApp::launch(db, admin, clock, options))
                    .expect("send");
                let _ = stopped.await;
            });
        });
        Process {
            hub: rx.recv().expect("instance"),
            stop,
            thread,
        }
    }

    pub async fn kill(self) {
        self.hub.stop_now().await;
        self.stop.send(()).expect("instance");
        self.thread.join().expect("instance");
    }
}
