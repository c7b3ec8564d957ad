//! The media store: where every byte of media lives (chunks, originals, previews, raw
//! uploads, export, import and backup files).
//!
//! Every process has a *working folder*, its `--data-dir`, where files are written and
//! where tools (ffmpeg, the zip writers) read them. Without `--media-url` the working
//! folder is the store itself: nothing is copied, one machine works as it always did.
//! With `--media-url` (`s3://bucket/prefix`, or `file:///path` for a shared mount) the
//! bucket holds the truth and the working folder is scratch and cache:
//!
//! - a writer makes a file in its working folder and [`MediaStore::publish`]es it (a
//!   multipart upload read from the file, never whole in memory) before anything that
//!   names it becomes visible in the database;
//! - a reader that needs a real file (ffmpeg on a video chunk, an export reading
//!   original chunks) asks [`MediaStore::fetch`] for it, which downloads what is missing;
//!   the chunk server reads the bucket directly ([`crate::stored`]: ranged GETs);
//! - a removal ([`MediaStore::remove`]) removes the working copy and every object under
//!   the key.
//!
//! A key is the file's path relative to the working folder, with `/` between segments
//! (`data/7/compressed/0.zip`), so that the bucket has the local layout under its prefix.
//! A working copy fetched from the bucket never changes (data ids are never reused).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Parts of a multipart upload (S3 wants ≥ 5 MiB but the last); files up to one part
/// go in one `PUT`.
const PART: usize = 8 << 20;
/// Parts of one upload in flight at once (memory: this many parts).
const PARTS_IN_FLIGHT: usize = 2;
/// Longest wait for the bucket in a readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The bucket behind a working folder.
#[derive(Clone)]
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    /// What `--media-url` said, without credentials (for logs and errors).
    url: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// The working folder and, with `--media-url`, the bucket behind it.
#[derive(Clone, Debug)]
pub struct MediaStore {
    root: PathBuf,
    remote: Option<Remote>,
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn not_found(e: object_store::Error) -> std::io::Error {
    match e {
        object_store::Error::NotFound { .. } => std::io::Error::from(std::io::ErrorKind::NotFound),
        e => other(e),
    }
}

impl MediaStore {
    /// The working folder `root` as the store itself (one machine).
    pub fn local(root: &Path) -> MediaStore {
        MediaStore {
            root: root.to_path_buf(),
            remote: None,
        }
    }

