//! Databases and servers under test: a fresh SQLite or PostgreSQL database per run, the real
//! server in this process or as a child process, and what is read of its memory.

#[allow(unused_imports)]
use super::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }
}

/// A fresh database, removed on drop.
pub(crate) struct BenchDb {
    pub(crate) url: String,
    pub(crate) dir: PathBuf,
    pub(crate) pg: Option<(String, String)>,
}

pub(crate) static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl BenchDb {
    pub(crate) fn create(kind: Kind, ctx: &Ctx) -> anyhow::Result<BenchDb> {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{}_{}", std::process::id(), n);
        let dir = ctx.work_dir.join(format!("pf-bench-{tag}"));
        std::fs::create_dir_all(&dir)?;
        match kind {
            Kind::Sqlite => Ok(BenchDb {
                url: format!("sqlite://{}", dir.join("partnerfeed.db").display()),
                dir,
                pg: None,
            }),
            Kind::Postgres => {
                let name = format!("pf_bench_{tag}");
                let mut admin = PgConnection::establish(&ctx.pg_url)
                    .with_context(|| format!("cannot reach {}", ctx.pg_url))?;
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin)?;
                Ok(BenchDb {
                    url: replace_db_name(&ctx.pg_url, &name),
                    dir,
                    pg: Some((ctx.pg_url.clone(), name)),
                })
            }
        }
    }

    pub(crate) fn storage(&self) -> Storage {
        Storage::new(self.dir.clone(), Some(&self.url))
    }

    pub(crate) fn open(&self) -> anyhow::Result<Db> {
        app::open_db(&self.storage())
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Some((base, name)) = &self.pg {
            if let Ok(mut admin) = PgConnection::establish(base) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn replace_db_name(base: &str, name: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let mut url = match head[scheme_end..].find('/') {
        Some(i) => format!("{}/{}", &head[..i + scheme_end], name),
        None => format!("{head}/{name}"),
    };
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// The real server, in this process, on its own actix system thread.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) handle: actix_web::dev::ServerHandle,
    pub(crate) thread: Option<std::thread::JoinHandle<()>>,
}

pub(crate) fn config_for(bdb: &BenchDb, token: &str, jobs: bool) -> Config {
    let mut config = Config::for_tests(bdb.storage());
    config.serve.admin_token = Some(Secret::new(token));
    config.serve.rate_limit = 0;
    config.serve.token_concurrency = 0;
    config.run_jobs = jobs;
    config
}

impl Server {
    pub(crate) fn start(bdb: &BenchDb, db: &Db, token: &str, jobs: bool) -> anyhow::Result<Server> {
        Server::start_with(config_for(bdb, token, jobs), db)
    }

    /// The server of `config` on `db`, after making its bootstrap admin.
    pub(crate) fn start_with(config: Config, db: &Db) -> anyhow::Result<Server> {
        app::bootstrap_admin(db, &config)?;
        let db = db.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                match app::start(&config, db, Arc::new(SystemClock) as Arc<dyn Clock>) {
                    Ok(running) => {
                        let _ = tx.send(Ok((running.addr, running.server.handle())));
                        let _ = running.server.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        });
        let (addr, handle) = rx.recv().context("server thread died")??;
        Ok(Server {
            addr,
            handle,
            thread: Some(thread),
        })
    }

    pub(crate) fn stop(mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `partnerfeed serve` as a child process (so its VmHWM is the server's alone).
pub(crate) struct ChildServer {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
}

impl ChildServer {
    pub(crate) fn spawn(exe: &Path, bdb: &BenchDb, token: &str) -> anyhow::Result<ChildServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let child = Command::new(exe)
            .arg("serve")
            .arg("--bind")
            .arg(addr.to_string())
            .env("DATABASE_URL", &bdb.url)
            .env("PARTNERFEED_DATA_DIR", &bdb.dir)
            .env("PARTNERFEED_ADMIN_TOKEN", token)
            .env("RUST_LOG", "warn")
            .env("PARTNERFEED_RATE_LIMIT", "0")
            .env("PARTNERFEED_TOKEN_CONCURRENCY", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let mut server = ChildServer { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = Http::new(addr).send("GET", "/healthz", &[], b"", true) {
                if r.status == 200 {
                    return Ok(server);
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!("partnerfeed serve exited early: {status}");
            }
            if Instant::now() > deadline {
                bail!("partnerfeed serve did not become healthy");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes the server's kept feed renderings (the directory itself stays).
pub(crate) fn clear_feed_cache(data_dir: &Path) -> anyhow::Result<()> {
    let dir = data_dir.join("feed-cache");
    if dir.is_dir() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "part") {
                std::fs::remove_file(path)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn proc_status_kb(pid: u32, key: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Resets the peak RSS (VmHWM) of `pid` to its current RSS (Linux `clear_refs` value 5).
pub(crate) fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}
