//! What a vendor would use instead, measured in the same run on the same data, so that every
//! partnerfeed figure is also a ratio:
//!
//! - `http-load`: full-feed and 304 requests per second under wrk with 2, 16 and 64
//!   connections, for partnerfeed and for nginx serving the same feed bytes as a static file.
//! - `copy`: PostgreSQL `COPY (SELECT ...) TO STDOUT (FORMAT csv)` of the channel's records,
//!   against partnerfeed's CSV feed from the same database.
//! - `dump-diff`: regenerating the whole feed and diffing it with the previous dump to find
//!   what 1,000 edits changed, against partnerfeed's delta for the same edits.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::{
    auth, clear_feed_cache, edited, expect_ok, log, post_batch, sample, which, Ctx, Http, Kind,
    Response, Tables,
};

/// Connection counts of the load runs.
const CONNECTIONS: [u32; 3] = [2, 16, 64];

/// nginx serving one directory on a loopback port, stopped on drop.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Nginx {
    fn start(exe: &Path, root: &Path, work: &Path) -> anyhow::Result<Nginx> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let dir = work.join(format!("pf-bench-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("logs"))?;
        let conf = dir.join("nginx.conf");
        // Two workers for two cores; sendfile and keep-alive as a production static setup.
        std::fs::write(
            &conf,
            format!(
                "daemon off;\nmaster_process on;\nworker_processes 2;\nuser root;\n\
                 error_log {logs}/error.log warn;\npid {logs}/nginx.pid;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n\
                 keepalive_requests 1000000;\n  default_type application/json;\n\
                 server {{\n    listen 127.0.0.1:{port};\n    root {root};\n    etag on;\n  }}\n}}\n",
                logs = dir.join("logs").display(),
                root = root.display(),
            ),
        )?;
        let child = Command::new(exe)
            .args([
                "-p",
                &dir.display().to_string(),
                "-c",
                &conf.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let mut nginx = Nginx { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Ok(nginx);
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                bail!("nginx exited: {status}; see {}", nginx.dir.display());
            }
            if Instant::now() > deadline {
                bail!("nginx did not listen on {addr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Requests per second from one wrk run; fails on any non-2xx/3xx answer or socket error.
fn wrk(ctx: &Ctx, connections: u32, url: &str, headers: &[(&str, &str)]) -> anyhow::Result<f64> {
    let exe = which("wrk").context("wrk is not installed (apt-get install -y wrk)")?;
    let threads = connections.min(2);
    let mut cmd = Command::new(exe);
    cmd.arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", ctx.args.wrk_seconds))
        .arg("--timeout")
        .arg("60s");
    for (name, value) in headers {
        cmd.arg("-H").arg(format!("{name}: {value}"));
    }
    let out = cmd.arg(url).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx or 3xx") || text.contains("Socket errors") {
        bail!("wrk saw errors against {url}:\n{text}");
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("cannot read wrk output:\n{text}"))
}

/// Full-feed and 304 requests per second, partnerfeed against nginx serving the same bytes.
pub fn http_load(
    ctx: &Ctx,
    kind: Kind,
    addr: SocketAddr,
    channel: &str,
    tables: &mut Tables,
) -> anyhow::Result<()> {
    let b = kind.name();
    let token = ctx.token.as_str();
    let path = format!("/v1/channels/{channel}/feed?format=json");
    let mut http = Http::new(addr);
    let root = ctx
        .work_dir
        .join(format!("pf-bench-static-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let (bytes, etag) = download(&mut http, token, &path, &root.join("feed.json"))?;

    let nginx_exe = which("nginx")
        .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.exists()))
        .context("nginx is not installed (apt-get install -y nginx-light)")?;
    let nginx = Nginx::start(&nginx_exe, &root, &ctx.work_dir)?;
    let mut nhttp = Http::new(nginx.addr);
    let head = nhttp.send("GET", "/feed.json", &[], b"", false)?;
    expect_ok(&head, "nginx feed")?;
    if head.body_len != bytes {
        bail!("nginx served {} bytes, not {bytes}", head.body_len);
    }
    let nginx_etag = head
        .header("ETag")
        .context("nginx without ETag")?
        .to_string();

    let pf_url = format!("http://{addr}{path}");
    let nginx_url = format!("http://{}/feed.json", nginx.addr);
    let bearer = format!("Bearer {token}");
    let runs = ctx.args.runs.max(1);
    let t = tables.get(
        "6-http-load",
        "http-load (wrk; partnerfeed against nginx serving the same feed bytes)",
    );
    for connections in CONNECTIONS {
        let mut rows: Vec<(&str, Vec<f64>)> = vec![
            ("partnerfeed full feed", Vec::new()),
            ("nginx static full feed", Vec::new()),
            ("partnerfeed 304", Vec::new()),
            ("nginx static 304", Vec::new()),
        ];
        for run in 0..runs {
            log(format!("{b}: wrk -c{connections}, run {}", run + 1));
            rows[0].1.push(wrk(
                ctx,
                connections,
                &pf_url,
                &[("Authorization", &bearer)],
            )?);
            rows[1].1.push(wrk(ctx, connections, &nginx_url, &[])?);
            rows[2].1.push(wrk(
                ctx,
                connections,
                &pf_url,
                &[("Authorization", &bearer), ("If-None-Match", &etag)],
            )?);
            rows[3].1.push(wrk(
                ctx,
                connections,
                &nginx_url,
                &[("If-None-Match", &nginx_etag)],
            )?);
        }
        let ratio =
            |a: &[f64], r: &[f64]| -> Vec<f64> { a.iter().zip(r).map(|(a, r)| a / r).collect() };
        let full_ratio = ratio(&rows[0].1, &rows[1].1);
        let nm_ratio = ratio(&rows[2].1, &rows[3].1);
        for (name, values) in rows {
            t.add(
                b,
                &format!("{name}, {connections} connections"),
                "requests/s",
                values,
            );
        }
        t.add(
            b,
            &format!("full feed partnerfeed/nginx, {connections} connections"),
            "ratio",
            full_ratio,
        );
        t.add(
            b,
            &format!("304 partnerfeed/nginx, {connections} connections"),
            "ratio",
            nm_ratio,
        );
    }
    t.note(format!(
        "{b}: feed of {:.1} MB (JSON, identity). wrk -t min(c,2) -c C -d{}s; nginx 1.22 with 2 \
         workers, sendfile, `etag on`, serving the bytes partnerfeed returned; the load \
         generator shares the 2 cores with the server. Ratios are per run, same data.",
        bytes as f64 / 1e6,
        ctx.args.wrk_seconds
    ));
    drop(nginx);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

/// Counts the bytes of a reader.
fn drain_count(mut r: impl Read) -> anyhow::Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

/// Fills `bench_copy_records (sku, hash, record jsonb)` with the channel's live records.
fn copy_table(db: &partnerfeed::store::Db, channel: &str) -> anyhow::Result<()> {
    use diesel::RunQueryDsl;
    use partnerfeed::store::{channel_records, channels};
    log(format!(
        "postgres: copying {channel}'s records into bench_copy_records"
    ));
    let mut conn = db.write_conn()?;
    let id = channels::get(&mut conn, channel)?
        .context("the bench channel")?
        .id;
    diesel::sql_query("DROP TABLE IF EXISTS bench_copy_records").execute(&mut *conn)?;
    diesel::sql_query(
        "CREATE TABLE bench_copy_records \
         (sku TEXT COLLATE \"C\" PRIMARY KEY, hash TEXT, record JSONB)",
    )
    .execute(&mut *conn)?;
    let quote = |t: &str| format!("'{}'", t.replace('\'', "''"));
    let mut after = String::new();
    loop {
        let page = channel_records::live_page(&mut conn, id, &after, 1000)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.sku.to_string();
        let values: Vec<String> = page
            .iter()
            .map(|r| format!("({}, {}, {})", quote(r.sku), quote(r.hash), quote(r.record)))
            .collect();
        diesel::sql_query(format!(
            "INSERT INTO bench_copy_records (sku, hash, record) VALUES {}",
            values.join(", ")
        ))
        .execute(&mut *conn)?;
    }
}

/// PostgreSQL's own CSV export of the channel's records against partnerfeed's CSV feed. The
/// records are stored compressed, which SQL cannot read: before the timing, they are copied as
/// `jsonb` into a table of their own (`bench_copy_records`), which `COPY` then exports.
#[allow(clippy::too_many_arguments)]
pub fn copy(
    ctx: &Ctx,
    db: &partnerfeed::store::Db,
    db_url: &str,
    data_dir: &Path,
    addr: SocketAddr,
    channel: &str,
    live: u64,
    tables: &mut Tables,
) -> anyhow::Result<()> {
    let psql = which("psql").context("psql is not installed")?;
    // The same columns as the CSV feed, taken from the stored records.
    let query = "COPY (SELECT sku, hash, r->>'gtin', r->>'status', r->>'brand', r->>'category', \
         r->>'title', r->>'description', r->>'attributes', r->>'media', \
         r->'price'->>'amount', r->'price'->>'currency', r->'price'->>'min_qty', \
         r->>'price_tiers', r->'dimensions'->>'length', r->'dimensions'->>'width', \
         r->'dimensions'->>'height', r->'dimensions'->>'unit', r->'weight'->>'net', \
         r->'weight'->>'gross', r->'weight'->>'unit', r->>'packaging' \
         FROM (SELECT sku, hash, record AS r FROM bench_copy_records ORDER BY sku) t) \
         TO STDOUT (FORMAT csv, HEADER)";
    copy_table(db, channel)?;
    let runs = ctx.args.runs.max(1);
    let mut copy_rate = Vec::new();
    let mut copy_mb = Vec::new();
    let mut pf_rate = Vec::new();
    let mut pf_mb = Vec::new();
    let mut ratio = Vec::new();
    let mut http = Http::new(addr);
    for run in 0..runs {
        log(format!(
            "postgres: COPY ... TO STDOUT (FORMAT csv), run {}",
            run + 1
        ));
        let t0 = Instant::now();
        let mut child = Command::new(&psql)
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                db_url,
                "-c",
                query,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let bytes = drain_count(child.stdout.take().context("psql stdout")?)?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("psql COPY failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let dt = t0.elapsed().as_secs_f64();
        copy_rate.push(live as f64 / dt);
        copy_mb.push(bytes as f64 / dt / 1e6);

        log(format!("postgres: CSV feed, run {}", run + 1));
        clear_feed_cache(data_dir)?;
        let t0 = Instant::now();
        let r = http.send(
            "GET",
            &format!("/v1/channels/{channel}/feed?format=csv"),
            &[("Authorization", &auth(&ctx.token))],
            b"",
            false,
        )?;
        expect_ok(&r, "csv feed")?;
        let pf = t0.elapsed().as_secs_f64();
        pf_rate.push(live as f64 / pf);
        pf_mb.push(r.body_len as f64 / pf / 1e6);
        ratio.push(dt / pf);
    }
    let t = tables.get(
        "8-copy",
        "copy (PostgreSQL COPY ... TO STDOUT (FORMAT csv) against the CSV feed)",
    );
    t.add(
        "postgres",
        "COPY of the records' CSV columns, psql to a pipe",
        "products/s",
        copy_rate,
    );
    t.add("postgres", "COPY wire", "MB/s", copy_mb);
    t.add(
        "postgres",
        "partnerfeed CSV feed, to the socket",
        "products/s",
        pf_rate,
    );
    t.add("postgres", "partnerfeed CSV feed wire", "MB/s", pf_mb);
    t.add("postgres", "partnerfeed speed / COPY speed", "ratio", ratio);
    t.note(format!(
        "{live} live records. COPY selects the CSV feed's columns from the stored JSON records \
         (`record::jsonb ->> ...`) in SKU order; psql writes to a pipe the bench reads and \
         discards; partnerfeed's CSV feed adds formula-injection guards and RFC 4180 quoting."
    ));
    Ok(())
}

/// Streams `path` of the server into `file`; returns its bytes and ETag.
pub(crate) fn download(
    http: &mut Http,
    token: &str,
    path: &str,
    file: &Path,
) -> anyhow::Result<(u64, String)> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(file)?);
    let r = http.send_to("GET", path, &[("Authorization", &auth(token))], &mut out)?;
    if r.status != 200 {
        bail!("{path}: status {}", r.status);
    }
    out.flush()?;
    let etag = r.header("ETag").context("feed without ETag")?.to_string();
    Ok((r.body_len, etag))
}

/// SKU of an NDJSON feed line (`{"sku":"...","hash":...`).
pub(crate) fn sku_of(line: &str) -> anyhow::Result<&str> {
    line.strip_prefix("{\"sku\":\"")
        .and_then(|rest| rest.split('"').next())
        .with_context(|| format!("unexpected feed line: {}", &line[..line.len().min(80)]))
}

/// The SKUs whose lines differ between two SKU-ordered NDJSON dumps (a merge join).
pub(crate) fn diff_dumps(old: &Path, new: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut a = BufReader::with_capacity(1 << 20, File::open(old)?).lines();
    let mut b = BufReader::with_capacity(1 << 20, File::open(new)?).lines();
    let mut changed = BTreeSet::new();
    let (mut x, mut y) = (a.next().transpose()?, b.next().transpose()?);
    loop {
        match (&x, &y) {
            (None, None) => return Ok(changed),
            (Some(l), None) => {
                changed.insert(sku_of(l)?.to_string());
                x = a.next().transpose()?;
            }
            (None, Some(r)) => {
                changed.insert(sku_of(r)?.to_string());
                y = b.next().transpose()?;
            }
            (Some(l), Some(r)) => {
                let (ls, rs) = (sku_of(l)?, sku_of(r)?);
                match ls.cmp(rs) {
                    std::cmp::Ordering::Less => {
                        changed.insert(ls.to_string());
                        x = a.next().transpose()?;
                    }
                    std::cmp::Ordering::Greater => {
                        changed.insert(rs.to_string());
                        y = b.next().transpose()?;
                    }
                    std::cmp::Ordering::Equal => {
                        if l != r {
                            changed.insert(ls.to_string());
                        }
                        x = a.next().transpose()?;
                        y = b.next().transpose()?;
                    }
                }
            }
        }
    }
}

/// One page of changes (NDJSON, at most 1,000) after `cursor`, which it moves to the page's
/// `next`; returns the page and whether more follow.
pub(crate) fn changes_page(
    http: &mut Http,
    token: &str,
    channel: &str,
    cursor: &mut String,
) -> anyhow::Result<(Response, bool)> {
    let r = http.send(
        "GET",
        &format!("/v1/channels/{channel}/changes?format=ndjson&limit=1000&since={cursor}"),
        &[("Authorization", &auth(token))],
        b"",
        true,
    )?;
    expect_ok(&r, "changes")?;
    *cursor = r
        .header("Changes-Next")
        .context("no Changes-Next")?
        .to_string();
    let more = r.header("Changes-Has-More") == Some("true");
    Ok((r, more))
}

/// Follows change pages from `since` to the end; returns the changed SKUs and the new cursor.
pub(crate) fn changes_since(
    http: &mut Http,
    token: &str,
    channel: &str,
    since: &str,
) -> anyhow::Result<(BTreeSet<String>, String)> {
    let mut skus = BTreeSet::new();
    let mut cursor = since.to_string();
    loop {
        let (r, more) = changes_page(http, token, channel, &mut cursor)?;
        for line in r.body.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_slice(line)?;
            skus.insert(v["sku"].as_str().context("change without sku")?.to_string());
        }
        if !more {
            return Ok((skus, cursor));
        }
    }
}

/// Dump and diff against the delta, for the same 1,000 edits per run.
pub fn dump_diff(
    ctx: &Ctx,
    kind: Kind,
    addr: SocketAddr,
    channel: &str,
    catalog_count: usize,
    tables: &mut Tables,
) -> anyhow::Result<()> {
    let b = kind.name();
    let token = ctx.token.as_str();
    let mut http = Http::new(addr);
    let feed_path = format!("/v1/channels/{channel}/feed?format=ndjson");
    let dir = ctx
        .work_dir
        .join(format!("pf-bench-dumps-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut previous = dir.join("dump-0.ndjson");
    log(format!("{b}: first dump of {channel}"));
    download(&mut http, token, &feed_path, &previous)?;
    let mut cursor = {
        let r = http.send(
            "GET",
            &feed_path,
            &[("Authorization", &auth(token))],
            b"",
            false,
        )?;
        r.header("Feed-Cursor")
            .context("feed without Feed-Cursor")?
            .to_string()
    };
    let edits = sample(catalog_count, 1000);
    let runs = ctx.args.runs.max(1);
    let (mut dd, mut regen, mut diff, mut delta, mut ratio) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut seen = 0;
    for run in 0..runs {
        let lines: Vec<u8> = edits
            .iter()
            .enumerate()
            .flat_map(|(k, p)| {
                let mut line = edited(p, &format!("dump-diff {run}-{k}"))
                    .to_string()
                    .into_bytes();
                line.push(b'\n');
                line
            })
            .collect();
        log(format!(
            "{b}: 1,000 edits, delta against dump and diff, run {}",
            run + 1
        ));
        let r = post_batch(&mut http, token, &lines)?;
        if r["failed"].as_u64() != Some(0) {
            bail!("batch failures: {}", r["failed"]);
        }
        // partnerfeed: from the accepted edits to a follower holding every change.
        let t0 = Instant::now();
        let expected = edits
            .iter()
            .filter_map(|p| p["sku"].as_str())
            .collect::<BTreeSet<_>>();
        let (changed, next) = loop {
            let (skus, next) = changes_since(&mut http, token, channel, &cursor)?;
            // The channel may carry only some of the edited products; the job is done when
            // the changes stop growing and cover what the dump will show, checked below.
            if !skus.is_empty() && skus.iter().all(|s| expected.contains(s.as_str())) {
                let settle = changes_since(&mut http, token, channel, &next)?;
                if settle.0.is_empty() {
                    break (skus, next);
                }
            }
            if t0.elapsed() > Duration::from_secs(600) {
                bail!("the delta did not arrive");
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let dt_delta = t0.elapsed().as_secs_f64();

        // Dump and diff: regenerate the whole feed, compare with the previous dump.
        let next_dump = dir.join(format!("dump-{}.ndjson", run + 1));
        let t0 = Instant::now();
        download(&mut http, token, &feed_path, &next_dump)?;
        let t_regen = t0.elapsed().as_secs_f64();
        let found = diff_dumps(&previous, &next_dump)?;
        let t_all = t0.elapsed().as_secs_f64();
        if found != changed {
            bail!(
                "dump and diff found {} changed products, the delta {}",
                found.len(),
                changed.len()
            );
        }
        seen = found.len();
        std::fs::remove_file(&previous)?;
        previous = next_dump;
        cursor = next;
        dd.push(t_all * 1000.0);
        regen.push(t_regen * 1000.0);
        diff.push((t_all - t_regen) * 1000.0);
        delta.push(dt_delta * 1000.0);
        ratio.push(t_all / dt_delta);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let t = tables.get(
        "9-dump-diff",
        "dump-diff (find what 1,000 edits changed: dump and diff against the delta)",
    );
    t.add(
        b,
        "dump and diff: regenerate the NDJSON feed + merge-join diff",
        "ms",
        dd,
    );
    t.add(b, "  of which regenerate", "ms", regen);
    t.add(b, "  of which diff", "ms", diff);
    t.add(
        b,
        "partnerfeed: accepted edits to a follower holding every change",
        "ms",
        delta,
    );
    t.add(b, "dump and diff / partnerfeed", "ratio", ratio);
    t.note(format!(
        "{b}: {catalog_count} products; 1,000 edits per run in one batch request, of which \
         {seen} land in the channel. partnerfeed's time runs from the batch's answer until \
         change pages (NDJSON, 1,000 per page) polled every 2 ms hold every changed product; \
         it includes the delta generator. Both sides find the same set of products (checked)."
    ));
    Ok(())
}
