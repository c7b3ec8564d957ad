//! Annotation imports (api-v1 §10.3, §10.4): `PUT /tasks/{id}/annotations?format=F` and
//! `PUT /jobs/{id}/annotations?format=F` with a multipart `annotation_file`.
//!
//! An import is a queue item keyed by target and user (`task/7/import/3`): the first
//! request stores the file and queues the work (202), later ones answer 202 while it
//! runs, 201 once it is done, 500 with the message when it failed (the state is then
//! cleared). The file's objects replace the target's annotations through the same write
//! path as the JSON API, in one transaction: a failed import changes nothing.

use std::collections::HashMap;

use ferrocat_formats::{Dataset, Importer, ItemRef, Lookup};
use ferrocat_store::queue::QueueItem;
use ferrocat_wire::annotations::{AttributeValue, LabeledData, Shape, Tag, Track, TrackedShape};
use serde_json::{Value, json};

use crate::Core;
use crate::annotations::{Action, WriteRequest};
use crate::error::{Error, Result};
use crate::permissions::{Actor, Perm};

/// How long the outcome of an import waits for its client.
const RESULT_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// Queue item kind of imports.
pub const KIND: &str = "import";

/// What an import is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Task(i64),
    Job(i64),
}

impl Target {
    /// `("task", id)` or `("job", id)`.
    pub fn parts(self) -> (&'static str, i64) {
        match self {
            Target::Task(id) => ("task", id),
            Target::Job(id) => ("job", id),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ImportAnswer {
    /// 202: queued or running.
    Accepted,
    /// 201: done.
    Done,
    /// 500 with this message.
    Failed(String),
}

pub struct ImportService<'a> {
    pub(crate) core: &'a Core,
}

fn importer(name: &str) -> Result<Importer> {
    match ferrocat_formats::importer(name) {
        Lookup::Unknown => Err(Error::Bare(vec![format!("Unknown input format '{name}'")])),
        Lookup::Disabled => Err(Error::Disabled),
        Lookup::Ready(i) => Ok(i),
    }
}

impl ImportService<'_> {
    /// Checks that `actor` may import into `target`, in `format`.
    pub async fn check(&self, actor: &Actor, target: Target, format: &str) -> Result<()> {
        self.check_access(actor, target).await?;
        importer(format).map(|_| ())
    }

    /// Checks that `actor` may import into `target` (in any format).
    pub async fn check_access(&self, actor: &Actor, target: Target) -> Result<()> {
        match target {
            Target::Task(id) => {
                self.core.tasks().authorized_change(actor, id).await?;
            }
            Target::Job(id) => {
                let (_, facts) = self.core.tasks().job_facts(id).await?;
                self.core.check(actor, Perm::JobChange(&facts))?;
            }
        }
        Ok(())
    }

    /// CVAT 2's import (`POST …/annotations/?format=F` after an upload): queues the import
    /// of the uploaded `file` (moved into the imports folder) and answers its request id,
    /// `import:task-7-annotations-by-3`. One import per target and user at a time.
    pub async fn start_file(
        &self,
        actor: &Actor,
        target: Target,
        format: &str,
        file: &std::path::Path,
    ) -> Result<String> {
        self.check(actor, target, format).await?;
        let (kind, id) = target.parts();
        let key = format!("import:{kind}-{id}-annotations-by-{}", actor.id);
        let db = self.core.db();
        if let Some(it) = db.queue_item(&key).await?
            && matches!(it.state.as_str(), "queued" | "started")
        {
            return Err(Error::Conflict(
                "An import of annotations into this target is already running".into(),
            ));
        }
        let path = self.stored_path().await?;
        tokio::fs::rename(file, &path)
            .await
            .map_err(|e| Error::Internal(format!("import file: {e}")))?;
        self.enqueue(actor, &key, target, format, &path).await?;
        Ok(key)
    }

    /// A new path in the imports folder.
    async fn stored_path(&self) -> Result<std::path::PathBuf> {
        let dir = self.core.config().data_dir.join("imports");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::Internal(format!("import folder: {e}")))?;
        Ok(dir.join(format!("{}.upload", crate::random_hex(16))))
    }

