//! Stored media files (zip chunks, previews) on their way out: they never change once
//! written (a task's data cannot be replaced, and data ids are never reused), so the
//! ones asked for are kept in memory and sent from there without a read or a copy.
//!
//! The cache is bounded by bytes (`FERROCAT_MEDIA_CACHE_MB`, 0 turns it off) and evicts
//! by quick_cache's CLOCK-PRO policy: a chunk every annotator of a job opens stays in,
//! a chunk looked at once goes first. Files over a sixteenth of the budget are never
//! kept; they are streamed from disk.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, Weighter};

/// A stored file's bytes: in memory, or too big to keep and still on disk.
#[derive(Debug, Clone)]
pub enum Stored {
    Memory(Bytes),
    Disk { path: PathBuf, len: u64 },
}

impl Stored {
    pub fn len(&self) -> u64 {
        match self {
            Stored::Memory(b) => b.len() as u64,
            Stored::Disk { len, .. } => *len,
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

    /// The file at `path`: from memory, else read and kept when small enough, else left on
    /// disk. Concurrent first requests for one file read it once.
    pub async fn open(&self, path: &Path) -> std::io::Result<Stored> {
        let on_disk = |len| Stored::Disk {
            path: path.to_path_buf(),
            len,
        };
        let Some(cache) = &self.cache else {
            return Ok(on_disk(tokio::fs::metadata(path).await?.len()));
        };
        match cache.get_value_or_guard_async(path).await {
            Ok(bytes) => Ok(Stored::Memory(bytes)),
            Err(guard) => {
                let len = tokio::fs::metadata(path).await?.len();
                if len > self.max_entry {
                    return Ok(on_disk(len));
                }
                let bytes = Bytes::from(tokio::fs::read(path).await?);
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
        let cache = FileCache::new(1 << 20);
        assert!(matches!(cache.open(&small).await.unwrap(), Stored::Memory(b) if b.len() == 1000));
        // Served from memory even after the file is gone.
        std::fs::remove_file(&small).unwrap();
        assert!(matches!(
            cache.open(&small).await.unwrap(),
            Stored::Memory(_)
        ));
        assert!(matches!(
            cache.open(&big).await.unwrap(),
            Stored::Disk { len: 70_000, .. }
        ));
        assert_eq!(cache.bytes(), 1000);
        cache.forget_under(&dir.path().join("a"));
        assert_eq!(cache.bytes(), 0);
        assert!(cache.open(&small).await.is_err());
        let off = FileCache::new(0);
        assert!(matches!(off.open(&big).await.unwrap(), Stored::Disk { .. }));
        assert_eq!(off.bytes(), 0);
    }
}
