//! Annotation and dataset exports (api-v1 §10.2): `GET /tasks/{id}/annotations?format=F`
//! and `GET /tasks/{id}/dataset?format=F` (the same files plus the task's images).
//!
//! An export is a queue item keyed by task, kind and format
//! (`task/7/export/annotations/<F>@<origin tag>`, `…/dataset/…`), shared by every user of one origin. Its payload records the task's `updated_date` when it was
//! requested; an export older than the task is discarded and made again. The worker
//! writes the file to `<data>/exports/task_<id>/`, named after the format and that
//! `updated_date`, so a file made for the same state is reused.
//!
//! Answers: 202 while queued or running (or just started), 201 when ready, the file
//! with `action=download` (which clears the state), 500 with the message when it failed.
//!
//! A project exports the same way (`project/3/export/…`, files in
//! `<data>/exports/project_<id>/`): one dataset with the frames of all its tasks in task
//! id order, numbered 0… across them, labels by the project's names. A frame name that an
//! earlier task already used is written as `task_<id>/<name>`. Its stamp is a hash of
//! its tasks' ids and updated dates, so any change to a task makes a new file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use ferrocat_formats::{
    AttrMeta, Exporter, FrameMeta, FrameObjects, LabelMeta, Lookup, OutShape, OutTag, OutTrack,
    OutTrackShape, Person, SegmentMeta, TaskMeta,
};
use ferrocat_store::queue::QueueItem;
use ferrocat_wire::annotations::LabeledData;
use serde_json::{Value, json};

use crate::Core;
use crate::annotations::geometry::interpolate;
use crate::error::{Error, Result};
use crate::permissions::Actor;

/// Queue item kind of exports.
pub const KIND: &str = "export";

/// What to answer an export request.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportAnswer {
    /// 202: queued or running.
    Accepted,
    /// 201: ready; come back with `action=download`.
    Ready,
    /// 200: the file, as an attachment named `filename`.
    Download { path: PathBuf, filename: String },
    /// 500 with this message.
    Failed(String),
}

pub struct ExportService<'a> {
    pub(crate) core: &'a Core,
}

/// What an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// The annotation files only.
    Annotations,
    /// The annotation files and every frame's image at original quality (JPEG).
    Dataset,
}

impl ExportKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ExportKind::Annotations => "annotations",
            ExportKind::Dataset => "dataset",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "dataset" {
            ExportKind::Dataset
        } else {
            ExportKind::Annotations
        }
    }
}

/// What is exported: a task or a whole project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Task(i64),
    Project(i64),
}

impl Target {
    fn prefix(self) -> String {
        match self {
            Target::Task(id) => format!("task/{id}"),
            Target::Project(id) => format!("project/{id}"),
        }
    }

    fn dir(self, core: &Core) -> PathBuf {
        match self {
            Target::Task(id) => task_exports_dir(core, id),
            Target::Project(id) => project_exports_dir(core, id),
        }
    }

    fn payload_key(self) -> (&'static str, i64) {
        match self {
            Target::Task(id) => ("task_id", id),
            Target::Project(id) => ("project_id", id),
        }
    }

    fn of_payload(p: &Value) -> Option<Target> {
        if let Some(id) = p["project_id"].as_i64() {
            return Some(Target::Project(id));
        }
        p["task_id"].as_i64().map(Target::Task)
    }
}

/// The origin a file's absolute URLs are made for, as a short tag (FNV-1a: stable
/// across processes and versions, unlike std's hasher). Exports for different origins
/// are different items with different files, so that clients reaching the server by
/// two host names (two replicas' own addresses, say) never replace each other's work
/// nor get each other's URLs.
fn origin_tag(origin: &str) -> String {
    format!("{:08x}", fnv1a(origin.bytes()) as u32)
}

/// FNV-1a of `bytes`.
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn key(target: Target, kind: ExportKind, format: &str, origin: &str) -> String {
    format!(
        "{}/export/{}/{format}@{}",
        target.prefix(),
        kind.as_str(),
        origin_tag(origin)
    )
}

/// An export's file. Its name holds the state it was made of (`stamp`) and the tag of
/// the origin whose absolute URLs it holds (CVAT XML's segment URLs).
fn file_path(
    core: &Core,
    target: Target,
    kind: ExportKind,
    format: &str,
    stamp: i64,
    origin: &str,
) -> PathBuf {
    let tag = origin_tag(origin);
    let slug: String = format
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    target
        .dir(core)
        .join(format!("{}-{slug}-{tag}-{stamp}.zip", kind.as_str()))
}

/// The folder of a task's export files (removed with the task).
pub(crate) fn task_exports_dir(core: &Core, task_id: i64) -> PathBuf {
    core.config()
        .data_dir
        .join("exports")
        .join(format!("task_{task_id}"))
}

/// The folder of a project's export files (removed with the project).
pub(crate) fn project_exports_dir(core: &Core, project_id: i64) -> PathBuf {
    core.config()
        .data_dir
        .join("exports")
        .join(format!("project_{project_id}"))
}

