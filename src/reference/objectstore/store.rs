//! The object store's state: its configuration, the data directory and the in-memory index of
//! buckets and object metadata. Object bytes live only on disk, each version in a file with a
//! generated name (keys never become paths); the index holds metadata only, so memory does not
//! grow with object sizes. Metadata is also written beside each object so that a store opened
//! again on the same data directory finds its buckets and objects.
//!
//! Layout under the data directory:
//! `buckets/<name>.json` (one per bucket), `objects/<id>.data` + `objects/<id>.json` (one pair
//! per object version), `tmp/` (uploads in progress, renamed into `objects/` when complete).

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::ObjectStoreError;
use super::names::{BucketName, ObjectKey};
use super::sigv4::Credentials;
use super::xml::ListEntry;

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

/// A handle on the store; cheap to clone, all clones share the same state.
#[derive(Clone)]
pub struct ObjectStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret key stays out of logs.
        f.debug_struct("ObjectStore")
            .field("access_key", &self.inner.access_key)
            .field("region", &self.inner.region)
            .field("data_dir", &self.inner.root)
            .finish()
    }
}

struct Inner {
    access_key: String,
    secret_key: String,
    region: String,
    root: PathBuf,
    /// Keeps the temporary data directory alive (and deletes it with the last handle).
    _temp_dir: Option<tempfile::TempDir>,
    buckets: RwLock<BTreeMap<BucketName, Bucket>>,
}

struct Bucket {
    created: DateTime<Utc>,
    objects: BTreeMap<String, Arc<ObjectMeta>>,
}

/// What the store knows about one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ObjectMeta {
    pub bucket: String,
    pub key: String,
    /// Name stem of the data file under `objects/`.
    pub file: String,
    pub size: u64,
    pub md5_hex: String,
    pub crc32: u32,
    pub last_modified: DateTime<Utc>,
    /// Stored representation headers (content-type, cache-control, ...), lower-case names.
    pub headers: BTreeMap<String, String>,
    /// `x-amz-meta-*` metadata, lower-case names without the prefix.
    pub metadata: BTreeMap<String, String>,
}

impl ObjectMeta {
    /// The quoted MD5 hex digest S3 uses as ETag for single-part uploads.
    pub(crate) fn etag(&self) -> String {
        format!("\"{}\"", self.md5_hex)
    }
}

#[derive(Serialize, Deserialize)]
struct BucketRecord {
    name: String,
    created: DateTime<Utc>,
}

/// One page of an object listing.
#[derive(Debug)]
pub(crate) struct ListPage {
    pub entries: Vec<ListEntry>,
    pub truncated: bool,
    /// The key or common prefix to resume after when `truncated`.
    pub next_marker: Option<String>,
}

/// What to list.
pub(crate) struct ListQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// List only keys after this one (exclusive).
    pub after: Option<&'a str>,
    pub max_keys: usize,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ObjectStoreError + '_ {
    move |source| ObjectStoreError::DataDir {
        path: path.to_owned(),
        source,
    }
}

fn lock_poisoned<T>(poisoned: PoisonError<T>) -> T {
    // The index is only mutated by single insert/remove calls, so a panic elsewhere cannot have
    // left it half-updated; carrying on is safe.
    poisoned.into_inner()
}

impl ObjectStore {
    /// Opens (or creates) the data directory and loads what an earlier store left there.
    pub fn new(config: ObjectStoreConfig) -> Result<Self, ObjectStoreError> {
        for (what, value) in [
            ("access key", &config.access_key),
            ("secret key", &config.secret_key),
            ("region", &config.region),
        ] {
            if value.trim().is_empty() {
                return Err(ObjectStoreError::Config(format!("{what} is empty")));
            }
        }
        let (root, temp_dir) = match config.data_dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("dsp-harness-objectstore-")
                    .tempdir()
                    .map_err(io_error(&std::env::temp_dir()))?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        for sub in ["buckets", "objects", "tmp"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        }
        let buckets = load(&root)?;
        Ok(Self {
            inner: Arc::new(Inner {
                access_key: config.access_key,
                secret_key: config.secret_key,
                region: config.region,
                root,
                _temp_dir: temp_dir,
                buckets: RwLock::new(buckets),
            }),
        })
    }

