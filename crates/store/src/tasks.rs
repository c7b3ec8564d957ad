//! Tasks, their labels and attribute specs, segments, jobs, data records and frames
//! (api-v1 §6–§8).
//!
//! A task owns labels (→ attribute specs) and segments (→ one job each); its media is a
//! `data` row with one `frames` row per task frame. Label and attribute ids are global
//! sequences, created in request order.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::{Db, Result, StoreError, with_db};

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct TaskRow {
    pub id: i64,
    pub project_id: Option<i64>,
    pub name: String,
    pub mode: String,
    pub owner_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub bug_tracker: String,
    pub created_date: DateTime<Utc>,
    pub updated_date: DateTime<Utc>,
    pub overlap: Option<i64>,
    pub segment_size: i64,
    pub z_order: bool,
    pub status: String,
    pub data_id: Option<i64>,
}

const TASK_COLS: &str = "t.id, t.project_id, t.name, t.mode, t.owner_id, t.assignee_id, t.bug_tracker, \
     t.created_date, t.updated_date, t.overlap, t.segment_size, t.z_order, t.status, t.data_id";

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct LabelRow {
    pub id: i64,
    /// The task the label belongs to (for a project's labels: the project).
    pub task_id: i64,
    pub name: String,
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct AttrRow {
    pub id: i64,
    pub label_id: i64,
    pub name: String,
    pub mutable: bool,
    pub input_type: String,
    pub default_value: String,
    /// JSON array of strings.
    pub value_list: String,
}

/// An attribute spec to create or overwrite.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttr {
    pub name: String,
    pub mutable: Option<bool>,
    pub input_type: Option<String>,
    pub default_value: Option<String>,
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewLabel {
    pub name: String,
    pub attributes: Vec<NewAttr>,
}

#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub name: String,
    pub owner_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub bug_tracker: String,
    pub overlap: Option<i64>,
    pub segment_size: i64,
    pub z_order: bool,
    pub project_id: Option<i64>,
    pub labels: Vec<NewLabel>,
}

/// Fields to change; `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub name: Option<String>,
    pub owner_id: Option<Option<i64>>,
    pub assignee_id: Option<Option<i64>>,
    pub bug_tracker: Option<String>,
    pub z_order: Option<bool>,
    pub project_id: Option<Option<i64>>,
    /// Merged by name (never deleted, never renamed).
    pub labels: Vec<NewLabel>,
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct SegmentRow {
    pub id: i64,
    pub task_id: i64,
    pub start_frame: i64,
    pub stop_frame: i64,
}

/// A job with its segment's frame range and task.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct JobRow {
    pub id: i64,
    pub segment_id: i64,
    pub assignee_id: Option<i64>,
    pub status: String,
    pub version: i64,
    pub task_id: i64,
    pub start_frame: i64,
    pub stop_frame: i64,
}

const JOB_COLS: &str = "j.id, j.segment_id, j.assignee_id, j.status, j.version, s.task_id, s.start_frame, s.stop_frame";

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct DataRow {
    pub id: i64,
    pub chunk_size: Option<i64>,
    pub size: i64,
    pub image_quality: i64,
    pub start_frame: i64,
    pub stop_frame: i64,
    pub frame_filter: String,
    pub compressed_chunk_type: String,
    pub original_chunk_type: String,
    pub use_zip_chunks: bool,
    pub sources: String,
    pub ready: bool,
}

