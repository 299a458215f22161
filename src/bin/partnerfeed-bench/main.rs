//! `partnerfeed-bench`: end-to-end performance figures on a deterministic demo catalog.
//!
//! ```text
//! cargo build --release --bins
//! cargo run --release --bin partnerfeed-bench -- --scale 100000 --backend both --runs 3
//! ```
//!
//! Every scenario prints one Markdown table with min / median / max over `--runs` runs. The
//! server under test is the real one (`app::start` in this process, or the `partnerfeed serve`
//! binary as a child process for the feed and 304 scenarios, so that its peak RSS is its own).
//! The HTTP client is a small blocking HTTP/1.1 client on `std::net` (the crate's runtime
//! dependencies have no HTTP client), one keep-alive connection per measuring thread. Only
//! loopback addresses are used. Databases are created for the run and removed afterwards.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use diesel::{Connection, PgConnection, RunQueryDsl};
use partnerfeed::cli::import;
use partnerfeed::clock::{Clock, SystemClock};
use partnerfeed::config::{Config, ServeArgs, StorageArgs};
use partnerfeed::service::tokens;
use partnerfeed::store::Db;
use partnerfeed::{app, demo, jobs};
use serde_json::{json, Value};

mod limits;
mod references;
mod webhooks;

const ALL_SCENARIOS: [&str; 10] = [
    "limits",
    "put-latency",
    "import",
    "feed",
    "delta",
    "changes-page",
    "http-load",
    "copy",
    "dump-diff",
    "webhooks",
];

#[derive(Parser, Debug)]
#[command(
    name = "partnerfeed-bench",
    about = "End-to-end benchmarks of partnerfeed"
)]
struct Args {
    /// Number of demo products in the main catalog.
    #[arg(long, default_value_t = 10_000)]
    scale: usize,
    /// `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Runs per measurement (min / median / max are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Scenarios to run (default: all): limits, put-latency, import, feed, delta,
    /// changes-page, http-load, copy (PostgreSQL only), dump-diff, webhooks.
    #[arg(long, num_args = 1..)]
    scenario: Vec<String>,
    /// Base PostgreSQL URL (loopback only); bench databases `pf_bench_*` are created beside it.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pg_url: String,
    /// Catalog sizes of the delta scenario, comma-separated (default: a tenth of --scale, and
    /// --scale). Channel creation re-evaluates the whole catalog once per channel, and every
    /// channel keeps its projected records, so size x channels bounds the run time and disk.
    #[arg(long, value_delimiter = ',')]
    delta_sizes: Vec<usize>,
    /// Channel counts of the delta scenario, comma-separated and rising (default: 10,100).
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 100])]
    delta_channels: Vec<usize>,
    /// Products sent through the batch endpoint per run (default: min(scale, 100,000)).
    #[arg(long)]
    batch_products: Option<usize>,
    /// Seconds of each wrk run (http-load).
    #[arg(long, default_value_t = 5)]
    wrk_seconds: u64,
    /// Directory for SQLite files and the NDJSON catalog (default: the system temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Formats of the feed scenario.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "json,ndjson,csv,xml,google-xml,google-tsv,bmecat,gdsn-cin"
    )]
    feed_formats: Vec<String>,
    /// Encodings of the feed scenario: identity, gzip.
    #[arg(long, value_delimiter = ',', default_value = "identity,gzip")]
    feed_encodings: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Results

#[derive(Default)]
struct Table {
    title: String,
    /// (backend, metric, unit, values)
    rows: Vec<(String, String, String, Vec<f64>)>,
    notes: Vec<String>,
}

impl Table {
    fn new(title: &str) -> Table {
        Table {
            title: title.to_string(),
            ..Default::default()
        }
    }

    fn add(&mut self, backend: &str, metric: &str, unit: &str, values: Vec<f64>) {
        self.rows
            .push((backend.into(), metric.into(), unit.into(), values));
    }

    fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    fn print(&self) {
        println!("\n### {}\n", self.title);
        println!("| backend | metric | unit | min | median | max | runs |");
        println!("|---|---|---|---:|---:|---:|---:|");
        for (backend, metric, unit, values) in &self.rows {
            let (min, med, max) = stats(values);
            println!(
                "| {backend} | {metric} | {unit} | {} | {} | {} | {} |",
                fmt_num(min),
                fmt_num(med),
                fmt_num(max),
                values.len()
            );
        }
        for note in &self.notes {
            println!("\n{note}");
        }
        let _ = std::io::stdout().flush();
    }
}