    /// The directory the objects are stored in.
    pub fn data_dir(&self) -> &Path {
        &self.inner.root
    }

    /// The region requests must be signed for.
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    pub(crate) fn credentials(&self) -> Credentials<'_> {
        Credentials {
            access_key: &self.inner.access_key,
            secret_key: &self.inner.secret_key,
            region: &self.inner.region,
        }
    }

    pub(crate) fn list_buckets(&self) -> Vec<(BucketName, DateTime<Utc>)> {
        let buckets = self.inner.buckets.read().unwrap_or_else(lock_poisoned);
        buckets
            .iter()
            .map(|(name, b)| (name.clone(), b.created))
            .collect()
    }

    pub(crate) fn check_bucket(&self, bucket: &BucketName) -> Result<(), ObjectStoreError> {
        let buckets = self.inner.buckets.read().unwrap_or_else(lock_poisoned);
        if buckets.contains_key(bucket) {
            Ok(())
        } else {
            Err(ObjectStoreError::NoSuchBucket(bucket.to_string()))
        }
    }

    pub(crate) async fn create_bucket(&self, bucket: &BucketName) -> Result<(), ObjectStoreError> {
        let record = BucketRecord {
            name: bucket.to_string(),
            created: Utc::now(),
        };
        {
            let mut buckets = self.inner.buckets.write().unwrap_or_else(lock_poisoned);
            if buckets.contains_key(bucket) {
                return Err(ObjectStoreError::BucketAlreadyOwnedByYou(
                    bucket.to_string(),
                ));
            }
            buckets.insert(
                bucket.clone(),
                Bucket {
                    created: record.created,
                    objects: BTreeMap::new(),
                },
            );
        }
        let written = write_json(&self.inner.root, &self.bucket_record_path(bucket), &record).await;
        if written.is_err() {
            let mut buckets = self.inner.buckets.write().unwrap_or_else(lock_poisoned);
            buckets.remove(bucket);
        }
        written
    }

    pub(crate) async fn delete_bucket(&self, bucket: &BucketName) -> Result<(), ObjectStoreError> {
        {
            let mut buckets = self.inner.buckets.write().unwrap_or_else(lock_poisoned);
            match buckets.get(bucket) {
                None => return Err(ObjectStoreError::NoSuchBucket(bucket.to_string())),
                Some(b) if !b.objects.is_empty() => {
                    return Err(ObjectStoreError::BucketNotEmpty(bucket.to_string()))
                }
                Some(_) => {
                    buckets.remove(bucket);
                }
            }
        }
        remove_if_present(&self.bucket_record_path(bucket)).await;
        Ok(())
    }

    pub(crate) fn object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Arc<ObjectMeta>, ObjectStoreError> {
        let buckets = self.inner.buckets.read().unwrap_or_else(lock_poisoned);
        let b = buckets
            .get(bucket)
            .ok_or_else(|| ObjectStoreError::NoSuchBucket(bucket.to_string()))?;
        b.objects
            .get(key.as_str())
            .cloned()
            .ok_or_else(|| ObjectStoreError::NoSuchKey {
                bucket: bucket.to_string(),
                key: key.to_string(),
            })
    }

    /// Where the bytes of an object version live.
    pub(crate) fn data_path(&self, meta: &ObjectMeta) -> PathBuf {
        self.inner
            .root
            .join("objects")
            .join(format!("{}.data", meta.file))
    }

    fn meta_path(&self, file: &str) -> PathBuf {
        self.inner.root.join("objects").join(format!("{file}.json"))
    }

    fn bucket_record_path(&self, bucket: &BucketName) -> PathBuf {
        self.inner
            .root
            .join("buckets")
            .join(format!("{bucket}.json"))
    }

    /// A fresh path under `tmp/` for an upload in progress, and the id its object will carry.
    pub(crate) fn upload_path(&self) -> (PathBuf, String) {
        let id = uuid::Uuid::new_v4().simple().to_string();
        (self.inner.root.join("tmp").join(format!("{id}.part")), id)
    }

    /// Moves a completed upload into place and makes it visible, replacing any earlier version.
    pub(crate) async fn commit_object(
        &self,
        upload: &Path,
        meta: ObjectMeta,
    ) -> Result<(), ObjectStoreError> {
        let bucket = BucketName::parse(&meta.bucket)?;
        let data = self.data_path(&meta);
        tokio::fs::rename(upload, &data).await?;
        if let Err(e) = write_json(&self.inner.root, &self.meta_path(&meta.file), &meta).await {
            remove_if_present(&data).await;
            return Err(e);
        }
        let file = meta.file.clone();
        let outcome = {
            let mut buckets = self.inner.buckets.write().unwrap_or_else(lock_poisoned);
            match buckets.get_mut(&bucket) {
                None => Err(ObjectStoreError::NoSuchBucket(bucket.to_string())),
                Some(b) => Ok(b.objects.insert(meta.key.clone(), Arc::new(meta))),
            }
        };
        match outcome {
            Err(e) => {
                // The bucket was deleted while the upload streamed in.
                self.remove_files(&file).await;
                Err(e)
            }
            Ok(replaced) => {
                if let Some(old) = replaced {
                    self.remove_files(&old.file).await;
                }
                Ok(())
            }
        }
    }

    /// Deletes an object; deleting a missing key succeeds, as in S3.
    pub(crate) async fn delete_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<(), ObjectStoreError> {
        let removed = {
            let mut buckets = self.inner.buckets.write().unwrap_or_else(lock_poisoned);
            let b = buckets
                .get_mut(bucket)
                .ok_or_else(|| ObjectStoreError::NoSuchBucket(bucket.to_string()))?;
            b.objects.remove(key.as_str())
        };
        if let Some(old) = removed {
            self.remove_files(&old.file).await;
        }
        Ok(())
    }

    async fn remove_files(&self, file: &str) {
        // Readers that already opened the data file keep reading it: unlinking does not cut them off.
        remove_if_present(&self.inner.root.join("objects").join(format!("{file}.data"))).await;
        remove_if_present(&self.meta_path(file)).await;
    }

    pub(crate) fn list_objects(
        &self,
        bucket: &BucketName,
        query: &ListQuery<'_>,
    ) -> Result<ListPage, ObjectStoreError> {
        let buckets = self.inner.buckets.read().unwrap_or_else(lock_poisoned);
        let b = buckets
            .get(bucket)
            .ok_or_else(|| ObjectStoreError::NoSuchBucket(bucket.to_string()))?;
        Ok(list_page(&b.objects, query))
    }
}