    /// The store `url` names (`None`, empty: the working folder `root` itself).
    /// `s3://bucket/prefix` takes credentials, region and endpoint from the `AWS_*`
    /// variables; `file:///path` is a folder shared by every process (a mount).
    pub fn open(root: &Path, url: Option<&str>) -> Result<MediaStore, String> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(MediaStore::local(root));
        };
        let store: Arc<dyn ObjectStore> = if let Some(path) = url.strip_prefix("file://") {
            std::fs::create_dir_all(path).map_err(|e| format!("media store {url}: {e}"))?;
            Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(path)
                    .map_err(|e| format!("media store {url}: {e}"))?
                    .with_automatic_cleanup(true),
            )
        } else if url.starts_with("s3://") || url.starts_with("s3a://") {
            let (bucket_url, prefix) = split_prefix(url);
            let s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_url(bucket_url)
                .with_client_options(
                    object_store::ClientOptions::new()
                        .with_connect_timeout(Duration::from_secs(5))
                        .with_timeout(Duration::from_secs(300)),
                )
                .with_retry(object_store::RetryConfig {
                    max_retries: 3,
                    retry_timeout: Duration::from_secs(30),
                    ..Default::default()
                })
                .build()
                .map_err(|e| format!("media store {url}: {e}"))?;
            match prefix {
                Some(p) => Arc::new(object_store::prefix::PrefixStore::new(s3, p)),
                None => Arc::new(s3),
            }
        } else {
            return Err(format!(
                "media store {url}: not s3://bucket/prefix or file:///path"
            ));
        };
        Ok(MediaStore {
            root: root.to_path_buf(),
            remote: Some(Remote {
                store,
                url: url.to_string(),
            }),
        })
    }

    /// Whether a bucket stands behind the working folder.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// The key of a path inside the working folder (`None` outside it).
    pub fn key(&self, path: &Path) -> Option<Key> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let mut parts = Vec::new();
        for c in rel.components() {
            match c {
                std::path::Component::Normal(s) => parts.push(s.to_str()?.to_string()),
                std::path::Component::CurDir => {}
                _ => return None,
            }
        }
        if parts.is_empty() {
            return None;
        }
        Some(Key::from_iter(parts))
    }

    fn remote_key(&self, path: &Path) -> std::io::Result<Option<(&Remote, Key)>> {
        let Some(remote) = &self.remote else {
            return Ok(None);
        };
        let key = self
            .key(path)
            .ok_or_else(|| other(format!("{} is outside the data folder", path.display())))?;
        Ok(Some((remote, key)))
    }

    /// Puts the file or folder at `path` (in the working folder) into the bucket. Files
    /// are read in parts; nothing is held whole in memory.
    pub async fn publish(&self, path: &Path) -> std::io::Result<()> {
        let Some((remote, _)) = self.remote_key(path)? else {
            return Ok(());
        };
        let meta = tokio::fs::metadata(path).await?;
        let files = if meta.is_dir() {
            files_under(path).await?
        } else {
            vec![path.to_path_buf()]
        };
        let uploads = futures_util::stream::iter(files.into_iter().map(|f| async move {
            let key = self
                .key(&f)
                .ok_or_else(|| other(format!("{} is outside the data folder", f.display())))?;
            upload(remote.store.as_ref(), &key, &f).await
        }));
        uploads.buffer_unordered(4).try_collect::<Vec<()>>().await?;
        Ok(())
    }

    /// Makes sure the file at `path` is in the working folder (downloaded from the bucket
    /// when missing there). `NotFound` when it is in neither.
    pub async fn fetch(&self, path: &Path) -> std::io::Result<()> {
        if tokio::fs::try_exists(path).await.unwrap_or(false) {
            return Ok(());
        }
        let Some((remote, key)) = self.remote_key(path)? else {
            return Err(std::io::ErrorKind::NotFound.into());
        };
        download(remote.store.as_ref(), &key, path).await
    }

    /// Makes sure every file under the folder `dir` is in the working folder. Returns
    /// whether the folder exists (in the working folder or the bucket).
    pub async fn fetch_dir(&self, dir: &Path) -> std::io::Result<bool> {
        let Some((remote, key)) = self.remote_key(dir)? else {
            return Ok(tokio::fs::try_exists(dir).await.unwrap_or(false));
        };
        let objects: Vec<_> = remote
            .store
            .list(Some(&key))
            .try_collect()
            .await
            .map_err(other)?;
        if objects.is_empty() {
            return Ok(tokio::fs::try_exists(dir).await.unwrap_or(false));
        }
        let prefix: Vec<_> = key.parts().collect();
        let jobs = objects.into_iter().map(|o| {
            let mut path = dir.to_path_buf();
            for part in o.location.parts().skip(prefix.len()) {
                path.push(part.as_ref());
            }
            async move {
                if tokio::fs::metadata(&path)
                    .await
                    .is_ok_and(|m| m.len() == o.size)
                {
                    return Ok(());
                }
                download(remote.store.as_ref(), &o.location, &path).await
            }
        });
        futures_util::stream::iter(jobs)
            .buffer_unordered(4)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(true)
    }

    /// Whether the file at `path` is in the working folder or the bucket.
    pub async fn exists(&self, path: &Path) -> bool {
        crate::stored::locate(self, path).await.is_ok()
    }

    /// The names of the files directly in the folder `dir`: the working copy's and the
    /// bucket's.
    pub async fn names_in(&self, dir: &Path) -> Vec<String> {
        let mut names = Vec::new();
        if let Ok(mut entries) = tokio::fs::read_dir(dir).await {
            while let Ok(Some(e)) = entries.next_entry().await {
                names.extend(e.file_name().to_str().map(str::to_string));
            }
        }
        if let Ok(Some((remote, key))) = self.remote_key(dir)
            && let Ok(listed) = remote.store.list_with_delimiter(Some(&key)).await
        {
            names.extend(
                listed
                    .objects
                    .into_iter()
                    .filter_map(|o| o.location.filename().map(str::to_string)),
            );
        }
        names.sort();
        names.dedup();
        names
    }

    /// The size of the stored file at `path` in the bucket (`None`: not there, or no
    /// bucket).
    pub async fn remote_len(&self, path: &Path) -> std::io::Result<Option<u64>> {
        let Some((remote, key)) = self.remote_key(path)? else {
            return Ok(None);
        };
        match remote.store.head(&key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(other(e)),
        }
    }

    /// The bytes `range` of the file at `path` in the bucket.
    pub async fn remote_range(
        &self,
        path: &Path,
        range: std::ops::Range<u64>,
    ) -> std::io::Result<Bytes> {
        let Some((remote, key)) = self.remote_key(path)? else {
            return Err(std::io::ErrorKind::NotFound.into());
        };
        remote.store.get_range(&key, range).await.map_err(not_found)
    }

    /// The bytes `range` of the file at `path` in the bucket, as they arrive.
    pub async fn remote_stream(
        &self,
        path: &Path,
        range: std::ops::Range<u64>,
    ) -> std::io::Result<BoxStream<'static, std::io::Result<Bytes>>> {
        let Some((remote, key)) = self.remote_key(path)? else {
            return Err(std::io::ErrorKind::NotFound.into());
        };
        let options = object_store::GetOptions {
            range: Some(object_store::GetRange::Bounded(range)),
            ..Default::default()
        };
        let got = remote
            .store
            .get_opts(&key, options)
            .await
            .map_err(not_found)?;
        Ok(got.into_stream().map_err(other).boxed())
    }

    /// Removes the file or folder at `path`: the working copy and, with a bucket, every
    /// object under its key.
    pub async fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.remove_local(path).await?;
        let Some((remote, key)) = self.remote_key(path)? else {
            return Ok(());
        };
        let listed = remote.store.list(Some(&key)).map_ok(|m| m.location).boxed();
        remote
            .store
            .delete_stream(listed)
            .try_collect::<Vec<_>>()
            .await
            .map_err(other)?;
        match remote.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(other(e)),
        }
    }

    async fn remove_local(&self, path: &Path) -> std::io::Result<()> {
        let outcome = match tokio::fs::metadata(path).await {
            Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(path).await,
            Ok(_) => tokio::fs::remove_file(path).await,
            Err(e) => Err(e),
        };
        match outcome {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Whether the store takes a write and gives it back (readiness): the working
    /// folder always, the bucket too when there is one.
    pub async fn probe(&self) -> Result<(), String> {
        let dir = self.root.join("tmp");
        let probe = dir.join(format!(".ready-{}", crate::random_hex(6)));
        let local = async {
            tokio::fs::create_dir_all(&dir).await?;
            tokio::fs::write(&probe, b"ready").await?;
            if tokio::fs::read(&probe).await? != b"ready" {
                return Err(other("read back something else"));
            }
            Ok(())
        }
        .await;
        let _ = tokio::fs::remove_file(&probe).await;
        local.map_err(|e| format!("{}: {e}", dir.display()))?;
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let key = Key::from_iter([
            "tmp".to_string(),
            format!(".ready-{}", crate::random_hex(6)),
        ]);
        let round = async {
            remote
                .store
                .put(&key, PutPayload::from_static(b"ready"))
                .await?;
            let back = remote.store.get(&key).await?.bytes().await?;
            remote.store.delete(&key).await?;
            Ok::<_, object_store::Error>(back)
        };
        match tokio::time::timeout(PROBE_TIMEOUT, round).await {
            Ok(Ok(back)) if back.as_ref() == b"ready" => Ok(()),
            Ok(Ok(_)) => Err(format!("{}: read back something else", remote.url)),
            Ok(Err(e)) => Err(format!("{}: {e}", remote.url)),
            Err(_) => Err(format!(
                "{}: no answer in {} s",
                remote.url,
                PROBE_TIMEOUT.as_secs()
            )),
        }
    }
}

/// `s3://bucket/a/b` → (`s3://bucket`, `Some("a/b")`).
fn split_prefix(url: &str) -> (String, Option<Key>) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("s3", url));
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/');
    let key = (!prefix.is_empty()).then(|| Key::from(prefix));
    (format!("{scheme}://{bucket}"), key)
}

