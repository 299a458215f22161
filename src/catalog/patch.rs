//! RFC 7396 JSON Merge Patch and the top-level diff recorded in a product's history.
//! Pure JSON manipulation: no I/O, no validation (the patched result is validated afterwards).

use serde_json::{Map, Value};

/// Applies an RFC 7396 JSON Merge Patch to `target` in place: objects merge key by key, `null`
/// removes a key, anything else (arrays included) replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Top-level keys whose value differs between `before` and `after` (added, removed or changed),
/// sorted. `None` is an absent product: creation lists every key of `after`, deletion every key
/// of `before`. A non-object counts as having no keys.
pub fn changed_fields(before: Option<&Value>, after: Option<&Value>) -> Vec<String> {
    let empty = Map::new();
    let (b, a) = (keys(before, &empty), keys(after, &empty));
    let mut fields: Vec<String> = b
        .keys()
        .chain(a.keys())
        .filter(|k| b.get(*k) != a.get(*k))
        .cloned()
        .collect();
    fields.sort();
    fields.dedup();
    fields
}

fn keys<'a>(v: Option<&'a Value>, empty: &'a Map<String, Value>) -> &'a Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m,
        _ => empty,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7396 Appendix A, every example.
    #[test]
    fn rfc_7396_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            let original = target.clone();
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "{original} + {patch}");
        }
    }

    #[test]
    fn changed_fields_lists_added_removed_and_changed_keys_sorted() {
        let before = json!({"sku":"A","title":{"fr":"x"},"brand":"B","gtin":"1"});
        let after = json!({"sku":"A","title":{"fr":"y"},"category":"c","gtin":"1"});
        assert_eq!(
            changed_fields(Some(&before), Some(&after)),
            ["brand", "category", "title"]
        );
        assert!(changed_fields(Some(&before), Some(&before)).is_empty());
    }

    #[test]
    fn creation_and_deletion_list_every_key() {
        let p = json!({"status":"active","sku":"A"});
        assert_eq!(changed_fields(None, Some(&p)), ["sku", "status"]);
        assert_eq!(changed_fields(Some(&p), None), ["sku", "status"]);
        assert!(changed_fields(None, None).is_empty());
    }
}
