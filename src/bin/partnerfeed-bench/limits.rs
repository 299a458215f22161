//! The `limits` scenario: single-core throughput of the building blocks a feed is made of, on
//! the records of the benchmark catalog, with no database and no socket. Every rate here is an
//! upper bound for the matching end-to-end figure; the ratios in docs/performance.md divide by
//! these.

use std::io::{self, Write};
use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use flate2::write::GzEncoder;
use flate2::Compression;
use partnerfeed::catalog::parse_product;
use partnerfeed::delta::{self, ChannelDef};
use partnerfeed::feeds::{FeedWriter, Format, Publication};
use partnerfeed::service::pull;
use partnerfeed::{demo, jcs};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Map, Value};

use crate::{log, Table};

/// Records measured: enough for stable rates, few enough to hold in memory.
const RECORDS: usize = 50_000;

/// One projected record with what the renderers need.
struct Sample {
    sku: String,
    hash: String,
    record: Map<String, Value>,
    /// The record's canonical JSON, as the store keeps it.
    stored: String,
}

fn samples(channel: &ChannelDef, count: usize) -> anyhow::Result<(Vec<Value>, Vec<Sample>)> {
    let now = Utc::now();
    let products: Vec<Value> = demo::products(count).collect();
    let mut out = Vec::with_capacity(count);
    for value in &products {
        let product = parse_product(value, None).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let sku = value["sku"].as_str().context("sku")?.to_string();
        if let Some(record) = delta::project(&sku, &product, channel, now) {
            let stored = String::from_utf8(jcs::canonical_bytes(&Value::Object(record.clone())))?;
            let hash = jcs::sha256_hex_of(stored.as_bytes());
            out.push(Sample {
                sku,
                hash,
                record,
                stored,
            });
        }
    }
    Ok((products, out))
}

