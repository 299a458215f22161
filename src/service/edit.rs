//! Vendor edits as transactions: validation has already happened; this module hashes the
//! canonical form, compares it with what is stored, and writes the product, its history entry
//! and its outbox event together, so that a committed edit is never without its change event.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::catalog::{self, search, Product, ValidationErrors};
use crate::jcs::{self, Obj};
use crate::store::outbox::{self, NewOutboxEvent};
use crate::store::products::{self, NewHistory, NewProduct, ProductRow};
use crate::store::snapshots;
use crate::store::{DbConnection, StoreError};

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutStatus {
    Created,
    Updated,
    Unchanged,
}

impl PutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PutStatus::Created => "created",
            PutStatus::Updated => "updated",
            PutStatus::Unchanged => "unchanged",
        }
    }
}

/// A product as stored after an edit.
#[derive(Debug, Clone)]
pub struct Stored {
    pub status: PutStatus,
    pub hash: String,
    /// The canonical JSON as stored (RFC 8785 form).
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error("the product does not exist")]
    NotFound,
    #[error("the product changed since the ETag given in If-Match")]
    PreconditionFailed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The strong ETag of a stored product: its content hash, quoted.
pub fn etag(hash: &str) -> String {
    format!("\"{hash}\"")
}

/// Whether an `If-Match` value (`*`, or a list of tags) matches the current hash.
pub fn if_match_holds(if_match: &str, current: Option<&str>) -> bool {
    let Some(current) = current else {
        return false;
    };
    if_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_matches('"') == current)
}

/// Batches of this many products or more go to the outbox's bulk lane: the generator serves
/// single edits and small batches first, so they never wait behind a catalog-wide change.
pub const BULK_FROM: usize = 100;

