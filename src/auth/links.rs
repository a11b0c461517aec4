//! Links in auth mails, and where they land: a 302 to a callback URL.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use poem_openapi::ApiResponse;

use crate::config::Settings;

#[derive(ApiResponse)]
pub enum Redirect {
    /// Sent on to the callback URL (with `?error=…` when the link was bad).
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String),
}

/// `${API_ORIGIN}{path}?{query}`: a link to this API for a mail.
pub fn api_link(settings: &Settings, path: &str, query: &[(&str, &str)]) -> String {
    let mut link = url::Url::parse(&settings.origins.api)
        .and_then(|api| api.join(path))
        .expect("API_ORIGIN was validated at boot");
    link.query_pairs_mut().extend_pairs(query);
    link.to_string()
}

/// What JavaScript's `encodeURIComponent` escapes, as better-auth encodes values.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

pub fn encode_uri_component(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// `target` with `key=value` appended to its query (before any `#fragment`).
pub fn with_query(target: &str, key: &str, value: &str) -> String {
    let (base, fragment) = match target.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (target, None),
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let value = encode_uri_component(value);
    match fragment {
        Some(fragment) => format!("{base}{separator}{key}={value}#{fragment}"),
        None => format!("{base}{separator}{key}={value}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_query;

    #[test]
    fn appends_to_the_query() {
        assert_eq!(
            with_query("/a", "error", "INVALID_TOKEN"),
            "/a?error=INVALID_TOKEN"
        );
        assert_eq!(with_query("/a?b=1", "token", "x y"), "/a?b=1&token=x%20y");
        assert_eq!(with_query("/a#top", "error", "E"), "/a?error=E#top");
    }
}
