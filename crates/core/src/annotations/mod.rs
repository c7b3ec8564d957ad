//! Annotations of jobs and tasks (api-v1 §9): validation, attribute default filling,
//! versions, the job- and task-level operations, and ferrocat's safe-save extensions.
//!
//! Storage is described in `ferrocat_store::annotations`: one row per object, a job is
//! one range scan, a write is one transaction that bumps the job's version first (so
//! concurrent writes to one job queue up and none is lost).
//!
//! Beyond CVAT (whose clients keep its lax behaviour):
//! * `If-Match: "<version>"` on a write: 409 with the current version when the job (for a
//!   task: the highest job version) is not at that version;
//! * `Idempotency-Key: <key>` on a write: the response is stored with the write, in the
//!   same transaction; a retry with the same key and the same request gets the stored
//!   response and writes nothing; the same key with a different request is refused (422).
//!   Keys are per user and kept for a day.

pub mod cache;
pub mod geometry;
pub mod merge;

use std::collections::HashMap;

use bytes::Bytes;

use ferrocat_store::annotations::{
    Idempotency, JobWrite, StoredResponse, WriteMeta, WriteOp, WriteOutcome,
};
use ferrocat_store::tasks::{AttrRow, JobRow, LabelRow, TaskRow};
use ferrocat_wire::annotations::{
    AttributeValue, DeleteRequest, LabeledData, parse_delete, parse_document,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Core;
use crate::error::{Error, Result};
use crate::permissions::{Actor, Perm};

/// Objects from which a job-level write answer is rendered alongside the write.
const PRERENDER_FROM: usize = 1000;
/// Bytes left free before a prerendered write response for `{"version":N,` (N up to
/// 19 digits replaces the 1-digit placeholder).
const HEAD_ROOM: usize = 32;
/// How long a stored idempotent response is replayed.
pub const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);
/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// What a write does (§9.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `PUT`: replace everything.
    Replace,
    /// `PATCH ?action=create`.
    Create,
    /// `PATCH ?action=update`.
    Update,
    /// `PATCH ?action=delete`.
    Delete,
    /// `DELETE`: remove everything (204).
    Clear,
}

impl Action {
    /// The `action` query parameter of a PATCH, or CVAT's error.
    pub fn from_patch(action: Option<&str>) -> Result<Action> {
        match action {
            Some("create") => Ok(Action::Create),
            Some("update") => Ok(Action::Update),
            Some("delete") => Ok(Action::Delete),
            _ => Err(Error::Bare(vec![
                "Please specify a correct 'action' for the request".into(),
            ])),
        }
    }
}

/// A write request as the client sent it.
pub struct WriteRequest<'a> {
    pub action: Action,
    pub body: &'a [u8],
    /// Parsed `If-Match` version, if the client sent one.
    pub if_match: Option<i64>,
    pub idempotency_key: Option<&'a str>,
    /// Method, path and query: with the body, what makes a retry "the same request".
    pub request_line: &'a str,
    /// A file import: the jobs' versions grow by two, as in CVAT 1.1 (which deletes,
    /// then creates).
    pub import: bool,
}

/// A write's answer: status and JSON body (empty for 204), and the new version.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteResponse {
    pub status: u16,
    pub body: Bytes,
    /// `None` for a replayed response.
    pub version: Option<i64>,
    pub replayed: bool,
}

/// A task's labels with their attribute specs, as validation and filling need them.
pub struct LabelIndex {
    labels: HashMap<i64, Vec<AttrRow>>,
}

impl LabelIndex {
    pub fn new(labels: Vec<(LabelRow, Vec<AttrRow>)>) -> LabelIndex {
        LabelIndex {
            labels: labels.into_iter().map(|(l, a)| (l.id, a)).collect(),
        }
    }

    fn attrs(&self, label: i64) -> Result<&[AttrRow]> {
        self.labels
            .get(&label)
            .map(Vec::as_slice)
            .ok_or_else(|| invalid(format!("label_id `{label}` is invalid")))
    }

