//! What the OpenAPI document says of every operation at once: which errors it may answer, each
//! as an `application/problem+json` body; the schema and an example of every request and
//! response body (the published JSON Schemas of `schemas/` and `components.json` beside this
//! file); and, from the same document, which methods a path accepts (for 405 answers).

use std::collections::BTreeMap;

use actix_web::http::Method;
use serde_json::{json, Map, Value};
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

/// Schemas of the bodies that are not a published schema, and additions to the schemas utoipa
/// derives from the response structs (merged member by member, so that a field added to a
/// struct keeps its derived schema).
const COMPONENTS: &str = include_str!("components.json");

/// Which body schema goes where: `(path, method, request bodies, responses)`, each body as
/// `(media type, component)` and each response as `(status, media type, component)`.
type BodyMap = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str, &'static str)],
);

const JSON: &str = "application/json";
const MERGE_PATCH: &str = "application/merge-patch+json";
const NDJSON: &str = "application/x-ndjson";
const FORM: &str = "application/x-www-form-urlencoded";
const HTML: &str = "text/html";

/// Every operation's bodies. A test checks that each entry names an operation of the document.
pub const BODIES: &[BodyMap] = &[
    ("/healthz", "get", &[], &[("200", JSON, "Health")]),
    ("/readyz", "get", &[], &[("200", JSON, "Readiness")]),
    ("/metrics", "get", &[], &[("200", "text/plain", "Metrics")]),
    ("/v1/schemas", "get", &[], &[("200", JSON, "SchemaList")]),
    ("/v1/products", "get", &[], &[("200", JSON, "ProductList")]),
    (
        "/v1/products/{sku}",
        "put",
        &[(JSON, "Product")],
        &[
            ("200", JSON, "ProductCanonical"),
            ("201", JSON, "ProductCanonical"),
        ],
    ),
    (
        "/v1/products/{sku}",
        "patch",
        &[(MERGE_PATCH, "ProductPatch"), (JSON, "ProductPatch")],
        &[("200", JSON, "ProductCanonical")],
    ),
    (
        "/v1/products/{sku}",
        "get",
        &[],
        &[("200", JSON, "ProductCanonical")],
    ),
    (
        "/v1/products/batch",
        "post",
        &[(JSON, "ProductBatch"), (NDJSON, "ProductBatch")],
        &[("200", JSON, "BatchResult")],
    ),
    (
        "/v1/products/{sku}/history",
        "get",
        &[],
        &[("200", JSON, "History")],
    ),
    (
        "/v1/tokens",
        "post",
        &[(JSON, "NewToken")],
        &[("201", JSON, "IssuedToken")],
    ),
    ("/v1/tokens", "get", &[], &[("200", JSON, "TokenList")]),
    ("/v1/channels", "get", &[], &[("200", JSON, "ChannelList")]),
    (
        "/v1/channels/{code}",
        "put",
        &[(JSON, "ChannelDefinition")],
        &[("200", JSON, "Channel"), ("201", JSON, "Channel")],
    ),
    (
        "/v1/channels/{code}",
        "get",
        &[],
        &[("200", JSON, "Channel")],
    ),
    (
        "/v1/channels/{code}/feed",
        "get",
        &[],
        &[("200", JSON, "Feed"), ("200", NDJSON, "FeedLines")],
    ),
    (
        "/v1/channels/{code}/changes",
        "get",
        &[],
        &[("200", JSON, "ChangePage"), ("200", NDJSON, "ChangeLines")],
    ),
    (
        "/v1/channels/{code}/digest",
        "get",
        &[],
        &[("200", JSON, "DigestResponse")],
    ),
    (
        "/v1/channels/{code}/feed/report",
        "get",
        &[],
        &[("200", JSON, "FeedReport")],
    ),
    (
        "/v1/resellers",
        "get",
        &[],
        &[("200", JSON, "ResellerList")],
    ),
    (
        "/v1/resellers/{code}",
        "put",
        &[(JSON, "ResellerInput")],
        &[("200", JSON, "Reseller"), ("201", JSON, "Reseller")],
    ),
    (
        "/v1/resellers/{code}",
        "get",
        &[],
        &[("200", JSON, "Reseller")],
    ),
    (
        "/v1/resellers/{code}/tokens",
        "post",
        &[(JSON, "NewResellerToken")],
        &[("201", JSON, "IssuedToken")],
    ),
    (
        "/v1/channels/{code}/subscriptions",
        "post",
        &[(JSON, "SubscriptionRequest")],
        &[("201", JSON, "SubscriptionView")],
    ),
    (
        "/v1/subscriptions",
        "get",
        &[],
        &[("200", JSON, "SubscriptionList")],
    ),
    (
        "/v1/subscriptions/{id}",
        "get",
        &[],
        &[("200", JSON, "SubscriptionView")],
    ),
    (
        "/v1/subscriptions/{id}",
        "patch",
        &[
            (JSON, "SubscriptionPatch"),
            (MERGE_PATCH, "SubscriptionPatch"),
        ],
        &[("200", JSON, "SubscriptionView")],
    ),
    (
        "/v1/subscriptions/confirm",
        "get",
        &[],
        &[("200", HTML, "ConfirmPage")],
    ),
    (
        "/v1/subscriptions/confirm",
        "post",
        &[(JSON, "ConfirmRequest"), (FORM, "ConfirmRequest")],
        &[("200", JSON, "Confirmed"), ("200", HTML, "ConfirmedPage")],
    ),
    (
        "/v1/subscriptions/{id}/attempts",
        "get",
        &[],
        &[("200", JSON, "AttemptList")],
    ),
    (
        "/v1/subscriptions/{id}/replay",
        "post",
        &[(JSON, "ReplayRequest")],
        &[("200", JSON, "SubscriptionView")],
    ),
    (
        "/v1/subscriptions/{id}/enable",
        "post",
        &[],
        &[("200", JSON, "SubscriptionView")],
    ),
    (
        "/v1/subscriptions/{id}/rotate-secret",
        "post",
        &[],
        &[("200", JSON, "RotatedSecret")],
    ),
    (
        "/v1/subscriptions/{id}/test",
        "post",
        &[],
        &[("200", JSON, "Attempt")],
    ),
];

