//! Tasks, labels, jobs and task data (api-v1 §6–§8): validation, permissions and the
//! upload that hands work to [`crate::processing`].

use std::path::{Path, PathBuf};

use ferrocat_store::StoreError;
use ferrocat_store::tasks::{
    AttrRow, DataRow, FrameRow, JobRow, LabelRow, NewAttr, NewLabel, NewTask, TaskFilter,
    TaskPatch, TaskRow, TaskSort, TaskVisibility,
};
use ferrocat_wire::fields::{parse_bool, parse_int};
use ferrocat_wire::tasks::{DataEcho, DataMeta, FrameMeta, Status};
use ferrocat_wire::{FieldErrors, Fields};
use serde_json::{Map, Value, json};

use crate::Core;
use crate::error::{Error, Result};
use crate::permissions::{Actor, JobFacts, Perm, TaskFacts, TaskScope, task_list_scope};
use crate::stored::Stored;

pub const INPUT_TYPES: [&str; 5] = ["select", "radio", "checkbox", "number", "text"];
pub const JOB_STATUSES: [&str; 3] = ["annotation", "validation", "completed"];

/// A task with everything its JSON shows.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub task: TaskRow,
    pub labels: Vec<(LabelRow, Vec<AttrRow>)>,
    pub jobs: Vec<JobRow>,
    pub data: Option<DataRow>,
}

/// Queue key of a task's data processing.
pub fn data_key(task_id: i64) -> String {
    format!("task/{task_id}/data")
}

/// Folder of a data record's files.
pub fn data_dir(core: &Core, data_id: i64) -> PathBuf {
    core.config()
        .data_dir
        .join("data")
        .join(data_id.to_string())
}

/// Which task permission an operation needs.
#[derive(Clone, Copy)]
enum Want {
    Access,
    Change,
    Delete,
}

pub struct TaskService<'a> {
    pub(crate) core: &'a Core,
}

/// What the server needs to send one piece of task data.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub body: crate::stored::Stored,
    pub content_type: &'static str,
    /// Byte range within the file (for a frame inside a stored zip chunk).
    pub range: Option<(u64, u64)>,
    /// A strong validator: data id, kind, number, quality.
    pub etag: String,
}

