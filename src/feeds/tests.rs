//! Golden-file and unit tests of the feed renderers. `PARTNERFEED_BLESS=1 cargo test --lib feeds`
//! rewrites the golden files under `feeds/samples/` from the current output.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::*;

const CHANNEL: &str = "fr-resellers";

fn record(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("fixture record must be an object, got {other}"),
    }
}

/// The fixture: a complete record, a hostile one, and a minimal one, with their real hashes.
fn fixture() -> Vec<(String, String, Map<String, Value>)> {
    let records = [
        json!({
            "sku": "DRL-1001", "gtin": "03700123456780", "status": "active", "brand": "Acme",
            "category": "tools/drills", "title": "Perceuse 18 V",
            "description": "Perceuse-visseuse sans fil, 2 batteries.",
            "attributes": {"voltage": 18, "cordless": true, "chuck": "13 mm"},
            "media": [{"url": "https://cdn.example.com/drl-1001.jpg", "role": "main"}],
            "price": {"amount": "79.80", "currency": "EUR", "min_qty": 1},
            "price_tiers": [{"min_qty": 1, "amount": "79.80"}, {"min_qty": 10, "amount": "75.00"}],
            "dimensions": {"length": "325", "width": "90", "height": "240", "unit": "mm"},
            "weight": {"net": "1450", "gross": "1900", "unit": "g"},
            "packaging": [
                {"level": "each", "quantity": 1, "type": "box"},
                {"level": "case", "quantity": 6, "gtin": "13700123456787",
                 "dimensions": {"length": "400", "width": "300", "height": "260", "unit": "mm"},
                 "gross_weight": {"value": "12200", "unit": "g"}},
                {"level": "pallet", "quantity": 240, "gtin": "53700123456785"}
            ]
        }),
        json!({
            "sku": "-HOSTILE.7", "status": "draft", "brand": "=HYPERLINK(\"x\")",
            "category": "@tools/evil", "title": "<script>&\"' 🔥 drill",
            "description": "line1\r\nline2\u{1}\tend\u{7f}",
            "attributes": {"note \"quoted\"": "+cmd|' /C calc'!A0", "'plain": "'quoted"},
            "media": [{"url": "https://cdn.example.com/a?b=1&c=<2>", "role": "main\nalt"}],
            "price": {"amount": "0.99", "currency": "EUR", "min_qty": 1},
            "price_tiers": [{"min_qty": 1, "amount": "0.99"}],
            "packaging": []
        }),
        json!({"sku": "SCR-0042", "status": "discontinued", "title": "Vis à bois 4×40 — 200 pcs"}),
    ];
    records
        .into_iter()
        .map(|value| {
            let hash = crate::jcs::sha256_hex(&value);
            let record = record(value);
            let sku = record["sku"].as_str().expect("fixture sku").to_owned();
            (sku, hash, record)
        })
        .collect()
}

fn all_fields() -> Vec<String> {
    Field::ALL.iter().map(|f| f.as_str().to_owned()).collect()
}

fn render_feed(format: Format, fields: &[String]) -> Vec<u8> {
    let mut w = FeedWriter::begin(Vec::new(), format, CHANNEL, "c-000120", fields).expect("begin");
    for (sku, hash, record) in &fixture() {
        w.product(sku, hash, record).expect("product");
    }
    w.finish().expect("finish")
}

fn render_changes(format: Format) -> Vec<u8> {
    let fixture = fixture();
    let fields = all_fields();
    let mut w =
        ChangesWriter::begin(Vec::new(), format, CHANNEL, "c-000120", &fields).expect("begin");
    let (sku, hash, record) = &fixture[0];
    w.change(Change::Upsert { sku, hash, record })
        .expect("upsert");
    w.change(Change::Delete { sku: "OLD-0009" })
        .expect("delete");
    let (sku, hash, record) = &fixture[1];
    w.change(Change::Upsert { sku, hash, record })
        .expect("upsert");
    w.finish("c-000123", true).expect("finish")
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("feeds/samples")
}

