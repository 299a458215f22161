//! Scenario `webhooks`: push latency and fan-out, end to end on loopback.
//!
//! - **Edit to delivery**: one subscription (JSON format) on a demo channel; `--webhook-edits`
//!   sequential vendor edits (`PUT /v1/products/{sku}`, each a new SKU), each timed from just
//!   before the PUT to the moment the receiver has the body naming that SKU. p50 and p99.
//! - **Fan-out**: 1,000 subscriptions on the same channel; one edit, timed until every one of
//!   them has received it.
//!
//! The server is the real one (`app::start`, background jobs on, `PARTNERFEED_WEBHOOK_ALLOW`
//! = `127.0.0.0/8`); the receiver is an actix-web server in this process on 127.0.0.1 that
//! answers 204 and notes when each (subscription, SKU) first arrived.

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex};

use actix_web::{web, HttpResponse, HttpServer};

use super::{
    auth, bench_channel, config_for, expect_ok, log, percentile, BenchDb, Ctx, Http, Kind, Server,
    Tables,
};
use super::{demo, json, Arc, Context, Instant, Value};

/// Subscriptions of the fan-out measurement.
const FAN_OUT: usize = 1000;
/// Sequential edits of the latency measurement.
const EDITS: usize = 300;
const CHANNEL: &str = "bench-000";

/// What the receiver has seen: per SKU, the subscriptions that have it and when the first and
/// the latest of them arrived.
#[derive(Default)]
struct Seen {
    by_sku: HashMap<String, (HashSet<String>, Instant)>,
}

#[derive(Default)]
struct Arrivals {
    seen: Mutex<Seen>,
    changed: Condvar,
    /// The latest body received (the reference re-sends its shape).
    sample: Mutex<Option<web::Bytes>>,
}