impl TaskService<'_> {
    /// The facts of a task's permissions: its owner and assignee, its project's, and its
    /// jobs' assignees.
    pub(crate) async fn facts(&self, task: &TaskRow, jobs: &[JobRow]) -> Result<TaskFacts> {
        let project = match task.project_id {
            Some(p) => self.core.db().project(p).await?,
            None => None,
        };
        Ok(TaskFacts {
            owner: task.owner_id,
            assignee: task.assignee_id,
            project_owner: project.as_ref().and_then(|p| p.owner_id),
            project_assignee: project.as_ref().and_then(|p| p.assignee_id),
            job_assignees: jobs.iter().map(|j| j.assignee_id).collect(),
        })
    }

    async fn load(&self, id: i64) -> Result<(TaskRow, Vec<JobRow>)> {
        let db = self.core.db();
        let task = db.task(id).await?.ok_or(Error::NotFound)?;
        let jobs = db.jobs_of(&[id]).await?;
        Ok((task, jobs))
    }

    /// Loads the task, checks a permission built from its facts.
    async fn authorized(
        &self,
        actor: &Actor,
        id: i64,
        want: Want,
    ) -> Result<(TaskRow, Vec<JobRow>)> {
        let (task, jobs) = self.load(id).await?;
        let facts = self.facts(&task, &jobs).await?;
        let perm = match want {
            Want::Access => Perm::TaskAccess(&facts),
            Want::Change => Perm::TaskChange(&facts),
            Want::Delete => Perm::TaskDelete(&facts),
        };
        self.core.check(actor, perm)?;
        Ok((task, jobs))
    }

    async fn view(&self, task: TaskRow, jobs: Vec<JobRow>) -> Result<TaskView> {
        let db = self.core.db();
        let labels = db.labels_of(&[task.id]).await?;
        let data = match task.data_id {
            Some(d) => db.data(d).await?,
            None => None,
        };
        Ok(TaskView {
            task,
            labels,
            jobs,
            data,
        })
    }

    /// `POST /tasks` (§6.4).
    pub async fn create(&self, actor: &Actor, body: &Map<String, Value>) -> Result<TaskView> {
        self.core.check(actor, Perm::TaskCreate)?;
        let body = &with_id_aliases(body);
        let mut errs = Map::new();
        let mut f = Fields::new(body);
        let name = f.required_string("name", false);
        let bug_tracker = f.string("bug_tracker", true).unwrap_or_default();
        let z_order = f.bool("z_order").unwrap_or(false);
        let overlap = f.int("overlap", true).flatten();
        let segment_size = f.int("segment_size", false).flatten().unwrap_or(0);
        let mut fe = f.errors;
        check_len(&mut fe, "name", name.as_deref(), 256);
        check_len(&mut fe, "bug_tracker", Some(&bug_tracker), 2000);
        if overlap.is_some_and(|o| o < 0) {
            fe.add(
                "overlap",
                "Ensure this value is greater than or equal to 0.",
            );
        }
        if segment_size < 0 {
            fe.add(
                "segment_size",
                "Ensure this value is greater than or equal to 0.",
            );
        }
        let owner = self.user_ref(&mut fe, body, "owner").await?;
        let assignee = self.user_ref(&mut fe, body, "assignee").await?;
        let project = self
            .core
            .projects()
            .task_project_ref(actor, &mut fe, body)
            .await?
            .flatten();
        merge_field_errors(&mut errs, fe);
        let labels = match (&project, body.get("labels")) {
            (Some(p), given) => {
                if given.is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty())) {
                    return Err(crate::projects::own_labels_refused());
                }
                crate::projects::as_new_labels(&p.labels)
            }
            (None, None) => {
                errs.insert("labels".into(), json!(["This field is required."]));
                vec![]
            }
            (None, Some(v)) => {
                let labels = parse_labels(v, &mut errs, true);
                // CVAT 1.1.0 final refuses a task without labels
                if labels.is_empty() && !errs.contains_key("labels") {
                    errs.insert("labels".into(), json!(["Label set must not be empty"]));
                }
                labels
            }
        };
        if !errs.is_empty() {
            return Err(Error::Body(Value::Object(errs)));
        }
        let new = NewTask {
            name: name.unwrap_or_default(),
            owner_id: owner.unwrap_or(Some(actor.id)).or(Some(actor.id)),
            assignee_id: assignee.flatten(),
            bug_tracker,
            overlap,
            segment_size,
            z_order,
            project_id: project.as_ref().map(|p| p.project.id),
            labels,
        };
        let id = self
            .core
            .db()
            .insert_task(&new)
            .await
            .map_err(label_conflict)?;
        let (task, jobs) = self.load(id).await?;
        self.view(task, jobs).await
    }

    /// The task and its jobs if `actor` may change it (task.change).
    pub(crate) async fn authorized_change(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(TaskRow, Vec<JobRow>)> {
        self.authorized(actor, id, Want::Change).await
    }

    /// The task and its jobs if `actor` may see it (task.access).
    pub(crate) async fn authorized_access(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(TaskRow, Vec<JobRow>)> {
        self.authorized(actor, id, Want::Access).await
    }

    /// A task as its JSON shows it, without a permission check (the caller checked one
    /// of its jobs).
    pub async fn get_unchecked(&self, id: i64) -> Result<TaskView> {
        let (task, jobs) = self.load(id).await?;
        self.view(task, jobs).await
    }

    /// `GET /tasks/{id}` (§6.5).
    pub async fn get(&self, actor: &Actor, id: i64) -> Result<TaskView> {
        let (task, jobs) = self.authorized(actor, id, Want::Access).await?;
        self.view(task, jobs).await
    }

    /// The task a label belongs to, checked as [`Self::get`] checks the task.
    pub async fn of_label(&self, actor: &Actor, label_id: i64) -> Result<TaskView> {
        let task = self.core.db().label_task(label_id).await?;
        self.get(actor, task.ok_or(Error::NotFound)?).await
    }

    /// `GET /tasks` (§6.3): the visible tasks matching `query` (raw pairs), a page of them
    /// and the total count. `window` turns the count into (offset, limit).
    pub async fn list(
        &self,
        actor: &Actor,
        query: &[(String, String)],
        window: impl FnOnce(i64) -> Result<(i64, Option<i64>)>,
    ) -> Result<(i64, Vec<TaskView>)> {
        self.list_in(actor, query, None, window).await
    }

    /// [`Self::list`], of one project's tasks when `project_id` is given.
    pub(crate) async fn list_in(
        &self,
        actor: &Actor,
        query: &[(String, String)],
        project_id: Option<i64>,
        window: impl FnOnce(i64) -> Result<(i64, Option<i64>)>,
    ) -> Result<(i64, Vec<TaskView>)> {
        let q = crate::projects::ListQuery(query);
        let filter = TaskFilter {
            search: q.search(),
            id: q.id()?,
            name: q.get("name"),
            owner: q.get("owner"),
            assignee: q.get("assignee"),
            mode: q.get("mode"),
            status: q.get("status"),
            project_id,
        };
        let order = q.ordering(TaskSort::parse);
        let vis = match task_list_scope(actor, self.core.config().policy) {
            TaskScope::All => TaskVisibility::All,
            TaskScope::Visible {
                user_id,
                include_unassigned,
            } => TaskVisibility::Visible {
                user_id,
                include_unassigned,
            },
        };
        let db = self.core.db();
        let count = db.count_tasks(vis, &filter).await?;
        let (offset, limit) = window(count)?;
        let tasks = db.list_tasks(vis, &filter, &order, offset, limit).await?;
        let ids: Vec<i64> = tasks.iter().map(|t| t.id).collect();
        let mut labels = db.labels_of(&ids).await?;
        let mut jobs = db.jobs_of(&ids).await?;
        let data_ids: Vec<i64> = tasks.iter().filter_map(|t| t.data_id).collect();
        let mut data_by_id: std::collections::HashMap<i64, DataRow> = db
            .data_many(&data_ids)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        let mut views = Vec::with_capacity(tasks.len());
        for t in tasks {
            let data = t.data_id.and_then(|d| data_by_id.remove(&d));
            let (mine, rest): (Vec<_>, Vec<_>) =
                labels.into_iter().partition(|(l, _)| l.task_id == t.id);
            labels = rest;
            let (mj, rj): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|j| j.task_id == t.id);
            jobs = rj;
            views.push(TaskView {
                task: t,
                labels: mine,
                jobs: mj,
                data,
            });
        }
        Ok((count, views))
    }

    /// `PATCH`/`PUT /tasks/{id}` (§6.6): fields, and labels merged by name.
    pub async fn update(
        &self,
        actor: &Actor,
        id: i64,
        body: &Map<String, Value>,
        put: bool,
    ) -> Result<TaskView> {
        let body = &with_id_aliases(body);
        let (current, _) = self.authorized(actor, id, Want::Change).await?;
        let mut errs = Map::new();
        let mut f = Fields::new(body);
        let name = if put {
            f.required_string("name", false)
        } else {
            f.string("name", false)
        };
        let bug_tracker = f.string("bug_tracker", true);
        let z_order = f.bool("z_order");
        let mut fe = f.errors;
        check_len(&mut fe, "name", name.as_deref(), 256);
        check_len(&mut fe, "bug_tracker", bug_tracker.as_deref(), 2000);
        let owner = self.user_ref(&mut fe, body, "owner").await?;
        let assignee = self.user_ref(&mut fe, body, "assignee").await?;
        let project = match body.get("project") {
            // the same project again changes nothing
            Some(v)
                if ferrocat_wire::fields::parse_int(v).is_some()
                    && ferrocat_wire::fields::parse_int(v) == current.project_id =>
            {
                None
            }
            _ => {
                self.core
                    .projects()
                    .task_project_ref(actor, &mut fe, body)
                    .await?
            }
        };
        merge_field_errors(&mut errs, fe);
        let in_project = match &project {
            Some(p) => p.is_some(),
            None => current.project_id.is_some(),
        };
        let mut labels = match body.get("labels") {
            None if put && !in_project => {
                errs.insert("labels".into(), json!(["This field is required."]));
                vec![]
            }
            None => vec![],
            Some(v) if in_project => {
                if v.as_array().is_none_or(|a| !a.is_empty()) {
                    return Err(crate::projects::own_labels_refused());
                }
                vec![]
            }
            Some(v) => parse_labels(v, &mut errs, false),
        };
        if !errs.is_empty() {
            return Err(Error::Body(Value::Object(errs)));
        }
        if let Some(Some(p)) = &project {
            labels = self.labels_for_move(id, p).await?;
        }
        let patch = TaskPatch {
            name,
            owner_id: owner,
            assignee_id: assignee,
            bug_tracker,
            z_order,
            project_id: project.map(|p| p.map(|p| p.project.id)),
            labels,
        };
        self.core
            .db()
            .update_task(id, &patch)
            .await
            .map_err(label_conflict)?;
        let (task, jobs) = self.load(id).await?;
        self.view(task, jobs).await
    }

    /// The labels a task gets when it moves into project `p`: the project's, when every
    /// label the task has is one of them (by name); otherwise a 400 naming the others.
    async fn labels_for_move(
        &self,
        id: i64,
        p: &crate::projects::ProjectView,
    ) -> Result<Vec<NewLabel>> {
        let own = self.core.db().labels_of(&[id]).await?;
        let foreign: Vec<&str> = own
            .iter()
            .map(|(l, _)| l.name.as_str())
            .filter(|n| !p.labels.iter().any(|(pl, _)| pl.name == *n))
            .collect();
        if !foreign.is_empty() {
            return Err(Error::Body(json!({"project": [format!(
                "The project has no label named {}: a task moves into a project only with labels the project has",
                foreign.join(", ")
            )]})));
        }
        Ok(crate::projects::as_new_labels(&p.labels))
    }

    /// `DELETE /tasks/{id}` (§6.7): the task, its annotations, its media and its
    /// export files.
    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<()> {
        self.authorized(actor, id, Want::Delete).await?;
        let data = self.core.db().delete_task(id).await?;
        let mut dirs = vec![crate::exports::task_exports_dir(self.core, id)];
        if let Some(data_id) = data {
            let dir = data_dir(self.core, data_id);
            self.core.files().forget_under(&dir);
            dirs.push(dir);
        }
        for dir in dirs {
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(task_id = id, dir = %dir.display(), error = %e, "could not remove files of a deleted task");
            }
        }
        Ok(())
    }

    /// `GET /tasks/{id}/jobs` (§6.8).
    pub async fn jobs(&self, actor: &Actor, id: i64) -> Result<Vec<JobRow>> {
        let (_, mut jobs) = self.authorized(actor, id, Want::Access).await?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    pub(crate) async fn job_facts(&self, id: i64) -> Result<(JobRow, JobFacts)> {
        let (job, _, facts) = self.job_task_facts(id).await?;
        Ok((job, facts))
    }

    /// A job, its task and the facts its permissions need.
    pub(crate) async fn job_task_facts(&self, id: i64) -> Result<(JobRow, TaskRow, JobFacts)> {
        let db = self.core.db();
        let job = db.job(id).await?.ok_or(Error::NotFound)?;
        let (task, jobs) = self.load(job.task_id).await?;
        let facts = JobFacts {
            task: self.facts(&task, &jobs).await?,
            assignee: job.assignee_id,
        };
        Ok((job, task, facts))
    }

    /// `GET /jobs/{id}` (§8.2).
    pub async fn job(&self, actor: &Actor, id: i64) -> Result<JobRow> {
        let (job, facts) = self.job_facts(id).await?;
        self.core.check(actor, Perm::JobAccess(&facts))?;
        Ok(job)
    }

    /// `PATCH`/`PUT /jobs/{id}` (§8.2): status and assignee; the task status follows.
    pub async fn update_job(
        &self,
        actor: &Actor,
        id: i64,
        body: &Map<String, Value>,
    ) -> Result<JobRow> {
        let body = &with_id_aliases(body);
        let (_, facts) = self.job_facts(id).await?;
        self.core.check(actor, Perm::JobChange(&facts))?;
        let mut fe = FieldErrors::new();
        let status = match body.get("status") {
            None => None,
            Some(Value::String(s)) if JOB_STATUSES.contains(&s.as_str()) => Some(s.clone()),
            Some(v) => {
                fe.add(
                    "status",
                    format!("\"{}\" is not a valid choice.", display(v)),
                );
                None
            }
        };
        let assignee = self.user_ref(&mut fe, body, "assignee").await?;
        fe.into_result()?;
        self.core
            .db()
            .update_job(id, status.as_deref(), assignee)
            .await?;
        self.core.db().job(id).await?.ok_or(Error::NotFound)
    }

    /// A user reference field (`owner`, `assignee`): absent → `None`; `null`/`""` →
    /// `Some(None)`; a known id → `Some(Some(id))`; otherwise a field error.
    pub(crate) async fn user_ref(
        &self,
        fe: &mut FieldErrors,
        body: &Map<String, Value>,
        name: &str,
    ) -> Result<Option<Option<i64>>> {
        let Some(v) = body.get(name) else {
            return Ok(None);
        };
        if v.is_null() || v.as_str() == Some("") {
            return Ok(Some(None));
        }
        let Some(id) = parse_int(v) else {
            fe.add(
                name,
                format!(
                    "Incorrect type. Expected pk value, received {}.",
                    py_type(v)
                ),
            );
            return Ok(None);
        };
        if !self.core.db().user_exists(id).await? {
            fe.add(
                name,
                format!("Invalid pk \"{id}\" - object does not exist."),
            );
            return Ok(None);
        }
        Ok(Some(Some(id)))
    }

    /// Checks that data may be attached (task exists, task.create + task.change, no
    /// data yet) before the upload is read.
    pub async fn can_attach_data(&self, actor: &Actor, id: i64) -> Result<()> {
        let (task, jobs) = self.load(id).await?;
        self.core.check(actor, Perm::TaskCreate)?;
        let facts = self.facts(&task, &jobs).await?;
        self.core.check(actor, Perm::TaskChange(&facts))?;
        if task.data_id.is_some() {
            return Err(Error::non_field("Data are already attached to the task"));
        }
        Ok(())
    }

    /// A new empty staging folder for an upload.
    pub async fn staging_dir(&self) -> Result<PathBuf> {
        let dir = self
            .core
            .config()
            .data_dir
            .join("tmp")
            .join(format!("upload-{}", crate::random_alnum(16)));
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::Internal(format!("staging folder: {e}")))?;
        Ok(dir)
    }

    /// `POST /tasks/{id}/data` (§7.1): validates the parameters and sources, stores the
    /// data record, moves the staged uploads into place and queues the processing.
    /// `client_files` are the names of the files already written to `staged`.
    pub async fn attach_data(
        &self,
        actor: &Actor,
        id: i64,
        body: &Map<String, Value>,
        client_files: Vec<String>,
        staged: &Path,
    ) -> Result<DataEcho> {
        self.attach_data_then(actor, id, body, client_files, staged, Value::Null)
            .await
    }

    /// [`Self::attach_data`], with what processing does once the frames exist: `restore`
    /// (not null) is a backup's annotations and job statuses ([`crate::backups`]).
    pub(crate) async fn attach_data_then(
        &self,
        actor: &Actor,
        id: i64,
        body: &Map<String, Value>,
        client_files: Vec<String>,
        staged: &Path,
        restore: Value,
    ) -> Result<DataEcho> {
        self.can_attach_data(actor, id).await?;
        let mut f = Fields::new(body);
        let quality = f.int("image_quality", false);
        if !f.has("image_quality") {
            f.errors
                .add("image_quality", ferrocat_wire::fields::REQUIRED);
        }
        let chunk_size = f.int("chunk_size", true).flatten();
        let start_frame = f.int("start_frame", false).flatten();
        let stop_frame = f.int("stop_frame", false).flatten();
        let frame_filter = f.string("frame_filter", true);
        let use_zip_chunks = f.bool("use_zip_chunks").unwrap_or(false);
        let server_files = f.string_list("server_files").unwrap_or_default();
        let remote_files = f.string_list("remote_files").unwrap_or_default();
        let mut fe = f.errors;
        let quality = quality.flatten();
        if let Some(q) = quality
            && !(0..=100).contains(&q)
        {
            fe.add(
                "image_quality",
                if q < 0 {
                    "Ensure this value is greater than or equal to 0."
                } else {
                    "Ensure this value is less than or equal to 100."
                },
            );
        }
        if chunk_size.is_some_and(|c| c <= 0) {
            fe.add("chunk_size", "Chunk size must be a positive integer");
        }
        for (n, v) in [("start_frame", start_frame), ("stop_frame", stop_frame)] {
            if v.is_some_and(|v| v < 0) {
                fe.add(n, "Ensure this value is greater than or equal to 0.");
            }
        }
        if let Some(ff) = &frame_filter
            && crate::processing::parse_step(ff).is_none()
        {
            fe.add("frame_filter", "Invalid frame filter expression");
        }
        fe.clone().into_result()?;
        if let (Some(a), Some(b)) = (start_frame, stop_frame)
            && a > b
        {
            fe.add(
                "non_field_errors",
                "Stop frame must be more or equal start frame",
            );
        }
        let sources = [
            !client_files.is_empty(),
            !server_files.is_empty(),
            !remote_files.is_empty(),
        ];
        if sources.iter().filter(|s| **s).count() > 1 {
            fe.add(
                "non_field_errors",
                "Only one of client_files, server_files, remote_files may be used",
            );
        }
        if sources.iter().all(|s| !s) {
            fe.add(
                "non_field_errors",
                "No media data found: send client_files, server_files or remote_files",
            );
        }
        let share = &self.core.config().share_dir;
        for sf in &server_files {
            if crate::share::resolve(share, sf).is_none() {
                fe.add(
                    "server_files",
                    format!("{sf}: no such file or directory in the share"),
                );
            }
        }
        let mut remote_names = std::collections::HashSet::new();
        for rf in &remote_files {
            match crate::remote::check(rf, self.core.config().allow_private_remote).await {
                Ok(c) => {
                    let name = crate::remote::file_name(&c.url);
                    if !remote_names.insert(name.clone()) {
                        fe.add("remote_files", format!("filename collision: {name}"));
                    }
                }
                Err(m) => fe.add("remote_files", m),
            }
        }
        fe.into_result()?;

        let data = DataRow {
            id: 0,
            chunk_size,
            size: 0,
            image_quality: quality.unwrap_or(70),
            start_frame: start_frame.unwrap_or(0),
            stop_frame: stop_frame.unwrap_or(0),
            frame_filter: frame_filter.clone().unwrap_or_default(),
            compressed_chunk_type: "imageset".into(),
            original_chunk_type: "imageset".into(),
            use_zip_chunks,
            sources: json!({"client_files": client_files, "server_files": server_files, "remote_files": remote_files,
                            "stop_frame_given": stop_frame.is_some()})
            .to_string(),
            ready: false,
        };
        let db = self.core.db();
        let data_id = match db.attach_data(id, &data).await {
            Ok(d) => d,
            Err(StoreError::Unique(_)) => {
                return Err(Error::non_field("Data are already attached to the task"));
            }
            Err(e) => return Err(e.into()),
        };
        let dir = data_dir(self.core, data_id);
        let moved = async {
            tokio::fs::create_dir_all(&dir).await?;
            tokio::fs::rename(staged, dir.join("raw")).await
        }
        .await;
        if let Err(e) = moved {
            db.drop_data(id, data_id).await?;
            return Err(Error::Internal(format!("cannot store the upload: {e}")));
        }
        db.enqueue(
            &data_key(id),
            "task_data",
            &json!({"task_id": id, "data_id": data_id, "restore": restore}).to_string(),
            Some(actor.id),
        )
        .await?;
        self.core.notify_queue();
        Ok(DataEcho {
            chunk_size,
            size: 0,
            image_quality: data.image_quality,
            start_frame: data.start_frame,
            stop_frame: data.stop_frame,
            frame_filter: data.frame_filter,
            compressed_chunk_type: data.compressed_chunk_type,
            original_chunk_type: data.original_chunk_type,
            client_files,
            server_files,
            remote_files,
            use_zip_chunks,
        })
    }

    /// `GET /tasks/{id}/status` (§7.3).
    pub async fn status(&self, actor: &Actor, id: i64) -> Result<Status> {
        self.authorized(actor, id, Want::Access).await?;
        let item = self.core.db().queue_item(&data_key(id)).await?;
        let (state, message) = match item {
            None => ("Finished", String::new()),
            Some(i) => match i.state.as_str() {
                "queued" => ("Queued", String::new()),
                "started" => ("Started", i.message),
                "failed" => ("Failed", i.message),
                _ => ("Finished", String::new()),
            },
        };
        Ok(Status {
            state: state.into(),
            message,
        })
    }

    async fn ready_data(&self, actor: &Actor, id: i64) -> Result<DataRow> {
        let (task, _) = self.authorized(actor, id, Want::Access).await?;
        let Some(d) = task.data_id else {
            return Err(Error::NotFound);
        };
        match self.core.db().data(d).await? {
            Some(d) if d.ready => Ok(d),
            _ => Err(Error::NotFound),
        }
    }

    /// `GET /tasks/{id}/data/meta` (§7.5).
    pub async fn meta(&self, actor: &Actor, id: i64) -> Result<DataMeta> {
        let d = self.ready_data(actor, id).await?;
        let frames: Vec<FrameRow> = self.core.db().frames(d.id).await?;
        Ok(DataMeta {
            chunk_size: d.chunk_size,
            size: d.size,
            image_quality: d.image_quality,
            start_frame: d.start_frame,
            stop_frame: d.stop_frame,
            frame_filter: d.frame_filter.clone(),
            frames: meta_frames(&d, frames),
        })
    }

    /// Frame `index` of the mp4 chunk `path`, decoded by ffmpeg (a chunk starts with a
    /// keyframe, so at most a chunk's frames are decoded): PNG for original quality, JPEG
    /// at quality 95 for compressed (the chunk already lost what `image_quality` takes;
    /// a second loss at the same quality would compound it).
    async fn video_frame(&self, path: PathBuf, index: usize, png: bool) -> Result<Stored> {
        self.core
            .media()
            .fetch(&path)
            .await
            .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
        let bytes = self
            .core
            .blocking(move || {
                let img = ferrocat_media::video::frame(&path, index as u64)?;
                if png {
                    ferrocat_media::image::encode_png(&img)
                } else {
                    ferrocat_media::image::encode_jpeg(&img, 95)
                }
            })
            .await?
            .map_err(|e| Error::Internal(format!("cannot decode the frame: {e}")))?;
        Ok(Stored::Memory(bytes.into()))
    }

    /// `GET /tasks/{id}/data?type=&number=&quality=` (§7.4): where the bytes are.
    pub async fn data_file(
        &self,
        actor: &Actor,
        id: i64,
        kind: Option<&str>,
        number: Option<&str>,
        quality: Option<&str>,
    ) -> Result<DataFile> {
        let bare = |s: &str| Error::Body(Value::String(s.into()));
        let kind = match kind {
            Some(k @ ("chunk" | "frame" | "preview")) => k,
            _ => return Err(bare("data type not specified or has wrong value")),
        };
        let quality = match quality.unwrap_or("compressed") {
            q @ ("compressed" | "original") => q,
            _ => return Err(bare("wrong quality value")),
        };
        let d = self.ready_data(actor, id).await?;
        let dir = data_dir(self.core, d.id);
        let open = |path: PathBuf| async move {
            self.core
                .files()
                .open(self.core.media(), &path)
                .await
                .map_err(|e| Error::Internal(format!("{path:?}: {e}")))
        };
        if kind == "preview" {
            return Ok(DataFile {
                body: open(dir.join("preview.jpeg")).await?,
                content_type: "image/jpeg",
                range: None,
                etag: format!("\"d{}-preview\"", d.id),
            });
        }
        let Some(number) = number else {
            return Err(bare("number not specified"));
        };
        let chunk_size = d.chunk_size.unwrap_or(1).max(1);
        let n: i64 = number
            .trim()
            .parse()
            .map_err(|_| bare("number not specified"))?;
        let out_of_range = || {
            bare(&format!(
                "cannot get requested data type: {kind}, number: {number}, quality: {quality}\nThe number is out of range"
            ))
        };
        let chunks = (d.size + chunk_size - 1) / chunk_size;
        let video = if quality == "original" {
            d.is_video()
        } else {
            d.compressed_chunk_type == "video"
        };
        let (ext, chunk_type) = if video {
            ("mp4", "video/mp4")
        } else {
            ("zip", "application/zip")
        };
        match kind {
            "chunk" => {
                if n < 0 || n >= chunks {
                    return Err(out_of_range());
                }
                Ok(DataFile {
                    body: open(dir.join(quality).join(format!("{n}.{ext}"))).await?,
                    content_type: chunk_type,
                    range: None,
                    etag: format!("\"d{}-c{n}-{quality}\"", d.id),
                })
            }
            _ => {
                if n < 0 || n >= d.size {
                    return Err(out_of_range());
                }
                let chunk = n / chunk_size;
                let index = (n % chunk_size) as usize;
                if video {
                    let path = dir.join(quality).join(format!("{chunk}.mp4"));
                    return Ok(DataFile {
                        body: self.video_frame(path, index, quality == "original").await?,
                        content_type: if quality == "original" {
                            "image/png"
                        } else {
                            "image/jpeg"
                        },
                        range: None,
                        etag: format!("\"d{}-f{n}-{quality}\"", d.id),
                    });
                }
                let body = open(dir.join(quality).join(format!("{chunk}.zip"))).await?;
                let ranges = match &body {
                    // Only the zip directory is read: microseconds for a chunk's members.
                    Stored::Disk { path, .. } => {
                        let path = path.clone();
                        self.core
                            .blocking(move || {
                                ferrocat_media::chunk::stored_member_ranges(std::fs::File::open(
                                    path,
                                )?)
                            })
                            .await?
                    }
                    other => {
                        let bytes = other
                            .bytes()
                            .await
                            .map_err(|e| Error::Internal(format!("chunk {chunk}: {e}")))?;
                        ferrocat_media::chunk::stored_member_ranges(std::io::Cursor::new(bytes))
                    }
                };
                let (name, start, len) = ranges
                    .map_err(|e| Error::Internal(format!("chunk {chunk}: {e}")))?
                    .into_iter()
                    .nth(index)
                    .ok_or_else(|| {
                        Error::Internal(format!("chunk {chunk} lacks member {index}"))
                    })?;
                Ok(DataFile {
                    body,
                    content_type: ferrocat_media::image::mime_for_name(&name),
                    range: Some((start, len)),
                    etag: format!("\"d{}-f{n}-{quality}\"", d.id),
                })
            }
        }
    }
}