    /// Checks label and spec ids of a document (§9.3) and that every spec appears at most
    /// once per object.
    pub fn validate(&self, doc: &LabeledData) -> Result<()> {
        #[derive(Clone, Copy)]
        enum Allowed {
            Any,
            Mutable,
            Immutable,
        }
        fn check(attrs: &[AttrRow], values: &[AttributeValue], allowed: Allowed) -> Result<()> {
            for (i, v) in values.iter().enumerate() {
                let ok = attrs.iter().any(|a| {
                    a.id == v.spec_id
                        && match allowed {
                            Allowed::Any => true,
                            Allowed::Mutable => a.mutable,
                            Allowed::Immutable => !a.mutable,
                        }
                });
                if !ok {
                    return Err(invalid(format!("spec_id `{}` is invalid", v.spec_id)));
                }
                if values[..i].iter().any(|p| p.spec_id == v.spec_id) {
                    return Err(invalid(format!(
                        "spec_id `{}` is given twice for one object",
                        v.spec_id
                    )));
                }
            }
            Ok(())
        }
        for t in &doc.tags {
            check(self.attrs(t.label_id)?, &t.attributes, Allowed::Any)?;
        }
        for s in &doc.shapes {
            check(self.attrs(s.label_id)?, &s.attributes, Allowed::Any)?;
        }
        for t in &doc.tracks {
            let attrs = self.attrs(t.label_id)?;
            check(attrs, &t.attributes, Allowed::Immutable)?;
            for k in &t.shapes {
                check(attrs, &k.attributes, Allowed::Mutable)?;
            }
        }
        Ok(())
    }

    /// Fills missing attribute values as CVAT's GET does (§9.3).
    pub fn fill(&self, doc: &mut LabeledData) {
        let fill_all =
            |attrs: &[AttrRow], values: &mut Vec<AttributeValue>, pick: fn(&AttrRow) -> bool| {
                for a in attrs.iter().filter(|a| pick(a)) {
                    if !values.iter().any(|v| v.spec_id == a.id) {
                        values.push(AttributeValue {
                            spec_id: a.id,
                            value: a.default_value.clone(),
                        });
                    }
                }
            };
        for t in &mut doc.tags {
            if let Some(attrs) = self.labels.get(&t.label_id) {
                fill_all(attrs, &mut t.attributes, |_| true);
            }
        }
        for s in &mut doc.shapes {
            if let Some(attrs) = self.labels.get(&s.label_id) {
                fill_all(attrs, &mut s.attributes, |_| true);
            }
        }
        for t in &mut doc.tracks {
            let Some(attrs) = self.labels.get(&t.label_id) else {
                continue;
            };
            fill_all(attrs, &mut t.attributes, |a| !a.mutable);
            t.shapes.sort_by_key(|k| k.frame);
            let mut prev: Option<Vec<AttributeValue>> = None;
            for k in &mut t.shapes {
                for a in attrs.iter().filter(|a| a.mutable) {
                    if k.attributes.iter().any(|v| v.spec_id == a.id) {
                        continue;
                    }
                    let value = prev
                        .as_ref()
                        .and_then(|p| p.iter().find(|v| v.spec_id == a.id))
                        .map_or_else(|| a.default_value.clone(), |v| v.value.clone());
                    k.attributes.push(AttributeValue {
                        spec_id: a.id,
                        value,
                    });
                }
                prev = Some(k.attributes.clone());
            }
        }
    }
}

/// A 400 whose body is a JSON string, as CVAT's annotation validation answers.
fn invalid(msg: String) -> Error {
    Error::Body(Value::String(msg))
}

