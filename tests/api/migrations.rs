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
        partnerfeed::tokens::hash("pf_one"),
        partnerfeed::tokens::hash("pf_two"),
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
