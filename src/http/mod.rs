//! Middleware of the HTTP edge, outermost first: request context and log, CORS, error bodies,
//! panic guard, body limit, NUL rejection.

pub mod body_limit;
pub mod cors;
pub mod errors;
pub mod nullable;
pub mod pagination;
pub mod prefixed_id;
pub mod raw_json;
pub mod reject_nul;
pub mod request_context;
pub mod serde_json_body;
pub mod string_field;
pub mod validation_issues;
