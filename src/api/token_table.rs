//! The authentication table: every token's hash mapped to who it is (role, reseller, expiry),
//! held in memory so that authenticating a request needs no database connection.
//!
//! A background task ([`run`]) re-reads the whole table with one query on a connection of its
//! own (not from the pools) every [`REFRESH_EVERY`], so a token created or revoked on another
//! instance is seen within that period plus the query. Changes made on this instance apply to
//! the table at once, and a refresh that started before such a change does not undo it.
//!
//! When the table is older than [`FRESH_FOR`] (the database does not answer the refresh, or
//! the task is starved), lookups answer [`Lookup::Stale`] and the caller asks the database
//! instead: a revoked token never gets through for longer than that.
//!
//! The same refresh reads each channel's head (id, `last_seq`, definition hash: what a feed's
//! ETag derives from) and every grant, so that a conditional feed request answered 304 needs no
//! database either ([`TokenTable::visible_channel`]). That part is trusted under the same
//! [`FRESH_FOR`], and only while no write transaction has ended in this process since the
//! refresh started ([`store::commits`]): a change published, a grant withdrawn or a channel
//! redefined here sends the next requests to the database at once, until a refresh that
//! started after it is installed. Changes made by other instances are seen within
//! [`REFRESH_EVERY`] plus the query, and never later than [`FRESH_FOR`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::service::access::Who;
use crate::service::tokens::{self, Role};
use crate::store::access::ChannelHead;
use crate::store::{self, Db};

