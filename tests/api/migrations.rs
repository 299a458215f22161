use std::collections::BTreeSet;

use diesel_migrations::MigrationHarness;
use partnerfeed::store::{self, Backend, Db, DbConnection};

fn names(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn both_backends_have_the_same_migrations() {
    assert_eq!(names("sqlite"), names("postgres"));
    assert!(!names("sqlite").is_empty());
}

#[test]
fn migrations_go_up_down_and_up_again() {
    let test_db = crate::helpers::TestDb::new();
    let db = Db::connect(Backend::from_url(&test_db.url).unwrap()).unwrap();
    db.migrate().unwrap();
    let mut conn = db.write_conn().unwrap();
    let conn: &mut DbConnection = &mut conn;
    match conn {
        DbConnection::Sqlite(c) => {
            c.revert_all_migrations(store::SQLITE_MIGRATIONS).unwrap();
        }
        DbConnection::Postgres(c) => {
            c.revert_all_migrations(store::POSTGRES_MIGRATIONS).unwrap();
        }
    }
    store::run_migrations(conn).unwrap();
    assert_eq!(store::products::count(conn).unwrap(), 0);
}

#[test]
fn an_unknown_database_scheme_is_refused_with_a_clear_message() {
    let err = Backend::from_url("mysql://localhost/x").unwrap_err();
    assert!(
        err.contains("mysql") && err.contains("sqlite://") && err.contains("postgres://"),
        "{err}"
    );
}

/// Applies migrations up to (not including) `version`: all of them, then reverts the last until
/// `version` is no longer applied.
fn migrate_below(conn: &mut DbConnection, version: &str) {
    let is_it =
        |v: &diesel::migration::MigrationVersion<'_>| v.to_string().replace('-', "") == version;
    match conn {
        DbConnection::Sqlite(c) => {
            c.run_pending_migrations(store::SQLITE_MIGRATIONS).unwrap();
            while c.applied_migrations().unwrap().iter().any(is_it) {
                c.revert_last_migration(store::SQLITE_MIGRATIONS).unwrap();
            }
        }
        DbConnection::Postgres(c) => {
            c.run_pending_migrations(store::POSTGRES_MIGRATIONS)
                .unwrap();
            while c.applied_migrations().unwrap().iter().any(is_it) {
                c.revert_last_migration(store::POSTGRES_MIGRATIONS).unwrap();
            }
        }
    }
}

#[test]
fn grants_move_to_channel_ids_in_place_and_ungranted_subscriptions_end() {
    use diesel::RunQueryDsl;
    let test_db = crate::helpers::TestDb::new();
    let db = Db::connect(Backend::from_url(&test_db.url).unwrap()).unwrap();
    let mut conn = db.write_conn().unwrap();
    let conn: &mut DbConnection = &mut conn;
    migrate_below(conn, "20261205000020");
    let at = "'2026-01-01 00:00:00'";
    for sql in [
        format!("INSERT INTO channels (code, definition, definition_hash, last_seq, purged_seq, created_at, updated_at) VALUES ('ch-a', '{{}}', 'h', 0, 0, {at}, {at})"),
        format!("INSERT INTO channels (code, definition, definition_hash, last_seq, purged_seq, created_at, updated_at) VALUES ('ch-b', '{{}}', 'h', 0, 0, {at}, {at})"),
        format!("INSERT INTO resellers (code, name, email, created_at, updated_at) VALUES ('shop', 'Shop', 'it@shop.example', {at}, {at})"),
        "INSERT INTO reseller_channels (reseller_code, channel_code) VALUES ('shop', 'ch-a')".into(),
        "INSERT INTO reseller_channels (reseller_code, channel_code) VALUES ('shop', 'gone-ch')".into(),
        format!("INSERT INTO subscriptions (id, reseller_code, channel_id, url, format, secret, enabled, cursor_seq, failures, batch_attempts, created_at, updated_at, kind, email, every) VALUES ('sub-a', 'shop', (SELECT id FROM channels WHERE code = 'ch-a'), '', 'csv', '', TRUE, 0, 0, 0, {at}, {at}, 'email', 'd@shop.example', 'daily')"),
        format!("INSERT INTO subscriptions (id, reseller_code, channel_id, url, format, secret, enabled, cursor_seq, failures, batch_attempts, created_at, updated_at, batch_id, batch_from, batch_to, batch_body) VALUES ('sub-b', 'shop', (SELECT id FROM channels WHERE code = 'ch-b'), 'https://hook.example/', 'json', 'whsec_x', TRUE, 0, 0, 0, {at}, {at}, 'msg_1', 0, 1, '{{}}')"),
        format!("INSERT INTO delivery_attempts (subscription_id, at, webhook_id, from_seq, to_seq, latency_ms) VALUES ('sub-a', {at}, 'dig_1', 0, 1, 5)"),
    ] {
        diesel::sql_query(sql).execute(conn).unwrap();
    }
    store::run_migrations(conn).unwrap();

    assert_eq!(
        store::resellers::channels_of(conn, "shop").unwrap(),
        ["ch-a"]
    );
    let a = store::subscriptions::get(conn, "sub-a", None)
        .unwrap()
        .unwrap();
    assert_eq!(a.ended(), None);
    assert_eq!(a.channel_code, "ch-a");
    assert!(
        !a.row.email_confirmed,
        "a digest from before confirmation starts unconfirmed"
    );
    assert_eq!(
        store::subscriptions::attempts(conn, "sub-a", None, 10)
            .unwrap()
            .len(),
        1
    );
    let b = store::subscriptions::get(conn, "sub-b", None)
        .unwrap()
        .unwrap();
    assert_eq!(b.ended(), Some("access_revoked"));
    assert!(b.row.batch_body.is_none(), "its frozen batch is dropped");
    assert_eq!(b.contact.as_deref(), Some("it@shop.example"));
}

/// Tokens stored before they had public ids get one each (`tok_` and 32 hex digits, all
/// different) and keep working: their hash, role and name are untouched.
#[test]
fn existing_tokens_get_public_ids_in_place() {
    use diesel::RunQueryDsl;
    const VERSION: &str = "20261205000010";
    let test_db = crate::helpers::TestDb::new();
    let db = Db::connect(Backend::from_url(&test_db.url).unwrap()).unwrap();
    db.migrate().unwrap();
    let mut conn = db.write_conn().unwrap();
    let conn: &mut DbConnection = &mut conn;
    // Back to the schema before the token lifecycle, whatever came after it.
    macro_rules! before_lifecycle {
        ($c:expr, $source:expr) => {
            while $c
                .applied_migrations()
                .unwrap()
                .iter()
                .any(|v| v.to_string() == VERSION)
            {
                $c.revert_last_migration($source).unwrap();
            }
        };
    }
    match conn {
        DbConnection::Sqlite(c) => before_lifecycle!(c, store::SQLITE_MIGRATIONS),
        DbConnection::Postgres(c) => before_lifecycle!(c, store::POSTGRES_MIGRATIONS),
    }
    let hashes = [
        partnerfeed::service::tokens::hash("pf_one"),
        partnerfeed::service::tokens::hash("pf_two"),
    ];
    for (hash, role) in hashes.iter().zip(["admin", "editor"]) {
        diesel::sql_query(format!(
            "INSERT INTO tokens (token_hash, name, role, reseller_code, created_at) \
             VALUES ('{hash}', 'old {role}', '{role}', NULL, CURRENT_TIMESTAMP)"
        ))
        .execute(conn)
        .unwrap();
    }
    store::run_migrations(conn).unwrap();
    let rows = store::tokens::list(conn).unwrap();
    assert_eq!(rows.len(), 2);
    for (row, hash) in rows.iter().zip(&hashes) {
        assert_eq!(&row.token_hash, hash);
        assert_eq!(row.name, format!("old {}", row.role));
        assert!(row.expires_at.is_none() && row.last_used_at.is_none());
        let hex = row.public_id.strip_prefix("tok_").unwrap();
        assert!(
            hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}",
            row.public_id
        );
    }
    assert_ne!(rows[0].public_id, rows[1].public_id);
    let found = store::tokens::find_by_hash(conn, &hashes[0])
        .unwrap()
        .unwrap();
    assert_eq!(found.role, "admin");
}

