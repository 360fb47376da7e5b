//! The object store's state: its configuration and the s3s service over an s3s-fs file system.
//! s3s-fs keeps each object at `<data dir>/<bucket>/<key>` with its metadata in hidden JSON
//! files beside the buckets, so a store opened again on the same data directory finds what an
//! earlier one left there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use s3s::auth::{S3Auth, SecretKey};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{s3_error, S3Result};

use super::access::Guard;
use super::backend::Backend;
use super::error::ObjectStoreError;

/// How the store is set up. The store accepts requests signed with exactly this key pair, for
/// this region.
#[derive(Debug, Clone)]
pub struct ObjectStoreConfig {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    /// Where objects are kept; a fresh temporary directory (removed when the store is dropped)
    /// when `None`.
    pub data_dir: Option<PathBuf>,
}

/// A handle on the store; cheap to clone, all clones share the same state. Its `Debug` shows no
/// key: the key pair lives inside the s3s service, whose `Debug` prints nothing of it.
#[derive(Clone, Debug)]
pub struct ObjectStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    service: S3Service,
    region: String,
    root: PathBuf,
    /// Keeps the temporary data directory alive (and deletes it with the last handle).
    _temp_dir: Option<tempfile::TempDir>,
}

/// The one key pair the store knows. s3s's `SimpleAuth` answers an unknown key with
/// `NotSignedUp`; S3 (and clients' error handling) say `InvalidAccessKeyId`.
struct SingleKey {
    access_key: String,
    secret_key: SecretKey,
}

#[async_trait::async_trait]
impl S3Auth for SingleKey {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.access_key {
            Ok(self.secret_key.clone())
        } else {
            Err(s3_error!(InvalidAccessKeyId, "the access key id does not exist in our records"))
        }
    }
}

impl ObjectStore {
    /// Opens (or creates) the data directory and loads what an earlier store left there.
    pub fn new(config: ObjectStoreConfig) -> Result<Self, ObjectStoreError> {
        for (what, value) in [("access key", &config.access_key), ("secret key", &config.secret_key), ("region", &config.region)] {
            if value.trim().is_empty() {
                return Err(ObjectStoreError::Config(format!("{what} is empty")));
            }
        }
        let data_dir_error = |path: &Path, reason: String| ObjectStoreError::DataDir { path: path.to_owned(), reason };
        let (root, temp_dir) = match config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| data_dir_error(&dir, e.to_string()))?;
                (dir, None)
            }
            None => {
                let temp = tempfile::Builder::new().prefix("dsp-harness-objectstore-").tempdir();
                let temp = temp.map_err(|e| data_dir_error(&std::env::temp_dir(), e.to_string()))?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        // s3s-fs works on the canonical path; the bucket check in `Guard` must use the same one.
        let root = root.canonicalize().map_err(|e| data_dir_error(&root, e.to_string()))?;
        let fs = s3s_fs::FileSystem::new(&root).map_err(|e| data_dir_error(&root, format!("{e:?}")))?;
        let mut builder = S3ServiceBuilder::new(Backend { fs, root: root.clone() });
        builder.set_auth(SingleKey { access_key: config.access_key, secret_key: config.secret_key.into() });
        builder.set_access(Guard { region: config.region.clone(), root: root.clone() });
        let inner = Inner { service: builder.build(), region: config.region, root, _temp_dir: temp_dir };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The directory the objects are stored in.
    pub fn data_dir(&self) -> &Path {
        &self.inner.root
    }

    /// The region requests must be signed for.
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    pub(crate) fn service(&self) -> &S3Service {
        &self.inner.service
    }
}