/// How often the table is re-read.
pub const REFRESH_EVERY: Duration = Duration::from_millis(250);
/// How old the table may be and still be trusted.
pub const FRESH_FOR: Duration = Duration::from_millis(900);
/// How often the times of last use are written to the database.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Who a token is.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The row id (rate and concurrency limits, last use).
    pub id: i64,
    pub token_hash: String,
    pub name: String,
    pub role: Role,
    pub reseller: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Principal {
    /// The principal of a stored token; `None` for a row with an unknown role.
    pub fn from_row(row: store::tokens::TokenRow) -> Option<Principal> {
        Some(Principal {
            id: row.id,
            role: Role::parse(&row.role)?,
            token_hash: row.token_hash,
            name: row.name,
            reseller: row.reseller_code,
            expires_at: row.expires_at.map(|t| t.and_utc()),
        })
    }

    /// Whether the token has expired at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// What the table says of a presented hash.
pub enum Lookup {
    Found(Arc<Principal>),
    Unknown,
    /// The table is too old to answer; ask the database.
    Stale,
}

/// A change made on this instance, kept until a refresh that started after it is installed.
enum Change {
    Add(Arc<Principal>),
    Remove(i64),
    RemoveReseller(String),
}

#[derive(Default)]
struct Table {
    by_hash: HashMap<String, Arc<Principal>>,
    /// When the query behind `by_hash` started.
    as_of: Option<Instant>,
    changes: Vec<(Instant, Change)>,
    /// Channel heads by code, and the channel ids each reseller holds a grant on.
    channels: HashMap<String, Arc<ChannelHead>>,
    grants: HashMap<String, HashSet<i64>>,
    /// [`store::commits`] when the queries behind `channels` and `grants` started.
    commits: u64,
}

impl Table {
    fn apply(&mut self, change: &Change) {
        match change {
            Change::Add(p) => {
                self.by_hash.insert(p.token_hash.clone(), p.clone());
            }
            Change::Remove(id) => self.by_hash.retain(|_, p| p.id != *id),
            Change::RemoveReseller(code) => self
                .by_hash
                .retain(|_, p| p.reseller.as_deref() != Some(code.as_str())),
        }
    }
}

#[derive(Default)]
pub struct TokenTable {
    table: RwLock<Table>,
    used: Mutex<HashMap<i64, NaiveDateTime>>,
}

impl TokenTable {
    pub fn new() -> TokenTable {
        TokenTable::default()
    }

    /// The principal of a presented token hash. The final comparison is constant-time.
    pub fn lookup(&self, token_hash: &str) -> Lookup {
        if !self.is_fresh() {
            return Lookup::Stale;
        }
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        match table.by_hash.get(token_hash) {
            Some(p) if tokens::hash_matches(token_hash, &p.token_hash) => Lookup::Found(p.clone()),
            _ => Lookup::Unknown,
        }
    }

    /// The principal of token row `id` (a console session's token). A scan: tokens are few.
    pub fn by_id(&self, id: i64) -> Lookup {
        if !self.is_fresh() {
            return Lookup::Stale;
        }
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        match table.by_hash.values().find(|p| p.id == id) {
            Some(p) => Lookup::Found(p.clone()),
            None => Lookup::Unknown,
        }
    }

    /// Whether the table was read from the database within [`FRESH_FOR`].
    pub fn is_fresh(&self) -> bool {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        table.as_of.is_some_and(|t| t.elapsed() < FRESH_FOR)
    }

    /// The head of channel `code` if `who` may read it, when the table can answer: read within
    /// [`FRESH_FOR`] and no write transaction ended here since. `None` means "ask the
    /// database" (which also gives the exact refusal: 404 or 403).
    pub fn visible_channel(&self, who: Who<'_>, code: &str) -> Option<Arc<ChannelHead>> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        let fresh = table.as_of.is_some_and(|t| t.elapsed() < FRESH_FOR)
            && table.commits == store::commits();
        if !fresh {
            return None;
        }
        let head = table.channels.get(code)?;
        let may = match who.channel_scope() {
            Ok(None) => true,
            Ok(Some(reseller)) => table
                .grants
                .get(reseller)
                .is_some_and(|ids| ids.contains(&head.id)),
            Err(_) => false,
        };
        may.then(|| head.clone())
    }

    /// Installs channel heads and grants read by queries that started when
    /// [`store::commits`] was `commits`.
    fn install_channels(&self, commits: u64, heads: Vec<ChannelHead>, grants: Vec<(String, i64)>) {
        let channels = heads
            .into_iter()
            .map(|h| (h.code.clone(), Arc::new(h)))
            .collect();
        let mut by_reseller: HashMap<String, HashSet<i64>> = HashMap::new();
        for (reseller, channel) in grants {
            by_reseller.entry(reseller).or_default().insert(channel);
        }
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        table.channels = channels;
        table.grants = by_reseller;
        table.commits = commits;
    }

    fn change(&self, change: Change) {
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        table.apply(&change);
        table.changes.push((Instant::now(), change));
    }

    /// A token just created on this instance: usable at once.
    pub fn add(&self, principal: Principal) {
        self.change(Change::Add(Arc::new(principal)));
    }

    /// A token just revoked on this instance: refused at once.
    pub fn remove(&self, id: i64) {
        self.change(Change::Remove(id));
    }

    /// A reseller just deleted on this instance: its tokens are refused at once.
    pub fn remove_reseller(&self, code: &str) {
        self.change(Change::RemoveReseller(code.to_string()));
    }

    /// Installs the rows of a query that started at `started`, then re-applies the changes
    /// made here since (the query may not have seen them).
    fn install(&self, started: Instant, rows: Vec<store::tokens::TokenRow>) {
        let by_hash = rows
            .into_iter()
            .filter_map(Principal::from_row)
            .map(|p| (p.token_hash.clone(), Arc::new(p)))
            .collect();
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        table.by_hash = by_hash;
        table.as_of = Some(started);
        let mut changes = std::mem::take(&mut table.changes);
        // A change is noted after it committed: a query that started later has seen it.
        changes.retain(|(at, _)| *at >= started);
        for (_, change) in &changes {
            table.apply(change);
        }
        table.changes = changes;
    }

    /// Notes that token `id` was used at `at` (written to the database every [`FLUSH_EVERY`]).
    pub fn note_use(&self, id: i64, at: DateTime<Utc>) {
        let at = at.naive_utc();
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let entry = used.entry(id).or_insert(at);
        if *entry < at {
            *entry = at;
        }
    }

    fn take_used(&self) -> Vec<(i64, NaiveDateTime)> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        used.drain().collect()
    }

    /// Reads the whole table once on `conn` (used by [`run`], and by tests).
    pub fn refresh(&self, conn: &mut store::DbConnection) -> store::StoreResult<()> {
        let started = Instant::now();
        let commits = store::commits();
        let rows = store::tokens::list(conn)?;
        let heads = store::access::channel_heads(conn)?;
        let grants = store::access::grants(conn)?;
        self.install_channels(commits, heads, grants);
        self.install(started, rows);
        Ok(())
    }
}

