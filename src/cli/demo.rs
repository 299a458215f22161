//! `partnerfeed demo`: stores a sample catalog of `products` products, with its channels and
//! resellers, and prints what it stored.

use crate::app;
use crate::config::Storage;

pub fn run(storage: &Storage, products: usize) -> anyhow::Result<()> {
    let db = app::open_db(storage)?;
    let summary = crate::demo::load::load(&db, products)?;
    println!("{summary}");
    Ok(())
}