/// Checks frames against `[first, last]`, sorts keyframes and rejects two on one frame;
/// a track's `frame` becomes its first keyframe's.
fn check_frames(doc: &mut LabeledData, first: i64, last: i64, whose: &str) -> Result<()> {
    let check = |f: i64| {
        if f < first || f > last {
            Err(invalid(format!(
                "frame `{f}` is outside the {whose} frames {first}..{last}"
            )))
        } else {
            Ok(())
        }
    };
    for t in &doc.tags {
        check(t.frame)?;
    }
    for s in &doc.shapes {
        check(s.frame)?;
    }
    for t in &mut doc.tracks {
        // keyframes stay in request order (the answer maps ids by position); reads sort
        let mut frames: Vec<i64> = t.shapes.iter().map(|k| k.frame).collect();
        frames.sort_unstable();
        for (i, f) in frames.iter().enumerate() {
            check(*f)?;
            if i > 0 && frames[i - 1] == *f {
                return Err(invalid(format!("a track has two keyframes on frame `{f}`")));
            }
        }
        t.frame = frames[0];
    }
    Ok(())
}

/// Every id a client sent (objects and keyframes).
fn client_ids(doc: &LabeledData) -> impl Iterator<Item = i64> + '_ {
    doc.tags
        .iter()
        .filter_map(|t| t.id)
        .chain(doc.shapes.iter().filter_map(|s| s.id))
        .chain(
            doc.tracks
                .iter()
                .flat_map(|t| t.id.into_iter().chain(t.shapes.iter().filter_map(|k| k.id))),
        )
}

/// Ids that must be allocated for a document (objects and keyframes without one).
fn missing_ids(doc: &LabeledData) -> usize {
    doc.tags.iter().filter(|t| t.id.is_none()).count()
        + doc.shapes.iter().filter(|s| s.id.is_none()).count()
        + doc
            .tracks
            .iter()
            .map(|t| {
                usize::from(t.id.is_none()) + t.shapes.iter().filter(|k| k.id.is_none()).count()
            })
            .sum::<usize>()
}

fn clear_ids(doc: &mut LabeledData) {
    doc.tags.iter_mut().for_each(|t| t.id = None);
    doc.shapes.iter_mut().for_each(|s| s.id = None);
    for t in &mut doc.tracks {
        t.id = None;
        t.shapes.iter_mut().for_each(|k| k.id = None);
    }
}

/// Gives new ids to objects without one. Tags and shapes get them in frame order, so that
/// a job's rows lie in the order the API reads them (the table is clustered by id on
/// SQLite and filled in id order on PostgreSQL): a big read then scans, not seeks.
fn assign_ids(doc: &mut LabeledData, ids: &mut impl Iterator<Item = i64>) {
    let mut next = |slot: &mut Option<i64>| {
        if slot.is_none() {
            *slot = ids.next();
        }
    };
    let mut order: Vec<usize> = (0..doc.tags.len()).collect();
    order.sort_by_key(|&i| doc.tags[i].frame);
    order.into_iter().for_each(|i| next(&mut doc.tags[i].id));
    let mut order: Vec<usize> = (0..doc.shapes.len()).collect();
    order.sort_by_key(|&i| doc.shapes[i].frame);
    order.into_iter().for_each(|i| next(&mut doc.shapes[i].id));
    for t in &mut doc.tracks {
        next(&mut t.id);
        t.shapes.iter_mut().for_each(|k| next(&mut k.id));
    }
}

/// Drops ids already used by an earlier job's slice (the second copy of an object in an
/// overlap gets a new id, §9.6.2).
fn dedupe_ids(doc: &mut LabeledData, seen: &mut std::collections::HashSet<i64>) {
    let mut check = |slot: &mut Option<i64>| {
        if let Some(id) = *slot
            && !seen.insert(id)
        {
            *slot = None;
        }
    };
    doc.tags.iter_mut().for_each(|t| check(&mut t.id));
    doc.shapes.iter_mut().for_each(|s| check(&mut s.id));
    for t in &mut doc.tracks {
        check(&mut t.id);
        t.shapes.iter_mut().for_each(|k| check(&mut k.id));
    }
}

/// The parsed body of a write.
enum Parsed {
    Doc(LabeledData),
    Delete(DeleteRequest),
    Nothing,
}

