//! Object storage: product images and other files of shops.
//!
//! [`ObjectStore`] has two implementations: [`S3Store`] (`aws-sdk-s3`, one bucket, endpoint and
//! path-style addressing configurable for S3-compatible servers) when `S3_BUCKET` is set, and
//! [`LocalStore`] (a directory, `STORAGE_DIR`) otherwise. The local store's "presigned" URLs
//! are HMAC-signed, expiring URLs that the application serves itself (`/v1/objects/…`,
//! [`local_routes`]), so the direct-upload flow is the same with or without S3.
//!
//! Deleting objects is a side effect, so it never happens inside a request's transaction:
//! - a deleted product or image emits a `media.deleted` event with its keys in the same
//!   transaction, and the outbox's `storage` consumer deletes them (idempotently);
//! - purging a shop drops its schema, outbox included, so its whole prefix is deleted by
//!   [`purge_shop`] right *after* the purge commits, in both callers (the platform API and
//!   `shopfleet shop purge`). Deleting first would lose the objects of a shop whose purge then
//!   rolls back; deleting after risks only leftovers if the process dies in between, and those
//!   are removed by running `shopfleet shop purge <slug>` again, which repeats the (idempotent)
//!   prefix deletion for an already purged shop.
//!
//! Rule: every key is built by [`ObjectKey::new`] (or checked by [`ObjectKey::parse`]) and so
//! lies under `shops/<shop id>/`; nothing formats a key by hand, and no key from a client is
//! used without going through that check against the request's own shop.

mod keys;
mod local;
mod local_routes;
mod s3;
pub mod signing;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use bytes::Bytes;

pub use keys::{KeyError, KeyPrefix, ObjectKey};
pub use local::LocalStore;
pub use local_routes::local_routes;
pub use s3::S3Store;

use crate::config::StorageConfig;
use crate::tenancy::ShopId;

/// The content of an object to store.
pub enum ObjectBody {
    Bytes(Bytes),
    /// A file already on disk (a spooled upload), streamed rather than read into memory.
    File {
        file: tokio::fs::File,
        len: u64,
    },
}

impl From<Vec<u8>> for ObjectBody {
    fn from(data: Vec<u8>) -> Self {
        Self::Bytes(Bytes::from(data))
    }
}

/// An object read back whole.
#[derive(Debug, Clone)]
pub struct Object {
    pub data: Bytes,
    pub content_type: String,
}

/// What a HEAD request tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub content_type: String,
}

/// A request a client may make directly to the store, without credentials of its own.
#[derive(Debug, Clone)]
pub struct PresignedRequest {
    pub method: &'static str,
    pub url: String,
    /// Headers the client must send exactly as given (they are part of the signature).
    pub headers: Vec<(String, String)>,
    /// Unix seconds after which the URL stops working.
    pub expires_at: u64,
}

/// A store of objects under per-shop prefixes. Dyn-compatible: the server holds an
/// `Arc<dyn ObjectStore>`.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// `s3` or `local`, for logs.
    fn kind(&self) -> &'static str;

    /// Checks at start-up that the store is usable (bucket reachable, directory writable).
    async fn check(&self) -> anyhow::Result<()>;

    /// Stores an object, replacing any object with the same key.
    async fn put(
        &self,
        key: &ObjectKey,
        body: ObjectBody,
        content_type: &str,
    ) -> anyhow::Result<()>;

    /// The whole object, or `None` if there is none.
    async fn get(&self, key: &ObjectKey) -> anyhow::Result<Option<Object>>;

    /// Size and type, or `None` if there is no such object.
    async fn head(&self, key: &ObjectKey) -> anyhow::Result<Option<ObjectMeta>>;

    /// The first `len` bytes (fewer if the object is shorter), e.g. to check magic bytes.
    async fn read_start(&self, key: &ObjectKey, len: u64) -> anyhow::Result<Option<Bytes>>;

    /// Copies the object at `from` to `to` (replacing it) with `content_type`, as one snapshot:
    /// a write to `from` during the copy is either wholly in it or not at all. `false` if
    /// there is no object at `from`.
    async fn copy(
        &self,
        from: &ObjectKey,
        to: &ObjectKey,
        content_type: &str,
    ) -> anyhow::Result<bool>;

    /// Deletes an object; deleting a missing object succeeds (deletes are retried).
    async fn delete(&self, key: &ObjectKey) -> anyhow::Result<()>;

    /// Deletes every object under a prefix and returns how many there were.
    async fn delete_prefix(&self, prefix: &KeyPrefix) -> anyhow::Result<u64>;

    /// A URL to upload exactly this key, with exactly this content type and length, until
    /// `ttl` from now.
    async fn presign_put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> anyhow::Result<PresignedRequest>;

    /// A URL to read the object: the public base URL when one is configured, otherwise a
    /// presigned URL valid for at least `ttl`. Presigned URLs are aligned on `ttl` windows, so
    /// the same object gets the same URL for a while and browsers and CDNs can cache it.
    async fn get_url(&self, key: &ObjectKey, ttl: Duration) -> anyhow::Result<String>;

    /// The local store itself, for the routes that serve its signed URLs.
    fn as_local(&self) -> Option<LocalStore> {
        None
    }
}

/// How the local store's signed URLs are made: the server's secret and the base URL under
/// which `/v1/objects/…` is served.
pub struct LocalUrls {
    pub secret: Vec<u8>,
    pub base_url: String,
}

impl LocalUrls {
    /// For commands that only delete (`shop purge`): URLs they would sign are never used.
    pub fn unused() -> Self {
        Self { secret: uuid::Uuid::new_v4().as_bytes().to_vec(), base_url: String::new() }
    }
}

/// Builds the configured store: S3 when a bucket is set, the local directory otherwise.
pub fn from_config(config: &StorageConfig, urls: LocalUrls) -> Arc<dyn ObjectStore> {
    match &config.s3_bucket {
        Some(bucket) => Arc::new(S3Store::new(config, bucket)),
        None => Arc::new(LocalStore::new(config.storage_dir.clone(), &urls.secret, urls.base_url)),
    }
}

/// Deletes everything a shop has stored; called after its purge has committed.
pub async fn purge_shop(store: &dyn ObjectStore, shop: ShopId) -> anyhow::Result<u64> {
    let prefix = KeyPrefix::shop(shop);
    let deleted = store
        .delete_prefix(&prefix)
        .await
        .with_context(|| format!("deleting the objects under {}", prefix.as_str()))?;
    tracing::info!(shop = %shop, deleted, store = store.kind(), "purged the shop's objects");
    Ok(deleted)
}

/// Start and length of the window a shared URL is valid in: it starts at the last multiple
/// of `ttl` and lasts two of them, so it stays valid for at least `ttl`.
pub(crate) fn url_window(now_unix: u64, ttl: Duration) -> (u64, u64) {
    let step = ttl.as_secs().max(1);
    (now_unix - now_unix % step, 2 * step)
}
