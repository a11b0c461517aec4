//! Passwords: argon2id (OWASP parameters: 19 MiB, 2 passes) on the blocking pool, never on
//! the async workers, and a bounded number at a time so a burst of sign-ins cannot exhaust
//! memory.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use poem::http::StatusCode;
use poem_openapi::registry::MetaSchema;
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};
use crate::http::string_field::StringField;

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 128;
/// Longer input is refused before anyone reads it.
const MAX_INPUT: usize = 1024;

/// A password being chosen. The schema says 8 to 128 characters; [`NewPassword::checked`]
/// answers outside that with better-auth's `PASSWORD_TOO_SHORT` / `PASSWORD_TOO_LONG`.
pub struct NewPassword(String);

/// A password typed to prove who you are.
pub struct Password(String);

impl NewPassword {
    pub fn checked(&self) -> ApiResult<String> {
        check_length(&self.0)?;
        Ok(self.0.clone())
    }
}

impl Password {
    pub fn expose(&self) -> String {
        self.0.clone()
    }
}

fn bounded(raw: String) -> Result<String, String> {
    match raw.chars().count() <= MAX_INPUT {
        true => Ok(raw),
        false => Err(format!("at most {MAX_INPUT} characters")),
    }
}

impl StringField for NewPassword {
    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(MIN_LENGTH),
            max_length: Some(MAX_LENGTH),
            format: Some("password"),
            ..MetaSchema::new("string")
        }
    }

    fn from_field(raw: String) -> Result<Self, String> {
        bounded(raw).map(Self)
    }

    fn as_field(&self) -> &str {
        &self.0
    }
}

impl StringField for Password {
    fn schema() -> MetaSchema {
        MetaSchema {
            max_length: Some(MAX_INPUT),
            format: Some("password"),
            ..MetaSchema::new("string")
        }
    }

    fn from_field(raw: String) -> Result<Self, String> {
        bounded(raw).map(Self)
    }

    fn as_field(&self) -> &str {
        &self.0
    }
}

crate::string_field!(NewPassword);
crate::string_field!(Password);

/// Passwords never reach a log line, even through `{:?}`.
impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword([redacted])")
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// Each hash holds 19 MiB while it runs; this many run at once, the rest wait.
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    Semaphore::new(cores * 2)
});

/// A hash of nothing in particular: verifying against it makes an unknown account cost the
/// same time as a known one, so timing does not reveal which addresses have a password.
static DECOY: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"decoy password, never matches")
        .expect("argon2 hashes with default parameters")
        .to_string()
});

/// Refuses passwords outside [`MIN_LENGTH`]..=[`MAX_LENGTH`] characters.
fn check_length(password: &str) -> ApiResult<()> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "PASSWORD_TOO_SHORT",
            "Password too short",
        ));
    }
    if length > MAX_LENGTH {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "PASSWORD_TOO_LONG",
            "Password too long",
        ));
    }
    Ok(())
}

async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> ApiResult<T> {
    let _permit = HASHING.acquire().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)
}

/// The PHC string (`$argon2id$v=19$…`) stored for `password`.
pub async fn hash(password: String) -> ApiResult<String> {
    on_blocking_pool(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
    })
    .await?
    .map_err(ApiError::internal)
}

/// Whether `password` matches `stored`; with no stored hash, spends the same time and says no.
pub async fn verify(password: String, stored: Option<String>) -> ApiResult<bool> {
    on_blocking_pool(move || {
        let (hash, real) = match &stored {
            Some(hash) => (hash.as_str(), true),
            None => (DECOY.as_str(), false),
        };
        real && Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let stored = hash("correct horse".to_owned()).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(
            verify("correct horse".to_owned(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("wrong horse".to_owned(), Some(stored))
                .await
                .unwrap()
        );
        assert!(
            !verify("decoy password, never matches".to_owned(), None)
                .await
                .unwrap()
        );
    }

    #[test]
    fn passwords_do_not_show_in_debug_output() {
        use poem_openapi::types::ParseFromJSON;
        let typed = Password::parse_from_json(Some(serde_json::json!("hunter22"))).unwrap();
        let chosen = NewPassword::parse_from_json(Some(serde_json::json!("hunter22"))).unwrap();
        assert!(!format!("{typed:?} {chosen:?}").contains("hunter22"));
    }

    #[test]
    fn lengths_are_bounded() {
        assert_eq!(
            check_length("1234567").unwrap_err().code(),
            "PASSWORD_TOO_SHORT"
        );
        assert!(check_length("12345678").is_ok());
        assert!(check_length(&"é".repeat(128)).is_ok());
        assert_eq!(
            check_length(&"x".repeat(129)).unwrap_err().code(),
            "PASSWORD_TOO_LONG"
        );
    }
}
