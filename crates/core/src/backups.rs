//! Task and project backups in CVAT 2's layout (`POST /api/tasks|projects/{id}/backup/export`,
//! restore by `POST /api/tasks/backup/` or `/api/projects/backup/`), so that `cvat-cli
//! task|project backup` / `create-from-backup` move tasks and projects between CVAT and
//! ferrocat in both directions.
//!
//! A project's zip is `project.json` (`name`, `bug_tracker`, `status`, `labels`,
//! `version`) and, per task with media in id order, a folder `task_<i>/` holding that
//! task's backup as below. Its restore reads and checks every part first, creates the
//! project with its labels, then each task in it as a task restore does; the request is
//! finished when every task's processing is.
//!
//! The zip (entries stored, not deflated: the media are compressed already):
//! - `data/…` the task's source files as they were uploaded (its `raw/` folder), and for
//!   a task of image files `data/manifest.jsonl` (`{"version":"1.1"}`, `{"type":"images"}`,
//!   then per frame `name` without extension, `extension`, `width`, `height`);
//! - `task.json`: `name`, `bug_tracker`, `status`, `subset`, `labels` (names, colours,
//!   attributes by name, no ids), `version` `"1.0"`, `data` (`chunk_size`,
//!   `image_quality`, `start_frame`, `stop_frame`, `frame_filter`, `chunk_type`,
//!   `storage_method`, `storage`, `sorting_method`, `deleted_frames`), `jobs` (per job
//!   `status`, `type`, `start_frame`, `stop_frame`, `frames`);
//! - `annotations.json`: one document per job, in job order, labels and attributes by
//!   name, ids left out.
//!
//! Restoring is a queue item that reads and checks `task.json` and `annotations.json`
//! first (an unknown label, a skeleton, a wrong version: the request fails and nothing
//! is created), creates the task and attaches `data/` as uploaded files. The task's
//! `task_data` item carries the annotations and job statuses in its payload
//! (`restore`), and applies them when the frames exist ([`apply_restore`]); the restore
//! request reads as running until then. Manifests and CVAT's `index.json` in `data/` are
//! left out of the new task's sources (ferrocat reads the media themselves).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ferrocat_store::queue::QueueItem;
use ferrocat_wire::annotations::{
    AttributeValue, LabeledData, Shape, ShapeType, Tag, Track, TrackedShape,
};
use serde_json::{Map, Value, json};

use crate::Core;
use crate::annotations::{Action, WriteRequest};
use crate::error::{Error, Result};
use crate::exports::Target;
use crate::permissions::{Actor, Perm};

/// Queue item kind of backup exports.
pub const EXPORT_KIND: &str = "backup_export";
/// Queue item kind of backup restores.
pub const IMPORT_KIND: &str = "backup_import";

/// The one backup version CVAT has written.
const VERSION: &str = "1.0";

/// Colours for labels, which ferrocat does not keep (CVAT's first ones).
const COLOURS: [&str; 8] = [
    "#fa3253", "#33ddff", "#34d1b7", "#ff007c", "#ddff33", "#24b353", "#b83df5", "#66ff66",
];

pub struct BackupService<'a> {
    pub(crate) core: &'a Core,
}

fn file_path(core: &Core, target: Target, stamp: i64) -> PathBuf {
    let dir = match target {
        Target::Task(id) => crate::exports::task_exports_dir(core, id),
        Target::Project(id) => crate::exports::project_exports_dir(core, id),
    };
    dir.join(format!("backup-{stamp}.zip"))
}

fn export_key(target: Target) -> String {
    match target {
        Target::Task(id) => format!("export:task-{id}-backup"),
        Target::Project(id) => format!("export:project-{id}-backup"),
    }
}

/// The target a backup export item's payload names.
fn payload_target(p: &Value) -> Option<Target> {
    match (p["project_id"].as_i64(), p["task_id"].as_i64()) {
        (Some(id), _) => Some(Target::Project(id)),
        (None, Some(id)) => Some(Target::Task(id)),
        _ => None,
    }
}