    /// Queues the import of the stored `file` under `key`.
    async fn enqueue(
        &self,
        actor: &Actor,
        key: &str,
        target: Target,
        format: &str,
        file: &std::path::Path,
    ) -> Result<()> {
        let (kind, id) = target.parts();
        let payload = json!({
            "target": kind, "id": id, "format": format, "user": actor.id,
            "file": file.to_string_lossy(),
        });
        self.core
            .db()
            .enqueue(key, KIND, &payload.to_string(), Some(actor.id))
            .await?;
        self.core.notify_queue();
        Ok(())
    }

    /// One request of the §10.3 protocol. `file` is the uploaded `annotation_file`, if
    /// any (needed only to start an import).
    pub async fn request(
        &self,
        actor: &Actor,
        target: Target,
        format: &str,
        file: Option<Vec<u8>>,
    ) -> Result<ImportAnswer> {
        self.check(actor, target, format).await?;
        let db = self.core.db();
        let (kind, id) = target.parts();
        let key = format!("{kind}/{id}/import/{}", actor.id);
        let mut item = db.queue_item(&key).await?;
        // an outcome nobody came back for is forgotten after a while, so that it does not
        // answer a new import days later
        if let Some(it) = &item
            && matches!(it.state.as_str(), "finished" | "failed")
            && ferrocat_store::now() - it.updated > RESULT_TTL
        {
            db.dequeue(it).await?;
            item = None;
        }
        if let Some(item) = item {
            return Ok(match item.state.as_str() {
                "finished" => {
                    db.dequeue(&item).await?;
                    ImportAnswer::Done
                }
                "failed" => {
                    db.dequeue(&item).await?;
                    ImportAnswer::Failed(item.message)
                }
                _ => ImportAnswer::Accepted,
            });
        }
        let Some(bytes) = file.filter(|b| !b.is_empty()) else {
            return Err(Error::field("annotation_file", "No file was submitted."));
        };
        let path = self.stored_path().await?;
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|e| Error::Internal(format!("import file: {e}")))?;
        self.enqueue(actor, &key, target, format, &path).await?;
        Ok(ImportAnswer::Accepted)
    }
}

/// Runs one import queue item (in a worker); the stored file is removed either way.
pub async fn run(core: &Core, item: &QueueItem) -> std::result::Result<(), String> {
    let p: Value = serde_json::from_str(&item.payload).map_err(|e| e.to_string())?;
    let file = p["file"].as_str().unwrap_or_default().to_string();
    let outcome = import(core, &p, &file).await;
    let _ = tokio::fs::remove_file(&file).await;
    outcome
}

