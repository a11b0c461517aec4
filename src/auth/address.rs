use crate::error::ApiError;

const MAX_EMAIL: usize = 254;

fn is_control_or_space(c: char) -> bool {
    c <= ' '
}

/// An email address, trimmed and lowercased; parsing refuses what cannot be one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Accepts what the documented pattern of email fields,
    /// `^[^@\x00-\x20]+@[^@.\x00-\x20]+(\.[^@.\x00-\x20]+)+$`, accepts (after trimming), so
    /// the schema and the server agree.
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
