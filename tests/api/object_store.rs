//! An S3 server in the test process (`s3s-fs` over a temp directory, checking SigV4 and the
//! expiry of presigned URLs), and the settings that point the app at it.

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use orbit_uploads::{ObjectStorage, S3Storage, StorageSettings};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use secrecy::SecretString;

pub const BUCKET: &str = "orbit-test";
const ACCESS_KEY: &str = "orbit-test-access";
const SECRET_KEY: &str = "orbit-test-secret-key-0123456789";

pub struct S3Server {
    pub endpoint: String,
    /// The bucket's files; gone with the server.
    _root: tempfile::TempDir,
}

impl S3Server {
    pub async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let files = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = S3ServiceBuilder::new(files);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let service = service.clone();
                tokio::spawn(async move {
                    let connection = ConnectionBuilder::new(TokioExecutor::new());
                    let _ = connection
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Self {
            endpoint,
            _root: root,
        }
    }

    /// The app's variables for this server, with `prefix` before every key.
    pub fn vars(&self, prefix: &'static str) -> Vec<(&'static str, String)> {
        vec![
            ("S3_BUCKET", BUCKET.to_owned()),
            ("S3_ENDPOINT", self.endpoint.clone()),
            ("S3_REGION", "us-east-1".to_owned()),
            ("S3_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("S3_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("S3_FORCE_PATH_STYLE", "true".to_owned()),
            ("S3_KEY_PREFIX", prefix.to_owned()),
        ]
    }

    /// A client of the bucket of its own (no key prefix), to look behind the app's back.
    pub fn storage(&self) -> S3Storage {
        let settings = StorageSettings {
            bucket: Some(BUCKET.to_owned()),
            endpoint: Some(self.endpoint.parse().unwrap()),
            region: "us-east-1".to_owned(),
            access_key_id: Some(ACCESS_KEY.to_owned()),
            secret_access_key: Some(SecretString::from(SECRET_KEY)),
            force_path_style: true,
            ..StorageSettings::default()
        };
        S3Storage::new(&settings).unwrap()
    }

    /// Whether the bucket holds `key`.
    pub async fn holds(&self, key: &str) -> bool {
        self.storage().head(key).await.unwrap().is_some()
    }
}

/// The bucket key a presigned URL names (its path, less the bucket).
pub fn key_of(url: &str) -> String {
    let path = reqwest::Url::parse(url).unwrap().path().to_owned();
    let key = path
        .strip_prefix(&format!("/{BUCKET}/"))
        .unwrap_or_else(|| panic!("not a path-style URL of the bucket: {url}"));
    crate::helpers::percent_decode(key)
}