async fn import(core: &Core, p: &Value, file: &str) -> std::result::Result<(), String> {
    let id = p["id"].as_i64().ok_or("import without a target")?;
    let user = p["user"].as_i64().ok_or("import without a user")?;
    let format = p["format"].as_str().unwrap_or_default();
    let which = importer(format).map_err(|_| format!("Unknown input format '{format}'"))?;
    let bytes = tokio::fs::read(file)
        .await
        .map_err(|e| format!("the uploaded file is gone: {e}"))?;
    let db = core.db();
    let actor = core.actor_of(user, "the importing user").await?;
    let (task_id, job) = match p["target"].as_str() {
        Some("job") => {
            let job = db
                .job(id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the job is gone")?;
            (job.task_id, Some(job))
        }
        _ => (id, None),
    };
    let doc = match which {
        Importer::Yolo => {
            let parsed = core
                .blocking(move || ferrocat_formats::yolo::read(std::io::Cursor::new(bytes)))
                .await
                .map_err(|e| e.to_string())??;
            convert_yolo(core, task_id, parsed).await?
        }
        other => {
            let parsed = core
                .blocking(move || ferrocat_formats::read(other, &bytes))
                .await
                .map_err(|e| e.to_string())??;
            convert_dataset(core, task_id, parsed).await?
        }
    };
    let svc = core.annotations();
    let (doc, write) = match &job {
        // a job keeps only the part of the file inside its frames (§10.3)
        Some(j) => (
            crate::annotations::merge::slice(&doc, j.start_frame, j.stop_frame),
            true,
        ),
        None => (doc, false),
    };
    let body = core
        .blocking(move || serde_json::to_vec(&doc))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let req = WriteRequest {
        action: Action::Replace,
        body: &body,
        if_match: None,
        idempotency_key: None,
        request_line: "import",
        import: true,
    };
    let result = if write {
        svc.job_write(&actor, id, req).await
    } else {
        svc.task_write(&actor, id, req).await
    };
    result.map(|_| ()).map_err(|e| match e {
        Error::Body(Value::String(s)) => s,
        Error::Body(v) => v.to_string(),
        other => other.to_string(),
    })
}

/// The data id of the task, checking that the task exists and has data.
async fn task_data_id(core: &Core, task_id: i64) -> std::result::Result<i64, String> {
    let task = core
        .db()
        .task(task_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the task is gone")?;
    Ok(task.data_id.ok_or("The task has no data to annotate")?)
}

/// The frames of the task's data.
async fn task_frames(
    core: &Core,
    task_id: i64,
) -> std::result::Result<Vec<ferrocat_store::tasks::FrameRow>, String> {
    let data_id = task_data_id(core, task_id).await?;
    core.db().frames(data_id).await.map_err(|e| e.to_string())
}

/// A label's attribute specs: attribute name → (spec id, mutable).
type Specs = HashMap<String, (i64, bool)>;

/// The task's labels by name: label name → (label id, attribute specs).
struct TaskLabels(HashMap<String, (i64, Specs)>);

impl TaskLabels {
    async fn load(core: &Core, task_id: i64) -> std::result::Result<Self, String> {
        let labels = core
            .db()
            .labels_of(&[task_id])
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(l, attrs)| {
                let specs = attrs
                    .into_iter()
                    .map(|a| (a.name, (a.id, a.mutable)))
                    .collect();
                (l.name, (l.id, specs))
            })
            .collect();
        Ok(TaskLabels(labels))
    }

    /// The id and attribute specs of the label `name`.
    fn label(&self, name: &str) -> std::result::Result<(i64, &Specs), String> {
        self.0
            .get(name)
            .map(|(id, specs)| (*id, specs))
            .ok_or_else(|| format!("Label '{name}' is not registered for this task"))
    }

    /// The values of those of `attrs` (by name) that `specs` knows, the first one of each
    /// spec; only the mutable (`Some(true)`) or immutable (`Some(false)`) ones when `want`
    /// says so.
    fn values(
        specs: &Specs,
        attrs: &[(String, String)],
        want: Option<bool>,
    ) -> Vec<AttributeValue> {
        let mut out: Vec<AttributeValue> = Vec::new();
        for (n, v) in attrs {
            if let Some((id, mutable)) = specs.get(n)
                && want.is_none_or(|w| w == *mutable)
                && !out.iter().any(|a| a.spec_id == *id)
            {
                out.push(AttributeValue {
                    spec_id: *id,
                    value: v.clone(),
                });
            }
        }
        out
    }
}

/// Task frames by item name (§10.4), built once per import: the frame whose name
/// without extension is the item, else the one whose base name is the item's base name
/// (the first such frame in both cases), else the item as a frame number.
struct FrameIndex {
    by_item: HashMap<String, usize>,
    by_base: HashMap<String, usize>,
    len: usize,
}

impl FrameIndex {
    fn new(frames: &[ferrocat_store::tasks::FrameRow]) -> Self {
        use ferrocat_formats::yolo::item_name;
        let mut by_item = HashMap::with_capacity(frames.len());
        let mut by_base = HashMap::with_capacity(frames.len());
        for (k, f) in frames.iter().enumerate() {
            let item = item_name(&f.name);
            by_item.entry(item.to_string()).or_insert(k);
            by_base.entry(base_name(item).to_string()).or_insert(k);
        }
        FrameIndex {
            by_item,
            by_base,
            len: frames.len(),
        }
    }

    fn find(&self, item: &str) -> Option<usize> {
        self.by_item
            .get(item)
            .or_else(|| self.by_base.get(base_name(item)))
            .copied()
            .or_else(|| item.parse::<usize>().ok().filter(|k| *k < self.len))
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// YOLO boxes to rectangles in pixels; classes by `obj.names` to labels by name.
async fn convert_yolo(
    core: &Core,
    task_id: i64,
    f: ferrocat_formats::yolo::YoloFile,
) -> std::result::Result<LabeledData, String> {
    let frames = task_frames(core, task_id).await?;
    let labels = TaskLabels::load(core, task_id).await?;
    let index = FrameIndex::new(&frames);
    let mut doc = LabeledData::default();
    for (item, boxes) in f.items {
        let k = index
            .find(&item)
            .ok_or_else(|| format!("Unknown frame {item}"))?;
        let fr = &frames[k];
        let (w, h) = (fr.width as f64, fr.height as f64);
        for b in boxes {
            let name = f
                .names
                .get(b.class)
                .ok_or_else(|| format!("{item}: class {} is not in obj.names", b.class))?;
            let (label_id, _) = labels.label(name)?;
            doc.shapes.push(Shape {
                kind: ferrocat_wire::annotations::ShapeType::Rectangle,
                occluded: false,
                z_order: 0,
                points: vec![
                    (b.cx - b.w / 2.0) * w,
                    (b.cy - b.h / 2.0) * h,
                    (b.cx + b.w / 2.0) * w,
                    (b.cy + b.h / 2.0) * h,
                ],
                id: None,
                frame: fr.frame,
                label_id,
                group: Some(0),
                attributes: vec![],
            });
        }
    }
    Ok(doc)
}

/// An item-based file's objects to the task: items to frames (§10.4), labels and
/// attributes by name (unknown attribute names dropped), tracks' shapes sorted by frame
/// (all keyframes; immutable values from the last one go to the track, as CVAT).
async fn convert_dataset(
    core: &Core,
    task_id: i64,
    f: Dataset,
) -> std::result::Result<LabeledData, String> {
    let data_id = task_data_id(core, task_id).await?;
    let data = core
        .db()
        .data(data_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("The task has no data to annotate")?;
    let step = i64::from(crate::processing::parse_step(&data.frame_filter).unwrap_or(1));
    let frames = core.db().frames(data_id).await.map_err(|e| e.to_string())?;
    let index = FrameIndex::new(&frames);
    let frame = |r: &ItemRef| -> std::result::Result<i64, String> {
        match r {
            // k = (abs - start_frame) / step, an integer in 0..size (§10.4)
            ItemRef::Abs(abs) => abs
                .checked_sub(data.start_frame)
                .filter(|rel| *rel >= 0 && rel % step == 0 && rel / step < data.size)
                .map(|rel| rel / step)
                .ok_or_else(|| format!("Unknown frame {abs}")),
            ItemRef::Name(item) => index
                .find(item)
                .map(|k| frames[k].frame)
                .ok_or_else(|| format!("Unknown frame {item}")),
            ItemRef::Frame(k) => usize::try_from(*k)
                .ok()
                .and_then(|k| frames.get(k))
                .map(|f| f.frame)
                .ok_or_else(|| format!("Unknown frame {k}")),
        }
    };
    let labels = TaskLabels::load(core, task_id).await?;
    let mut doc = LabeledData::default();
    for it in f.items {
        let k = frame(&it.item)?;
        for s in it.objects.shapes {
            let (label_id, specs) = labels.label(&s.label)?;
            doc.shapes.push(Shape {
                kind: s.kind,
                occluded: s.occluded,
                z_order: s.z_order,
                points: s.points,
                id: None,
                frame: k,
                label_id,
                group: Some(s.group.max(0)),
                attributes: TaskLabels::values(specs, &s.attributes, None),
            });
        }
        for t in it.objects.tags {
            let (label_id, specs) = labels.label(&t.label)?;
            doc.tags.push(Tag {
                id: None,
                frame: k,
                label_id,
                group: Some(t.group.max(0)),
                attributes: TaskLabels::values(specs, &t.attributes, None),
            });
        }
    }
    for t in f.tracks {
        let (label_id, specs) = labels.label(&t.label)?;
        let mut keys = Vec::with_capacity(t.shapes.len());
        for (item, shape, outside) in t.shapes {
            match frame(&item) {
                Ok(k) => keys.push((k, shape, outside)),
                // an outside mark past the task's end only says the object left
                Err(_) if outside => {}
                Err(e) => return Err(e),
            }
        }
        keys.sort_by_key(|(k, _, _)| *k);
        keys.dedup_by_key(|(k, _, _)| *k);
        let Some((_, last, _)) = keys.last() else {
            continue;
        };
        let attributes = TaskLabels::values(specs, &last.attributes, Some(false));
        let shapes: Vec<TrackedShape> = keys
            .into_iter()
            .map(|(k, s, outside)| TrackedShape {
                kind: s.kind,
                occluded: s.occluded,
                z_order: s.z_order,
                attributes: TaskLabels::values(specs, &s.attributes, Some(true)),
                points: s.points,
                id: None,
                frame: k,
                outside,
            })
            .collect();
        doc.tracks.push(Track {
            id: None,
            frame: shapes[0].frame,
            label_id,
            group: Some(t.group.max(0)),
            shapes,
            attributes,
        });
    }
    Ok(doc)
}
