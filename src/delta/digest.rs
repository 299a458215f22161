//! The channel digest: one hash over a channel's live records that a partner recomputes over its
//! replica to prove it is in sync. Pure accumulation; the caller supplies rows in sku order.

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 over the lines `sku<TAB>hash<LF>`, one per live record, in bytewise
/// sku order. The caller streams the rows in that order (`ORDER BY sku` on a bytewise
/// collation); the accumulator holds only the running hash.
#[derive(Debug, Clone, Default)]
pub struct ChannelDigest {
    hasher: Sha256,
    count: u64,
}

impl ChannelDigest {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one live record. `sku` must sort bytewise after every sku pushed before it.
    pub fn push(&mut self, sku: &str, hash: &str) {
        debug_assert!(!sku.contains(['\t', '\n']) && !hash.contains(['\t', '\n']));
        self.hasher.update(sku.as_bytes());
        self.hasher.update(b"\t");
        self.hasher.update(hash.as_bytes());
        self.hasher.update(b"\n");
        self.count += 1;
    }

    /// Records pushed so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest; for an empty channel, the SHA-256 of no bytes.
    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_tab_separated_lines() {
        let a = "0f8c1f4b7e9d2a63a1b0c9d8e7f6a5b4c3d2e1f00112233445566778899aabbc";
        let b = "9a9b9c9d9e9f909192939495969798999a9b9c9d9e9f90919293949596979899";
        let mut digest = ChannelDigest::new();
        digest.push("DRL-1001", a);
        digest.push("SAW-2002", b);
        assert_eq!(digest.count(), 2);
        let expected = Sha256::digest(format!("DRL-1001\t{a}\nSAW-2002\t{b}\n").as_bytes());
        assert_eq!(digest.finish(), hex::encode(expected));
    }

    #[test]
    fn empty_channel_is_hash_of_nothing() {
        let digest = ChannelDigest::new();
        assert_eq!(digest.count(), 0);
        assert_eq!(
            digest.finish(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn order_matters() {
        let mut ab = ChannelDigest::new();
        ab.push("A", "1");
        ab.push("B", "2");
        let mut ba = ChannelDigest::new();
        ba.push("B", "2");
        ba.push("A", "1");
        assert_ne!(ab.finish(), ba.finish());
    }
}
