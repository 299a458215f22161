//! Opaque, self-checking cursors naming a position in one channel's change sequence. Pure
//! encoding: whether the position is still served (epoch, retention) is for the caller to decide.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the cursor body: channel id, epoch and seq as big-endian `i64`s.
const BODY_LEN: usize = 24;
/// Bytes of HMAC-SHA256 kept after the body: enough to reject typos and forgeries by guess.
const MAC_LEN: usize = 8;

/// A position in a channel's change sequence: every change with a greater `seq` comes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub channel_id: i64,
    /// Bumped when a channel is deleted and re-created, so older cursors cannot name it.
    pub epoch: i64,
    pub seq: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not base64url, not the right length, or a MAC that does not match: not one of ours.
    #[error("malformed cursor")]
    Malformed,
}

impl Cursor {
    /// base64url (no padding) of the 24-byte body followed by the first 8 bytes of
    /// HMAC-SHA256(key, body): 43 characters.
    pub fn encode(&self, key: &[u8]) -> String {
        let body = self.body();
        let tag = mac(key, &body).finalize().into_bytes();
        let mut bytes = Vec::with_capacity(BODY_LEN + MAC_LEN);
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes and authenticates a cursor made by [`Cursor::encode`] with the same key.
    pub fn decode(s: &str, key: &[u8]) -> Result<Cursor, CursorError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s.as_bytes())
            .map_err(|_| CursorError::Malformed)?;
        if bytes.len() != BODY_LEN + MAC_LEN {
            return Err(CursorError::Malformed);
        }
        let (body, tag) = bytes.split_at(BODY_LEN);
        // Constant-time comparison of the truncated tag.
        mac(key, body)
            .verify_truncated_left(tag)
            .map_err(|_| CursorError::Malformed)?;
        let field = |i: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&body[i * 8..(i + 1) * 8]);
            i64::from_be_bytes(word)
        };
        Ok(Cursor {
            channel_id: field(0),
            epoch: field(1),
            seq: field(2),
        })
    }

    fn body(&self) -> [u8; BODY_LEN] {
        let mut body = [0u8; BODY_LEN];
        body[..8].copy_from_slice(&self.channel_id.to_be_bytes());
        body[8..16].copy_from_slice(&self.epoch.to_be_bytes());
        body[16..].copy_from_slice(&self.seq.to_be_bytes());
        body
    }
}

fn mac(key: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long ones are hashed), so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test cursor key";

    #[test]
    fn round_trips() {
        for cursor in [
            Cursor {
                channel_id: 1,
                epoch: 0,
                seq: 0,
            },
            Cursor {
                channel_id: 42,
                epoch: 3,
                seq: 1_234_567,
            },
            Cursor {
                channel_id: i64::MAX,
                epoch: i64::MIN,
                seq: -1,
            },
        ] {
            let s = cursor.encode(KEY);
            assert_eq!(s.len(), 43);
            assert!(s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(Cursor::decode(&s, KEY), Ok(cursor));
        }
    }

    #[test]
    fn different_positions_give_different_strings() {
        let a = Cursor {
            channel_id: 1,
            epoch: 1,
            seq: 10,
        }
        .encode(KEY);
        let b = Cursor {
            channel_id: 1,
            epoch: 1,
            seq: 11,
        }
        .encode(KEY);
        assert_ne!(a, b);
    }

    #[test]
    fn tampered_cursor_is_malformed() {
        let s = Cursor {
            channel_id: 7,
            epoch: 1,
            seq: 99,
        }
        .encode(KEY);
        let mut bytes = URL_SAFE_NO_PAD.decode(&s).expect("our own encoding");
        bytes[23] ^= 0x01; // seq 99 -> 98
        let forged = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(Cursor::decode(&forged, KEY), Err(CursorError::Malformed));
        let mut bytes = URL_SAFE_NO_PAD.decode(&s).expect("our own encoding");
        bytes[31] ^= 0x80; // last MAC byte
        let forged = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(Cursor::decode(&forged, KEY), Err(CursorError::Malformed));
    }

    #[test]
    fn other_key_is_malformed() {
        let s = Cursor {
            channel_id: 7,
            epoch: 1,
            seq: 99,
        }
        .encode(KEY);
        assert_eq!(
            Cursor::decode(&s, b"another key"),
            Err(CursorError::Malformed)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let valid = Cursor {
            channel_id: 7,
            epoch: 1,
            seq: 99,
        }
        .encode(KEY);
        for s in [
            "",
            "start",
            "!!!not base64!!!",
            "AAAA",
            &valid[..42],
            &format!("{valid}A"),
            &format!("{valid}=="),
        ] {
            assert_eq!(Cursor::decode(s, KEY), Err(CursorError::Malformed), "{s:?}");
        }
    }
}
