//! CVAT 2's background requests (`/api/requests`, api-v2.md §5): views of queue items.
//! There is no table of requests: a request *is* a queue item, and its id is the item's
//! key, chosen for v2 items to be readable and safe in a URL path:
//!
//! | request id | what |
//! |---|---|
//! | `create:task-7` | task 7's data processing (the v1 item `task/7/data`) |
//! | `export:task-7-dataset-COCO_1.0-<tag>` | an export (`annotations` without images), of a task or `project-3`, for one origin (`<tag>`: its URLs) |
//! | `import:task-7-annotations-by-2` | user 2's annotation import into task 7 (or `job-5`) |
//! | `export:task-7-backup` | a task backup (or `project-3`) |
//! | `import:backup-<hex>-by-2` | a task or project backup restored by user 2 |
//!
//! A caller sees a request about a task or project it may see (an export made for one
//! user serves the next), and its own imports; admins see all. The list holds the
//! caller's own requests. Finished v2 requests are kept until they are asked for again
//! (a new export replaces the old one's item) or [`RESULT_TTL`] after they ended.

use chrono::{DateTime, Utc};
use ferrocat_store::queue::QueueItem;
use serde_json::Value;

use crate::Core;
use crate::error::{Error, Result};
use crate::permissions::Actor;

/// How long a v2 request's outcome (and its export file) is offered after it ended.
pub const RESULT_TTL: chrono::Duration = chrono::Duration::hours(24);

/// A format name as it appears in a request id: ASCII letters, digits and `.` as they
/// are, anything else `_` (`CVAT for images 1.1` → `CVAT_for_images_1.1`).
pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A download name CVAT's clients take: ASCII letters, digits and `_-. `, anything
/// else `_`.
pub(crate) fn download_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-. ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether the item of an earlier request that made a file answers a new request for
/// the state `stamp`: it was for that state and is still running, or finished with its
/// `file` still there.
pub(crate) async fn reusable(
    core: &crate::Core,
    item: &QueueItem,
    stamp: i64,
    file: &std::path::Path,
) -> bool {
    let p: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
    p["updated"].as_i64() == Some(stamp)
        && match item.state.as_str() {
            "queued" | "started" => true,
            "finished" => core.media().exists(file).await,
            _ => false,
        }
}

/// What a request does (`operation` of CVAT 2's `Request`).
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// `create:task`, `export:dataset`, `export:annotations`, `import:annotations`,
    /// `export:backup`, `import:backup`.
    pub kind: &'static str,
    /// `task`, `project` or `job`.
    pub target: &'static str,
    pub task_id: Option<i64>,
    pub project_id: Option<i64>,
    pub job_id: Option<i64>,
    pub format: Option<String>,
}

/// A background request as CVAT 2 shows it.
#[derive(Debug, Clone)]
pub struct RequestView {
    pub id: String,
    /// `queued`, `started`, `finished` or `failed`.
    pub status: &'static str,
    pub message: String,
    /// 0…1.
    pub progress: f64,
    pub operation: Operation,
    pub created: DateTime<Utc>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub expiry: Option<DateTime<Utc>>,
    pub owner: Option<i64>,
    /// Where the result is downloaded, a path under `/api` (exports and backups).
    pub result_path: Option<String>,
    /// The task a request made (task creation, a restored backup).
    pub result_id: Option<i64>,
}

/// The percentage in a progress message ("… 42%"), as a fraction.
fn progress_of(message: &str) -> f64 {
    message
        .split_whitespace()
        .filter_map(|w| w.strip_suffix('%')?.parse::<f64>().ok())
        .next_back()
        .map_or(0.0, |p| (p / 100.0).clamp(0.0, 1.0))
}

fn status_of(state: &str) -> &'static str {
    match state {
        "queued" => "queued",
        "started" => "started",
        "failed" => "failed",
        _ => "finished",
    }
}

/// The task id in `create:task-<id>`.
fn created_task(rq_id: &str) -> Option<i64> {
    rq_id.strip_prefix("create:task-")?.parse().ok()
}

