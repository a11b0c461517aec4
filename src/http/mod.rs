//! Middleware of the HTTP edge, outermost first: request log, CORS, error bodies, panic guard,
//! body limit.

pub mod body_limit;
pub mod cors;
pub mod errors;
pub mod request_log;
