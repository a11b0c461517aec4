use std::any::Any;

use poem::{Endpoint, IntoResponse, Request, Response, Result};

use crate::error::ApiError;

/// Every error leaves as an [`ApiError`] body: the framework's own (no route, bad JSON, wrong
/// method) included. Response extensions (the matched route) are kept for the request log.
pub async fn to_json<E: Endpoint>(next: E, req: Request) -> Result<Response> {
    match next.call(req).await {
        Ok(response) => Ok(response.into_response()),
        Err(err) => {
            let extensions = err.data::<poem::PathPattern>().cloned();
            let mut response = ApiError::from_poem(err).into_response();
            if let Some(pattern) = extensions {
                response.set_data(pattern);
            }
            Ok(response)
        }
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
