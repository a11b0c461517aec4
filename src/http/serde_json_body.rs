//! A JSON response written straight from serde, documented by the type's poem-openapi schema.
//!
//! poem-openapi's `Json` first builds a `serde_json::Value` tree (a map node and a string copy
//! per field), then prints it. For the large hot reads (a workspace with all its members, about
//! 30 KB for 50 members) that tree was most of the server's allocation. Types sent this way
//! derive both `Object` and `Serialize`; a test keeps the two renderings equal.

use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::{ApiResponse, types::Type};
use serde::Serialize;

use crate::error::ApiError;

pub struct SerdeJson<T>(pub T);

const CONTENT_TYPE: &str = "application/json";

impl<T: Type> Payload for SerdeJson<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        content_type.starts_with(CONTENT_TYPE)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for SerdeJson<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder().content_type(CONTENT_TYPE).body(body),
            Err(err) => ApiError::internal(err).into_response(),
        }
    }
}

impl<T: Type + Serialize + Send> ApiResponse for SerdeJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json; charset=utf-8",
                    schema: T::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
