//! The S3 store: one bucket (`S3_BUCKET`), every key under `shops/<shop id>/`.
//!
//! For S3-compatible servers (MinIO, Ceph, moto, …) set `S3_ENDPOINT` and usually
//! `S3_FORCE_PATH_STYLE=true`. Checksums are sent only where an operation requires them: not
//! every S3-compatible server understands the SDK's default trailing checksums, and a checksum
//! in a presigned PUT would bind the URL to an empty body. Credentials
//! and, unless `S3_REGION` is set, the region come from the usual AWS chain (environment,
//! profile, container or instance role).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{Delete, MetadataDirective, ObjectIdentifier};
use bytes::Bytes;
use tokio::io::AsyncSeekExt;
use tokio::sync::OnceCell;

use super::signing::now_unix;
use super::{
    KeyPrefix, Object, ObjectBody, ObjectKey, ObjectMeta, ObjectStore, PresignedRequest, url_window,
};
use crate::config::StorageConfig;

/// A region is needed for signing even by servers that ignore it.
const FALLBACK_REGION: &str = "us-east-1";

/// The client is built on first use (loading credentials and region is asynchronous), so the
/// store can be made where the server's state is, synchronously; `check` at start-up builds it.
#[derive(Clone)]
pub struct S3Store {
    config: Arc<StorageConfig>,
    client: Arc<OnceCell<Client>>,
    bucket: String,
    /// `S3_PUBLIC_BASE_URL`, without a trailing `/`: objects are read at `<base>/<key>`.
    public_base_url: Option<String>,
}

impl S3Store {
    pub fn new(config: &StorageConfig, bucket: &str) -> Self {
        Self {
            config: Arc::new(config.clone()),
            client: Arc::new(OnceCell::new()),
            bucket: bucket.to_owned(),
            public_base_url: config
                .s3_public_base_url
                .as_deref()
                .map(|url| url.trim_end_matches('/').to_owned()),
        }
    }

