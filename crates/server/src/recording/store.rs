//! Where encrypted recordings live: the local disk (the default) or an S3-compatible object
//! store through `object_store`.
//!
//! Both backends write every chunk to a local file first and flush it to disk before going
//! on, which is what makes a crash lose only the chunk being written. On the local disk that
//! file is the recording itself. With S3 it is a spool file: the same bytes also stream into a
//! multipart upload as the recording grows (a part every 5 MiB), the upload is completed when
//! the recording stops, and the spool file is removed. After a crash the multipart upload is
//! abandoned (bucket lifecycle rules expire it) and start-up recovery uploads the spool file
//! instead, so the stored object is always one whole, readable object.
//!
//! A spool file holds exactly the object's bytes: encrypted chunks behind a header without a
//! key (the key is in the database, [`super::keys`]), so one left behind by a crash, or
//! copied, is no more readable than the object once the recording's key is deleted.

use crate::config::{StorageProvider, StorageSettings};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// S3 parts are at least 5 MiB (the protocol's minimum except for the last part).
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts uploading at once per recording; bounds the memory a slow store can hold up.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the recording's stored object does not exist")]
    NotFound,
    #[error("storage is misconfigured: {0}")]
    Config(String),
    #[error("local storage failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("object storage failed: {0}")]
    Object(object_store::Error),
}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound,
            other => StoreError::Object(other),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Store {
    Local { root: PathBuf },
    S3 { store: Arc<AmazonS3>, spool: PathBuf },
}

/// A storage key: `recordings/<call>/<recording>.vrec`, built from ids only, so it can never
/// climb out of the storage root.
pub fn key_for(call: uuid::Uuid, recording: uuid::Uuid) -> String {
    format!("recordings/{call}/{recording}.vrec")
}

fn checked(key: &str) -> Result<&str, StoreError> {
    let ok = !key.is_empty()
        && key
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '.' | '_'));
    if ok {
        Ok(key)
    } else {
        Err(StoreError::Config("invalid storage key".into()))
    }
}

impl Store {
    pub fn from_settings(s: &StorageSettings, data_dir: &Path) -> Result<Store, StoreError> {
        match s.provider {
            StorageProvider::Local => Ok(Store::Local {
                root: data_dir.to_path_buf(),
            }),
            StorageProvider::S3 => {
                let bucket = s
                    .bucket
                    .clone()
                    .ok_or_else(|| StoreError::Config("STORAGE_BUCKET is required for S3 storage".into()))?;
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(&s.region);
                if let Some(endpoint) = &s.endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let (Some(id), Some(secret)) = (&s.access_key_id, &s.secret_access_key) {
                    use secrecy::ExposeSecret;
                    builder = builder
                        .with_access_key_id(id)
                        .with_secret_access_key(secret.expose_secret());
                }
                let store = builder.build().map_err(|e| StoreError::Config(e.to_string()))?;
                Ok(Store::S3 {
                    store: Arc::new(store),
                    spool: data_dir.join("spool"),
                })
            }
        }
    }