/// Whether the golden files are being rewritten (`PARTNERFEED_BLESS=1`).
fn blessing() -> bool {
    std::env::var_os("PARTNERFEED_BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the golden file `name`, or rewrites it under `PARTNERFEED_BLESS=1`.
fn golden(name: &str, actual: &[u8]) {
    golden_at(&samples(), name, actual)
}

/// [`golden`] for a file of the directory `dir`.
fn golden_at(dir: &Path, name: &str, actual: &[u8]) {
    let path = dir.join(name);
    if blessing() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with PARTNERFEED_BLESS=1 to create it",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    // Long documents: the first line that differs, not the whole of both.
    let (expected, actual) = (
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual),
    );
    let (expected, actual) = if expected.len() + actual.len() > 16 * 1024 {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        let show = |doc: &str| {
            let lines: Vec<&str> = doc.lines().skip(line.saturating_sub(3)).take(6).collect();
            format!(
                "(from line {}) {}",
                line.saturating_sub(3) + 1,
                lines.join("\n")
            )
        };
        (show(&expected), show(&actual))
    } else {
        (expected.into_owned(), actual.into_owned())
    };
    panic!(
        "{name} differs from its golden file (PARTNERFEED_BLESS=1 rewrites it)\n--- golden\n{expected}\n--- actual\n{actual}"
    );
}

#[test]
fn feed_goldens() {
    let fields = all_fields();
    golden("feed.json", &render_feed(Format::Json, &fields));
    golden("feed.ndjson", &render_feed(Format::Ndjson, &fields));
    golden("feed.csv", &render_feed(Format::Csv, &fields));
    golden("feed.xml", &render_feed(Format::Xml, &fields));
}

#[test]
fn changes_goldens() {
    golden("changes.json", &render_changes(Format::Json));
    golden("changes.ndjson", &render_changes(Format::Ndjson));
    golden("changes.csv", &render_changes(Format::Csv));
    golden("changes.xml", &render_changes(Format::Xml));
}

/// Validates `doc` against the feed schema of the repository (`feeds/partnerfeed-feed.xsd`).
fn feed_schema_errors(doc: &[u8]) -> Result<(), Vec<String>> {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("feeds/partnerfeed-feed.xsd");
    xsd_check::validate(&xsd, doc)
}

#[test]
fn xml_goldens_are_valid_against_the_schema() {
    for name in ["feed.xml", "changes.xml"] {
        let doc = std::fs::read(samples().join(name)).expect("golden");
        if let Err(errors) = feed_schema_errors(&doc) {
            panic!("the schema rejects {name}:\n{}", errors.join("\n"));
        }
    }
}

#[test]
fn the_schema_rejects_a_changes_page_without_next() {
    let page = String::from_utf8(render_changes(Format::Xml)).expect("utf-8");
    let truncated: String = page
        .lines()
        .filter(|l| !l.trim_start().starts_with("<next "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(truncated, page);
    assert!(
        feed_schema_errors(truncated.as_bytes()).is_err(),
        "a page without <next> must not validate"
    );
}

#[test]
fn json_feed_keeps_records_verbatim_so_hashes_verify() {
    let body: Value = serde_json::from_slice(&render_feed(Format::Json, &all_fields()))
        .expect("the JSON feed parses");
    assert_eq!(body["channel"], CHANNEL);
    assert_eq!(body["cursor"], "c-000120");
    let products = body["products"].as_array().expect("products");
    assert_eq!(products.len(), 3);
    for product in products {
        assert_eq!(
            product["hash"].as_str(),
            Some(crate::jcs::sha256_hex(&product["record"]).as_str())
        );
    }
}

#[test]
fn ndjson_feed_has_one_parseable_item_per_line() {
    let body = String::from_utf8(render_feed(Format::Ndjson, &all_fields())).expect("utf-8");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 3);
    for line in lines {
        let item: Value = serde_json::from_str(line).expect("each line parses");
        assert!(item.get("record").is_some() && item.get("op").is_none());
    }
}

#[test]
fn json_changes_end_with_next_and_has_more() {
    let body: Value =
        serde_json::from_slice(&render_changes(Format::Json)).expect("the JSON page parses");
    assert_eq!(body["since"], "c-000120");
    assert_eq!(body["next"], "c-000123");
    assert_eq!(body["has_more"], true);
    assert_eq!(
        body["changes"][1],
        json!({"op": "delete", "sku": "OLD-0009"})
    );
    assert_eq!(body["changes"][0]["op"], "upsert");
}

#[test]
fn empty_documents_are_well_formed() {
    let fields = all_fields();
    let json = FeedWriter::begin(Vec::new(), Format::Json, "c", "x", &fields)
        .and_then(FeedWriter::finish)
        .expect("empty feed");
    assert_eq!(
        json,
        b"{\"channel\":\"c\",\"cursor\":\"x\",\"products\":[]}\n"
    );
    let page = ChangesWriter::begin(Vec::new(), Format::Json, "c", "x", &fields)
        .and_then(|w| w.finish("x", false))
        .expect("empty page");
    let page: Value = serde_json::from_slice(&page).expect("parses");
    assert_eq!(page["changes"], json!([]));
    assert_eq!(page["has_more"], false);
    let csv = FeedWriter::begin(Vec::new(), Format::Csv, "c", "x", &[])
        .and_then(FeedWriter::finish)
        .expect("empty csv");
    assert_eq!(csv, b"sku,hash\r\n");
}

#[test]
fn items_reach_the_writer_before_finish() {
    let (sku, hash, record) = &fixture()[0];
    for format in [Format::Json, Format::Ndjson, Format::Xml] {
        let shared = Shared::default();
        let mut w =
            FeedWriter::begin(shared.clone(), format, CHANNEL, "c", &all_fields()).expect("begin");
        w.product(sku, hash, record).expect("product");
        let written = String::from_utf8_lossy(&shared.0.borrow()).into_owned();
        assert!(written.contains("DRL-1001"), "{format:?}: {written}");
    }
}

#[test]
fn csv_memory_stays_bounded_while_streaming() {
    let (sku, hash, record) = &fixture()[0];
    let shared = Shared::default();
    let mut w =
        FeedWriter::begin(shared.clone(), Format::Csv, CHANNEL, "c", &all_fields()).expect("begin");
    for _ in 0..100 {
        w.product(sku, hash, record).expect("product");
    }
    // The csv crate keeps at most its own small buffer (8 KiB) before writing through.
    assert!(shared.0.borrow().len() > 100 * 400 - 8 * 1024);
}

/// A writer whose bytes the test can look at while a feed writer still owns a handle to it.
#[derive(Clone, Default)]
struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn csv_columns_follow_the_fixed_order_of_the_carried_fields() {
    let fields: Vec<String> = ["weight", "price", "gtin", "sku", "gtin"]
        .map(String::from)
        .to_vec();
    let body = String::from_utf8(render_feed(Format::Csv, &fields)).expect("utf-8");
    let header = body.lines().next().expect("header");
    assert_eq!(
        header,
        "sku,hash,gtin,price_amount,price_currency,price_min_qty,price_tiers,weight_net,weight_gross,weight_unit"
    );
    assert!(body.contains(",03700123456780,79.80,EUR,1,1:79.80|10:75.00,1450,1900,g\r\n"));
}

#[test]
fn csv_delete_rows_have_empty_record_cells() {
    let body = String::from_utf8(render_changes(Format::Csv)).expect("utf-8");
    let delete = body
        .lines()
        .find(|l| l.starts_with("delete,"))
        .expect("delete row");
    let columns = body.lines().next().expect("header").split(',').count();
    assert_eq!(
        delete,
        format!("delete,OLD-0009{}", ",".repeat(columns - 2))
    );
}

#[test]
fn csv_guard_neutralises_formulas_and_can_be_undone() {
    for (cell, guarded) in [
        ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
        ("+1", "'+1"),
        ("-A1", "'-A1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'x", "''x"),
        ("79.80", "79.80"),
        ("Acme", "Acme"),
        ("", ""),
        (" =1", " =1"),
    ] {
        assert_eq!(csv::guard(cell.to_owned()), guarded);
        let undone = guarded.strip_prefix('\'').unwrap_or(guarded);
        assert_eq!(undone, cell);
    }
}

#[test]
fn csv_hostile_cells_are_guarded_in_the_feed() {
    let body = String::from_utf8(render_feed(Format::Csv, &all_fields())).expect("utf-8");
    let mut reader = ::csv::Reader::from_reader(body.as_bytes());
    let rows: Vec<::csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let hostile = &rows[1];
    assert_eq!(&hostile[0], "'-HOSTILE.7");
    assert_eq!(&hostile[4], "'=HYPERLINK(\"x\")");
    assert_eq!(&hostile[5], "'@tools/evil");
    assert_eq!(&hostile[6], "<script>&\"' 🔥 drill");
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "unguarded cell {cell:?}"
            );
        }
    }
}

#[test]
fn xml_escape_replaces_forbidden_characters_and_keeps_whitespace() {
    assert_eq!(xml::escape("a\u{1}b\u{FFFF}", false), "a\u{FFFD}b\u{FFFD}");
    assert_eq!(xml::escape("<&>\"'", false), "&lt;&amp;&gt;\"'");
    assert_eq!(xml::escape("<&>\"'", true), "&lt;&amp;&gt;&quot;'");
    assert_eq!(xml::escape("a\tb\nc\rd", true), "a&#9;b&#10;c&#13;d");
    assert_eq!(xml::escape("a\tb\nc\rd", false), "a\tb\nc&#13;d");
    assert_eq!(xml::escape("plain 🔥", true), "plain 🔥");
}