/// Stores a batch of valid products in the caller's transaction. Each result corresponds to the
/// product at the same index. The SKUs may repeat; later items see earlier ones.
pub fn put_products(
    conn: &mut DbConnection,
    items: &[Product],
    by: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Stored>, StoreError> {
    let at = naive(now);
    let bulk = items.len() >= BULK_FROM;
    let skus: Vec<&str> = items.iter().map(|p| p.sku.as_str()).collect();
    products::lock_skus(conn, &skus)?;
    let current: HashMap<String, (String, i64, String)> = products::get_many(conn, &skus)?
        .into_iter()
        .map(|row| (row.sku, (row.hash, row.version, row.body)))
        .collect();
    // SKUs changed earlier in this batch: the index of their latest result.
    let mut latest: HashMap<&str, usize> = HashMap::new();

    let mut results: Vec<Stored> = Vec::with_capacity(items.len());
    let mut bodies: Vec<PendingWrite> = Vec::with_capacity(items.len());
    // Per item, the history's `fields` (the JSON array of the changed top-level keys) and
    // `changes` (their values before and after).
    let mut changed: Vec<(String, Option<String>)> = Vec::with_capacity(items.len());
    for product in items {
        // Stored in canonical form: one serialisation gives both the body and its hash. It is
        // written straight from the product (the same bytes as `jcs` of `to_json`).
        let mut canonical = Vec::with_capacity(1536);
        product.write_canonical(&mut canonical);
        let hash = jcs::sha256_hex_of(&canonical);
        let body = String::from_utf8(canonical)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let next = product.next_change_after(now).map(naive);
        let sku = product.sku.as_str();
        let prior = match latest.get(sku) {
            Some(&i) => Some((
                results[i].hash.as_str(),
                bodies[i].version,
                results[i].body.as_str(),
            )),
            None => current
                .get(sku)
                .map(|(h, v, b)| (h.as_str(), *v, b.as_str())),
        };
        let (status, before) = match prior {
            Some((old_hash, _, _)) if old_hash == hash => (PutStatus::Unchanged, None),
            Some((old_hash, version, old_body)) => (
                PutStatus::Updated,
                Some((old_hash.to_string(), version, old_body)),
            ),
            None => (PutStatus::Created, None),
        };
        let (fields, values) = match (&status, &before) {
            (PutStatus::Unchanged, _) => (String::new(), None),
            (_, Some((_, _, old))) => {
                let (names, values) = history_diff(sku, Some(old), Some(&body))?;
                (names, Some(values))
            }
            // Creation lists every key of the new body (the first version: nothing to diff).
            (_, None) => (fields_json(&product.json_keys()), None),
        };
        let version = before.as_ref().map_or(1, |(_, v, _)| v + 1);
        if status != PutStatus::Unchanged {
            latest.insert(sku, results.len());
        }
        bodies.push(PendingWrite {
            status,
            version,
            next,
            hash_before: before.map(|(h, _, _)| h),
        });
        changed.push((fields, values));
        results.push(Stored { status, hash, body });
    }

    let mut inserts = Vec::new();
    // The last state of each SKU the batch updates, in SKU order (the order of the table's
    // key): a SKU changed twice is written once.
    let mut updates: BTreeMap<&str, NewProduct<'_>> = BTreeMap::new();
    let mut history = Vec::with_capacity(items.len());
    let mut events = Vec::with_capacity(items.len());
    let mut created: i64 = 0;
    for (((product, pending), stored), (fields, values)) in
        items.iter().zip(&bodies).zip(&results).zip(changed)
    {
        if pending.status == PutStatus::Unchanged {
            continue;
        }
        let row = NewProduct {
            sku: product.sku.as_str(),
            body: &stored.body,
            hash: &stored.hash,
            version: pending.version,
            next_change_at: pending.next,
            created_at: at,
            updated_at: at,
        };
        if pending.status == PutStatus::Created && pending.version == 1 {
            created += 1;
            inserts.push(row);
        } else {
            updates.insert(row.sku, row);
        }
        history.push(NewHistory {
            sku: product.sku.as_str(),
            at,
            by_name: by,
            fields,
            hash_before: pending.hash_before.as_deref(),
            hash_after: Some(&stored.hash),
            changes: values,
        });
        events.push(NewOutboxEvent {
            sku: product.sku.as_str(),
            hash: Some(&stored.hash),
            by_name: by,
            at,
            bulk,
        });
    }
    // The inserts go first, so that an update of a SKU created earlier in the batch finds
    // its row.
    products::insert(conn, &inserts)?;
    products::update_many(conn, &updates.into_values().collect::<Vec<_>>())?;
    snapshots::add_catalog_size(conn, created)?;
    // The console's search words of every changed SKU: as stored before the batch (from its
    // stored body) and as of its last version in the batch; only the difference is written.
    // Words are made only for a SKU whose titles or GTIN changed: a price change makes none.
    let mut changes = Vec::new();
    for (sku, &i) in &latest {
        let p = &items[i];
        let before = match current.get(*sku) {
            Some((_, _, body)) => search::Searched::of_stored(body)
                .map_err(|e| StoreError::Corrupt(format!("product {sku}: {e}")))?,
            None => search::Searched::default(),
        };
        let gtin = p.gtin.as_ref().map(|g| g.as_str());
        if before.same(&p.title, gtin) {
            continue;
        }
        let after = search::product_words(p.title.values().map(String::as_str), gtin);
        changes.push(products::WordChange {
            sku,
            before: before.words(),
            after,
        });
    }
    products::change_search_words(conn, &changes)?;
    products::insert_history(conn, &history)?;
    outbox::insert(conn, &events)?;
    Ok(results)
}

/// The history's `fields` column (the JSON array of the top-level keys that differ, sorted)
/// and its `changes` column (`{"field": {"before": v, "after": v}}`, a side left out where the
/// field is absent), from the stored canonical bodies before and after. Canonical JSON has one
/// text per value, so members are compared and copied as text, without parsing the values.
fn history_diff(
    sku: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<(String, String), StoreError> {
    type Members<'a> = BTreeMap<&'a str, &'a RawValue>;
    fn members<'a>(sku: &str, body: Option<&'a str>) -> Result<Members<'a>, StoreError> {
        body.map_or(Ok(Members::new()), |b| {
            serde_json::from_str(b).map_err(|e| StoreError::Corrupt(format!("product {sku}: {e}")))
        })
    }
    let (b, a) = (members(sku, before)?, members(sku, after)?);
    fn text<'a>(m: &Members<'a>, k: &str) -> Option<&'a str> {
        m.get(k).map(|v| v.get())
    }
    let names: BTreeSet<&str> = b
        .keys()
        .chain(a.keys())
        .copied()
        .filter(|k| text(&b, k) != text(&a, k))
        .collect();
    let mut changes = Vec::with_capacity(256);
    let mut o = Obj::open(&mut changes);
    for name in &names {
        o.key(name);
        let mut sides = Obj::open(o.out);
        for (side, m) in [("before", &b), ("after", &a)] {
            if let Some(v) = text(m, name) {
                sides.key(side);
                sides.out.extend_from_slice(v.as_bytes());
            }
        }
        sides.close();
    }
    o.close();
    let names: Vec<&str> = names.into_iter().collect();
    // Written from strings and stored JSON text: UTF-8.
    let changes = String::from_utf8(changes).unwrap_or_default();
    Ok((fields_json(&names), changes))
}

/// The history's `fields` column: the JSON array of the changed top-level keys.
fn fields_json<S: AsRef<str> + serde::Serialize>(fields: &[S]) -> String {
    serde_json::to_string(fields).unwrap_or_else(|_| "[]".into())
}

struct PendingWrite {
    status: PutStatus,
    version: i64,
    next: Option<NaiveDateTime>,
    hash_before: Option<String>,
}

