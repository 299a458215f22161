//! RFC 8785 (JCS) canonical JSON, and the SHA-256 hashes taken over it.

use sha2::{Digest, Sha256};

/// The RFC 8785 canonical bytes of a JSON value.
pub fn canonical_bytes(value: &serde_json::Value) -> Vec<u8> {
    serde_json_canonicalizer::to_vec(value).expect("a serde_json::Value always serialises")
}

/// Lowercase hex SHA-256 of the canonical bytes of `value`.
pub fn sha256_hex(value: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(canonical_bytes(value)))
}
