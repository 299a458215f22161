//! `partnerfeed-load`: a bounded load run against real `partnerfeed serve` processes on one
//! database, over loopback only. Feed pullers keep replicas through the changes API, editors
//! write products; at the end every puller must reach the server's digest. Reports requests,
//! errors and the resident memory of each instance (docs/operations.md, "Load").

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[derive(Parser)]
#[command(about = "Bounded load on loopback: feed pullers and editors against real instances")]
struct Args {
    /// The database every instance shares (PostgreSQL for several instances).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The `partnerfeed` binary (default: next to this one).
    #[arg(long)]
    bin: Option<PathBuf>,
    #[arg(long, default_value_t = 2)]
    instances: usize,
    #[arg(long, default_value_t = 64)]
    pullers: usize,
    #[arg(long, default_value_t = 8)]
    editors: usize,
    /// How long pullers and editors run.
    #[arg(long, default_value_t = 180)]
    seconds: u64,
    /// Products loaded before the run.
    #[arg(long, default_value_t = 5000)]
    products: usize,
}

/// Requests and failures, shared by every task.
#[derive(Default)]
struct Counts {
    pulls: AtomicU64,
    feeds: AtomicU64,
    edits: AtomicU64,
    errors: AtomicU64,
}

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn product(sku: &str, rng: &mut StdRng) -> Value {
    let cents: u32 = rng.random_range(1_000..100_000);
    json!({"sku": sku, "gtin": "3700123456780", "status": "active",
           "brand": format!("Brand {}", rng.random_range(0..50)),
           "category": "tools/drills", "title": {"fr": format!("Perceuse {sku}"), "en": "Drill"},
           "attributes": {"voltage": rng.random_range(6..36)},
           "prices": [{"list": "reseller", "currency": "EUR",
                       "amount": format!("{}.{:02}", cents / 100, cents % 100), "min_qty": 1}],
           "dimensions": {"length": "325", "width": "90", "height": "240", "unit": "mm"},
           "weight": {"net": "1450", "unit": "g"}})
}

/// A replica: SKU -> hash, and its cursor.
#[derive(Default)]
struct Replica {
    hashes: BTreeMap<String, String>,
    cursor: String,
}

impl Replica {
    fn digest(&self) -> String {
        let mut h = Sha256::new();
        for (sku, hash) in &self.hashes {
            h.update(format!("{sku}\t{hash}\n"));
        }
        hex::encode(h.finalize())
    }

    fn apply(&mut self, page: &Value) -> anyhow::Result<bool> {
        for c in page["changes"].as_array().context("changes")? {
            let sku = c["sku"].as_str().context("sku")?.to_string();
            match c["op"].as_str() {
                Some("upsert") => {
                    self.hashes
                        .insert(sku, c["hash"].as_str().context("hash")?.into());
                }
                _ => {
                    self.hashes.remove(&sku);
                }
            }
        }
        self.cursor = page["next"].as_str().context("next")?.to_string();
        Ok(page["has_more"].as_bool() == Some(true))
    }
}

struct Load {
    client: reqwest::Client,
    admin: String,
    counts: Counts,
    stop: AtomicBool,
}

