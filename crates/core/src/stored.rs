//! Stored media files (zip chunks, previews) on their way out: they never change once
//! written (a task's data cannot be replaced, and data ids are never reused), so the
//! ones asked for are kept in memory and sent from there without a read or a copy.
//!
//! The cache is bounded by bytes (`FERROCAT_MEDIA_CACHE_MB`, 0 turns it off) and evicts
//! by quick_cache's CLOCK-PRO policy: a chunk every annotator of a job opens stays in,
//! a chunk looked at once goes first. Files over a sixteenth of the budget are never
//! kept; they are streamed from disk, or with a bucket behind the data folder
//! ([`crate::media`]) from the bucket, a ranged GET per request.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, Weighter};

use crate::media::MediaStore;

/// A stored file's bytes: in memory, or too big to keep and still on disk or in the
/// bucket.
#[derive(Debug, Clone)]
pub enum Stored {
    Memory(Bytes),
    Disk {
        path: PathBuf,
        len: u64,
    },
    Remote {
        media: MediaStore,
        path: PathBuf,
        len: u64,
    },
}

impl Stored {
    pub fn len(&self) -> u64 {
        match self {
            Stored::Memory(b) => b.len() as u64,
            Stored::Disk { len, .. } | Stored::Remote { len, .. } => *len,
        }
    }

    /// `count` bytes from `from` on, as they are read.
    pub async fn stream(
        self,
        from: u64,
        count: u64,
    ) -> std::io::Result<BoxStream<'static, std::io::Result<Bytes>>> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let end = from.saturating_add(count);
        if end > self.len() {
            return Err(std::io::Error::other(format!(
                "stored file holds {} bytes, not {end}",
                self.len()
            )));
        }
        match self {
            Stored::Memory(bytes) => {
                let part = bytes.slice(from as usize..end as usize);
                Ok(futures_util::stream::once(async move { Ok(part) }).boxed())
            }
            Stored::Disk { path, .. } => {
                let mut file = tokio::fs::File::open(&path).await?;
                file.seek(std::io::SeekFrom::Start(from)).await?;
                Ok(tokio_util::io::ReaderStream::new(file.take(count)).boxed())
            }
            Stored::Remote { media, path, .. } => media.remote_stream(&path, from..end).await,
        }
    }

    /// The whole file in memory (a chunk's zip directory is read from it).
    pub async fn bytes(&self) -> std::io::Result<Bytes> {
        match self {
            Stored::Memory(b) => Ok(b.clone()),
            Stored::Disk { path, .. } => Ok(Bytes::from(tokio::fs::read(path).await?)),
            Stored::Remote {
                media, path, len, ..
            } => media.remote_range(path, 0..*len).await,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone)]
struct ByLength;

impl Weighter<PathBuf, Bytes> for ByLength {
    fn weight(&self, _: &PathBuf, bytes: &Bytes) -> u64 {
        bytes.len().max(1) as u64
    }
}

pub struct FileCache {
    cache: Option<Cache<PathBuf, Bytes, ByLength>>,
    max_entry: u64,
}

impl FileCache {
    /// A cache of at most `budget` bytes (0 turns it off).
    pub fn new(budget: usize) -> FileCache {
        let cache = OptionsBuilder::new()
            .weight_capacity(budget as u64)
            .estimated_items_capacity((budget >> 20).max(16))
            .shards(4)
            .build()
            .ok()
            .filter(|_| budget > 0)
            .map(|options| {
                Cache::with_options(options, ByLength, Default::default(), Default::default())
            });
        FileCache {
            cache,
            max_entry: budget as u64 / 16,
        }
    }

    /// The file at `path`: from memory, else read and kept when small enough, else left
    /// where it is (the working folder, or the bucket behind it). Concurrent first
    /// requests for one file read it once.
    pub async fn open(&self, media: &MediaStore, path: &Path) -> std::io::Result<Stored> {
        let Some(cache) = &self.cache else {
            return locate(media, path).await;
        };
        match cache.get_value_or_guard_async(path).await {
            Ok(bytes) => Ok(Stored::Memory(bytes)),
            Err(guard) => {
                let found = locate(media, path).await?;
                if found.len() > self.max_entry {
                    return Ok(found);
                }
                let bytes = found.bytes().await?;
                let _ = guard.insert(bytes.clone());
                Ok(Stored::Memory(bytes))
            }
        }
    }

    /// Drops every file under `dir` (its task was deleted).
    pub fn forget_under(&self, dir: &Path) {
        if let Some(cache) = &self.cache {
            cache.retain(|path, _| !path.starts_with(dir));
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.cache.as_ref().map_or(0, Cache::weight)
    }
}

/// Where the file at `path` is: the working folder, else the bucket.
pub async fn locate(media: &MediaStore, path: &Path) -> std::io::Result<Stored> {
    match tokio::fs::metadata(path).await {
        Ok(m) => Ok(Stored::Disk {
            path: path.to_path_buf(),
            len: m.len(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match media.remote_len(path).await? {
            Some(len) => Ok(Stored::Remote {
                media: media.clone(),
                path: path.to_path_buf(),
                len,
            }),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_files_from_memory_big_ones_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (small, big) = (dir.path().join("a/0.zip"), dir.path().join("b/0.zip"));
        for (p, n) in [(&small, 1000), (&big, 70_000)] {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, vec![7u8; n]).unwrap();
        }
        let media = MediaStore::open(dir.path(), None).unwrap();
        let cache = FileCache::new(1 << 20);
        assert!(
            matches!(cache.open(&media, &small).await.unwrap(), Stored::Memory(b) if b.len() == 1000)
        );
        // Served from memory even after the file is gone.
        std::fs::remove_file(&small).unwrap();
        assert!(matches!(
            cache.open(&media, &small).await.unwrap(),
            Stored::Memory(_)
        ));
        assert!(matches!(
            cache.open(&media, &big).await.unwrap(),
            Stored::Disk { len: 70_000, .. }
        ));
        assert_eq!(cache.bytes(), 1000);
        cache.forget_under(&dir.path().join("a"));
        assert_eq!(cache.bytes(), 0);
        assert!(cache.open(&media, &small).await.is_err());
        let off = FileCache::new(0);
        assert!(matches!(
            off.open(&media, &big).await.unwrap(),
            Stored::Disk { .. }
        ));
        assert_eq!(off.bytes(), 0);
    }
}
