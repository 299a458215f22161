//! Group commit: many small write operations from concurrent tasks (the webhook deliveries'
//! claims, freezes, send checks and outcomes) committed together, one transaction for all
//! those waiting, instead of one each. A fan-out of one change to a thousand subscriptions
//! then costs a few commits, not thousands.
//!
//! Each operation keeps its meaning: its caller gets its answer only after the transaction
//! holding it committed, so "checked, then sent" still means "checked and committed, then
//! sent". When any operation of a group fails (or the commit does), the group is rolled back
//! and each of its operations runs again alone, in its own transaction, as
//! [`super::Db::write`] would have run it: one failure never fails the others.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{transaction, Backend, Db, DbConnection, StoreError, StoreResult};

/// Operations one transaction takes at most.
const GROUP: usize = 256;

/// One queued operation, type-erased.
trait Job: Send {
    /// Runs the operation on `conn` and keeps its answer; false when it failed.
    fn run(&mut self, conn: &mut DbConnection) -> bool;
    /// Hands the kept answer to the caller, or `failed` when its transaction did not commit.
    fn finish(self: Box<Self>, failed: Option<String>);
    /// Whether its commit must be durable before it is answered (see [`GroupWriter::write_relaxed`]).
    fn durable(&self) -> bool;
}

struct Op<T, F> {
    f: F,
    durable: bool,
    answer: Option<StoreResult<T>>,
    tx: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Op<T, F>
where
    T: Send,
    F: FnMut(&mut DbConnection) -> StoreResult<T> + Send,
{
    fn run(&mut self, conn: &mut DbConnection) -> bool {
        let answer = (self.f)(conn);
        let ok = answer.is_ok();
        self.answer = Some(answer);
        ok
    }

    fn finish(self: Box<Self>, failed: Option<String>) {
        let answer = match (failed, self.answer) {
            (Some(e), Some(Ok(_))) | (Some(e), None) => Err(StoreError::Unavailable(e)),
            (_, Some(answer)) => answer,
            (None, None) => Err(StoreError::Unavailable("the operation did not run".into())),
        };
        let _ = self.tx.send(answer);
    }

    fn durable(&self) -> bool {
        self.durable
    }
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Box<dyn Job>>,
    /// Threads committing groups now.
    runners: usize,
}

/// Commits the operations given to [`GroupWriter::write`] in groups. Cheap to share.
pub struct GroupWriter {
    db: Db,
    queue: Arc<Mutex<Queue>>,
    /// Groups committed at once: one on SQLite (one writer), a few on PostgreSQL.
    max_runners: usize,
}

impl GroupWriter {
    pub fn new(db: Db) -> GroupWriter {
        let max_runners = match db.backend() {
            Backend::Sqlite(_) => 1,
            Backend::Postgres(_) => 4,
        };
        GroupWriter {
            db,
            queue: Arc::default(),
            max_runners,
        }
    }

    /// Runs `f` in a write transaction, possibly shared with other operations; answers once
    /// that transaction committed (or `f` failed, rolled back alone). `f` may run twice: a
    /// first time in a group that is then rolled back.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        self.queue_op(f, true).await
    }

    /// [`GroupWriter::write`] for an operation whose loss in a crash of the database itself
    /// costs only repeated work (a claim, which every send checks again durably; an attempt's
    /// outcome, after which the same frozen batch is sent again with the same id). On
    /// PostgreSQL a group of only such operations commits without waiting for its WAL to reach
    /// the disk (`synchronous_commit = off`); any later durable commit makes it durable too.
    /// A crash of partnerfeed loses nothing committed.
    pub async fn write_relaxed<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        self.queue_op(f, false).await
    }

    async fn queue_op<T, F>(&self, f: F, durable: bool) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.jobs.push(Box::new(Op {
                f,
                durable,
                answer: None,
                tx,
            }));
            let start = queue.runners < self.max_runners;
            if start {
                queue.runners += 1;
            }
            start
        };
        if start {
            let (db, queue) = (self.db.clone(), self.queue.clone());
            tokio::task::spawn_blocking(move || run(&db, &queue));
        }
        rx.await
            .map_err(|_| StoreError::Unavailable("the group writer stopped".into()))?
    }
}

/// Takes the runner's place back when it returns (or panics).
struct Runner<'a>(&'a Mutex<Queue>);

impl Drop for Runner<'_> {
    fn drop(&mut self) {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        queue.runners -= 1;
    }
}

/// Commits groups while operations wait.
fn run(db: &Db, queue: &Mutex<Queue>) {
    let runner = Runner(queue);
    loop {
        let jobs: Vec<Box<dyn Job>> = {
            let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.jobs.is_empty() {
                // Given up under the lock: a `write` that finds no room started nothing.
                q.runners -= 1;
                std::mem::forget(runner);
                return;
            }
            let n = q.jobs.len().min(GROUP);
            q.jobs.drain(..n).collect()
        };
        commit(db, jobs);
    }
}

/// Commits `jobs` in one transaction, or each alone when that fails.
fn commit(db: &Db, mut jobs: Vec<Box<dyn Job>>) {
    let mut conn = match db.write_conn() {
        Ok(conn) => conn,
        Err(e) => {
            let e = e.to_string();
            for job in jobs {
                job.finish(Some(e.clone()));
            }
            return;
        }
    };
    if jobs.len() > 1 {
        let durable = jobs.iter().any(|j| j.durable());
        let together = transaction(&mut conn, |c| -> StoreResult<()> {
            relax_unless(c, durable)?;
            for job in jobs.iter_mut() {
                if !job.run(c) {
                    return Err(StoreError::Unavailable("an operation failed".into()));
                }
            }
            Ok(())
        });
        if together.is_ok() {
            for job in jobs {
                job.finish(None);
            }
            return;
        }
    }
    for mut job in jobs {
        let mut ran = false;
        let alone = transaction(&mut conn, |c| -> StoreResult<()> {
            relax_unless(c, job.durable())?;
            ran = job.run(c);
            if ran {
                Ok(())
            } else {
                Err(StoreError::Unavailable("the operation failed".into()))
            }
        });
        match alone {
            Ok(()) => job.finish(None),
            // Its own error is its answer.
            Err(_) if !ran => job.finish(None),
            Err(e) => job.finish(Some(e.to_string())),
        }
    }
}

/// Lets the transaction on `c` commit without waiting for the disk unless it must be
/// `durable` (PostgreSQL; SQLite's commits are as its `synchronous` setting makes them).
fn relax_unless(c: &mut DbConnection, durable: bool) -> StoreResult<()> {
    if let (false, DbConnection::Postgres(pg)) = (durable, c) {
        use diesel::RunQueryDsl;
        diesel::sql_query("SET LOCAL synchronous_commit = off").execute(pg)?;
    }
    Ok(())
}
