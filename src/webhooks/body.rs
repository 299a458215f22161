//! Webhook bodies. Non-JSON formats are sent as their changes page; the JSON format wraps the
//! page's change list in the webhook envelope (docs/api.md, "Webhook body"):
//! `{"type": "catalog.changes", "channel", "subscription", "from", "to", "changes": [...]}`.
//! The change entries are copied byte for byte from the page, never re-serialised.

/// The JSON envelope around `page`, a JSON changes page as `feeds` writes it
/// (`{"channel":…,"since":…,"changes":[…],"next":…,"has_more":…}`). `None` if `page` does not
/// have that exact shape.
pub fn json_envelope(
    page: &[u8],
    channel: &str,
    subscription: &str,
    from: &str,
    to: &str,
    has_more: bool,
) -> Option<Vec<u8>> {
    let s = |v: &str| serde_json::to_string(v).ok();
    let head = format!(
        "{{\"channel\":{},\"since\":{},\"changes\":[",
        s(channel)?,
        s(from)?
    );
    let tail = format!("],\"next\":{},\"has_more\":{has_more}}}\n", s(to)?);
    let changes = page
        .strip_prefix(head.as_bytes())?
        .strip_suffix(tail.as_bytes())?;
    let mut out = Vec::with_capacity(page.len() + 64);
    out.extend_from_slice(b"{\"type\":\"catalog.changes\",\"channel\":");
    out.extend_from_slice(s(channel)?.as_bytes());
    out.extend_from_slice(b",\"subscription\":");
    out.extend_from_slice(s(subscription)?.as_bytes());
    out.extend_from_slice(b",\"from\":");
    out.extend_from_slice(s(from)?.as_bytes());
    out.extend_from_slice(b",\"to\":");
    out.extend_from_slice(s(to)?.as_bytes());
    out.extend_from_slice(b",\"changes\":[");
    out.extend_from_slice(changes);
    out.extend_from_slice(b"]}");
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wraps_a_changes_page_keeping_the_entries_byte_for_byte() {
        let page = r#"{"channel":"fr","since":"A","changes":[{"op":"upsert","sku":"X","hash":"h","record":{"b":1.0,"a":"é"}},{"op":"delete","sku":"Y"}],"next":"B","has_more":false}
"#
        .as_bytes();
        let body = json_envelope(page, "fr", "sub_1", "A", "B", false).unwrap();
        let text = String::from_utf8(body).unwrap();
        assert_eq!(
            text,
            r#"{"type":"catalog.changes","channel":"fr","subscription":"sub_1","from":"A","to":"B","changes":[{"op":"upsert","sku":"X","hash":"h","record":{"b":1.0,"a":"é"}},{"op":"delete","sku":"Y"}]}"#
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["changes"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn refuses_a_page_of_another_shape() {
        assert!(json_envelope(b"{}", "fr", "s", "A", "B", false).is_none());
        let page = br#"{"channel":"fr","since":"A","changes":[],"next":"C","has_more":false}
"#;
        assert!(json_envelope(page, "fr", "s", "A", "B", false).is_none());
        let empty = json_envelope(page, "fr", "s", "A", "C", false).unwrap();
        assert!(empty.ends_with(b"\"changes\":[]}"));
    }
}
