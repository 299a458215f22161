//! `bulk`: a change to 1 %, 10 % and 100 % of the catalog, published to C channels, against
//! dump and diff of the same channels in the same run; and, during the largest change, single
//! edits elsewhere timed until a follower holds them (head-of-line blocking).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::references::{changes_page, changes_since, diff_dumps, sku_of};
use crate::{
    auth, bench_channel, edited, expect_ok, import_into, log, ndjson_of, percentile, post_batch,
    put_channel, write_catalog, BenchDb, Ctx, Http, Kind, Server, Tables,
};

const TITLE: &str = "bulk (a change to part of the catalog, published to every channel)";
/// Lines per batch request.
const BATCH_LINES: usize = 10_000;
/// The SKU of the product the head-of-line probe edits; no bulk change touches it.
const PROBE: &str = "HOL-PROBE";
/// Single edits timed during the largest bulk change.
const PROBE_EDITS: usize = 100;

/// A channel as its follower and its dump-and-diff job see it.
struct Followed {
    code: String,
    /// The follower's cursor.
    cursor: String,
    /// The SKUs of its last dump, and the dump's file.
    skus: BTreeSet<String>,
    dump: PathBuf,
}

/// Streams the channel's NDJSON feed into `file`; returns its cursor and SKUs.
fn dump(
    http: &mut Http,
    token: &str,
    channel: &str,
    file: &Path,
) -> anyhow::Result<(String, BTreeSet<String>)> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(file)?);
    let path = format!("/v1/channels/{channel}/feed?format=ndjson");
    let r = http.send_to("GET", &path, &[("Authorization", &auth(token))], &mut out)?;
    if r.status != 200 {
        bail!("{path}: status {}", r.status);
    }
    out.flush()?;
    drop(out);
    let cursor = r
        .header("Feed-Cursor")
        .context("feed without Feed-Cursor")?
        .to_string();
    let text = std::fs::read_to_string(file)?;
    let skus = text
        .lines()
        .map(|l| sku_of(l).map(str::to_string))
        .collect::<anyhow::Result<_>>()?;
    Ok((cursor, skus))
}