/// What an item does, if it is one CVAT 2 has a request for.
fn operation(item: &QueueItem) -> Option<Operation> {
    let p: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
    let format = p["format"].as_str().map(str::to_string);
    let mut op = Operation {
        kind: "",
        target: "task",
        task_id: None,
        project_id: None,
        job_id: None,
        format: None,
    };
    match item.kind.as_str() {
        "task_data" => {
            op.kind = "create:task";
            op.task_id = item
                .key
                .strip_prefix("task/")?
                .strip_suffix("/data")?
                .parse()
                .ok();
        }
        crate::exports::KIND if item.key.starts_with("export:") => {
            op.kind = if p["kind"] == "dataset" {
                "export:dataset"
            } else {
                "export:annotations"
            };
            op.format = format;
            if let Some(id) = p["project_id"].as_i64() {
                op.target = "project";
                op.project_id = Some(id);
            } else {
                op.task_id = p["task_id"].as_i64();
            }
        }
        crate::imports::KIND if item.key.starts_with("import:") => {
            op.kind = "import:annotations";
            op.format = format;
            if p["target"] == "job" {
                op.target = "job";
                op.job_id = p["id"].as_i64();
            } else {
                op.task_id = p["id"].as_i64();
            }
        }
        crate::backups::EXPORT_KIND => {
            op.kind = "export:backup";
            if let Some(id) = p["project_id"].as_i64() {
                op.target = "project";
                op.project_id = Some(id);
            } else {
                op.task_id = p["task_id"].as_i64();
            }
        }
        crate::backups::IMPORT_KIND => {
            op.kind = "import:backup";
            if p["target"] == "project" {
                op.target = "project";
            }
        }
        _ => return None,
    }
    Some(op)
}

fn view(item: &QueueItem, op: Operation) -> RequestView {
    let status = status_of(&item.state);
    let ended = matches!(status, "finished" | "failed");
    let id = match op.kind {
        "create:task" => format!("create:task-{}", op.task_id.unwrap_or_default()),
        _ => item.key.clone(),
    };
    let result_path = match (status, op.kind) {
        ("finished", "export:dataset" | "export:annotations") => {
            let (what, tid) = match op.project_id {
                Some(p) => ("projects", p),
                None => ("tasks", op.task_id.unwrap_or_default()),
            };
            Some(format!("/api/{what}/{tid}/dataset/download?rq_id={id}"))
        }
        ("finished", "export:backup") => {
            let (what, oid) = match op.project_id {
                Some(p) => ("projects", p),
                None => ("tasks", op.task_id.unwrap_or_default()),
            };
            Some(format!("/api/{what}/{oid}/backup/download?rq_id={id}"))
        }
        _ => None,
    };
    let result_id = match (status, op.kind) {
        ("finished", "create:task") => op.task_id,
        // the restored task's processing decides when the restore is done ([`follow`])
        (_, "import:backup") => item.result.as_deref().and_then(|r| r.parse().ok()),
        _ => None,
    };
    RequestView {
        id,
        status,
        message: item.message.clone(),
        progress: match status {
            "finished" => 1.0,
            "started" => progress_of(&item.message),
            _ => 0.0,
        },
        operation: op,
        created: item.created,
        started: (status != "queued").then_some(item.created),
        finished: ended.then_some(item.updated),
        expiry: ended.then(|| item.updated + RESULT_TTL),
        owner: item.user_id,
        result_path,
        result_id,
    }
}

/// A v2 item whose outcome has waited longer than [`RESULT_TTL`].
fn expired(item: &QueueItem) -> bool {
    item.key.contains(':')
        && matches!(item.state.as_str(), "finished" | "failed")
        && ferrocat_store::now() - item.updated > RESULT_TTL
}

fn is_admin(actor: &Actor) -> bool {
    actor.is_superuser || actor.roles.contains(&crate::Role::Admin)
}

pub struct RequestService<'a> {
    pub(crate) core: &'a Core,
}

