//! RFC 8785 (JCS) canonical JSON, and the SHA-256 hashes taken over it.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The largest integer every JSON implementation reads exactly (2^53 - 1).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The RFC 8785 canonical bytes of a JSON value.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    write_canonical(value, &mut out);
    out
}

/// Appends the RFC 8785 form of `value` to `out`: object members sorted by the UTF-16 code
/// units of their names, no whitespace, strings with the minimal JSON escapes, numbers as
/// ECMAScript writes them.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (name, value)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(name, out);
                out.push(b':');
                write_canonical(value, out);
            }
            out.push(b'}');
        }
    }
}

/// serde_json escapes exactly what RFC 8785 asks: `"`, `\` and the C0 controls (as `\b`,
/// `\f`, `\n`, `\r`, `\t` or lowercase `\u00xx`); everything else is written as UTF-8.
fn write_string(s: &str, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// ECMAScript Number-to-String: integers up to 2^53 as digits, everything else through the
/// shortest round-trip form that ECMAScript prints (`1e+21`, `1e-7`, `-0` as `0`).
fn write_number(n: &serde_json::Number, out: &mut Vec<u8>) {
    if let Some(u) = n.as_u64().filter(|u| *u <= MAX_SAFE_INTEGER) {
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER) {
        out.extend_from_slice(i.to_string().as_bytes());
    } else {
        let f = n.as_f64().unwrap_or(f64::NAN);
        if f == 0.0 {
            out.push(b'0');
        } else {
            out.extend_from_slice(ryu_js::Buffer::new().format(f).as_bytes());
        }
    }
}

/// Lowercase hex SHA-256 of the canonical bytes of `value`.
pub fn sha256_hex(value: &Value) -> String {
    sha256_hex_of(&canonical_bytes(value))
}

/// Lowercase hex SHA-256 of bytes already in canonical form.
pub fn sha256_hex_of(canonical: &[u8]) -> String {
    hex::encode(Sha256::digest(canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/jcs");

    #[test]
    fn reproduces_every_reference_vector_byte_for_byte() {
        let names = [
            "arrays.json",
            "french.json",
            "structures.json",
            "unicode.json",
            "values.json",
            "weird.json",
        ];
        for name in names {
            let input = std::fs::read_to_string(format!("{VECTORS}/input/{name}")).expect(name);
            let expected = std::fs::read(format!("{VECTORS}/output/{name}")).expect(name);
            let value: serde_json::Value = serde_json::from_str(&input).expect(name);
            let got = canonical_bytes(&value);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&expected),
                "vector {name}"
            );
            assert_eq!(got, expected, "vector {name}");
        }
    }

    #[test]
    fn serialises_numbers_like_ecmascript() {
        let table = std::fs::read_to_string(format!("{VECTORS}/numbers.tsv")).expect("numbers");
        let mut checked = 0;
        for line in table
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (double, expected) = line.split_once('\t').expect("two columns");
            let double: f64 = double.parse().expect("a double");
            let value = serde_json::Value::from(double);
            assert_eq!(
                String::from_utf8(canonical_bytes(&value)).expect("utf-8"),
                expected,
                "number {double:?}"
            );
            checked += 1;
        }
        assert!(checked >= 17);
    }

    #[test]
    fn sorts_keys_regardless_of_insertion_order() {
        let value = serde_json::json!({"b": 1, "a": {"d": [true, null], "c": "x"}});
        assert_eq!(
            canonical_bytes(&value),
            br#"{"a":{"c":"x","d":[true,null]},"b":1}"#
        );
        assert_eq!(
            sha256_hex(&serde_json::json!({})),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