/// `data/meta` frames (§7.5): one per task frame for images; for a video the one entry
/// of the video's size and name.
fn meta_frames(d: &DataRow, frames: Vec<FrameRow>) -> Vec<FrameMeta> {
    let entry = |f: FrameRow| FrameMeta {
        width: f.width,
        height: f.height,
        name: f.name,
    };
    if !d.is_video() {
        return frames.into_iter().map(entry).collect();
    }
    let name = d.video_name().unwrap_or_default();
    frames
        .into_iter()
        .next()
        .map(|f| FrameRow { name, ..f })
        .map(entry)
        .into_iter()
        .collect()
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn py_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "str",
        Value::Bool(_) => "bool",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
        Value::Number(_) => "float",
        Value::Null => "NoneType",
    }
}

pub(crate) fn check_len(fe: &mut FieldErrors, field: &str, v: Option<&str>, max: usize) {
    if v.is_some_and(|v| v.chars().count() > max) {
        fe.add(
            field,
            format!("Ensure this field has no more than {max} characters."),
        );
    }
}

/// CVAT 1.2's spellings of the reference fields (`project_id`, `owner_id`,
/// `assignee_id`), which FiftyOne sends to v1 servers, read as CVAT 1.1's (`project`,
/// `owner`, `assignee`); the 1.1 spelling wins when both are sent.
fn with_id_aliases(body: &Map<String, Value>) -> std::borrow::Cow<'_, Map<String, Value>> {
    const ALIASES: [(&str, &str); 3] = [
        ("project_id", "project"),
        ("owner_id", "owner"),
        ("assignee_id", "assignee"),
    ];
    if !ALIASES
        .iter()
        .any(|(alias, name)| body.contains_key(*alias) && !body.contains_key(*name))
    {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut out = body.clone();
    for (alias, name) in ALIASES {
        if let Some(v) = body.get(alias)
            && !body.contains_key(name)
        {
            out.insert(name.to_string(), v.clone());
        }
    }
    std::borrow::Cow::Owned(out)
}

