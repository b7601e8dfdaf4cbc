//! The local filesystem store, the embedded default (`STORAGE_DIR`).
//!
//! Layout under the directory: `data/<key>` holds an object's bytes, `meta/<key>` its content
//! type, `tmp/` files being written. A write goes to `tmp/` and is renamed into place, so a
//! reader never sees half an object. Keys are validated segment by segment
//! ([`ObjectKey::new`]), so joining them under `data/` cannot leave the directory.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::signing::{Grant, UrlSigner, now_unix};
use super::{
    KeyPrefix, Object, ObjectBody, ObjectKey, ObjectMeta, ObjectStore, PresignedRequest, url_window,
};

#[derive(Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    signer: UrlSigner,
    /// e.g. `http://shops.localhost:8080`; URLs are `<base>/v1/objects/<key>?…`.
    base_url: String,
}

impl LocalStore {
    pub fn new(root: PathBuf, secret: &[u8], base_url: String) -> Self {
        let base_url = base_url.trim_end_matches('/').to_owned();
        Self { inner: Arc::new(Inner { root, signer: UrlSigner::new(secret), base_url }) }
    }

    pub fn signer(&self) -> &UrlSigner {
        &self.inner.signer
    }

    fn under<'a>(&self, area: &str, segments: impl Iterator<Item = &'a str>) -> PathBuf {
        let mut path = self.inner.root.join(area);
        path.extend(segments);
        path
    }

    fn data_path(&self, key: &ObjectKey) -> PathBuf {
        self.under("data", key.segments())
    }

    fn meta_path(&self, key: &ObjectKey) -> PathBuf {
        self.under("meta", key.segments())
    }

    fn url(&self, key: &ObjectKey, query: &str) -> String {
        format!("{}/v1/objects/{key}?{query}", self.inner.base_url)
    }

    /// Opens an object for streaming, with its metadata.
    pub async fn open(
        &self,
        key: &ObjectKey,
    ) -> anyhow::Result<Option<(tokio::fs::File, ObjectMeta)>> {
        let Some(meta) = self.head(key).await? else {
            return Ok(None);
        };
        match tokio::fs::File::open(self.data_path(key)).await {
            Ok(file) => Ok(Some((file, meta))),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).context("opening a stored object"),
        }
    }

    /// A fresh file under `tmp/` for a write in progress.
    pub async fn temp_file(&self) -> anyhow::Result<(PathBuf, tokio::fs::File)> {
        let dir = self.inner.root.join("tmp");
        tokio::fs::create_dir_all(&dir)
            .await
            .with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(uuid::Uuid::new_v4().simple().to_string());
        let file = tokio::fs::File::create(&path)
            .await
            .with_context(|| format!("creating {}", path.display()))?;
        Ok((path, file))
    }

    /// Moves a finished temporary file into place as `key`.
    pub async fn commit_temp(
        &self,
        temp: &Path,
        key: &ObjectKey,
        content_type: &str,
    ) -> anyhow::Result<()> {
        let (data, meta) = (self.data_path(key), self.meta_path(key));
        for path in [&data, &meta] {
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
        }
        let (meta_temp, mut meta_file) = self.temp_file().await?;
        meta_file.write_all(content_type.as_bytes()).await?;
        meta_file.flush().await?;
        tokio::fs::rename(&meta_temp, &meta).await.context("storing an object's type")?;
        tokio::fs::rename(temp, &data).await.context("storing an object")?;
        Ok(())
    }
}

fn missing_is_none<T>(result: std::io::Result<T>) -> std::io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

async fn remove_if_present(path: &Path) -> std::io::Result<()> {
    missing_is_none(tokio::fs::remove_file(path).await).map(drop)
}