fn parse(action: Action, body: &[u8]) -> Result<Parsed> {
    let body_err = |v: Value| match v {
        Value::Object(m) if m.contains_key("detail") && m.len() == 1 => {
            Error::Body(Value::Object(m))
        }
        other => Error::Body(other),
    };
    Ok(match action {
        Action::Replace | Action::Create | Action::Update => {
            Parsed::Doc(parse_document(body).map_err(body_err)?)
        }
        Action::Delete => Parsed::Delete(parse_delete(body).map_err(body_err)?),
        Action::Clear => Parsed::Nothing,
    })
}

fn fingerprint(request_line: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(request_line.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

/// Serializes a document on two threads when it is big (the shapes split in halves),
/// byte for byte as `serde_json::to_vec` would.
pub fn render_parallel(doc: &LabeledData) -> Vec<u8> {
    if doc.shapes.len() < PARALLEL_RENDER_FROM {
        return render(doc);
    }
    fn items(out: &mut Vec<u8>, shapes: &[ferrocat_wire::annotations::Shape]) {
        for (i, s) in shapes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut *out, s);
        }
    }
    let (a, b) = doc.shapes.split_at(doc.shapes.len() / 2);
    // The first half is written straight into the answer, the second into a buffer of
    // its own that is appended: one copy of half the document, not two of all of it.
    let mut out = Vec::with_capacity(doc.shapes.len() * 256 + 1024);
    let second = std::thread::scope(|scope| {
        let h = scope.spawn(|| {
            let mut second = Vec::with_capacity(b.len() * 256);
            items(&mut second, b);
            second
        });
        out.extend_from_slice(format!("{{\"version\":{},\"tracks\":", doc.version).as_bytes());
        let _ = serde_json::to_writer(&mut out, &doc.tracks);
        out.extend_from_slice(b",\"shapes\":[");
        items(&mut out, a);
        h.join().unwrap_or_default()
    });
    if !a.is_empty() && !second.is_empty() {
        out.push(b',');
    }
    out.extend_from_slice(&second);
    out.extend_from_slice(b"],\"tags\":");
    let _ = serde_json::to_writer(&mut out, &doc.tags);
    out.push(b'}');
    out
}

/// Shapes from which a document is serialized on two threads.
const PARALLEL_RENDER_FROM: usize = 10_000;

/// Serializes a write response document.
fn render(doc: &LabeledData) -> Vec<u8> {
    serde_json::to_vec(doc).unwrap_or_default()
}

fn render_delete(echo: &serde_json::Map<String, Value>, version: i64) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    m.insert("version".into(), Value::from(version));
    for k in ["tracks", "shapes", "tags"] {
        m.insert(
            k.into(),
            echo.get(k).cloned().unwrap_or(Value::Array(vec![])),
        );
    }
    serde_json::to_vec(&m).unwrap_or_default()
}

pub struct AnnotationService<'a> {
    pub(crate) core: &'a Core,
}

/// Which jobs a write touches, with their frame ranges.
struct Scope {
    task: TaskRow,
    jobs: Vec<JobRow>,
    /// Frames objects may be on.
    first: i64,
    last: i64,
    whose: &'static str,
    task_level: bool,
}