#[test]
fn products_stored_before_the_search_index_are_indexed_by_the_migration() {
    use diesel::RunQueryDsl;
    let test_db = crate::helpers::TestDb::new();
    let db = Db::connect(Backend::from_url(&test_db.url).unwrap()).unwrap();
    let mut conn = db.write_conn().unwrap();
    let conn: &mut DbConnection = &mut conn;
    migrate_below(conn, "20261205000050");
    let at = "'2026-01-01 00:00:00'";
    for (sku, body) in [
        (
            "MUG-1",
            r#"{"sku":"MUG-1","status":"active","title":{"en":"Blue mug","de":"Blaue Tasse"}}"#,
        ),
        (
            "PLATE-1",
            r#"{"gtin":"04006381333931","sku":"PLATE-1","status":"active","title":{"en":"Blue plate"}}"#,
        ),
    ] {
        diesel::sql_query(format!(
            "INSERT INTO products (sku, body, hash, version, created_at, updated_at) \
             VALUES ('{sku}', '{body}', 'h', 1, {at}, {at})"
        ))
        .execute(conn)
        .unwrap();
    }
    store::run_migrations(conn).unwrap();
    let find = |conn: &mut DbConnection, words: &[&str]| {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        store::products::search_words(conn, &words, None, 10).unwrap()
    };
    assert_eq!(find(conn, &["blue"]), ["MUG-1", "PLATE-1"]);
    assert_eq!(find(conn, &["tasse"]), ["MUG-1"]);
    assert_eq!(find(conn, &["blue", "plate"]), ["PLATE-1"]);
    assert_eq!(find(conn, &["04006381333931"]), ["PLATE-1"]);
    assert!(find(conn, &["green"]).is_empty());
}

