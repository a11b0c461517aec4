//! `oauth2`'s HTTP client trait on the app's reqwest, so the tree keeps one HTTP stack.

use std::future::Future;
use std::pin::Pin;

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};

use crate::{OAuthError, PROVIDER_TIMEOUT};

/// Largest answer read from a provider (discovery documents and key sets are a few KiB).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// reqwest with redirects off: following a provider's redirect would let a hostile discovery
/// document point requests anywhere (SSRF).
#[derive(Clone)]
pub struct Http(reqwest::Client);

impl Http {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .expect("a reqwest client without redirects");
        Self(client)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.0
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let request = reqwest::Request::try_from(request).map_err(describe)?;
        let mut response = self.0.execute(request).await.map_err(describe)?;
        let mut builder = http::Response::builder().status(response.status());
        if let Some(headers) = builder.headers_mut() {
            *headers = response.headers().clone();
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(HttpError("the answer is larger than 1 MiB".to_owned()));
            }
            body.extend_from_slice(&chunk);
        }
        builder.body(body).map_err(|err| HttpError(err.to_string()))
    }
}

fn describe(err: impl std::error::Error) -> HttpError {
    HttpError(err.to_string())
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// How a failed token request reads to the domain: the provider's refusal of the code (an
/// error answer, which GitHub sends with status 200), or the provider being unreachable or
/// broken.
pub fn token_error<E: oauth2::ErrorResponse>(
    err: oauth2::RequestTokenError<HttpError, E>,
) -> OAuthError {
    match err {
        oauth2::RequestTokenError::ServerResponse(refusal) => {
            OAuthError::InvalidCode(refusal.to_string())
        }
        oauth2::RequestTokenError::Parse(_, body) => {
            match serde_json::from_slice::<oauth2::basic::BasicErrorResponse>(&body) {
                Ok(refusal) => OAuthError::InvalidCode(refusal.to_string()),
                Err(err) => OAuthError::Unavailable(format!("unreadable answer: {err}")),
            }
        }
        other => OAuthError::Unavailable(other.to_string()),
    }
}
