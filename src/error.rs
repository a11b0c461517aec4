//! The one error type of the HTTP edge: `{"error":{"code","message"}}` with the right status.

use std::borrow::Cow;

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaResponse, MetaResponses, Registry};
use poem_openapi::{ApiResponse, Object, ResponseContent, Union};

use crate::http::validation_issues::ValidationIssue;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    /// Seconds after which a refused (429, 503) request may be retried (`Retry-After`).
    retry_after: Option<u64>,
    /// For a malformed request: which fields are wrong.
    issues: Vec<ValidationIssue>,
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
    /// For a malformed request (`validation`): each wrong field, zod-style.
    #[oai(default, skip_serializing_if_is_empty)]
    pub issues: Vec<ValidationIssue>,
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
            retry_after: None,
            issues: Vec::new(),
        }
    }

    /// This error, also listing `issues`: which fields of the request are wrong.
    pub fn with_issues(mut self, issues: Vec<ValidationIssue>) -> Self {
        self.issues.extend(issues);
        self
    }

    /// 400 `validation`: the request does not have the shape the route documents.
    pub fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation", message)
    }

    /// 422 `validation`: well-formed, but the values are not acceptable.
    pub fn unprocessable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message)
    }

    /// 401 `unauthorized`: no valid session.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "unauthorized")
    }

    /// 422 `code`: well-formed, but against a domain rule (`workspace_slug.invalid`…).
    pub fn invalid(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 403 with the reason as code: `forbidden` (not a member), `permission.denied`…
    pub fn forbidden(code: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, "forbidden")
    }

    /// 409 `code`: the change conflicts with the current state.
    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 404 `<what>.not_found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("{what}.not_found"),
            format!("{what} not found"),
        )
    }

    /// 404 `not_found`: what an unknown route answers.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many requests, try again later",
            )
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    /// A failure the client cannot fix. The cause goes to the log, never to the client. A
    /// database that cannot be reached is 503 `database.unavailable` with `Retry-After`: the
    /// request may well work in a moment.
    pub fn internal(cause: impl std::fmt::Display + 'static) -> Self {
        if let Some(db_err) = (&cause as &dyn std::any::Any).downcast_ref::<sea_orm::DbErr>()
            && is_unreachable(db_err)
        {
            tracing::warn!(error = %cause, "database unavailable");
            metrics::counter!("db_unavailable_total").increment(1);
            return Self {
                retry_after: Some(DATABASE_RETRY_AFTER_SECS),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database.unavailable",
                    "the database is unavailable, try again shortly",
                )
            };
        }
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
        if let Some(auth) = err.downcast_ref::<AuthError>() {
            return auth.0.clone();
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

    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.code.to_string(),
                message: self.message.to_string(),
                issues: self.issues.clone(),
            },
        }
    }

    /// The shape better-auth answers with on `/v1/auth/*`: `{"message","code":"UPPER_SNAKE"}`.
    /// A domain rule raised inside an auth route (`account.delete.sole_owner`) keeps the
    /// envelope, as the Node API's error mapper renders it.
    pub fn into_better_auth_response(self) -> Response {
        if self.code.contains('.') {
            return IntoResponse::into_response(self);
        }
        let code = match self.code.as_ref() {
            "validation" => "VALIDATION_ERROR".to_owned(),
            code => code.to_ascii_uppercase().replace('.', "_"),
        };
        let body = BetterAuthError {
            message: self.message.to_string(),
            code,
        };
        self.decorate(Json(body).with_status(self.status).into_response())
    }

    fn decorate(&self, mut response: Response) -> Response {
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(poem::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// What a 503 `database.unavailable` asks the client to wait, in seconds.
const DATABASE_RETRY_AFTER_SECS: u64 = 5;

/// Whether `err` says the database could not be reached (no connection to be had, or one
/// lost), rather than that a statement failed.
fn is_unreachable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(cause)) | DbErr::Query(RuntimeErr::SqlxError(cause)) => {
            matches!(
                **cause,
                Sqlx::Io(_) | Sqlx::Tls(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed
            )
        }
        _ => false,
    }
}

/// A failed write as the API reports it: a unique-constraint violation (which a concurrent
/// request can cause after any pre-check) is `on_duplicate`, anything else is internal.
pub fn unique_or_internal(
    err: sea_orm::DbErr,
    on_duplicate: impl FnOnce() -> ApiError,
) -> ApiError {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => on_duplicate(),
        _ => ApiError::internal(err),
    }
}

/// The error body of the better-auth routes.
#[derive(Debug, Clone, Object)]
pub struct BetterAuthError {
    pub message: String,
    pub code: String,
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        self.decorate(
            Json(self.envelope())
                .with_status(self.status)
                .into_response(),
        )
    }
}

/// Documents every operation's errors as `4XX`/`5XX` with [`ErrorEnvelope`] bodies.
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        error_ranges::<ErrorEnvelope>()
    }

    fn register(registry: &mut Registry) {
        <Json<ErrorEnvelope> as ResponseContent>::register(registry);
    }
}

fn error_ranges<Body: poem_openapi::types::ToJSON>() -> MetaResponses {
    let range = |range: &str, description| MetaResponse {
        description,
        status: None,
        status_range: Some(range.to_owned()),
        content: <Json<Body> as ResponseContent>::media_types(),
        headers: Vec::new(),
    };
    MetaResponses {
        responses: vec![
            range("4XX", "The request was refused; the code says why."),
            range("5XX", "The server failed; the code is `internal`."),
        ],
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

/// An [`ApiError`] on a `/v1/auth/*` route, documented and rendered in better-auth's shape.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct AuthError(#[from] pub ApiError);

pub type AuthResult<T> = Result<T, AuthError>;

impl poem::error::ResponseError for AuthError {
    fn status(&self) -> StatusCode {
        self.0.status
    }

    fn as_response(&self) -> Response {
        self.0.clone().into_better_auth_response()
    }
}

/// What an auth route's error body can be: better-auth's shape, or the envelope for 413
/// (refused before the auth handler runs, as in the Node API).
#[derive(Debug, Clone, Union)]
pub enum AuthErrorBody {
    BetterAuth(BetterAuthError),
    Envelope(ErrorEnvelope),
}

impl ApiResponse for AuthError {
    fn meta() -> MetaResponses {
        error_ranges::<AuthErrorBody>()
    }

    fn register(registry: &mut Registry) {
        <Json<AuthErrorBody> as ResponseContent>::register(registry);
    }
}
