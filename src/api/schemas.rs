//! The published schemas: the JSON Schemas of `schemas/` and the feed XSD of `feeds/`, served
//! byte for byte as the repository has them (`GET /v1/schemas/{name}`, listed at
//! `GET /v1/schemas`). Public, like `/openapi.json`: they describe shapes and hold no data.
//! The OpenAPI document embeds the same JSON Schemas as its components (`api::openapi`).

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;

use super::ApiError;

/// One published schema.
#[derive(Debug, Clone, Copy)]
pub struct Published {
    /// Its name in `/v1/schemas/{name}`: the file name.
    pub name: &'static str,
    pub title: &'static str,
    pub media_type: &'static str,
    /// The OpenAPI component it becomes (JSON Schemas only).
    pub component: Option<&'static str>,
    /// The file, as the repository has it.
    pub body: &'static str,
}

/// Every published schema, in the order `GET /v1/schemas` lists them.
pub const PUBLISHED: [Published; 5] = [
    Published {
        name: "product.schema.json",
        title: "Product (as written)",
        media_type: JSON_SCHEMA,
        component: Some("Product"),
        body: include_str!("../../schemas/product.schema.json"),
    },
    Published {
        name: "product-canonical.schema.json",
        title: "Product (canonical)",
        media_type: JSON_SCHEMA,
        component: Some("ProductCanonical"),
        body: include_str!("../../schemas/product-canonical.schema.json"),
    },
    Published {
        name: "projected-record.schema.json",
        title: "Projected record",
        media_type: JSON_SCHEMA,
        component: Some("ProjectedRecord"),
        body: include_str!("../../schemas/projected-record.schema.json"),
    },
    Published {
        name: "channel.schema.json",
        title: "Channel definition (as written)",
        media_type: JSON_SCHEMA,
        component: Some("ChannelDefinition"),
        body: include_str!("../../schemas/channel.schema.json"),
    },
    Published {
        name: "partnerfeed-feed.xsd",
        title: "The XML feed and change pages (format=xml)",
        media_type: XML,
        component: None,
        body: include_str!("../../feeds/partnerfeed-feed.xsd"),
    },
];

const JSON_SCHEMA: &str = "application/schema+json";
const XML: &str = "application/xml";

#[derive(Serialize)]
struct SchemaEntry {
    name: &'static str,
    title: &'static str,
    media_type: &'static str,
    url: String,
}

#[derive(Serialize)]
struct SchemaList {
    schemas: Vec<SchemaEntry>,
}

/// The published schemas: name, title, media type and where to get each.
#[utoipa::path(tag = "schemas", responses((status = 200, description = "The list")))]
#[get("/v1/schemas")]
pub async fn list_schemas() -> HttpResponse {
    let schemas = PUBLISHED
        .iter()
        .map(|p| SchemaEntry {
            name: p.name,
            title: p.title,
            media_type: p.media_type,
            url: format!("/v1/schemas/{}", p.name),
        })
        .collect();
    HttpResponse::Ok().json(SchemaList { schemas })
}

/// One published schema, as the repository has it: a JSON Schema (2020-12) or the feed XSD.
#[utoipa::path(
    tag = "schemas",
    params(("name" = String, Path, description = "A name from `GET /v1/schemas`, e.g. `product.schema.json`")),
    responses(
        (status = 200, description = "The schema", content(
            (Object = "application/schema+json"),
            (String = "application/xml")
        )),
        (status = 404)
    )
)]
#[get("/v1/schemas/{name}")]
pub async fn get_schema(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let published = PUBLISHED
        .iter()
        .find(|p| p.name == name.as_str())
        .ok_or_else(|| {
            ApiError::not_found("no published schema with this name; see /v1/schemas")
        })?;
    Ok(HttpResponse::Ok()
        .content_type(published.media_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(published.body))
}
