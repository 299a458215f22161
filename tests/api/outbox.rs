//! The outbox's two lanes: the generator finds and claims single edits ahead of a catalog-wide
//! change without reading through it, however the database plans its statements.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use partnerfeed::store::outbox::{self, NewOutboxEvent};
use partnerfeed::store::{Backend, Db, DbConnection};

use crate::helpers::TestDb;

/// Events of the catalog-wide change queued in the bulk lane.
const BULK: usize = 100_000;

#[derive(QueryableByName)]
struct Read {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The outbox's rows this backend has read and not yet reported to the database's statistics:
/// by sequential scans, and fetched through index scans.
fn read_so_far(pg: &mut PgConnection) -> i64 {
    diesel::sql_query(
        "SELECT (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::int8 AS n \
         FROM pg_stat_xact_user_tables WHERE relname = 'catalog_outbox'",
    )
    .get_result::<Read>(pg)
    .unwrap()
    .n
}

#[test]
fn single_edits_are_found_and_claimed_without_reading_the_bulk_lane() {
    let test_db = TestDb::new();
    let db = Db::connect(Backend::from_url(&test_db.url).unwrap()).unwrap();
    db.migrate().unwrap();
    let mut conn = db.write_conn().unwrap();
    let conn: &mut DbConnection = &mut conn;
    // Statements only PostgreSQL is given.
    let on_postgres = |conn: &mut DbConnection, sql: &str| {
        if let DbConnection::Postgres(pg) = conn {
            diesel::sql_query(sql).execute(pg).unwrap();
        }
    };
    // What PostgreSQL does from a prepared statement's sixth run when it deems a plan for any
    // parameters as good: plan it once, without the values.
    on_postgres(conn, "SET plan_cache_mode = force_generic_plan");
    let at = chrono::Utc::now().naive_utc();
    let skus: Vec<String> = (0..BULK + 2).map(|i| format!("SKU-{i:06}")).collect();
    let event = |sku, bulk| NewOutboxEvent {
        sku,
        hash: None,
        by_name: "lanes",
        at,
        bulk,
    };
    // A catalog-wide change, then two single edits.
    let change: Vec<_> = skus[..BULK]
        .iter()
        .map(|s| event(s.as_str(), true))
        .collect();
    outbox::insert(conn, &change).unwrap();
    let edits = [
        event(skus[BULK].as_str(), false),
        event(skus[BULK + 1].as_str(), false),
    ];
    outbox::insert(conn, &edits).unwrap();
    // The statistics autovacuum gathers on a busy outbox.
    on_postgres(conn, "ANALYZE catalog_outbox");

    // The single edits come first, though queued last; then the change, oldest first.
    let mut claimed = Vec::new();
    for _ in 0..8 {
        assert!(outbox::newest_interactive(conn).unwrap().is_some());
        claimed = outbox::claim(conn, 1, 100, true).unwrap();
        let skus: Vec<&str> = claimed.iter().map(|e| e.sku.as_str()).collect();
        assert_eq!(skus, ["SKU-100000", "SKU-100001"]);
    }
    let ids: Vec<i64> = claimed.iter().map(|e| e.id).collect();
    assert_eq!(outbox::finish(conn, &ids, 1, 1).unwrap(), 2);
    let next = outbox::claim(conn, 1, 100, true).unwrap();
    assert_eq!(next.len(), 100);
    assert_eq!(next[0].sku, "SKU-000000");
    assert!(next.iter().all(|e| e.bulk));

    // With no single edit left, looking for one reads nothing of the change, however often:
    // a plan by id reads every event of the change to find none.
    // In one transaction, the counts stay those of this backend, not yet merged into the
    // database's (where another session's reads would be counted too).
    on_postgres(conn, "BEGIN");
    let before = match &mut *conn {
        DbConnection::Postgres(pg) => read_so_far(pg),
        DbConnection::Sqlite(_) => 0,
    };
    for _ in 0..8 {
        assert_eq!(outbox::newest_interactive(conn).unwrap(), None);
        assert!(outbox::claim(conn, 1, 100, false).unwrap().is_empty());
    }
    if let DbConnection::Postgres(pg) = &mut *conn {
        let read = read_so_far(pg) - before;
        assert!(
            read < 100,
            "16 looks for a single edit read {read} rows of the outbox"
        );
    }
    on_postgres(conn, "COMMIT");
}