fn internal(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl BackupService<'_> {
    /// Whether `actor` may restore a backup (it creates a task or a project).
    pub fn check_restore(&self, actor: &Actor) -> Result<()> {
        self.core.check(actor, Perm::TaskCreate)?;
        self.core.check(actor, Perm::ProjectCreate)
    }

    /// `POST /api/tasks|projects/{id}/backup/export`: the request id. A backup of the
    /// current state that is made or being made is that request again. A task needs
    /// media; a project's tasks without media are left out of its backup (a restore
    /// could not make them).
    pub async fn start_export(&self, actor: &Actor, target: Target) -> Result<String> {
        let subject = self.core.exports().subject(actor, target).await?;
        if subject.no_media {
            return Err(Error::BadRequest("The task has no data to back up".into()));
        }
        let stamp = subject.stamp;
        let key = export_key(target);
        let db = self.core.db();
        let file = file_path(self.core, target, stamp);
        if let Some(it) = db.queue_item(&key).await?
            && crate::requests::reusable(self.core, &it, stamp, &file).await
        {
            return Ok(key);
        }
        let mut payload = json!({"updated": stamp, "user": actor.id});
        match target {
            Target::Task(id) => payload["task_id"] = json!(id),
            Target::Project(id) => payload["project_id"] = json!(id),
        }
        db.enqueue(&key, EXPORT_KIND, &payload.to_string(), Some(actor.id))
            .await?;
        self.core.notify_queue();
        Ok(key)
    }

    /// The zip of the finished backup `rq_id` and its download name,
    /// `task_<name>_backup_<date>.zip` (or `project_…`).
    pub async fn export_file(
        &self,
        actor: &Actor,
        target: Target,
        rq_id: &str,
    ) -> Result<(PathBuf, String)> {
        let subject = self.core.exports().subject(actor, target).await?;
        let it = self
            .core
            .db()
            .queue_item(rq_id)
            .await?
            .filter(|it| it.kind == EXPORT_KIND && it.state == "finished")
            .ok_or(Error::NotFound)?;
        let p: Value = serde_json::from_str(&it.payload).unwrap_or(Value::Null);
        if payload_target(&p) != Some(target) {
            return Err(Error::NotFound);
        }
        let path = file_path(self.core, target, p["updated"].as_i64().unwrap_or_default());
        if !self.core.media().exists(&path).await {
            return Err(Error::NotFound);
        }
        let tz = self.core.config().time_zone;
        let name = crate::requests::download_name(&format!(
            "{}_{}_backup_{}.zip",
            subject.what,
            subject.name,
            subject
                .updated
                .with_timezone(&tz)
                .format("%Y_%m_%d_%H_%M_%S")
        ));
        Ok((path, name))
    }

    /// `POST /api/tasks/backup/` (or `/api/projects/backup/`, `project`) after an
    /// upload: queues the restore of the zip `file` (moved into the imports folder);
    /// the request id.
    pub async fn start_restore(&self, actor: &Actor, file: &Path, project: bool) -> Result<String> {
        self.check_restore(actor)?;
        let dir = self.core.config().data_dir.join("imports");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::Internal(format!("import folder: {e}")))?;
        let stored = dir.join(format!("{}.backup", crate::random_hex(16)));
        tokio::fs::rename(file, &stored)
            .await
            .map_err(|e| Error::Internal(format!("backup file: {e}")))?;
        let key = format!("import:backup-{}-by-{}", crate::random_hex(8), actor.id);
        let target = if project { "project" } else { "task" };
        let payload = json!({"user": actor.id, "file": stored.to_string_lossy(), "target": target});
        self.core
            .db()
            .enqueue(&key, IMPORT_KIND, &payload.to_string(), Some(actor.id))
            .await?;
        self.core.notify_queue();
        Ok(key)
    }
}

/// A CVAT 2 annotation document with names for ids, as `annotations.json` holds it.
fn named_document(
    doc: &LabeledData,
    labels: &HashMap<i64, String>,
    attrs: &HashMap<i64, String>,
) -> Value {
    let label = |id: i64| labels.get(&id).cloned().unwrap_or_default();
    let attributes = |a: &[AttributeValue]| -> Vec<Value> {
        a.iter()
            .filter_map(|v| Some(json!({"name": attrs.get(&v.spec_id)?, "value": v.value})))
            .collect()
    };
    let shapes: Vec<Value> = doc
        .shapes
        .iter()
        .map(|s| {
            json!({"type": s.kind.name(), "occluded": s.occluded, "outside": false, "z_order": s.z_order,
                   "rotation": 0.0, "points": s.points, "frame": s.frame, "group": s.group.unwrap_or(0),
                   "source": "manual", "attributes": attributes(&s.attributes), "label": label(s.label_id),
                   "elements": []})
        })
        .collect();
    let tags: Vec<Value> = doc
        .tags
        .iter()
        .map(|t| {
            json!({"frame": t.frame, "group": t.group.unwrap_or(0), "source": "manual",
                   "attributes": attributes(&t.attributes), "label": label(t.label_id)})
        })
        .collect();
    let tracks: Vec<Value> = doc
        .tracks
        .iter()
        .map(|t| {
            let shapes: Vec<Value> = t
                .shapes
                .iter()
                .map(|s| {
                    json!({"type": s.kind.name(), "occluded": s.occluded, "outside": s.outside,
                           "z_order": s.z_order, "rotation": 0.0, "points": s.points, "frame": s.frame,
                           "attributes": attributes(&s.attributes)})
                })
                .collect();
            json!({"frame": t.frame, "group": t.group.unwrap_or(0), "source": "manual",
                   "attributes": attributes(&t.attributes), "label": label(t.label_id),
                   "shapes": shapes, "elements": []})
        })
        .collect();
    json!({"version": 0, "tags": tags, "shapes": shapes, "tracks": tracks})
}