pub(crate) fn merge_field_errors(errs: &mut Map<String, Value>, fe: FieldErrors) {
    for (k, v) in fe.0 {
        errs.insert(k, json!(v));
    }
}

pub(crate) fn label_conflict(e: StoreError) -> Error {
    match e {
        StoreError::Unique(_) => {
            Error::Body(json!({"labels": ["All label names must be unique for the task"]}))
        }
        e => e.into(),
    }
}

/// Validates `labels` (§6.2). Errors go to `errs["labels"]`: a list with one object per
/// label (`{}` for valid ones), or a list of strings for list-level problems.
/// `create`: attributes need every field; otherwise (PATCH merge) missing fields keep
/// their stored values.
pub(crate) fn parse_labels(
    v: &Value,
    errs: &mut Map<String, Value>,
    create: bool,
) -> Vec<NewLabel> {
    let Value::Array(items) = v else {
        errs.insert(
            "labels".into(),
            json!([format!(
                "Expected a list of items but got type \"{}\".",
                py_type(v)
            )]),
        );
        return vec![];
    };
    let mut out = Vec::new();
    let mut per_label = Vec::new();
    let mut any = false;
    for item in items {
        let mut le = Map::new();
        let Value::Object(m) = item else {
            per_label.push(json!({"non_field_errors": [format!("Invalid data. Expected a dictionary, but got {}.", py_type(item))]}));
            any = true;
            continue;
        };
        let mut f = Fields::new(m);
        let name = f.required_string("name", false);
        let mut fe = f.errors;
        check_len(&mut fe, "name", name.as_deref(), 64);
        merge_field_errors(&mut le, fe);
        let mut attrs = Vec::new();
        match m.get("attributes") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                let mut per_attr = Vec::new();
                let mut bad = false;
                let mut seen = std::collections::HashSet::new();
                for a in list {
                    let (attr, ae) = parse_attribute(a, create);
                    if let Some(attr) = &attr
                        && !seen.insert(attr.name.clone())
                    {
                        per_attr.push(
                            json!({"name": ["Attribute names must be unique within a label"]}),
                        );
                        bad = true;
                        continue;
                    }
                    bad |= !ae.is_empty();
                    per_attr.push(Value::Object(ae));
                    attrs.extend(attr);
                }
                if bad {
                    le.insert("attributes".into(), Value::Array(per_attr));
                }
            }
            Some(other) => {
                le.insert(
                    "attributes".into(),
                    json!([format!(
                        "Expected a list of items but got type \"{}\".",
                        py_type(other)
                    )]),
                );
            }
        }
        any |= !le.is_empty();
        per_label.push(Value::Object(le));
        if let Some(name) = name {
            out.push(NewLabel {
                name,
                attributes: attrs,
            });
        }
    }
    if any {
        errs.insert("labels".into(), Value::Array(per_label));
        return vec![];
    }
    let mut names = std::collections::HashSet::new();
    if !out.iter().all(|l| names.insert(l.name.clone())) {
        errs.insert(
            "labels".into(),
            json!(["All label names must be unique for the task"]),
        );
        return vec![];
    }
    out
}