/// Counts the files below `dir` (none if it does not exist).
async fn count_files(dir: &Path) -> std::io::Result<u64> {
    let mut count = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Some(mut entries) = missing_is_none(tokio::fs::read_dir(&dir).await)? else { continue };
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_type().await?.is_dir() {
                pending.push(entry.path());
            } else {
                count += 1;
            }
        }
    }
    Ok(count)
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn check(&self) -> anyhow::Result<()> {
        let (path, mut file) = self.temp_file().await.context("STORAGE_DIR is not writable")?;
        file.write_all(b"probe").await?;
        drop(file);
        remove_if_present(&path).await?;
        Ok(())
    }

    async fn put(
        &self,
        key: &ObjectKey,
        body: ObjectBody,
        content_type: &str,
    ) -> anyhow::Result<()> {
        let (temp, mut file) = self.temp_file().await?;
        let written = async {
            match body {
                ObjectBody::Bytes(data) => file.write_all(&data).await?,
                ObjectBody::File { file: mut source, .. } => {
                    source.seek(std::io::SeekFrom::Start(0)).await?;
                    tokio::io::copy(&mut source, &mut file).await?;
                }
            }
            file.flush().await
        }
        .await;
        if let Err(err) = written {
            let _ = remove_if_present(&temp).await;
            return Err(err).context("writing an object");
        }
        drop(file);
        self.commit_temp(&temp, key, content_type).await
    }

    async fn get(&self, key: &ObjectKey) -> anyhow::Result<Option<Object>> {
        let Some(meta) = self.head(key).await? else {
            return Ok(None);
        };
        let data = missing_is_none(tokio::fs::read(self.data_path(key)).await)
            .context("reading an object")?;
        Ok(data.map(|data| Object { data: Bytes::from(data), content_type: meta.content_type }))
    }

    async fn head(&self, key: &ObjectKey) -> anyhow::Result<Option<ObjectMeta>> {
        let Some(metadata) = missing_is_none(tokio::fs::metadata(self.data_path(key)).await)?
        else {
            return Ok(None);
        };
        let content_type = missing_is_none(tokio::fs::read_to_string(self.meta_path(key)).await)?
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        Ok(Some(ObjectMeta { size: metadata.len(), content_type }))
    }

    async fn read_start(&self, key: &ObjectKey, len: u64) -> anyhow::Result<Option<Bytes>> {
        let Some(file) = missing_is_none(tokio::fs::File::open(self.data_path(key)).await)? else {
            return Ok(None);
        };
        let mut data = Vec::new();
        file.take(len).read_to_end(&mut data).await?;
        Ok(Some(Bytes::from(data)))
    }

    async fn copy(
        &self,
        from: &ObjectKey,
        to: &ObjectKey,
        content_type: &str,
    ) -> anyhow::Result<bool> {
        // Writes replace files by renaming, so the open file is one whole version.
        let Some(mut source) = missing_is_none(tokio::fs::File::open(self.data_path(from)).await)?
        else {
            return Ok(false);
        };
        let (temp, mut file) = self.temp_file().await?;
        let copied = async {
            tokio::io::copy(&mut source, &mut file).await?;
            file.flush().await
        }
        .await;
        drop(file);
        if let Err(err) = copied {
            let _ = remove_if_present(&temp).await;
            return Err(err).context("copying an object");
        }
        self.commit_temp(&temp, to, content_type).await?;
        Ok(true)
    }

    async fn delete(&self, key: &ObjectKey) -> anyhow::Result<()> {
        remove_if_present(&self.data_path(key)).await.context("deleting an object")?;
        remove_if_present(&self.meta_path(key)).await.context("deleting an object's type")?;
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &KeyPrefix) -> anyhow::Result<u64> {
        let data = self.under("data", prefix.segments());
        let count = count_files(&data).await?;
        for dir in [data, self.under("meta", prefix.segments())] {
            missing_is_none(tokio::fs::remove_dir_all(&dir).await)
                .with_context(|| format!("removing {}", dir.display()))?;
        }
        Ok(count)
    }

    async fn presign_put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> anyhow::Result<PresignedRequest> {
        let expires_at = now_unix() + ttl.as_secs();
        let grant = Grant::Put { content_type: content_type.to_owned(), content_length };
        Ok(PresignedRequest {
            method: "PUT",
            url: self.url(key, &self.inner.signer.query(key, &grant, expires_at)),
            headers: vec![
                ("Content-Type".to_owned(), content_type.to_owned()),
                ("Content-Length".to_owned(), content_length.to_string()),
            ],
            expires_at,
        })
    }

    async fn get_url(&self, key: &ObjectKey, ttl: Duration) -> anyhow::Result<String> {
        let (start, length) = url_window(now_unix(), ttl);
        Ok(self.url(key, &self.inner.signer.query(key, &Grant::Get, start + length)))
    }

    fn as_local(&self) -> Option<LocalStore> {
        Some(self.clone())
    }
}