/// Labels as `task.json` and `project.json` hold them: names, colours, attributes by
/// name, no ids.
fn labels_json(
    labels: &[(
        ferrocat_store::tasks::LabelRow,
        Vec<ferrocat_store::tasks::AttrRow>,
    )],
) -> Vec<Value> {
    labels
        .iter()
        .enumerate()
        .map(|(i, (l, attrs))| {
            let attributes: Vec<Value> = attrs
                .iter()
                .map(|a| {
                    let values: Vec<String> =
                        serde_json::from_str(&a.value_list).unwrap_or_default();
                    json!({"name": a.name, "mutable": a.mutable, "input_type": a.input_type,
                           "default_value": a.default_value, "values": values})
                })
                .collect();
            json!({"name": l.name, "color": COLOURS[i % COLOURS.len()], "type": "any",
                   "attributes": attributes, "sublabels": []})
        })
        .collect()
}

/// What one task's part of a backup holds, read from the store.
struct TaskParts {
    raw: PathBuf,
    frames: Vec<ferrocat_store::tasks::FrameRow>,
    task_json: Value,
    docs: Vec<Value>,
}

async fn task_parts(
    core: &Core,
    actor: &Actor,
    task_id: i64,
) -> std::result::Result<TaskParts, String> {
    let v = core
        .tasks()
        .get_unchecked(task_id)
        .await
        .map_err(internal)?;
    let data = v.data.clone().ok_or("the task has no data")?;
    let frames = core.db().frames(data.id).await.map_err(internal)?;
    let label_names: HashMap<i64, String> = v
        .labels
        .iter()
        .map(|(l, _)| (l.id, l.name.clone()))
        .collect();
    let attr_names: HashMap<i64, String> = v
        .labels
        .iter()
        .flat_map(|(_, a)| a.iter().map(|a| (a.id, a.name.clone())))
        .collect();
    let mut docs = Vec::with_capacity(v.jobs.len());
    for j in &v.jobs {
        let doc = core
            .annotations()
            .job_get(actor, j.id)
            .await
            .map_err(internal)?;
        docs.push(named_document(&doc, &label_names, &attr_names));
    }
    let t = &v.task;
    let mut data_meta = json!({
        "chunk_size": data.chunk_size, "image_quality": data.image_quality,
        "start_frame": data.start_frame, "stop_frame": data.stop_frame,
        "chunk_type": data.compressed_chunk_type, "storage_method": "cache", "storage": "local",
        "sorting_method": "lexicographical", "deleted_frames": [],
    });
    if !data.frame_filter.is_empty() {
        data_meta["frame_filter"] = json!(data.frame_filter);
    }
    let task_json = json!({
        "name": t.name, "bug_tracker": t.bug_tracker, "status": t.status, "subset": "",
        "labels": labels_json(&v.labels), "version": VERSION, "data": data_meta,
        "jobs": v.jobs.iter().map(|j| json!({"status": j.status, "type": "annotation",
            "start_frame": j.start_frame, "stop_frame": j.stop_frame, "frames": []})).collect::<Vec<_>>(),
    });
    let raw = crate::tasks::data_dir(core, data.id).join("raw");
    core.media()
        .fetch_dir(&raw)
        .await
        .map_err(|e| format!("cannot read the task's files: {e}"))?;
    Ok(TaskParts {
        raw,
        frames,
        task_json,
        docs,
    })
}

type Zip = zip::ZipWriter<std::io::BufWriter<std::fs::File>>;

fn zip_options() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true)
}

