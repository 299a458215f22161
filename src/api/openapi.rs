//! What the OpenAPI document says of every operation at once: which errors it may answer, each
//! as an `application/problem+json` body; and, from the same document, which methods a path
//! accepts (for 405 answers).

use std::collections::BTreeMap;

use actix_web::http::Method;
use serde_json::json;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, OpenApi, RefOr, Response, Schema};

/// The media type of every error body.
pub const PROBLEM: &str = "application/problem+json";

/// Every operation with its method, as `(path template, method, operation)`.
pub fn operations(doc: &OpenApi) -> Vec<(&str, Method, &Operation)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            (Method::GET, &item.get),
            (Method::PUT, &item.put),
            (Method::POST, &item.post),
            (Method::DELETE, &item.delete),
            (Method::PATCH, &item.patch),
            (Method::HEAD, &item.head),
            (Method::OPTIONS, &item.options),
            (Method::TRACE, &item.trace),
        ];
        for (method, op) in ops {
            if let Some(op) = op {
                out.push((path.as_str(), method, op));
            }
        }
    }
    out
}

fn operations_mut(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ]
        .into_iter()
        .filter_map(Option::as_mut)
    })
}

/// The RFC 7807 body every error has (`ApiError`'s `Problem`).
fn problem_schema() -> Schema {
    let schema = json!({
        "type": "object",
        "description": "RFC 7807 problem details",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "urn:partnerfeed:problem:<kind>"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "pointer": {"type": "string", "description": "JSON pointer to the offending field"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["pointer", "message"],
                    "properties": {
                        "pointer": {"type": "string"},
                        "message": {"type": "string"}
                    }
                }
            }
        }
    });
    serde_json::from_value(schema).unwrap_or_default()
}

/// Adds to every operation the errors it may answer, and makes every error response (those the
/// handlers list and these) an `application/problem+json` body with the `Problem` schema.
pub fn describe_errors(doc: &mut OpenApi) {
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .insert("Problem".into(), RefOr::T(problem_schema()));
    for op in operations_mut(doc) {
        let params = op.parameters.as_deref().unwrap_or_default();
        let has_path = params
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Path));
        let has_body = op.request_body.is_some();
        let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
        let mut common: Vec<(u16, &str)> = vec![(
            503,
            "The database is unavailable (with Retry-After); retry shortly",
        )];
        if !params.is_empty() || has_body {
            common.push((
                400,
                "Malformed query, path or body; `pointer` names the field",
            ));
        }
        if has_path {
            common.push((404, "No such resource, or one the token may not see"));
        }
        if has_body {
            common.push((408, "The body stopped arriving (the body read timeout)"));
            common.push((
                413,
                "The body exceeds the configured limit (named in `detail`)",
            ));
            common.push((415, "The Content-Type is not accepted here"));
            common.push((422, "The content is invalid; `errors` names every field"));
        }
        if secured {
            common.push((401, "No token, or an unknown one"));
            common.push((403, "The token's role may not do this"));
            common.push((
                429,
                "The token exceeded its request rate, or has as many requests in flight as it \
                 may (with Retry-After)",
            ));
        }
        let responses = &mut op.responses.responses;
        for (status, description) in common {
            responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::T(Response::new(description)));
        }
        for (status, response) in responses.iter_mut() {
            let is_error = status.parse::<u16>().map_or(true, |s| s >= 400);
            if let (true, RefOr::T(response)) = (is_error, response) {
                if response.description.is_empty() {
                    response.description = reason(status).into();
                }
                response.content = [(
                    PROBLEM.to_string(),
                    Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "Problem",
                    )))),
                )]
                .into_iter()
                .collect();
            }
        }
    }
}

fn reason(status: &str) -> &'static str {
    status
        .parse::<u16>()
        .ok()
        .and_then(|s| actix_web::http::StatusCode::from_u16(s).ok())
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// The routes of the document, to tell "no such path" (404) from "not this method" (405).
#[derive(Debug, Default)]
pub struct Routes {
    templates: BTreeMap<String, Vec<Method>>,
}

impl Routes {
    pub fn from_doc(doc: &OpenApi) -> Routes {
        let mut templates: BTreeMap<String, Vec<Method>> = BTreeMap::new();
        for (path, method, _) in operations(doc) {
            templates.entry(path.to_string()).or_default().push(method);
        }
        templates
            .entry("/openapi.json".into())
            .or_default()
            .push(Method::GET);
        Routes { templates }
    }

    /// The methods `path` accepts, if any route matches it; a `{param}` segment matches any
    /// one non-empty segment, as actix's does.
    pub fn allowed(&self, path: &str) -> Option<Vec<&Method>> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut allowed: Vec<&Method> = self
            .templates
            .iter()
            .filter(|(template, _)| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts.iter().zip(&segments).all(|(t, s)| {
                        if t.starts_with('{') && t.ends_with('}') {
                            !s.is_empty()
                        } else {
                            t == s
                        }
                    })
            })
            .flat_map(|(_, methods)| methods)
            .collect();
        allowed.sort_by_key(|m| m.as_str());
        allowed.dedup();
        (!allowed.is_empty()).then_some(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_templates_segment_by_segment() {
        let mut routes = Routes::default();
        routes
            .templates
            .insert("/v1/products/{sku}".into(), vec![Method::GET, Method::PUT]);
        routes
            .templates
            .insert("/v1/products/batch".into(), vec![Method::POST]);
        let names = |p: &str| {
            routes
                .allowed(p)
                .map(|m| m.iter().map(|m| m.as_str()).collect::<Vec<_>>())
        };
        assert_eq!(names("/v1/products/a-1"), Some(vec!["GET", "PUT"]));
        assert_eq!(
            names("/v1/products/batch"),
            Some(vec!["GET", "POST", "PUT"])
        );
        assert_eq!(names("/v1/products/"), None);
        assert_eq!(names("/v1/products/a/b"), None);
        assert_eq!(names("/v1/nope"), None);
    }
}