impl DataRow {
    /// The `sources` record: the upload's `client_files`, `server_files`,
    /// `remote_files`, `stop_frame_given`, and after processing the `video` name.
    pub fn sources_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.sources).unwrap_or_default()
    }

    /// The strings of one list of `sources` (`server_files`, `remote_files`).
    pub fn source_list(&self, key: &str) -> Vec<String> {
        self.sources_json()[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the data is one video (its original chunks are mp4).
    pub fn is_video(&self) -> bool {
        self.original_chunk_type == "video"
    }

    /// A video's name in the task (the one `data/meta` frame), once processed.
    pub fn video_name(&self) -> Option<String> {
        self.sources_json()["video"].as_str().map(str::to_string)
    }
}

const DATA_COLS: &str = "id, chunk_size, size, image_quality, start_frame, stop_frame, frame_filter, \
     compressed_chunk_type, original_chunk_type, use_zip_chunks, sources, ready";

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct FrameRow {
    pub frame: i64,
    pub name: String,
    pub width: i64,
    pub height: i64,
}

/// Which tasks a list shows (api-v1 §4.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskVisibility {
    All,
    Visible {
        user_id: i64,
        include_unassigned: bool,
    },
}

/// Filters of `GET /tasks` (§6.3). Text filters are case-insensitive substrings.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub search: Vec<String>,
    pub id: Option<i64>,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub assignee: Option<String>,
    pub mode: Option<String>,
    pub status: Option<String>,
    /// Only the tasks of this project (`GET /projects/{id}/tasks`).
    pub project_id: Option<i64>,
}

/// Orderings of `GET /tasks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSort {
    Id,
    Name,
    Owner,
    Status,
    Assignee,
}

impl TaskSort {
    pub fn parse(s: &str) -> Option<TaskSort> {
        Some(match s {
            "id" => TaskSort::Id,
            "name" => TaskSort::Name,
            "owner" => TaskSort::Owner,
            "status" => TaskSort::Status,
            "assignee" => TaskSort::Assignee,
            _ => return None,
        })
    }
    fn column(self) -> &'static str {
        match self {
            TaskSort::Id => "t.id",
            TaskSort::Name => "lower(t.name)",
            TaskSort::Owner => "t.owner_id",
            TaskSort::Status => "t.status",
            TaskSort::Assignee => "t.assignee_id",
        }
    }
}

/// A bind value for dynamically built queries.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    I(i64),
    T(String),
}

pub(crate) fn like(s: &str) -> String {
    let escaped = s
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn task_where(vis: TaskVisibility, f: &TaskFilter) -> (String, Vec<Arg>) {
    let mut conds: Vec<String> = vec!["1=1".into()];
    let mut args: Vec<Arg> = vec![];
    let next = |a: Arg, args: &mut Vec<Arg>| {
        args.push(a);
        format!("${}", args.len())
    };
    if let TaskVisibility::Visible {
        user_id,
        include_unassigned,
    } = vis
    {
        let p = next(Arg::I(user_id), &mut args);
        let mut c = format!(
            "(t.owner_id = {p} OR t.assignee_id = {p} OR EXISTS (SELECT 1 FROM segments s2 JOIN jobs j2 ON j2.segment_id = s2.id \
             WHERE s2.task_id = t.id AND j2.assignee_id = {p})"
        );
        if include_unassigned {
            c.push_str(" OR t.assignee_id IS NULL");
        }
        c.push(')');
        conds.push(c);
    }
    if let Some(id) = f.id {
        let p = next(Arg::I(id), &mut args);
        conds.push(format!("t.id = {p}"));
    }
    if let Some(id) = f.project_id {
        let p = next(Arg::I(id), &mut args);
        conds.push(format!("t.project_id = {p}"));
    }
    let text = [
        (&f.name, "lower(t.name)"),
        (&f.owner, "lower(COALESCE(o.username, ''))"),
        (&f.assignee, "lower(COALESCE(a.username, ''))"),
        (&f.mode, "lower(t.mode)"),
        (&f.status, "lower(t.status)"),
    ];
    for (v, col) in text {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            let p = next(Arg::T(like(v)), &mut args);
            conds.push(format!("{col} LIKE {p} ESCAPE '\\'"));
        }
    }
    for term in &f.search {
        let p = next(Arg::T(like(term)), &mut args);
        conds.push(format!(
            "(lower(t.name) LIKE {p} ESCAPE '\\' OR lower(COALESCE(o.username, '')) LIKE {p} ESCAPE '\\' \
             OR lower(t.mode) LIKE {p} ESCAPE '\\' OR lower(t.status) LIKE {p} ESCAPE '\\')"
        ));
    }
    (conds.join(" AND "), args)
}

