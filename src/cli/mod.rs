//! The command-line commands other than `serve`: thin bodies over `service/`, `store/` and
//! `demo/` that open the database from the storage flags, do one thing and print what a person
//! or a script reads (results on stdout, notes on stderr). The clap definitions stay in
//! `main.rs`; these functions take their parsed values.
//! - [`import`]: a CSV or NDJSON file into the catalog, in chunked transactions.
//! - [`export`]: a channel's full feed, or its changes since a cursor, to a file or stdout.
//! - [`token`]: create, list and revoke admin and editor tokens.
//! - [`secret_key`]: generate a secret key; re-encrypt the stored secrets with a new one.
//! - [`demo`]: fill the database with the sample catalog of [`crate::demo`].

use crate::app;
use crate::config::Storage;

pub mod demo;
pub mod export;
pub mod import;
pub mod secret_key;
pub mod token;

/// `partnerfeed migrate`: applies the migrations (opening the database does) and says so.
pub fn migrate(storage: &Storage) -> anyhow::Result<()> {
    let db = app::open_db(storage)?;
    eprintln!("migrations applied ({})", db.backend().name());
    Ok(())
}