fn stats(values: &[f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let med = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (v[0], med, v[v.len() - 1])
}

fn fmt_num(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else if x.abs() >= 1000.0 {
        let s = format!("{:.0}", x);
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------------
// A minimal blocking HTTP/1.1 client (keep-alive, Content-Length and chunked bodies)

struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Bytes of body received (also when the body was not kept).
    body_len: u64,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).context("response is not JSON")
    }
}

impl Http {
    fn new(addr: SocketAddr) -> Http {
        assert!(addr.ip().is_loopback(), "the bench only talks to loopback");
        Http { addr, conn: None }
    }

    fn connection(&mut self) -> anyhow::Result<&mut BufReader<TcpStream>> {
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(600)))?;
            self.conn = Some(BufReader::with_capacity(1 << 16, stream));
        }
        self.conn.as_mut().context("no connection")
    }

    /// Sends one request; `keep_body` false counts body bytes without keeping them.
    fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        keep_body: bool,
    ) -> anyhow::Result<Response> {
        let reused = self.conn.is_some();
        let mut result = self.send_once(method, path, headers, body, keep_body);
        if result.is_err() {
            self.conn = None;
            if reused {
                // The server may have closed an idle keep-alive connection: retry once.
                result = self.send_once(method, path, headers, body, keep_body);
            }
        }
        result
    }

    fn send_once(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        keep_body: bool,
    ) -> anyhow::Result<Response> {
        let mut out = Vec::new();
        let mut discard = std::io::sink();
        let sink: &mut dyn Write = if keep_body { &mut out } else { &mut discard };
        let mut response = self.exchange(method, path, headers, body, sink)?;
        response.body = out;
        Ok(response)
    }

    /// Sends one request on a fresh connection and streams the response body into `w`.
    fn send_to(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        w: &mut dyn Write,
    ) -> anyhow::Result<Response> {
        self.conn = None;
        self.exchange(method, path, headers, b"", w)
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        sink: &mut dyn Write,
    ) -> anyhow::Result<Response> {
        let host = self.addr.to_string();
        let conn = self.connection()?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" || method == "PUT" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        {
            let stream = conn.get_mut();
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)?;
            stream.flush()?;
        }
        let mut line = String::new();
        conn.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if conn.read_line(&mut line)? == 0 {
                bail!("connection closed in headers");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                headers.push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let mut len = 0u64;
        let mut buf = [0u8; 1 << 16];
        let mut take = |conn: &mut BufReader<TcpStream>, mut n: u64| -> anyhow::Result<()> {
            len += n;
            while n > 0 {
                let want = n.min(buf.len() as u64) as usize;
                let got = conn.read(&mut buf[..want])?;
                if got == 0 {
                    bail!("connection closed in body");
                }
                sink.write_all(&buf[..got])?;
                n -= got as u64;
            }
            Ok(())
        };
        let no_body = status == 304 || status == 204 || method == "HEAD";
        if no_body {
        } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                line.clear();
                conn.read_line(&mut line)?;
                let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .with_context(|| format!("bad chunk size {line:?}"))?;
                if size == 0 {
                    loop {
                        line.clear();
                        conn.read_line(&mut line)?;
                        if line.trim().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                take(conn, size)?;
                line.clear();
                conn.read_line(&mut line)?;
            }
        } else if let Some(n) = find("content-length").and_then(|v| v.parse::<u64>().ok()) {
            take(conn, n)?;
        } else {
            bail!("response without length");
        }
        if find("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            self.conn = None;
        }
        Ok(Response {
            status,
            headers,
            body: Vec::new(),
            body_len: len,
        })
    }
}