/// Runs a backup export item: writes the zip of the task's or project's state
/// `updated`. A project's tasks are written one after the other, each read from the
/// store just before (one task's annotations in memory at a time).
pub async fn run_export(core: &Core, item: &QueueItem) -> std::result::Result<(), String> {
    let p: Value = serde_json::from_str(&item.payload).map_err(internal)?;
    let target = payload_target(&p).ok_or("backup without a task or project")?;
    let stamp = p["updated"].as_i64().unwrap_or_default();
    let path = file_path(core, target, stamp);
    if core.media().exists(&path).await {
        return Ok(());
    }
    let user = p["user"].as_i64().ok_or("backup without a user")?;
    let actor = core
        .actor_of(user, "the user who asked for the backup")
        .await?;
    let tmp = path.with_extension(format!("{}.part", crate::random_hex(6)));
    let written = write_backup(core, &actor, target, &tmp).await;
    if let Err(e) = written {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    tokio::fs::rename(&tmp, &path).await.map_err(internal)?;
    core.media().publish(&path).await.map_err(internal)?;
    // backups of earlier states are never asked for again
    let dir = path.parent().unwrap_or(&path);
    let mine = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    for n in core.media().names_in(dir).await {
        if n.starts_with("backup-") && n.ends_with(".zip") && n != mine {
            let _ = core.media().remove(&dir.join(&n)).await;
        }
    }
    Ok(())
}

/// Writes the backup of `target` to `to`: a task's parts at the top, or CVAT's
/// project layout, `project.json` and `task_<i>/` per task in id order.
async fn write_backup(
    core: &Core,
    actor: &Actor,
    target: Target,
    to: &Path,
) -> std::result::Result<(), String> {
    let to = to.to_path_buf();
    let mut zip = core
        .blocking(move || -> std::result::Result<Zip, String> {
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir).map_err(internal)?;
            }
            let file = std::fs::File::create(&to).map_err(internal)?;
            Ok(zip::ZipWriter::new(std::io::BufWriter::new(file)))
        })
        .await
        .map_err(internal)??;
    let task_ids = match target {
        Target::Task(id) => vec![(String::new(), id)],
        Target::Project(id) => {
            let v = core.projects().get(actor, id).await.map_err(internal)?;
            let p = &v.project;
            let project_json = json!({
                "name": p.name, "bug_tracker": p.bug_tracker, "status": p.status,
                "labels": labels_json(&v.labels), "version": VERSION,
            });
            zip.start_file("project.json", zip_options())
                .map_err(internal)?;
            zip.write_all(project_json.to_string().as_bytes())
                .map_err(internal)?;
            let tasks = core.db().project_tasks(id).await.map_err(internal)?;
            tasks
                .iter()
                .filter(|t| t.data_id.is_some())
                .enumerate()
                .map(|(i, t)| (format!("task_{i}/"), t.id))
                .collect()
        }
    };
    for (prefix, id) in task_ids {
        let parts = task_parts(core, actor, id).await?;
        zip = core
            .blocking(move || -> std::result::Result<Zip, String> {
                write_task(&mut zip, &prefix, &parts)?;
                Ok(zip)
            })
            .await
            .map_err(internal)??;
    }
    core.blocking(move || -> std::result::Result<(), String> {
        zip.finish()
            .map_err(internal)?
            .into_inner()
            .map_err(internal)?
            .sync_all()
            .map_err(internal)
    })
    .await
    .map_err(internal)?
}

