//! `partnerfeed demo`: stores the sample catalog of [`crate::demo`] through the same edit path
//! as the API and `import`.

use chrono::Utc;

use crate::catalog;
use crate::editing;
use crate::import::Summary;
use crate::store::{self, Db};

/// Loads `count` demo products (idempotent: a second run leaves them unchanged).
pub fn load(db: &Db, count: usize) -> anyhow::Result<Summary> {
    let started = std::time::Instant::now();
    let mut summary = Summary::default();
    let mut conn = db.write_conn()?;
    let mut chunk = Vec::with_capacity(1000);
    let mut products = crate::demo::products(count).peekable();
    while products.peek().is_some() {
        chunk.clear();
        for value in products.by_ref().take(1000) {
            let product = catalog::parse_product(&value, None).map_err(|e| {
                anyhow::anyhow!("demo product {} is invalid: {:?}", value["sku"], e.errors)
            })?;
            chunk.push(product);
        }
        let now = Utc::now();
        let stored =
            store::transaction(&mut conn, |c| editing::put_products(c, &chunk, "demo", now))?;
        for s in stored {
            match s.status {
                editing::PutStatus::Created => summary.created += 1,
                editing::PutStatus::Updated => summary.updated += 1,
                editing::PutStatus::Unchanged => summary.unchanged += 1,
            }
        }
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}
