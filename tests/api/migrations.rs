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