/// Every file below `dir`, depth first.
async fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries = tokio::fs::read_dir(&d).await?;
        while let Some(e) = entries.next_entry().await? {
            if e.file_type().await?.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    Ok(out)
}

/// The file at `from` into the bucket at `key`: one `PUT` when small, else a multipart
/// upload of 8 MiB parts, two in flight (aborted on failure, so that no part lingers).
async fn upload(store: &dyn ObjectStore, key: &Key, from: &Path) -> std::io::Result<()> {
    let mut file = tokio::fs::File::open(from).await?;
    let len = file.metadata().await?.len();
    if len <= PART as u64 {
        let mut buf = Vec::with_capacity(len as usize);
        file.read_to_end(&mut buf).await?;
        store.put(key, PutPayload::from(buf)).await.map_err(other)?;
        return Ok(());
    }
    let upload = store.put_multipart(key).await.map_err(other)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut buf = vec![0u8; 1 << 20];
    let outcome = async {
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(other)?;
            writer.write(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    }
    .await;
    match outcome {
        Ok(()) => writer.finish().await.map(|_| ()).map_err(other),
        Err(e) => {
            let _ = writer.abort().await;
            Err(e)
        }
    }
}

/// The object `key` into the file `to`, through a temporary file beside it (a reader
/// never sees half a file).
async fn download(store: &dyn ObjectStore, key: &Key, to: &Path) -> std::io::Result<()> {
    let got = store.get(key).await.map_err(not_found)?;
    if let Some(parent) = to.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let part = to.with_file_name(format!(
        ".{}.{}",
        to.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        crate::random_hex(4)
    ));
    let outcome = async {
        let mut file = tokio::fs::File::create(&part).await?;
        let mut stream = got.into_stream();
        while let Some(bytes) = stream.next().await {
            file.write_all(&bytes.map_err(other)?).await?;
        }
        file.flush().await?;
        drop(file);
        tokio::fs::rename(&part, to).await
    }
    .await;
    if outcome.is_err() {
        let _ = tokio::fs::remove_file(&part).await;
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_keys() {
        assert_eq!(
            split_prefix("s3://b/x/y/"),
            ("s3://b".into(), Some(Key::from("x/y")))
        );
        assert_eq!(split_prefix("s3://b"), ("s3://b".into(), None));
        let m = MediaStore::open(Path::new("/srv/data"), None).unwrap();
        assert!(!m.is_remote());
        assert_eq!(
            m.key(Path::new("/srv/data/data/7/compressed/0.zip"))
                .unwrap()
                .as_ref(),
            "data/7/compressed/0.zip"
        );
        assert!(m.key(Path::new("/srv/data")).is_none());
        assert!(m.key(Path::new("/srv/data/../etc")).is_none());
        assert!(m.key(Path::new("/etc/passwd")).is_none());
        assert!(MediaStore::open(Path::new("/srv"), Some("ftp://x")).is_err());
    }
}