pub(crate) fn bench(ctx: &Ctx, kind: Kind, tables: &mut Tables) -> anyhow::Result<()> {
    let b = kind.name();
    let token = ctx.token.as_str();
    let size = ctx.args.bulk_size.unwrap_or(ctx.args.scale);
    let catalog = write_catalog(&ctx.work_dir, size)?;
    let bdb = BenchDb::create(kind, ctx)?;
    let db = bdb.open()?;
    log(format!("{b}: bulk catalog of {size}: importing"));
    import_into(&db, &catalog)?;
    let _ = std::fs::remove_file(&catalog.path);
    let products: Vec<Value> = partnerfeed::demo::products(size).collect();
    let dir = ctx
        .work_dir
        .join(format!("pf-bench-bulk-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // The generator runs in the server, as in production.
    let server = Server::start(&bdb, &db, token, true)?;
    let mut http = Http::new(server.addr);
    let mut probe: Option<Value> = None;
    let mut channels: Vec<Followed> = Vec::new();
    let mut round = 0;
    let result = (|| -> anyhow::Result<()> {
        for &count in &ctx.args.bulk_channels {
            log(format!("{b}: bulk: creating channels up to {count}"));
            let made = channels.len();
            let t0 = Instant::now();
            for i in made..count {
                let code = format!("bulk-{i:03}");
                put_channel(&mut http, token, &code, &bench_channel(i))?;
                channels.push(Followed {
                    code,
                    cursor: String::new(),
                    skus: BTreeSet::new(),
                    dump: dir.join(format!("bulk-{i:03}.ndjson")),
                });
            }
            // Until the server's generator has re-evaluated the catalog for every new channel.
            wait_until_published(&db)?;
            let secs = t0.elapsed().as_secs_f64();
            tables.get("4b-bulk", TITLE).add(
                b,
                &format!(
                    "channel creation: {} new channels x {size} products",
                    count - made
                ),
                "products/s",
                vec![((count - made) * size) as f64 / secs],
            );
            for c in channels.iter_mut() {
                (c.cursor, c.skus) = dump(&mut http, token, &c.code, &c.dump)?;
            }
            if probe.is_none() {
                // The probe: a copy of a product of the first channel under its own SKU.
                let source = products
                    .iter()
                    .find(|p| {
                        p["sku"]
                            .as_str()
                            .is_some_and(|s| channels[0].skus.contains(s))
                    })
                    .context("the first channel is empty")?;
                let mut p = source.clone();
                p["sku"] = Value::String(PROBE.into());
                post_batch(&mut http, token, &ndjson_of(std::iter::once(&p)))?;
                probe = Some(p);
            }
            let probe = probe.as_ref().context("no probe")?;
            for &percent in &ctx.args.bulk_percents {
                round += 1;
                let n = (size * percent / 100).max(1);
                let mut publish = Vec::new();
                let mut storing = Vec::new();
                let mut dump_diff = Vec::new();
                let mut ratios = Vec::new();
                let mut hol = Vec::new();
                for run in 0..ctx.args.runs.max(1) {
                    let tag = format!("bulk {round}-{run}");
                    let step = (size / n).max(1);
                    let edits: Vec<Value> = products
                        .iter()
                        .step_by(step)
                        .take(n)
                        .map(|p| edited(p, &tag))
                        .collect();
                    let edited_skus: BTreeSet<String> = edits
                        .iter()
                        .filter_map(|p| p["sku"].as_str())
                        .map(str::to_string)
                        .collect();
                    log(format!(
                        "{b}: bulk {percent}% of {size} ({n} products), {count} channels, run {}",
                        run + 1
                    ));
                    let probing = percent == *ctx.args.bulk_percents.iter().max().unwrap_or(&100);
                    let t0 = Instant::now();
                    for chunk in edits.chunks(BATCH_LINES) {
                        let r = post_batch(&mut http, token, &ndjson_of(chunk.iter()))?;
                        if r["failed"].as_u64() != Some(0) {
                            bail!("bulk batch failures: {}", r["failed"]);
                        }
                    }
                    let stored = t0.elapsed();
                    // The probe starts once the bulk change is stored: what it measures is
                    // publishing, not the vendor's own batch requests holding the writer.
                    let stop = Arc::new(AtomicBool::new(false));
                    let prober = probing.then(|| {
                        let (addr, token, probe, stop) =
                            (server.addr, token.to_string(), probe.clone(), stop.clone());
                        let channel = channels[0].code.clone();
                        std::thread::spawn(move || {
                            probe_edits(addr, &token, &channel, &probe, &stop, &tag)
                        })
                    });
                    // Every follower reads until it holds every change of its channel.
                    let mut pending: BTreeMap<usize, BTreeSet<String>> = channels
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (i, c.skus.intersection(&edited_skus).cloned().collect()))
                        .collect();
                    while !pending.is_empty() {
                        for (i, c) in channels.iter_mut().enumerate() {
                            let Some(wanted) = pending.get_mut(&i) else {
                                continue;
                            };
                            let (seen, next) = changes_since(&mut http, token, &c.code, &c.cursor)?;
                            c.cursor = next;
                            for sku in &seen {
                                wanted.remove(sku);
                            }
                            if wanted.is_empty() {
                                pending.remove(&i);
                            }
                        }
                        if t0.elapsed() > Duration::from_secs(3600) {
                            bail!("the bulk change did not arrive within an hour");
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    let published = t0.elapsed();
                    stop.store(true, Ordering::SeqCst);
                    if let Some(p) = prober {
                        let mut latencies =
                            p.join().map_err(|_| anyhow::anyhow!("probe panicked"))??;
                        latencies.sort_by(f64::total_cmp);
                        if !latencies.is_empty() {
                            hol.push((percentile(&latencies, 99.0), latencies.len()));
                        }
                    }
                    // Dump and diff: regenerate every channel's feed and diff it with the last.
                    let t1 = Instant::now();
                    for c in channels.iter_mut() {
                        let next = c.dump.with_extension("next");
                        let (_, skus) = dump(&mut http, token, &c.code, &next)?;
                        let mut found = diff_dumps(&c.dump, &next)?;
                        found.remove(PROBE);
                        let expected: BTreeSet<String> =
                            c.skus.intersection(&edited_skus).cloned().collect();
                        if found != expected {
                            bail!(
                                "{}: dump and diff found {} changed products, {} expected",
                                c.code,
                                found.len(),
                                expected.len()
                            );
                        }
                        std::fs::rename(&next, &c.dump)?;
                        c.skus = skus;
                    }
                    let diffed = t1.elapsed();
                    log(format!(
                        "{b}: bulk {percent}%, {count} channels: stored in {:.1?}, published in \
                         {:.1?}, dump and diff {:.1?}",
                        stored, published, diffed
                    ));
                    publish.push(published.as_secs_f64() * 1000.0);
                    storing.push(stored.as_secs_f64() * 1000.0);
                    dump_diff.push(diffed.as_secs_f64() * 1000.0);
                    ratios.push(diffed.as_secs_f64() / published.as_secs_f64());
                }
                let t = tables.get("4b-bulk", TITLE);
                t.add(
                    b,
                    &format!("bulk {percent}% changed, {count} channels"),
                    "ms",
                    publish,
                );
                t.add(
                    b,
                    &format!("of which storing the edits, {percent}% changed, {count} channels"),
                    "ms",
                    storing,
                );
                t.add(
                    b,
                    &format!("dump and diff {percent}% changed, {count} channels"),
                    "ms",
                    dump_diff,
                );
                t.add(
                    b,
                    &format!("dump and diff / partnerfeed, {percent}% changed, {count} channels"),
                    "ratio",
                    ratios,
                );
                if !hol.is_empty() {
                    let edits: usize = hol.iter().map(|(_, n)| n).sum::<usize>() / hol.len();
                    t.add(
                        b,
                        &format!(
                            "edit -> follower p99 during bulk, {percent}% changed, {count} \
                             channels (~{edits} edits a run)"
                        ),
                        "ms",
                        hol.into_iter().map(|(p, _)| p).collect(),
                    );
                }
            }
        }
        Ok(())
    })();
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    let t = tables.get("4b-bulk", TITLE);
    t.note(format!(
        "{b}: {size} products; channels of the documented mix (the demo channels as templates \
         with varied assortments and price adjustments). Each run edits the titles of N% of the \
         catalog, sent in {BATCH_LINES}-line batch requests while the server's generator runs. \
         partnerfeed's time runs from the first batch request until followers of every channel, \
         polling change pages (NDJSON, 1,000 per page) in turn, 2 ms apart, hold every change: it \
         includes storing the edits, which dump and diff does not have to do (the `of which \
         storing` row: until the last batch request was answered). Dump and diff \
         downloads every channel's NDJSON feed and merge-joins it with the previous dump; both \
         find the same products (checked). Once the largest change is stored, and until it is published, a probe edits one product \
         of the first channel at a time (a follower of that channel reads to its head, then the \
         PUT, then the follower polls every 2 ms until it holds the edit), up to {PROBE_EDITS} \
         edits."
    ));
    Ok(())
}

/// Waits, reading the database every 50 ms, until no channel is being re-evaluated and the
/// outbox is empty: the server's generator has published everything. (Every 5 ms, as runs
/// before 2026-12-07 did, the counting of a large outbox took a third of the two cores from
/// the server it waits for; counting it whole every 50 ms was still a tenth of the statements
/// PostgreSQL ran during a whole-catalog change, so it now only asks whether an event is left.)
fn wait_until_published(db: &partnerfeed::store::Db) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let mut conn = db.read_conn()?;
        let reevaluating = partnerfeed::store::channels::list(&mut conn, None)?
            .iter()
            .any(|c| c.reeval_after.is_some());
        let (backlog, _) = partnerfeed::store::outbox::backlog(&mut conn, Some(0))?;
        drop(conn);
        if !reevaluating && backlog == 0 {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("the generator did not finish within an hour");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Edits the probe product one PUT at a time until `stop`, each timed until a follower of
/// `channel` holds it; returns the latencies in ms.
fn probe_edits(
    addr: SocketAddr,
    token: &str,
    channel: &str,
    probe: &Value,
    stop: &AtomicBool,
    tag: &str,
) -> anyhow::Result<Vec<f64>> {
    let mut http = Http::new(addr);
    // The follower starts at the channel's head.
    let mut cursor = {
        let r = http.send(
            "GET",
            &format!("/v1/channels/{channel}/feed?format=ndjson"),
            &[("Authorization", &auth(token))],
            b"",
            false,
        )?;
        r.header("Feed-Cursor")
            .context("no Feed-Cursor")?
            .to_string()
    };
    let mut latencies = Vec::new();
    for k in 0..PROBE_EDITS {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let mark = format!("probe {tag} {k}");
        let body = edited(probe, &mark).to_string();
        // A follower that keeps up: it reads to the channel's head before the edit, so that the
        // time below is the edit's, not that of reading the bulk change published meanwhile.
        cursor = changes_since(&mut http, token, channel, &cursor)?.1;
        let t0 = Instant::now();
        let r = http.send(
            "PUT",
            &format!("/v1/products/{PROBE}"),
            &[
                ("Authorization", &auth(token)),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
            true,
        )?;
        expect_ok(&r, "probe PUT")?;
        'follow: loop {
            // The bulk change fills the channel's log too: read past it to the probe's edit.
            loop {
                let (r, more) = changes_page(&mut http, token, channel, &mut cursor)?;
                let found = r
                    .body
                    .split(|&c| c == b'\n')
                    .any(|line| std::str::from_utf8(line).is_ok_and(|l| l.contains(&mark)));
                if found {
                    break 'follow;
                }
                if !more {
                    break;
                }
            }
            if t0.elapsed() > Duration::from_secs(600) {
                bail!("the probe's edit did not arrive");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(latencies)
}
