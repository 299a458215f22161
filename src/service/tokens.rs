//! API tokens: random secrets shown once, stored as SHA-256, each with a role; their names and
//! expiries checked, and issuing them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::catalog::ValidationErrors;
use crate::store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Reseller,
    Editor,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "editor" => Some(Role::Editor),
            "reseller" => Some(Role::Reseller),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Reseller => "reseller",
        }
    }
}

/// A new random token: `pf_` and 256 random bits in base64url.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("pf_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A token's public id: `tok_` and 128 random bits in hex, drawn independently of the secret,
/// so it can be shown, logged and typed into `DELETE /v1/tokens/{id}` without revealing it.
pub fn public_id() -> String {
    format!("tok_{}", crate::random::hex(32))
}

/// What is stored and looked up: lowercase hex SHA-256 of the token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a presented token's hash equals a stored one, in time independent of where they
/// differ. The database finds the row by its (indexed) hash; this second comparison keeps the
/// decision itself free of early exits whatever the database's comparison does.
pub fn hash_matches(presented: &str, stored: &str) -> bool {
    use subtle::ConstantTimeEq;
    presented.len() == stored.len() && bool::from(presented.as_bytes().ct_eq(stored.as_bytes()))
}

/// A token just issued: the secret, shown once and never stored, and what was stored.
pub struct Issued {
    /// The secret.
    pub token: String,
    /// The public id (`tok_...`).
    pub public_id: String,
    /// The row id.
    pub id: i64,
    pub token_hash: String,
    pub name: String,
    pub role: Role,
    pub reseller: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Issues a token: draws the secret and its public id and stores the secret's hash. The one
/// place tokens are made, for the API, the CLI, the first start and the demo loader.
pub fn issue(
    conn: &mut store::DbConnection,
    role: Role,
    name: &str,
    reseller: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Issued, store::StoreError> {
    let token = generate();
    let token_hash = hash(&token);
    let public_id = public_id();
    let id = store::tokens::insert(
        conn,
        &store::tokens::NewToken {
            public_id: &public_id,
            token_hash: &token_hash,
            name,
            role: role.as_str(),
            reseller_code: reseller,
            created_at: store::now(),
            expires_at: expires_at.map(|t| t.naive_utc()),
        },
    )?;
    Ok(Issued {
        token,
        public_id,
        id,
        token_hash,
        name: name.to_string(),
        role,
        reseller: reseller.map(str::to_string),
        expires_at,
    })
}

/// A token name: 1 to 100 printable characters (trimmed); a problem at `/name` otherwise.
pub fn validate_name(name: &str) -> Result<String, ValidationErrors> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ValidationErrors::one(
            "/name",
            "name must be 1 to 100 printable characters",
        ));
    }
    Ok(name.to_string())
}

/// An expiry as requested: RFC 3339, after `now`; a problem at `/expires_at` otherwise.
pub fn validate_expiry(
    expires_at: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ValidationErrors> {
    let Some(text) = expires_at else {
        return Ok(None);
    };
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|e| {
            ValidationErrors::one(
                "/expires_at",
                format!("expires_at must be an RFC 3339 date-time: {e}"),
            )
        })?
        .with_timezone(&Utc);
    if at <= now {
        return Err(ValidationErrors::one(
            "/expires_at",
            "expires_at must be in the future",
        ));
    }
    // Stored with microsecond precision.
    let at = DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at);
    Ok(Some(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.len() >= 3 + 43, "256 bits in base64url are 43 characters");
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn hashes_match_only_when_equal() {
        let stored = hash("pf_secret");
        assert!(hash_matches(&hash("pf_secret"), &stored));
        assert!(!hash_matches(&hash("pf_secreT"), &stored));
        let mut last = stored.clone();
        last.replace_range(63.., if stored.ends_with('0') { "1" } else { "0" });
        assert!(
            !hash_matches(&last, &stored),
            "a difference in the last byte counts"
        );
        assert!(!hash_matches(&stored[..63], &stored));
        assert!(!hash_matches("", &stored));
    }

    #[test]
    fn roles_order_by_power() {
        assert!(Role::Admin > Role::Editor && Role::Editor > Role::Reseller);
        assert_eq!(Role::parse("editor"), Some(Role::Editor));
        assert_eq!(Role::parse("root"), None);
    }
}