const TASK_FROM: &str =
    "FROM tasks t LEFT JOIN users o ON o.id = t.owner_id LEFT JOIN users a ON a.id = t.assignee_id";

macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::I(i) => q.bind(*i),
                Arg::T(s) => q.bind(s.clone()),
            };
        }
        q
    }};
}

/// The tables of one kind of label owner: a task's labels or a project's.
pub(crate) struct LabelTables {
    pub(crate) labels: &'static str,
    pub(crate) attrs: &'static str,
    pub(crate) owner: &'static str,
}

impl LabelTables {
    pub(crate) const TASK: LabelTables = LabelTables {
        labels: "labels",
        attrs: "attribute_specs",
        owner: "task_id",
    };
    pub(crate) const PROJECT: LabelTables = LabelTables {
        labels: "project_labels",
        attrs: "project_attribute_specs",
        owner: "project_id",
    };
}

/// Merges `labels` into the labels of one owner (a task or a project) inside a
/// transaction: a label is found by name or created; an attribute is found by name and
/// its given fields overwritten, or created with defaults for the missing ones. Nothing
/// is deleted or renamed (api-v1 §6.6). A macro, because the body is compiled for each
/// backend's transaction type.
macro_rules! merge_labels {
    ($tx:expr, $tables:expr, $owner:expr, $labels:expr) => {{
        let tables: &LabelTables = &$tables;
        let find_label = format!(
            "SELECT id FROM {} WHERE {} = $1 AND name = $2",
            tables.labels, tables.owner
        );
        let insert_label = format!(
            "INSERT INTO {} ({}, name) VALUES ($1, $2) RETURNING id",
            tables.labels, tables.owner
        );
        let update_attr = format!(
            "UPDATE {} SET
                mutable = COALESCE($3, mutable),
                input_type = COALESCE($4, input_type),
                default_value = COALESCE($5, default_value),
                value_list = COALESCE($6, value_list)
             WHERE label_id = $1 AND name = $2",
            tables.attrs
        );
        let insert_attr = format!(
            "INSERT INTO {} (label_id, name, mutable, input_type, default_value, value_list)
             VALUES ($1, $2, $3, $4, $5, $6)",
            tables.attrs
        );
        for l in $labels {
            let existing: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(find_label.clone()))
                .bind($owner)
                .bind(&l.name)
                .fetch_optional(&mut **$tx)
                .await?;
            let lid = match existing {
                Some((lid,)) => lid,
                None => {
                    let (lid,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(insert_label.clone()))
                        .bind($owner)
                        .bind(&l.name)
                        .fetch_one(&mut **$tx)
                        .await?;
                    lid
                }
            };
            for a in &l.attributes {
                let values = a
                    .values
                    .as_ref()
                    .map(|v| serde_json::to_string(v).unwrap_or_else(|_| "[]".into()));
                let updated = sqlx::query(sqlx::AssertSqlSafe(update_attr.clone()))
                    .bind(lid)
                    .bind(&a.name)
                    .bind(a.mutable)
                    .bind(&a.input_type)
                    .bind(&a.default_value)
                    .bind(&values)
                    .execute(&mut **$tx)
                    .await?
                    .rows_affected();
                if updated == 0 {
                    sqlx::query(sqlx::AssertSqlSafe(insert_attr.clone()))
                        .bind(lid)
                        .bind(&a.name)
                        .bind(a.mutable.unwrap_or(false))
                        .bind(a.input_type.clone().unwrap_or_else(|| "select".into()))
                        .bind(a.default_value.clone().unwrap_or_default())
                        .bind(values.unwrap_or_else(|| "[]".into()))
                        .execute(&mut **$tx)
                        .await?;
                }
            }
        }
    }};
}
pub(crate) use merge_labels;

