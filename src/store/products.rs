//! Queries on `products`, `product_history` and `catalog_outbox`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{product_history, product_search, products};
use super::sqlite_sql::{self, Bind, Sql};
use super::{DbConnection, StoreResult};
use diesel::dsl::{AsSelect, SqlTypeOf};
use diesel::sql_types::Text;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = products)]
pub struct ProductRow {
    pub sku: String,
    pub body: String,
    pub hash: String,
    pub version: i64,
    pub next_change_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = products)]
pub struct NewProduct<'a> {
    pub sku: &'a str,
    pub body: &'a str,
    pub hash: &'a str,
    pub version: i64,
    #[diesel(treat_none_as_null = true)]
    pub next_change_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = product_history)]
pub struct HistoryRow {
    pub id: i64,
    pub sku: String,
    pub at: NaiveDateTime,
    pub by_name: String,
    pub fields: String,
    pub hash_before: Option<String>,
    pub hash_after: Option<String>,
    /// Per changed field, its value before and after (JSON); None where not kept.
    pub changes: Option<String>,
}

// `treat_none_as_null`: the columns have no default, so NULL is what `DEFAULT` gave; without it
// diesel inserts SQLite rows one statement at a time.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = product_history)]
pub struct NewHistory<'a> {
    pub sku: &'a str,
    pub at: NaiveDateTime,
    pub by_name: &'a str,
    pub fields: String,
    #[diesel(treat_none_as_null = true)]
    pub hash_before: Option<&'a str>,
    #[diesel(treat_none_as_null = true)]
    pub hash_after: Option<&'a str>,
    #[diesel(treat_none_as_null = true)]
    pub changes: Option<String>,
}

/// Rows are inserted in chunks that stay under SQLite's bound-parameter limit.
pub(crate) const INSERT_CHUNK: usize = 1000;

/// Bound parameters one statement may carry: SQLite's default limit (PostgreSQL allows 65,535).
pub(crate) const MAX_BIND_PARAMS: usize = 32766;

/// Inserts `$rows` (a slice of rows of `$columns` columns) into `$table` with as few multi-row
/// INSERTs as the bound-parameter limit allows.
macro_rules! insert_batched {
    ($conn:expr, $table:expr, $rows:expr, $columns:expr) => {{
        for chunk in $rows.chunks($crate::store::products::MAX_BIND_PARAMS / $columns) {
            $crate::with_conn!(&mut *$conn, |c| diesel::insert_into($table)
                .values(chunk)
                .execute(c))?;
        }
    }};
}
pub(crate) use insert_batched;

pub fn get(conn: &mut DbConnection, sku: &str) -> StoreResult<Option<ProductRow>> {
    Ok(products::table
        .find(sku)
        .select(ProductRow::as_select())
        .first(conn)
        .optional()?)
}

/// The stored rows of `skus` that exist, in no particular order.
/// Every SKU of the catalog, in SKU order (from the primary key alone).
pub fn all_skus(conn: &mut DbConnection) -> StoreResult<Vec<String>> {
    Ok(products::table
        .select(products::sku)
        .order(products::sku.asc())
        .load(conn)?)
}

pub fn get_many(conn: &mut DbConnection, skus: &[&str]) -> StoreResult<Vec<ProductRow>> {
    super::load_in_chunks(
        conn,
        skus,
        |c, chunk| {
            let mut q = Sql::<SqlTypeOf<AsSelect<ProductRow, diesel::sqlite::Sqlite>>>::new(
                "SELECT sku, body, hash, version, next_change_at, created_at, updated_at \
                 FROM products WHERE sku IN ",
            );
            q.list(chunk);
            q.load(c)
        },
        |c, chunk| {
            products::table
                .filter(products::sku.eq_any(chunk))
                .select(ProductRow::as_select())
                .load(c)
        },
    )
}

