//! The one error type of the HTTP edge: `{"error":{"code","message"}}` with the right status.

use std::borrow::Cow;

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaResponse, MetaResponses, Registry};
use poem_openapi::{ApiResponse, Object, ResponseContent};

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
}

/// The body of every error response.
#[derive(Debug, Clone, Object)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `validation`, `workspace.not_found`.
    pub code: String,
    /// Human-readable explanation; may change between versions.
    pub message: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    /// A failure the client cannot fix. The cause goes to the log, never to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    /// Turns the framework's own errors (no route, wrong method, unparsable body…) into ours.
    pub fn from_poem(err: poem::Error) -> Self {
        if let Some(api) = err.downcast_ref::<ApiError>() {
            return api.clone();
        }
        let status = err.status();
        let code = match status {
            StatusCode::BAD_REQUEST => "validation",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            status if status.is_client_error() => "bad_request",
            _ => return Self::internal(err),
        };
        let message = match status {
            StatusCode::NOT_FOUND => "no such route".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".to_owned(),
            StatusCode::PAYLOAD_TOO_LARGE => "request body too large".to_owned(),
            _ => err.to_string(),
        };
        Self::new(status, code, message)
    }

    fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.code.to_string(),
                message: self.message.to_string(),
            },
        }
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        Json(self.envelope())
            .with_status(self.status)
            .into_response()
    }
}

/// Documents every operation's errors as `4XX`/`5XX` with [`ErrorEnvelope`] bodies.
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        let range = |range: &str, description| MetaResponse {
            description,
            status: None,
            status_range: Some(range.to_owned()),
            content: <Json<ErrorEnvelope> as ResponseContent>::media_types(),
            headers: Vec::new(),
        };
        MetaResponses {
            responses: vec![
                range("4XX", "The request was refused; `error.code` says why."),
                range("5XX", "The server failed; `error.code` is `internal`."),
            ],
        }
    }

    fn register(registry: &mut Registry) {
        <Json<ErrorEnvelope> as ResponseContent>::register(registry);
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}
