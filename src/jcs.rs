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