impl AnnotationService<'_> {
    async fn job_scope(&self, actor: &Actor, id: i64, write: bool) -> Result<Scope> {
        let (job, task, facts) = self.core.tasks().job_task_facts(id).await?;
        let perm = if write {
            Perm::JobChange(&facts)
        } else {
            Perm::JobAccess(&facts)
        };
        self.core.check(actor, perm)?;
        Ok(Scope {
            task,
            first: job.start_frame,
            last: job.stop_frame,
            jobs: vec![job],
            whose: "job's",
            task_level: false,
        })
    }

    async fn task_scope(&self, actor: &Actor, id: i64, write: bool) -> Result<Scope> {
        let (task, jobs) = if write {
            self.core.tasks().authorized_change(actor, id).await?
        } else {
            self.core.tasks().authorized_access(actor, id).await?
        };
        self.whole_task(task, jobs).await
    }

    /// The scope of a task-level operation: every job, in id order, over all frames.
    async fn whole_task(&self, task: TaskRow, mut jobs: Vec<JobRow>) -> Result<Scope> {
        jobs.sort_by_key(|j| j.id);
        let size = match task.data_id {
            Some(d) => self.core.db().data(d).await?.map_or(0, |d| d.size),
            None => 0,
        };
        Ok(Scope {
            task,
            jobs,
            first: 0,
            last: size - 1,
            whose: "task's",
            task_level: true,
        })
    }

    async fn labels(&self, task_id: i64) -> Result<LabelIndex> {
        Ok(LabelIndex::new(self.core.db().labels_of(&[task_id]).await?))
    }

    /// `GET /jobs/{id}/annotations` (§9.5).
    pub async fn job_get(&self, actor: &Actor, id: i64) -> Result<LabeledData> {
        let scope = self.job_scope(actor, id, false).await?;
        self.read(&scope).await
    }

    /// `GET /jobs/{id}/annotations` rendered as JSON with its version, from the
    /// document cache when the job has not changed since it was last rendered.
    pub async fn job_get_json(&self, actor: &Actor, id: i64) -> Result<(Bytes, i64)> {
        let scope = self.job_scope(actor, id, false).await?;
        let key = cache::Key {
            job_id: id,
            version: scope.jobs[0].version,
            task_stamp: scope.task.updated_date.timestamp_micros(),
        };
        let docs = self.core.documents();
        if let Some(hit) = docs.get(&key) {
            return Ok((hit, key.version));
        }
        let started = std::time::Instant::now();
        let doc = self.read(&scope).await?;
        let read = started.elapsed();
        let version = doc.version;
        // Vec → Bytes keeps the buffer (no copy of a document of tens of MB); shrunk
        // first, as the cache counts the length
        let bytes: Bytes = self
            .core
            .blocking(move || {
                let mut v = render_parallel(&doc);
                v.shrink_to_fit();
                v
            })
            .await?
            .into();
        tracing::debug!(
            job_id = id,
            read_ms = read.as_secs_f64() * 1e3,
            render_ms = (started.elapsed() - read).as_secs_f64() * 1e3,
            "annotations rendered"
        );
        // Cached under the version the read saw (one snapshot), never a newer one.
        docs.put(cache::Key { version, ..key }, bytes.clone());
        Ok((bytes, version))
    }

    /// A task's merged document with attribute defaults filled, without a permission
    /// check (for exports, which checked when they were requested).
    pub(crate) async fn task_document(&self, task_id: i64) -> Result<LabeledData> {
        let db = self.core.db();
        let task = db.task(task_id).await?.ok_or(Error::NotFound)?;
        let jobs = db.jobs_of(&[task_id]).await?;
        let scope = self.whole_task(task, jobs).await?;
        self.read(&scope).await
    }

    /// `GET /tasks/{id}/annotations` (§9.6): the jobs' documents merged.
    pub async fn task_get(&self, actor: &Actor, id: i64) -> Result<LabeledData> {
        let scope = self.task_scope(actor, id, false).await?;
        self.read(&scope).await
    }

    async fn read(&self, scope: &Scope) -> Result<LabeledData> {
        let labels = self.labels(scope.task.id).await?;
        let mut docs = Vec::with_capacity(scope.jobs.len());
        for j in &scope.jobs {
            let mut doc = self.core.db().job_annotations(j.id).await?;
            labels.fill(&mut doc);
            docs.push((j.start_frame, doc));
        }
        if !scope.task_level {
            return Ok(docs.pop().map(|(_, d)| d).unwrap_or_default());
        }
        let overlap = scope.task.overlap.unwrap_or(0);
        Ok(merge::merge(docs, overlap, scope.last + 1))
    }

    /// A write to a job's annotations (§9.5).
    pub async fn job_write(
        &self,
        actor: &Actor,
        id: i64,
        req: WriteRequest<'_>,
    ) -> Result<WriteResponse> {
        let scope = self.job_scope(actor, id, true).await?;
        self.write(actor, scope, req).await
    }

    /// A write to a task's annotations: sliced to every job, in one transaction (§9.6).
    pub async fn task_write(
        &self,
        actor: &Actor,
        id: i64,
        req: WriteRequest<'_>,
    ) -> Result<WriteResponse> {
        let scope = self.task_scope(actor, id, true).await?;
        self.write(actor, scope, req).await
    }

    async fn write(
        &self,
        actor: &Actor,
        scope: Scope,
        req: WriteRequest<'_>,
    ) -> Result<WriteResponse> {
        let db = self.core.db();
        let fp = req
            .idempotency_key
            .map(|_| fingerprint(req.request_line, req.body));
        if let (Some(key), Some(fp)) = (req.idempotency_key, &fp) {
            check_key(key)?;
            if let Some(stored) = db.idempotent_response(actor.id, key).await? {
                return replay(stored, fp);
            }
        }
        let parsed = parse(req.action, req.body)?;
        if let Parsed::Doc(doc) = &parsed {
            let labels = self.labels(scope.task.id).await?;
            labels.validate(doc)?;
        }
        let mut parsed = parsed;
        if let Parsed::Doc(doc) = &mut parsed {
            if !doc.is_empty() && scope.jobs.is_empty() {
                return Err(invalid(
                    "The task has no data yet, so it has no frames to annotate".into(),
                ));
            }
            check_frames(doc, scope.first, scope.last, scope.whose)?;
            if req.action == Action::Create {
                // ids sent on create are ignored (§9.5 recommendation)
                clear_ids(doc);
            } else if let Some(max) = client_ids(doc).max() {
                // Kept ids must be ids this server gave out: an id beyond the sequence
                // would later collide with a fresh one.
                let min = client_ids(doc).min().unwrap_or(max);
                let last = db.last_annotation_id().await?;
                if min <= 0 || max > last {
                    let bad = if min <= 0 { min } else { max };
                    return Err(invalid(format!(
                        "id `{bad}` was never given out by this server: send objects without ids to create them"
                    )));
                }
            }
        }
        // One document per job: the whole one for a job-level write, slices for a task.
        let mut per_job: Vec<LabeledData> = Vec::new();
        if let Parsed::Doc(doc) = &mut parsed {
            if scope.task_level {
                // An update goes to the job that stores each object; the rest is sliced.
                let routed = if req.action == Action::Update {
                    self.route_to_jobs(doc, &scope.jobs).await?
                } else {
                    vec![LabeledData::default(); scope.jobs.len()]
                };
                let mut seen = std::collections::HashSet::new();
                for (j, mut part) in scope.jobs.iter().zip(routed) {
                    let mut sliced = merge::slice(doc, j.start_frame, j.stop_frame);
                    dedupe_ids(&mut sliced, &mut seen);
                    part.tags.append(&mut sliced.tags);
                    part.shapes.append(&mut sliced.shapes);
                    part.tracks.append(&mut sliced.tracks);
                    per_job.push(part);
                }
            } else {
                per_job.push(std::mem::take(doc));
            }
            let need: usize = per_job.iter().map(missing_ids).sum();
            let ids = db.reserve_annotation_ids(need).await?;
            let mut it = ids.into_iter();
            for d in &mut per_job {
                assign_ids(d, &mut it);
            }
        }
        let per_job = std::sync::Arc::new(per_job);
        let writes: Vec<JobWrite<'_>> = scope
            .jobs
            .iter()
            .enumerate()
            .map(|(i, j)| JobWrite {
                job_id: j.id,
                op: match (&parsed, req.action) {
                    (Parsed::Doc(_), Action::Replace) => WriteOp::Replace(&per_job[i]),
                    (Parsed::Doc(_), Action::Create) => WriteOp::Create(&per_job[i]),
                    (Parsed::Doc(_), _) => WriteOp::Update(&per_job[i]),
                    (Parsed::Delete(d), _) => WriteOp::Delete {
                        tags: &d.tags,
                        shapes: &d.shapes,
                        tracks: &d.tracks,
                    },
                    (Parsed::Nothing, _) => WriteOp::Clear,
                },
            })
            .collect();
        let overlap = scope.task.overlap.unwrap_or(0);
        let starts: Vec<i64> = scope.jobs.iter().map(|j| j.start_frame).collect();
        let respond = |version: i64| -> Vec<u8> {
            match &parsed {
                Parsed::Doc(_) if !scope.task_level => per_job
                    .first()
                    .map(|d| d.to_json_with_version(version))
                    .unwrap_or_default(),
                Parsed::Doc(_) => {
                    let docs: Vec<(i64, LabeledData)> = starts
                        .iter()
                        .zip(per_job.iter())
                        .map(|(s, d)| {
                            (
                                *s,
                                LabeledData {
                                    version,
                                    ..d.clone()
                                },
                            )
                        })
                        .collect();
                    let mut out = merge::merge(docs, overlap, scope.last + 1);
                    out.version = version;
                    render(&out)
                }
                Parsed::Delete(d) => render_delete(&d.echo, version),
                Parsed::Nothing => Vec::new(),
            }
        };
        let status = if req.action == Action::Clear {
            204
        } else {
            200
        };
        let meta = WriteMeta {
            task_id: scope.task.id,
            author_id: Some(actor.id),
            expect_version: req.if_match,
            version_step: if req.import { 2 } else { 1 },
            idempotency: match (req.idempotency_key, &fp) {
                (Some(key), Some(fp)) => Some(Idempotency {
                    user_id: actor.id,
                    key,
                    fingerprint: fp,
                    status: status.into(),
                    render: &respond,
                }),
                _ => None,
            },
        };
        // A big job-level answer is rendered while the database works, with version 0
        // and room before it for the real version, which is written in afterwards.
        let prerender = (!scope.task_level
            && req.idempotency_key.is_none()
            && matches!(parsed, Parsed::Doc(_))
            && per_job.first().is_some_and(|d| d.len() >= PRERENDER_FROM))
        .then(|| {
            let pj = per_job.clone();
            self.core.blocking(move || {
                let mut out = vec![b' '; HEAD_ROOM];
                pj[0].write_json_with_version(0, &mut out);
                out
            })
        });
        let (written, prerendered) = tokio::join!(db.write_annotations(&writes, &meta), async {
            match prerender {
                Some(f) => f.await.ok(),
                None => None,
            }
        });
        let outcome = match written {
            Ok(o) => o,
            Err(ferrocat_store::StoreError::Unique(_)) => {
                // Either the same idempotency key won a race meanwhile, or an id is taken.
                if let (Some(key), Some(fp)) = (req.idempotency_key, &fp)
                    && let Some(stored) = db.idempotent_response(actor.id, key).await?
                {
                    return replay(stored, fp);
                }
                return Err(invalid(
                    "An object id in the request is already used by another object".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        match outcome {
            WriteOutcome::Done(versions) => {
                for j in &scope.jobs {
                    self.core.documents().forget_job(j.id);
                }
                let version = versions.iter().copied().max().unwrap_or(0);
                const PREFIX: &[u8] = b"{\"version\":0,";
                let body = match prerendered {
                    Some(mut b) if b[HEAD_ROOM..].starts_with(PREFIX) => {
                        // `{"version":N,` ends where the prerendered `{"version":0,` did
                        let head = format!("{{\"version\":{version},");
                        let end = HEAD_ROOM + PREFIX.len();
                        let start = end - head.len();
                        b[start..end].copy_from_slice(head.as_bytes());
                        Bytes::from(b).slice(start..)
                    }
                    _ if scope.jobs.is_empty() => respond(0).into(),
                    _ => respond(version).into(),
                };
                if per_job.first().is_some_and(|d| d.len() >= PRERENDER_FROM) {
                    // Freeing 100,000 objects takes tens of milliseconds: not while the
                    // client waits.
                    drop((writes, meta));
                    tokio::task::spawn_blocking(move || drop(per_job));
                }
                Ok(WriteResponse {
                    status,
                    body,
                    version: Some(version),
                    replayed: false,
                })
            }
            WriteOutcome::Conflict(current) => Err(Error::VersionConflict(current)),
            WriteOutcome::Gone => Err(Error::NotFound),
            WriteOutcome::Replay(stored) => replay(stored, fp.as_deref().unwrap_or_default()),
        }
    }

    /// Splits out the objects of `doc` that some job of `jobs` stores (by id), as one
    /// document per job; they are removed from `doc`.
    async fn route_to_jobs(
        &self,
        doc: &mut LabeledData,
        jobs: &[JobRow],
    ) -> Result<Vec<LabeledData>> {
        let ids: Vec<i64> = doc
            .tags
            .iter()
            .filter_map(|t| t.id)
            .chain(doc.shapes.iter().filter_map(|s| s.id))
            .chain(doc.tracks.iter().filter_map(|t| t.id))
            .collect();
        let found: HashMap<i64, i64> = self
            .core
            .db()
            .annotation_jobs(&ids)
            .await?
            .into_iter()
            .collect();
        let slot = |id: Option<i64>| {
            id.and_then(|id| found.get(&id))
                .and_then(|job| jobs.iter().position(|j| j.id == *job))
        };
        let mut out = vec![LabeledData::default(); jobs.len()];
        for t in std::mem::take(&mut doc.tags) {
            match slot(t.id) {
                Some(i) => out[i].tags.push(t),
                None => doc.tags.push(t),
            }
        }
        for s in std::mem::take(&mut doc.shapes) {
            match slot(s.id) {
                Some(i) => out[i].shapes.push(s),
                None => doc.shapes.push(s),
            }
        }
        for t in std::mem::take(&mut doc.tracks) {
            match slot(t.id) {
                Some(i) => out[i].tracks.push(t),
                None => doc.tracks.push(t),
            }
        }
        Ok(out)
    }

    /// Client events of `POST /server/logs` are in [`crate::server`]; the working time of
    /// a job as they report it, in milliseconds.
    pub async fn working_time_ms(&self, actor: &Actor, job_id: i64) -> Result<i64> {
        self.job_scope(actor, job_id, false).await?;
        Ok(self.core.db().job_working_time_ms(job_id).await?)
    }
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Error::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        )));
    }
    Ok(())
}

