//! Statements for SQLite written out here instead of built by diesel, on the hot paths of the
//! generator and of edits. Diesel prepares its upserts, its updates and its `IN` lists again on
//! every call on SQLite (it marks them unsafe to cache), and preparing a statement of a few
//! hundred rows costs about as much as running it. The text of these depends only on their
//! shape (how many rows, how long a list), so diesel's statement cache, keyed by the text,
//! prepares each shape once per connection.

use std::marker::PhantomData;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Binary, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;

/// A value bound to a parameter.
#[derive(Debug, Clone, Copy)]
pub enum Bind<'a> {
    Int(i64),
    Text(&'a str),
    OptText(Option<&'a str>),
    OptTime(Option<NaiveDateTime>),
    OptBlob(Option<&'a [u8]>),
}

enum Part<'a> {
    Sql(&'static str),
    Bind(Bind<'a>),
}

/// A statement, or with `ST` the SQL types of its rows, a query.
pub struct Sql<'a, ST = ()> {
    parts: Vec<Part<'a>>,
    rows: PhantomData<ST>,
}

impl<'a, ST> Sql<'a, ST> {
    pub fn new(sql: &'static str) -> Self {
        Sql {
            parts: vec![Part::Sql(sql)],
            rows: PhantomData,
        }
    }

    pub fn sql(&mut self, sql: &'static str) -> &mut Self {
        self.parts.push(Part::Sql(sql));
        self
    }

    pub fn bind(&mut self, value: Bind<'a>) -> &mut Self {
        self.parts.push(Part::Bind(value));
        self
    }

    /// `(?, ?, …)`: the values of `list` (at most [`LIST_MAX`]), padded with its last value to
    /// the next of the [`LIST`] lengths (the same rows for `IN`, and one text for every list of
    /// that length).
    pub fn list(&mut self, list: &[&'a str]) -> &mut Self {
        let last = list.last().copied().unwrap_or("");
        self.sql("(");
        for i in 0..padded(list.len(), &LIST).max(1) {
            if i > 0 {
                self.sql(", ");
            }
            self.bind(Bind::Text(list.get(i).copied().unwrap_or(last)));
        }
        self.sql(")")
    }
}

/// The length, among `sizes` (ascending), that a list of `n` is padded to: the smallest that
/// holds it.
fn padded(n: usize, sizes: &[usize]) -> usize {
    sizes.iter().copied().find(|&s| s >= n).unwrap_or(n)
}

/// Splits `n` rows into statements of the given sizes (ascending, the first 1): the largest
/// that fits what is left, each time.
pub fn split(n: usize, sizes: &[usize]) -> impl Iterator<Item = usize> + '_ {
    let mut left = n;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let take = sizes
            .iter()
            .rev()
            .copied()
            .find(|&s| s <= left)
            .unwrap_or(1);
        left -= take;
        Some(take)
    })
}

/// Rows a multi-row statement holds: at most 200 (1,600 parameters with 8 columns, well under
/// SQLite's 32,766), so four shapes per statement.
pub const ROWS: [usize; 4] = [1, 10, 50, 200];
/// Lengths an `IN` list is padded to.
const LIST: [usize; 4] = [1, 10, 100, 500];
/// The most values an `IN` list holds: longer lists go in chunks of this.
pub const LIST_MAX: usize = LIST[LIST.len() - 1];

/// `head (?, …), (?, …) tail`: `rows` in statements of [`ROWS`] rows, each row's values given
/// by `values`.
pub fn insert<'a, T, const N: usize>(
    conn: &mut SqliteConnection,
    head: &'static str,
    tail: &'static str,
    rows: &'a [T],
    values: impl Fn(&'a T) -> [Bind<'a>; N],
) -> QueryResult<()> {
    let mut rest = rows;
    for n in split(rows.len(), &ROWS) {
        let (chunk, after) = rest.split_at(n);
        rest = after;
        let mut q = Sql::<()>::new(head);
        for (i, row) in chunk.iter().enumerate() {
            q.sql(if i == 0 { "(" } else { ", (" });
            for (j, value) in values(row).into_iter().enumerate() {
                if j > 0 {
                    q.sql(", ");
                }
                q.bind(value);
            }
            q.sql(")");
        }
        q.sql(tail);
        q.execute(conn)?;
    }
    Ok(())
}

impl<ST> QueryId for Sql<'_, ST> {
    type QueryId = ();
    // No type of its own: diesel keys the cached statement by its text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST> Query for Sql<'_, ST> {
    type SqlType = ST;
}

impl<ST> QueryFragment<Sqlite> for Sql<'_, ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        for part in &self.parts {
            match part {
                Part::Sql(s) => out.push_sql(s),
                Part::Bind(Bind::Int(v)) => out.push_bind_param::<BigInt, _>(v)?,
                Part::Bind(Bind::Text(v)) => out.push_bind_param::<Text, _>(*v)?,
                Part::Bind(Bind::OptText(v)) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Part::Bind(Bind::OptBlob(v)) => out.push_bind_param::<Nullable<Binary>, _>(v)?,
                Part::Bind(Bind::OptTime(v)) => out.push_bind_param::<Nullable<Timestamp>, _>(v)?,
            }
        }
        Ok(())
    }
}

impl<ST> RunQueryDsl<SqliteConnection> for Sql<'_, ST> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_split_into_the_largest_sizes_that_fit() {
        let sizes = [1, 10, 50, 200];
        assert_eq!(split(0, &sizes).count(), 0);
        assert_eq!(
            split(263, &sizes).collect::<Vec<_>>(),
            [200, 50, 10, 1, 1, 1]
        );
        assert_eq!(split(7, &sizes).sum::<usize>(), 7);
        assert_eq!(padded(1, &[1, 10, 100]), 1);
        assert_eq!(padded(11, &[1, 10, 100]), 100);
        assert_eq!(padded(101, &[1, 10, 100]), 101);
    }

    #[test]
    fn a_padded_list_selects_the_same_rows_with_one_text_per_length() {
        let mut conn = SqliteConnection::establish(":memory:").expect("sqlite");
        diesel::sql_query("CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT)")
            .execute(&mut conn)
            .expect("create");
        for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
            let mut q = Sql::<()>::new("INSERT INTO t (k, v) VALUES (");
            q.bind(Bind::Text(k)).sql(", ").bind(Bind::Int(v)).sql(")");
            q.execute(&mut conn).expect("insert");
        }
        let mut select = |keys: &[&str]| {
            let mut q = Sql::<(Text, BigInt)>::new("SELECT k, v FROM t WHERE k IN ");
            q.list(keys);
            q.sql(" ORDER BY k");
            q.load::<(String, i64)>(&mut conn).expect("select")
        };
        assert_eq!(
            select(&["c", "a", "x"]),
            [("a".to_string(), 1), ("c".to_string(), 3)]
        );
        assert_eq!(select(&["b"]), [("b".to_string(), 2)]);
    }
}
