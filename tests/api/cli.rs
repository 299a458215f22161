use std::process::Command;

use partnerfeed::store::{self, Backend, Db};

use crate::helpers::{drill, TestDb};

fn partnerfeed(test_db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_partnerfeed"));
    cmd.env("DATABASE_URL", &test_db.url)
        .env("PARTNERFEED_DATA_DIR", test_db.data_dir())
        .env("RUST_LOG", "warn");
    cmd
}

fn count(test_db: &TestDb) -> i64 {
    let db = Db::connect(Backend::from_url(&test_db.url).unwrap()).unwrap();
    let mut conn = db.read_conn().unwrap();
    store::products::count(&mut conn).unwrap()
}

#[test]
fn token_create_prints_the_token_alone() {
    let test_db = TestDb::new();
    let out = partnerfeed(&test_db)
        .args(["token", "create", "--role", "editor", "--name", "pim"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim_end_matches('\n');
    assert!(
        token.starts_with("pf_") && !token.contains(char::is_whitespace),
        "{stdout:?}"
    );
    let refused = partnerfeed(&test_db)
        .args(["token", "create", "--role", "reseller", "--name", "x"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
}

#[test]
fn ndjson_import_keeps_good_lines_names_bad_ones_and_fails() {
    let test_db = TestDb::new();
    let file = test_db.data_dir().join("products.ndjson");
    let mut bad = drill("I-2");
    bad["gtin"] = serde_json::json!("123");
    std::fs::write(
        &file,
        format!("{}\n{}\n{}\n", drill("I-1"), bad, drill("I-3")),
    )
    .unwrap();
    let out = partnerfeed(&test_db)
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("line 2") && stderr.contains("/gtin"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 stored"));
    assert_eq!(count(&test_db), 2);

    // Importing the same good lines again changes nothing and succeeds.
    std::fs::write(&file, format!("{}\n{}\n", drill("I-1"), drill("I-3"))).unwrap();
    let out = partnerfeed(&test_db)
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 unchanged"));
}

#[test]
fn migrate_applies_migrations_and_a_bad_scheme_is_refused() {
    let test_db = TestDb::new();
    let out = partnerfeed(&test_db).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = partnerfeed(&test_db)
        .env("DATABASE_URL", "mysql://localhost/db")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not supported"));
}

#[test]
fn csv_import_follows_the_documented_columns() {
    let test_db = TestDb::new();
    let file = test_db.data_dir().join("products.csv");
    std::fs::write(
        &file,
        "sku,gtin,status,brand,category,title_fr,title_en,attr_voltage,price_retail_EUR,length,width,height,dimension_unit,case_qty\n\
         DRL-1001,3700123456780,active,Acme,tools/drills,Perceuse 18 V,18 V drill,18,129.90,32.5,9,24,cm,6\n\
         DRL-1002,3700123456781,active,Acme,tools/drills,Perceuse,Drill,14,99.00,,,,,\n\
         DRL-1003,,draft,Acme,tools/drills,Perceuse 12 V,,12,12.345,,,,,\n\
         DRL-1004,,active,Acme,tools/drills,Perceuse 10 V,,10,49.00,,,,,\n",
    )
    .unwrap();
    let out = partnerfeed(&test_db)
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("line 3") && stderr.contains("/gtin"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 4") && stderr.contains("/prices/0/amount"),
        "{stderr}"
    );
    assert_eq!(count(&test_db), 2);
    let db = Db::connect(Backend::from_url(&test_db.url).unwrap()).unwrap();
    let mut conn = db.read_conn().unwrap();
    let row = store::products::get(&mut conn, "DRL-1001")
        .unwrap()
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&row.body).unwrap();
    assert_eq!(body["dimensions"]["length"], "325");
    assert_eq!(body["packaging"][1]["quantity"], 6);
    assert_eq!(body["title"]["en"], "18 V drill");
}

#[test]
fn demo_fills_the_catalog_and_export_writes_each_format() {
    let test_db = TestDb::new();
    let out = partnerfeed(&test_db)
        .args(["demo", "--products", "300"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("300 stored") && stdout.contains("shop-42: pf_"),
        "{stdout}"
    );
    assert_eq!(count(&test_db), 300);
    // A second run changes nothing.
    let again = partnerfeed(&test_db)
        .args(["demo", "--products", "300"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("300 unchanged"));

    let db = Db::connect(Backend::from_url(&test_db.url).unwrap()).unwrap();
    partnerfeed::jobs::delta::drain(&db, chrono::Utc::now()).unwrap();
    let dir = test_db.data_dir();
    // Exports `channel` in `format` to `path`; answers what the command said on stderr.
    let export = |channel: &str, format: &str, path: &std::path::Path| {
        let out = partnerfeed(&test_db)
            .args([
                "export",
                "--channel",
                channel,
                "--format",
                format,
                "--output",
            ])
            .arg(path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    for channel in ["fr-resellers", "eu-marketplace"] {
        for format in ["json", "ndjson", "csv", "xml"] {
            let path = dir.join(format!("{channel}.{format}"));
            assert!(export(channel, format, &path).contains("cursor: "));
            if format == "xml" {
                crate::helpers::validate_xml(&path, "feeds/partnerfeed-feed.xsd");
            }
        }
        let feed: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{channel}.json"))).unwrap())
                .unwrap();
        let products = feed["products"].as_array().unwrap();
        assert!(
            products.len() > 50,
            "{channel} carries {} products",
            products.len()
        );
        let ndjson = std::fs::read_to_string(dir.join(format!("{channel}.ndjson"))).unwrap();
        assert_eq!(ndjson.lines().count(), products.len());
        for p in products {
            let hash = crate::channels::sha256_hex(&crate::channels::jcs(&p["record"]));
            assert_eq!(p["hash"], hash.as_str());
        }
        // Every demo product renders in GS1 GDSN: a valid CIN with one transaction each.
        let path = dir.join(format!("{channel}.gdsn.xml"));
        export(channel, "gdsn-cin", &path);
        crate::helpers::validate_xml(
            &path,
            "../shared/schemas/gdsn-3.1/gs1/gdsn/CatalogueItemNotification.xsd",
        );
        let cin = std::fs::read_to_string(&path).unwrap();
        assert_eq!(cin.matches("<transaction>").count(), products.len());
        // Changes since the export's cursor: none yet.
        let cursor = feed["cursor"].as_str().unwrap();
        let out = partnerfeed(&test_db)
            .args(["export", "--channel", channel, "--since", cursor])
            .output()
            .unwrap();
        let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(page["changes"].as_array().unwrap().len(), 0);
        assert_eq!(page["next"], cursor);
    }
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `partnerfeed serve` on a data directory it creates; returns once it listens, with what it
/// wrote to stdout and stderr until then.
fn serve_until_listening(test_db: &TestDb, data_dir: &std::path::Path) -> (String, String) {
    use std::io::{BufRead, Read};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_partnerfeed"));
    cmd.arg("serve")
        .env("PARTNERFEED_DATA_DIR", data_dir)
        .env("PARTNERFEED_BIND", "127.0.0.1:0")
        .env_remove("PARTNERFEED_ADMIN_TOKEN")
        .env_remove("PARTNERFEED_SECRET_KEY")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if test_db.url.starts_with("postgres") {
        cmd.env("DATABASE_URL", &test_db.url);
    } else {
        // SQLite: the default file in the data directory.
        cmd.env_remove("DATABASE_URL");
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !log.contains("partnerfeed listening") {
        assert!(
            std::time::Instant::now() < deadline,
            "never listened: {log}"
        );
        if stderr.read_line(&mut log).unwrap() == 0 {
            panic!("serve exited: {log}");
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    stderr.read_to_string(&mut log).unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (out, log)
}

#[cfg(unix)]
#[test]
fn serve_keeps_the_admin_token_out_of_its_output_and_its_files_private() {
    let test_db = TestDb::new();
    let data_dir = test_db.data_dir().join("data");
    let (stdout, stderr) = serve_until_listening(&test_db, &data_dir);
    let token_file = data_dir.join("admin.token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    let token = token.trim();
    assert!(token.starts_with("pf_"), "{token}");
    assert!(
        !stdout.contains(token) && !stderr.contains(token),
        "the admin token is in the output:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("admin.token"),
        "the log says where: {stderr}"
    );
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&token_file), 0o600);
    assert_eq!(mode(&data_dir.join("secret.key")), 0o600);
    // The spool's files are unlinked at once, and its directory is no less private.
    assert_eq!(mode(&data_dir.join("spool")), 0o700);
    let db = data_dir.join("partnerfeed.db");
    if !test_db.url.starts_with("postgres") {
        for file in ["partnerfeed.db", "partnerfeed.db-wal", "partnerfeed.db-shm"] {
            assert_eq!(mode(&data_dir.join(file)), 0o600, "{file}");
        }
        // Looser modes left by an older version are tightened at the next start.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_partnerfeed"))
            .arg("migrate")
            .env("PARTNERFEED_DATA_DIR", &data_dir)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(mode(&data_dir), 0o700);
        assert_eq!(mode(&db), 0o600);
    }
}

/// Runs `args` against a database that a start sealed with its own `secret.key`, from another
/// data directory without that key; asserts the refusal and that no key file was left behind.
fn refused_without_the_key_in_force(
    test_db: &TestDb,
    args: &[&std::ffi::OsStr],
) -> std::process::Output {
    let data_dir = test_db.data_dir().join("data");
    // A start seals the cursor key with `data/secret.key`.
    serve_until_listening(test_db, &data_dir);
    let url = if test_db.url.starts_with("postgres") {
        test_db.url.clone()
    } else {
        format!("sqlite://{}", data_dir.join("partnerfeed.db").display())
    };
    let elsewhere = test_db.data_dir().join("elsewhere");
    let out = Command::new(env!("CARGO_BIN_EXE_partnerfeed"))
        .args(args)
        .env("DATABASE_URL", &url)
        .env("PARTNERFEED_DATA_DIR", &elsewhere)
        .env_remove("PARTNERFEED_SECRET_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("were encrypted with secret key"),
        "{stderr}"
    );
    assert!(
        !elsewhere.join("secret.key").exists(),
        "a key file was left behind"
    );
    out
}

#[test]
fn secret_key_rotate_without_the_key_in_force_keeps_no_key_file() {
    let test_db = TestDb::new();
    let new_key = test_db.data_dir().join("new.key");
    let generated = partnerfeed(&test_db)
        .args(["secret-key", "generate"])
        .output()
        .unwrap();
    std::fs::write(&new_key, &generated.stdout).unwrap();
    // Rotating from a data directory that lacks the key refuses, and leaves no key file.
    let args = [
        "secret-key".as_ref(),
        "rotate".as_ref(),
        "--new-key-file".as_ref(),
        new_key.as_os_str(),
    ];
    refused_without_the_key_in_force(&test_db, &args);
}

#[test]
fn export_without_the_key_in_force_keeps_no_key_file() {
    let test_db = TestDb::new();
    // Exporting from a data directory that lacks the key refuses, writes nothing, and leaves no
    // key file.
    let args =
        ["export", "--channel", "eu-marketplace", "--format", "json"].map(std::ffi::OsStr::new);
    let out = refused_without_the_key_in_force(&test_db, &args);
    assert!(out.stdout.is_empty(), "nothing is exported");
}

#[test]
fn token_list_and_revoke_on_the_command_line() {
    let test_db = TestDb::new();
    let out = partnerfeed(&test_db)
        .args(["token", "create", "--role", "editor", "--name", "pim"])
        .args(["--expires-at", "2099-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("token id: "))
        .unwrap_or_else(|| panic!("no id on stderr: {stderr}"))
        .to_string();
    assert!(id.starts_with("tok_"));

    let list = |test_db: &TestDb| -> (String, Vec<serde_json::Value>) {
        let out = partnerfeed(test_db)
            .args(["token", "list"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let rows = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (text, rows)
    };
    let (text, rows) = list(&test_db);
    assert!(
        !text.contains(&secret) && !text.contains(&partnerfeed::service::tokens::hash(&secret))
    );
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0]["id"], id);
    assert_eq!(rows[0]["name"], "pim");
    assert_eq!(rows[0]["role"], "editor");
    assert_eq!(rows[0]["expires_at"], "2099-01-01T00:00:00Z");
    assert_eq!(rows[0]["last_used_at"], serde_json::Value::Null);

    let out = partnerfeed(&test_db)
        .args(["token", "revoke", &id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(list(&test_db).1.is_empty());
    let again = partnerfeed(&test_db)
        .args(["token", "revoke", &id])
        .output()
        .unwrap();
    assert!(!again.status.success(), "an unknown id is an error");
    let past = partnerfeed(&test_db)
        .args(["token", "create", "--role", "editor", "--name", "x"])
        .args(["--expires-at", "2001-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert!(!past.status.success());
}

/// The binary with an empty environment (nothing inherited from the shell) but `vars`.
fn partnerfeed_with(vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_partnerfeed"));
    cmd.env_clear().env("RUST_LOG", "warn");
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd
}

#[test]
fn a_bad_setting_stops_the_start_with_status_2_naming_it_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap();
    let file = dir.path().join("partnerfeed.toml");
    std::fs::write(&file, "keep_alive = \"soon\"\n").unwrap();
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "rate_limitt = 5\n").unwrap();
    let cases: Vec<(Command, String)> = vec![
        (
            {
                let mut c = partnerfeed_with(&[
                    ("PARTNERFEED_DATA_DIR", data),
                    ("PARTNERFEED_WEBHOOK_RETRY_SCHEDULE", "5x"),
                ]);
                c.arg("serve");
                c
            },
            "PARTNERFEED_WEBHOOK_RETRY_SCHEDULE: \"5x\" is not a duration".into(),
        ),
        (
            {
                let mut c = partnerfeed_with(&[("PARTNERFEED_DATA_DIR", data)]);
                c.args(["serve", "--rate-limit", "fast"]);
                c
            },
            "--rate-limit: \"fast\" is not a whole number".into(),
        ),
        (
            {
                let mut c = partnerfeed_with(&[("PARTNERFEED_DATA_DIR", data)]);
                c.args(["serve", "--config", file.to_str().unwrap()]);
                c
            },
            format!("{}: keep_alive: \"soon\" is not a duration", file.display()),
        ),
        (
            {
                let mut c = partnerfeed_with(&[
                    ("PARTNERFEED_DATA_DIR", data),
                    ("PARTNERFEED_CONFIG", typo.to_str().unwrap()),
                ]);
                c.arg("migrate");
                c
            },
            format!("{}: unknown key \"rate_limitt\"", typo.display()),
        ),
    ];
    for (mut cmd, expected) in cases {
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expected}: {stderr}");
        assert!(stderr.contains(&expected), "{expected}: {stderr}");
    }
    // Nothing was started: the data directory was not even made.
    assert!(!data_dir.exists());
}

#[test]
fn config_prints_every_value_with_its_source_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("partnerfeed.toml");
    std::fs::write(
        &file,
        "bind = \"0.0.0.0:9000\"\nrate_limit = 7\nmetrics_token = \"file-secret-value\"\n\
         webhook_allow = [\"10.0.0.0/8\"]\n",
    )
    .unwrap();
    let out = partnerfeed_with(&[
        ("PARTNERFEED_CONFIG", file.to_str().unwrap()),
        ("PARTNERFEED_RATE_LIMIT", "8"),
        ("PARTNERFEED_ADMIN_TOKEN", "pf_env-secret-value"),
        (
            "DATABASE_URL",
            "postgres://pf:db-secret-value@db.example/pf",
        ),
    ])
    .args(["config", "--workers", "3"])
    .output()
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("secret-value"), "{stdout}");
    let line = |key: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key}: {stdout}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let from_file = format!("# file {}", file.display());
    assert_eq!(line("bind"), format!("bind = 0.0.0.0:9000 {from_file}"));
    assert_eq!(
        line("webhook_allow"),
        format!("webhook_allow = 10.0.0.0/8 {from_file}")
    );
    assert_eq!(
        line("metrics_token"),
        format!("metrics_token = [redacted] {from_file}")
    );
    assert_eq!(
        line("rate_limit"),
        "rate_limit = 8 # env PARTNERFEED_RATE_LIMIT"
    );
    assert_eq!(
        line("admin_token"),
        "admin_token = [redacted] # env PARTNERFEED_ADMIN_TOKEN"
    );
    assert_eq!(
        line("database_url"),
        "database_url = postgres://pf:[redacted]@db.example/pf # env DATABASE_URL"
    );
    assert_eq!(line("workers"), "workers = 3 # flag --workers");
    assert_eq!(line("body_limit"), "body_limit = 67108864 # default");
    assert!(
        stdout.starts_with(&format!(
            "# file: {} (env PARTNERFEED_CONFIG)",
            file.display()
        )),
        "{stdout}"
    );
}