/// Creates or replaces one product, honouring `If-Match`.
pub fn put_product(
    conn: &mut DbConnection,
    product: &Product,
    if_match: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Stored, EditError> {
    if let Some(tag) = if_match {
        products::lock_skus(conn, &[product.sku.as_str()])?;
        let current = products::get(conn, product.sku.as_str())?;
        if !if_match_holds(tag, current.as_ref().map(|r| r.hash.as_str())) {
            return Err(EditError::PreconditionFailed);
        }
    }
    let mut stored = put_products(conn, std::slice::from_ref(product), by, now)?;
    Ok(stored.remove(0))
}

/// Applies a JSON Merge Patch (RFC 7396) to the stored product and stores the result.
pub fn patch_product(
    conn: &mut DbConnection,
    sku: &str,
    patch: &Value,
    if_match: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Stored, EditError> {
    let row = existing_for_write(conn, sku, if_match)?;
    let mut value = parse_body(&row)?;
    catalog::merge_patch(&mut value, patch);
    let product = catalog::parse_product(&value, Some(sku))?;
    let mut stored = put_products(conn, std::slice::from_ref(&product), by, now)?;
    Ok(stored.remove(0))
}

/// Deletes a product; partners see a deletion.
pub fn delete_product(
    conn: &mut DbConnection,
    sku: &str,
    if_match: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), EditError> {
    let row = existing_for_write(conn, sku, if_match)?;
    let at = naive(now);
    products::delete(conn, sku)?;
    snapshots::add_catalog_size(conn, -1)?;
    products::set_search_words(conn, &[(sku, Vec::new())])?;
    let (fields, changes) = history_diff(sku, Some(&row.body), None)?;
    products::insert_history(
        conn,
        &[NewHistory {
            sku,
            at,
            by_name: by,
            fields,
            hash_before: Some(&row.hash),
            hash_after: None,
            changes: Some(changes),
        }],
    )?;
    outbox::insert(
        conn,
        &[NewOutboxEvent {
            sku,
            hash: None,
            by_name: by,
            at,
            bulk: false,
        }],
    )?;
    Ok(())
}

/// The stored product `sku`, locked against other writers until the end of the transaction,
/// when it exists and `If-Match` (if given) holds.
fn existing_for_write(
    conn: &mut DbConnection,
    sku: &str,
    if_match: Option<&str>,
) -> Result<ProductRow, EditError> {
    products::lock_skus(conn, &[sku])?;
    let row = products::get(conn, sku)?.ok_or(EditError::NotFound)?;
    match if_match {
        Some(tag) if !if_match_holds(tag, Some(&row.hash)) => Err(EditError::PreconditionFailed),
        _ => Ok(row),
    }
}

/// The stored canonical JSON of a product.
pub fn parse_body(row: &ProductRow) -> Result<Value, StoreError> {
    serde_json::from_str(&row.body)
        .map_err(|e| StoreError::Corrupt(format!("product {}: {e}", row.sku)))
}

/// Stored timestamps are naive UTC.
pub fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// What a run of edits did (an import, the demo loader): products created, updated, unchanged
/// and failed, and how long it took.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failed: usize,
    pub elapsed: std::time::Duration,
}

impl Summary {
    /// Counts what each stored product's upsert did.
    pub fn count(&mut self, stored: &[Stored]) {
        for s in stored {
            match s.status {
                PutStatus::Created => self.created += 1,
                PutStatus::Updated => self.updated += 1,
                PutStatus::Unchanged => self.unchanged += 1,
            }
        }
    }

    pub fn stored(&self) -> usize {
        self.created + self.updated + self.unchanged
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            (self.stored() + self.failed) as f64 / secs
        } else {
            0.0
        };
        write!(
            f,
            "{} stored ({} created, {} updated, {} unchanged), {} failed, in {:.2} s ({:.0} lines/s)",
            self.stored(),
            self.created,
            self.updated,
            self.unchanged,
            self.failed,
            secs,
            rate
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_history_diff_names_the_members_that_differ_with_both_sides() {
        let before =
            r#"{"brand":"Boreal","prices":[{"amount":"1.50"}],"sku":"A-1","title":{"en":"Old"}}"#;
        let after = r#"{"gtin":"03700123000006","prices":[{"amount":"1.50"}],"sku":"A-1","title":{"en":"New \"one\""}}"#;
        let (fields, changes) = history_diff("A-1", Some(before), Some(after)).unwrap();
        assert_eq!(fields, r#"["brand","gtin","title"]"#);
        let changes: Value = serde_json::from_str(&changes).unwrap();
        assert_eq!(
            changes,
            json!({
                "brand": {"before": "Boreal"},
                "gtin": {"after": "03700123000006"},
                "title": {"before": {"en": "Old"}, "after": {"en": "New \"one\""}},
            })
        );
        // A deletion lists every member, before only.
        let (fields, changes) = history_diff("A-1", Some(before), None).unwrap();
        assert_eq!(fields, r#"["brand","prices","sku","title"]"#);
        let changes: Value = serde_json::from_str(&changes).unwrap();
        assert_eq!(changes["prices"], json!({"before": [{"amount": "1.50"}]}));
        assert!(history_diff("A-1", Some("{"), None).is_err());
    }
}
