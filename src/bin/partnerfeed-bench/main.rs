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
use partnerfeed::config::{Config, Secret, Storage};
use partnerfeed::service::tokens;
use partnerfeed::store::Db;
use partnerfeed::{app, demo, jobs};
use serde_json::{json, Value};

mod bulk;
mod harness;
mod http;
mod limits;
mod references;
mod scenarios;
mod stats;
mod ui;
mod webhooks;

use harness::*;
use http::*;
use scenarios::*;
use stats::*;

const ALL_SCENARIOS: [&str; 12] = [
    "limits",
    "put-latency",
    "import",
    "feed",
    "delta",
    "bulk",
    "changes-page",
    "http-load",
    "copy",
    "dump-diff",
    "webhooks",
    "ui",
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
    /// bulk, changes-page, http-load, copy (PostgreSQL only), dump-diff, webhooks, ui.
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
    /// Catalog size of the bulk scenario (default: --scale).
    #[arg(long)]
    bulk_size: Option<usize>,
    /// Channel counts of the bulk scenario, comma-separated and rising (default: 10,100).
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 100])]
    bulk_channels: Vec<usize>,
    /// Percentages of the catalog the bulk scenario changes (default: 1,10,100).
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 10, 100])]
    bulk_percents: Vec<usize>,
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

/// Generates until nothing is left, with as many generators at once as the server would run.
fn drain(db: &Db) -> anyhow::Result<jobs::delta::Work> {
    drain_by(db, jobs::delta::workers(db))
}

fn drain_by(db: &Db, workers: usize) -> anyhow::Result<jobs::delta::Work> {
    Ok(jobs::delta::drain_with(db, SystemClock.now(), workers)?)
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
        let ran = bench_backend(&ctx, kind, &catalog, &mut tables).and_then(|()| {
            if wants(&ctx, "ui") {
                ui::bench(&ctx, kind, &catalog, &mut tables)?;
            }
            Ok(())
        });
        if let Err(e) = ran {
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
