use std::time::Duration;

use crate::{ObjectHead, ObjectStorage, PresignedRequest, StorageError};

/// No bucket configured: nothing is stored, every call says so (the routes answer 501).
pub struct Disabled;

#[async_trait::async_trait]
impl ObjectStorage for Disabled {
    fn backend(&self) -> &'static str {
        "none"
    }

    fn enabled(&self) -> bool {
        false
    }

    async fn presign_put(
        &self,
        _: &str,
        _: &str,
        _: u64,
        _: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        Err(StorageError::NotConfigured)
    }

    async fn presign_get(
        &self,
        _: &str,
        _: Option<&str>,
        _: Duration,
    ) -> Result<String, StorageError> {
        Err(StorageError::NotConfigured)
    }

    async fn head(&self, _: &str) -> Result<Option<ObjectHead>, StorageError> {
        Err(StorageError::NotConfigured)
    }

    async fn delete(&self, _: &str) -> Result<(), StorageError> {
        Err(StorageError::NotConfigured)
    }

    async fn delete_prefix(&self, _: &str) -> Result<u64, StorageError> {
        Err(StorageError::NotConfigured)
    }

    fn public_url(&self, _: &str) -> Option<String> {
        None
    }

    async fn check(&self) -> Result<(), StorageError> {
        Ok(())
    }
}