    pub async fn client(&self) -> &Client {
        self.client.get_or_init(|| build_client(&self.config)).await
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

async fn build_client(config: &StorageConfig) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.s3_region {
        loader = loader.region(Region::new(region.clone()));
    }
    let shared = loader.load().await;
    let mut builder = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(config.s3_force_path_style)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if shared.region().is_none() {
        builder = builder.region(Region::new(FALLBACK_REGION));
    }
    if let Some(endpoint) = &config.s3_endpoint {
        builder = builder.endpoint_url(endpoint.clone());
    }
    Client::from_conf(builder.build())
}

fn unix_time(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[async_trait]
impl ObjectStore for S3Store {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn check(&self) -> anyhow::Result<()> {
        self.client().await.head_bucket().bucket(&self.bucket).send().await.with_context(|| {
            format!("S3 bucket {:?} is not reachable with the configured credentials", self.bucket)
        })?;
        Ok(())
    }

    async fn put(
        &self,
        key: &ObjectKey,
        body: ObjectBody,
        content_type: &str,
    ) -> anyhow::Result<()> {
        let (stream, len) = match body {
            ObjectBody::Bytes(data) => {
                let len = data.len() as u64;
                (ByteStream::from(data), len)
            }
            ObjectBody::File { mut file, len } => {
                file.seek(std::io::SeekFrom::Start(0)).await?;
                (ByteStream::read_from().file(file).length(Length::Exact(len)).build().await?, len)
            }
        };
        self.client()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .content_length(i64::try_from(len)?)
            .body(stream)
            .send()
            .await
            .with_context(|| format!("S3 PutObject {key}"))?;
        Ok(())
    }

    async fn get(&self, key: &ObjectKey) -> anyhow::Result<Option<Object>> {
        let output = match self
            .client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(err).with_context(|| format!("S3 GetObject {key}")),
        };
        let content_type = output.content_type().unwrap_or("application/octet-stream").to_owned();
        let data = output
            .body
            .collect()
            .await
            .with_context(|| format!("reading S3 object {key}"))?
            .into_bytes();
        Ok(Some(Object { data, content_type }))
    }

    async fn head(&self, key: &ObjectKey) -> anyhow::Result<Option<ObjectMeta>> {
        match self.client().await.head_object().bucket(&self.bucket).key(key.as_str()).send().await
        {
            Ok(output) => Ok(Some(ObjectMeta {
                size: u64::try_from(output.content_length().unwrap_or(0)).unwrap_or(0),
                content_type: output
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_owned(),
            })),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(err).with_context(|| format!("S3 HeadObject {key}")),
        }
    }

    async fn read_start(&self, key: &ObjectKey, len: u64) -> anyhow::Result<Option<Bytes>> {
        let Some(meta) = self.head(key).await? else {
            return Ok(None);
        };
        let len = len.min(meta.size);
        if len == 0 {
            // A range on an empty object is an error (416); there is nothing to read anyway.
            return Ok(Some(Bytes::new()));
        }
        let request = self
            .client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .range(format!("bytes=0-{}", len - 1));
        let output = match request.send().await {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(err).with_context(|| format!("S3 GetObject (range) {key}")),
        };
        let mut data = output.body.collect().await?.into_bytes();
        // A server that ignores Range sends everything.
        data.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(Some(data))
    }

    async fn copy(
        &self,
        from: &ObjectKey,
        to: &ObjectKey,
        content_type: &str,
    ) -> anyhow::Result<bool> {
        // Keys hold only `[A-Za-z0-9._-/]`: the copy source needs no escaping.
        let copied = self
            .client()
            .await
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{}", self.bucket, from.as_str()))
            .key(to.as_str())
            .content_type(content_type)
            .metadata_directive(MetadataDirective::Replace)
            .send()
            .await;
        match copied {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().and_then(|e| e.code()) == Some("NoSuchKey") => {
                Ok(false)
            }
            Err(err) => Err(err).with_context(|| format!("S3 CopyObject {from} to {to}")),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> anyhow::Result<()> {
        // S3 answers 204 for a missing key too.
        self.client()
            .await
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .with_context(|| format!("S3 DeleteObject {key}"))?;
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &KeyPrefix) -> anyhow::Result<u64> {
        let mut deleted = 0u64;
        // Each page holds at most 1,000 keys, which is DeleteObjects' limit too.
        let mut pages = self
            .client()
            .await
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix.as_str())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.with_context(|| format!("S3 ListObjectsV2 {}", prefix.as_str()))?;
            let objects = page
                .contents()
                .iter()
                .filter_map(|object| object.key())
                .filter(|key| key.starts_with(prefix.as_str()))
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()?;
            if objects.is_empty() {
                continue;
            }
            let count = objects.len() as u64;
            let output = self
                .client()
                .await
                .delete_objects()
                .bucket(&self.bucket)
                .delete(Delete::builder().set_objects(Some(objects)).quiet(true).build()?)
                .send()
                .await
                .with_context(|| format!("S3 DeleteObjects under {}", prefix.as_str()))?;
            if let Some(error) = output.errors().first() {
                anyhow::bail!(
                    "S3 refused to delete {} objects under {}, e.g. {:?}: {:?}",
                    output.errors().len(),
                    prefix.as_str(),
                    error.key(),
                    error.message()
                );
            }
            deleted += count;
        }
        Ok(deleted)
    }

    async fn presign_put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> anyhow::Result<PresignedRequest> {
        let presigned = self
            .client()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .content_length(i64::try_from(content_length)?)
            .presigned(PresigningConfig::expires_in(ttl)?)
            .await
            .with_context(|| format!("presigning a PUT of {key}"))?;
        Ok(PresignedRequest {
            method: "PUT",
            url: presigned.uri().to_owned(),
            headers: presigned
                .headers()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            expires_at: now_unix() + ttl.as_secs(),
        })
    }

    async fn get_url(&self, key: &ObjectKey, ttl: Duration) -> anyhow::Result<String> {
        if let Some(base) = &self.public_base_url {
            return Ok(format!("{base}/{key}"));
        }
        let (start, length) = url_window(now_unix(), ttl);
        let config = PresigningConfig::builder()
            .start_time(unix_time(start))
            .expires_in(Duration::from_secs(length))
            .build()?;
        let presigned = self
            .client()
            .await
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(config)
            .await
            .with_context(|| format!("presigning a GET of {key}"))?;
        Ok(presigned.uri().to_owned())
    }
}
