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

/// A password from a request, at most `MAX` characters in the schema and `MIN` at least. Its
/// `Debug` never shows it.
pub struct PasswordField<const MIN: usize, const MAX: usize>(String);

/// A password being chosen. The schema says 8 to 128 characters; [`PasswordField::checked`]
/// answers outside that with better-auth's `PASSWORD_TOO_SHORT` / `PASSWORD_TOO_LONG`.
pub type NewPassword = PasswordField<MIN_LENGTH, MAX_LENGTH>;

/// A password typed to prove who you are.
pub type Password = PasswordField<0, MAX_INPUT>;

impl<const MIN: usize, const MAX: usize> PasswordField<MIN, MAX> {
    /// The password, once its length is within `MIN..=MAX` characters.
    pub fn checked(&self) -> ApiResult<String> {
        let length = self.0.chars().count();
        let refused = |code, message| Err(ApiError::new(StatusCode::BAD_REQUEST, code, message));
        match length {
            n if n < MIN => refused("PASSWORD_TOO_SHORT", "Password too short"),
            n if n > MAX => refused("PASSWORD_TOO_LONG", "Password too long"),
            _ => Ok(self.0.clone()),
        }
    }

    pub fn expose(&self) -> String {
        self.0.clone()
    }
}

impl<const MIN: usize, const MAX: usize> StringField for PasswordField<MIN, MAX> {
    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: (MIN > 0).then_some(MIN),
            max_length: Some(MAX),
            format: Some("password"),
            ..MetaSchema::new("string")
        }
    }

    /// Anything up to [`MAX_INPUT`] gets in, so a short or long new password is answered with
    /// better-auth's codes rather than a generic validation error.
    fn from_field(raw: String) -> Result<Self, String> {
        match raw.chars().count() <= MAX_INPUT {
            true => Ok(Self(raw)),
            false => Err(format!("at most {MAX_INPUT} characters")),
        }
    }

    fn as_field(&self) -> &str {
        &self.0
    }
}

crate::string_field!(impl[const MIN: usize, const MAX: usize] PasswordField<MIN, MAX>);

impl<const MIN: usize, const MAX: usize> std::fmt::Debug for PasswordField<MIN, MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordField([redacted])")
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
        // Verify first, then look at `real`: the decoy must cost a full verification.
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok();
        matches && real
    })
    .await
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ParseFromJSON;

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
        let typed = Password::parse_from_json(Some(serde_json::json!("hunter22"))).unwrap();
        let chosen = NewPassword::parse_from_json(Some(serde_json::json!("hunter22"))).unwrap();
        assert!(!format!("{typed:?} {chosen:?}").contains("hunter22"));
    }

    #[test]
    fn new_passwords_are_8_to_128_characters() {
        let new = |raw: String| NewPassword::parse_from_json(Some(serde_json::json!(raw))).unwrap();
        let code = |raw: String| new(raw).checked().unwrap_err().code().to_owned();
        assert_eq!(code("1234567".into()), "PASSWORD_TOO_SHORT");
        assert!(new("12345678".into()).checked().is_ok());
        assert!(
            new("é".repeat(128)).checked().is_ok(),
            "characters, not bytes"
        );
        assert_eq!(code("x".repeat(129)), "PASSWORD_TOO_LONG");
        assert!(NewPassword::parse_from_json(Some(serde_json::json!("x".repeat(1025)))).is_err());
    }
}
