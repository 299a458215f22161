//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
//! with secrets written `whsec_<base64 of the key>`. Pure functions, no I/O.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of every secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// How far a timestamp may be from the verifier's clock, as the spec recommends.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the secret is not `whsec_` followed by base64")]
    BadSecret,
    #[error("the timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the timestamp is more than {TOLERANCE_SECS} s away from now")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// A new secret: `whsec_` and base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The HMAC key a secret stands for.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD
        .decode(b64)
        .map_err(|_| SignatureError::BadSecret)?;
    if key.is_empty() {
        return Err(SignatureError::BadSecret);
    }
    Ok(key)
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// One `v1,<base64>` signature of `body` under `secret`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignatureError> {
    let key = secret_key(secret)?;
    let tag = mac(&key, id, timestamp, body).finalize().into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

/// The `webhook-signature` header value: one signature per secret, space-separated (the
/// current secret first, then a rotated-out one still honoured).
pub fn signature_header(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SignatureError> {
    let signatures: Result<Vec<String>, _> = secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect();
    Ok(signatures?.join(" "))
}

/// Verifies a delivery as a receiver would: the timestamp within [`TOLERANCE_SECS`] of `now`,
/// and at least one `v1` signature in `header` matching (compared in constant time).
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    header: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let key = secret_key(secret)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if (now - ts).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    for candidate in header.split(' ') {
        let Some(b64) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(tag) = STANDARD.decode(b64) else {
            continue;
        };
        if tag.len() == 32 && mac(&key, id, ts, body).verify_slice(&tag).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // The Standard Webhooks libraries' own test vectors.
    const V1: (&str, &str, i64, &str, &str) = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        r#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    );
    const V2: (&str, &str, i64, &str, &str) = (
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        1649367553,
        r#"{"email":"test@example.com","username":"test_user"}"#,
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    );

    #[test]
    fn signs_the_standard_webhooks_vectors() {
        for (secret, id, ts, body, expected) in [V1, V2] {
            assert_eq!(sign(secret, id, ts, body.as_bytes()).unwrap(), expected);
            let ts_s = ts.to_string();
            verify(secret, id, &ts_s, body.as_bytes(), expected, ts).unwrap();
        }
    }

    #[test]
    fn refuses_what_the_vectors_say_must_fail() {
        let (secret, id, ts, body, good) = V1;
        let ts_s = ts.to_string();
        let check = |header: &str| verify(secret, id, &ts_s, body.as_bytes(), header, ts);
        assert_eq!(
            check("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(check("v1,"), Err(SignatureError::Mismatch));
        assert_eq!(
            check(&good[..good.len() - 8]),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(secret, id, &ts_s, body.as_bytes(), good, ts + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(secret, id, &ts_s, body.as_bytes(), good, ts - 301),
            Err(SignatureError::Stale)
        );
        // Another body or id does not verify.
        assert_eq!(
            verify(secret, id, &ts_s, b"{\"test\": 2432232315}", good, ts),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_rotated_secret_sends_both_signatures_and_either_verifies() {
        let (old, new) = (generate_secret(), generate_secret());
        let header = signature_header(&[&new, &old], "msg_1", 100, b"{}").unwrap();
        assert_eq!(header.split(' ').count(), 2);
        verify(&new, "msg_1", "100", b"{}", &header, 100).unwrap();
        verify(&old, "msg_1", "100", b"{}", &header, 100).unwrap();
        let other = generate_secret();
        assert!(verify(&other, "msg_1", "100", b"{}", &header, 100).is_err());
    }

    #[test]
    fn secrets_are_whsec_and_32_bytes() {
        let s = generate_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(secret_key(&s).unwrap().len(), 32);
        assert_eq!(secret_key("whsec_***"), Err(SignatureError::BadSecret));
    }
}