/// The common prefix `key` rolls up into under `prefix` and `delimiter`, if any.
fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    rest.find(delimiter)
        .map(|i| &key[..prefix.len() + i + delimiter.len()])
}

/// Lists one page in key order, rolling keys up into common prefixes when a delimiter is given.
pub(crate) fn list_page(
    objects: &BTreeMap<String, Arc<ObjectMeta>>,
    query: &ListQuery<'_>,
) -> ListPage {
    let mut page = ListPage {
        entries: Vec::new(),
        truncated: false,
        next_marker: None,
    };
    if query.max_keys == 0 {
        return page;
    }
    let start = match query.after {
        Some(after) if after >= query.prefix => Bound::Excluded(after),
        _ => Bound::Included(query.prefix),
    };
    // Resuming after a common prefix must not list that prefix again.
    let mut last_prefix: Option<String> = query
        .after
        .filter(|after| after.starts_with(query.prefix))
        .and_then(|after| {
            common_prefix(after, query.prefix, query.delimiter).filter(|cp| *cp == after)
        })
        .map(str::to_owned);
    for (key, meta) in objects.range::<str, _>((start, Bound::Unbounded)) {
        if !key.starts_with(query.prefix) {
            // Keys sharing a prefix are contiguous in key order: nothing further can match.
            break;
        }
        let entry = match common_prefix(key, query.prefix, query.delimiter) {
            Some(cp) if last_prefix.as_deref() == Some(cp) => continue,
            Some(cp) => ListEntry::Prefix(cp.to_owned()),
            None => ListEntry::Object(meta.clone()),
        };
        if page.entries.len() == query.max_keys {
            page.truncated = true;
            break;
        }
        if let ListEntry::Prefix(cp) = &entry {
            last_prefix = Some(cp.clone());
        }
        page.entries.push(entry);
    }
    if page.truncated {
        page.next_marker = page.entries.last().map(|entry| match entry {
            ListEntry::Object(meta) => meta.key.clone(),
            ListEntry::Prefix(cp) => cp.clone(),
        });
    }
    page
}