/// Keeps `table` current: re-reads it every [`REFRESH_EVERY`] on a connection of its own
/// (reopened after an error), and writes the times of last use every [`FLUSH_EVERY`] through
/// the write pool. Runs until the runtime stops.
pub async fn run(table: Arc<TokenTable>, db: Db) {
    let mut conn: Option<store::DbConnection> = None;
    let mut last_flush = Instant::now();
    let mut failing = false;
    loop {
        let (t, d) = (table.clone(), db.clone());
        let mut held = conn.take();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut c = match held.take() {
                Some(c) => c,
                None => d.connect_one()?,
            };
            t.refresh(&mut c).map(|()| c)
        })
        .await;
        // Logged when refreshing starts or stops failing, not four times a second.
        match outcome {
            Ok(Ok(c)) => {
                conn = Some(c);
                if failing {
                    failing = false;
                    tracing::info!("the token table is refreshed again");
                }
            }
            Ok(Err(e)) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot refresh the token table; tokens are looked up in the database meanwhile");
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "the token table refresh failed");
            }
            _ => {}
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            last_flush = Instant::now();
            let used = table.take_used();
            if !used.is_empty() {
                let t = table.clone();
                let d = db.clone();
                tokio::spawn(async move {
                    let again = used.clone();
                    // Times of last use change no token, grant or channel head: the write
                    // leaves the channel heads trusted.
                    let touched = d.write_uncounted(move |c| store::tokens::touch(c, &used));
                    if let Err(e) = touched.await {
                        tracing::debug!(error = %e, "cannot record token use; retried later");
                        for (id, at) in again {
                            t.note_use(id, at.and_utc());
                        }
                    }
                });
            }
        }
        tokio::time::sleep(REFRESH_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, hash: &str) -> store::tokens::TokenRow {
        store::tokens::TokenRow {
            id,
            public_id: format!("tok_{id}"),
            token_hash: hash.into(),
            name: "n".into(),
            role: "editor".into(),
            reseller_code: None,
            created_at: store::now(),
            expires_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn a_refresh_that_started_before_a_local_revocation_does_not_bring_the_token_back() {
        let table = TokenTable::new();
        let a = tokens::hash("a");
        let before = Instant::now();
        table.install(before, vec![row(1, &a)]);
        assert!(matches!(table.lookup(&a), Lookup::Found(_)));
        // A refresh starts, the token is revoked here, then the older rows arrive.
        let started = Instant::now();
        table.remove(1);
        assert!(matches!(table.lookup(&a), Lookup::Unknown));
        table.install(started, vec![row(1, &a)]);
        assert!(matches!(table.lookup(&a), Lookup::Unknown));
        // A token added here survives a refresh that started before it was committed.
        let b = tokens::hash("b");
        let started = Instant::now();
        table.add(Principal::from_row(row(2, &b)).unwrap());
        table.install(started, vec![]);
        assert!(matches!(table.lookup(&b), Lookup::Found(_)));
    }

    fn head(id: i64, code: &str, last_seq: i64) -> ChannelHead {
        ChannelHead {
            id,
            code: code.into(),
            last_seq,
            definition_hash: "h".into(),
        }
    }

    #[test]
    fn channel_heads_answer_only_while_fresh_and_no_commit_ended_since() {
        let table = TokenTable::new();
        let shop = Who {
            role: Role::Reseller,
            reseller: Some("shop"),
        };
        let admin = Who {
            role: Role::Admin,
            reseller: None,
        };
        let editor = Who {
            role: Role::Editor,
            reseller: None,
        };
        assert!(table.visible_channel(admin, "a").is_none(), "never read");
        let commits = store::commits();
        table.install_channels(
            commits,
            vec![head(1, "a", 7), head(2, "b", 3)],
            vec![("shop".into(), 1)],
        );
        table.install(Instant::now(), vec![]);
        // Other tests of this process may commit meanwhile; then the table must not answer.
        if store::commits() == commits {
            assert_eq!(
                table.visible_channel(shop, "a").map(|h| h.last_seq),
                Some(7)
            );
            assert!(table.visible_channel(shop, "b").is_none(), "no grant");
            assert!(table.visible_channel(admin, "b").is_some());
            assert!(table.visible_channel(editor, "a").is_none());
            assert!(table.visible_channel(admin, "c").is_none());
        }
        store::note_commit();
        assert!(
            table.visible_channel(admin, "a").is_none(),
            "a commit of this process since the read sends requests to the database"
        );
        let commits = store::commits();
        table.install_channels(commits, vec![head(1, "a", 8)], vec![]);
        let old = Instant::now()
            .checked_sub(FRESH_FOR)
            .expect("a monotonic clock this old");
        table.install(old, vec![]);
        assert!(
            table.visible_channel(admin, "a").is_none(),
            "an old table is not trusted"
        );
    }

    #[test]
    fn an_old_table_is_not_trusted() {
        let table = TokenTable::new();
        assert!(matches!(table.lookup(&tokens::hash("a")), Lookup::Stale));
        let old = Instant::now()
            .checked_sub(FRESH_FOR)
            .expect("a monotonic clock this old");
        table.install(old, vec![row(1, &tokens::hash("a"))]);
        assert!(matches!(table.lookup(&tokens::hash("a")), Lookup::Stale));
        assert!(!table.is_fresh());
    }
}