/// Counts bytes and throws them away.
#[derive(Default)]
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `work` `runs` times; returns items/s and MB/s per run.
fn measure(
    runs: usize,
    items: usize,
    mut work: impl FnMut() -> anyhow::Result<u64>,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut rates = Vec::new();
    let mut mbs = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let bytes = work()?;
        let dt = t0.elapsed().as_secs_f64();
        rates.push(items as f64 / dt);
        mbs.push(bytes as f64 / dt / 1e6);
    }
    Ok((rates, mbs))
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn run(runs: usize, table: &mut Table) -> anyhow::Result<()> {
    let (code, def) = demo::channels()
        .into_iter()
        .find(|(code, _)| code == "eu-marketplace")
        .context("the demo channel eu-marketplace")?;
    let channel = delta::parse_channel(&def).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    log(format!(
        "limits: projecting {RECORDS} products for {code} (one core)"
    ));
    let (products, recs) = samples(&channel, RECORDS)?;
    let n = recs.len();
    let fields = pull::carried_fields(&channel);
    let mut row = |name: &str, (rates, mbs): (Vec<f64>, Vec<f64>)| {
        table.add("-", name, "records/s", rates);
        table.add("-", name, "MB/s", mbs);
    };

    // Building blocks alone.
    row(
        "JCS + SHA-256 of a product (the edit path's hash)",
        measure(runs, products.len(), || {
            let mut bytes = 0;
            for p in &products {
                let c = jcs::canonical_bytes(p);
                bytes += c.len() as u64;
                std::hint::black_box(jcs::sha256_hex_of(&c));
            }
            Ok(bytes)
        })?,
    );
    // The generator's work on one (channel, product) pair, apart from the database: parsing
    // the stored product, projecting it, and the record's canonical bytes and hash.
    let bodies: Vec<String> = products.iter().map(Value::to_string).collect();
    row(
        "generator: parse and validate a stored product",
        measure(runs, bodies.len(), || {
            let mut bytes = 0;
            for body in &bodies {
                let value: Value = serde_json::from_str(body)?;
                let p = parse_product(&value, None).map_err(|e| anyhow::anyhow!("{e:?}"))?;
                bytes += body.len() as u64;
                std::hint::black_box(p);
            }
            Ok(bytes)
        })?,
    );
    let parsed: Vec<(String, partnerfeed::catalog::Product)> = products
        .iter()
        .map(|v| {
            let p = parse_product(v, None).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            Ok((v["sku"].as_str().context("sku")?.to_string(), p))
        })
        .collect::<anyhow::Result<_>>()?;
    let now = Utc::now();
    row(
        "generator: project a product for the channel into its canonical bytes, and SHA-256",
        measure(runs, parsed.len(), || {
            let mut bytes = 0;
            let mut out = Vec::with_capacity(2048);
            for (sku, p) in &parsed {
                out.clear();
                let view = delta::ProductView::from(p);
                if delta::write_canonical(sku, &view, &channel, now, &mut out) {
                    bytes += out.len() as u64;
                    std::hint::black_box(jcs::sha256_hex_of(&out));
                }
            }
            Ok(bytes)
        })?,
    );
    row(
        "serde_json: serialise a record Map",
        measure(runs, n, || serde_writer(&recs))?,
    );
    row(
        "serde_json: parse a stored record into a Map",
        measure(runs, n, || {
            let mut bytes = 0;
            for s in &recs {
                let m: Map<String, Value> = serde_json::from_str(&s.stored)?;
                bytes += s.stored.len() as u64;
                std::hint::black_box(m);
            }
            Ok(bytes)
        })?,
    );
    row(
        "csv::Writer: one row of the record's top-level fields",
        measure(runs, n, || csv_writer(&recs))?,
    );
    row(
        "quick-xml Writer: one element per top-level field",
        measure(runs, n, || quick_xml_writer(&recs))?,
    );
    let mut ndjson = Vec::new();
    for s in &recs {
        ndjson.extend_from_slice(s.stored.as_bytes());
        ndjson.push(b'\n');
    }
    row(
        "gzip level 1 (flate2) of the stored records",
        measure(runs, n, || {
            let mut gz = GzEncoder::new(Counter::default(), Compression::fast());
            gz.write_all(&ndjson)?;
            gz.finish()?;
            Ok(ndjson.len() as u64)
        })?,
    );

    // partnerfeed's own renderers on the same records, in memory: the feed path minus the
    // database and the socket.
    let publication = Publication::of(&channel, 1, 1, "2026-12-05T00:00:00Z");
    let render = |format: Format| {
        let mut w = FeedWriter::begin_with(
            Counter::default(),
            format,
            &code,
            "cursor",
            &fields,
            &publication,
        )?;
        for s in &recs {
            w.product_json(&s.sku, &s.hash, &s.stored)?;
        }
        Ok(w.finish()?.0)
    };
    for format in [Format::Json, Format::Ndjson, Format::Csv, Format::Xml]
        .into_iter()
        .chain(Format::profiles())
    {
        row(
            &format!("partnerfeed renderer, format={}", format.as_str()),
            measure(runs, n, || render(format))?,
        );
    }

    // Each renderer against its matching serialiser, measured in turn within each run so
    // that both see the same machine: the ratio of records/s, and for GDSN (which writes ~10
    // KB per product, ten times what the serialiser writes) of MB/s.
    type Reference<'r> = (&'static str, &'r dyn Fn() -> anyhow::Result<u64>);
    let serde_ref = || serde_writer(&recs);
    let csv_ref = || csv_writer(&recs);
    let xml_ref = || quick_xml_writer(&recs);
    let serde: Reference = ("serde_json serialise", &serde_ref);
    let csv: Reference = ("csv::Writer", &csv_ref);
    let xml: Reference = ("quick-xml Writer", &xml_ref);
    let pairs = [
        ("json", serde, false),
        ("csv", csv, false),
        ("xml", xml, false),
        ("google-xml", xml, false),
        ("google-tsv", csv, false),
        ("bmecat", xml, false),
        ("gdsn-cin", xml, true),
    ];
    for (name, (reference, reference_work), by_bytes) in pairs {
        let format = Format::parse(name).context("a known format")?;
        let mut ratios = Vec::new();
        for _ in 0..runs {
            let (ours, our_mbs) = measure(1, n, || render(format))?;
            let (theirs, their_mbs) = measure(1, n, reference_work)?;
            ratios.push(if by_bytes {
                our_mbs[0] / their_mbs[0]
            } else {
                ours[0] / theirs[0]
            });
        }
        let unit = if by_bytes {
            "ratio of MB/s"
        } else {
            "ratio of records/s"
        };
        table.add(
            "-",
            &format!("renderer format={name} / {reference}"),
            unit,
            ratios,
        );
    }
    table.note(format!(
        "{n} records of the demo channel `{code}` (all fields), each built from a demo \
         product by the channel's projection; one thread, in memory, output counted and \
         discarded. The renderer rows are `FeedWriter::product_json` over the stored \
         record text, as the feed endpoint calls it. The ratio rows measure a renderer and \
         its matching serialiser one after the other in each run (quick-xml for the XML \
         profiles, csv::Writer for CSV and TSV, serde_json for JSON); GDSN's ratio is of \
         bytes, as it writes ten times the serialiser's bytes per record."
    ));
    Ok(())
}

/// serde_json writing each record map, one per line.
fn serde_writer(recs: &[Sample]) -> anyhow::Result<u64> {
    let mut w = Counter::default();
    for s in recs {
        serde_json::to_writer(&mut w, &s.record)?;
        w.write_all(b"\n")?;
    }
    Ok(w.0)
}

/// `csv::Writer` writing one row of each record's top-level fields.
fn csv_writer(recs: &[Sample]) -> anyhow::Result<u64> {
    let mut w = csv::Writer::from_writer(Counter::default());
    for s in recs {
        w.write_record(s.record.values().map(text_of))?;
    }
    Ok(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?.0)
}

/// quick-xml's `Writer` writing one element per top-level field of each record.
fn quick_xml_writer(recs: &[Sample]) -> anyhow::Result<u64> {
    let mut w = quick_xml::Writer::new(Counter::default());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.write_event(Event::Start(BytesStart::new("feed")))?;
    for s in recs {
        let mut item = BytesStart::new("product");
        item.push_attribute(("sku", s.sku.as_str()));
        w.write_event(Event::Start(item))?;
        for (k, v) in &s.record {
            w.write_event(Event::Start(BytesStart::new(k.as_str())))?;
            w.write_event(Event::Text(BytesText::new(&text_of(v))))?;
            w.write_event(Event::End(BytesEnd::new(k.as_str())))?;
        }
        w.write_event(Event::End(BytesEnd::new("product")))?;
    }
    w.write_event(Event::End(BytesEnd::new("feed")))?;
    Ok(w.into_inner().0)
}
