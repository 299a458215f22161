//! `partnerfeed demo`: stores the sample catalog, channels and resellers of [`crate::demo`]
//! through the same paths as the API and `import`.

use std::fmt;

use chrono::Utc;

use crate::catalog;
use crate::delta;
use crate::service::edit::{self, Summary};
use crate::service::tokens::issue;
use crate::service::tokens::Role;
use crate::store::{self, Db};

/// What the demo stored, and a new token per reseller.
pub struct DemoSummary {
    pub products: Summary,
    pub channels: Vec<String>,
    pub reseller_tokens: Vec<(String, String)>,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "products: {}", self.products)?;
        writeln!(f, "channels: {}", self.channels.join(", "))?;
        writeln!(f, "reseller tokens (shown once):")?;
        for (reseller, token) in &self.reseller_tokens {
            writeln!(f, "  {reseller}: {token}")?;
        }
        Ok(())
    }
}

/// Loads `count` demo products, the demo channels and resellers, and issues one token per
/// reseller. Running it again leaves products and channels unchanged.
pub fn load(db: &Db, count: usize) -> anyhow::Result<DemoSummary> {
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
        let stored = store::transaction(&mut conn, |c| edit::put_products(c, &chunk, "demo", now))?;
        summary.count(&stored);
    }
    summary.elapsed = started.elapsed();

    let mut channels = Vec::new();
    for (code, value) in crate::demo::channels() {
        let def = delta::parse_channel(&value)
            .map_err(|e| anyhow::anyhow!("demo channel {code} is invalid: {:?}", e.errors))?;
        store::channels::put(
            &mut conn,
            &code,
            &def.to_json().to_string(),
            &def.definition_hash(),
        )?;
        channels.push(code);
    }
    let mut reseller_tokens = Vec::new();
    for (code, value) in crate::demo::resellers() {
        let text = |key: &str| value[key].as_str().unwrap_or_default().to_string();
        let access: Vec<String> = value["channels"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let issued = store::transaction(&mut conn, |c| {
            store::resellers::put(c, &code, &text("name"), &text("email"), &access)?;
            issue(c, Role::Reseller, "demo", Some(&code), None)
        })?;
        reseller_tokens.push((code, issued.token));
    }
    Ok(DemoSummary {
        products: summary,
        channels,
        reseller_tokens,
    })
}
