//! `partnerfeed token create|list|revoke`: admin and editor tokens from the command line
//! (reseller tokens are created through the API, under their reseller).

use std::io::Write;

use anyhow::Context;

use crate::api;
use crate::app;
use crate::config::Storage;
use crate::service::tokens::{self, Role};
use crate::store;

/// Creates a token and prints it alone on stdout (its id goes to stderr).
pub fn create(
    storage: &Storage,
    role: &str,
    name: &str,
    expires_at: Option<&str>,
) -> anyhow::Result<()> {
    let role = match Role::parse(role) {
        Some(r @ (Role::Admin | Role::Editor)) => r,
        _ => anyhow::bail!(
            "--role must be admin or editor (reseller tokens: POST /v1/resellers/{{code}}/tokens)"
        ),
    };
    let name = tokens::validate_name(name)
        .map_err(|_| anyhow::anyhow!("--name must be 1 to 100 printable characters"))?;
    let expires_at = tokens::validate_expiry(expires_at, chrono::Utc::now())
        .map_err(|_| anyhow::anyhow!("--expires-at must be an RFC 3339 date-time in the future"))?;
    let db = app::open_db(storage)?;
    let mut conn = db.write_conn()?;
    let issued = tokens::issue(&mut conn, role, &name, None, expires_at)?;
    println!("{}", issued.token);
    eprintln!("token id: {}", issued.public_id);
    Ok(())
}

/// Lists every token as JSON lines; never a secret.
pub fn list(storage: &Storage) -> anyhow::Result<()> {
    let db = app::open_db(storage)?;
    let mut conn = db.read_conn()?;
    let mut out = std::io::stdout().lock();
    for row in store::tokens::list(&mut conn)? {
        let info = api::tokens::TokenInfo::from(row);
        writeln!(out, "{}", serde_json::to_string(&info)?)?;
    }
    Ok(())
}

/// Revokes a token by its public id (`tok_...`).
pub fn revoke(storage: &Storage, id: &str) -> anyhow::Result<()> {
    let db = app::open_db(storage)?;
    let mut conn = db.write_conn()?;
    let row =
        store::tokens::delete(&mut conn, id)?.with_context(|| format!("no token with id {id}"))?;
    eprintln!("revoked {} ({}, {})", row.public_id, row.role, row.name);
    Ok(())
}
