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

/// Every regular file under `path` (a file or a directory), recursively, as
/// `(relative name below the share root, absolute path)`. Symlinks leaving the share are
/// skipped.
pub fn files_under(root: &Path, path: &Path) -> Vec<(String, PathBuf)> {
    let croot = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(real) = p.canonicalize() else { continue };
        if !real.starts_with(&croot) {
            continue;
        }
        if real.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                for e in rd.flatten() {
                    stack.push(p.join(e.file_name()));
                }
            }
        } else if real.is_file()
            && let Ok(rel) = p.strip_prefix(&croot)
        {
            out.push((rel.to_string_lossy().replace('\\', "/"), real));
        }
    }
    out.sort();
    out
}