#[test]
fn the_catalog_size_and_old_history_entries_are_migrated_in_place() {
    use diesel::RunQueryDsl;
    let test_db = crate::helpers::TestDb::new();
    let db = Db::connect(Backend::from_url(&test_db.url).unwrap()).unwrap();
    let mut conn = db.write_conn().unwrap();
    let conn: &mut DbConnection = &mut conn;
    migrate_below(conn, "20261206000400");
    let at = "'2026-01-01 00:00:00'";
    for sku in ["MUG-1", "MUG-2", "MUG-3"] {
        let body = format!(r#"{{"sku":"{sku}","status":"active","title":{{"en":"Mug"}}}}"#);
        diesel::sql_query(format!(
            "INSERT INTO products (sku, body, hash, version, created_at, updated_at) \
             VALUES ('{sku}', '{body}', 'h2', 2, {at}, {at})"
        ))
        .execute(conn)
        .unwrap();
    }
    diesel::sql_query(format!(
        "INSERT INTO product_history (sku, at, by_name, fields, hash_before, hash_after) \
         VALUES ('MUG-1', {at}, 'admin', '[\"title\"]', 'h1', 'h2')"
    ))
    .execute(conn)
    .unwrap();
    store::run_migrations(conn).unwrap();
    // The size counts the products already there; the old entry keeps no values.
    assert_eq!(store::snapshots::catalog_size(conn).unwrap(), 3);
    let history = store::products::history(conn, "MUG-1").unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].fields, "[\"title\"]");
    assert_eq!(history[0].changes, None);
}

/// Records stored as text before they were stored compactly read back the same after the
/// migration (hash and record, a tombstone's too), and the migration goes back down while the
/// records are still JSON.
#[test]
fn records_stored_as_text_read_back_the_same_when_stored_compactly() {
    use diesel::RunQueryDsl;
    use partnerfeed::store::channel_records;
    const VERSION: &str = "20261206000700";
    let test_db = crate::helpers::TestDb::new();
    let db = Db::connect(Backend::from_url(&test_db.url).unwrap()).unwrap();
    let mut conn = db.write_conn().unwrap();
    let conn: &mut DbConnection = &mut conn;
    migrate_below(conn, VERSION);
    let live = r#"{"sku":"A-1","title":"Perceuse à percussion"}"#;
    let gone = r#"{"sku":"B-2","title":"Scie"}"#;
    let hash_a = "ab".repeat(32);
    let at = "'2026-01-01 00:00:00'";
    for sql in [
        format!("INSERT INTO channels (code, definition, definition_hash, last_seq, purged_seq, created_at, updated_at) VALUES ('ch', '{{}}', 'h', 2, 0, {at}, {at})"),
        format!("INSERT INTO channel_records (channel_id, sku, seq, hash, record, deleted_at) VALUES ((SELECT id FROM channels), 'A-1', 1, '{hash_a}', '{live}', NULL)"),
        format!("INSERT INTO channel_records (channel_id, sku, seq, hash, record, deleted_at) VALUES ((SELECT id FROM channels), 'B-2', 2, NULL, '{gone}', {at})"),
    ] {
        diesel::sql_query(sql).execute(conn).unwrap();
    }
    for round in ["up", "down and up again"] {
        if round != "up" {
            migrate_below(conn, VERSION);
        }
        store::run_migrations(conn).unwrap();
        let id = store::channels::get(conn, "ch").unwrap().unwrap().id;
        let page = channel_records::live_page(conn, id, "", 10).unwrap();
        assert_eq!(page.len(), 1, "{round}");
        let row = page.get(0).unwrap();
        assert_eq!(
            (row.sku, row.hash, row.record),
            ("A-1", hash_a.as_str(), live),
            "{round}"
        );
        let rows = channel_records::changes_until(conn, id, 0, 2, 10).unwrap();
        assert_eq!(rows.len(), 2, "{round}");
        assert_eq!(rows[1].hash, None, "{round}");
        assert_eq!(rows[1].record.as_deref(), Some(gone), "{round}");
        assert!(rows[1].deleted_at.is_some(), "{round}");
    }
}
