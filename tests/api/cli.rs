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
