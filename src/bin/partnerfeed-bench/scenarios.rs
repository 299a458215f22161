//! The scenarios: everything for one backend, the main measurements (import, edits, feeds,
//! changes, conditional requests) and the delta generator.

#[allow(unused_imports)]
use super::*;

/// Everything for one backend.
pub(crate) fn bench_backend(
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
    if wants(ctx, "bulk") {
        crate::bulk::bench(ctx, kind, tables)?;
    }
    if wants(ctx, "webhooks") {
        webhooks::bench(ctx, kind, tables)?;
    }
    Ok(())
}

pub(crate) fn bench_main(
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
        feed_in_process(db, b, channel, live, runs, tables)?;
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
        references::copy(ctx, db, &bdb.url, &bdb.dir, addr, channel, live, tables)?;
    }
    if wants(ctx, "dump-diff") {
        references::dump_diff(ctx, kind, addr, channel, catalog.count, tables)?;
    }
    drop(child);
    Ok(())
}

/// Where a first download's time goes, in this process on the bench's database: reading the
/// live records alone (the store's page query, in one snapshot, as the feed reads them), then
/// reading and rendering the JSON feed into `io::sink` (no spool, no socket).
fn feed_in_process(
    db: &Db,
    b: &str,
    channel: &str,
    live: u64,
    runs: usize,
    tables: &mut Tables,
) -> anyhow::Result<()> {
    use partnerfeed::feeds::Format;
    use partnerfeed::service::pull;
    use partnerfeed::store::{self, channel_records, channels};
    let mut conn = db.read_conn()?;
    let id = channels::get(&mut conn, channel)?
        .context("the bench channel")?
        .id;
    let mut read = Vec::new();
    let mut rendered = Vec::new();
    for run in 0..runs {
        log(format!("{b}: feed in process, run {}", run + 1));
        let t0 = Instant::now();
        let rows = store::snapshot(&mut conn, |c| -> anyhow::Result<u64> {
            let (mut after, mut rows) = (String::new(), 0u64);
            loop {
                let page = channel_records::live_page(c, id, &after, 1000)?;
                rows += page.len() as u64;
                match page.last() {
                    Some(last) if page.len() == 1000 => after = last.sku.to_string(),
                    _ => return Ok(rows),
                }
            }
        })?;
        read.push(rows as f64 / t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        store::snapshot(&mut conn, |c| -> anyhow::Result<()> {
            pull::write_feed(
                c,
                id,
                Format::Json,
                b"bench",
                |_, _| {},
                std::io::sink(),
                |_| {},
            )?;
            Ok(())
        })?;
        rendered.push(live as f64 / t0.elapsed().as_secs_f64());
    }
    let t = tables.get("3-feed", "feed (GET /v1/channels/eu-marketplace/feed)");
    t.add(
        b,
        "read the live records only (in process, 1,000 a page)",
        "products/s",
        read,
    );
    t.add(
        b,
        "json read and rendered into a counter (in process, no spool, no socket)",
        "products/s",
        rendered,
    );
    Ok(())
}

pub(crate) fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Bytes the database holds: on SQLite its pages in use (the WAL's committed pages included),
/// on PostgreSQL `pg_database_size`.
fn stored_bytes(db: &Db) -> anyhow::Result<f64> {
    use diesel::RunQueryDsl;
    use partnerfeed::store::DbConnection;
    let mut conn = db.write_conn()?;
    let size: Count = match &mut *conn {
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT (p.page_count - f.freelist_count) * s.page_size AS n \
             FROM pragma_page_count() AS p, pragma_freelist_count() AS f, pragma_page_size() AS s",
        )
        .get_result(c)?,
        DbConnection::Postgres(c) => {
            diesel::sql_query("SELECT pg_database_size(current_database()) AS n").get_result(c)?
        }
    };
    Ok(size.n as f64)
}

/// SQLite: copies the whole write-ahead log back into the database and empties it, waiting
/// for readers if need be. Nothing on PostgreSQL, whose own checkpointer decides.
fn settle_log(db: &Db) -> anyhow::Result<()> {
    use diesel::connection::SimpleConnection;
    use partnerfeed::store::DbConnection;
    if let DbConnection::Sqlite(c) = &mut *db.write_conn()? {
        c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")?;
    }
    Ok(())
}

/// Rows of `channel_records`: one per (channel, product) that a channel ever published.
fn channel_rows(db: &Db) -> anyhow::Result<f64> {
    use diesel::RunQueryDsl;
    let mut conn = db.read_conn()?;
    let rows: Count =
        diesel::sql_query("SELECT count(*) AS n FROM channel_records").get_result(&mut *conn)?;
    Ok(rows.n as f64)
}

/// Delta: 1,000 edits across 10 and 100 channels, at two catalog sizes.
pub(crate) fn bench_delta(ctx: &Ctx, kind: Kind, tables: &mut Tables) -> anyhow::Result<()> {
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
        let catalog_bytes = stored_bytes(&db)?;
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
            // What the channels' state costs on disk: the database's growth since the catalog
            // alone, per stored (channel, product) row (records, tombstones, their indexes).
            let (bytes, rows) = (stored_bytes(&db)? - catalog_bytes, channel_rows(&db)?);
            let per_row = bytes / rows.max(1.0);
            t.add(
                b,
                &format!("stored bytes per (channel, product), {channels} channels x {size}"),
                "bytes",
                vec![per_row],
            );
            t.add(
                b,
                &format!(
                    "projected: 1,000,000 products x 100 channels at that size \
                     ({channels} channels x {size})"
                ),
                "GB",
                vec![per_row * 1e8 / 1e9],
            );
            // With several generators (PostgreSQL), the same edits with one, as the reference.
            let workers = jobs::delta::workers(&db);
            let mut times = Vec::new();
            let mut one = Vec::new();
            let mut per = Vec::new();
            let mut changes = 0;
            for run in 0..runs {
                for w in if workers > 1 {
                    vec![1, workers]
                } else {
                    vec![1]
                } {
                    let tag = format!("delta {channels}-{run}-{w}");
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
                        "{b}: delta catalog of {size}, {channels} channels: drain of 1000 edits \
                         by {w} generator(s), run {}",
                        run + 1
                    ));
                    // Each burst starts from a settled database, as one that comes seconds
                    // after the last does: on SQLite, the log the previous burst left is
                    // copied back first (the server's checkpoint loop would do it meanwhile).
                    settle_log(&db)?;
                    let t0 = Instant::now();
                    let work = drain_by(&db, w)?;
                    let secs = t0.elapsed().as_secs_f64();
                    if work.events != edits.len() {
                        bail!("expected {} events, drained {}", edits.len(), work.events);
                    }
                    changes = work.changes;
                    if w == workers {
                        times.push(secs * 1000.0);
                        per.push(secs * 1e6 / (edits.len() * channels) as f64);
                    } else {
                        one.push(secs * 1000.0);
                    }
                }
            }
            t.add(
                b,
                &format!(
                    "1,000 edits x {channels} channels, catalog {size} (~{changes} channel changes)"
                ),
                "ms",
                times.clone(),
            );
            t.add(
                b,
                &format!("per edit x channel, {channels} channels, catalog {size}"),
                "us",
                per,
            );
            t.note(
                "1,000 edits: one batch request of 1,000 products (the server, in this process, \
                 stores them with its generator off), then the generator drains their events in \
                 this process while the server's checkpoint loop runs; timed from the first step \
                 to the last. Each run starts from a settled database: on SQLite the log left by \
                 the run before is copied back and emptied first.",
            );
            if workers > 1 {
                t.add(
                    b,
                    &format!("1,000 edits x {channels} channels, catalog {size}, one generator"),
                    "ms",
                    one.clone(),
                );
                t.add(
                    b,
                    &format!(
                        "one generator / {workers} generators, 1,000 edits x {channels} channels"
                    ),
                    "ratio",
                    one.iter().zip(&times).map(|(o, t)| o / t).collect(),
                );
            }
        }
        server.stop();
    }
    Ok(())
}
