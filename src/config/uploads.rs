//! The uploads section: `S3_*` into the uploads crate's `StorageSettings` (validated there), and
//! what the app accepts (`UPLOAD_*`).

use std::time::Duration;

use orbit_uploads::StorageSettings;
use secrecy::SecretString;

use super::Vars;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest file, in bytes (`UPLOAD_MAX_BYTES`, 16 MiB).
    pub max_bytes: u64,
    /// Content types accepted (`UPLOAD_ALLOWED_TYPES`, images and PDF), lowercase.
    pub allowed_types: Vec<String>,
    /// How long a presigned URL works (`UPLOAD_URL_TTL_SECS`, 600; 60 to 604,800).
    pub url_ttl: Duration,
    /// Bytes one workspace may hold (`UPLOAD_WORKSPACE_QUOTA_BYTES`; unset: no quota).
    pub workspace_quota: Option<u64>,
}

const DEFAULT_TYPES: &str = "image/png,image/jpeg,image/gif,image/webp,application/pdf";

impl Vars {
    pub(super) fn storage(&mut self) -> StorageSettings {
        let storage = StorageSettings {
            bucket: self.get("S3_BUCKET").map(str::to_owned),
            endpoint: self.url("S3_ENDPOINT"),
            region: self.get("S3_REGION").unwrap_or("auto").to_owned(),
            access_key_id: self.get("S3_ACCESS_KEY_ID").map(str::to_owned),
            secret_access_key: self
                .get("S3_SECRET_ACCESS_KEY")
                .map(|secret| SecretString::from(secret.to_owned())),
            force_path_style: self.parse("S3_FORCE_PATH_STYLE", false, "true or false"),
            key_prefix: self.get("S3_KEY_PREFIX").unwrap_or_default().to_owned(),
            public_url: self.url("S3_PUBLIC_URL"),
        };
        if let Err(err) = storage.validate() {
            self.problems.push(err.to_string());
        }
        storage
    }

    pub(super) fn upload_limits(&mut self) -> UploadLimits {
        let max_bytes = self.parse("UPLOAD_MAX_BYTES", 16u64 << 20, "a number of bytes");
        if max_bytes == 0 {
            self.problems
                .push("UPLOAD_MAX_BYTES must be at least 1".into());
        }
        let allowed_types: Vec<String> = self
            .get("UPLOAD_ALLOWED_TYPES")
            .unwrap_or(DEFAULT_TYPES)
            .split(',')
            .map(|kind| kind.trim().to_ascii_lowercase())
            .filter(|kind| !kind.is_empty())
            .collect();
        if let Some(bad) = allowed_types.iter().find(|kind| !is_media_type(kind)) {
            self.problems.push(format!(
                "UPLOAD_ALLOWED_TYPES must list media types like image/png (got {bad:?})"
            ));
        }
        let ttl_secs = self.parse("UPLOAD_URL_TTL_SECS", 600u64, "a number of seconds");
        if !(60..=604_800).contains(&ttl_secs) {
            self.problems.push(format!(
                "UPLOAD_URL_TTL_SECS must be 60 to 604800 (a week; got {ttl_secs})"
            ));
        }
        let workspace_quota = self
            .get("UPLOAD_WORKSPACE_QUOTA_BYTES")
            .is_some()
            .then(|| self.parse("UPLOAD_WORKSPACE_QUOTA_BYTES", 0u64, "a number of bytes"));
        UploadLimits {
            max_bytes,
            allowed_types,
            url_ttl: Duration::from_secs(ttl_secs),
            workspace_quota,
        }
    }
}

/// `type/subtype`, each a token of letters, digits and `!#$&^_.+-`.
fn is_media_type(kind: &str) -> bool {
    let token = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    matches!(kind.split_once('/'), Some((main, sub)) if token(main) && token(sub))
}