#[test]
fn unknown_fields_are_refused() {
    let err = FeedWriter::begin(Vec::new(), Format::Csv, "c", "x", &["colour".to_owned()])
        .err()
        .expect("an unknown field is an error");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("colour"));
}

#[test]
fn formats_parse_and_describe_themselves() {
    for format in Format::ALL {
        assert_eq!(Format::parse(format.as_str()), Some(format));
        assert_eq!(format.extension(), format.as_str());
    }
    assert_eq!(Format::parse("XML"), None);
    assert_eq!(Format::parse("tsv"), None);
    assert_eq!(Format::Json.content_type(), "application/json");
    assert_eq!(Format::Ndjson.content_type(), "application/x-ndjson");
    assert_eq!(Format::Csv.content_type(), "text/csv; charset=utf-8");
    assert_eq!(Format::Xml.content_type(), "application/xml");
}

/// The text of each element named `name` inside the `<product>` whose `sku` is `sku`, and the
/// values of attribute `attr` on elements named `attr_on`, as an XML reader gets them back.
fn read_product(
    doc: &[u8],
    sku: &str,
    name: &str,
    attr_on: &str,
    attr: &str,
) -> (String, Vec<String>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(doc);
    let (mut inside, mut in_name) = (false, false);
    let (mut text, mut attrs) = (String::new(), Vec::new());
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let local = e.local_name();
                if local.as_ref() == b"product" {
                    inside = e
                        .try_get_attribute("sku")
                        .expect("attribute")
                        .is_some_and(|a| a.unescape_value().expect("value") == sku);
                } else if inside && local.as_ref() == name.as_bytes() {
                    in_name = true;
                } else if inside && local.as_ref() == attr_on.as_bytes() {
                    if let Some(a) = e.try_get_attribute(attr).expect("attribute") {
                        attrs.push(a.unescape_value().expect("value").into_owned());
                    }
                }
            }
            Event::Text(t) if in_name => text.push_str(&t.decode().expect("text")),
            Event::GeneralRef(r) if in_name => {
                let name = r.decode().expect("reference");
                let resolved = match r.resolve_char_ref().expect("character reference") {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_xml_entity(&name)
                        .expect("a predefined entity")
                        .to_string(),
                };
                text.push_str(&resolved);
            }
            Event::End(e) if e.local_name().as_ref() == name.as_bytes() => in_name = false,
            Event::End(e) if e.local_name().as_ref() == b"product" => inside = false,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    (text, attrs)
}

#[test]
fn xml_readers_get_the_hostile_text_back() {
    let doc = std::fs::read(samples().join("feed.xml")).expect("golden");
    let (title, roles) = read_product(&doc, "-HOSTILE.7", "title", "item", "role");
    assert_eq!(title, "<script>&\"' 🔥 drill");
    assert_eq!(roles, ["main\nalt"]);
    let (description, _) = read_product(&doc, "-HOSTILE.7", "description", "item", "role");
    assert_eq!(description, "line1\r\nline2\u{FFFD}\tend\u{7f}");
}

