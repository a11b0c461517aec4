use std::collections::HashSet;
use std::sync::Arc;

use poem::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use super::pagination::NEXT_CURSOR_HEADER;

const ALLOWED_METHODS: &str = "GET,HEAD,PUT,POST,DELETE,PATCH";

/// CORS as the Orbit web client expects it (hono/cors with `credentials: true`): every response
/// says `allow-credentials` and `vary: Origin`; the origin is echoed only when it is on the
/// exact allow-list; preflights answer 204 and echo the requested headers.
pub struct Cors {
    allowed: Arc<HashSet<String>>,
}

impl Cors {
    pub fn new(allowed: impl IntoIterator<Item = String>) -> Self {
        Self {
            allowed: Arc::new(allowed.into_iter().collect()),
        }
    }
}

impl<E: Endpoint> Middleware<E> for Cors {
    type Output = CorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CorsEndpoint {
            inner,
            allowed: self.allowed.clone(),
        }
    }
}

pub struct CorsEndpoint<E> {
    inner: E,
    allowed: Arc<HashSet<String>>,
}

impl<E: Endpoint> Endpoint for CorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .filter(|origin| origin.to_str().is_ok_and(|o| self.allowed.contains(o)))
            .cloned();
        let preflight = req.method() == Method::OPTIONS
            && req.headers().contains_key(header::ORIGIN)
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);

        let mut response = if preflight {
            let mut response = StatusCode::NO_CONTENT.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOWED_METHODS),
            );
            if let Some(requested) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
                headers.append(
                    header::VARY,
                    HeaderValue::from_static("Access-Control-Request-Headers"),
                );
            }
            response
        } else {
            self.inner.call(req).await?.into_response()
        };
        decorate(response.headers_mut(), origin);
        Ok(response)
    }
}

fn decorate(headers: &mut HeaderMap, allowed_origin: Option<HeaderValue>) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed_origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        // Browsers hide every other response header from the page.
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(NEXT_CURSOR_HEADER),
        );
    }
}
