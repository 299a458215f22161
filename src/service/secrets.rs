//! Secrets at rest: the key kept outside the database (`PARTNERFEED_SECRET_KEY` or
//! `<data dir>/secret.key`) that encrypts the secrets stored inside it (webhook signing secrets,
//! the cursor key), the sealing of values written before encryption existed, and key rotation.
//! It must not hold the key anywhere but in memory and in that one file.
//!
//! A stored value is `pfenc1:<key id>:<base64url(nonce || ciphertext)>`: XChaCha20-Poly1305
//! with a random 192-bit nonce per value, and the row it belongs to (`subscriptions:<id>`,
//! `service_keys:<name>`) as associated data, so a value copied into another row does not open.
//! The key id (16 hex digits of a SHA-256 of the key) tells a wrong key from a damaged value.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::store::{self, DbConnection, StoreError};

/// The environment variable naming the key (the same name the flag's errors use).
pub const KEY_VAR: &str = "PARTNERFEED_SECRET_KEY";
/// The key file in the data directory, used when [`KEY_VAR`] is unset.
pub const KEY_FILE: &str = "secret.key";
/// Prefix (format version 1) of every encrypted value.
const PREFIX: &str = "pfenc1:";
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{source_name}: the secret key must be 32 bytes written as 64 hex digits or as base64 ({detail})")]
    BadKey { source_name: String, detail: String },
    #[error(
        "the database's secrets were encrypted with secret key {expected}, but the key in force \
         ({source_name}) is {found}: give every instance the same key (copy secret.key or set \
         {KEY_VAR}); no secret was changed"
    )]
    WrongKey {
        expected: String,
        found: String,
        source_name: String,
    },
    #[error("the stored secret of {0} is damaged (it does not decrypt with its key)")]
    Damaged(String),
    #[error("cannot use {path}: {error}")]
    File {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A 256-bit key and where it came from (for messages). `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
    bytes: [u8; 32],
    id: String,
    source: String,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({}, [redacted])", self.id)
    }
}

impl SecretKey {
    /// A key from its written form: 64 hex digits, or base64 (standard or URL-safe) of 32 bytes.
    /// `source` names the variable or file in errors; the value itself is never repeated.
    pub fn parse(text: &str, source: &str) -> Result<SecretKey, SecretError> {
        let text = text.trim();
        let bad = |detail: String| SecretError::BadKey {
            source_name: source.to_string(),
            detail,
        };
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| bad(e.to_string()))?
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .map_err(|_| bad("neither hex nor base64".into()))?
        };
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| bad(format!("it decodes to {} bytes", bytes.len())))?;
        Ok(SecretKey::from_bytes(bytes, source))
    }

    /// A new random key.
    pub fn generate(source: &str) -> SecretKey {
        SecretKey::from_bytes(rand::random(), source)
    }

    fn from_bytes(bytes: [u8; 32], source: &str) -> SecretKey {
        let digest = Sha256::new()
            .chain_update(b"partnerfeed secret key id\0")
            .chain_update(bytes)
            .finalize();
        SecretKey {
            cipher: XChaCha20Poly1305::new(&bytes.into()),
            bytes,
            id: hex::encode(&digest[..8]),
            source: source.to_string(),
        }
    }

    /// The key as written to `secret.key`: base64 of the 32 bytes.
    pub fn encoded(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// The public id of the key, stored beside each value it encrypts.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the key came from: the variable or the file.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `plaintext` encrypted for the row `row` (e.g. `subscriptions:sub_1`).
    pub fn seal(&self, row: &str, plaintext: &str) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: row.as_bytes(),
                },
            )
            // Encryption fails only for messages beyond 256 GiB.
            .expect("XChaCha20-Poly1305 encrypts any secret");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        format!("{PREFIX}{}:{}", self.id, URL_SAFE_NO_PAD.encode(blob))
    }

    /// The plaintext of a value [`seal`](Self::seal)ed for `row`. A value of another key is
    /// [`SecretError::WrongKey`]; one that does not decrypt (altered, or copied from another
    /// row) is [`SecretError::Damaged`].
    pub fn open(&self, row: &str, stored: &str) -> Result<String, SecretError> {
        let damaged = || SecretError::Damaged(row.to_string());
        let (key_id, blob) = stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .ok_or_else(damaged)?;
        if key_id != self.id {
            return Err(SecretError::WrongKey {
                expected: key_id.to_string(),
                found: self.id.clone(),
                source_name: self.source.clone(),
            });
        }
        let blob = URL_SAFE_NO_PAD.decode(blob).map_err(|_| damaged())?;
        if blob.len() < NONCE_LEN {
            return Err(damaged());
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: row.as_bytes(),
                },
            )
            .map_err(|_| damaged())?;
        String::from_utf8(plain).map_err(|_| damaged())
    }
}

/// Whether a stored value is encrypted (anything else non-empty is a plaintext left from before).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The associated data of a subscription's secrets (both `secret` and `old_secret`).
pub fn subscription_row(id: &str) -> String {
    format!("subscriptions:{id}")
}

/// The associated data of a `service_keys` row.
pub fn service_key_row(name: &str) -> String {
    format!("service_keys:{name}")
}

/// The key in force: `configured` (the value of [`KEY_VAR`]) when set, else
/// `<data_dir>/secret.key`, created (mode 0600) with a new random key when missing. Several
/// instances starting together on one data directory agree on one file.
pub fn load_key(configured: Option<&str>, data_dir: &Path) -> Result<SecretKey, SecretError> {
    if let Some(text) = configured.filter(|t| !t.trim().is_empty()) {
        return SecretKey::parse(text, KEY_VAR);
    }
    let path = data_dir.join(KEY_FILE);
    let file_error = |error| SecretError::File {
        path: path.clone(),
        error,
    };
    let source = path.display().to_string();
    let existing = || -> Result<SecretKey, SecretError> {
        crate::files::restrict(&path, crate::files::FILE_MODE).map_err(file_error)?;
        let text = std::fs::read_to_string(&path).map_err(file_error)?;
        SecretKey::parse(&text, &source)
    };
    if path.exists() {
        return existing();
    }
    let fresh = SecretKey::generate(&source);
    // Written whole under a temporary name, then linked to `secret.key` only if no other
    // instance made it first: a reader never sees half a key, and exactly one key wins.
    let temp = data_dir.join(format!(".{KEY_FILE}.{}.tmp", fresh.id()));
    let written = create_private(&temp).and_then(|mut file| {
        file.write_all(format!("{}\n", fresh.encoded()).as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temp, &path));
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "secret key created: back it up apart from the database");
            Ok(fresh)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => existing(),
        Err(e) => Err(file_error(e)),
    }
}

/// A new file, readable by its owner only; fails if it exists.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    crate::files::private_options()
        .write(true)
        .create_new(true)
        .open(path)
}

/// The cursor key (shared by every instance through `service_keys`, made by the first), opened
/// with `key`. A cursor key stored in plaintext by an older version is sealed in place first.
pub fn cursor_key(conn: &mut DbConnection, key: &SecretKey) -> Result<Vec<u8>, SecretError> {
    let row = service_key_row("cursor");
    let stored = store::service_key(conn, "cursor", || key.seal(&row, &crate::random::hex(64)))?;
    let stored = if is_sealed(&stored) {
        stored
    } else {
        let sealed = key.seal(&row, &stored);
        // Conditional on the plaintext: an instance that sealed it first wins.
        store::replace_service_key(conn, "cursor", &stored, &sealed)?;
        store::service_key(conn, "cursor", String::new)?
    };
    let hex_key = key.open(&row, &stored)?;
    hex::decode(hex_key.trim()).map_err(|e| StoreError::Corrupt(format!("cursor key: {e}")).into())
}

/// Seals the webhook secrets still stored in plaintext (written before encryption existed) and
/// checks that every sealed one opens with `key`. Each update is conditional on the plaintext it
/// replaces, so instances starting together seal each value once. Returns how many were sealed.
pub fn seal_stored_secrets(conn: &mut DbConnection, key: &SecretKey) -> Result<usize, SecretError> {
    each_stored_secret(conn, |conn, id, column, value| {
        let row = subscription_row(id);
        if is_sealed(value) {
            key.open(&row, value)?;
            return Ok(0);
        }
        let sealed = key.seal(&row, value);
        Ok(store::subscriptions::replace_secret(
            conn, id, column, value, &sealed,
        )?)
    })
}

/// Re-encrypts every stored secret from `old` to `new`, in one transaction: afterwards only
/// `new` opens them. Returns how many values were re-encrypted.
pub fn rotate(
    conn: &mut DbConnection,
    old: &SecretKey,
    new: &SecretKey,
) -> Result<usize, SecretError> {
    store::transaction(conn, |conn| {
        seal_stored_secrets(conn, old)?;
        let cursor = hex::encode(cursor_key(conn, old)?);
        let current = store::service_key(conn, "cursor", String::new)?;
        let resealed = new.seal(&service_key_row("cursor"), &cursor);
        let mut count = store::replace_service_key(conn, "cursor", &current, &resealed)?;
        count += each_stored_secret(conn, |conn, id, column, value| {
            let row = subscription_row(id);
            let plain = old.open(&row, value)?;
            let resealed = new.seal(&row, &plain);
            Ok(store::subscriptions::replace_secret(
                conn, id, column, value, &resealed,
            )?)
        })?;
        Ok(count)
    })
}

/// Calls `f` with every non-empty stored webhook secret (current and previous); sums its counts.
fn each_stored_secret(
    conn: &mut DbConnection,
    mut f: impl FnMut(
        &mut DbConnection,
        &str,
        store::subscriptions::SecretColumn,
        &str,
    ) -> Result<usize, SecretError>,
) -> Result<usize, SecretError> {
    use store::subscriptions::SecretColumn;
    let mut count = 0;
    for (id, secret, old_secret) in store::subscriptions::stored_secrets(conn)? {
        for (column, value) in [
            (SecretColumn::Current, Some(secret)),
            (SecretColumn::Previous, old_secret),
        ] {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                count += f(conn, &id, column, &value)?;
            }
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::generate("test")
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_row_and_key() {
        let k = key();
        let sealed = k.seal("subscriptions:a", "whsec_abc");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(k.open("subscriptions:a", &sealed).unwrap(), "whsec_abc");
        assert!(matches!(
            k.open("subscriptions:b", &sealed),
            Err(SecretError::Damaged(_))
        ));
        assert!(matches!(
            key().open("subscriptions:a", &sealed),
            Err(SecretError::WrongKey { .. })
        ));
        // A fresh nonce each time: the same secret never gives the same stored value.
        assert_ne!(sealed, k.seal("subscriptions:a", "whsec_abc"));
    }

    #[test]
    fn the_key_file_is_made_once_0600_and_shared_by_instances_starting_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let ids: Vec<String> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || load_key(None, &path).unwrap().id().to_string())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        assert_eq!(load_key(None, &path).unwrap().id(), ids[0]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Only the key file is left, no temporary one.
        assert_eq!(std::fs::read_dir(&path).unwrap().count(), 1);
        // The variable wins over the file; a damaged file is named.
        let k = key();
        assert_eq!(load_key(Some(&k.encoded()), &path).unwrap().id(), k.id());
        std::fs::write(path.join(KEY_FILE), "damaged").unwrap();
        let e = load_key(None, &path).unwrap_err().to_string();
        assert!(e.contains("secret.key: the secret key must be"), "{e}");
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_bad_ones_name_their_source() {
        let k = key();
        let again = SecretKey::parse(&k.encoded(), "x").unwrap();
        assert_eq!(again.id(), k.id());
        let hexed = SecretKey::parse(&hex::encode(k.bytes), "x").unwrap();
        assert_eq!(hexed.id(), k.id());
        for bad in ["", "short", &STANDARD.encode([1u8; 31]), &"g".repeat(64)] {
            let e = SecretKey::parse(bad, KEY_VAR).unwrap_err().to_string();
            assert!(e.starts_with("PARTNERFEED_SECRET_KEY: "), "{e}");
        }
        assert!(!format!("{k:?}").contains(&k.encoded()));
    }
}