/// Gives every request and response body its schema and an example, in the served document:
/// the published JSON Schemas (`api::schemas::PUBLISHED`) become components (their `$defs`
/// become `<Component>.<Def>` components), `components.json` adds the others and completes
/// the derived ones, and [`BODIES`] points each operation's bodies at them.
pub fn describe_bodies(doc: &mut Value) {
    let mut components = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    for published in super::schemas::PUBLISHED {
        let Some(name) = published.component else {
            continue;
        };
        let schema: Value = serde_json::from_str(published.body).unwrap_or_default();
        for (component, schema) in published_components(name, schema) {
            components.insert(component, schema);
        }
    }
    let extra: Map<String, Value> = serde_json::from_str(COMPONENTS).unwrap_or_default();
    for (name, addition) in extra {
        match components.get_mut(&name) {
            Some(derived) => merge_schema(derived, addition),
            None => {
                components.insert(name, addition);
            }
        }
    }
    for (path, method, requests, responses) in BODIES {
        let Some(op) = doc
            .get_mut("paths")
            .and_then(|p| p.get_mut(*path))
            .and_then(|item| item.get_mut(*method))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if !requests.is_empty() {
            let body = op
                .entry("requestBody")
                .or_insert_with(|| json!({"content": {}}));
            for (media, component) in *requests {
                body["content"][*media] = media_type(&components, component);
            }
        }
        for (status, media, component) in *responses {
            let response = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .map(|r| {
                    r.entry(status.to_string())
                        .or_insert_with(|| json!({"description": reason(status)}))
                });
            if let Some(response) = response {
                if !response.get("content").is_some_and(Value::is_object) {
                    response["content"] = json!({});
                }
                response["content"][*media] = media_type(&components, component);
            }
        }
    }
    doc["webhooks"] = json!({"catalog.changes": {"post": {
        "operationId": "catalog_changes",
        "summary": "A batch of changes pushed to a webhook subscription's URL",
        "description": "Sent in order, one batch in flight per subscription, retried with the same \
            `webhook-id` and bytes until a 2xx answer; see docs/webhooks.md.",
        "parameters": [
            {"name": "webhook-id", "in": "header", "required": true, "schema": {"type": "string"},
             "description": "The batch's id, the same on every retry."},
            {"name": "webhook-timestamp", "in": "header", "required": true,
             "schema": {"type": "string", "pattern": "^[0-9]+$"},
             "description": "Unix seconds of the attempt."},
            {"name": "webhook-signature", "in": "header", "required": true,
             "schema": {"type": "string"},
             "description": "`v1,<base64 HMAC-SHA256 of \"id.timestamp.body\">` with the \
                subscription's secret (two, space-separated, for 24 hours after a rotation)."}
        ],
        "requestBody": {"required": true, "content": {
            "application/json": media_type(&components, "WebhookBody"),
        }},
        "responses": {"2XX": {"description": "Accepted: the cursor moves to `to`."}}
    }}});
    doc["components"]["schemas"] = Value::Object(components);
}

