//! Object storage for tests: the two real stores, no mocks. S3 is the moto server started by
//! `scripts/test.sh` (`TEST_S3_ENDPOINT`, dummy `AWS_*` credentials).
//!
//! One database is one deployment, with one store: every server on a database runs an outbox
//! worker, and any of them may delete the objects of any shop there. So the servers on the
//! main test database all use the local store's shared directory (`server_config`), and the
//! servers with the S3 store use a database of their own (`shopfleet_test_s3_p<pid>`) and
//! one shared bucket. The store suite (no server, no outbox) makes a bucket per test.

use std::sync::Arc;

use shopfleet::config::{ServerConfig, StorageConfig};
use shopfleet::storage::{self, LocalUrls, ObjectStore, S3Store};
use tokio::sync::OnceCell;

use super::{BASE_DOMAIN, TestApp, server_config};

/// The bucket of every server on the S3 test database.
const SHARED_BUCKET: &str = "shopfleet-test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Local,
    S3,
}

pub fn s3_endpoint() -> String {
    std::env::var("TEST_S3_ENDPOINT").expect(
        "TEST_S3_ENDPOINT is not set: run the tests through scripts/test.sh (it starts moto)",
    )
}

/// The S3 store's own database: one database is one deployment, with one store.
pub fn s3_database() -> shopfleet::config::DatabaseConfig {
    super::database_config("s3")
}

fn s3_storage(bucket: &str) -> StorageConfig {
    StorageConfig {
        s3_bucket: Some(bucket.to_owned()),
        s3_endpoint: Some(s3_endpoint()),
        s3_region: Some("us-east-1".into()),
        s3_force_path_style: true,
        ..Default::default()
    }
}

async fn create_bucket(config: &StorageConfig, bucket: &str) -> Result<(), String> {
    S3Store::new(config, bucket)
        .client()
        .await
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map(drop)
        .map_err(|err| {
            let service = err.as_service_error().map(|e| format!("{e:?}")).unwrap_or_default();
            format!("{err} {service}")
        })
}

/// A fresh bucket on the S3-compatible test server, for the store suite.
pub async fn s3_config() -> StorageConfig {
    let bucket = format!("test-{}", uuid::Uuid::new_v4().simple());
    let config = s3_storage(&bucket);
    create_bucket(&config, &bucket).await.unwrap_or_else(|err| {
        panic!(
            "creating a test bucket (are AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set?): {err}"
        )
    });
    config
}

/// The shared bucket of the servers on the S3 test database (created once; it may exist).
async fn shared_s3_config() -> StorageConfig {
    static CREATED: OnceCell<()> = OnceCell::const_new();
    let config = s3_storage(SHARED_BUCKET);
    CREATED
        .get_or_init(|| async {
            if let Err(err) = create_bucket(&config, SHARED_BUCKET).await
                && !err.contains("BucketAlreadyOwnedByYou")
                && !err.contains("BucketAlreadyExists")
            {
                panic!("creating the shared test bucket: {err}");
            }
        })
        .await;
    config
}

/// A server's configuration with the store of `kind` and that store's database.
pub async fn config_with(kind: StoreKind) -> ServerConfig {
    let mut config = server_config();
    if kind == StoreKind::S3 {
        config.database = s3_database();
        config.storage = shared_s3_config().await;
    }
    config
}

/// The store a server with `config` uses: same directory or bucket, same URL signing key.
pub fn store_of(config: &ServerConfig) -> Arc<dyn ObjectStore> {
    storage::from_config(
        &config.storage,
        LocalUrls {
            secret: config.jwt_secret.as_bytes().to_vec(),
            base_url: config.url_of_host(&config.base_domain),
        },
    )
}

/// An HTTP client that reaches the app under its platform host name (the local store's URLs
/// name it) as well as the S3 test server.
pub fn object_client(app: &TestApp) -> reqwest::Client {
    reqwest::Client::builder().resolve(BASE_DOMAIN, app.addr).build().expect("client")
}

/// A server whose store is of `kind`, that store, and a client for its object URLs.
pub struct MediaApp {
    pub app: TestApp,
    pub store: Arc<dyn ObjectStore>,
    pub http: reqwest::Client,
    pub kind: StoreKind,
}

impl MediaApp {
    pub async fn spawn(kind: StoreKind) -> Self {
        let config = config_with(kind).await;
        let store = store_of(&config);
        let app = TestApp::spawn_with(config).await;
        let http = object_client(&app);
        Self { app, store, http, kind }
    }
}