impl RequestService<'_> {
    /// A restore whose own item is done goes on in its tasks' processing (one task,
    /// or each task of a restored project): until that has finished, the request is
    /// started (or failed with the first failure's message).
    async fn follow(&self, mut v: RequestView) -> Result<RequestView> {
        let (Some(id), "import:backup") = (v.result_id, v.operation.kind) else {
            return Ok(v);
        };
        if v.status != "finished" {
            v.result_id = None;
            return Ok(v);
        }
        let db = self.core.db();
        let tasks = if v.operation.target == "project" {
            db.project_tasks(id).await?.iter().map(|t| t.id).collect()
        } else {
            vec![id]
        };
        let mut items = Vec::with_capacity(tasks.len());
        for t in tasks {
            items.extend(db.queue_item(&crate::tasks::data_key(t)).await?);
        }
        if let Some(d) = items.iter().find(|d| d.state == "failed") {
            v.status = "failed";
            v.message = d.message.clone();
            v.result_id = None;
        } else if let Some(d) = items.iter().find(|d| d.state != "finished") {
            let done = items.iter().filter(|d| d.state == "finished").count() as f64;
            v.status = "started";
            v.progress = (done + progress_of(&d.message)) / items.len() as f64;
            v.message = d.message.clone();
            v.finished = None;
            v.expiry = None;
            v.result_id = None;
        }
        Ok(v)
    }

    /// The item behind `rq_id`, if `actor` may see it.
    async fn item(&self, actor: &Actor, rq_id: &str) -> Result<(QueueItem, Operation)> {
        let db = self.core.db();
        let key = match created_task(rq_id) {
            Some(tid) => crate::tasks::data_key(tid),
            None if rq_id.contains(':') => rq_id.to_string(),
            None => return Err(Error::NotFound),
        };
        let item = match db.queue_item(&key).await? {
            Some(it) if expired(&it) => {
                db.dequeue(&it).await?;
                return Err(Error::NotFound);
            }
            Some(it) => it,
            None => return Err(Error::NotFound),
        };
        let op = operation(&item).ok_or(Error::NotFound)?;
        let admin = is_admin(actor);
        let own = item.user_id == Some(actor.id);
        // a request about a task or project is seen by whoever may see that; the rest
        // (imports, restores) by their owner
        let seen = match (op.kind, op.task_id, op.project_id) {
            (k, _, _) if k.starts_with("import:") => own || admin,
            (_, _, Some(p)) => self
                .core
                .projects()
                .authorized_access(actor, p)
                .await
                .is_ok(),
            (_, Some(t), _) => self.core.tasks().authorized_access(actor, t).await.is_ok(),
            _ => own || admin,
        };
        if !seen {
            return Err(Error::NotFound);
        }
        Ok((item, op))
    }

    /// `GET /api/requests/{rq_id}`. A task whose processing item is gone (v1 forgets
    /// finished processing after a restart of the data, say) reads as finished.
    pub async fn get(&self, actor: &Actor, rq_id: &str) -> Result<RequestView> {
        match self.item(actor, rq_id).await {
            Err(Error::NotFound) if created_task(rq_id).is_some() => {
                let tid = created_task(rq_id).unwrap_or_default();
                let (task, _) = self.core.tasks().authorized_access(actor, tid).await?;
                if task.data_id.is_none() {
                    return Err(Error::NotFound);
                }
                let item = QueueItem {
                    id: 0,
                    key: crate::tasks::data_key(tid),
                    kind: "task_data".into(),
                    state: "finished".into(),
                    message: String::new(),
                    payload: "{}".into(),
                    attempts: 0,
                    lease_until: None,
                    updated: task.updated_date,
                    user_id: task.owner_id,
                    created: task.created_date,
                    result: None,
                };
                let op = operation(&item).ok_or(Error::NotFound)?;
                Ok(view(&item, op))
            }
            Ok((item, op)) => self.follow(view(&item, op)).await,
            Err(e) => Err(e),
        }
    }

    /// `GET /api/requests`: the caller's requests, newest first.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<RequestView>> {
        let items = self.core.db().queue_items_of(actor.id).await?;
        let mut out = Vec::new();
        for it in items.iter().rev().filter(|it| !expired(it)) {
            if let Some(op) = operation(it) {
                out.push(self.follow(view(it, op)).await?);
            }
        }
        Ok(out)
    }

    /// `POST /api/requests/{rq_id}/cancel`: a request no worker has started is removed
    /// (with the file it was to import); a started or ended one cannot be cancelled.
    pub async fn cancel(&self, actor: &Actor, rq_id: &str) -> Result<()> {
        let (item, op) = self.item(actor, rq_id).await?;
        if item.user_id != Some(actor.id) && !is_admin(actor) {
            return Err(Error::Forbidden(
                "Only the owner of a request can cancel it".into(),
            ));
        }
        if op.kind == "create:task" {
            return Err(Error::BadRequest(
                "Task creation cannot be cancelled; delete the task instead".into(),
            ));
        }
        if item.state != "queued" || !self.core.db().dequeue_queued(&item).await? {
            return Err(Error::BadRequest(
                "Only requests that have not been started yet can be cancelled".into(),
            ));
        }
        let p: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
        if let Some(file) = p["file"].as_str() {
            let _ = tokio::fs::remove_file(file).await;
        }
        Ok(())
    }
}