impl Load {
    async fn send(&self, r: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = r.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            bail!("{status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn put(&self, url: String, token: &str, body: &Value) -> anyhow::Result<Value> {
        let r = self
            .client
            .put(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(r).await
    }

    async fn get(&self, url: String, token: &str) -> anyhow::Result<Value> {
        self.send(self.client.get(url).bearer_auth(token)).await
    }

    fn failed(&self, what: &str, e: anyhow::Error) {
        if self.counts.errors.fetch_add(1, Ordering::SeqCst) < 20 {
            eprintln!("error: {what}: {e:#}");
        }
    }

    /// Follows the changes until `has_more` is false.
    async fn follow(&self, base: &str, token: &str, replica: &mut Replica) -> anyhow::Result<()> {
        loop {
            let url = format!(
                "{base}/v1/channels/load/changes?since={}&limit=1000",
                replica.cursor
            );
            let page = self.get(url, token).await?;
            self.counts.pulls.fetch_add(1, Ordering::Relaxed);
            if !replica.apply(&page)? {
                return Ok(());
            }
        }
    }

    async fn full_feed(&self, base: &str, token: &str) -> anyhow::Result<Replica> {
        let feed = self
            .get(format!("{base}/v1/channels/load/feed"), token)
            .await?;
        self.counts.feeds.fetch_add(1, Ordering::Relaxed);
        let mut replica = Replica {
            cursor: feed["cursor"].as_str().context("cursor")?.to_string(),
            ..Default::default()
        };
        for p in feed["products"].as_array().context("products")? {
            replica.hashes.insert(
                p["sku"].as_str().context("sku")?.into(),
                p["hash"].as_str().context("hash")?.into(),
            );
        }
        Ok(replica)
    }

    async fn settle(&self, base: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            let text = self
                .client
                .get(format!("{base}/metrics"))
                .bearer_auth(&self.admin)
                .send()
                .await?
                .text()
                .await?;
            if text.lines().any(|l| l == "partnerfeed_outbox_backlog 0")
                && !text.lines().any(|l| {
                    l.starts_with("partnerfeed_channel_reevaluating{") && l.ends_with(" 1")
                })
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the delta generators did not settle in 5 minutes")
    }
}

fn start(
    bin: &PathBuf,
    args: &Args,
    admin: &str,
    dir: &std::path::Path,
) -> anyhow::Result<Instance> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = std::fs::File::create(dir.join(format!("serve-{port}.log")))?;
    let child = Command::new(bin)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &args.database_url)
        .env("PARTNERFEED_DATA_DIR", dir)
        .env("PARTNERFEED_ADMIN_TOKEN", admin)
        .env("PARTNERFEED_RATE_LIMIT", "0")
        .env("PARTNERFEED_TOKEN_CONCURRENCY", "0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(Instance {
        child,
        base: format!("http://127.0.0.1:{port}"),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = match &args.bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .with_file_name("partnerfeed")
            .canonicalize()
            .context("the partnerfeed binary next to this one (or --bin)")?,
    };
    let dir = std::env::temp_dir().join(format!("partnerfeed-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let admin = partnerfeed::service::tokens::generate();
    let load = Arc::new(Load {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build()?,
        admin: admin.clone(),
        counts: Counts::default(),
        stop: AtomicBool::new(false),
    });
    // One instance first (it migrates), then the others.
    let mut instances = Vec::new();
    for _ in 0..args.instances.max(1) {
        let instance = start(&bin, &args, &admin, &dir)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ready = load
                .client
                .get(format!("{}/readyz", instance.base))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "{} never became ready (see {})",
                    instance.base,
                    dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        instances.push(instance);
    }
    let bases: Vec<String> = instances.iter().map(|i| i.base.clone()).collect();
    let base = &bases[0];

    // The channel, a reseller and the catalog.
    let channel = json!({"name": "Load", "locale": "fr", "currency": "EUR",
                         "price_list": "reseller", "price_adjustment_percent": "-5",
                         "units": "metric"});
    load.put(format!("{base}/v1/channels/load"), &admin, &channel)
        .await?;
    let reseller = json!({"name": "load", "email": "it@load.example", "channels": ["load"]});
    load.put(format!("{base}/v1/resellers/load"), &admin, &reseller)
        .await?;
    let token = load
        .send(
            load.client
                .post(format!("{base}/v1/resellers/load/tokens"))
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .body(json!({"name": "pullers"}).to_string()),
        )
        .await?["token"]
        .as_str()
        .context("token")?
        .to_string();
    let mut rng = StdRng::seed_from_u64(42);
    for chunk in (0..args.products).collect::<Vec<_>>().chunks(5000) {
        let body: String = chunk
            .iter()
            .map(|n| format!("{}\n", product(&format!("L-{n:06}"), &mut rng)))
            .collect();
        load.send(
            load.client
                .post(format!("{base}/v1/products/batch"))
                .bearer_auth(&admin)
                .header("content-type", "application/x-ndjson")
                .body(body),
        )
        .await?;
    }
    load.settle(base).await?;
    let pids: Vec<u32> = instances.iter().map(|i| i.child.id()).collect();
    let rss_start: Vec<u64> = pids.iter().map(|p| rss_kib(*p)).collect();
    println!(
        "loaded {} products; {} instances, {} pullers, {} editors for {} s",
        args.products, args.instances, args.pullers, args.editors, args.seconds
    );

    let started = Instant::now();
    let mut pullers = Vec::new();
    for p in 0..args.pullers {
        let (load, bases, token) = (load.clone(), bases.clone(), token.clone());
        pullers.push(tokio::spawn(async move {
            let mut replica = Replica::default();
            let mut round = 0usize;
            while !load.stop.load(Ordering::SeqCst) {
                let base = &bases[(p + round) % bases.len()];
                round += 1;
                // Every tenth round, or until it has one, a full feed; otherwise a follow.
                if replica.cursor.is_empty() || round.is_multiple_of(10) {
                    match load.full_feed(base, &token).await {
                        Ok(r) => replica = r,
                        Err(e) => load.failed("feed", e),
                    }
                } else if let Err(e) = load.follow(base, &token, &mut replica).await {
                    load.failed("changes", e);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            replica
        }));
    }
    let mut editors = Vec::new();
    for e in 0..args.editors {
        let (load, bases, products) = (load.clone(), bases.clone(), args.products);
        editors.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(e as u64);
            let mut round = 0usize;
            while !load.stop.load(Ordering::SeqCst) {
                let base = &bases[(e + round) % bases.len()];
                round += 1;
                let sku = format!("L-{:06}", rng.random_range(0..products));
                let url = format!("{base}/v1/products/{sku}");
                let result = if rng.random_bool(0.05) {
                    load.send(load.client.delete(&url).bearer_auth(&load.admin))
                        .await
                        .or_else(|e| {
                            // Another editor may have deleted it first.
                            if e.to_string().starts_with("404") {
                                Ok(Value::Null)
                            } else {
                                Err(e)
                            }
                        })
                } else {
                    load.put(url, &load.admin, &product(&sku, &mut rng)).await
                };
                match result {
                    Ok(_) => {
                        load.counts.edits.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => load.failed("edit", e),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    let mut rss_max = rss_start.clone();
    let deadline = started + Duration::from_secs(args.seconds);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5).min(deadline - Instant::now())).await;
        let rss: Vec<u64> = pids.iter().map(|p| rss_kib(*p)).collect();
        for (m, r) in rss_max.iter_mut().zip(&rss) {
            *m = (*m).max(*r);
        }
        println!(
            "{:>4} s  pulls {}  feeds {}  edits {}  errors {}  rss KiB {:?}",
            started.elapsed().as_secs(),
            load.counts.pulls.load(Ordering::Relaxed),
            load.counts.feeds.load(Ordering::Relaxed),
            load.counts.edits.load(Ordering::Relaxed),
            load.counts.errors.load(Ordering::Relaxed),
            rss
        );
    }
    load.stop.store(true, Ordering::SeqCst);
    for e in editors {
        e.await?;
    }
    let mut replicas = Vec::new();
    for p in pullers {
        replicas.push(p.await?);
    }
    let rss_end: Vec<u64> = pids.iter().map(|p| rss_kib(*p)).collect();

    // Convergence: every puller follows to the end, on each instance in turn.
    for b in &bases {
        load.settle(b).await?;
    }
    let digest = load
        .get(format!("{base}/v1/channels/load/digest"), &token)
        .await?;
    let mut converged = 0;
    for (n, replica) in replicas.iter_mut().enumerate() {
        let b = &bases[n % bases.len()];
        if replica.cursor.is_empty() {
            continue;
        }
        if let Err(e) = load.follow(b, &token, replica).await {
            load.failed("final follow", e);
        }
        if digest["digest"].as_str() == Some(replica.digest().as_str()) {
            converged += 1;
        }
    }
    let errors = load.counts.errors.load(Ordering::SeqCst);
    let pulls = load.counts.pulls.load(Ordering::SeqCst);
    let feeds = load.counts.feeds.load(Ordering::SeqCst);
    let edits = load.counts.edits.load(Ordering::SeqCst);
    let secs = args.seconds as f64;
    println!(
        "requests: {} changes pages ({:.0}/s), {} full feeds ({:.1}/s), {} edits ({:.0}/s); errors: {errors}",
        pulls,
        pulls as f64 / secs,
        feeds,
        feeds as f64 / secs,
        edits,
        edits as f64 / secs
    );
    for (n, pid) in pids.iter().enumerate() {
        println!(
            "instance {n} (pid {pid}): RSS start {} KiB, max {} KiB, end {} KiB",
            rss_start[n], rss_max[n], rss_end[n]
        );
    }
    println!(
        "followers converged: {converged}/{} (digest {}, {} products)",
        replicas.len(),
        digest["digest"].as_str().unwrap_or("?"),
        digest["count"]
    );
    drop(instances);
    let _ = std::fs::remove_dir_all(&dir);
    if errors > 0 || converged != replicas.len() {
        bail!(
            "{errors} errors, {converged}/{} followers converged",
            replicas.len()
        );
    }
    Ok(())
}
