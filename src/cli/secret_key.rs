//! `partnerfeed secret-key generate|rotate`: the key that encrypts the secrets stored in the
//! database (see [`crate::service::secrets`]).

use std::path::Path;

use anyhow::Context;

use crate::app;
use crate::config::Config;
use crate::files;
use crate::service::secrets::{self, SecretKey};

/// Prints a new random key (base64 of 32 bytes) on stdout.
pub fn generate() -> anyhow::Result<()> {
    println!("{}", SecretKey::generate("new key").encoded());
    Ok(())
}

/// Re-encrypts every stored secret with the key in `new_key_file`, in one transaction; when the
/// key in force came from `<data dir>/secret.key`, that file then holds the new key.
pub fn rotate(config: &Config, new_key_file: &Path) -> anyhow::Result<()> {
    let storage = &config.storage;
    let configured = config.secret_key.clone();
    let text = std::fs::read_to_string(new_key_file)
        .with_context(|| format!("cannot read {}", new_key_file.display()))?;
    let new = SecretKey::parse(&text, &new_key_file.display().to_string())?;
    let db = app::open_db(storage)?;
    let (_, count) = app::open_with_secret_key(storage, configured.as_ref(), |old| {
        if old.id() == new.id() {
            anyhow::bail!("the new key is the key in force ({})", old.source());
        }
        Ok(secrets::rotate(&mut *db.write_conn()?, old, &new)?)
    })?;
    if configured.is_none() {
        let path = storage.data_dir().join(secrets::KEY_FILE);
        files::write_private(&path, format!("{}\n", new.encoded()).as_bytes()).with_context(
            || {
                format!(
                    "secrets re-encrypted, but cannot write the new key to {}: it is in {}",
                    path.display(),
                    new_key_file.display()
                )
            },
        )?;
        eprintln!(
            "{count} secrets re-encrypted with key {}; {} now holds it",
            new.id(),
            path.display()
        );
    } else {
        eprintln!(
            "{count} secrets re-encrypted with key {}; set {} to the new key on every instance",
            new.id(),
            secrets::KEY_VAR
        );
    }
    Ok(())
}
