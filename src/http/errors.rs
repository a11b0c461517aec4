use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result};

use bytes::Bytes;
use poem_openapi::error::{ParseParamError, ParsePathError, ParseRequestPayloadError};
use serde_json::Value;

use crate::error::ApiError;
use crate::http::request_context::RequestContext;
use crate::http::validation_issues::{ValidationIssue, body_issues};

/// Every error leaves as an [`ApiError`] body, the framework's own (no route, bad JSON, wrong
/// method) included: better-auth's shape under `/v1/auth/` (but for 413, which the Node API's
/// body limit answers before better-auth), the envelope elsewhere. A 405 says which methods
/// the route has in `Allow` (RFC 9110). The matched route is kept for the request log, named
/// as the OpenAPI document names it (`/v1/auth/reset-password/{token}`, not the router's
/// `:param0`).
pub struct JsonErrors {
    document: Arc<Document>,
}

/// What the OpenAPI document says that error bodies use.
struct Document {
    routes: HashMap<String, Route>,
    /// `components.schemas`, which request schemas refer to.
    schemas: serde_json::Map<String, Value>,
}

/// A route of the document: its template, its methods, and their JSON request schemas.
struct Route {
    template: PathPattern,
    allow: String,
    request_schemas: HashMap<String, Value>,
}

impl JsonErrors {
    /// Learns each route's methods and request schemas from the OpenAPI document the routes
    /// were built from.
    pub fn from_spec(spec_json: &str) -> Self {
        let spec: Value = serde_json::from_str(spec_json).unwrap_or_default();
        let routes = spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, operations)| {
                let operations = operations.as_object().cloned().unwrap_or_default();
                let mut methods: Vec<String> =
                    operations.keys().map(|m| m.to_ascii_uppercase()).collect();
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                let request_schemas = operations
                    .iter()
                    .filter_map(|(method, operation)| {
                        let content = operation["requestBody"]["content"].as_object()?;
                        let (_, json) = content.iter().find(|(kind, _)| kind.contains("json"))?;
                        Some((method.to_ascii_uppercase(), json["schema"].clone()))
                    })
                    .collect();
                let route = Route {
                    template: PathPattern(path.as_str().into()),
                    allow: methods.join(", "),
                    request_schemas,
                };
                (route_key(path), route)
            })
            .collect();
        let schemas = spec["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        Self {
            document: Arc::new(Document { routes, schemas }),
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
            document: self.document.clone(),
        }
    }
}

pub struct JsonErrorsEndpoint<E> {
    inner: E,
    document: Arc<Document>,
}

impl<E> JsonErrorsEndpoint<E> {
    fn route(&self, pattern: Option<&PathPattern>) -> Option<&Route> {
        self.document.routes.get(&route_key(&pattern?.0))
    }

    /// Which fields of the request the framework refused: a parameter by its name, a body
    /// checked against the operation's schema (one `custom` issue when no rule explains it).
    fn issues(
        &self,
        err: &poem::Error,
        route: Option<&Route>,
        method: &str,
        body: Option<&Bytes>,
    ) -> Vec<ValidationIssue> {
        let parameter = |name: &str, reason: &str| {
            vec![ValidationIssue::new(
                vec![Value::from(name)],
                "custom",
                reason,
            )]
        };
        if let Some(param) = err.downcast_ref::<ParseParamError>() {
            return parameter(param.name, &param.reason);
        }
        if let Some(path) = err.downcast_ref::<ParsePathError>() {
            return parameter(path.name, &path.reason);
        }
        let Some(payload) = err.downcast_ref::<ParseRequestPayloadError>() else {
            return Vec::new();
        };
        let schema = route.and_then(|route| route.request_schemas.get(method));
        let found = match (schema, body) {
            (Some(schema), Some(body)) => body_issues(schema, &self.document.schemas, body),
            _ => Vec::new(),
        };
        match found.is_empty() {
            true => vec![ValidationIssue::new(Vec::new(), "custom", &payload.reason)],
            false => found,
        }
    }
}

impl<E: Endpoint> Endpoint for JsonErrorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let auth_route = req.uri().path().starts_with("/v1/auth/");
        let method = req.method().as_str().to_owned();
        let context = RequestContext::of(&req).cloned();
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
        // better-auth's error shape has no issues: the auth routes are spared the check.
        let issues = match auth_route {
            true => Vec::new(),
            false => {
                let body = context.as_ref().and_then(|context| context.body.get());
                self.issues(&err, route, &method, body)
            }
        };
        let error = ApiError::from_poem(err);
        let mut response = match auth_route && error.status() != StatusCode::PAYLOAD_TOO_LARGE {
            true => error.into_better_auth_response(),
            false => error.with_issues(issues).into_response(),
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
