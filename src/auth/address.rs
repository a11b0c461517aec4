use poem_openapi::registry::MetaSchema;

use crate::error::ApiError;
use crate::http::string_field::StringField;

const MAX_EMAIL: usize = 254;
/// What the schema of an email field says; [`EmailAddress::parse`] accepts the same.
const PATTERN: &str = r"^[^@\x00-\x20]+@[^@.\x00-\x20]+(\.[^@.\x00-\x20]+)+$";

fn is_control_or_space(c: char) -> bool {
    c <= ' '
}

/// An email address, trimmed and lowercased; parsing refuses what cannot be one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Accepts what [`PATTERN`] accepts (after trimming), so the schema and the server agree.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let trimmed = raw.trim_matches(is_control_or_space);
        let valid = trimmed.chars().count() <= MAX_EMAIL
            && !trimmed.chars().any(is_control_or_space)
            && trimmed.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(|label| !label.is_empty())
            });
        let email = trimmed.to_lowercase();
        match valid {
            true => Ok(Self(email)),
            false => Err(ApiError::new(
                poem::http::StatusCode::BAD_REQUEST,
                "INVALID_EMAIL",
                "Invalid email",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl StringField for EmailAddress {
    fn schema() -> MetaSchema {
        MetaSchema {
            max_length: Some(MAX_EMAIL),
            pattern: Some(PATTERN.to_owned()),
            ..MetaSchema::new("string")
        }
    }

    /// Stricter than [`EmailAddress::parse`]: a request field must match the pattern as sent.
    fn from_field(raw: String) -> Result<Self, String> {
        let padded = raw.starts_with(is_control_or_space) || raw.ends_with(is_control_or_space);
        match padded {
            true => Err("not an email address".to_owned()),
            false => Self::parse(&raw).map_err(|_| "not an email address".to_owned()),
        }
    }

    fn as_field(&self) -> &str {
        &self.0
    }
}

crate::string_field!(EmailAddress);

#[cfg(test)]
mod tests {
    use super::EmailAddress;

    #[test]
    fn normalises_and_refuses_non_addresses() {
        assert_eq!(
            EmailAddress::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "", "ada", "ada@", "@x.io", "a@b", "a b@c.io", "a@b@c.io", "a@.io", "a@io.",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