fn parse_attribute(a: &Value, create: bool) -> (Option<NewAttr>, Map<String, Value>) {
    let mut e = Map::new();
    let Value::Object(m) = a else {
        e.insert(
            "non_field_errors".into(),
            json!([format!(
                "Invalid data. Expected a dictionary, but got {}.",
                py_type(a)
            )]),
        );
        return (None, e);
    };
    let mut f = Fields::new(m);
    let name = f.required_string("name", false);
    let mut fe = f.errors;
    check_len(&mut fe, "name", name.as_deref(), 64);
    let mutable = match m.get("mutable") {
        None if create => {
            fe.add("mutable", ferrocat_wire::fields::REQUIRED);
            None
        }
        None => None,
        Some(v) => parse_bool(v).or_else(|| {
            fe.add("mutable", ferrocat_wire::fields::NOT_BOOL);
            None
        }),
    };
    let input_type = match m.get("input_type") {
        None if create => {
            fe.add("input_type", ferrocat_wire::fields::REQUIRED);
            None
        }
        None => None,
        Some(Value::String(s)) if INPUT_TYPES.contains(&s.as_str()) => Some(s.clone()),
        Some(v) => {
            fe.add(
                "input_type",
                format!("\"{}\" is not a valid choice.", display(v)),
            );
            None
        }
    };
    // CVAT 1.1 lets `values` be left out (FiftyOne does) and stores "", shown as [""];
    // `[]` is shown the same way. A checkbox without values gets ["false"] (FiftyOne
    // sends its booleans so; "" is no checkbox value). Numbers still need theirs:
    // their values are their range.
    let needs_values = matches!(input_type.as_deref(), Some("number" | "checkbox"));
    let values: Option<Vec<String>> = match m.get("values") {
        None if create && input_type.as_deref() == Some("checkbox") => Some(vec!["false".into()]),
        None if create && needs_values => {
            fe.add("values", ferrocat_wire::fields::REQUIRED);
            None
        }
        None if create => Some(vec![String::new()]),
        Some(Value::Array(items)) if items.is_empty() && !needs_values => Some(vec![String::new()]),
        None => None,
        Some(Value::Array(items)) => {
            let mut vals = Vec::new();
            for it in items {
                match it {
                    Value::String(s) => vals.push(s.trim().to_string()),
                    Value::Number(n) => vals.push(n.to_string()),
                    Value::Bool(b) => vals.push(b.to_string()),
                    _ => fe.add("values", ferrocat_wire::fields::NOT_STRING),
                }
            }
            Some(vals)
        }
        Some(Value::String(s)) => Some(s.split('\n').map(|v| v.trim().to_string()).collect()),
        Some(v) => {
            fe.add(
                "values",
                format!("Expected a list of items but got type \"{}\".", py_type(v)),
            );
            None
        }
    };
    let default_value = match m.get("default_value") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(_) => {
            fe.add("default_value", ferrocat_wire::fields::NOT_STRING);
            None
        }
    };
    check_len(&mut fe, "default_value", default_value.as_deref(), 128);
    if let (Some(t), Some(vals)) = (input_type.as_deref(), values.as_ref()) {
        match t {
            "number" => {
                let nums: Vec<f64> = vals.iter().filter_map(|v| v.parse::<f64>().ok()).collect();
                let ok = nums.len() == 3
                    && vals.len() == 3
                    && nums[0] < nums[1]
                    && nums[2] > 0.0
                    && nums[2] <= nums[1] - nums[0];
                if !ok {
                    fe.add("values", "A number attribute needs values [min, max, step] with min < max and 0 < step <= max - min");
                }
            }
            "checkbox" if vals.len() != 1 || !matches!(vals[0].as_str(), "true" | "false") => {
                fe.add(
                    "values",
                    "A checkbox attribute needs exactly one value, \"true\" or \"false\"",
                );
            }
            "text" if vals.len() > 1 => {
                fe.add("values", "A text attribute has one value: the default text")
            }
            _ => {}
        }
    }
    merge_field_errors(&mut e, fe);
    if !e.is_empty() {
        return (None, e);
    }
    let default_value = if create {
        Some(default_value.unwrap_or_else(|| {
            values
                .as_ref()
                .and_then(|v| v.first().cloned())
                .unwrap_or_default()
        }))
    } else {
        default_value
    };
    (
        name.map(|name| NewAttr {
            name,
            mutable,
            input_type,
            default_value,
            values,
        }),
        e,
    )
}