/// What names an export and says whether its file is current.
pub(crate) struct Subject {
    /// `task` or `project`, for the download's name.
    pub(crate) what: &'static str,
    pub(crate) name: String,
    pub(crate) updated: chrono::DateTime<chrono::Utc>,
    pub(crate) stamp: i64,
    /// A task without media yet (a project always counts as having them).
    pub(crate) no_media: bool,
}

/// Removes the files of the same kind and format as `newest` made for an earlier state
/// of the task (a smaller stamp): a download always asks for the file of the task's
/// current state, so they would only fill the disk. Files of later states stay (an
/// export that finishes late must not remove a newer one).
async fn remove_older_exports(core: &Core, newest: &std::path::Path) {
    let (Some(dir), Some(name)) = (newest.parent(), newest.file_name().and_then(|n| n.to_str()))
    else {
        return;
    };
    // `{kind}-{slug}-{stamp}.zip`: the same up to the last `-`
    let Some(cut) = name.rfind('-') else { return };
    let prefix = &name[..=cut];
    let stamp_of = |file: &str| -> Option<i64> {
        file.strip_prefix(prefix)?
            .strip_suffix(".zip")?
            .parse()
            .ok()
    };
    let Some(mine) = stamp_of(name) else { return };
    for other in core.media().names_in(dir).await {
        if stamp_of(&other).is_some_and(|s| s < mine)
            && let Err(err) = core.media().remove(&dir.join(&other)).await
        {
            tracing::warn!(file = %other, error = %err, "could not remove an old export");
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS.ffffff+HH:MM` in the server time zone (CVAT's XML dates).
pub fn xml_date(t: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S%.6f%:z")
        .to_string()
}

impl ExportService<'_> {
    /// Checks access and reads what names the export and dates its state.
    pub(crate) async fn subject(&self, actor: &Actor, target: Target) -> Result<Subject> {
        Ok(match target {
            Target::Task(id) => {
                let (task, _) = self.core.tasks().authorized_access(actor, id).await?;
                Subject {
                    what: "task",
                    name: task.name,
                    updated: task.updated_date,
                    stamp: task.updated_date.timestamp_micros(),
                    no_media: task.data_id.is_none(),
                }
            }
            Target::Project(id) => {
                let p = self.core.projects().authorized_access(actor, id).await?;
                let tasks = self.core.db().project_tasks(id).await?;
                let updated = tasks
                    .iter()
                    .map(|t| t.updated_date)
                    .fold(p.updated_date, std::cmp::max);
                // over (id, updated) of every task: any change makes a new stamp
                let h = fnv1a(tasks.iter().flat_map(|t| {
                    t.id.to_le_bytes()
                        .into_iter()
                        .chain(t.updated_date.timestamp_micros().to_le_bytes())
                }));
                Subject {
                    what: "project",
                    name: p.name,
                    updated,
                    stamp: (h >> 1) as i64,
                    no_media: false,
                }
            }
        })
    }

    /// Handles one request of the §10.2 protocol. `query` holds `format`, `action`,
    /// `filename`; `origin` is `scheme://host` of the request (for segment URLs).
    pub async fn request(
        &self,
        actor: &Actor,
        target: Target,
        kind: ExportKind,
        query: &[(String, String)],
        origin: &str,
    ) -> Result<ExportAnswer> {
        let subject = self.subject(actor, target).await?;
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let action = get("action").unwrap_or("").to_ascii_lowercase();
        if !action.is_empty() && action != "download" {
            return Err(Error::Bare(vec![
                "Unexpected action specified for the request".into(),
            ]));
        }
        let format = get("format").unwrap_or("");
        check_format(format)?;
        let db = self.core.db();
        let key = key(target, kind, format, origin);
        let stamp = subject.stamp;
        let mut item = db.queue_item(&key).await?;
        if let Some(it) = &item {
            let p: Value = serde_json::from_str(&it.payload).unwrap_or(Value::Null);
            if p["updated"].as_i64() != Some(stamp) {
                db.dequeue(it).await?;
                item = None;
            }
        }
        let Some(item) = item else {
            self.enqueue(actor, &key, target, kind, format, stamp, origin)
                .await?;
            return Ok(ExportAnswer::Accepted);
        };
        match item.state.as_str() {
            "finished" if action == "download" => {
                db.dequeue(&item).await?;
                let filename = match get("filename") {
                    Some(f) if !f.is_empty() => f.to_lowercase(),
                    _ => self.download_name(&subject, format),
                };
                Ok(ExportAnswer::Download {
                    path: file_path(self.core, target, kind, format, stamp, origin),
                    filename,
                })
            }
            "finished" => Ok(ExportAnswer::Ready),
            "failed" => {
                db.dequeue(&item).await?;
                Ok(ExportAnswer::Failed(item.message))
            }
            _ => Ok(ExportAnswer::Accepted),
        }
    }
}

/// 400 unless `format` names an exporter, 405 when it is listed but not enabled.
fn check_format(format: &str) -> Result<()> {
    match ferrocat_formats::exporter(format) {
        Lookup::Unknown => Err(Error::Bare(vec![
            "Unknown format specified for the request".into(),
        ])),
        Lookup::Disabled => Err(Error::Disabled),
        Lookup::Ready(_) => Ok(()),
    }
}

/// The request id (and queue key) of a v2 export: `export:task-7-dataset-COCO_1.0-<origin
/// tag>`. v2 requests have keys of their own, apart from v1's, because the two
/// protocols end differently (v1 forgets a delivered export, v2 keeps it for more
/// downloads).
pub fn v2_key(target: Target, kind: ExportKind, format: &str, origin: &str) -> String {
    let (what, id) = match target {
        Target::Task(id) => ("task", id),
        Target::Project(id) => ("project", id),
    };
    format!(
        "export:{what}-{id}-{}-{}-{}",
        kind.as_str(),
        crate::requests::slug(format),
        origin_tag(origin)
    )
}

impl ExportService<'_> {
    #[allow(clippy::too_many_arguments)]
    async fn enqueue(
        &self,
        actor: &Actor,
        key: &str,
        target: Target,
        kind: ExportKind,
        format: &str,
        stamp: i64,
        origin: &str,
    ) -> Result<()> {
        let (id_key, id) = target.payload_key();
        let payload = json!({
            id_key: id, "kind": kind.as_str(), "format": format, "updated": stamp,
            "origin": origin,
        });
        self.core
            .db()
            .enqueue(key, KIND, &payload.to_string(), Some(actor.id))
            .await?;
        self.core.notify_queue();
        Ok(())
    }

    /// `task_<name>-<date>-<format>.zip`, lower case.
    fn download_name(&self, subject: &Subject, format: &str) -> String {
        let tz = self.core.config().time_zone;
        format!(
            "{}_{}-{}-{}.zip",
            subject.what,
            subject.name,
            subject
                .updated
                .with_timezone(&tz)
                .format("%Y_%m_%d_%H_%M_%S"),
            format
        )
        .to_lowercase()
    }

    /// CVAT 2's export request (`POST …/dataset/export?format=F&save_images=B`): its
    /// request id. A request for the state already exported, or being exported, is that
    /// request again; otherwise the export is queued anew.
    pub async fn start(
        &self,
        actor: &Actor,
        target: Target,
        kind: ExportKind,
        format: &str,
        origin: &str,
    ) -> Result<String> {
        let subject = self.subject(actor, target).await?;
        check_format(format)?;
        let key = v2_key(target, kind, format, origin);
        let file = file_path(self.core, target, kind, format, subject.stamp, origin);
        if let Some(it) = self.core.db().queue_item(&key).await?
            && crate::requests::reusable(self.core, &it, subject.stamp, &file).await
        {
            return Ok(key);
        }
        self.enqueue(actor, &key, target, kind, format, subject.stamp, origin)
            .await?;
        Ok(key)
    }

    /// The file of the finished v2 export `rq_id` of `target`, and the name to download
    /// it as (404 when there is no such finished export).
    pub async fn result(
        &self,
        actor: &Actor,
        target: Target,
        rq_id: &str,
    ) -> Result<(PathBuf, String)> {
        let subject = self.subject(actor, target).await?;
        let it = self
            .core
            .db()
            .queue_item(rq_id)
            .await?
            .filter(|it| it.kind == KIND && it.state == "finished")
            .ok_or(Error::NotFound)?;
        let p: Value = serde_json::from_str(&it.payload).unwrap_or(Value::Null);
        if Target::of_payload(&p) != Some(target) {
            return Err(Error::NotFound);
        }
        let kind = ExportKind::parse(p["kind"].as_str().unwrap_or_default());
        let format = p["format"].as_str().unwrap_or_default();
        let path = file_path(
            self.core,
            target,
            kind,
            format,
            p["updated"].as_i64().unwrap_or_default(),
            p["origin"].as_str().unwrap_or_default(),
        );
        if !self.core.media().exists(&path).await {
            return Err(Error::NotFound);
        }
        let name = crate::requests::download_name(&self.download_name(&subject, format));
        Ok((path, name))
    }
}

/// Runs one export queue item (in a worker).
pub async fn run(core: &Core, item: &QueueItem) -> std::result::Result<(), String> {
    let p: Value = serde_json::from_str(&item.payload).map_err(|e| e.to_string())?;
    let target = Target::of_payload(&p).ok_or("export without a task or project")?;
    let kind = ExportKind::parse(p["kind"].as_str().unwrap_or_default());
    let format = p["format"].as_str().unwrap_or_default();
    let stamp = p["updated"].as_i64().unwrap_or_default();
    let origin = p["origin"].as_str().unwrap_or_default();
    make_file(core, target, kind, format, stamp, origin)
        .await
        .map(|_| ())
}

/// Writes the export file of `target` in its state `stamp` (unless it is there
/// already); its path.
pub(crate) async fn make_file(
    core: &Core,
    target: Target,
    kind: ExportKind,
    format: &str,
    stamp: i64,
    origin: &str,
) -> std::result::Result<PathBuf, String> {
    let exporter = match ferrocat_formats::exporter(format) {
        Lookup::Ready(e) => e,
        _ => return Err(format!("Unknown format {format}")),
    };
    let path = file_path(core, target, kind, format, stamp, origin);
    if core.media().exists(&path).await {
        return Ok(path);
    }
    let (meta, frames, doc, labels, parts) = match target {
        Target::Task(id) => {
            let (meta, frames, doc, labels) =
                collect(core, id, origin).await.map_err(|e| e.to_string())?;
            (meta, frames, doc, labels, vec![(0, id)])
        }
        Target::Project(id) => collect_project(core, id, origin)
            .await
            .map_err(|e| e.to_string())?,
    };
    let images = match kind {
        ExportKind::Annotations => None,
        ExportKind::Dataset => Some(Images::of_tasks(core, &parts).await?),
    };
    // a name of its own: a second worker that took over the item never writes into it
    let tmp = path.with_extension(format!("{}.part", crate::random_hex(6)));
    let out = path.clone();
    core.blocking(move || -> std::result::Result<(), String> {
        if let Some(dir) = tmp.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let file = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        let mut zip = ArchiveOut::new(std::io::BufWriter::new(file));
        let written = write_export(&mut zip, exporter, &meta, &frames, &doc, &labels, images);
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        zip.finish()
            .map_err(|e| e.to_string())?
            .into_inner()
            .map_err(|e| e.to_string())?
            .sync_all()
            .map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &out).map_err(|e| e.to_string())?;
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())??;
    core.media()
        .publish(&path)
        .await
        .map_err(|e| format!("cannot store the export: {e}"))?;
    remove_older_exports(core, &path).await;
    Ok(path)
}

type ArchiveOut = ferrocat_formats::archive::ZipOut<std::io::BufWriter<std::fs::File>>;

/// Writes one export's entries into `zip`.
fn write_export(
    zip: &mut ArchiveOut,
    exporter: Exporter,
    meta: &TaskMeta,
    frames: &[FrameMeta],
    doc: &LabeledData,
    labels: &Labels,
    mut images: Option<Images>,
) -> std::result::Result<(), String> {
    let ranges: Vec<(i64, i64)> = meta.segments.iter().map(|s| (s.start, s.stop)).collect();
    let with_images = images.is_some();
    let e = |e: std::io::Error| e.to_string();
    match exporter {
        Exporter::CvatImages | Exporter::CvatVideo => {
            {
                let mut w = std::io::BufWriter::new(zip.file("annotations.xml").map_err(e)?);
                if exporter == Exporter::CvatImages {
                    let mut per_frame = per_frame_objects(doc, labels, meta.size, &ranges);
                    ferrocat_formats::cvat_images::write_xml(&mut w, meta, frames, |k| {
                        per_frame.remove(&(k as i64)).unwrap_or_default()
                    })
                    .map_err(e)?;
                } else {
                    let tracks = video_tracks(doc, labels, frames, meta.size, &ranges);
                    let size = frames.first().map(|f| (f.width, f.height));
                    ferrocat_formats::cvat_video::write_xml(&mut w, meta, size, tracks)
                        .map_err(e)?;
                }
                w.flush().map_err(e)?;
            }
            // CVAT's XML names each image by its frame name: the original files, as is;
            // video frames as PNG (`images/frame_000000.png`, §10.5)
            if let Some(images) = images.as_mut() {
                for (k, f) in frames.iter().enumerate() {
                    let bytes = images.original(k).map_err(e)?;
                    let ext = if images.is_video(k) { ".png" } else { "" };
                    zip.stored(&format!("images/{}{ext}", f.name), &bytes)
                        .map_err(e)?;
                }
            }
            Ok(())
        }
        _ => {
            let mut per_frame = per_frame_objects(doc, labels, meta.size, &ranges);
            let mut objects = |k: usize| per_frame.remove(&(k as i64)).unwrap_or_default();
            let mut image = |k: usize| -> std::io::Result<Vec<u8>> {
                images
                    .as_mut()
                    .expect("asked only for dataset exports")
                    .jpeg(k)
            };
            let export = ferrocat_formats::Export {
                meta,
                frames,
                objects: &mut objects,
                images: if with_images { Some(&mut image) } else { None },
            };
            ferrocat_formats::write(exporter, zip, export).map_err(e)
        }
    }
}

/// The task's frames at original quality, read chunk by chunk from the original
/// chunks: as they are (CVAT formats, whose XML names the files) or as JPEG (the other
/// formats, whose layouts name `<item>.jpg`; frames not already JPEG are encoded at
/// quality 95).
struct FrameImages {
    dir: PathBuf,
    chunk_size: i64,
    current: Option<(i64, Vec<Member>)>,
    /// A video task: frames are decoded from mp4 original chunks.
    video: bool,
    /// The video chunk being decoded, and the task frame it gives next.
    stream: Option<(usize, ferrocat_media::video::FrameStream)>,
}

/// A file of an original chunk: its name and bytes.
type Member = (String, Vec<u8>);

impl FrameImages {
    async fn of_task(core: &Core, task_id: i64) -> std::result::Result<Self, String> {
        let db = core.db();
        let task = db
            .task(task_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the task is gone")?;
        let data = match task.data_id {
            Some(d) => db.data(d).await.map_err(|e| e.to_string())?,
            None => None,
        }
        .ok_or("The task has no data")?;
        let dir = crate::tasks::data_dir(core, data.id).join("original");
        core.media()
            .fetch_dir(&dir)
            .await
            .map_err(|e| format!("cannot read the task's frames: {e}"))?;
        Ok(FrameImages {
            dir,
            chunk_size: data.chunk_size.unwrap_or(1).max(1),
            current: None,
            video: data.is_video(),
            stream: None,
        })
    }

    /// Frame `k` of a video task, decoded from its original chunk. Frames are asked for
    /// in order, so one ffmpeg per chunk streams them, one frame in memory at a time.
    fn video_frame(&mut self, k: usize) -> std::io::Result<ferrocat_media::image::Rgb8> {
        let err = |e: ferrocat_media::MediaError| std::io::Error::other(format!("frame {k}: {e}"));
        let chunk = k as i64 / self.chunk_size;
        let first = (chunk * self.chunk_size) as usize;
        if self
            .stream
            .as_ref()
            .is_none_or(|(next, _)| *next > k || *next < first)
        {
            let path = self.dir.join(format!("{chunk}.mp4"));
            self.stream = Some((
                first,
                ferrocat_media::video::FrameStream::open(&path, None).map_err(err)?,
            ));
        }
        let (next, stream) = self.stream.as_mut().expect("just opened");
        loop {
            let img = stream
                .next_frame()
                .map_err(err)?
                .ok_or_else(|| std::io::Error::other(format!("chunk {chunk} lacks frame {k}")))?;
            *next += 1;
            if *next > k {
                return Ok(img);
            }
        }
    }

    /// Frame `k`'s original file: (its name in the chunk, its bytes).
    fn member(&mut self, k: usize) -> std::io::Result<(&str, &[u8])> {
        let chunk = k as i64 / self.chunk_size;
        let index = (k as i64 % self.chunk_size) as usize;
        if self.current.as_ref().map(|(c, _)| *c) != Some(chunk) {
            let file = std::fs::File::open(self.dir.join(format!("{chunk}.zip")))?;
            let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
                .map_err(std::io::Error::other)?;
            let mut members = Vec::with_capacity(zip.len());
            for i in 0..zip.len() {
                let mut m = zip.by_index(i).map_err(std::io::Error::other)?;
                let name = m.name().unwrap_or_default().to_string();
                let mut bytes = Vec::with_capacity(m.size() as usize);
                std::io::Read::read_to_end(&mut m, &mut bytes)?;
                members.push((name, bytes));
            }
            self.current = Some((chunk, members));
        }
        let members = &self.current.as_ref().expect("just loaded").1;
        let (name, bytes) = members
            .get(index)
            .ok_or_else(|| std::io::Error::other(format!("chunk {chunk} lacks frame {k}")))?;
        Ok((name, bytes))
    }

    /// Frame `k`'s original bytes (a video frame as PNG).
    fn original(&mut self, k: usize) -> std::io::Result<Vec<u8>> {
        if self.video {
            let img = self.video_frame(k)?;
            return ferrocat_media::image::encode_png(&img)
                .map_err(|e| std::io::Error::other(format!("frame {k}: {e}")));
        }
        Ok(self.member(k)?.1.to_vec())
    }

    /// Frame `k` as JPEG: the original when it is one, else encoded at quality 95.
    fn jpeg(&mut self, k: usize) -> std::io::Result<Vec<u8>> {
        if self.video {
            let img = self.video_frame(k)?;
            return ferrocat_media::image::encode_jpeg(&img, 95)
                .map_err(|e| std::io::Error::other(format!("frame {k}: {e}")));
        }
        let (name, bytes) = self.member(k)?;
        if ferrocat_media::image::mime_for_name(name) == "image/jpeg" {
            return Ok(bytes.to_vec());
        }
        let img = ferrocat_media::image::decode_rgb8(bytes)
            .map_err(|e| std::io::Error::other(format!("frame {k}: {e}")))?;
        ferrocat_media::image::encode_jpeg(&img, 95)
            .map_err(|e| std::io::Error::other(format!("frame {k}: {e}")))
    }
}

/// The frames of one or more tasks, one after the other: the tasks of a project export,
/// each from its first frame number in the export.
struct Images {
    parts: Vec<(usize, FrameImages)>,
}

impl Images {
    /// `parts`: (first frame in the export, task id), in frame order.
    async fn of_tasks(core: &Core, parts: &[(usize, i64)]) -> std::result::Result<Self, String> {
        let mut out = Vec::with_capacity(parts.len());
        for (start, task_id) in parts {
            out.push((*start, FrameImages::of_task(core, *task_id).await?));
        }
        Ok(Images { parts: out })
    }

    /// The task holding export frame `k`, and `k` within it.
    fn part(&mut self, k: usize) -> std::io::Result<(&mut FrameImages, usize)> {
        let i = self.parts.partition_point(|(start, _)| *start <= k);
        let (start, images) = i
            .checked_sub(1)
            .and_then(|i| self.parts.get_mut(i))
            .ok_or_else(|| std::io::Error::other(format!("no task holds frame {k}")))?;
        Ok((images, k - *start))
    }

    fn is_video(&mut self, k: usize) -> bool {
        self.part(k).is_ok_and(|(p, _)| p.video)
    }

    fn original(&mut self, k: usize) -> std::io::Result<Vec<u8>> {
        let (p, k) = self.part(k)?;
        p.original(k)
    }

    fn jpeg(&mut self, k: usize) -> std::io::Result<Vec<u8>> {
        let (p, k) = self.part(k)?;
        p.jpeg(k)
    }
}

type Labels = BTreeMap<i64, LabelMeta>;

/// Everything an exporter needs, read from the store.
async fn collect(
    core: &Core,
    task_id: i64,
    origin: &str,
) -> Result<(TaskMeta, Vec<FrameMeta>, LabeledData, Labels)> {
    let db = core.db();
    let tz = core.config().time_zone;
    let task = db.task(task_id).await?.ok_or(Error::NotFound)?;
    let mut jobs = db.jobs_of(&[task_id]).await?;
    jobs.sort_by_key(|j| j.id);
    let data = match task.data_id {
        Some(d) => db.data(d).await?,
        None => None,
    };
    let frames_rows = match &data {
        Some(d) => db.frames(d.id).await?,
        None => vec![],
    };
    let step = data
        .as_ref()
        .and_then(|d| crate::processing::parse_step(&d.frame_filter))
        .unwrap_or(1) as i64;
    let start = data.as_ref().map_or(0, |d| d.start_frame);
    let frames: Vec<FrameMeta> = frames_rows
        .iter()
        .map(|f| FrameMeta {
            abs: start + f.frame * step,
            name: f.name.clone(),
            width: f.width,
            height: f.height,
        })
        .collect();
    let person =
        |u: Option<ferrocat_store::UserRow>| -> Option<Person> { u.map(|u| (u.username, u.email)) };
    let owner = match task.owner_id {
        Some(id) => person(db.user(id).await?),
        None => None,
    };
    let assignee = match task.assignee_id {
        Some(id) => person(db.user(id).await?),
        None => None,
    };
    let labels: Labels = label_metas(db.labels_of(&[task_id]).await?);
    let meta = TaskMeta {
        id: task.id,
        name: task.name.clone(),
        size: data.as_ref().map_or(0, |d| d.size),
        mode: task.mode.clone(),
        overlap: task.overlap.unwrap_or(0),
        bug_tracker: task.bug_tracker.clone(),
        created: xml_date(task.created_date, tz),
        updated: xml_date(task.updated_date, tz),
        start_frame: start,
        stop_frame: data.as_ref().map_or(0, |d| d.stop_frame),
        frame_filter: data
            .as_ref()
            .map(|d| d.frame_filter.clone())
            .unwrap_or_default(),
        z_order: task.z_order,
        labels: labels.values().cloned().collect(),
        segments: jobs
            .iter()
            .map(|j| SegmentMeta {
                id: j.segment_id,
                start: j.start_frame,
                stop: j.stop_frame,
                url: format!("{origin}/?id={}", j.id),
            })
            .collect(),
        owner,
        assignee,
        dumped: xml_date(ferrocat_store::now(), tz),
        source: data.as_ref().and_then(video_source),
    };
    let doc = core.annotations().task_document(task_id).await?;
    Ok((meta, frames, doc, labels))
}

/// What [`collect`] gives, for a whole project: its tasks one after the other (those
/// with data, in id order), their objects moved to the export's frame numbers and to the
/// project's label and attribute ids (by name); plus (first frame, task id) of each
/// task.
async fn collect_project(
    core: &Core,
    project_id: i64,
    origin: &str,
) -> Result<(
    TaskMeta,
    Vec<FrameMeta>,
    LabeledData,
    Labels,
    Vec<(usize, i64)>,
)> {
    let db = core.db();
    let tz = core.config().time_zone;
    let project = db.project(project_id).await?.ok_or(Error::NotFound)?;
    let labels: Labels = label_metas(db.project_labels_of(&[project_id]).await?);
    let by_name: std::collections::HashMap<&str, &LabelMeta> =
        labels.values().map(|l| (l.name.as_str(), l)).collect();
    let mut frames: Vec<FrameMeta> = vec![];
    let mut used = std::collections::HashSet::new();
    let mut doc = LabeledData::default();
    let mut segments = vec![];
    let mut parts = vec![];
    let mut modes = std::collections::BTreeSet::new();
    for task in core.db().project_tasks(project_id).await? {
        let (meta, task_frames, task_doc, task_labels) = collect(core, task.id, origin).await?;
        if task_frames.is_empty() {
            continue;
        }
        modes.insert(meta.mode.clone());
        let off = frames.len();
        parts.push((off, task.id));
        for (k, f) in task_frames.into_iter().enumerate() {
            let name = if used.contains(&f.name) {
                format!("task_{}/{}", task.id, f.name)
            } else {
                f.name
            };
            used.insert(name.clone());
            frames.push(FrameMeta {
                abs: (off + k) as i64,
                name,
                ..f
            });
        }
        for s in meta.segments {
            segments.push(SegmentMeta {
                start: s.start + off as i64,
                stop: s.stop + off as i64,
                ..s
            });
        }
        // task label id → (project label id, task attribute id → project attribute id)
        let remap: BTreeMap<i64, (i64, BTreeMap<i64, i64>)> = task_labels
            .values()
            .filter_map(|l| {
                let pl = by_name.get(l.name.as_str())?;
                let attrs = l
                    .attributes
                    .iter()
                    .filter_map(|a| {
                        let pa = pl.attributes.iter().find(|p| p.name == a.name)?;
                        Some((a.id, pa.id))
                    })
                    .collect();
                Some((l.id, (pl.id, attrs)))
            })
            .collect();
        append_moved(&mut doc, task_doc, off as i64, &remap);
    }
    let person =
        |u: Option<ferrocat_store::UserRow>| -> Option<Person> { u.map(|u| (u.username, u.email)) };
    let owner = match project.owner_id {
        Some(id) => person(db.user(id).await?),
        None => None,
    };
    let assignee = match project.assignee_id {
        Some(id) => person(db.user(id).await?),
        None => None,
    };
    let size = frames.len() as i64;
    let meta = TaskMeta {
        id: project.id,
        name: project.name.clone(),
        size,
        // one mode when every task has it; images otherwise
        mode: match modes.len() {
            1 => modes.into_iter().next().unwrap_or_default(),
            _ => "annotation".into(),
        },
        overlap: 0,
        bug_tracker: project.bug_tracker.clone(),
        created: xml_date(project.created_date, tz),
        updated: xml_date(project.updated_date, tz),
        start_frame: 0,
        stop_frame: (size - 1).max(0),
        frame_filter: String::new(),
        z_order: false,
        labels: labels.values().cloned().collect(),
        segments,
        owner,
        assignee,
        dumped: xml_date(ferrocat_store::now(), tz),
        source: None,
    };
    Ok((meta, frames, doc, labels, parts))
}

/// Appends a task's objects to a project's document: frames moved by `off`, label and
/// attribute ids mapped by `remap` (objects of labels the project lacks are left out).
fn append_moved(
    doc: &mut LabeledData,
    from: LabeledData,
    off: i64,
    remap: &BTreeMap<i64, (i64, BTreeMap<i64, i64>)>,
) {
    use ferrocat_wire::annotations::AttributeValue;
    let attrs = |label: i64, values: Vec<AttributeValue>| -> Vec<AttributeValue> {
        let Some((_, map)) = remap.get(&label) else {
            return vec![];
        };
        values
            .into_iter()
            .filter_map(|v| {
                Some(AttributeValue {
                    spec_id: *map.get(&v.spec_id)?,
                    value: v.value,
                })
            })
            .collect()
    };
    let label = |id: i64| remap.get(&id).map(|(p, _)| *p);
    for mut s in from.shapes {
        let Some(l) = label(s.label_id) else { continue };
        s.attributes = attrs(s.label_id, std::mem::take(&mut s.attributes));
        s.label_id = l;
        s.frame += off;
        doc.shapes.push(s);
    }
    for mut t in from.tags {
        let Some(l) = label(t.label_id) else { continue };
        t.attributes = attrs(t.label_id, std::mem::take(&mut t.attributes));
        t.label_id = l;
        t.frame += off;
        doc.tags.push(t);
    }
    for mut t in from.tracks {
        let Some(l) = label(t.label_id) else { continue };
        t.attributes = attrs(t.label_id, std::mem::take(&mut t.attributes));
        for k in &mut t.shapes {
            k.attributes = attrs(t.label_id, std::mem::take(&mut k.attributes));
            k.frame += off;
        }
        t.label_id = l;
        t.frame += off;
        doc.tracks.push(t);
    }
}

/// Labels as the formats see them, by id.
fn label_metas(
    rows: Vec<(
        ferrocat_store::tasks::LabelRow,
        Vec<ferrocat_store::tasks::AttrRow>,
    )>,
) -> Labels {
    rows.into_iter()
        .map(|(l, attrs)| {
            (
                l.id,
                LabelMeta {
                    id: l.id,
                    name: l.name,
                    attributes: attrs
                        .into_iter()
                        .map(|a| AttrMeta {
                            id: a.id,
                            name: a.name,
                            mutable: a.mutable,
                            input_type: a.input_type,
                            default_value: a.default_value,
                            values: serde_json::from_str(&a.value_list).unwrap_or_default(),
                        })
                        .collect(),
                },
            )
        })
        .collect()
}

/// The base name of a video task's video (`<source>`).
fn video_source(d: &ferrocat_store::tasks::DataRow) -> Option<String> {
    let name = d.video_name().filter(|_| d.is_video())?;
    Some(name.rsplit('/').next().unwrap_or(&name).to_string())
}

/// Objects per task frame: standalone shapes, then the shapes of tracks (interpolated,
/// outside frames skipped, §9.8), then tags; labels and attributes by name.
///
/// A track runs at most to the end of the job that holds its last keyframe: an annotator
/// sees only the job's frames, so a track that a job boundary cut (the task's segments
/// do not overlap) must not go on into the next job, where that job's part of the same
/// object is another track.
fn per_frame_objects(
    doc: &LabeledData,
    labels: &Labels,
    size: i64,
    jobs: &[(i64, i64)],
) -> BTreeMap<i64, FrameObjects> {
    let label_name = |id: i64| label_name(labels, id);
    let attr_names = |label: i64, values: &[ferrocat_wire::annotations::AttributeValue]| {
        attr_names(labels, label, values)
    };
    let mut out: BTreeMap<i64, FrameObjects> = BTreeMap::new();
    for s in &doc.shapes {
        out.entry(s.frame).or_default().shapes.push(OutShape {
            kind: s.kind,
            label: label_name(s.label_id),
            occluded: s.occluded,
            z_order: s.z_order,
            points: s.points.clone(),
            group: s.group.unwrap_or(0),
            attributes: attr_names(s.label_id, &s.attributes),
            track_id: None,
        });
    }
    for (track_no, t) in doc.tracks.iter().enumerate() {
        let immutable = attr_names(t.label_id, &t.attributes);
        for f in interpolate(t, track_end(t, size, jobs)) {
            let k = f.shape;
            if k.outside || k.frame >= size {
                continue;
            }
            let mut attributes = attr_names(t.label_id, &k.attributes);
            attributes.extend(immutable.iter().cloned());
            out.entry(k.frame).or_default().shapes.push(OutShape {
                kind: k.kind,
                label: label_name(t.label_id),
                occluded: k.occluded,
                z_order: k.z_order,
                points: k.points,
                group: t.group.unwrap_or(0),
                attributes,
                track_id: Some(track_no as i64),
            });
        }
    }
    for t in &doc.tags {
        out.entry(t.frame).or_default().tags.push(OutTag {
            label: label_name(t.label_id),
            group: t.group.unwrap_or(0),
            attributes: attr_names(t.label_id, &t.attributes),
        });
    }
    out
}

fn label_name(labels: &Labels, id: i64) -> String {
    labels.get(&id).map(|l| l.name.clone()).unwrap_or_default()
}

/// Names of the attribute values of an object of `label`.
fn attr_names(
    labels: &Labels,
    label: i64,
    values: &[ferrocat_wire::annotations::AttributeValue],
) -> Vec<(String, String)> {
    let specs = labels
        .get(&label)
        .map(|l| l.attributes.as_slice())
        .unwrap_or(&[]);
    values
        .iter()
        .filter_map(|v| {
            specs
                .iter()
                .find(|a| a.id == v.spec_id)
                .map(|a| (a.name.clone(), v.value.clone()))
        })
        .collect()
}

/// Where a track ends: the end of the job that holds its last keyframe (see
/// [`per_frame_objects`]), at most the task's end.
fn track_end(t: &ferrocat_wire::annotations::Track, size: i64, jobs: &[(i64, i64)]) -> i64 {
    let last = t.shapes.iter().map(|k| k.frame).max().unwrap_or(0);
    jobs.iter()
        .filter(|(a, b)| *a <= last && last <= *b)
        .map(|(_, b)| b + 1)
        .max()
        .unwrap_or(size)
        .min(size)
}

/// "CVAT for video" tracks: each track with every frame from its first keyframe to its
/// end (outside keyframes included, as the format says where the object leaves), then a
/// two-element track per standalone shape (§10.6). Frames are absolute.
fn video_tracks(
    doc: &LabeledData,
    labels: &Labels,
    frames: &[FrameMeta],
    size: i64,
    jobs: &[(i64, i64)],
) -> Vec<OutTrack> {
    let abs = |k: i64| {
        frames
            .get(usize::try_from(k).unwrap_or(usize::MAX))
            .map_or(k, |f| f.abs)
    };
    let step = if frames.len() > 1 {
        frames[1].abs - frames[0].abs
    } else {
        1
    };
    let label_name = |id: i64| label_name(labels, id);
    let mut out = Vec::new();
    for t in &doc.tracks {
        let immutable = attr_names(labels, t.label_id, &t.attributes);
        let shapes = interpolate(t, track_end(t, size, jobs))
            .into_iter()
            .filter(|f| f.shape.frame < size)
            .map(|f| {
                let mut attributes = attr_names(labels, t.label_id, &f.shape.attributes);
                attributes.extend(immutable.iter().cloned());
                OutTrackShape {
                    frame: abs(f.shape.frame),
                    kind: f.shape.kind,
                    outside: f.shape.outside,
                    occluded: f.shape.occluded,
                    keyframe: f.keyframe,
                    z_order: f.shape.z_order,
                    points: f.shape.points,
                    attributes,
                }
            })
            .collect();
        out.push(OutTrack {
            label: label_name(t.label_id),
            group: t.group.unwrap_or(0),
            shapes,
        });
    }
    for s in &doc.shapes {
        let shape = OutTrackShape {
            frame: abs(s.frame),
            kind: s.kind,
            outside: false,
            occluded: s.occluded,
            keyframe: true,
            z_order: s.z_order,
            points: s.points.clone(),
            attributes: attr_names(labels, s.label_id, &s.attributes),
        };
        // the copy that ends the track, unless the shape is on the last frame
        let last_abs = frames.last().map_or(i64::MAX, |f| f.abs);
        let mut shapes = vec![shape.clone()];
        if shape.frame + step <= last_abs {
            shapes.push(OutTrackShape {
                frame: shape.frame + step,
                outside: true,
                ..shape
            });
        }
        out.push(OutTrack {
            label: label_name(s.label_id),
            group: s.group.unwrap_or(0),
            shapes,
        });
    }
    out
}
