//! The uploads capability: files in object storage, reached through presigned URLs.
//!
//! Domain code names objects by logical keys and never sees the provider: it presigns a PUT
//! bound to a content type and length (the client sends the bytes straight to the bucket),
//! checks what arrived with [`ObjectStorage::head`], presigns GETs and deletes. [`from_settings`]
//! picks S3 (AWS, R2, MinIO: anything that speaks S3 with SigV4) when `S3_BUCKET` and its keys
//! are set, and [`Disabled`] otherwise, whose every call is [`StorageError::NotConfigured`].

mod disabled;
mod s3;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

pub use disabled::Disabled;
pub use s3::S3Storage;

/// The variables that switch storage on; shown by the boot table while they are unset.
pub const ENABLE_VARS: &[&str] = &["S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"];

/// A request the client makes itself, straight to the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    pub url: String,
    pub method: String,
    /// Headers the client must send as they are (the signature covers them). The length is
    /// signed too but left out: HTTP clients set it from the body.
    pub headers: BTreeMap<String, String>,
}

/// What the bucket holds under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub content_type: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object storage is not configured (set S3_BUCKET and its keys)")]
    NotConfigured,
    #[error("object storage could not be reached: {0}")]
    Unreachable(String),
    #[error("object storage refused the request: {0}")]
    Rejected(String),
}

#[async_trait::async_trait]
pub trait ObjectStorage: Send + Sync + 'static {
    /// Short name of the backend, for the boot table and `/v1/config`.
    fn backend(&self) -> &'static str;

    /// True when objects can actually be stored.
    fn enabled(&self) -> bool;

    /// A PUT of exactly `size` bytes of `content_type` to `key`, valid for `ttl`.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError>;

    /// A GET of `key` valid for `ttl`, served as an attachment named `download_name` when given.
    async fn presign_get(
        &self,
        key: &str,
        download_name: Option<&str>,
        ttl: Duration,
    ) -> Result<String, StorageError>;

    /// The object's size and type; `None` when there is none.
    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, StorageError>;

    /// Deletes the object; deleting one that is not there succeeds.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Deletes every object whose key starts with `prefix`; returns how many.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError>;

    /// The object's permanent address when the bucket is served publicly (`S3_PUBLIC_URL`).
    fn public_url(&self, key: &str) -> Option<String>;

    /// Cheap reachability probe used by `orbit doctor` and `/ready`.
    async fn check(&self) -> Result<(), StorageError>;
}

#[derive(Debug, Clone, Default)]
pub struct StorageSettings {
    pub bucket: Option<String>,
    /// R2 or MinIO's address; `None` is AWS.
    pub endpoint: Option<url::Url>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    /// `https://host/bucket/key` instead of `https://bucket.host/key` (MinIO needs it).
    pub force_path_style: bool,
    /// Put before every key, e.g. `orbit/` to share a bucket.
    pub key_prefix: String,
    /// Where the bucket is served publicly, when it is (avatars are then linked directly).
    pub public_url: Option<url::Url>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are required when S3_BUCKET is set")]
    MissingKeys,
    #[error(
        "S3_BUCKET is required when S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY or S3_ENDPOINT is set"
    )]
    MissingBucket,
    #[error("S3_BUCKET must be 3 to 63 lowercase letters, digits, dots or hyphens (got {0:?})")]
    InvalidBucket(String),
    #[error(
        "S3_KEY_PREFIX must be up to 200 characters of letters, digits and - _ . / (got {0:?})"
    )]
    InvalidPrefix(String),
    #[error("S3_ENDPOINT and S3_PUBLIC_URL must be http or https URLs")]
    InvalidUrl,
}

impl StorageSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        let keys = self.access_key_id.is_some() && self.secret_access_key.is_some();
        let any_key = self.access_key_id.is_some() || self.secret_access_key.is_some();
        match &self.bucket {
            None if any_key || self.endpoint.is_some() => return Err(SettingsError::MissingBucket),
            None => return Ok(()),
            Some(_) if !keys => return Err(SettingsError::MissingKeys),
            Some(bucket) if !valid_bucket(bucket) => {
                return Err(SettingsError::InvalidBucket(bucket.clone()));
            }
            Some(_) => {}
        }
        let prefix_ok = self.key_prefix.len() <= 200
            && self
                .key_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        if !prefix_ok {
            return Err(SettingsError::InvalidPrefix(self.key_prefix.clone()));
        }
        let web = |url: &Option<url::Url>| {
            url.as_ref()
                .is_none_or(|url| matches!(url.scheme(), "http" | "https"))
        };
        match web(&self.endpoint) && web(&self.public_url) {
            true => Ok(()),
            false => Err(SettingsError::InvalidUrl),
        }
    }
}

fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
}

/// Chooses the storage for these settings.
pub fn from_settings(settings: &StorageSettings) -> Result<Arc<dyn ObjectStorage>, SettingsError> {
    settings.validate()?;
    Ok(match S3Storage::new(settings) {
        Some(storage) => Arc::new(storage),
        None => Arc::new(Disabled),
    })
}