impl Db {
    /// Creates a task with its labels and attribute specs in one transaction.
    pub async fn insert_task(&self, t: &NewTask) -> Result<i64> {
        let now = crate::now();
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO tasks (project_id, name, owner_id, assignee_id, bug_tracker, created_date, updated_date,
                                    overlap, segment_size, z_order)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9) RETURNING id",
            )
            .bind(t.project_id)
            .bind(&t.name)
            .bind(t.owner_id)
            .bind(t.assignee_id)
            .bind(&t.bug_tracker)
            .bind(now)
            .bind(t.overlap)
            .bind(t.segment_size)
            .bind(t.z_order)
            .fetch_one(&mut *tx)
            .await?;
            merge_labels!(&mut tx, LabelTables::TASK, id, &t.labels);
            tx.commit().await?;
            Ok(id)
        })
    }

    pub async fn task(&self, id: i64) -> Result<Option<TaskRow>> {
        let sql = format!("SELECT {TASK_COLS} FROM tasks t WHERE t.id = $1");
        Ok(with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }

    /// Number of tasks matching a filter.
    pub async fn count_tasks(&self, vis: TaskVisibility, f: &TaskFilter) -> Result<i64> {
        let (w, args) = task_where(vis, f);
        self.count_matching(TASK_FROM, &w, &args).await
    }

    /// A page of tasks matching a filter, in the given order (default newest first).
    pub async fn list_tasks(
        &self,
        vis: TaskVisibility,
        f: &TaskFilter,
        order: &[(TaskSort, bool)],
        offset: i64,
        limit: Option<i64>,
    ) -> Result<Vec<TaskRow>> {
        let (w, args) = task_where(vis, f);
        let order: Vec<(&str, bool)> = order.iter().map(|(s, d)| (s.column(), *d)).collect();
        let select = format!("SELECT {TASK_COLS} {TASK_FROM}");
        self.page_matching(&select, &w, &args, &order, "t.id", offset, limit)
            .await
    }

    /// `SELECT COUNT(*) {from} WHERE {w}` with `args` bound to `$1…`.
    pub(crate) async fn count_matching(&self, from: &str, w: &str, args: &[Arg]) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) {from} WHERE {w}");
        let (n,): (i64,) = with_db!(self, |p| {
            let q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            bind_args!(q, args).fetch_one(p).await
        })?;
        Ok(n)
    }

    /// One page of `{select} WHERE {w}`, ordered by `order` (column, descending) and
    /// then newest `id` first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn page_matching<T>(
        &self,
        select: &str,
        w: &str,
        args: &[Arg],
        order: &[(&str, bool)],
        id: &str,
        offset: i64,
        limit: Option<i64>,
    ) -> Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        let mut ord: Vec<String> = order
            .iter()
            .map(|(c, d)| format!("{c} {}", if *d { "DESC" } else { "ASC" }))
            .collect();
        ord.push(format!("{id} DESC"));
        let n = args.len();
        let sql = format!(
            "{select} WHERE {w} ORDER BY {} LIMIT ${} OFFSET ${}",
            ord.join(", "),
            n + 1,
            n + 2
        );
        Ok(with_db!(self, |p| {
            let q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            bind_args!(q, args)
                .bind(limit.unwrap_or(i64::MAX))
                .bind(offset)
                .fetch_all(p)
                .await
        })?)
    }

    /// Labels (with attribute specs) of the given tasks, in id order.
    /// The task a label (of a task, not of a project) belongs to.
    pub async fn label_task(&self, label_id: i64) -> Result<Option<i64>> {
        Ok(with_db!(self, |p| sqlx::query_scalar(
            "SELECT task_id FROM labels WHERE id = $1"
        )
        .bind(label_id)
        .fetch_optional(p)
        .await)?)
    }

    pub async fn labels_of(&self, task_ids: &[i64]) -> Result<Vec<(LabelRow, Vec<AttrRow>)>> {
        self.labels_of_owners(&LabelTables::TASK, task_ids).await
    }

    /// Labels (with attribute specs) of the given owners (tasks or projects), in id
    /// order; `LabelRow::task_id` holds the owner's id.
    pub(crate) async fn labels_of_owners(
        &self,
        tables: &LabelTables,
        owner_ids: &[i64],
    ) -> Result<Vec<(LabelRow, Vec<AttrRow>)>> {
        if owner_ids.is_empty() {
            return Ok(vec![]);
        }
        let (labels, attrs): (Vec<LabelRow>, Vec<AttrRow>) = with_db!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT id, {owner} AS task_id, name FROM {labels} WHERE {owner} IN (",
                owner = tables.owner,
                labels = tables.labels
            ));
            let mut sep = qb.separated(", ");
            for id in owner_ids {
                sep.push_bind(*id);
            }
            qb.push(") ORDER BY id");
            let labels: Vec<LabelRow> = qb.build_query_as().fetch_all(p).await?;
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT a.id, a.label_id, a.name, a.mutable, a.input_type, a.default_value, a.value_list
                 FROM {attrs} a JOIN {labels} l ON l.id = a.label_id WHERE l.{owner} IN (",
                attrs = tables.attrs,
                labels = tables.labels,
                owner = tables.owner
            ));
            let mut sep = qb.separated(", ");
            for id in owner_ids {
                sep.push_bind(*id);
            }
            qb.push(") ORDER BY a.id");
            let attrs: Vec<AttrRow> = qb.build_query_as().fetch_all(p).await?;
            Ok::<_, sqlx::Error>((labels, attrs))
        })?;
        let index: std::collections::HashMap<i64, usize> =
            labels.iter().enumerate().map(|(i, l)| (l.id, i)).collect();
        let mut out: Vec<(LabelRow, Vec<AttrRow>)> =
            labels.into_iter().map(|l| (l, vec![])).collect();
        for a in attrs {
            if let Some(&i) = index.get(&a.label_id) {
                out[i].1.push(a);
            }
        }
        Ok(out)
    }

    /// Segments and jobs of the given tasks, by start frame then id.
    pub async fn jobs_of(&self, task_ids: &[i64]) -> Result<Vec<JobRow>> {
        if task_ids.is_empty() {
            return Ok(vec![]);
        }
        Ok(with_db!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {JOB_COLS} FROM jobs j JOIN segments s ON s.id = j.segment_id WHERE s.task_id IN ("
            ));
            let mut sep = qb.separated(", ");
            for id in task_ids {
                sep.push_bind(*id);
            }
            qb.push(") ORDER BY s.task_id, s.start_frame, j.id");
            qb.build_query_as().fetch_all(p).await
        })?)
    }

    pub async fn job(&self, id: i64) -> Result<Option<JobRow>> {
        let sql = format!(
            "SELECT {JOB_COLS} FROM jobs j JOIN segments s ON s.id = j.segment_id WHERE j.id = $1"
        );
        Ok(with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }

    /// Updates a task's fields and merges labels by name, in one transaction.
    pub async fn update_task(&self, id: i64, t: &TaskPatch) -> Result<()> {
        let now = crate::now();
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE tasks SET
                    name = COALESCE($2, name),
                    owner_id = CASE WHEN $3 THEN $4 ELSE owner_id END,
                    assignee_id = CASE WHEN $5 THEN $6 ELSE assignee_id END,
                    bug_tracker = COALESCE($7, bug_tracker),
                    z_order = COALESCE($8, z_order),
                    project_id = CASE WHEN $9 THEN $10 ELSE project_id END,
                    updated_date = $11
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&t.name)
            .bind(t.owner_id.is_some())
            .bind(t.owner_id.flatten())
            .bind(t.assignee_id.is_some())
            .bind(t.assignee_id.flatten())
            .bind(&t.bug_tracker)
            .bind(t.z_order)
            .bind(t.project_id.is_some())
            .bind(t.project_id.flatten())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            merge_labels!(&mut tx, LabelTables::TASK, id, &t.labels);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Deletes a task (labels, segments, jobs cascade) and its data record when no other
    /// task uses it. Returns the deleted data id, if any.
    pub async fn delete_task(&self, id: i64) -> Result<Option<i64>> {
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            let row: Option<(Option<i64>,)> =
                sqlx::query_as("SELECT data_id FROM tasks WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((data_id,)) = row else {
                return Ok(None);
            };
            // annotations have no foreign key to their job (see migration 0002)
            sqlx::query(
                "DELETE FROM annotations WHERE job_id IN
                    (SELECT j.id FROM jobs j JOIN segments s ON s.id = j.segment_id WHERE s.task_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM tasks WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM queue_items WHERE key LIKE $1")
                .bind(format!("task/{id}/%"))
                .execute(&mut *tx)
                .await?;
            let mut deleted = None;
            if let Some(d) = data_id {
                let (users,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM tasks WHERE data_id = $1")
                        .bind(d)
                        .fetch_one(&mut *tx)
                        .await?;
                if users == 0 {
                    sqlx::query("DELETE FROM data WHERE id = $1")
                        .bind(d)
                        .execute(&mut *tx)
                        .await?;
                    deleted = Some(d);
                }
            }
            tx.commit().await?;
            Ok(deleted)
        })
    }

    /// Sets a job's status and/or assignee and recomputes the task's status (§6.9), in
    /// one transaction.
    pub async fn update_job(
        &self,
        id: i64,
        status: Option<&str>,
        assignee: Option<Option<i64>>,
    ) -> Result<()> {
        let now = crate::now();
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE jobs SET status = COALESCE($2, status), assignee_id = CASE WHEN $3 THEN $4 ELSE assignee_id END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(status)
            .bind(assignee.is_some())
            .bind(assignee.flatten())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE tasks SET updated_date = $2, status = CASE
                    WHEN EXISTS (SELECT 1 FROM jobs j JOIN segments s ON s.id = j.segment_id
                                 WHERE s.task_id = tasks.id AND j.status = 'annotation') THEN 'annotation'
                    WHEN EXISTS (SELECT 1 FROM jobs j JOIN segments s ON s.id = j.segment_id
                                 WHERE s.task_id = tasks.id AND j.status = 'validation') THEN 'validation'
                    ELSE 'completed' END
                 WHERE id = (SELECT s.task_id FROM jobs j JOIN segments s ON s.id = j.segment_id WHERE j.id = $1)",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Whether a user with this id exists.
    pub async fn user_exists(&self, id: i64) -> Result<bool> {
        let (n,): (i64,) = with_db!(self, |p| sqlx::query_as(
            "SELECT COUNT(*) FROM users WHERE id = $1"
        )
        .bind(id)
        .fetch_one(p)
        .await)?;
        Ok(n > 0)
    }

    /// Creates the data record of a task (not yet processed) if the task has none.
    /// `Err(Unique)` when data is already attached.
    pub async fn attach_data(&self, task_id: i64, d: &DataRow) -> Result<i64> {
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO data (chunk_size, size, image_quality, start_frame, stop_frame, frame_filter,
                                   compressed_chunk_type, original_chunk_type, use_zip_chunks, sources, ready)
                 VALUES ($1, 0, $2, $3, $4, $5, $6, $7, $8, $9, FALSE) RETURNING id",
            )
            .bind(d.chunk_size)
            .bind(d.image_quality)
            .bind(d.start_frame)
            .bind(d.stop_frame)
            .bind(&d.frame_filter)
            .bind(&d.compressed_chunk_type)
            .bind(&d.original_chunk_type)
            .bind(d.use_zip_chunks)
            .bind(&d.sources)
            .fetch_one(&mut *tx)
            .await?;
            let n = sqlx::query("UPDATE tasks SET data_id = $2 WHERE id = $1 AND data_id IS NULL")
                .bind(task_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                tx.rollback().await?;
                return Err(StoreError::Unique("tasks.data_id".into()));
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Several data records at once (task lists), in any order.
    pub async fn data_many(&self, ids: &[i64]) -> Result<Vec<DataRow>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        Ok(with_db!(self, |p| {
            let mut qb =
                sqlx::QueryBuilder::new(format!("SELECT {DATA_COLS} FROM data WHERE id IN ("));
            let mut sep = qb.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            qb.push(")");
            qb.build_query_as().fetch_all(p).await
        })?)
    }

    pub async fn data(&self, id: i64) -> Result<Option<DataRow>> {
        let sql = format!("SELECT {DATA_COLS} FROM data WHERE id = $1");
        Ok(with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }

    /// Frames of a data record in frame order.
    pub async fn frames(&self, data_id: i64) -> Result<Vec<FrameRow>> {
        Ok(with_db!(self, |p| sqlx::query_as(
            "SELECT frame, name, width, height FROM frames WHERE data_id = $1 ORDER BY frame"
        )
        .bind(data_id)
        .fetch_all(p)
        .await)?)
    }

    /// Makes processed data visible, in one transaction: frames, data fields (chunk
    /// size and types, size, stop frame, sources), the task's mode and overlap, and its
    /// segments with one job each.
    pub async fn finish_data(
        &self,
        task_id: i64,
        d: &DataRow,
        frames: &[FrameRow],
        mode: &str,
        overlap: i64,
        segments: &[(i64, i64)],
    ) -> Result<()> {
        let now = crate::now();
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM frames WHERE data_id = $1")
                .bind(d.id)
                .execute(&mut *tx)
                .await?;
            for batch in frames.chunks(500) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO frames (data_id, frame, name, width, height) ",
                );
                qb.push_values(batch, |mut b, f| {
                    b.push_bind(d.id)
                        .push_bind(f.frame)
                        .push_bind(f.name.clone())
                        .push_bind(f.width)
                        .push_bind(f.height);
                });
                qb.build().execute(&mut *tx).await?;
            }
            sqlx::query(
                "UPDATE data SET chunk_size = $2, size = $3, stop_frame = $4, \
                 compressed_chunk_type = $5, original_chunk_type = $6, sources = $7, \
                 ready = TRUE WHERE id = $1",
            )
            .bind(d.id)
            .bind(d.chunk_size)
            .bind(d.size)
            .bind(d.stop_frame)
            .bind(&d.compressed_chunk_type)
            .bind(&d.original_chunk_type)
            .bind(&d.sources)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE tasks SET mode = $2, overlap = $3, updated_date = $4 WHERE id = $1",
            )
            .bind(task_id)
            .bind(mode)
            .bind(overlap)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for (start, stop) in segments {
                let (sid,): (i64,) = sqlx::query_as(
                    "INSERT INTO segments (task_id, start_frame, stop_frame) VALUES ($1, $2, $3) RETURNING id",
                )
                .bind(task_id)
                .bind(*start)
                .bind(*stop)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO jobs (segment_id, status) VALUES ($1, 'annotation')")
                    .bind(sid)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Detaches and deletes a data record whose processing failed.
    pub async fn drop_data(&self, task_id: i64, data_id: i64) -> Result<()> {
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE tasks SET data_id = NULL WHERE id = $1 AND data_id = $2")
                .bind(task_id)
                .bind(data_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM data WHERE id = $1")
                .bind(data_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }
}