/// The regular files under `dir`, as `/`-separated paths relative to it, sorted.
fn walk(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(dir.join(&rel))? {
            let e = e?;
            let ty = e.file_type()?;
            let r = rel.join(e.file_name());
            if ty.is_dir() {
                stack.push(r);
            } else if ty.is_file() {
                out.push(r.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// One task's `data/`, `task.json` and `annotations.json`, under `prefix`.
fn write_task(zip: &mut Zip, prefix: &str, parts: &TaskParts) -> std::result::Result<(), String> {
    let opts = zip_options();
    let TaskParts {
        raw,
        frames,
        task_json,
        docs,
    } = parts;
    let files = walk(raw).map_err(internal)?;
    for rel in &files {
        zip.start_file(format!("{prefix}data/{rel}"), opts)
            .map_err(internal)?;
        let mut src = std::fs::File::open(raw.join(rel)).map_err(internal)?;
        std::io::copy(&mut src, zip).map_err(internal)?;
    }
    // a manifest only when the frames are the uploaded files themselves (not the
    // members of an archive, a PDF's pages or a video's frames)
    if !frames.is_empty() && frames.iter().all(|f| files.contains(&f.name)) {
        zip.start_file(format!("{prefix}data/manifest.jsonl"), opts)
            .map_err(internal)?;
        let mut text = String::from("{\"version\":\"1.1\"}\n{\"type\":\"images\"}\n");
        for f in frames {
            let (stem, ext) = match f.name.rfind('.') {
                Some(i) if !f.name[i..].contains('/') => (&f.name[..i], &f.name[i..]),
                _ => (f.name.as_str(), ""),
            };
            text.push_str(
                &json!({"name": stem, "extension": ext, "width": f.width, "height": f.height})
                    .to_string(),
            );
            text.push('\n');
        }
        zip.write_all(text.as_bytes()).map_err(internal)?;
    }
    zip.start_file(format!("{prefix}task.json"), opts)
        .map_err(internal)?;
    zip.write_all(task_json.to_string().as_bytes())
        .map_err(internal)?;
    zip.start_file(format!("{prefix}annotations.json"), opts)
        .map_err(internal)?;
    serde_json::to_writer(zip, docs).map_err(internal)
}

/// What `task.json` asks for, checked.
struct Meta {
    create: Map<String, Value>,
    data: Map<String, Value>,
    job_statuses: Vec<String>,
}

fn bad(msg: impl Into<String>) -> String {
    format!("Invalid backup: {}", msg.into())
}

fn check_version(doc: &Value) -> std::result::Result<(), String> {
    if doc["version"] != VERSION {
        return Err(bad(format!("{} version is not supported", doc["version"])));
    }
    Ok(())
}

/// The labels of `task.json` or `project.json`, as a create request takes them.
fn read_labels(doc: &Value) -> std::result::Result<Vec<Value>, String> {
    let mut labels = Vec::new();
    for l in doc["labels"]
        .as_array()
        .ok_or_else(|| bad("labels is not a list"))?
    {
        let name = l["name"]
            .as_str()
            .ok_or_else(|| bad("a label has no name"))?;
        if l["type"] == "skeleton" || l["sublabels"].as_array().is_some_and(|s| !s.is_empty()) {
            return Err(bad(format!(
                "label {name:?} is a skeleton, which this server does not support"
            )));
        }
        let attributes: Vec<Value> = l["attributes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|a| {
                        json!({"name": a["name"], "mutable": a["mutable"], "input_type": a["input_type"],
                               "default_value": a["default_value"], "values": a["values"]})
                    })
                    .collect()
            })
            .unwrap_or_default();
        labels.push(json!({"name": name, "attributes": attributes}));
    }
    Ok(labels)
}

fn read_meta(task: &Value) -> std::result::Result<Meta, String> {
    for k in ["version", "data", "labels", "jobs"] {
        if task.get(k).is_none() {
            return Err(bad(format!("task.json has no {k:?}")));
        }
    }
    check_version(task)?;
    let labels = read_labels(task)?;
    let jobs: Vec<&Value> = task["jobs"]
        .as_array()
        .ok_or_else(|| bad("jobs is not a list"))?
        .iter()
        .filter(|j| j["type"].as_str().is_none_or(|t| t == "annotation"))
        .collect();
    let span = |j: &Value| -> std::result::Result<(i64, i64), String> {
        match (j["start_frame"].as_i64(), j["stop_frame"].as_i64()) {
            (Some(a), Some(b)) if a <= b => Ok((a, b)),
            _ => Err(bad("a job has no valid start_frame and stop_frame")),
        }
    };
    let first = jobs.first().map(|j| span(j)).transpose()?;
    let (segment_size, overlap) = match (first, jobs.get(1).map(|j| span(j)).transpose()?) {
        (Some((a, b)), Some((c, _))) => (b - a + 1, (b - c + 1).max(0)),
        _ => (0, 0),
    };
    let mut create = Map::new();
    create.insert("name".into(), task["name"].clone());
    create.insert(
        "bug_tracker".into(),
        json!(task["bug_tracker"].as_str().unwrap_or("")),
    );
    create.insert("labels".into(), Value::Array(labels));
    create.insert("segment_size".into(), json!(segment_size));
    create.insert("overlap".into(), json!(overlap));
    let d = &task["data"];
    let mut data = Map::new();
    data.insert("image_quality".into(), d["image_quality"].clone());
    for k in ["chunk_size", "start_frame", "stop_frame", "frame_filter"] {
        if let Some(v) = d.get(k).filter(|v| !v.is_null()) {
            data.insert(k.into(), v.clone());
        }
    }
    data.insert(
        "use_zip_chunks".into(),
        json!(d["chunk_type"].as_str().is_none_or(|t| t == "imageset")),
    );
    let job_statuses = jobs
        .iter()
        .map(|j| j["status"].as_str().unwrap_or("annotation").to_string())
        .collect();
    Ok(Meta {
        create,
        data,
        job_statuses,
    })
}

/// Checks every label and attribute name of `annotations.json` against the labels
/// (`task.json`'s, or for a project's task `project.json`'s), so that a restore fails
/// before it creates anything.
fn check_names(annotations: &Value, labels: &[Value]) -> std::result::Result<(), String> {
    let mut known: HashMap<&str, Vec<&str>> = HashMap::new();
    for l in labels {
        let attrs = l["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["name"].as_str())
            .collect();
        known.insert(l["name"].as_str().unwrap_or_default(), attrs);
    }
    let docs = annotations
        .as_array()
        .ok_or_else(|| bad("annotations.json is not a list"))?;
    for doc in docs {
        for key in ["tags", "shapes", "tracks"] {
            for o in doc[key].as_array().into_iter().flatten() {
                let label = o["label"].as_str().unwrap_or_default();
                let attrs = known
                    .get(label)
                    .ok_or_else(|| bad(format!("an object has the unknown label {label:?}")))?;
                if o["elements"].as_array().is_some_and(|e| !e.is_empty()) {
                    return Err(bad("skeleton objects are not supported by this server"));
                }
                let own = o["attributes"].as_array().into_iter().flatten();
                let inner = o["shapes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|s| s["attributes"].as_array().into_iter().flatten());
                for a in own.chain(inner) {
                    let n = a["name"].as_str().unwrap_or_default();
                    if !attrs.contains(&n) {
                        return Err(bad(format!("label {label:?} has no attribute {n:?}")));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Runs a restore item. A retry after a crash goes on with the task it created; a
/// project restore starts again, after removing what the crashed attempt made.
pub async fn run_restore(core: &Core, item: &QueueItem) -> std::result::Result<(), String> {
    let p: Value = serde_json::from_str(&item.payload).map_err(internal)?;
    let file = PathBuf::from(p["file"].as_str().unwrap_or_default());
    let outcome = restore(core, item, &p, &file).await;
    let _ = tokio::fs::remove_file(&file).await;
    outcome
}

async fn restore(
    core: &Core,
    item: &QueueItem,
    p: &Value,
    file: &Path,
) -> std::result::Result<(), String> {
    let user = p["user"].as_i64().ok_or("restore without a user")?;
    let actor = core.actor_of(user, "the restoring user").await?;
    let project = p["target"] == "project";
    if let Some(made) = item.result.as_deref() {
        if !project {
            return Ok(()); // the task exists and its data item goes on by itself
        }
        if let Ok(id) = made.parse::<i64>() {
            match core.projects().delete(&actor, id).await {
                Ok(()) | Err(Error::NotFound) => {}
                Err(e) => return Err(describe(e)),
            }
        }
    }
    let scratch = core
        .config()
        .data_dir
        .join("tmp")
        .join(format!("restore-{}", crate::random_hex(8)));
    let outcome = restore_from(core, item, &actor, file, &scratch, project).await;
    let _ = tokio::fs::remove_dir_all(&scratch).await;
    outcome
}

fn read_json(dir: &Path, name: &str) -> std::result::Result<Value, String> {
    let mut text = String::new();
    std::fs::File::open(dir.join(name))
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|_| bad(format!("there is no {name}")))?;
    serde_json::from_str(&text).map_err(|e| bad(format!("{name}: {e}")))
}

/// One task of a backup, read and checked.
struct TaskBackup {
    meta: Meta,
    annotations: Value,
    /// The task's `data/` folder and the media in it.
    staged: PathBuf,
    names: Vec<String>,
}

/// Reads the task backup in `dir`; `labels` are the project's for a task of a
/// project backup (its `task.json` may list none).
fn read_task(dir: &Path, labels: Option<&[Value]>) -> std::result::Result<TaskBackup, String> {
    let mut task_json = read_json(dir, "task.json")?;
    if labels.is_some() && task_json.get("labels").is_none() {
        task_json["labels"] = json!([]);
    }
    let annotations = read_json(dir, "annotations.json")?;
    let meta = read_meta(&task_json)?;
    let own = meta.create["labels"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    check_names(&annotations, labels.unwrap_or(&own))?;
    let staged = dir.join("data");
    for leftover in ["manifest.jsonl", "index.json", "related_images"] {
        let p = staged.join(leftover);
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_dir_all(&p);
    }
    let names: Vec<String> = std::fs::read_dir(&staged)
        .map_err(|_| bad("there is no data/ folder"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    if names.is_empty() {
        return Err(bad("data/ holds no media"));
    }
    Ok(TaskBackup {
        meta,
        annotations,
        staged,
        names,
    })
}

/// The `task_<i>/` folders of a project backup, in the order of `i`.
fn task_dirs(root: &Path) -> std::result::Result<Vec<PathBuf>, String> {
    let mut dirs: Vec<(u64, PathBuf)> = std::fs::read_dir(root)
        .map_err(internal)?
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            Some((n.strip_prefix("task_")?.parse().ok()?, e.path()))
        })
        .collect();
    dirs.sort();
    Ok(dirs.into_iter().map(|(_, p)| p).collect())
}

async fn restore_from(
    core: &Core,
    item: &QueueItem,
    actor: &Actor,
    file: &Path,
    scratch: &Path,
    project: bool,
) -> std::result::Result<(), String> {
    let limits = crate::processing::Limits::from_config(core.config()).archive;
    let limits = ferrocat_media::archive::Limits {
        max_member_bytes: limits.max_total_bytes,
        ..limits
    };
    let (src, dest) = (file.to_path_buf(), scratch.to_path_buf());
    core.blocking(move || ferrocat_media::archive::extract(&src, &dest, &limits))
        .await
        .map_err(internal)?
        .map_err(|e| bad(format!("not a readable zip: {e}")))?;
    if !project {
        let task = read_task(scratch, None)?;
        create_task(core, actor, task, None, Some(item)).await?;
        return Ok(());
    }
    // a project: everything is read and checked before anything is made
    let project_json = read_json(scratch, "project.json")?;
    check_version(&project_json)?;
    let labels = read_labels(&project_json)?;
    let tasks = task_dirs(scratch)?
        .iter()
        .map(|d| read_task(d, Some(&labels)))
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let mut create = Map::new();
    create.insert("name".into(), project_json["name"].clone());
    let bug_tracker = project_json["bug_tracker"].as_str().unwrap_or("");
    create.insert("bug_tracker".into(), json!(bug_tracker));
    create.insert("labels".into(), Value::Array(labels));
    let projects = core.projects();
    let made = projects
        .create(actor, &create)
        .await
        .map_err(|e| bad(describe(e)))?;
    let pid = made.project.id;
    core.db()
        .queue_result(item.id, &pid.to_string())
        .await
        .map_err(internal)?;
    for task in tasks {
        if let Err(e) = create_task(core, actor, task, Some(pid), None).await {
            let _ = projects.delete(actor, pid).await;
            return Err(e);
        }
    }
    Ok(())
}

/// Creates a restored task (in project `project`, whose labels it takes) and attaches
/// its media; its processing item writes the annotations when the frames exist. The
/// restore `item` of a task backup records the task before its media are attached, so
/// that a retry goes on with it.
async fn create_task(
    core: &Core,
    actor: &Actor,
    task: TaskBackup,
    project: Option<i64>,
    item: Option<&QueueItem>,
) -> std::result::Result<i64, String> {
    let TaskBackup {
        mut meta,
        annotations,
        staged,
        names,
    } = task;
    if let Some(pid) = project {
        meta.create.remove("labels");
        meta.create.insert("project_id".into(), json!(pid));
    }
    let tasks = core.tasks();
    let view = tasks
        .create(actor, &meta.create)
        .await
        .map_err(|e| bad(describe(e)))?;
    let tid = view.task.id;
    if let Some(item) = item {
        core.db()
            .queue_result(item.id, &tid.to_string())
            .await
            .map_err(internal)?;
    }
    let restore = json!({"annotations": annotations, "job_statuses": meta.job_statuses});
    let attached = tasks
        .attach_data_then(actor, tid, &meta.data, names, &staged, restore)
        .await;
    if let Err(e) = attached {
        let _ = tasks.delete(actor, tid).await;
        return Err(bad(describe(e)));
    }
    Ok(tid)
}

fn describe(e: Error) -> String {
    match e {
        Error::Invalid(f) => serde_json::to_string(&f).unwrap_or_default(),
        Error::Body(v) => v.to_string(),
        Error::Bare(v) => v.join("; "),
        other => other.to_string(),
    }
}

/// Converts one `annotations.json` object's attributes (by name) to spec ids.
fn attr_values(v: &Value, specs: &HashMap<String, i64>) -> Vec<AttributeValue> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            Some(AttributeValue {
                spec_id: *specs.get(a["name"].as_str()?)?,
                value: match &a["value"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            })
        })
        .collect()
}

fn shape_type(v: &Value) -> std::result::Result<ShapeType, String> {
    serde_json::from_value(v.clone()).map_err(|_| bad(format!("unsupported shape type {v}")))
}

fn points(v: &Value) -> Vec<f64> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .collect()
}

/// The document `annotations.json` describes, in the restored task's ids.
fn to_document(
    annotations: &Value,
    labels: &[(
        ferrocat_store::tasks::LabelRow,
        Vec<ferrocat_store::tasks::AttrRow>,
    )],
) -> std::result::Result<LabeledData, String> {
    let by_name: HashMap<&str, (i64, HashMap<String, i64>)> = labels
        .iter()
        .map(|(l, a)| {
            (
                l.name.as_str(),
                (l.id, a.iter().map(|a| (a.name.clone(), a.id)).collect()),
            )
        })
        .collect();
    let label = |o: &Value| {
        by_name
            .get(o["label"].as_str().unwrap_or_default())
            .ok_or_else(|| bad(format!("unknown label {}", o["label"])))
    };
    let group = |o: &Value| Some(o["group"].as_i64().unwrap_or(0));
    let frame = |o: &Value| o["frame"].as_i64().unwrap_or(0);
    let mut doc = LabeledData::default();
    for d in annotations.as_array().into_iter().flatten() {
        for o in d["tags"].as_array().into_iter().flatten() {
            let (id, specs) = label(o)?;
            doc.tags.push(Tag {
                id: None,
                frame: frame(o),
                label_id: *id,
                group: group(o),
                attributes: attr_values(&o["attributes"], specs),
            });
        }
        for o in d["shapes"].as_array().into_iter().flatten() {
            let (id, specs) = label(o)?;
            doc.shapes.push(Shape {
                kind: shape_type(&o["type"])?,
                occluded: o["occluded"].as_bool().unwrap_or(false),
                z_order: o["z_order"].as_i64().unwrap_or(0),
                points: points(&o["points"]),
                id: None,
                frame: frame(o),
                label_id: *id,
                group: group(o),
                attributes: attr_values(&o["attributes"], specs),
            });
        }
        for o in d["tracks"].as_array().into_iter().flatten() {
            let (id, specs) = label(o)?;
            let mut shapes = Vec::new();
            for s in o["shapes"].as_array().into_iter().flatten() {
                shapes.push(TrackedShape {
                    kind: shape_type(&s["type"])?,
                    occluded: s["occluded"].as_bool().unwrap_or(false),
                    z_order: s["z_order"].as_i64().unwrap_or(0),
                    points: points(&s["points"]),
                    id: None,
                    frame: frame(s),
                    outside: s["outside"].as_bool().unwrap_or(false),
                    attributes: attr_values(&s["attributes"], specs),
                });
            }
            doc.tracks.push(Track {
                id: None,
                frame: frame(o),
                label_id: *id,
                group: group(o),
                shapes,
                attributes: attr_values(&o["attributes"], specs),
            });
        }
    }
    Ok(doc)
}

/// After a restored task's frames exist: writes the backup's annotations and sets its
/// jobs' statuses (`restore` from the `task_data` payload).
pub(crate) async fn apply_restore(
    core: &Core,
    task_id: i64,
    restore: &Value,
) -> std::result::Result<(), String> {
    let v = core
        .tasks()
        .get_unchecked(task_id)
        .await
        .map_err(internal)?;
    let doc = to_document(&restore["annotations"], &v.labels)?;
    let owner = v.task.owner_id.ok_or("the restored task has no owner")?;
    let actor = core.actor_of(owner, "the restoring user").await?;
    let body = serde_json::to_vec(&doc).map_err(internal)?;
    core.annotations()
        .task_write(
            &actor,
            task_id,
            WriteRequest {
                action: Action::Replace,
                body: &body,
                if_match: None,
                idempotency_key: None,
                request_line: "restore",
                import: true,
            },
        )
        .await
        .map_err(describe)?;
    let statuses = restore["job_statuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (j, s) in v.jobs.iter().zip(statuses) {
        if s != "annotation" {
            let mut body = Map::new();
            body.insert("status".into(), s);
            core.tasks()
                .update_job(&actor, j.id, &body)
                .await
                .map_err(describe)?;
        }
    }
    Ok(())
}
