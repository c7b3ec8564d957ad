//! Removing the folders of deleted things in the background: a queue item (kind
//! [`KIND`]) whose payload lists the folders, so that a removal the server did not
//! finish (it stopped, it died) is taken up again by the next worker. Its message says
//! how far it got ("Removed 3 of 10 folders").

use std::path::{Path, PathBuf};

use ferrocat_store::queue::QueueItem;
use serde_json::{Value, json};

use crate::Core;
use crate::error::Result;

/// Queue item kind of folder removals.
pub const KIND: &str = "remove_files";

/// Queues the removal of `dirs` under the key `cleanup/<what>`.
pub async fn queue(core: &Core, what: &str, dirs: &[PathBuf], user_id: i64) -> Result<()> {
    let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    core.db()
        .enqueue(
            &format!("cleanup/{what}"),
            KIND,
            &json!({ "dirs": dirs }).to_string(),
            Some(user_id),
        )
        .await?;
    core.notify_queue();
    Ok(())
}

/// Runs one removal (in a worker). Only folders inside the data folder are touched.
pub async fn run(core: &Core, item: &QueueItem) -> std::result::Result<(), String> {
    let p: Value = serde_json::from_str(&item.payload).map_err(|e| e.to_string())?;
    let dirs: Vec<PathBuf> = p["dirs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    let root = core.config().data_dir.clone();
    let total = dirs.len();
    for (i, dir) in dirs.iter().enumerate() {
        if !inside(&root, dir) {
            tracing::warn!(dir = %dir.display(), "not removed: outside the data folder");
            continue;
        }
        if let Err(e) = tokio::fs::remove_dir_all(dir).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(format!("could not remove {}: {e}", dir.display()));
        }
        let msg = format!("Removed {} of {total} folders", i + 1);
        if let Err(e) = core
            .db()
            .queue_progress(item.id, &msg, crate::queue::lease(core))
            .await
        {
            tracing::warn!(error = %e, "could not record the progress of a removal");
        }
    }
    Ok(())
}

/// Whether `dir` is strictly inside `root` (no `..` on the way).
fn inside(root: &Path, dir: &Path) -> bool {
    dir.starts_with(root)
        && dir != root
        && !dir
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inside_the_data_folder() {
        let root = Path::new("/srv/data");
        assert!(inside(root, Path::new("/srv/data/data/7")));
        assert!(!inside(root, Path::new("/srv/data")));
        assert!(!inside(root, Path::new("/srv/data/../etc")));
        assert!(!inside(root, Path::new("/etc")));
    }
}
