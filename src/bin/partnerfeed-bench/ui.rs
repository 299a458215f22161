//! The `ui` scenario: every console and portal page at `--scale` products, timed as a browser
//! would load it (signed in through the sign-in form, the session cookie on every request, a
//! CSRF-checked form post), p50 and p99 of the server's time (`Server-Timing: app;dur=`) and
//! of the client's on loopback, against the 100 ms target. The references, measured in the
//! same run on the same database, are the walks and counts the pages did before they read kept
//! counters and background snapshots: `count(*)` of the catalog, each channel's live count, its
//! digest walk and one profile's feed report.

#[allow(unused_imports)]
use super::*;

use partnerfeed::service::{pull, snapshots};
use partnerfeed::store;

/// Requests per page and run.
const SAMPLES: usize = 40;
/// The page budget of issue 13.
const TARGET_MS: f64 = 100.0;

/// A signed-in browser: its session cookie and the CSRF token its pages carry.
struct Session {
    cookie: String,
    csrf: String,
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs in through the form, as a browser: `POST /sign-in` with `Origin`, then the home page
/// it redirects to, whose forms carry the CSRF token.
fn sign_in(http: &mut Http, token: &str) -> anyhow::Result<Session> {
    let origin = format!("http://{}", http.addr);
    let body = format!("token={}", form_encode(token));
    let r = http.send(
        "POST",
        "/sign-in",
        &[
            ("Origin", &origin),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
        true,
    )?;
    if r.status != 303 {
        bail!("sign-in answered {}", r.status);
    }
    let cookie = r
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .context("no session cookie")?
        .to_string();
    let home = r.header("location").context("no redirect")?.to_string();
    let page = http.send("GET", &home, &[("Cookie", &cookie)], b"", true)?;
    expect_ok(&page, "home page")?;
    let html = String::from_utf8_lossy(&page.body);
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("no CSRF token on the home page")?
        .to_string();
    Ok(Session { cookie, csrf })
}

/// `GET path` with the session: the page, and the server's time in ms.
fn get_page(http: &mut Http, s: &Session, path: &str) -> anyhow::Result<(String, f64)> {
    let r = http.send("GET", path, &[("Cookie", &s.cookie)], b"", true)?;
    expect_ok(&r, path)?;
    let server = server_ms(&r).with_context(|| format!("{path}: no Server-Timing"))?;
    Ok((String::from_utf8_lossy(&r.body).into_owned(), server))
}

fn server_ms(r: &Response) -> Option<f64> {
    r.header("server-timing")?
        .split(';')
        .find_map(|p| p.trim().strip_prefix("dur="))?
        .parse()
        .ok()
}

/// One page's samples: server and client times (ms).
#[derive(Default)]
struct Samples {
    server: Vec<f64>,
    client: Vec<f64>,
    bytes: usize,
}

fn time_page(http: &mut Http, s: &Session, path: &str) -> anyhow::Result<Samples> {
    // One warm-up request (statement caches, the page's first rendering).
    get_page(http, s, path)?;
    let mut out = Samples::default();
    for _ in 0..SAMPLES {
        let t0 = Instant::now();
        let (html, server) = get_page(http, s, path)?;
        out.client.push(t0.elapsed().as_secs_f64() * 1000.0);
        out.server.push(server);
        out.bytes = html.len();
    }
    Ok(out)
}

/// The first `href` in `html` starting with `prefix`, unescaped.
fn link(html: &str, prefix: &str) -> Option<String> {
    let at = html.find(&format!("href=\"{prefix}"))?;
    let rest = &html[at + 6..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

fn time_ms<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, f64)> {
    let t0 = Instant::now();
    let v = f()?;
    Ok((v, t0.elapsed().as_secs_f64() * 1000.0))
}

pub(crate) fn bench(
    ctx: &Ctx,
    kind: Kind,
    catalog: &Catalog,
    tables: &mut Tables,
) -> anyhow::Result<()> {
    let b = kind.name();
    let runs = ctx.args.runs.max(1);
    let bdb = BenchDb::create(kind, ctx)?;
    let db = bdb.open()?;
    log(format!("{b}: ui: importing {} products", catalog.count));
    let imported = import_into(&db, catalog)?;
    log(format!("{b}: ui: {imported}"));
    let mut config = config_for(&bdb, &ctx.token, false);
    config.webhooks.allow =
        partnerfeed::webhooks::AllowList::parse("127.0.0.0/8").expect("a valid CIDR");
    let server = Server::start_with(config, &db)?;
    let mut http = Http::new(server.addr);
    let token = ctx.token.as_str();
    let admin_auth = auth(token);

    // --- channels, a reseller granted the first one, its subscription with attempts.
    let channels = demo::channels();
    for (code, body) in &channels {
        put_channel(&mut http, token, code, body)?;
    }
    log(format!("{b}: ui: evaluating {} channels", channels.len()));
    let (work, reeval_ms) = time_ms(|| drain(&db))?;
    log(format!(
        "{b}: ui: {} records in {:.1} s",
        work.changes,
        reeval_ms / 1000.0
    ));
    let channel = channels[0].0.clone();
    let json_call = |http: &mut Http, auth: &str, method: &str, path: &str, body: &Value| {
        let r = http.send(
            method,
            path,
            &[
                ("Authorization", auth),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
            true,
        )?;
        expect_ok(&r, path)?;
        r.json()
    };
    let reseller = "bench-shop";
    json_call(
        &mut http,
        &admin_auth,
        "PUT",
        &format!("/v1/resellers/{reseller}"),
        &json!({"name": "Bench shop", "email": "it@bench-shop.example", "channels": [channel]}),
    )?;
    let issued = json_call(
        &mut http,
        &admin_auth,
        "POST",
        &format!("/v1/resellers/{reseller}/tokens"),
        &json!({"name": "portal"}),
    )?;
    let reseller_token = issued["token"].as_str().context("token")?.to_string();
    let reseller_auth = auth(&reseller_token);
    // Nothing listens on port 9: each test event is an attempt that failed to connect.
    let sub = json_call(
        &mut http,
        &reseller_auth,
        "POST",
        &format!("/v1/channels/{channel}/subscriptions"),
        &json!({"url": "http://127.0.0.1:9/hook", "format": "json"}),
    )?;
    let sub_id = sub["id"].as_str().context("subscription id")?.to_string();
    for _ in 0..5 {
        let _ = http.send(
            "POST",
            &format!("/v1/subscriptions/{sub_id}/test"),
            &[("Authorization", &reseller_auth)],
            b"",
            true,
        )?;
    }

    // --- a product with a history: five edits of its title.
    let product = sample(catalog.count, 7)
        .into_iter()
        .nth(3)
        .context("no sample product")?;
    let sku = product["sku"].as_str().context("sku")?.to_string();
    for k in 0..5 {
        json_call(
            &mut http,
            &admin_auth,
            "PUT",
            &format!("/v1/products/{sku}"),
            &edited(&product, &format!("ui {k}")),
        )?;
    }
    drain(&db)?;

    // --- the background snapshots (what the pages show instead of walking), timed.
    let mut ids = Vec::new();
    {
        let mut conn = db.read_conn()?;
        for ch in store::channels::list(&mut conn, None)? {
            ids.push((ch.id, ch.code));
        }
    }
    let t = tables.get(
        "9-ui-background",
        "ui: background work and the references (what the pages did before, same run)",
    );
    for (id, code) in &ids {
        log(format!("{b}: ui: snapshot of {code}"));
        let (_, ms) = time_ms(|| {
            let now = SystemClock.now();
            if !jobs::snapshots::refresh(&db, *id, "bench", now, Duration::from_secs(3600))? {
                bail!("the snapshot of {code} was not stored");
            }
            Ok(())
        })?;
        t.add(
            b,
            &format!("snapshot of {code} (live count, digest, readiness in every profile)"),
            "s",
            vec![ms / 1000.0],
        );
    }
    // References: the walks and counts of the former pages, on the same database.
    let (id, _) = ids
        .iter()
        .find(|(_, c)| *c == channel)
        .cloned()
        .context("channel")?;
    // Any key: it only signs the report's cursor.
    let key = vec![7u8; 32];
    let mut refs: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for _ in 0..runs {
        let mut conn = db.read_conn()?;
        let (_, ms) = time_ms(|| Ok(store::products::count(&mut conn)?))?;
        refs.entry("catalog count(*)").or_default().push(ms);
        let (_, ms) = time_ms(|| Ok(store::channel_records::count_live(&mut conn, id)?))?;
        refs.entry("live count(*) of one channel")
            .or_default()
            .push(ms);
        let (_, ms) = time_ms(|| {
            store::snapshot(&mut conn, |c| {
                let ch = store::channels::get_by_id(c, id)?.context("channel")?;
                Ok::<_, anyhow::Error>(snapshots::walk(c, &ch, &[], None)?)
            })
        })?;
        refs.entry("digest walk of one channel")
            .or_default()
            .push(ms);
        let format = partnerfeed::feeds::Format::parse("google-xml").context("google-xml")?;
        let (_, ms) = time_ms(|| {
            Ok(store::snapshot(&mut conn, |c| {
                pull::feed_report(c, id, format, &key)
            })?)
        })?;
        refs.entry("feed report (google-xml) of one channel")
            .or_default()
            .push(ms);
    }
    for (name, values) in &refs {
        t.add(
            b,
            &format!("reference: {name}, {channel}"),
            "ms",
            values.clone(),
        );
    }
    t.note(format!(
        "{} products, {} channels re-evaluated in {:.1} s; the snapshots ran one after the other \
         with nothing else running.",
        catalog.count,
        ids.len(),
        reeval_ms / 1000.0
    ));

    // --- sessions, as a browser: the sign-in form, then a CSRF-checked form post.
    let admin = sign_in(&mut http, token)?;
    let portal = sign_in(&mut http, &reseller_token)?;
    let origin = format!("http://{}", http.addr);
    let form = format!(
        "csrf={}&channel={}",
        form_encode(&admin.csrf),
        form_encode(&channel)
    );
    let grant_path = format!("/console/resellers/{reseller}/grant");
    let mut grant = Samples::default();
    for k in 0..=SAMPLES {
        let t0 = Instant::now();
        let posted = http.send(
            "POST",
            &grant_path,
            &[
                ("Cookie", &admin.cookie),
                ("Origin", &origin),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            form.as_bytes(),
            true,
        )?;
        if posted.status != 303 {
            bail!("{grant_path} answered {}", posted.status);
        }
        // The first one warms up.
        if k > 0 {
            grant.client.push(t0.elapsed().as_secs_f64() * 1000.0);
            grant
                .server
                .push(server_ms(&posted).context("no Server-Timing")?);
        }
    }

    // --- the pages.
    let gtin = product["gtin"].as_str().unwrap_or_default().to_string();
    let title = product["title"]["en"].as_str().unwrap_or_default();
    let words: Vec<&str> = title.split_whitespace().take(2).collect();
    let prefix = sku.split('-').next().unwrap_or_default().to_string() + "-";
    let by_sku = format!("/console/products?by=sku&q={}", form_encode(&prefix));
    let (first, _) = get_page(&mut http, &admin, &by_sku)?;
    let next = link(&first, "/console/products?by=sku").filter(|l| l.contains("after="));
    let mut pages: Vec<(String, &Session, String)> = vec![
        ("dashboard".into(), &admin, "/console".into()),
        ("products: SKU prefix".into(), &admin, by_sku.clone()),
        (
            "products: GTIN".into(),
            &admin,
            format!("/console/products?by=gtin&q={gtin}"),
        ),
        (
            format!("products: title words ({})", words.join(" ")),
            &admin,
            format!(
                "/console/products?by=title&q={}",
                form_encode(&words.join(" "))
            ),
        ),
        (
            "product page (history, each channel's record, the edit form)".into(),
            &admin,
            format!("/console/products/{sku}"),
        ),
        (
            "new product form".into(),
            &admin,
            "/console/products/new".into(),
        ),
        ("channels".into(), &admin, "/console/channels".into()),
        (
            "channel page".into(),
            &admin,
            format!("/console/channels/{channel}"),
        ),
    ];
    if let Some(next) = next {
        pages.insert(2, ("products: SKU prefix, next page".into(), &admin, next));
    }
    // The product as the first channel that publishes it carries it in GS1 GDSN, the largest
    // item of any format.
    let (product_page, _) = get_page(&mut http, &admin, &format!("/console/products/{sku}"))?;
    if let Some(document) = link(&product_page, &format!("/console/products/{sku}/feeds/"))
        .and_then(|l| Some(format!("{}/gdsn-cin", l.rsplit_once('/')?.0)))
    {
        pages.push((
            "the product in a channel's feed, gdsn-cin".into(),
            &admin,
            document,
        ));
    }
    for f in partnerfeed::feeds::Format::profiles() {
        pages.push((
            format!("readiness, {}", f.as_str()),
            &admin,
            format!("/console/channels/{channel}/readiness/{}", f.as_str()),
        ));
    }
    pages.extend([
        ("resellers".into(), &admin, "/console/resellers".into()),
        (
            "reseller page".into(),
            &admin,
            format!("/console/resellers/{reseller}"),
        ),
        (
            "subscriptions".into(),
            &admin,
            "/console/subscriptions".into(),
        ),
        (
            "portal: My channels".into(),
            &portal,
            "/portal/channels".into(),
        ),
        (
            "portal: My subscriptions".into(),
            &portal,
            "/portal/subscriptions".into(),
        ),
        (
            "portal: a subscription (attempts, chart)".into(),
            &portal,
            format!("/portal/subscriptions/{sub_id}"),
        ),
    ]);
    let t = tables.get(
        "9-ui",
        "ui (each console and portal page, signed in; server time from Server-Timing, target 100 ms)",
    );
    let mut worst: f64 = 0.0;
    for (name, session, path) in &pages {
        log(format!("{b}: ui: {name} ({path})"));
        let (mut p50s, mut p99s, mut c99s) = (Vec::new(), Vec::new(), Vec::new());
        let mut bytes = 0;
        for _ in 0..runs {
            let mut s = time_page(&mut http, session, path)?;
            s.server.sort_by(f64::total_cmp);
            s.client.sort_by(f64::total_cmp);
            p50s.push(percentile(&s.server, 50.0));
            p99s.push(percentile(&s.server, 99.0));
            c99s.push(percentile(&s.client, 99.0));
            bytes = s.bytes;
        }
        worst = worst.max(stats(&p99s).1);
        t.add(b, &format!("{name}: server p50"), "ms", p50s);
        t.add(b, &format!("{name}: server p99"), "ms", p99s);
        t.add(
            b,
            &format!("{name}: client p99 ({:.1} KB)", bytes as f64 / 1000.0),
            "ms",
            c99s,
        );
    }
    grant.server.sort_by(f64::total_cmp);
    t.add(
        b,
        "a form post (grant a channel, CSRF token and Origin checked, 303): server p50",
        "ms",
        vec![percentile(&grant.server, 50.0)],
    );
    t.add(
        b,
        "a form post (grant a channel, CSRF token and Origin checked, 303): server p99",
        "ms",
        vec![percentile(&grant.server, 99.0)],
    );
    t.note(format!(
        "{} products; {SAMPLES} requests per page and run after one warm-up, one keep-alive \
         connection; the slowest page's median p99 is {:.2} ms, {:.3}x the {TARGET_MS} ms target.",
        catalog.count,
        worst,
        worst / TARGET_MS
    ));
    server.stop();
    Ok(())
}
