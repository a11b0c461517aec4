use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_smithy_http_client::{Builder as HttpClientBuilder, tls};
use futures_util::future::join_all;
use secrecy::ExposeSecret;

use crate::{ObjectHead, ObjectStorage, PresignedRequest, StorageError, StorageSettings};

/// Any S3-compatible bucket (AWS S3, Cloudflare R2, MinIO), signed with SigV4.
pub struct S3Storage {
    client: Client,
    bucket: String,
    key_prefix: String,
    public_url: Option<url::Url>,
}

/// How many deletes one `delete_prefix` keeps in flight.
const DELETE_CONCURRENCY: usize = 8;

impl S3Storage {
    /// The storage these settings describe; `None` without a bucket. Makes no network call.
    pub fn new(settings: &StorageSettings) -> Option<Self> {
        let bucket = settings.bucket.clone()?;
        let credentials = Credentials::new(
            settings.access_key_id.clone()?,
            settings.secret_access_key.as_ref()?.expose_secret(),
            None,
            None,
            "orbit-settings",
        );
        let http = HttpClientBuilder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .read_timeout(Duration::from_secs(10))
            .operation_timeout(Duration::from_secs(30))
            .build();
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .credentials_provider(credentials)
            .region(Region::new(settings.region.clone()))
            .force_path_style(settings.force_path_style)
            .timeout_config(timeouts);
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        }
        Some(Self {
            client: Client::from_conf(config.build()),
            bucket,
            key_prefix: settings.key_prefix.clone(),
            public_url: settings.public_url.clone(),
        })
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.key_prefix)
    }
}

fn presigning(ttl: Duration) -> Result<PresigningConfig, StorageError> {
    PresigningConfig::expires_in(ttl).map_err(|err| StorageError::Rejected(err.to_string()))
}

/// A failure that got an answer is a refusal; one that did not, an outage.
fn classify<E: std::error::Error + 'static, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> StorageError {
    let message = aws_sdk_s3::error::DisplayErrorContext(&err).to_string();
    match err {
        SdkError::ServiceError(_) => StorageError::Rejected(message),
        _ => StorageError::Unreachable(message),
    }
}

#[async_trait::async_trait]
impl ObjectStorage for S3Storage {
    fn backend(&self) -> &'static str {
        "s3"
    }

    fn enabled(&self) -> bool {
        true
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        let size = i64::try_from(size).map_err(|err| StorageError::Rejected(err.to_string()))?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .content_type(content_type)
            .content_length(size)
            .presigned(presigning(ttl)?)
            .await
            .map_err(classify)?;
        let headers = presigned
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect();
        Ok(PresignedRequest {
            url: presigned.uri().to_owned(),
            method: presigned.method().to_owned(),
            headers,
        })
    }

    async fn presign_get(
        &self,
        key: &str,
        download_name: Option<&str>,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        let mut get = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key));
        if let Some(name) = download_name {
            get = get.response_content_disposition(format!("attachment; filename=\"{name}\""));
        }
        let presigned = get.presigned(presigning(ttl)?).await.map_err(classify)?;
        Ok(presigned.uri().to_owned())
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, StorageError> {
        let answer = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await;
        match answer {
            Ok(object) => Ok(Some(ObjectHead {
                size: object.content_length().unwrap_or(0).max(0) as u64,
                content_type: object.content_type().map(str::to_owned),
            })),
            Err(SdkError::ServiceError(err))
                if matches!(err.err(), HeadObjectError::NotFound(_)) =>
            {
                Ok(None)
            }
            Err(err) if err.raw_response().map(|raw| raw.status().as_u16()) == Some(404) => {
                Ok(None)
            }
            Err(err) => Err(classify(err)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        let mut deleted = 0;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full_key(prefix))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let keys: Vec<String> = page
                .map_err(classify)?
                .contents()
                .iter()
                .filter_map(|object| object.key().map(str::to_owned))
                .collect();
            // One DeleteObject per key: every S3-compatible server has it (not all have the
            // batch call), and a few in flight keep it quick.
            for batch in keys.chunks(DELETE_CONCURRENCY) {
                let deletes = batch.iter().map(|key| {
                    self.client
                        .delete_object()
                        .bucket(&self.bucket)
                        .key(key)
                        .send()
                });
                for result in join_all(deletes).await {
                    result.map_err(classify)?;
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }

    fn public_url(&self, key: &str) -> Option<String> {
        let base = self.public_url.as_ref()?;
        let full_key = self.full_key(key);
        Some(format!(
            "{}/{full_key}",
            base.as_str().trim_end_matches('/')
        ))
    }

    async fn check(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
