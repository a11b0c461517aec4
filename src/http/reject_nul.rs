//! U+0000 never gets in: Postgres cannot store it in text (`invalid byte sequence for encoding
//! "UTF8": 0x00`), so every string a request carries is checked here, once, before any
//! extractor reads it: the path and query (`%00`) and the body (a raw NUL byte, or JSON's
//! `\u0000` escape). Headers cannot carry one: the HTTP parser refuses control bytes there.

use poem::{Endpoint, Request, Result, http::header};

use crate::error::ApiError;

/// Answers 400 `validation` for a request with a NUL anywhere in its strings.
pub async fn reject_nul<E: Endpoint>(next: E, mut req: Request) -> Result<E::Output> {
    let in_uri = req
        .uri()
        .path_and_query()
        .is_some_and(|target| target.as_str().contains("%00"));
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"));
    // The body limit (outside this) has read the body into memory already.
    let body = req.take_body().into_bytes().await?;
    if in_uri || body.contains(&0) || (json && has_escaped_nul(&body)) {
        return Err(ApiError::validation("strings must not contain U+0000 (NUL)").into());
    }
    req.set_body(body);
    next.call(req).await
}

/// Whether a JSON text has a `\u0000` escape (and not an escaped backslash before `u0000`).
fn has_escaped_nul(json: &[u8]) -> bool {
    let mut at = 0;
    while at < json.len() {
        match json[at] {
            b'\\' if json[at + 1..].starts_with(b"u0000") => return true,
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::has_escaped_nul;

    #[test]
    fn finds_the_escape_but_not_an_escaped_backslash() {
        assert!(has_escaped_nul(br#"{"name":"a\u0000b"}"#));
        assert!(has_escaped_nul(br#"{"name":"\\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"name":"\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"name":"\u0001 \\"}"#));
    }
}
