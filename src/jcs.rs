//! RFC 8785 (JCS) canonical JSON, and the SHA-256 hashes taken over it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
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

/// Appends a JSON string as RFC 8785 writes it, which is what serde_json writes: `"`, `\\` and
/// the C0 controls escaped (as `\\b`, `\\f`, `\\n`, `\\r`, `\\t` or lowercase `\\u00xx`), everything
/// else as UTF-8.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// ECMAScript Number-to-String: integers up to 2^53 as digits, everything else through the
/// shortest round-trip form that ECMAScript prints (`1e+21`, `1e-7`, `-0` as `0`).
pub fn write_number(n: &serde_json::Number, out: &mut Vec<u8>) {
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
    hex::encode(sha256_of(canonical))
}

/// The SHA-256 of canonical bytes, as its 32 bytes.
pub fn sha256_of(canonical: &[u8]) -> [u8; 32] {
    Sha256::digest(canonical).into()
}

/// The members of a map in RFC 8785 order (UTF-16 code units of the names). UTF-8 byte order
/// is the same unless a name has a character at or above U+E000 (lead byte 0xEE or more).
pub fn sorted_members<V>(map: &BTreeMap<String, V>) -> Vec<(&String, &V)> {
    let mut members: Vec<(&String, &V)> = map.iter().collect();
    if map.keys().any(|k| k.bytes().any(|b| b >= 0xEE)) {
        members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    }
    members
}

/// A JSON object written straight into canonical bytes: `{` on open, `,` between members, `}`
/// on close. Members must come in RFC 8785 order (fixed ASCII names in byte order; map keys
/// through [`sorted_members`]).
pub struct Obj<'a> {
    pub out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    pub fn open(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// A member's name; its value follows, written into `out`.
    pub fn key(&mut self, name: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_string(name, self.out);
        self.out.push(b':');
    }

    pub fn str(&mut self, name: &str, value: &str) {
        self.key(name);
        write_string(value, self.out);
    }

    /// A string member when there is a value, nothing otherwise.
    pub fn str_opt(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(name, value);
        }
    }

    /// A decimal as a JSON string (`Decimal`'s `Display`, as `to_string` gives).
    pub fn decimal(&mut self, name: &str, value: Decimal) {
        use std::io::Write as _;
        self.key(name);
        self.out.push(b'"');
        // Writing to a Vec cannot fail; a decimal's text needs no escaping.
        let _ = write!(self.out, "{value}");
        self.out.push(b'"');
    }

    pub fn uint(&mut self, name: &str, value: u32) {
        use std::io::Write as _;
        self.key(name);
        let _ = write!(self.out, "{value}");
    }

    pub fn close(self) {
        self.out.push(b'}');
    }
}

/// A JSON array written straight into canonical bytes.
pub struct Arr<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Arr<'a> {
    pub fn open(out: &'a mut Vec<u8>) -> Arr<'a> {
        out.push(b'[');
        Arr { out, first: true }
    }

    /// Where the next item is written.
    pub fn item(&mut self) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out
    }

    pub fn close(self) {
        self.out.push(b']');
    }
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