fn expect_ok(r: &Response, what: &str) -> anyhow::Result<()> {
    if !(200..300).contains(&r.status) {
        bail!(
            "{what}: HTTP {} {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(500)])
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Databases and servers

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }
}

/// A fresh database, removed on drop.
struct BenchDb {
    url: String,
    dir: PathBuf,
    pg: Option<(String, String)>,
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl BenchDb {
    fn create(kind: Kind, ctx: &Ctx) -> anyhow::Result<BenchDb> {
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

    fn storage(&self) -> StorageArgs {
        StorageArgs {
            data_dir: self.dir.clone(),
            database_url: Some(self.url.clone()),
        }
    }

    fn open(&self) -> anyhow::Result<Db> {
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

fn replace_db_name(base: &str, name: &str) -> String {
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
struct Server {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn config_for(bdb: &BenchDb, token: &str, jobs: bool) -> Config {
    let mut config = Config::new(
        bdb.storage(),
        ServeArgs {
            bind: "127.0.0.1:0".parse().expect("loopback address"),
            admin_token: Some(token.to_string()),
            body_limit: 64 * 1024 * 1024,
            workers: Some(2),
            tombstone_retention_days: 30,
            rate_limit: 0,
            feed_cache: true,
            metrics_token: None,
            metrics_bind: None,
            token_concurrency: 0,
        },
    );
    config.run_jobs = jobs;
    config
}

impl Server {
    fn start(bdb: &BenchDb, db: &Db, token: &str, jobs: bool) -> anyhow::Result<Server> {
        Server::start_with(config_for(bdb, token, jobs), db)
    }

    /// The server of `config` on `db`, after making its bootstrap admin.
    fn start_with(config: Config, db: &Db) -> anyhow::Result<Server> {
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

    fn stop(mut self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `partnerfeed serve` as a child process (so its VmHWM is the server's alone).
struct ChildServer {
    child: Child,
    addr: SocketAddr,
}

impl ChildServer {
    fn spawn(exe: &Path, bdb: &BenchDb, token: &str) -> anyhow::Result<ChildServer> {
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

    fn pid(&self) -> u32 {
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
fn clear_feed_cache(data_dir: &Path) -> anyhow::Result<()> {
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

fn proc_status_kb(pid: u32, key: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Resets the peak RSS (VmHWM) of `pid` to its current RSS (Linux `clear_refs` value 5).
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

// ---------------------------------------------------------------------------------------------
// Catalog and helpers

struct Ctx {
    args: Args,
    work_dir: PathBuf,
    pg_url: String,
    token: String,
}

/// The NDJSON catalog file and a sample of its products (for edits).
struct Catalog {
    path: PathBuf,
    count: usize,
    bytes: u64,
}

fn write_catalog(dir: &Path, count: usize) -> anyhow::Result<Catalog> {
    let path = dir.join(format!(
        "pf-bench-catalog-{}-{count}.ndjson",
        std::process::id()
    ));
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    for p in demo::products(count) {
        serde_json::to_writer(&mut out, &p)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let bytes = std::fs::metadata(&path)?.len();
    Ok(Catalog { path, count, bytes })
}

/// `count` products of the first `of` demo products, evenly spread.
fn sample(of: usize, count: usize) -> Vec<Value> {
    let step = (of / count.max(1)).max(1);
    demo::products(of)
        .enumerate()
        .filter(|(i, _)| i % step == 0)
        .map(|(_, p)| p)
        .take(count)
        .collect()
}

fn edited(product: &Value, tag: &str) -> Value {
    let mut p = product.clone();
    for locale in ["en", "fr"] {
        if let Some(t) = p["title"][locale].as_str() {
            let t = format!("{t} [{tag}]");
            p["title"][locale] = Value::String(t);
        }
    }
    p
}

fn import_into(db: &Db, catalog: &Catalog) -> anyhow::Result<import::Summary> {
    let summary =
        import::import_file(db, &catalog.path, import::FileFormat::Ndjson, "bench", 5000)?;
    if summary.failed > 0 || summary.stored() != catalog.count {
        bail!("import: {summary}");
    }
    Ok(summary)
}

fn drain(db: &Db) -> anyhow::Result<jobs::delta::Work> {
    Ok(jobs::delta::drain(db, SystemClock.now())?)
}

fn auth(token: &str) -> String {
    format!("Bearer {token}")
}

fn put_channel(http: &mut Http, token: &str, code: &str, body: &Value) -> anyhow::Result<()> {
    let r = http.send(
        "PUT",
        &format!("/v1/channels/{code}"),
        &[
            ("Authorization", &auth(token)),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
        true,
    )?;
    expect_ok(&r, &format!("PUT channel {code}"))
}

/// Bench channel `i`: the demo channels as templates, with varied assortments and prices.
fn bench_channel(i: usize) -> Value {
    let templates = demo::channels();
    let mut c = templates[i % templates.len()].1.clone();
    c["name"] = json!(format!("Bench channel {i}"));
    c["price_adjustment_percent"] = json!(format!("-{}", i % 15));
    match i % 4 {
        0 => {}
        1 => c["assortment"]["statuses"] = json!(["active"]),
        2 => c["assortment"]["categories"] = json!([]),
        _ => c["assortment"]["statuses"] = json!(["active", "discontinued", "draft"]),
    }
    c
}

fn post_batch(http: &mut Http, token: &str, lines: &[u8]) -> anyhow::Result<Value> {
    let r = http.send(
        "POST",
        "/v1/products/batch",
        &[
            ("Authorization", &auth(token)),
            ("Content-Type", "application/x-ndjson"),
        ],
        lines,
        true,
    )?;
    expect_ok(&r, "POST batch")?;
    r.json()
}

fn ndjson_of<'a>(items: impl Iterator<Item = &'a Value>) -> Vec<u8> {
    let mut body = Vec::new();
    for p in items {
        body.extend_from_slice(p.to_string().as_bytes());
        body.push(b'\n');
    }
    body
}

// ---------------------------------------------------------------------------------------------
// Scenarios

#[derive(Default)]
struct Tables {
    by_name: BTreeMap<&'static str, Table>,
}

impl Tables {
    fn get(&mut self, name: &'static str, title: &str) -> &mut Table {
        self.by_name
            .entry(name)
            .or_insert_with(|| Table::new(title))
    }
}

fn wants(ctx: &Ctx, name: &str) -> bool {
    ctx.args.scenario.is_empty() || ctx.args.scenario.iter().any(|s| s == name)
}

fn log(msg: impl AsRef<str>) {
    eprintln!(
        "[bench {:>8.1?}] {}",
        START.with(|s| s.elapsed()),
        msg.as_ref()
    );
}

thread_local! {
    static START: Instant = Instant::now();
}

/// Everything for one backend.
fn bench_backend(
    ctx: &Ctx,
    kind: Kind,
    catalog: &Catalog,
    tables: &mut Tables,
) -> anyhow::Result<()> {
    let b = kind.name();
    let runs = ctx.args.runs.max(1);
    let needs_main = [
        "put-latency",
        "feed",
        "changes-page",
        "http-load",
        "copy",
        "dump-diff",
    ]
    .iter()
    .any(|s| wants(ctx, s));

    // --- import (import_file), R fresh databases; the last one is kept as the main one.
    let mut main: Option<(BenchDb, Db)> = None;
    if wants(ctx, "import") || needs_main {
        let import_runs = if wants(ctx, "import") { runs } else { 1 };
        let mut rates = Vec::new();
        let mut secs = Vec::new();
        for run in 0..import_runs {
            let bdb = BenchDb::create(kind, ctx)?;
            let db = bdb.open()?;
            log(format!(
                "{b}: import_file of {} products, run {}",
                catalog.count,
                run + 1
            ));
            let s = import_into(&db, catalog)?;
            let t = s.elapsed.as_secs_f64();
            secs.push(t);
            rates.push(catalog.count as f64 / t);
            main = Some((bdb, db));
        }
        if wants(ctx, "import") {
            let t = tables.get("2-import", "import");
            t.add(
                b,
                &format!("import_file NDJSON, {} products, chunk 5000", catalog.count),
                "products/s",
                rates,
            );
            t.add(b, "import_file elapsed", "s", secs);
        }
    }

    // --- batch endpoint, R fresh databases.
    if wants(ctx, "import") {
        let n = ctx
            .args
            .batch_products
            .unwrap_or(catalog.count.min(100_000))
            .min(catalog.count);
        let products: Vec<Value> = demo::products(n).collect();
        let bodies: Vec<Vec<u8>> = products
            .chunks(10_000)
            .map(|c| ndjson_of(c.iter()))
            .collect();
        let mut rates = Vec::new();
        let mut latency = Vec::new();
        for run in 0..runs {
            let bdb = BenchDb::create(kind, ctx)?;
            let db = bdb.open()?;
            let server = Server::start(&bdb, &db, &ctx.token, false)?;
            let mut http = Http::new(server.addr);
            log(format!(
                "{b}: POST /v1/products/batch, {n} products, run {}",
                run + 1
            ));
            let started = Instant::now();
            let mut per = Vec::new();
            for body in &bodies {
                let t0 = Instant::now();
                let r = post_batch(&mut http, &ctx.token, body)?;
                per.push(t0.elapsed().as_secs_f64());
                if r["failed"].as_u64() != Some(0) {
                    bail!("batch failures: {}", r["failed"]);
                }
            }
            let t = started.elapsed().as_secs_f64();
            rates.push(n as f64 / t);
            latency.push(stats(&per).1 * 1000.0);
            server.stop();
        }
        let t = tables.get("2-import", "import");
        t.add(
            b,
            &format!("POST /v1/products/batch, 10,000-line NDJSON bodies, {n} products"),
            "products/s",
            rates,
        );
        t.add(b, "one 10,000-line batch request (median)", "ms", latency);
    }

    if needs_main {
        let (bdb, db) = main.take().context("no main database")?;
        bench_main(ctx, kind, &bdb, &db, catalog, tables)?;
    }

    if wants(ctx, "delta") {
        bench_delta(ctx, kind, tables)?;
    }
    if wants(ctx, "webhooks") {
        webhooks::bench(ctx, kind, tables)?;
    }
    Ok(())
}

fn bench_main(
    ctx: &Ctx,
    kind: Kind,
    bdb: &BenchDb,
    db: &Db,
    catalog: &Catalog,
    tables: &mut Tables,
) -> anyhow::Result<()> {
    let b = kind.name();
    let runs = ctx.args.runs.max(1);
    let token = ctx.token.as_str();
    let server = Server::start(bdb, db, token, false)?;
    let mut http = Http::new(server.addr);

    // --- put-latency
    if wants(ctx, "put-latency") {
        let edits = sample(catalog.count, 500);
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        let mut max = Vec::new();
        for run in 0..runs {
            log(format!(
                "{b}: {} sequential PUTs, run {}",
                edits.len(),
                run + 1
            ));
            let mut lat = Vec::with_capacity(edits.len());
            for (k, p) in edits.iter().enumerate() {
                let body = edited(p, &format!("put {run}-{k}")).to_string();
                let sku = p["sku"].as_str().context("sku")?;
                let t0 = Instant::now();
                let r = http.send(
                    "PUT",
                    &format!("/v1/products/{sku}"),
                    &[
                        ("Authorization", &auth(token)),
                        ("Content-Type", "application/json"),
                    ],
                    body.as_bytes(),
                    true,
                )?;
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                expect_ok(&r, "PUT product")?;
            }
            lat.sort_by(f64::total_cmp);
            p50.push(percentile(&lat, 50.0));
            p99.push(percentile(&lat, 99.0));
            max.push(percentile(&lat, 100.0));
        }
        let t = tables.get(
            "1-put-latency",
            "put-latency (sequential PUT /v1/products/{sku}, one keep-alive connection)",
        );
        let label = format!("{} PUTs (existing SKUs, title edited)", 500);
        t.add(b, &format!("{label} p50"), "ms", p50);
        t.add(b, &format!("{label} p99"), "ms", p99);
        t.add(b, &format!("{label} max"), "ms", max);
        t.note(format!(
            "Catalog of {} products; the delta generator is off during the PUTs (it runs between \
             scenarios), so the figure is the edit path alone: auth lookup, validation, JCS hash, \
             read of the old row, product + history + outbox writes, commit.",
            catalog.count
        ));
        let d = drain(db)?;
        log(format!("{b}: drained {} events after the PUTs", d.events));
    }

    // --- the two demo channels (feeds, changes, 304)
    let feed_like = ["feed", "changes-page", "http-load", "copy", "dump-diff"]
        .iter()
        .any(|s| wants(ctx, s));
    if !feed_like {
        server.stop();
        return Ok(());
    }
    log(format!("{b}: creating the demo channels"));
    for (code, body) in demo::channels() {
        put_channel(&mut http, token, &code, &body)?;
    }
    let t0 = Instant::now();
    let work = drain(db)?;
    let secs = t0.elapsed().as_secs_f64();
    {
        let t = tables.get("4-delta", "delta");
        t.add(
            b,
            &format!(
                "channel creation re-evaluation: 2 demo channels x {} products ({} records written)",
                catalog.count, work.changes
            ),
            "products/s",
            vec![work.evaluated as f64 / secs],
        );
    }
    let channel = "eu-marketplace";
    let digest = http.send(
        "GET",
        &format!("/v1/channels/{channel}/digest"),
        &[("Authorization", &auth(token))],
        b"",
        true,
    )?;
    expect_ok(&digest, "digest")?;
    let live = digest.json()?["count"].as_u64().unwrap_or(0);
    log(format!("{b}: {channel} has {live} live records"));

    // --- changes-page
    if wants(ctx, "changes-page") {
        let requests = 200;
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        let mut mbs = Vec::new();
        for run in 0..runs {
            log(format!(
                "{b}: {requests} changes pages of 1000, run {}",
                run + 1
            ));
            let mut lat = Vec::new();
            let mut since: Option<String> = None;
            let mut bytes = 0u64;
            let mut total = 0.0;
            for _ in 0..requests {
                let path = match &since {
                    Some(c) => format!("/v1/channels/{channel}/changes?limit=1000&since={c}"),
                    None => format!("/v1/channels/{channel}/changes?limit=1000"),
                };
                let t0 = Instant::now();
                let r = http.send("GET", &path, &[("Authorization", &auth(token))], b"", false)?;
                let dt = t0.elapsed().as_secs_f64();
                expect_ok(&r, "changes")?;
                lat.push(dt * 1000.0);
                total += dt;
                bytes += r.body_len;
                since = match r.header("Changes-Has-More") {
                    Some("true") => r.header("Changes-Next").map(str::to_string),
                    _ => None,
                };
            }
            lat.sort_by(f64::total_cmp);
            p50.push(percentile(&lat, 50.0));
            p99.push(percentile(&lat, 99.0));
            mbs.push(bytes as f64 / total / 1e6);
        }
        let t = tables.get(
            "5-changes-page",
            "changes-page (GET /v1/channels/eu-marketplace/changes?limit=1000, JSON)",
        );
        t.add(b, "1,000-item page p50", "ms", p50);
        t.add(b, "1,000-item page p99", "ms", p99);
        t.add(b, "page throughput", "MB/s", mbs);
        t.note(
            "200 sequential pages following `next` from the start of the change log (wrapping \
             to the start when `has_more` is false), one keep-alive connection.",
        );
    }
    server.stop();

    // --- feed and 304: the release `partnerfeed` binary as a child process when present.
    let exe = std::env::current_exe()?
        .parent()
        .map(|d| d.join("partnerfeed"))
        .filter(|p| p.exists());
    let (child, addr, pid, mode) = match &exe {
        Some(exe) => {
            let c = ChildServer::spawn(exe, bdb, token)?;
            let (addr, pid) = (c.addr, c.pid());
            (
                Some(c),
                addr,
                pid,
                format!("child process `{} serve`", exe.display()),
            )
        }
        None => {
            let s = Server::start(bdb, db, token, false)?;
            let addr = s.addr;
            // Keep the in-process server alive for the rest of this function.
            std::mem::forget(s);
            (
                None,
                addr,
                std::process::id(),
                "in-process server (build `partnerfeed` with `cargo build --release --bins` to \
                 measure it as a child process)"
                    .to_string(),
            )
        }
    };
    let mut http = Http::new(addr);

    if wants(ctx, "feed") {
        let base_rss = proc_status_kb(pid, "VmRSS:").unwrap_or(f64::NAN) / 1024.0;
        for gzip in [false, true] {
            if !ctx
                .args
                .feed_encodings
                .iter()
                .any(|e| e == if gzip { "gzip" } else { "identity" })
            {
                continue;
            }
            for format in ctx.args.feed_formats.iter().map(String::as_str) {
                let mut pps = Vec::new();
                let mut mbs = Vec::new();
                let mut sizes = Vec::new();
                let mut peaks = Vec::new();
                let mut kept = Vec::new();
                for run in 0..runs {
                    let label = if gzip { "gzip" } else { "identity" };
                    log(format!("{b}: feed {format} {label}, run {}", run + 1));
                    // Each run renders: the kept renderings are removed first.
                    clear_feed_cache(&bdb.dir)?;
                    let reset = reset_peak(pid);
                    let mut headers = vec![("Authorization", auth(token))];
                    if gzip {
                        headers.push(("Accept-Encoding", "gzip".to_string()));
                    }
                    let h: Vec<(&str, &str)> =
                        headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    let path = format!("/v1/channels/{channel}/feed?format={format}");
                    let mut timed_get = || -> anyhow::Result<(Response, f64)> {
                        let t0 = Instant::now();
                        let r = http.send("GET", &path, &h, b"", false)?;
                        let dt = t0.elapsed().as_secs_f64();
                        expect_ok(&r, "feed")?;
                        Ok((r, dt))
                    };
                    let (r, dt) = timed_get()?;
                    if gzip && r.header("Content-Encoding") != Some("gzip") {
                        bail!("feed was not gzipped");
                    }
                    pps.push(live as f64 / dt);
                    mbs.push(r.body_len as f64 / dt / 1e6);
                    sizes.push(r.body_len as f64 / 1e6);
                    if reset {
                        peaks.push(proc_status_kb(pid, "VmHWM:").unwrap_or(f64::NAN) / 1024.0);
                    }
                    // The same request again is served from the kept rendering.
                    let (again, dt) = timed_get()?;
                    if again.header("Content-Length").is_none() || again.body_len != r.body_len {
                        bail!("the repeated {format} feed was not the kept rendering");
                    }
                    kept.push(live as f64 / dt);
                }
                let enc = if gzip { "gzip" } else { "identity" };
                let t = tables.get("3-feed", "feed (GET /v1/channels/eu-marketplace/feed)");
                t.add(b, &format!("{format} {enc}"), "products/s", pps);
                t.add(b, &format!("{format} {enc} wire"), "MB/s", mbs);
                t.add(b, &format!("{format} {enc} body size"), "MB", sizes);
                t.add(b, &format!("{format} {enc} server peak RSS"), "MiB", peaks);
                t.add(
                    b,
                    &format!("{format} {enc} repeated (kept rendering)"),
                    "products/s",
                    kept,
                );
            }
        }
        let t = tables.get("3-feed", "feed (GET /v1/channels/eu-marketplace/feed)");
        t.note(format!(
            "{b}: {live} live records in the channel (all 12 fields); server: {mode}; its RSS \
             before the feeds {base_rss:.1} MiB; peak RSS is VmHWM after resetting it \
             (`/proc/PID/clear_refs` = 5) before each request. MB/s counts bytes on the wire \
             (compressed for gzip), 1 MB = 10^6 bytes."
        ));
    }

    if wants(ctx, "http-load") {
        references::http_load(ctx, kind, addr, channel, tables)?;
    }
    if wants(ctx, "copy") && kind == Kind::Postgres {
        references::copy(ctx, &bdb.url, &bdb.dir, addr, channel, live, tables)?;
    }
    if wants(ctx, "dump-diff") {
        references::dump_diff(ctx, kind, addr, channel, catalog.count, tables)?;
    }
    drop(child);
    Ok(())
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Delta: 1,000 edits across 10 and 100 channels, at two catalog sizes.
fn bench_delta(ctx: &Ctx, kind: Kind, tables: &mut Tables) -> anyhow::Result<()> {
    let b = kind.name();
    let runs = ctx.args.runs.max(1);
    let sizes = if ctx.args.delta_sizes.is_empty() {
        vec![(ctx.args.scale / 10).max(1000), ctx.args.scale]
    } else {
        ctx.args.delta_sizes.clone()
    };
    for size in sizes {
        let catalog = write_catalog(&ctx.work_dir, size)?;
        let bdb = BenchDb::create(kind, ctx)?;
        let db = bdb.open()?;
        log(format!("{b}: delta catalog of {size}: importing"));
        import_into(&db, &catalog)?;
        let _ = std::fs::remove_file(&catalog.path);
        let server = Server::start(&bdb, &db, &ctx.token, false)?;
        let mut http = Http::new(server.addr);
        let edits = sample(size, 1000);
        let mut made = 0;
        for &channels in &ctx.args.delta_channels {
            log(format!(
                "{b}: delta catalog of {size}: creating channels {made}..{channels}"
            ));
            for i in made..channels {
                put_channel(
                    &mut http,
                    &ctx.token,
                    &format!("bench-{i:03}"),
                    &bench_channel(i),
                )?;
            }
            let t0 = Instant::now();
            let work = drain(&db)?;
            let secs = t0.elapsed().as_secs_f64();
            let t = tables.get("4-delta", "delta");
            t.add(
                b,
                &format!(
                    "channel creation re-evaluation: {} new channels x {size} products",
                    channels - made
                ),
                "products/s",
                vec![work.evaluated as f64 / secs],
            );
            made = channels;
            let mut times = Vec::new();
            let mut per = Vec::new();
            let mut changes = 0;
            for run in 0..runs {
                let tag = format!("delta {channels}-{run}");
                let body = ndjson_of(
                    edits
                        .iter()
                        .map(|p| edited(p, &tag))
                        .collect::<Vec<_>>()
                        .iter(),
                );
                let r = post_batch(&mut http, &ctx.token, &body)?;
                if r["failed"].as_u64() != Some(0) {
                    bail!("edit batch failures: {}", r["failed"]);
                }
                log(format!(
                    "{b}: delta catalog of {size}, {channels} channels: drain of 1000 edits, run {}",
                    run + 1
                ));
                let t0 = Instant::now();
                let work = drain(&db)?;
                let secs = t0.elapsed().as_secs_f64();
                if work.events != edits.len() {
                    bail!("expected {} events, drained {}", edits.len(), work.events);
                }
                changes = work.changes;
                times.push(secs * 1000.0);
                per.push(secs * 1e6 / (edits.len() * channels) as f64);
            }
            t.add(
                b,
                &format!(
                    "1,000 edits x {channels} channels, catalog {size} (~{changes} channel changes)"
                ),
                "ms",
                times,
            );
            t.add(
                b,
                &format!("per edit x channel, {channels} channels, catalog {size}"),
                "us",
                per,
            );
        }
        server.stop();
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for s in &args.scenario {
        if !ALL_SCENARIOS.contains(&s.as_str()) {
            bail!(
                "unknown scenario {s:?}; known: {}",
                ALL_SCENARIOS.join(", ")
            );
        }
    }
    let kinds = match args.backend.as_str() {
        "sqlite" => vec![Kind::Sqlite],
        "postgres" => vec![Kind::Postgres],
        "both" => vec![Kind::Sqlite, Kind::Postgres],
        other => bail!("--backend {other:?}: use sqlite, postgres or both"),
    };
    if kinds.contains(&Kind::Postgres) {
        let host = args
            .pg_url
            .split("://")
            .nth(1)
            .and_then(|r| r.rsplit('@').next())
            .and_then(|r| r.split(['/', ':']).next())
            .unwrap_or("");
        if !matches!(host, "127.0.0.1" | "localhost" | "::1" | "[::1]") {
            bail!("--pg-url must name a loopback host, not {host:?}");
        }
    }
    START.with(|_| ());
    let work_dir = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&work_dir)?;
    let ctx = Ctx {
        pg_url: args.pg_url.clone(),
        work_dir,
        token: tokens::generate(),
        args,
    };
    println!(
        "# partnerfeed-bench: scale {}, backends {}, runs {}, {} cores",
        ctx.args.scale,
        kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join("+"),
        ctx.args.runs,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    log(format!(
        "writing the NDJSON catalog of {} products",
        ctx.args.scale
    ));
    let catalog = write_catalog(&ctx.work_dir, ctx.args.scale)?;
    log(format!(
        "catalog: {} products, {:.1} MB",
        catalog.count,
        catalog.bytes as f64 / 1e6
    ));
    let mut tables = Tables::default();
    if wants(&ctx, "limits") {
        let table = tables.get(
            "0-limits",
            "limits (single-core building blocks on the same records, in memory)",
        );
        limits::run(ctx.args.runs.max(1), table)?;
    }
    let mut result = Ok(());
    for kind in kinds {
        if let Err(e) = bench_backend(&ctx, kind, &catalog, &mut tables) {
            result = Err(e.context(format!("backend {}", kind.name())));
            break;
        }
    }
    let _ = std::fs::remove_file(&catalog.path);
    for table in tables.by_name.values() {
        table.print();
    }
    result
}
