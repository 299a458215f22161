//! Random ids: the one place where partnerfeed draws a random identifier (subscription, webhook
//! and digest ids, lease owners, mail file names, the cursor key). A leaf: it uses nothing of
//! the crate.

use rand::RngCore;

/// `digits` random lowercase hex digits (4 bits each) from the operating system's generator
/// (through `rand`'s thread-local CSPRNG).
pub fn hex(digits: usize) -> String {
    let mut bytes = vec![0u8; digits.div_ceil(2)];
    rand::rng().fill_bytes(&mut bytes);
    let mut text = hex::encode(bytes);
    text.truncate(digits);
    text
}

/// A random id for a compression dictionary: zstd keeps ids below 32,768 for registered
/// dictionaries and ids of 2^31 and above for future use, so it is drawn between the two.
pub fn dictionary_id() -> u32 {
    32_768 + rand::rng().next_u32() % ((1 << 31) - 32_768)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_length_asked_and_differ() {
        for digits in [1, 8, 15, 16, 64] {
            let id = hex(digits);
            assert_eq!(id.len(), digits);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
        assert_ne!(hex(32), hex(32));
    }
}
