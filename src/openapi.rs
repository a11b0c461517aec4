//! The OpenAPI document: every route of the API is an operation of this service.

use poem_openapi::{OpenApiService, Tags};

use crate::system::api::SystemApi;

#[derive(Tags)]
pub enum ApiTags {
    /// Liveness, readiness and public configuration
    System,
}

pub type Apis = SystemApi;

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(SystemApi, "Orbit API", env!("CARGO_PKG_VERSION")).description(
        "The Orbit SaaS starter API. Errors are `{\"error\":{\"code\",\"message\"}}` with a \
         stable `code`.",
    )
}

/// The document as `orbit openapi` prints it and `openapi.json` stores it.
pub fn spec_json() -> String {
    service().spec()
}
