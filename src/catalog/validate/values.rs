//! Checks of plain JSON values shared by every field: objects with known keys, strings, arrays,
//! locale maps, counts and timestamps, each reporting at its pointer.

use super::*;

impl Cx {
    pub(super) fn err(&mut self, pointer: impl IntoPointer, message: impl Into<String>) {
        self.errors.push(pointer.into_pointer(), message);
    }

    pub(super) fn check<T>(
        &mut self,
        r: Result<T, String>,
        pointer: impl IntoPointer,
    ) -> Option<T> {
        r.map_err(|e| self.err(pointer, e)).ok()
    }

    /// An object whose keys are all in `allowed`; unknown keys are reported one by one.
    pub(super) fn object<'a>(
        &mut self,
        v: &'a Value,
        p: Ptr<'_>,
        allowed: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        let Some(m) = v.as_object() else {
            self.err(p, format!("must be an object, not {}", kind(v)));
            return None;
        };
        for key in m.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.err(
                p.key(key),
                format!("is not a known field; allowed here: {}", allowed.join(", ")),
            );
        }
        Some(m)
    }

    pub(super) fn string<'a>(&mut self, v: &'a Value, p: Ptr<'_>) -> Option<&'a str> {
        let s = v.as_str();
        if s.is_none() {
            self.err(p, format!("must be a string, not {}", kind(v)));
        }
        s
    }

    /// Optional string member `key` of `obj` (at pointer `base`); absent and null are `None`.
    pub(super) fn opt_str<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        base: Ptr<'_>,
    ) -> Option<&'a str> {
        present(obj, key).and_then(|v| self.string(v, base.key(key)))
    }

    /// Required string member.
    pub(super) fn req_str<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        base: Ptr<'_>,
        what: &str,
    ) -> Option<&'a str> {
        let p = base.key(key);
        match present(obj, key) {
            None => {
                self.err(p, format!("is required: {what}"));
                None
            }
            Some(v) => self.string(v, p),
        }
    }

    pub(super) fn non_empty(&mut self, s: &str, p: Ptr<'_>) -> Option<String> {
        if s.trim().is_empty() {
            self.err(p, "must not be empty");
            None
        } else {
            Some(s.to_string())
        }
    }

    /// An optional array member; each item parsed by `item`, results kept by index.
    pub(super) fn array<T>(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        base: Ptr<'_>,
        mut item: impl FnMut(&mut Cx, &Value, Ptr<'_>) -> Option<T>,
    ) -> Vec<Option<T>> {
        let p = base.key(key);
        let Some(v) = present(obj, key) else {
            return Vec::new();
        };
        let Some(items) = v.as_array() else {
            self.err(p, format!("must be an array, not {}", kind(v)));
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| item(self, v, p.index(i)))
            .collect()
    }

    pub(super) fn locale_map(&mut self, v: &Value, p: Ptr<'_>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(m) = v.as_object() else {
            self.err(
                p,
                format!(
                    "must be an object of locale -> text, e.g. {{\"en\": \"...\"}}, not {}",
                    kind(v)
                ),
            );
            return out;
        };
        for (locale, text) in m {
            let lp = p.key(locale);
            if !is_locale(locale) {
                self.err(
                    lp,
                    format!("{locale:?} is not a locale: use a language code like \"fr\", \"en\" or \"en-GB\""),
                );
                continue;
            }
            if let Some(t) = self.string(text, lp).and_then(|t| self.non_empty(t, lp)) {
                out.insert(locale.clone(), t);
            }
        }
        out
    }

    /// A whole number of at least 1 that fits in u32.
    pub(super) fn count(&mut self, v: &Value, p: Ptr<'_>) -> Option<u32> {
        match v.as_u64().map(u32::try_from) {
            Some(Ok(n)) if n >= 1 => Some(n),
            _ => {
                self.err(
                    p,
                    format!(
                        "must be a whole JSON number of at least 1, not {}",
                        match v {
                            Value::Number(n) => n.to_string(),
                            other => kind(other).to_string(),
                        }
                    ),
                );
                None
            }
        }
    }

    /// Optional RFC 3339 timestamp: `Some(None)` when absent, `None` when invalid.
    pub(super) fn timestamp(
        &mut self,
        m: &Map<String, Value>,
        key: &str,
        base: Ptr<'_>,
    ) -> Option<Option<DateTime<Utc>>> {
        let p = base.key(key);
        let Some(v) = present(m, key) else {
            return Some(None);
        };
        let s = self.string(v, p)?;
        match DateTime::parse_from_rfc3339(s) {
            Ok(t) if t.nanosecond() == 0 => Some(Some(t.with_timezone(&Utc))),
            Ok(_) => {
                self.err(p, "must be precise to the second (no fractional seconds)");
                None
            }
            Err(_) => {
                self.err(
                    p,
                    format!(
                        "must be an RFC 3339 timestamp like \"2027-01-01T00:00:00Z\", not {s:?}"
                    ),
                );
                None
            }
        }
    }
}
