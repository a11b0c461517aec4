use poem::{Endpoint, Middleware, Request, Result, web::headers::HeaderMapExt};

use crate::error::ApiError;
use crate::http::request_context::RequestContext;

/// Refuses bodies over the limit with 413 `payload_too_large`, whether or not the client
/// declared a `Content-Length`: the body is read here, bounded, before any handler sees it.
#[derive(Clone)]
pub struct BodyLimit {
    pub default_bytes: usize,
    /// Tighter limits for paths under a prefix (`/v1/auth/` takes 8 KiB).
    pub by_prefix: Vec<(&'static str, usize)>,
}

impl BodyLimit {
    fn limit_for(&self, path: &str) -> usize {
        self.by_prefix
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map_or(self.default_bytes, |(_, bytes)| *bytes)
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            limits: self.clone(),
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    limits: BodyLimit,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let max_bytes = self.limits.limit_for(req.uri().path());
        let declared = req
            .headers()
            .typed_get::<poem::web::headers::ContentLength>()
            .map(|length| length.0);
        if declared.is_some_and(|length| length > max_bytes as u64) {
            return Err(too_large().into());
        }
        if declared != Some(0) {
            let body =
                req.take_body()
                    .into_bytes_limit(max_bytes)
                    .await
                    .map_err(|err| match err {
                        poem::error::ReadBodyError::PayloadTooLarge => too_large(),
                        other => ApiError::new(
                            poem::http::StatusCode::BAD_REQUEST,
                            "validation",
                            format!("could not read the request body: {other}"),
                        ),
                    })?;
            if let Some(context) = RequestContext::of(&req) {
                let _ = context.body.set(body.clone());
            }
            req.set_body(body);
        }
        self.inner.call(req).await
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        poem::http::StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "request body too large",
    )
}