/// Keyset page: products whose SKU sorts after `after`, in SKU order.
pub fn list(
    conn: &mut DbConnection,
    after: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<ProductRow>> {
    // Every SKU is non-empty, so "after nothing" is "after the empty string".
    Ok(products::table
        .filter(products::sku.gt(after.unwrap_or("")))
        .select(ProductRow::as_select())
        .order(products::sku.asc())
        .limit(limit)
        .load(conn)?)
}

pub fn count(conn: &mut DbConnection) -> StoreResult<i64> {
    Ok(products::table.count().get_result(conn)?)
}

pub fn insert(conn: &mut DbConnection, rows: &[NewProduct<'_>]) -> StoreResult<()> {
    insert_batched!(conn, products::table, rows, 7);
    Ok(())
}

/// Replaces the content of the products of `rows`; `created_at` is kept. Each SKU at most
/// once: PostgreSQL would apply either of two rows of one SKU. On SQLite a prepared statement
/// per row (a call into the library); on PostgreSQL one statement per [`INSERT_CHUNK`] rows,
/// the values sent as arrays: with a statement per row, a round trip per product, the two
/// cores were idle almost half the time a batch took.
pub fn update_many(conn: &mut DbConnection, rows: &[NewProduct<'_>]) -> StoreResult<()> {
    match conn {
        DbConnection::Sqlite(c) => {
            for row in rows {
                // Prepared once a batch (see `sqlite_sql`).
                let mut q = Sql::<()>::new("UPDATE products SET body = ");
                q.bind(Bind::Text(row.body))
                    .sql(", hash = ")
                    .bind(Bind::Text(row.hash))
                    .sql(", version = ")
                    .bind(Bind::Int(row.version))
                    .sql(", next_change_at = ")
                    .bind(Bind::OptTime(row.next_change_at))
                    .sql(", updated_at = ")
                    .bind(Bind::OptTime(Some(row.updated_at)))
                    .sql(" WHERE sku = ")
                    .bind(Bind::Text(row.sku));
                q.execute(c)?;
            }
        }
        DbConnection::Postgres(c) => {
            use diesel::sql_types::{Array, BigInt, Nullable, Timestamp};
            for chunk in rows.chunks(INSERT_CHUNK) {
                diesel::sql_query(
                    "UPDATE products AS p SET body = u.body, hash = u.hash, version = u.version, \
                     next_change_at = u.next_change_at, updated_at = u.updated_at \
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], \
                     $5::timestamp[], $6::timestamp[]) \
                     AS u(sku, body, hash, version, next_change_at, updated_at) \
                     WHERE p.sku = u.sku",
                )
                .bind::<Array<Text>, _>(chunk.iter().map(|r| r.sku).collect::<Vec<_>>())
                .bind::<Array<Text>, _>(chunk.iter().map(|r| r.body).collect::<Vec<_>>())
                .bind::<Array<Text>, _>(chunk.iter().map(|r| r.hash).collect::<Vec<_>>())
                .bind::<Array<BigInt>, _>(chunk.iter().map(|r| r.version).collect::<Vec<_>>())
                .bind::<Array<Nullable<Timestamp>>, _>(
                    chunk.iter().map(|r| r.next_change_at).collect::<Vec<_>>(),
                )
                .bind::<Array<Timestamp>, _>(chunk.iter().map(|r| r.updated_at).collect::<Vec<_>>())
                .execute(c)?;
            }
        }
    }
    Ok(())
}

pub fn delete(conn: &mut DbConnection, sku: &str) -> StoreResult<bool> {
    Ok(diesel::delete(products::table.find(sku)).execute(conn)? > 0)
}

/// Replaces the search words of `skus` (each with its words; a SKU without words, as a deleted
/// product, keeps none), as [`change_search_words`] does, with the words stored now as the
/// words before.
pub fn set_search_words(conn: &mut DbConnection, words: &[(&str, Vec<String>)]) -> StoreResult<()> {
    let skus: Vec<&str> = words.iter().map(|(sku, _)| *sku).collect();
    let stored_rows: Vec<(String, String)> = super::load_in_chunks(
        conn,
        &skus,
        |c, chunk| {
            let mut q =
                Sql::<(Text, Text)>::new("SELECT word, sku FROM product_search WHERE sku IN ");
            q.list(chunk);
            q.load(c)
        },
        |c, chunk| {
            product_search::table
                .filter(product_search::sku.eq_any(chunk))
                .select((product_search::word, product_search::sku))
                .load(c)
        },
    )?;
    let stored: BTreeSet<(&str, &str)> = stored_rows
        .iter()
        .map(|(w, sku)| (w.as_str(), sku.as_str()))
        .collect();
    let wanted: BTreeSet<(&str, &str)> = words
        .iter()
        .flat_map(|(sku, ws)| ws.iter().map(move |w| (w.as_str(), *sku)))
        .collect();
    let gone: Vec<(&str, &str)> = stored.difference(&wanted).copied().collect();
    let new: Vec<(&str, &str)> = wanted.difference(&stored).copied().collect();
    write_word_changes(conn, &gone, &new)
}

/// A SKU's search words before and after an edit (each sorted and distinct, as
/// `catalog::search::product_words` gives them).
pub struct WordChange<'a> {
    pub sku: &'a str,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// Writes only what differs between the words before and after: the words a SKU no longer has
/// are deleted and its new ones inserted, so an edit that leaves the titles and the GTIN alone
/// (a price change) writes nothing here, and a title edit writes the words it changed, each a
/// place in two B-trees. Same transaction as the product write.
pub fn change_search_words(conn: &mut DbConnection, changes: &[WordChange<'_>]) -> StoreResult<()> {
    let (mut gone, mut new) = (Vec::new(), Vec::new());
    for c in changes {
        let before: BTreeSet<&str> = c.before.iter().map(String::as_str).collect();
        let after: BTreeSet<&str> = c.after.iter().map(String::as_str).collect();
        gone.extend(before.difference(&after).map(|w| (*w, c.sku)));
        new.extend(after.difference(&before).map(|w| (*w, c.sku)));
    }
    write_word_changes(conn, &gone, &new)
}

/// Deletes the (word, SKU) pairs `gone` and inserts `new`.
fn write_word_changes(
    conn: &mut DbConnection,
    gone: &[(&str, &str)],
    new: &[(&str, &str)],
) -> StoreResult<()> {
    match conn {
        DbConnection::Sqlite(c) => {
            for (word, sku) in gone {
                let mut q = Sql::<()>::new("DELETE FROM product_search WHERE word = ");
                q.bind(Bind::Text(word))
                    .sql(" AND sku = ")
                    .bind(Bind::Text(sku));
                q.execute(c)?;
            }
            sqlite_sql::insert(
                c,
                "INSERT INTO product_search (word, sku) VALUES ",
                "",
                new,
                |(word, sku)| [Bind::Text(word), Bind::Text(sku)],
            )?;
        }
        DbConnection::Postgres(c) => {
            use diesel::sql_types::Array;
            for chunk in gone.chunks(INSERT_CHUNK) {
                let (w, k): (Vec<&str>, Vec<&str>) = chunk.iter().copied().unzip();
                diesel::sql_query(
                    "DELETE FROM product_search WHERE (word, sku) IN \
                     (SELECT * FROM unnest($1::text[], $2::text[]))",
                )
                .bind::<Array<Text>, _>(w)
                .bind::<Array<Text>, _>(k)
                .execute(c)?;
            }
            let rows: Vec<_> = new
                .iter()
                .map(|(w, sku)| (product_search::word.eq(*w), product_search::sku.eq(*sku)))
                .collect();
            for chunk in rows.chunks(MAX_BIND_PARAMS / 2) {
                diesel::insert_into(product_search::table)
                    .values(chunk)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// SKUs a multi-word search reads of each word at a time.
const POSTINGS_CHUNK: i64 = 512;

/// Where a word's postings are read from.
enum Start {
    After(String),
    AtLeast(String),
}

/// Up to `limit` SKUs of `word`'s postings from `from`, in SKU order: one range of the primary
/// key (word, sku).
fn postings(
    conn: &mut DbConnection,
    word: &str,
    from: &Start,
    limit: i64,
) -> StoreResult<Vec<String>> {
    let query = product_search::table
        .filter(product_search::word.eq(word))
        .select(product_search::sku)
        .order(product_search::sku.asc())
        .limit(limit)
        .into_boxed();
    let query = match from {
        Start::After(sku) => query.filter(product_search::sku.gt(sku)),
        Start::AtLeast(sku) => query.filter(product_search::sku.ge(sku)),
    };
    Ok(query.load(conn)?)
}

/// Keyset page of the SKUs whose search words include every one of `words` (at least one),
/// in SKU order, after `after`. Each word is a range of the primary key (word, sku).
///
/// Several words are intersected by leaps: each round reads the next [`POSTINGS_CHUNK`] SKUs
/// of every word from the same place, keeps the SKUs all of them hold up to where the
/// shortest-reaching of them ends, and starts the next round at the highest SKU any word goes
/// on with, skipping the stretches where one word has no SKU. A common word next to a rare
/// one, or two words whose products lie far apart in SKU order, costs a few rounds instead of
/// a probe per posting of the first word.
pub fn search_words(
    conn: &mut DbConnection,
    words: &[String],
    after: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<String>> {
    let after = after.unwrap_or("");
    match words {
        [] => return Ok(Vec::new()),
        [word] => return postings(conn, word, &Start::After(after.to_string()), limit),
        _ => {}
    }
    let mut found = Vec::new();
    let mut from = Start::After(after.to_string());
    loop {
        let mut chunks = Vec::with_capacity(words.len());
        for w in words {
            let chunk = postings(conn, w, &from, POSTINGS_CHUNK)?;
            if chunk.is_empty() {
                return Ok(found);
            }
            chunks.push(chunk);
        }
        // Every word is read up to `bound`: the lowest last SKU of a full chunk (a shorter
        // chunk holds the rest of its word). None: every word is read to its end.
        let bound = chunks
            .iter()
            .filter(|c| c.len() as i64 == POSTINGS_CHUNK)
            .filter_map(|c| c.last())
            .min()
            .cloned();
        let (first, rest) = chunks.split_first().expect("two words or more");
        for sku in first
            .iter()
            .take_while(|s| bound.as_ref().is_none_or(|b| *s <= b))
        {
            if rest.iter().all(|c| c.binary_search(sku).is_ok()) {
                found.push(sku.clone());
                if found.len() as i64 == limit {
                    return Ok(found);
                }
            }
        }
        let Some(bound) = bound else {
            return Ok(found);
        };
        // A SKU every word holds comes at or after each word's first SKU past `bound`.
        from = match chunks
            .iter()
            .filter_map(|c| c.iter().find(|s| **s > bound))
            .max()
        {
            Some(next) => Start::AtLeast(next.clone()),
            None => Start::After(bound),
        };
    }
}

/// Keyset page of the products whose SKU starts with `prefix`, after `after` (SKU order:
/// bytewise on both backends, so the prefix's SKUs are one range of the primary key).
pub fn with_prefix(
    conn: &mut DbConnection,
    prefix: &str,
    after: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<ProductRow>> {
    let mut query = products::table
        .filter(products::sku.ge(prefix))
        .filter(products::sku.gt(after.unwrap_or("")))
        .select(ProductRow::as_select())
        .order(products::sku.asc())
        .limit(limit)
        .into_boxed();
    // Every SKU with the prefix sorts below the prefix followed by the highest character.
    if !prefix.is_empty() {
        query = query.filter(products::sku.lt(format!("{prefix}\u{10FFFF}")));
    }
    Ok(query.load(conn)?)
}

pub fn insert_history(conn: &mut DbConnection, rows: &[NewHistory<'_>]) -> StoreResult<()> {
    if let DbConnection::Sqlite(c) = conn {
        sqlite_sql::insert(
            c,
            "INSERT INTO product_history (sku, at, by_name, fields, hash_before, hash_after, \
             changes) VALUES ",
            "",
            rows,
            |row| {
                [
                    Bind::Text(row.sku),
                    Bind::OptTime(Some(row.at)),
                    Bind::Text(row.by_name),
                    Bind::Text(&row.fields),
                    Bind::OptText(row.hash_before),
                    Bind::OptText(row.hash_after),
                    Bind::OptText(row.changes.as_deref()),
                ]
            },
        )?;
        return Ok(());
    }
    insert_batched!(conn, product_history::table, rows, 7);
    Ok(())
}

pub fn history(conn: &mut DbConnection, sku: &str) -> StoreResult<Vec<HistoryRow>> {
    Ok(product_history::table
        .filter(product_history::sku.eq(sku))
        .order(product_history::id.asc())
        .select(HistoryRow::as_select())
        .load(conn)?)
}

/// The latest `limit` history entries of `sku`, newest first (index on (sku, id)).
pub fn latest_history(
    conn: &mut DbConnection,
    sku: &str,
    limit: i64,
) -> StoreResult<Vec<HistoryRow>> {
    Ok(product_history::table
        .filter(product_history::sku.eq(sku))
        .order(product_history::id.desc())
        .limit(limit)
        .select(HistoryRow::as_select())
        .load(conn)?)
}

/// Products whose projection changes by itself at or before `now` (a price window edge).
pub fn due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> StoreResult<Vec<ProductRow>> {
    Ok(products::table
        .filter(products::next_change_at.le(now))
        .order(products::next_change_at.asc())
        .limit(limit)
        .select(ProductRow::as_select())
        .load(conn)?)
}

pub fn set_next_change(
    conn: &mut DbConnection,
    sku: &str,
    next: Option<NaiveDateTime>,
) -> StoreResult<()> {
    diesel::update(products::table.find(sku))
        .set(products::next_change_at.eq(next))
        .execute(conn)?;
    Ok(())
}

/// Serialises writers of the same SKUs until the end of the transaction, so that a concurrent
/// create, read-modify-write (PATCH) or If-Match check never races another writer of the same
/// product. PostgreSQL: transaction-scoped advisory locks taken in one sorted pass (no deadlock);
/// SQLite: nothing to do, its write transactions are already exclusive (`BEGIN IMMEDIATE`).
pub fn lock_skus(conn: &mut DbConnection, skus: &[&str]) -> StoreResult<()> {
    if let DbConnection::Postgres(c) = conn {
        let skus: Vec<&str> = skus.to_vec();
        diesel::sql_query(
            "SELECT pg_advisory_xact_lock(k) FROM \
             (SELECT DISTINCT hashtextextended(s, 7272) AS k FROM unnest($1::text[]) AS s ORDER BY k) AS keys",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(skus)
        .execute(c)?;
    }
    Ok(())
}