impl Arrivals {
    /// Waits until `n` subscriptions have received `sku`; the time the last one arrived.
    fn wait(&self, sku: &str, n: usize, limit: std::time::Duration) -> anyhow::Result<Instant> {
        let started = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some((subs, at)) = seen.by_sku.get(sku) {
                if subs.len() >= n {
                    return Ok(*at);
                }
            }
            let left = limit
                .checked_sub(started.elapsed())
                .with_context(|| format!("{sku} did not reach {n} subscriptions in {limit:?}"))?;
            seen = self
                .changed
                .wait_timeout(seen, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

async fn receive(body: web::Bytes, arrivals: web::Data<Arc<Arrivals>>) -> HttpResponse {
    let now = Instant::now();
    *arrivals.sample.lock().unwrap_or_else(|e| e.into_inner()) = Some(body.clone());
    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        let sub = v["subscription"].as_str().unwrap_or_default().to_string();
        let mut seen = arrivals.seen.lock().unwrap_or_else(|e| e.into_inner());
        for change in v["changes"].as_array().into_iter().flatten() {
            if let Some(sku) = change["sku"].as_str() {
                let entry = seen
                    .by_sku
                    .entry(sku.to_string())
                    .or_insert_with(|| (HashSet::new(), now));
                if entry.0.insert(sub.clone()) {
                    entry.1 = now;
                }
            }
        }
        arrivals.changed.notify_all();
    }
    HttpResponse::NoContent().finish()
}

/// The receiver, on its own actix system thread; its URL.
fn start_receiver(
    arrivals: Arc<Arrivals>,
) -> anyhow::Result<(String, actix_web::dev::ServerHandle)> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let data = web::Data::new(arrivals);
            let server = HttpServer::new(move || {
                actix_web::App::new()
                    .app_data(data.clone())
                    .app_data(web::PayloadConfig::new(16 << 20))
                    .route("/hook", web::post().to(receive))
            })
            .workers(2)
            .max_connections(4096)
            .backlog(4096)
            .bind("127.0.0.1:0");
            match server {
                Ok(server) => {
                    let addr = server.addrs()[0];
                    let server = server.run();
                    let _ = tx.send(Ok((format!("http://{addr}/hook"), server.handle())));
                    let _ = server.await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
    });
    Ok(rx.recv().context("receiver thread died")??)
}

/// The server under test, with webhooks allowed to loopback.
fn start_server(bdb: &BenchDb, token: &str) -> anyhow::Result<Server> {
    let mut config = config_for(bdb, token, true);
    config.webhooks.allow =
        partnerfeed::webhooks::AllowList::parse("127.0.0.0/8").expect("a valid CIDR");
    Server::start_with(config, &bdb.open()?)
}

fn call(
    http: &mut Http,
    token: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let r = http.send(
        method,
        path,
        &[
            ("Authorization", &auth(token)),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
        true,
    )?;
    expect_ok(&r, &format!("{method} {path}"))?;
    if r.body.is_empty() {
        Ok(Value::Null)
    } else {
        r.json()
    }
}

/// A product of the channel's assortment under a new SKU.
fn product(template: &Value, sku: &str) -> Value {
    let mut p = template.clone();
    p["sku"] = json!(sku);
    p
}

pub fn bench(ctx: &Ctx, kind: Kind, tables: &mut Tables) -> anyhow::Result<()> {
    let b = kind.name();
    let runs = ctx.args.runs.max(1);
    let bdb = BenchDb::create(kind, ctx)?;
    let server = start_server(&bdb, &ctx.token)?;
    let arrivals = Arc::new(Arrivals::default());
    let (url, receiver) = start_receiver(arrivals.clone())?;
    let mut http = Http::new(server.addr);
    let token = &ctx.token;
    call(
        &mut http,
        token,
        "PUT",
        &format!("/v1/channels/{CHANNEL}"),
        &bench_channel(0),
    )?;
    call(
        &mut http,
        token,
        "PUT",
        "/v1/resellers/bench-shop",
        &json!({"name": "Bench shop", "email": "it@bench-shop.example", "channels": [CHANNEL]}),
    )?;
    // A product the channel carries, to copy under new SKUs.
    let template = demo::products(200)
        .find(|p| p["status"] == "active")
        .context("no active demo product")?;
    let subscribe = |http: &mut Http| {
        call(
            http,
            token,
            "POST",
            &format!("/v1/channels/{CHANNEL}/subscriptions"),
            &json!({"url": url, "format": "json", "reseller": "bench-shop"}),
        )
    };
    let put = |http: &mut Http, sku: &str| {
        call(
            http,
            token,
            "PUT",
            &format!("/v1/products/{sku}"),
            &product(&template, sku),
        )
    };
    let limit = std::time::Duration::from_secs(60);

    // --- edit to delivery, one subscription.
    subscribe(&mut http)?;
    // Warm-up: connections, caches, the first claim.
    put(&mut http, "WH-WARM")?;
    arrivals.wait("WH-WARM", 1, limit)?;
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut max = Vec::new();
    for run in 0..runs {
        log(format!(
            "{b}: webhooks, {EDITS} edits to delivery, run {}",
            run + 1
        ));
        let mut latencies = Vec::with_capacity(EDITS);
        for i in 0..EDITS {
            let sku = format!("WH-{run}-{i:04}");
            let t0 = Instant::now();
            put(&mut http, &sku)?;
            let at = arrivals.wait(&sku, 1, limit)?;
            latencies.push(at.duration_since(t0).as_secs_f64() * 1000.0);
        }
        latencies.sort_by(f64::total_cmp);
        p50.push(percentile(&latencies, 50.0));
        p99.push(percentile(&latencies, 99.0));
        max.push(*latencies.last().unwrap_or(&0.0));
    }
    let t = tables.get("7-webhooks", "webhooks");
    t.add(
        b,
        &format!("vendor edit -> delivered webhook, p50 of {EDITS}"),
        "ms",
        p50,
    );
    t.add(
        b,
        &format!("vendor edit -> delivered webhook, p99 of {EDITS}"),
        "ms",
        p99,
    );
    t.add(
        b,
        &format!("vendor edit -> delivered webhook, max of {EDITS}"),
        "ms",
        max,
    );

    // --- fan-out: 1,000 subscriptions (the first one included).
    log(format!("{b}: webhooks, creating {FAN_OUT} subscriptions"));
    for _ in 1..FAN_OUT {
        subscribe(&mut http)?;
    }
    let mut times = Vec::new();
    let mut floor = Vec::new();
    for run in 0..runs {
        log(format!(
            "{b}: webhooks, one edit to {FAN_OUT} subscriptions, run {}",
            run + 1
        ));
        let sku = format!("WH-FAN-{run}");
        let t0 = Instant::now();
        put(&mut http, &sku)?;
        let at = arrivals.wait(&sku, FAN_OUT, limit)?;
        times.push(at.duration_since(t0).as_secs_f64() * 1000.0);
        let sample = arrivals
            .sample
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .context("no webhook received")?;
        floor.push(post_directly(&url, &sample, run, &arrivals, limit)?);
    }
    let ratio: Vec<f64> = times.iter().zip(&floor).map(|(t, f)| t / f).collect();
    t.add(
        b,
        &format!("one edit -> received by all of {FAN_OUT} subscriptions"),
        "ms",
        times,
    );
    t.add(
        b,
        &format!(
            "reference: {FAN_OUT} signed POSTs of that body straight to the receiver, \
             {DIRECT_AT_ONCE} at a time"
        ),
        "ms",
        floor,
    );
    t.add(b, "fan-out partnerfeed/reference (time)", "ratio", ratio);
    t.note(
        "Webhooks: real server with its background jobs, receiver in the same process on \
         127.0.0.1 answering 204; latency from just before the PUT to the receiver holding the \
         body. The fan-out's reference sends the body partnerfeed delivered (its subscription \
         and SKU renamed) to the same receiver from the bench, signed the same way, without \
         any database: the transport's floor in the same run.",
    );
    actix_web::rt::System::new().block_on(receiver.stop(true));
    server.stop();
    Ok(())
}

/// Requests the fan-out's reference keeps in flight (the delivery worker's own limit).
const DIRECT_AT_ONCE: usize = 256;

/// The fan-out's reference: `FAN_OUT` signed POSTs of `sample` (each under its own
/// subscription id, with the SKU `REF-<run>`) straight to `url`, `DIRECT_AT_ONCE` at a time;
/// milliseconds until the receiver holds all of them.
fn post_directly(
    url: &str,
    sample: &[u8],
    run: usize,
    arrivals: &Arrivals,
    limit: std::time::Duration,
) -> anyhow::Result<f64> {
    use futures_util::StreamExt;
    let template: Value = serde_json::from_slice(sample)?;
    let sku = format!("REF-{run}");
    let bodies: Vec<(String, Vec<u8>)> = (0..FAN_OUT)
        .map(|i| {
            let mut v = template.clone();
            let id = format!("msg_ref_{run}_{i}");
            v["subscription"] = json!(format!("ref-{i}"));
            if let Some(changes) = v["changes"].as_array_mut() {
                for change in changes {
                    change["sku"] = json!(sku);
                }
            }
            (id, v.to_string().into_bytes())
        })
        .collect();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = reqwest::Client::new();
    let t0 = Instant::now();
    let sent: anyhow::Result<()> = rt.block_on(async {
        let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(bodies)
            .map(|(id, body)| {
                let client = client.clone();
                let url = url.to_string();
                async move {
                    let ts = chrono::Utc::now().timestamp();
                    let signature =
                        partnerfeed::webhooks::signing::signature_header(&[secret], &id, ts, &body)
                            .map_err(|e| anyhow::anyhow!("{e}"))?;
                    let r = client
                        .post(url)
                        .header("webhook-id", id)
                        .header("webhook-timestamp", ts.to_string())
                        .header("webhook-signature", signature)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    anyhow::ensure!(r.status().is_success(), "receiver answered {}", r.status());
                    Ok(())
                }
            })
            .buffer_unordered(DIRECT_AT_ONCE)
            .collect()
            .await;
        results.into_iter().collect()
    });
    sent?;
    let at = arrivals.wait(&sku, FAN_OUT, limit)?;
    Ok(at.duration_since(t0).as_secs_f64() * 1000.0)
}
