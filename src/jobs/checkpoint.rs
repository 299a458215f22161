//! SQLite: the write-ahead log copied back into the database file from a connection of its
//! own, every [`EVERY`], so that the writer's commits do not do it. The writer still does it
//! itself once the log passes `store::WRITER_AUTOCHECKPOINT_PAGES` (1 GiB), which bounds the log
//! while the generator commits without a pause (the log then cannot start over) or if this loop
//! falls behind. Nothing on PostgreSQL.

use std::time::Duration;

use crate::store::{self, Backend, Db, DbConnection};

/// How often the log is copied back.
pub const EVERY: Duration = Duration::from_millis(200);

/// The loop that `serve` runs.
pub async fn run(db: Db) {
    if !matches!(db.backend(), Backend::Sqlite(_)) {
        return;
    }
    let mut kept: Option<DbConnection> = None;
    loop {
        tokio::time::sleep(EVERY).await;
        let (db, conn) = (db.clone(), kept.take());
        let step = tokio::task::spawn_blocking(move || {
            let mut conn = match conn {
                Some(c) => c,
                None => db.connect_one()?,
            };
            store::checkpoint(&mut conn).map(|()| conn)
        })
        .await;
        match step {
            Ok(Ok(conn)) => kept = Some(conn),
            Ok(Err(e)) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying"),
            Err(e) => tracing::error!(error = %e, "WAL checkpoint panicked; retrying"),
        }
    }
}
