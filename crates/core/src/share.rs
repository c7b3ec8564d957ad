//! The server share (api-v1 §11.2): a configured root folder whose files can be listed
//! and used as task data. Paths from clients are resolved component by component after
//! canonicalisation (so `..` and symlinks cannot leave the root).

use std::path::{Component, Path, PathBuf};

use ferrocat_wire::tasks::ShareEntry;
use serde_json::Value;

use crate::error::{Error, Result};

/// Resolves a client path (leading `/` allowed) inside `root`; `None` when it escapes
/// the root or does not exist.
pub fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    let rel = rel.trim_start_matches('/');
    let rel_path = Path::new(rel);
    if rel_path.components().any(|c| {
        matches!(
            c,
            Component::ParentDir | Component::Prefix(_) | Component::RootDir
        )
    }) {
        return None;
    }
    let root = root.canonicalize().ok()?;
    let full = root.join(rel_path).canonicalize().ok()?;
    full.starts_with(&root).then_some(full)
}

/// Lists one directory of the share: sub-directories first, then files, each by name.
pub fn list(root: &Path, directory: &str) -> Result<Vec<ShareEntry>> {
    let shown = directory.trim_start_matches('/');
    let invalid = || Error::Body(Value::String(format!("{shown} is an invalid directory")));
    let dir = resolve(root, directory)
        .filter(|p| p.is_dir())
        .ok_or_else(invalid)?;
    let mut entries = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(|_| invalid())? {
        let Ok(e) = e else { continue };
        let name = e.file_name().to_string_lossy().into_owned();
        // Symlinks are followed, but only when they stay inside the share.
        let Some(target) = resolve(root, &format!("{}/{}", rel_of(root, &dir), name)) else {
            continue;
        };
        if target.is_dir() {
            entries.push(ShareEntry {
                name,
                kind: "DIR".into(),
            });
        } else if target.is_file() {
            entries.push(ShareEntry {
                name,
                kind: "REG".into(),
            });
        }
    }
    entries.sort_by(|a, b| (a.kind != "DIR", &a.name).cmp(&(b.kind != "DIR", &b.name)));
    Ok(entries)
}

fn rel_of(root: &Path, dir: &Path) -> String {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    dir.strip_prefix(&root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Bounds of a walk through the share: each directory is entered once (by device and
/// inode, so symlink loops end), no deeper than `max_depth`, and at most `max_entries`
/// entries are looked at in all.
#[derive(Debug, Clone, Copy)]
pub struct WalkLimits {
    pub max_depth: usize,
    pub max_entries: usize,
}

impl Default for WalkLimits {
    /// 64 levels, 1,000,000 entries.
    fn default() -> Self {
        WalkLimits {
            max_depth: 64,
            max_entries: 1_000_000,
        }
    }
}

/// Every regular file under `path` (a file or a directory), recursively, as
/// `(relative name below the share root, absolute path)`. Symlinks leaving the share are
/// skipped; a directory reached a second time (a symlink loop or a second link to it)
/// fails the walk with a message naming both paths, as do walks over the limits.
pub fn files_under(
    root: &Path,
    path: &Path,
    limits: &WalkLimits,
) -> std::result::Result<Vec<(String, PathBuf)>, String> {
    use std::os::unix::fs::MetadataExt;
    let croot = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let shown = |p: &Path| {
        p.strip_prefix(&croot)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_else(|_| p.to_string_lossy().into_owned())
    };
    let mut seen: std::collections::HashMap<(u64, u64), PathBuf> = Default::default();
    let mut out = Vec::new();
    let mut entries = 0usize;
    let mut stack = vec![(path.to_path_buf(), 0usize)];
    while let Some((p, depth)) = stack.pop() {
        let Ok(real) = p.canonicalize() else { continue };
        if !real.starts_with(&croot) {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&real) else {
            continue;
        };
        if meta.is_dir() {
            if let Some(first) = seen.insert((meta.dev(), meta.ino()), p.clone()) {
                return Err(format!(
                    "{} is the folder {} again (a symbolic link loop); remove the link",
                    shown(&p),
                    shown(&first)
                ));
            }
            if depth >= limits.max_depth {
                return Err(format!(
                    "{} is more than {} folders deep in the share",
                    shown(&p),
                    limits.max_depth
                ));
            }
            if let Ok(rd) = std::fs::read_dir(&p) {
                for e in rd.flatten() {
                    entries += 1;
                    if entries > limits.max_entries {
                        return Err(format!(
                            "{} holds more than {} entries",
                            shown(path),
                            limits.max_entries
                        ));
                    }
                    stack.push((p.join(e.file_name()), depth + 1));
                }
            }
        } else if meta.is_file()
            && let Ok(rel) = p.strip_prefix(&croot)
        {
            out.push((rel.to_string_lossy().replace('\\', "/"), real));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_loop_ends_the_walk_with_a_message() {
        let root = std::env::temp_dir().join(format!("ferrocat-share-{}", std::process::id()));
        let dir = root.join("loopdir");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.jpg"), b"x").unwrap();
        std::os::unix::fs::symlink(".", dir.join("l1")).unwrap();
        std::os::unix::fs::symlink(".", dir.join("l2")).unwrap();
        let path = resolve(&root, "loopdir").unwrap();
        let err = files_under(&root, &path, &WalkLimits::default()).unwrap_err();
        assert!(err.contains("loop"), "{err}");
        std::fs::remove_file(dir.join("l1")).unwrap();
        std::fs::remove_file(dir.join("l2")).unwrap();
        let files = files_under(&root, &path, &WalkLimits::default()).unwrap();
        assert_eq!(files.len(), 1);
        // deep and wide walks stop at their limits
        std::fs::create_dir_all(dir.join("b/c")).unwrap();
        let shallow = WalkLimits {
            max_depth: 1,
            max_entries: 100,
        };
        assert!(
            files_under(&root, &path, &shallow)
                .unwrap_err()
                .contains("deep")
        );
        let narrow = WalkLimits {
            max_depth: 10,
            max_entries: 1,
        };
        assert!(
            files_under(&root, &path, &narrow)
                .unwrap_err()
                .contains("entries")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