#[test]
fn records_given_as_json_text_render_exactly_like_parsed_ones() {
    for format in [Format::Json, Format::Ndjson, Format::Csv, Format::Xml] {
        let mut feed =
            FeedWriter::begin(Vec::new(), format, CHANNEL, "c-000120", &all_fields()).unwrap();
        for (sku, hash, record) in fixture() {
            let text = serde_json::to_string(&record).unwrap();
            feed.product_json(&sku, &hash, &text).unwrap();
        }
        assert_eq!(
            feed.finish().unwrap(),
            render_feed(format, &all_fields()),
            "{format:?}"
        );

        let mut page = ChangesWriter::begin(Vec::new(), format, "fr", "C0", &all_fields()).unwrap();
        let items = fixture();
        for (sku, hash, record) in &items {
            page.upsert_json(sku, hash, &serde_json::to_string(record).unwrap())
                .unwrap();
        }
        let mut parsed =
            ChangesWriter::begin(Vec::new(), format, "fr", "C0", &all_fields()).unwrap();
        for (sku, hash, record) in &items {
            parsed.change(Change::Upsert { sku, hash, record }).unwrap();
        }
        assert_eq!(
            page.finish("C9", false).unwrap(),
            parsed.finish("C9", false).unwrap()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Profiles

fn profile(name: &str) -> Format {
    Format::parse(name).unwrap_or_else(|| panic!("profile {name} is registered"))
}

fn publication(seq: i64, next_seq: i64) -> Publication {
    let settings = [
        ("link_template", "https://shop.example.com/p/{sku}"),
        ("sender_gln", "3700122000014"),
        ("receiver_gln", "3760000000109"),
        ("target_market", "250"),
        ("gpc_category_code", "10005706"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Publication {
        name: "French reseller network".into(),
        locale: "fr".into(),
        settings,
        seq,
        next_seq,
        created: "2026-06-01T12:00:00Z".into(),
    }
}

fn render_profile_feed(format: Format) -> Vec<u8> {
    let mut w = FeedWriter::begin_with(
        Vec::new(),
        format,
        CHANNEL,
        "c-000120",
        &all_fields(),
        &publication(120, 120),
    )
    .expect("begin");
    for (sku, hash, record) in &fixture() {
        w.product(sku, hash, record).expect("product");
    }
    w.finish().expect("finish")
}

/// A change page in `format` from `since_seq` to 123, every field carried.
fn profile_changes_writer(format: Format, since_seq: i64) -> ChangesWriter<Vec<u8>> {
    ChangesWriter::begin_with(
        Vec::new(),
        format,
        CHANNEL,
        "c-000120",
        &all_fields(),
        &publication(since_seq, 123),
    )
    .expect("begin")
}

fn render_profile_changes(format: Format, since_seq: i64) -> Vec<u8> {
    let fixture = fixture();
    let mut w = profile_changes_writer(format, since_seq);
    let (sku, hash, record) = &fixture[0];
    w.change(Change::Upsert { sku, hash, record })
        .expect("upsert");
    w.change(Change::Delete { sku: "OLD-0009" })
        .expect("delete");
    let (sku, hash, record) = &fixture[1];
    w.change(Change::Upsert { sku, hash, record })
        .expect("upsert");
    w.finish("c-000123", true).expect("finish")
}

/// The schema at `xsd` (relative to the crate). A published schema (under `../shared/schemas`,
/// which CI provides beside the repository) that is absent is reported loudly on the terminal,
/// naming what goes unchecked, and `None` is returned; the repository's own schemas must exist.
fn schema_path(xsd: &str, what: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(xsd);
    if path.exists() || !xsd.starts_with("../") {
        return Some(path);
    }
    use std::io::Write as _;
    // Written to the terminal directly, past the test harness's capture, so it is seen.
    let _ = writeln!(
        io::stderr(),
        "WARNING: NOT CHECKED: {what} against the published schema {xsd} (not found)"
    );
    None
}

/// Validates `doc` against the schema at `xsd` (relative to the crate) with libxml2.
fn assert_valid(name: &str, doc: &[u8], xsd: &str) {
    let Some(path) = schema_path(xsd, name) else {
        return;
    };
    if let Err(errors) = xsd_check::validate(&path, doc) {
        panic!(
            "{name} is invalid against {}:\n{}\n{}",
            path.display(),
            errors.join("\n"),
            String::from_utf8_lossy(doc)
        );
    }
}

const BMECAT_XSD: &str = "../shared/schemas/bmecat-2005/bmecat_2005.xsd";

#[test]
fn every_profile_file_parses_and_names_a_distinct_format() {
    let names: Vec<&str> = Format::profiles().map(|f| f.as_str()).collect();
    assert_eq!(names, ["google-xml", "google-tsv", "bmecat", "gdsn-cin"]);
    for format in Format::profiles() {
        assert_eq!(Format::parse(format.as_str()), Some(format));
        assert!(format.profile().is_some());
    }
    assert!(!profile("google-tsv").has_changes());
    assert!(!profile("google-xml").has_changes());
    assert!(profile("bmecat").has_changes());
    assert!(profile("gdsn-cin").has_changes());
    assert_eq!(profile("google-tsv").extension(), "tsv");
}

#[test]
fn google_goldens() {
    golden("google.xml", &render_profile_feed(profile("google-xml")));
    golden("google.tsv", &render_profile_feed(profile("google-tsv")));
}

#[test]
fn google_values_follow_the_specification() {
    let body = String::from_utf8(render_profile_feed(profile("google-tsv"))).expect("utf-8");
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .from_reader(body.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows: Vec<::csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    // The hostile record has no GTIN and the screw no price: both are left out.
    assert_eq!(rows.len(), 1, "{body}");
    let cell = |name: &str| {
        let i = header.iter().position(|h| h == name).expect(name);
        rows[0][i].to_owned()
    };
    assert_eq!(cell("id"), "DRL-1001");
    assert_eq!(cell("link"), "https://shop.example.com/p/DRL-1001");
    assert_eq!(cell("price"), "79.80 EUR");
    assert_eq!(cell("gtin"), "03700123456780");
    assert_eq!(cell("product_length"), "32.5 cm");
    assert_eq!(cell("product_weight"), "1.45 kg");
    assert_eq!(cell("shipping_weight"), "1.9 kg");
    assert_eq!(cell("condition"), "new");
    assert_eq!(cell("availability"), "in_stock");
    assert_eq!(cell("product_type"), "tools > drills");
}

#[test]
fn google_limits_leave_products_out_with_reasons() {
    let format = profile("google-xml");
    let (sku, _, record) = &fixture()[0];
    assert!(format.check(sku, record, &publication(0, 0)).is_empty());
    let mut long = record.clone();
    long.insert("title".into(), json!("x".repeat(151)));
    long.insert(
        "dimensions".into(),
        json!({"length": "30010", "width": "1", "height": "1", "unit": "mm"}),
    );
    long.insert(
        "weight".into(),
        json!({"net": "2000001", "gross": "2000000", "unit": "g"}),
    );
    let problems = format.check(sku, &long, &publication(0, 0));
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["title", "product_length", "product_weight"],
        "{problems:?}"
    );
    assert!(problems.iter().all(|p| p.severity == Severity::Error));
    let hostile = &fixture()[1];
    let problems = format.check(&hostile.0, &hostile.2, &publication(0, 0));
    assert!(problems
        .iter()
        .any(|p| p.field == "gtin" && p.message.contains("no GTIN")));
    let bare = format.check(sku, record, &Publication::bare());
    assert!(bare.iter().any(|p| p.field == "link_template"), "{bare:?}");
}

#[test]
fn google_profiles_have_no_change_pages() {
    let err = ChangesWriter::begin(Vec::new(), profile("google-tsv"), "c", "x", &[])
        .err()
        .expect("no changes in a snapshot profile");
    assert_eq!(err.kind(), io::ErrorKind::Unsupported);
}

#[test]
fn google_rss_is_well_formed_with_the_g_namespace() {
    let doc = render_profile_feed(profile("google-xml"));
    let text = String::from_utf8(doc.clone()).expect("utf-8");
    assert!(text.contains("<rss version=\"2.0\" xmlns:g=\"http://base.google.com/ns/1.0\">"));
    assert!(text.contains("<g:price>79.80 EUR</g:price>"));
    if let Err(errors) = xsd_check::well_formed(&doc) {
        panic!("the RSS is not well-formed:\n{}", errors.join("\n"));
    }
}

#[test]
fn bmecat_goldens_validate_against_the_published_schema() {
    let feed = render_profile_feed(profile("bmecat"));
    let changes = render_profile_changes(profile("bmecat"), 120);
    let from_start = render_profile_changes(profile("bmecat"), 0);
    golden("bmecat.xml", &feed);
    golden("bmecat-changes.xml", &changes);
    assert_valid("bmecat.xml", &feed, BMECAT_XSD);
    assert_valid("bmecat-changes.xml", &changes, BMECAT_XSD);
    assert_valid("bmecat changes from the start", &from_start, BMECAT_XSD);
    let changes = String::from_utf8(changes).expect("utf-8");
    assert!(changes.contains("<T_UPDATE_PRODUCTS prev_version=\"120\">"));
    assert!(changes.contains("<PRODUCT mode=\"update\">"));
    assert!(changes.contains("<PRODUCT mode=\"delete\">"));
    assert!(String::from_utf8(from_start)
        .expect("utf-8")
        .contains("<PRODUCT mode=\"new\">"));
    let feed = String::from_utf8(feed).expect("utf-8");
    for unit in [
        "<ORDER_UNIT>C62</ORDER_UNIT>",
        "<FUNIT>MMT</FUNIT>",
        "<FUNIT>GRM</FUNIT>",
    ] {
        assert!(feed.contains(unit), "{unit}");
    }
    assert!(feed.contains("<LOWER_BOUND>10</LOWER_BOUND>"));
    assert!(feed.contains("<PACKING_UNIT_CODE>CT</PACKING_UNIT_CODE>"));
}

#[test]
fn bmecat_empty_change_page_is_no_document() {
    let page = ChangesWriter::begin_with(
        Vec::new(),
        profile("bmecat"),
        CHANNEL,
        "c",
        &all_fields(),
        &publication(5, 5),
    )
    .and_then(|w| w.finish("c", false))
    .expect("empty page");
    assert!(page.is_empty());
    let feed = FeedWriter::begin_with(
        Vec::new(),
        profile("bmecat"),
        CHANNEL,
        "c",
        &all_fields(),
        &publication(5, 5),
    )
    .and_then(FeedWriter::finish)
    .expect("empty feed");
    assert_valid("empty bmecat feed", &feed, BMECAT_XSD);
}

#[test]
fn bmecat_a_delete_only_page_is_valid() {
    let mut w = ChangesWriter::begin_with(
        Vec::new(),
        profile("bmecat"),
        CHANNEL,
        "c",
        &all_fields(),
        &publication(7, 8),
    )
    .expect("begin");
    w.change(Change::Delete { sku: "GONE-1" }).expect("delete");
    let page = w.finish("d", false).expect("finish");
    assert_valid("delete-only page", &page, BMECAT_XSD);
}

/// The same product carries the same GTIN, price, dimensions and weights in every format,
/// once each is read back in millimetres and grams.
#[test]
fn the_same_datum_has_the_same_value_in_every_format() {
    use rust_decimal::Decimal;
    use std::str::FromStr;
    let dec = |s: &str| Decimal::from_str(s.trim()).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    // (gtin, price, [length, width, height] mm, [net, gross] g)
    type Facts = (String, Decimal, [Decimal; 3], [Decimal; 2]);
    let between = |doc: &str, open: &str, close: &str| -> String {
        let start = doc.find(open).unwrap_or_else(|| panic!("{open}")) + open.len();
        let end = start
            + doc[start..]
                .find(close)
                .unwrap_or_else(|| panic!("{close}"));
        doc[start..end].to_owned()
    };

    let json: Value = serde_json::from_slice(&render_feed(Format::Json, &all_fields())).unwrap();
    let r = &json["products"][0]["record"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let expected: Facts = (
        s(&r["gtin"]),
        dec(&s(&r["price"]["amount"])),
        ["length", "width", "height"].map(|k| dec(&s(&r["dimensions"][k]))),
        ["net", "gross"].map(|k| dec(&s(&r["weight"][k]))),
    );

    let csv = String::from_utf8(render_feed(Format::Csv, &all_fields())).unwrap();
    let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| row[header.iter().position(|h| h == name).unwrap()].to_owned();
    let from_csv: Facts = (
        cell("gtin"),
        dec(&cell("price_amount")),
        ["length", "width", "height"].map(|k| dec(&cell(&format!("dimensions_{k}")))),
        ["net", "gross"].map(|k| dec(&cell(&format!("weight_{k}")))),
    );
    assert_eq!(from_csv, expected, "csv");

    let xml = String::from_utf8(render_feed(Format::Xml, &all_fields())).unwrap();
    let product = between(&xml, "<product sku=\"DRL-1001\"", "</product>");
    let dims = between(&product, "<dimensions ", "/>");
    let weight = between(&product, "<weight ", "/>");
    let attr = |el: &str, name: &str| dec(&between(el, &format!("{name}=\""), "\""));
    let from_xml: Facts = (
        between(&product, "<gtin>", "</gtin>"),
        attr(&between(&product, "<price ", "/>"), "amount"),
        ["length", "width", "height"].map(|k| attr(&dims, k)),
        ["net", "gross"].map(|k| attr(&weight, k)),
    );
    assert_eq!(from_xml, expected, "xml");

    // Google writes "32.5 cm" and "1.9 kg": back to mm and g by the same powers of ten.
    let tsv = String::from_utf8(render_profile_feed(profile("google-tsv"))).unwrap();
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .from_reader(tsv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| row[header.iter().position(|h| h == name).unwrap()].to_owned();
    let unit = |text: String, factor: &str, suffix: &str| {
        dec(text
            .strip_suffix(suffix)
            .unwrap_or_else(|| panic!("{text}")))
            * dec(factor)
    };
    let from_google: Facts = (
        cell("gtin"),
        dec(cell("price").strip_suffix(" EUR").unwrap()),
        ["length", "width", "height"].map(|k| unit(cell(&format!("product_{k}")), "10", " cm")),
        [
            unit(cell("product_weight"), "1000", " kg"),
            unit(cell("shipping_weight"), "1000", " kg"),
        ],
    );
    assert_eq!(from_google, expected, "google-tsv");

    let bmecat = String::from_utf8(render_profile_feed(profile("bmecat"))).unwrap();
    let product = between(&bmecat, "DRL-1001</SUPPLIER_PID>", "</PRODUCT>");
    let feature = |name: &str, unit: &str| {
        let f = between(&product, &format!(">{name}</FNAME>"), "</FEATURE>");
        assert_eq!(between(&f, "<FUNIT>", "</FUNIT>"), unit);
        dec(&between(&f, "<FVALUE>", "</FVALUE>"))
    };
    let from_bmecat: Facts = (
        between(
            &product,
            "<INTERNATIONAL_PID type=\"gtin\">",
            "</INTERNATIONAL_PID>",
        ),
        dec(&between(&product, "<PRICE_AMOUNT>", "</PRICE_AMOUNT>")),
        ["length", "width", "height"].map(|k| feature(k, "MMT")),
        [feature("net_weight", "GRM"), feature("gross_weight", "GRM")],
    );
    assert_eq!(from_bmecat, expected, "bmecat");

    // GDSN: the base unit is the innermost trade item of the tree; measures carry Rec 20 codes.
    let gdsn = String::from_utf8(render_profile_feed(profile("gdsn-cin"))).unwrap();
    let base = gdsn.rsplit("<tradeItem>").next().unwrap();
    let measure = |item: &str, element: &str, unit: &str| {
        dec(&between(
            item,
            &format!("<{element} measurementUnitCode=\"{unit}\">"),
            &format!("</{element}>"),
        ))
    };
    let from_gdsn: Facts = (
        between(base, "<gtin>", "</gtin>"),
        dec(&between(
            base,
            "<tradeItemPrice currencyCode=\"EUR\">",
            "</tradeItemPrice>",
        )),
        [("depth", "MMT"), ("width", "MMT"), ("height", "MMT")].map(|(e, u)| measure(base, e, u)),
        [("netWeight", "GRM"), ("grossWeight", "GRM")].map(|(e, u)| measure(base, e, u)),
    );
    assert_eq!(from_gdsn, expected, "gdsn-cin");
    // The case level too: its GTIN and gross weight as the record has them.
    let case = gdsn
        .split("<tradeItem>")
        .find(|item| item.contains("<tradeItemUnitDescriptorCode>CASE<"))
        .unwrap();
    assert_eq!(
        between(case, "<gtin>", "</gtin>"),
        s(&r["packaging"][1]["gtin"])
    );
    assert_eq!(
        measure(case, "grossWeight", "GRM"),
        dec(&s(&r["packaging"][1]["gross_weight"]["value"]))
    );
}

// ---------------------------------------------------------------------------------------------
// GS1 GDSN Catalogue Item Notification

const GDSN_XSD: &str = "../shared/schemas/gdsn-3.1/gs1/gdsn/CatalogueItemNotification.xsd";

/// A schema importing the CIN schema and the extension modules the trade items carry, so that
/// libxml2 also validates the modules' content (the `extension` wildcard is `lax`: a module
/// whose schema is not loaded would pass unchecked). Written next to the official schemas'
/// absolute paths, in a temporary directory.
fn gdsn_modules_schema() -> Option<tempfile::TempDir> {
    let root = schema_path(GDSN_XSD, "GDSN documents with their modules")?
        .parent()
        .expect("a folder")
        .canonicalize()
        .expect("the GDSN schemas' folder");
    let mut imports = format!(
        "  <xsd:import namespace=\"{}\" schemaLocation=\"{}\"/>\n",
        gdsn::CIN_NAMESPACE,
        root.join("CatalogueItemNotification.xsd").display()
    );
    for (file, (_, ns)) in [
        "TradeItemDescriptionModule.xsd",
        "SalesInformationModule.xsd",
        "TradeItemMeasurementsModule.xsd",
    ]
    .iter()
    .zip(gdsn::MODULES)
    {
        imports.push_str(&format!(
            "  <xsd:import namespace=\"{ns}\" schemaLocation=\"{}\"/>\n",
            root.join(file).display()
        ));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("cin-with-modules.xsd"),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xsd:schema xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             targetNamespace=\"urn:partnerfeed:test:gdsn\">\n{imports}</xsd:schema>\n"
        ),
    )
    .expect("write the schema");
    Some(dir)
}

/// Validates `doc` against the official CIN schema, and against it with the modules loaded.
fn assert_valid_gdsn(name: &str, doc: &[u8]) {
    assert_valid(name, doc, GDSN_XSD);
    let Some(dir) = gdsn_modules_schema() else {
        return;
    };
    let xsd = dir.path().join("cin-with-modules.xsd");
    assert_valid(name, doc, xsd.to_str().expect("utf-8 path"));
}

fn gdsn_changes(since_seq: i64) -> Vec<u8> {
    let fixture = fixture();
    let mut w = profile_changes_writer(profile("gdsn-cin"), since_seq);
    let (sku, hash, record) = &fixture[0];
    w.change(Change::Upsert { sku, hash, record })
        .expect("upsert");
    // A product that left: its last record names the trade items to delete.
    let mut gone = record.clone();
    gone.insert("sku".into(), json!("OLD-0009"));
    gone.insert("gtin".into(), json!("03700123456995"));
    gone.insert(
        "packaging".into(),
        json!([{"level": "each", "quantity": 1},
               {"level": "case", "quantity": 12, "gtin": "13700123456992"}]),
    );
    w.delete_json("OLD-0009", Some(&serde_json::to_string(&gone).unwrap()))
        .expect("delete");
    // A tombstone whose record is not known cannot name a trade item: nothing is written.
    w.delete_json("OLD-0010", None).expect("delete");
    let (sku, hash, record) = &fixture[1];
    w.change(Change::Upsert { sku, hash, record })
        .expect("upsert");
    w.finish("c-000123", true).expect("finish")
}

/// Elements of `doc` named `name` (their text), in document order.
fn elements(doc: &str, name: &str) -> Vec<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    doc.split(&open)
        .skip(1)
        .map(|rest| rest.split(&close).next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn gdsn_goldens_validate_against_the_published_schema() {
    let format = profile("gdsn-cin");
    let feed = render_profile_feed(format);
    let changes = gdsn_changes(120);
    let from_start = gdsn_changes(0);
    golden("gdsn-cin.xml", &feed);
    golden("gdsn-cin-changes.xml", &changes);
    assert_valid_gdsn("gdsn-cin.xml", &feed);
    assert_valid_gdsn("gdsn-cin-changes.xml", &changes);
    assert_valid_gdsn("gdsn-cin changes from the start", &from_start);

    let feed = String::from_utf8(feed).expect("utf-8");
    // Only the drill renders: the hostile record and the screw have no GTIN.
    assert_eq!(elements(&feed, "transaction").len(), 1, "{feed}");
    assert!(feed.contains("<sh:Identifier Authority=\"GS1\">3700122000014</sh:Identifier>"));
    assert!(feed.contains("<sh:Identifier Authority=\"GS1\">3760000000109</sh:Identifier>"));
    assert!(feed.contains("<documentCommandHeader type=\"ADD\">"));
    // The tree: pallet, then case, then each; every level with its GTIN and descriptor.
    assert_eq!(
        elements(&feed, "tradeItemUnitDescriptorCode"),
        ["PALLET", "CASE", "BASE_UNIT_OR_EACH"]
    );
    let gtins: Vec<String> = elements(&feed, "gtin");
    assert_eq!(
        gtins,
        [
            "53700123456785",
            "13700123456787",
            "13700123456787",
            "03700123456780",
            "03700123456780"
        ],
        "each trade item, then its child's GTIN"
    );
    assert_eq!(elements(&feed, "quantity"), ["40", "6"]);
    assert_eq!(
        elements(&feed, "quantityOfNextLowerLevelTradeItem"),
        ["40", "6"]
    );
    assert_eq!(elements(&feed, "dataRecipient").len(), 3);
    assert!(elements(&feed, "dataRecipient")
        .iter()
        .all(|g| g == "3760000000109"));
    assert_eq!(elements(&feed, "targetMarketCountryCode")[0], "250");
    assert_eq!(elements(&feed, "gpcCategoryCode")[0], "10005706");
    for measure in [
        "<depth measurementUnitCode=\"MMT\">400</depth>",
        "<depth measurementUnitCode=\"MMT\">325</depth>",
        "<grossWeight measurementUnitCode=\"GRM\">12200</grossWeight>",
        "<netWeight measurementUnitCode=\"GRM\">1450</netWeight>",
    ] {
        assert!(feed.contains(measure), "{measure}");
    }

    let changes = String::from_utf8(changes).expect("utf-8");
    let commands: Vec<&str> = changes
        .split("<documentCommandHeader type=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or_default())
        .collect();
    assert_eq!(commands, ["CHANGE_BY_REFRESH", "DELETE"], "{changes}");
    assert!(changes.contains("<gtin>03700123456995</gtin>"));
    assert!(changes.contains("<gtin>13700123456992</gtin>"));
    assert!(String::from_utf8(from_start)
        .expect("utf-8")
        .contains("<documentCommandHeader type=\"ADD\">"));
}

#[test]
fn gdsn_the_modules_schema_catches_what_the_official_one_lets_through() {
    // The extension wildcard is lax: without the module schemas, a measurement without its
    // unit code would pass. With them, it does not.
    let feed = String::from_utf8(render_profile_feed(profile("gdsn-cin"))).expect("utf-8");
    let broken = feed.replacen("<depth measurementUnitCode=\"MMT\">", "<depth>", 1);
    assert_ne!(broken, feed);
    assert_valid(
        "unit-less depth, official schema",
        broken.as_bytes(),
        GDSN_XSD,
    );
    let Some(dir) = gdsn_modules_schema() else {
        return;
    };
    let xsd = dir.path().join("cin-with-modules.xsd");
    let errors = xsd_check::validate(&xsd, broken.as_bytes())
        .expect_err("a depth without unit must not validate");
    assert!(
        errors.iter().any(|e| e.contains("measurementUnitCode")),
        "{errors:?}"
    );
}

/// The drill with one thing changed in its record.
fn drill_with(change: impl FnOnce(&mut Map<String, Value>)) -> Map<String, Value> {
    let mut record = fixture()[0].2.clone();
    change(&mut record);
    record
}

fn packaging_level(record: &mut Map<String, Value>, index: usize) -> &mut Map<String, Value> {
    record["packaging"][index]
        .as_object_mut()
        .expect("a packaging level")
}

#[test]
fn gdsn_hierarchy_arithmetic_and_check_digits_leave_products_out() {
    let format = profile("gdsn-cin");
    let cases: Vec<(&str, Map<String, Value>, &str)> = vec![
        (
            "quantity mismatch",
            drill_with(|r| {
                packaging_level(r, 2).insert("quantity".into(), json!(244));
            }),
            "the pallet holds 244 base units, which is not a whole number (2 or more) of cases of 6",
        ),
        (
            "case lighter than its contents",
            drill_with(|r| {
                packaging_level(r, 1).insert("gross_weight".into(), json!({"value": "11000", "unit": "g"}));
            }),
            "the case's gross weight 11000 g is below what it holds: 6 × the each's 1900 g = 11400 g",
        ),
        (
            "bad check digit on the case",
            drill_with(|r| {
                packaging_level(r, 1).insert("gtin".into(), json!("13700123456788"));
            }),
            "the case level's GTIN 13700123456788 has an invalid check digit",
        ),
        (
            "no GTIN on the pallet",
            drill_with(|r| {
                packaging_level(r, 2).remove("gtin");
            }),
            "the pallet level has no GTIN",
        ),
        (
            "the case shares the product's GTIN",
            drill_with(|r| {
                packaging_level(r, 1).insert("gtin".into(), json!("03700123456780"));
            }),
            "is also the GTIN of a lower level",
        ),
        (
            "each level holding two",
            drill_with(|r| {
                packaging_level(r, 0).insert("quantity".into(), json!(2));
            }),
            "the each level holds 2 base units",
        ),
    ];
    let valid = &fixture()[0];
    assert_eq!(
        format.check(&valid.0, &valid.2, &publication(0, 0)),
        Vec::new(),
        "the drill itself is valid"
    );
    for (what, record, reason) in &cases {
        let problems = format.check("DRL-1001", record, &publication(0, 0));
        assert!(
            problems.iter().any(|p| p.severity == Severity::Error
                && p.field == "packaging"
                && p.message.contains(reason)),
            "{what}: {problems:?}"
        );
        assert!(profile::excludes(&problems), "{what}");

        // Left out of the feed (no document at all: nothing else renders) ...
        let mut feed = FeedWriter::begin_with(
            Vec::new(),
            format,
            CHANNEL,
            "c",
            &all_fields(),
            &publication(5, 5),
        )
        .expect("begin");
        feed.product("DRL-1001", "h", record).expect("product");
        feed.product(&valid.0, &valid.1, &valid.2).expect("product");
        let doc = String::from_utf8(feed.finish().expect("finish")).expect("utf-8");
        assert_eq!(elements(&doc, "transaction").len(), 1, "{what}");
        assert_valid_gdsn(what, doc.as_bytes());

        // ... and deleted (by its base unit) from a partner's copy in a change page.
        let mut page = ChangesWriter::begin_with(
            Vec::new(),
            format,
            CHANNEL,
            "c",
            &all_fields(),
            &publication(5, 6),
        )
        .expect("begin");
        page.change(Change::Upsert {
            sku: "DRL-1001",
            hash: "h",
            record,
        })
        .expect("upsert");
        let doc = String::from_utf8(page.finish("d", false).expect("finish")).expect("utf-8");
        assert!(
            doc.contains("<documentCommandHeader type=\"DELETE\">"),
            "{what}"
        );
        assert_eq!(
            elements(&doc, "tradeItemUnitDescriptorCode"),
            ["BASE_UNIT_OR_EACH"],
            "{what}"
        );
        assert_valid_gdsn(what, doc.as_bytes());
    }
}

#[test]
fn gdsn_settings_come_from_the_channel_and_are_checked() {
    let format = profile("gdsn-cin");
    let (sku, hash, record) = &fixture()[0];
    let bare = format.check(sku, record, &Publication::bare());
    let fields: Vec<&str> = bare.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "sender_gln",
            "receiver_gln",
            "target_market",
            "gpc_category_code"
        ],
        "{bare:?}"
    );
    let mut bad = publication(0, 0);
    bad.settings
        .insert("sender_gln".into(), "3700122000016".into());
    bad.settings.insert("target_market".into(), "FR".into());
    let problems = format.check(sku, record, &bad);
    assert!(
        problems.iter().any(|p| p.field == "sender_gln"
            && p.message.contains("3700122000016")
            && p.message.contains("check digit")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.field == "target_market"));
    // No product can be rendered: no document.
    let mut feed = FeedWriter::begin_with(Vec::new(), format, CHANNEL, "c", &all_fields(), &bad)
        .expect("begin");
    feed.product(sku, hash, record).expect("product");
    assert!(feed.finish().expect("finish").is_empty());
    // The product's own GPC brick wins over the channel's.
    let own = drill_with(|r| {
        r.insert(
            "attributes".into(),
            json!({"gpc_category_code": "10001234"}),
        );
    });
    let mut feed = FeedWriter::begin_with(
        Vec::new(),
        format,
        CHANNEL,
        "c",
        &all_fields(),
        &publication(0, 0),
    )
    .expect("begin");
    feed.product(sku, hash, &own).expect("product");
    let doc = String::from_utf8(feed.finish().expect("finish")).expect("utf-8");
    assert_eq!(
        elements(&doc, "gpcCategoryCode"),
        ["10001234", "10001234", "10001234"]
    );
}

#[test]
fn gdsn_empty_change_page_is_no_document() {
    let page = ChangesWriter::begin_with(
        Vec::new(),
        profile("gdsn-cin"),
        CHANNEL,
        "c",
        &all_fields(),
        &publication(5, 5),
    )
    .and_then(|w| w.finish("c", false))
    .expect("empty page");
    assert!(page.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The demo catalog in every format, byte for byte

/// Products of the demo catalog per channel variant in the demo renderings.
const DEMO_PRODUCTS: usize = 24;

fn demo_goldens() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/render")
}

/// The channels the demo renderings use: the demo channels, and variants of them in imperial
/// units and other locales, with fewer fields, and without the settings profiles need.
fn demo_variants() -> Vec<(String, Value)> {
    let mut variants = crate::demo::channels();
    let eu = variants[1].1.clone();
    let fr = variants[0].1.clone();
    let mut us = eu.clone();
    us["name"] = json!("US imperial <&> \"network\"");
    us["locale"] = json!("en-US");
    us["units"] = json!("imperial");
    us["assortment"]["statuses"] = json!(["active", "discontinued", "draft"]);
    variants.push(("us-imperial".to_owned(), us));
    let mut de = fr;
    de["name"] = json!("Deutsches Netz");
    de["locale"] = json!("de-AT");
    de["fields"] = json!(["title", "price", "weight"]);
    de["settings"] = json!({});
    variants.push(("de-bare".to_owned(), de));
    let mut nl = eu;
    nl["locale"] = json!("nl");
    nl["fields"] = json!([
        "gtin",
        "title",
        "brand",
        "media",
        "packaging",
        "dimensions",
        "price"
    ]);
    nl["settings"]["target_market"] = json!("52");
    variants.push(("nl-partial".to_owned(), nl));
    variants
}

/// What the renderings must survive besides the demo's clean records: missing members, nulls,
/// numbers where strings are usual, escapes and control characters, limits exceeded, broken
/// packaging hierarchies.
fn demo_mutation(i: usize, record: &mut Map<String, Value>) {
    match i % 12 {
        1 => {
            record.remove("price");
        }
        2 => {
            record.remove("gtin");
            record.insert(
                "media".into(),
                json!([{"url": "https://x.example/a?b=1&c=2"}]),
            );
        }
        3 => {
            let title = format!(
                "{} <&> \"q\" \u{1}\r\n\t{}",
                "é".repeat(100),
                "x".repeat(60)
            );
            record.insert("title".into(), json!(title));
            record.insert("description".into(), json!("d".repeat(6000)));
        }
        5 => {
            if let Some(Value::Array(levels)) = record.get_mut("packaging") {
                if let Some(Value::Object(case)) = levels.get_mut(1) {
                    case.insert("quantity".into(), json!(7));
                }
            }
        }
        6 => {
            record.insert(
                "weight".into(),
                json!({"net": 1.25, "gross": 3, "unit": "kg"}),
            );
            record.insert(
                "dimensions".into(),
                json!({"length": null, "width": "12.50", "height": 4, "unit": "cm"}),
            );
        }
        7 => {
            record.insert("brand".into(), json!("B".repeat(80)));
            record.insert(
                "attributes".into(),
                json!({"gpc_category_code": "123", "nested": {"a": [1, "two"]}, "flag": false}),
            );
        }
        9 => {
            record.insert("status".into(), json!("discontinued"));
            record.insert("packaging".into(), json!([]));
            record.insert(
                "price_tiers".into(),
                json!([{"min_qty": 1}, {"amount": "1.00"}]),
            );
        }
        10 => {
            record.insert(
                "weight".into(),
                json!({"net": "99999999", "gross": "99999999", "unit": "g"}),
            );
            record.insert(
                "dimensions".into(),
                json!({"length": "99999", "width": "1", "height": "1", "unit": "mm"}),
            );
        }
        11 => {
            record.insert("title".into(), json!(""));
            record.insert("brand".into(), Value::Null);
            if let Some(Value::Array(levels)) = record.get_mut("packaging") {
                levels.reverse();
            }
        }
        _ => {}
    }
}

/// The stored records of `def` (SKU, hash, canonical text), written to the golden directory
/// when blessing and read from it otherwise: the renderings' input does not move with the
/// projection.
fn demo_records(code: &str, def: &crate::delta::ChannelDef) -> Vec<(String, String, String)> {
    let path = demo_goldens().join(format!("{code}.records.tsv"));
    if blessing() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let mut out = String::new();
        for (i, value) in crate::demo::products(DEMO_PRODUCTS).enumerate() {
            let product = crate::catalog::parse_product(&value, None).expect("demo product");
            let sku = value["sku"].as_str().expect("sku");
            let Some(mut record) = crate::delta::project(sku, &product, def, now) else {
                continue;
            };
            demo_mutation(i, &mut record);
            let text = crate::jcs::canonical_bytes(&Value::Object(record));
            let hash = crate::jcs::sha256_hex_of(&text);
            let text = String::from_utf8(text).expect("utf-8");
            out.push_str(&format!("{sku}\t{hash}\t{text}\n"));
        }
        std::fs::create_dir_all(demo_goldens()).expect("golden dir");
        std::fs::write(&path, out).expect("write records");
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; PARTNERFEED_BLESS=1 writes it", path.display()));
    text.lines()
        .map(|line| {
            let mut parts = line.splitn(3, '\t');
            let mut next = || parts.next().expect("sku, hash and record").to_owned();
            (next(), next(), next())
        })
        .collect()
}

/// Every format of every demo variant: the full feed, and change pages from the start and
/// after seq 5 (upserts, deletes with and without the last record), rendered from the stored
/// text as the feed endpoint does, against the golden files under `tests/golden/render/`.
#[test]
fn demo_catalog_renders_byte_for_byte_in_every_format() {
    let dir = demo_goldens();
    for (code, body) in demo_variants() {
        let def = crate::delta::parse_channel(&body).expect("channel");
        let fields: Vec<String> = match &def.fields {
            Some(fields) => fields.iter().map(|f| f.as_str().to_owned()).collect(),
            None => all_fields(),
        };
        let records = demo_records(&code, &def);
        assert!(records.len() > DEMO_PRODUCTS / 2, "{code}: few records");
        for format in Format::ALL.into_iter().chain(Format::profiles()) {
            let publication = Publication::of(&def, 40, 40, "2026-06-01T12:00:00Z");
            let mut feed =
                FeedWriter::begin_with(Vec::new(), format, &code, "c-40", &fields, &publication)
                    .expect("begin");
            for (sku, hash, record) in &records {
                feed.product_json(sku, hash, record).expect("product");
            }
            let doc = feed.finish().expect("finish");
            golden_at(&dir, &format!("{code}.feed.{}", format.as_str()), &doc);
            if !format.has_changes() {
                continue;
            }
            for since in [0, 5] {
                let publication = Publication::of(&def, since, 40, "2026-06-01T12:00:00Z");
                let mut page = ChangesWriter::begin_with(
                    Vec::new(),
                    format,
                    &code,
                    "c-since",
                    &fields,
                    &publication,
                )
                .expect("begin");
                for (i, (sku, hash, record)) in records.iter().enumerate() {
                    match i % 6 {
                        4 => page.delete_json(sku, Some(record)),
                        5 if i % 4 == 3 => page.delete_json(sku, None),
                        _ => page.upsert_json(sku, hash, record),
                    }
                    .expect("change");
                }
                let doc = page.finish("c-40", false).expect("finish");
                golden_at(
                    &dir,
                    &format!("{code}.changes-{since}.{}", format.as_str()),
                    &doc,
                );
            }
        }
    }
}
