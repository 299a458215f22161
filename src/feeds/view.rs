//! A stored record read in place. The store keeps each projected record as compact JSON text;
//! the CSV and XML encoders walk that text through borrowed slices instead of building a
//! `serde_json::Map` per product, so a value costs a scan of its bytes and no allocation unless
//! a string holds escapes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One JSON value of a record, as its text.
#[derive(Clone, Copy)]
pub(crate) struct Node<'a>(&'a RawValue);

/// A JSON object of a record: its members in document order (the store's canonical key order,
/// as `serde_json::Map` with `preserve_order` keeps them).
pub(crate) struct View<'a> {
    members: Vec<(Cow<'a, str>, Node<'a>)>,
}

impl<'a> View<'a> {
    /// Reads the members of the object `text`; anything else is an error.
    pub(crate) fn parse(text: &'a str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }

    /// The member `key`, if present (null included).
    pub(crate) fn get(&self, key: &str) -> Option<Node<'a>> {
        self.members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| *value)
    }

    /// The member `key` when present and not null.
    pub(crate) fn value(&self, key: &str) -> Option<Node<'a>> {
        self.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, Node<'a>)> + '_ {
        self.members.iter().map(|(k, v)| (k.as_ref(), *v))
    }

    /// The member `key` when it is a string (`Value::as_str`).
    pub(crate) fn str(&self, key: &str) -> Option<Cow<'a, str>> {
        self.get(key).and_then(|v| v.str())
    }

    /// The member `key` when it is a non-empty string.
    pub(crate) fn text_of(&self, key: &str) -> Option<Cow<'a, str>> {
        self.str(key).filter(|s| !s.is_empty())
    }

    /// The member `key` when it is an object.
    pub(crate) fn object(&self, key: &str) -> Option<View<'a>> {
        self.get(key).and_then(|v| v.object())
    }

    /// The member `key` when it is an array.
    pub(crate) fn array(&self, key: &str) -> Option<Vec<Node<'a>>> {
        self.get(key).and_then(|v| v.array())
    }

    /// The member `key` when it is a whole number that fits a `u64` (`Value::as_u64`).
    pub(crate) fn u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.u64())
    }
}

/// What a [`Node`] holds, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl<'a> Node<'a> {
    pub(crate) fn kind(&self) -> Kind {
        match self.0.get().as_bytes().first() {
            Some(b'"') => Kind::String,
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => Kind::Number,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        self.kind() == Kind::Null
    }

    /// A scalar as text: a string's content, a number or boolean as JSON writes it, anything
    /// else as its compact JSON text.
    pub(crate) fn text(&self) -> Cow<'a, str> {
        let raw = self.0.get();
        if self.kind() != Kind::String {
            return Cow::Borrowed(raw);
        }
        let inner = &raw[1..raw.len() - 1];
        if !inner.contains('\\') {
            return Cow::Borrowed(inner);
        }
        // The text was validated when the record was read, so unescaping cannot fail.
        serde_json::from_str::<String>(raw)
            .map(Cow::Owned)
            .unwrap_or(Cow::Borrowed(inner))
    }

    /// The content, when this is a string (`Value::as_str`).
    pub(crate) fn str(&self) -> Option<Cow<'a, str>> {
        (self.kind() == Kind::String).then(|| self.text())
    }

    /// The number, when this is a whole number that fits a `u64` (`Value::as_u64`: JSON text
    /// with a fraction or an exponent is a float there, never a `u64`).
    pub(crate) fn u64(&self) -> Option<u64> {
        if self.kind() != Kind::Number {
            return None;
        }
        self.0.get().parse().ok()
    }

    /// The number as `serde_json` reads it, when this is a number.
    pub(crate) fn number(&self) -> Option<serde_json::Number> {
        if self.kind() != Kind::Number {
            return None;
        }
        serde_json::from_str(self.0.get()).ok()
    }

    /// The members, when this is an object.
    pub(crate) fn object(&self) -> Option<View<'a>> {
        if self.kind() != Kind::Object {
            return None;
        }
        View::parse(self.0.get()).ok()
    }

    /// The elements, when this is an array.
    pub(crate) fn array(&self) -> Option<Vec<Node<'a>>> {
        if self.kind() != Kind::Array {
            return None;
        }
        serde_json::from_str::<Vec<&'a RawValue>>(self.0.get())
            .ok()
            .map(|items| items.into_iter().map(Node).collect())
    }
}

/// A member name: borrowed from the text unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for View<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ViewVisitor;
        impl<'de> Visitor<'de> for ViewVisitor {
            type Value = View<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((Key(key), value)) = map.next_entry::<Key, &'de RawValue>()? {
                    members.push((key, Node(value)));
                }
                Ok(View { members })
            }
        }
        deserializer.deserialize_map(ViewVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_their_order_and_their_text() {
        let text = r#"{"b":"x\"y","a":[1,{"q":2.50}],"n":null,"t":true,"é\u0041":-1.5e3}"#;
        let view = View::parse(text).unwrap();
        let keys: Vec<&str> = view.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a", "n", "t", "éA"]);
        assert_eq!(view.get("b").unwrap().text(), "x\"y");
        assert_eq!(view.get("a").unwrap().text(), r#"[1,{"q":2.50}]"#);
        assert!(view.get("n").unwrap().is_null());
        assert!(view.value("n").is_none());
        assert_eq!(view.get("t").unwrap().kind(), Kind::Bool);
        assert_eq!(view.get("éA").unwrap().text(), "-1.5e3");
        let items = view.get("a").unwrap().array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].kind(), Kind::Number);
        assert_eq!(
            items[1].object().unwrap().value("q").unwrap().text(),
            "2.50"
        );
        assert!(view.get("b").unwrap().object().is_none());
        assert!(View::parse("[1]").is_err());
    }
}