    /// The local file a recording is written to (the recording itself, or its S3 spool).
    fn local_path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let key = checked(key)?;
        Ok(match self {
            Store::Local { root } => root.join(key),
            Store::S3 { spool, .. } => spool.join(key),
        })
    }

    /// Starts a new stored object; fails if one already exists under `key`.
    pub async fn create(&self, key: &str) -> Result<Upload, StoreError> {
        let path = self.local_path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&path).await?;
        let multipart = match self {
            Store::Local { .. } => None,
            Store::S3 { store, .. } => {
                let upload = store.put_multipart(&ObjectPath::from(key)).await?;
                Some(WriteMultipart::new_with_chunk_size(upload, PART_SIZE))
            }
        };
        Ok(Upload {
            file,
            path,
            multipart,
            written: 0,
        })
    }

    /// The stored object's size in bytes.
    pub async fn size(&self, key: &str) -> Result<u64, StoreError> {
        match self {
            Store::Local { .. } => match tokio::fs::metadata(self.local_path(key)?).await {
                Ok(m) => Ok(m.len()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound),
                Err(e) => Err(e.into()),
            },
            Store::S3 { store, .. } => Ok(store.head(&ObjectPath::from(checked(key)?)).await?.size),
        }
    }

    pub async fn read_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        match self {
            Store::Local { .. } => {
                let mut file = open_local(&self.local_path(key)?).await?;
                file.seek(std::io::SeekFrom::Start(range.start)).await?;
                let mut buf = Vec::new();
                file.take(range.end.saturating_sub(range.start))
                    .read_to_end(&mut buf)
                    .await?;
                Ok(buf.into())
            }
            Store::S3 { store, .. } => Ok(store.get_range(&ObjectPath::from(checked(key)?), range).await?),
        }
    }

    /// The stored object from `offset` to its end, as it arrives.
    pub async fn read_from(
        &self,
        key: &str,
        offset: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
        match self {
            Store::Local { .. } => {
                let mut file = open_local(&self.local_path(key)?).await?;
                file.seek(std::io::SeekFrom::Start(offset)).await?;
                let stream = futures_util::stream::unfold(file, |mut file| async move {
                    let mut buf = vec![0u8; 256 * 1024];
                    match file.read(&mut buf).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buf.truncate(n);
                            Some((Ok(Bytes::from(buf)), file))
                        }
                        Err(e) => Some((Err(StoreError::Io(e)), file)),
                    }
                });
                Ok(stream.boxed())
            }
            Store::S3 { store, .. } => {
                let options = GetOptions {
                    range: Some(GetRange::Offset(offset)),
                    ..Default::default()
                };
                let result = store.get_opts(&ObjectPath::from(checked(key)?), options).await?;
                Ok(result.into_stream().map(|r| r.map_err(StoreError::from)).boxed())
            }
        }
    }

    /// Removes a stored object (and any spool file left by a crash). Missing is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.local_path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        if let Store::S3 { store, .. } = self {
            match store.delete(&ObjectPath::from(checked(key)?)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// After a crash: makes what was written under `key` the stored object. On S3 the spool
    /// file is uploaded whole; on the local disk the file already is the recording.
    pub async fn recover(&self, key: &str) -> Result<(), StoreError> {
        let Store::S3 { store, .. } = self else { return Ok(()) };
        let path = self.local_path(key)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut upload =
            WriteMultipart::new_with_chunk_size(store.put_multipart(&ObjectPath::from(key)).await?, PART_SIZE);
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            upload.write(&buf[..n]);
            upload.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        }
        upload.finish().await?;
        tokio::fs::remove_file(&path).await?;
        Ok(())
    }
}

impl Store {
    /// The keys of the spool files on this node (S3 only: on the local disk the file is the
    /// recording itself and is never a leftover).
    pub async fn spooled(&self) -> Result<Vec<String>, StoreError> {
        let Store::S3 { spool, .. } = self else {
            return Ok(Vec::new());
        };
        let mut keys = Vec::new();
        let mut dirs = vec![spool.clone()];
        while let Some(dir) = dirs.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            while let Some(entry) = entries.next_entry().await? {
                let path = entry.path();
                if entry.file_type().await?.is_dir() {
                    dirs.push(path);
                } else if let Ok(relative) = path.strip_prefix(spool)
                    && let Some(key) = relative.to_str()
                    && checked(key).is_ok()
                {
                    keys.push(key.to_string());
                }
            }
        }
        Ok(keys)
    }

    /// Removes the spool file of `key` (S3 only), leaving the stored object alone.
    pub async fn remove_spool(&self, key: &str) -> Result<(), StoreError> {
        if !matches!(self, Store::S3 { .. }) {
            return Ok(());
        }
        match tokio::fs::remove_file(self.local_path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

async fn open_local(path: &Path) -> Result<tokio::fs::File, StoreError> {
    match tokio::fs::File::open(path).await {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// A stored object being written: append-only, each append on disk before it returns.
pub struct Upload {
    file: tokio::fs::File,
    path: PathBuf,
    multipart: Option<WriteMultipart>,
    written: u64,
}

impl Upload {
    pub async fn append(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.file.write_all(bytes).await?;
        self.file.sync_data().await?;
        self.written += bytes.len() as u64;
        if let Some(multipart) = &mut self.multipart {
            multipart.write(bytes);
            multipart.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        }
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Completes the object; returns its size.
    pub async fn finish(mut self) -> Result<u64, StoreError> {
        self.file.sync_all().await?;
        if let Some(multipart) = self.multipart.take() {
            multipart.finish().await?;
            drop(self.file);
            tokio::fs::remove_file(&self.path).await?;
        }
        Ok(self.written)
    }
}
