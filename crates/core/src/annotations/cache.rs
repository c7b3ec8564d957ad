//! Rendered job documents kept in memory, so that reading a big job again costs a
//! version lookup instead of a range scan, a decode and a serialization.
//!
//! An entry is keyed by the job, its annotation version and its task's `updated_date`
//! (which moves when labels change, and so the filled-in defaults). Versions only go
//! up, so an entry can never be served for a state it does not show: the cache is
//! correct with any number of replicas, each with its own. It is bounded by bytes; the
//! least recently used entries go first.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub job_id: i64,
    pub version: i64,
    /// The task's `updated_date` in microseconds.
    pub task_stamp: i64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, (Bytes, u64)>,
    bytes: usize,
    tick: u64,
}

pub struct DocumentCache {
    budget: usize,
    inner: Mutex<Inner>,
}

impl DocumentCache {
    /// A cache of at most `budget` bytes (0 disables it).
    pub fn new(budget: usize) -> DocumentCache {
        DocumentCache {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn get(&self, key: &Key) -> Option<Bytes> {
        let mut g = self.inner.lock().ok()?;
        g.tick += 1;
        let tick = g.tick;
        let e = g.entries.get_mut(key)?;
        e.1 = tick;
        Some(e.0.clone())
    }

    /// Keeps a rendered document; older versions of the job are dropped. Documents
    /// larger than a quarter of the budget are not kept.
    pub fn put(&self, key: Key, doc: Bytes) {
        if doc.len() > self.budget / 4 {
            return;
        }
        let Ok(mut g) = self.inner.lock() else {
            return;
        };
        g.tick += 1;
        let tick = g.tick;
        let stale: Vec<Key> = g
            .entries
            .keys()
            .filter(|k| k.job_id == key.job_id && *k != &key)
            .copied()
            .collect();
        for k in stale {
            if let Some((d, _)) = g.entries.remove(&k) {
                g.bytes -= d.len();
            }
        }
        g.bytes += doc.len();
        if let Some((old, _)) = g.entries.insert(key, (doc, tick)) {
            g.bytes -= old.len();
        }
        while g.bytes > self.budget {
            let Some(oldest) = g
                .entries
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some((d, _)) = g.entries.remove(&oldest) {
                g.bytes -= d.len();
            }
        }
    }

    /// Forgets every entry of a job (it was written).
    pub fn forget_job(&self, job_id: i64) {
        if let Ok(mut g) = self.inner.lock() {
            let stale: Vec<Key> = g
                .entries
                .keys()
                .filter(|k| k.job_id == job_id)
                .copied()
                .collect();
            for k in stale {
                if let Some((d, _)) = g.entries.remove(&k) {
                    g.bytes -= d.len();
                }
            }
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.inner.lock().map(|g| g.bytes).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(job_id: i64, version: i64) -> Key {
        Key {
            job_id,
            version,
            task_stamp: 0,
        }
    }

    #[test]
    fn bounded_by_bytes_newest_versions_only() {
        let c = DocumentCache::new(400);
        c.put(key(1, 1), Bytes::from(vec![0u8; 100]));
        c.put(key(1, 2), Bytes::from(vec![0u8; 100]));
        assert!(c.get(&key(1, 1)).is_none(), "older versions are dropped");
        assert_eq!(c.bytes(), 100);
        c.put(key(2, 1), Bytes::from(vec![0u8; 100]));
        c.put(key(3, 1), Bytes::from(vec![0u8; 100]));
        c.get(&key(1, 2));
        c.put(key(4, 1), Bytes::from(vec![0u8; 100]));
        c.put(key(5, 1), Bytes::from(vec![0u8; 100]));
        assert!(c.bytes() <= 400);
        assert!(c.get(&key(1, 2)).is_some(), "recently used stays");
        assert!(c.get(&key(2, 1)).is_none(), "least recently used went");
        c.put(key(6, 1), Bytes::from(vec![0u8; 101]));
        assert!(c.get(&key(6, 1)).is_none(), "too big for the budget");
        c.forget_job(1);
        assert!(c.get(&key(1, 2)).is_none());
        let off = DocumentCache::new(0);
        off.put(key(1, 1), Bytes::from(vec![0u8; 1]));
        assert!(off.get(&key(1, 1)).is_none());
    }
}