fn replay(stored: StoredResponse, fp: &str) -> Result<WriteResponse> {
    if stored.fingerprint != fp {
        return Err(Error::Unprocessable(
            "This Idempotency-Key was already used for a different request".into(),
        ));
    }
    Ok(WriteResponse {
        status: u16::try_from(stored.status).unwrap_or(200),
        body: stored.body.into(),
        version: None,
        replayed: true,
    })
}

#[cfg(test)]
mod tests {
    use ferrocat_wire::annotations::{AttributeValue, LabeledData, Shape, ShapeType, Tag};

    #[test]
    fn parallel_rendering_is_byte_for_byte_serde_json() {
        let shapes: Vec<Shape> = (0..25_001)
            .map(|i| Shape {
                kind: ShapeType::Rectangle,
                occluded: i % 3 == 0,
                z_order: i % 5,
                points: vec![i as f64 * 0.1, 2.0, 3.5, 1e-9],
                id: Some(i),
                frame: i % 7,
                label_id: 1,
                group: None,
                attributes: vec![AttributeValue {
                    spec_id: 2,
                    value: format!("v\"{i}"),
                }],
            })
            .collect();
        let doc = LabeledData {
            version: 7,
            tracks: vec![],
            shapes,
            tags: vec![Tag {
                id: Some(1),
                frame: 0,
                label_id: 1,
                group: Some(0),
                attributes: vec![],
            }],
        };
        assert_eq!(
            super::render_parallel(&doc),
            serde_json::to_vec(&doc).unwrap()
        );
    }
}
