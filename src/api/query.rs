//! `Query<T>`: the query string deserialised into `T`, where a bad value is a 400 problem whose
//! `pointer` names the parameter (actix's `web::Query` says only what went wrong, not where).

use std::future::{ready, Ready};

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::ApiError;

pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Parses a query string into `T`, naming the parameter at fault.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // A missing or unknown parameter is reported at the top level, with its name quoted.
        let name = if path == "." {
            message.split('`').nth(1).unwrap_or_default().to_string()
        } else {
            path
        };
        if name.is_empty() {
            ApiError::bad_request(format!("invalid query string: {message}"))
        } else {
            ApiError::bad_field(
                &format!("/{name}"),
                format!("query parameter {name}: {message}"),
            )
        }
    })
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse(req.query_string()).map(Query))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Page {
        limit: Option<i64>,
        format: String,
    }

    fn pointer(query: &str) -> Option<String> {
        match parse::<Page>(query) {
            Err(ApiError::BadRequest { pointer, .. }) => pointer,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_parameter_is_named() {
        assert_eq!(pointer("format=json&limit=many").as_deref(), Some("/limit"));
        assert_eq!(pointer("limit=5").as_deref(), Some("/format"));
        assert!(parse::<Page>("format=csv&limit=5").is_ok());
    }
}