/// `{schema: {$ref}, example}` for a body of `component`, the example being its first.
fn media_type(components: &Map<String, Value>, component: &str) -> Value {
    let mut media = json!({"schema": {"$ref": format!("#/components/schemas/{component}")}});
    if let Some(example) = components
        .get(component)
        .and_then(|c| c.get("examples"))
        .and_then(|e| e.get(0))
    {
        media["example"] = example.clone();
    }
    media
}

/// A published JSON Schema as OpenAPI components: the schema itself under `name` (without
/// `$schema`), and each of its `$defs` under `name.Def`, with `#/$defs/Def` references
/// rewritten to point there.
pub fn published_components(name: &str, mut schema: Value) -> Vec<(String, Value)> {
    fn rewrite(value: &mut Value, name: &str) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get_mut("$ref") {
                    if let Some(def) = r.strip_prefix("#/$defs/") {
                        *r = format!("#/components/schemas/{name}.{def}");
                    }
                }
                for v in map.values_mut() {
                    rewrite(v, name);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, name)),
            _ => {}
        }
    }
    rewrite(&mut schema, name);
    let mut out = Vec::new();
    if let Some(map) = schema.as_object_mut() {
        map.remove("$schema");
        if let Some(Value::Object(defs)) = map.remove("$defs") {
            out.extend(
                defs.into_iter()
                    .map(|(def, s)| (format!("{name}.{def}"), s)),
            );
        }
    }
    out.insert(0, (name.to_string(), schema));
    out
}

/// Completes a derived schema: `properties` replaced one by one, `required` extended with
/// names that are properties, any other keyword set.
fn merge_schema(derived: &mut Value, addition: Value) {
    let (Some(derived), Value::Object(addition)) = (derived.as_object_mut(), addition) else {
        return;
    };
    for (key, value) in addition {
        match (key.as_str(), value) {
            ("properties", Value::Object(props)) => {
                let target = derived
                    .entry("properties")
                    .or_insert_with(|| json!({}))
                    .as_object_mut();
                if let Some(target) = target {
                    target.extend(props);
                }
            }
            ("required", Value::Array(names)) => {
                let known: Vec<String> = derived
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                let required = derived.entry("required").or_insert_with(|| json!([]));
                if let Some(required) = required.as_array_mut() {
                    for name in names {
                        if name.as_str().is_some_and(|n| known.iter().any(|k| k == n))
                            && !required.contains(&name)
                        {
                            required.push(name);
                        }
                    }
                }
            }
            (_, value) => {
                derived.insert(key, value);
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
    fn published_defs_become_components_and_references_follow() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"items": [{"$ref": "#/$defs/B"}]}},
            "$defs": {"A": {"type": "string"}, "B": {"$ref": "#/$defs/A"}}
        });
        let parts = published_components("P", schema);
        let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["P", "P.A", "P.B"]);
        let (_, p) = &parts[0];
        assert!(
            p.get("$schema").is_none() && p.get("$defs").is_none(),
            "{p}"
        );
        assert_eq!(p["properties"]["a"]["$ref"], "#/components/schemas/P.A");
        assert_eq!(
            p["properties"]["b"]["items"][0]["$ref"],
            "#/components/schemas/P.B"
        );
        assert_eq!(parts[2].1["$ref"], "#/components/schemas/P.A");
    }

    /// A derived schema keeps the properties it has (a field added to a struct stays
    /// described); `required` only gains names that are properties.
    #[test]
    fn additions_complete_a_derived_schema_member_by_member() {
        let mut derived = json!({
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string"}, "state": {"type": "string"}, "x": {}}
        });
        merge_schema(
            &mut derived,
            json!({"required": ["x", "gone"], "properties": {"id": {"pattern": "^sub_"}},
                   "examples": [{"id": "sub_1"}]}),
        );
        assert_eq!(derived["required"], json!(["id", "x"]));
        assert_eq!(derived["properties"]["id"], json!({"pattern": "^sub_"}));
        assert_eq!(derived["properties"]["state"], json!({"type": "string"}));
        assert_eq!(derived["examples"][0]["id"], "sub_1");
    }

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