async fn remove_if_present(path: &Path) {
    if let Err(e) = tokio::fs::remove_file(path).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "could not remove object store file");
        }
    }
}

/// Writes JSON through a temporary file and a rename, so a crash never leaves half a record.
async fn write_json<T: Serialize>(
    root: &Path,
    path: &Path,
    value: &T,
) -> Result<(), ObjectStoreError> {
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    let tmp = root
        .join("tmp")
        .join(format!("{}.json", uuid::Uuid::new_v4().simple()));
    tokio::fs::write(&tmp, bytes).await?;
    if let Err(e) = tokio::fs::rename(&tmp, path).await {
        remove_if_present(&tmp).await;
        return Err(e.into());
    }
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, ObjectStoreError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(out)
}

/// Rebuilds the index from the data directory, dropping leftovers of interrupted work
/// (uploads in `tmp/`, data files without metadata, superseded versions).
fn load(root: &Path) -> Result<BTreeMap<BucketName, Bucket>, ObjectStoreError> {
    let tmp = root.join("tmp");
    for entry in std::fs::read_dir(&tmp).map_err(io_error(&tmp))? {
        let _ = std::fs::remove_file(entry.map_err(io_error(&tmp))?.path());
    }
    let mut buckets = BTreeMap::new();
    for path in json_files(&root.join("buckets"))? {
        match read_json::<BucketRecord>(&path)
            .and_then(|r| Some((BucketName::parse(&r.name).ok()?, r.created)))
        {
            Some((name, created)) => {
                buckets.insert(
                    name,
                    Bucket {
                        created,
                        objects: BTreeMap::new(),
                    },
                );
            }
            None => tracing::warn!(path = %path.display(), "ignoring unreadable bucket record"),
        }
    }
    let objects_dir = root.join("objects");
    let mut stale: Vec<String> = Vec::new();
    for path in json_files(&objects_dir)? {
        let Some(meta) = read_json::<ObjectMeta>(&path) else {
            let _ = std::fs::remove_file(&path);
            continue;
        };
        let data = objects_dir.join(format!("{}.data", meta.file));
        let intact = std::fs::metadata(&data).is_ok_and(|m| m.len() == meta.size);
        let bucket = BucketName::parse(&meta.bucket)
            .ok()
            .and_then(|b| buckets.get_mut(&b));
        match (bucket, intact) {
            (Some(bucket), true) => {
                let newer = bucket
                    .objects
                    .get(&meta.key)
                    .is_none_or(|existing| existing.last_modified <= meta.last_modified);
                if newer {
                    if let Some(old) = bucket.objects.insert(meta.key.clone(), Arc::new(meta)) {
                        stale.push(old.file.clone());
                    }
                } else {
                    stale.push(meta.file);
                }
            }
            _ => stale.push(meta.file),
        }
    }
    for file in &stale {
        let _ = std::fs::remove_file(objects_dir.join(format!("{file}.data")));
        let _ = std::fs::remove_file(objects_dir.join(format!("{file}.json")));
    }
    let live: HashSet<&str> = buckets
        .values()
        .flat_map(|b| b.objects.values().map(|m| m.file.as_str()))
        .collect();
    for entry in std::fs::read_dir(&objects_dir).map_err(io_error(&objects_dir))? {
        let path = entry.map_err(io_error(&objects_dir))?.path();
        let orphan = path.extension().is_some_and(|e| e == "data")
            && path
                .file_stem()
                .and_then(|s| s.to_str())
                .is_some_and(|s| !live.contains(s));
        if orphan {
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(buckets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(key: &str) -> Arc<ObjectMeta> {
        Arc::new(ObjectMeta {
            bucket: "bucket".to_owned(),
            key: key.to_owned(),
            file: key.replace('/', "_"),
            size: 1,
            md5_hex: String::new(),
            crc32: 0,
            last_modified: Utc::now(),
            headers: BTreeMap::new(),
            metadata: BTreeMap::new(),
        })
    }

    fn names(page: &ListPage) -> Vec<String> {
        page.entries
            .iter()
            .map(|e| match e {
                ListEntry::Object(m) => m.key.clone(),
                ListEntry::Prefix(p) => format!("{p}*"),
            })
            .collect()
    }

    /// Lists `keys` with the given query parameters.
    fn check(
        keys: &[&str],
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max: usize,
    ) -> ListPage {
        let objects: BTreeMap<String, Arc<ObjectMeta>> =
            keys.iter().map(|k| (k.to_string(), meta(k))).collect();
        list_page(
            &objects,
            &ListQuery {
                prefix,
                delimiter,
                after,
                max_keys: max,
            },
        )
    }

    const KEYS: &[&str] = &["a/1", "a/2", "b", "c/x/1", "c/y", "d"];

    #[test]
    fn lists_with_prefix_and_pagination() {
        let page = check(KEYS, "", None, None, 4);
        assert_eq!(names(&page), ["a/1", "a/2", "b", "c/x/1"]);
        assert!(page.truncated);
        assert_eq!(page.next_marker.as_deref(), Some("c/x/1"));
        let rest = check(KEYS, "", None, page.next_marker.as_deref(), 4);
        assert_eq!(names(&rest), ["c/y", "d"]);
        assert!(!rest.truncated);
        assert_eq!(names(&check(KEYS, "c/", None, None, 10)), ["c/x/1", "c/y"]);
        assert_eq!(
            names(&check(KEYS, "zz", None, None, 10)),
            Vec::<String>::new()
        );
        assert!(check(KEYS, "", None, None, 0).entries.is_empty());
    }

    #[test]
    fn rolls_up_common_prefixes_across_pages() {
        assert_eq!(
            names(&check(KEYS, "", Some("/"), None, 10)),
            ["a/*", "b", "c/*", "d"]
        );
        assert_eq!(
            names(&check(KEYS, "c/", Some("/"), None, 10)),
            ["c/x/*", "c/y"]
        );
        let first = check(KEYS, "", Some("/"), None, 1);
        assert_eq!(names(&first), ["a/*"]);
        assert_eq!(first.next_marker.as_deref(), Some("a/"));
        let second = check(KEYS, "", Some("/"), first.next_marker.as_deref(), 2);
        assert_eq!(names(&second), ["b", "c/*"]);
        let third = check(KEYS, "", Some("/"), second.next_marker.as_deref(), 2);
        assert_eq!(names(&third), ["d"]);
        assert!(!third.truncated);
    }
}
