use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result};

use crate::error::ApiError;

/// Every error leaves as an [`ApiError`] body, the framework's own (no route, bad JSON, wrong
/// method) included: better-auth's shape under `/v1/auth/` (but for 413, which the Node API's
/// body limit answers before better-auth), the envelope elsewhere. A 405 says which methods
/// the route has in `Allow` (RFC 9110). The matched route is kept for the request log, named
/// as the OpenAPI document names it (`/v1/auth/reset-password/{token}`, not the router's
/// `:param0`).
pub struct JsonErrors {
    routes: Arc<HashMap<String, Route>>,
}

/// A route of the document: its template and its methods.
struct Route {
    template: PathPattern,
    allow: String,
}

impl JsonErrors {
    /// Learns each route's methods from the OpenAPI document the routes were built from.
    pub fn from_spec(spec_json: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let routes = spec["paths"]
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
                let route = Route {
                    template: PathPattern(path.as_str().into()),
                    allow: methods.join(", "),
                };
                (route_key(path), route)
            })
            .collect();
        Self {
            routes: Arc::new(routes),
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
            routes: self.routes.clone(),
        }
    }
}

pub struct JsonErrorsEndpoint<E> {
    inner: E,
    routes: Arc<HashMap<String, Route>>,
}

impl<E> JsonErrorsEndpoint<E> {
    fn route(&self, pattern: Option<&PathPattern>) -> Option<&Route> {
        self.routes.get(&route_key(&pattern?.0))
    }
}

impl<E: Endpoint> Endpoint for JsonErrorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let auth_route = req.uri().path().starts_with("/v1/auth/");
        let err = match self.inner.call(req).await {
            Ok(response) => {
                let mut response = response.into_response();
                if let Some(route) = self.route(response.data::<PathPattern>()) {
                    response.set_data(route.template.clone());
                }
                return Ok(response);
            }
            Err(err) => err,
        };
        let pattern = err.data::<PathPattern>().cloned();
        let route = self.route(pattern.as_ref());
        let error = ApiError::from_poem(err);
        let mut response = match auth_route && error.status() != StatusCode::PAYLOAD_TOO_LARGE {
            true => error.into_better_auth_response(),
            false => error.into_response(),
        };
        if let Some(route) = route
            && response.status() == StatusCode::METHOD_NOT_ALLOWED
            && let Ok(allow) = HeaderValue::from_str(&route.allow)
        {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        if let Some(template) = route.map(|route| route.template.clone()).or(pattern) {
            response.set_data(template);
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
