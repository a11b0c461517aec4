use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result};

use crate::error::ApiError;

/// Every error leaves as an [`ApiError`] body, the framework's own (no route, bad JSON, wrong
/// method) included: better-auth's shape under `/v1/auth/` (but for 413, which the Node API's
/// body limit answers before better-auth), the envelope elsewhere. A 405 says which methods
/// the route has in `Allow` (RFC 9110). The matched route is kept for the request log.
pub struct JsonErrors {
    allowed_methods: Arc<HashMap<String, String>>,
}

impl JsonErrors {
    /// Learns each route's methods from the OpenAPI document the routes were built from.
    pub fn from_spec(spec_json: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let allowed_methods = spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, operations)| {
                let mut methods: Vec<String> = operations
                    .as_object()
                    .into_iter()
                    .flat_map(|ops| ops.keys())
                    .map(|method| method.to_ascii_uppercase())
                    .collect();
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                (route_key(path), methods.join(", "))
            })
            .collect();
        Self {
            allowed_methods: Arc::new(allowed_methods),
        }
    }
}

/// `/v1/workspaces/{slug}` (the document) and `/v1/workspaces/:param0` (the router's
/// pattern) name the same route.
fn route_key(path: &str) -> String {
    path.split('/')
        .map(
            |segment| match segment.starts_with(':') || segment.starts_with('{') {
                true => "{}".to_owned(),
                false => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

impl<E: Endpoint> Middleware<E> for JsonErrors {
    type Output = JsonErrorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        JsonErrorsEndpoint {
            inner,
            allowed_methods: self.allowed_methods.clone(),
        }
    }
}

pub struct JsonErrorsEndpoint<E> {
    inner: E,
    allowed_methods: Arc<HashMap<String, String>>,
}

impl<E: Endpoint> Endpoint for JsonErrorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let auth_route = req.uri().path().starts_with("/v1/auth/");
        let err = match self.inner.call(req).await {
            Ok(response) => return Ok(response.into_response()),
            Err(err) => err,
        };
        let pattern = err.data::<PathPattern>().cloned();
        let error = ApiError::from_poem(err);
        let mut response = match auth_route && error.status() != StatusCode::PAYLOAD_TOO_LARGE {
            true => error.into_better_auth_response(),
            false => error.into_response(),
        };
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            let allow = pattern
                .as_ref()
                .and_then(|pattern| self.allowed_methods.get(&route_key(&pattern.0)))
                .and_then(|methods| HeaderValue::from_str(methods).ok());
            if let Some(allow) = allow {
                response.headers_mut().insert(header::ALLOW, allow);
            }
        }
        if let Some(pattern) = pattern {
            response.set_data(pattern);
        }
        Ok(response)
    }
}

/// A handler that panics answers 500 `internal` instead of dropping the connection.
#[derive(Clone)]
pub struct PanicToInternal;

impl poem::middleware::PanicHandler for PanicToInternal {
    type Response = Response;

    fn get_response(&self, panic: Box<dyn Any + Send + 'static>) -> Response {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        ApiError::internal(format!("handler panicked: {message}")).into_response()
    }
}
