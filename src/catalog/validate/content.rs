//! The product's identity and content: SKU (against the URL's), category path, flat attributes
//! and media.

use super::*;

impl Cx {
    pub(super) fn sku(&mut self, body: Option<&Value>, path_sku: Option<&str>) -> Option<Sku> {
        let body = match body.filter(|v| !v.is_null()) {
            None => None,
            Some(v) => Some(self.string(v, Ptr::Str("/sku"))?),
        };
        match (body, path_sku) {
            (None, None) => {
                self.err(
                    "/sku",
                    "is required: 1 to 64 characters A-Z, a-z, 0-9, '.', '_' or '-'",
                );
                None
            }
            (Some(b), Some(p)) if b != p => {
                self.err(
                    "/sku",
                    format!("must equal the SKU of the URL ({p:?}), not {b:?}"),
                );
                None
            }
            (Some(s), _) => self.check(Sku::parse(s), "/sku"),
            (None, Some(p)) => self.check(Sku::parse(p), "/sku"),
        }
    }

    pub(super) fn category(&mut self, s: &str) -> Option<String> {
        let problem = if s.is_empty() {
            Some("must not be empty")
        } else if s.starts_with('/') {
            Some("must not start with '/' (write \"tools/drills\")")
        } else if s.ends_with('/') {
            Some("must not end with '/' (write \"tools/drills\")")
        } else if s.split('/').any(|seg| seg.trim().is_empty()) {
            Some("must not have empty segments between '/'")
        } else {
            None
        };
        match problem {
            Some(m) => {
                self.err("/category", m);
                None
            }
            None => Some(s.to_string()),
        }
    }

    pub(super) fn attributes(&mut self, v: &Value) -> BTreeMap<String, AttrValue> {
        /// I-JSON (RFC 7493): integers beyond 2^53 lose precision in most JSON libraries, and
        /// the canonical form (RFC 8785) writes every number as an IEEE double, so partners
        /// could not recompute the record hash. An integer beyond 64 bits reaches here already
        /// turned into a double by the JSON parser, indistinguishable from a double written
        /// as one: every number whose magnitude passes 2^53 - 1 is refused (a double that
        /// large has no fraction left anyway).
        fn is_interoperable(n: &serde_json::Number) -> bool {
            const MAX_SAFE: u64 = (1 << 53) - 1;
            match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.unsigned_abs() <= MAX_SAFE,
                (None, Some(u)) => u <= MAX_SAFE,
                (None, None) => n
                    .as_f64()
                    .is_some_and(|f| f.is_finite() && f.abs() <= MAX_SAFE as f64),
            }
        }
        let mut out = BTreeMap::new();
        let Some(m) = v.as_object() else {
            self.err("/attributes", format!("must be an object, not {}", kind(v)));
            return out;
        };
        for (name, value) in m {
            let p = ATTRIBUTES.key(name);
            if name.trim().is_empty() {
                self.err(p, "attribute names must not be empty");
                continue;
            }
            let a = match value {
                Value::String(s) => AttrValue::Text(s.clone()),
                Value::Number(n) if !is_interoperable(n) => {
                    self.err(
                        p,
                        "numbers must lie within ±9007199254740991 (2^53 - 1), beyond which JSON \
                         libraries disagree and the record's canonical JSON cannot carry every \
                         integer exactly; send larger values as strings",
                    );
                    continue;
                }
                Value::Number(n) => AttrValue::Number(n.clone()),
                Value::Bool(b) => AttrValue::Bool(*b),
                other => {
                    self.err(
                        p,
                        format!("must be a string, number or boolean, not {}", kind(other)),
                    );
                    continue;
                }
            };
            out.insert(name.clone(), a);
        }
        out
    }

    pub(super) fn media(&mut self, v: &Value, p: Ptr<'_>) -> Option<Media> {
        let m = self.object(v, p, &["url", "role"])?;
        let url = self.req_str(m, "url", p, "an absolute http(s) URL");
        let url = url.and_then(|u| {
            if is_http_url(u) {
                Some(u.to_string())
            } else {
                self.err(
                    p.key("url"),
                    "must be an absolute http:// or https:// URL with a host and no spaces",
                );
                None
            }
        });
        let role = self
            .req_str(m, "role", p, "a non-empty string such as \"main\"")
            .and_then(|r| self.non_empty(r, p.key("role")));
        Some(Media {
            url: url?,
            role: role?,
        })
    }
}
