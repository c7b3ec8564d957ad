//! Projects (api-v1 §5) and their labels.
//!
//! A project groups tasks (`tasks.project_id`). Its labels live in `project_labels`
//! (→ `project_attribute_specs`); every task of the project holds copies of them by name,
//! written in the same transaction as the project's, so that a task's annotations,
//! imports and exports never look beyond the task.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::tasks::{Arg, AttrRow, LabelRow, LabelTables, NewLabel, like, merge_labels};
use crate::{Db, Result, with_db};

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct ProjectRow {
    pub id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub bug_tracker: String,
    pub status: String,
    pub created_date: DateTime<Utc>,
    pub updated_date: DateTime<Utc>,
}

const PROJECT_COLS: &str = "p.id, p.name, p.owner_id, p.assignee_id, p.bug_tracker, p.status, p.created_date, p.updated_date";

const PROJECT_FROM: &str = "FROM projects p LEFT JOIN users o ON o.id = p.owner_id LEFT JOIN users a ON a.id = p.assignee_id";

#[derive(Debug, Clone, Default)]
pub struct NewProject {
    pub name: String,
    pub owner_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub bug_tracker: String,
    pub labels: Vec<NewLabel>,
}

/// Fields to change; `Some(None)` clears a nullable field. Labels are merged by name
/// into the project and into each of its tasks.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    pub name: Option<String>,
    pub owner_id: Option<Option<i64>>,
    pub assignee_id: Option<Option<i64>>,
    pub bug_tracker: Option<String>,
    pub labels: Vec<NewLabel>,
}

/// Which projects a list shows (api-v1 §4.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectVisibility {
    All,
    /// Projects the user owns or is assigned to, or owns or is assigned to a task of,
    /// or is assigned to a job of.
    Visible {
        user_id: i64,
    },
}

/// Filters of `GET /projects` (§5). Text filters are case-insensitive substrings.
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    pub search: Vec<String>,
    pub id: Option<i64>,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub assignee: Option<String>,
    pub status: Option<String>,
}

/// Orderings of `GET /projects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectSort {
    Id,
    Name,
    Owner,
    Status,
    Assignee,
}

impl ProjectSort {
    pub fn parse(s: &str) -> Option<ProjectSort> {
        Some(match s {
            "id" => ProjectSort::Id,
            "name" => ProjectSort::Name,
            "owner" => ProjectSort::Owner,
            "status" => ProjectSort::Status,
            "assignee" => ProjectSort::Assignee,
            _ => return None,
        })
    }
    fn column(self) -> &'static str {
        match self {
            ProjectSort::Id => "p.id",
            ProjectSort::Name => "lower(p.name)",
            ProjectSort::Owner => "p.owner_id",
            ProjectSort::Status => "p.status",
            ProjectSort::Assignee => "p.assignee_id",
        }
    }
}

/// What deleting a project removed: its tasks and the data records no task uses any
/// more (their folders are for the caller to remove).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeletedProject {
    pub task_ids: Vec<i64>,
    pub data_ids: Vec<i64>,
}

fn project_where(vis: ProjectVisibility, f: &ProjectFilter) -> (String, Vec<Arg>) {
    let mut conds: Vec<String> = vec!["1=1".into()];
    let mut args: Vec<Arg> = vec![];
    let next = |a: Arg, args: &mut Vec<Arg>| {
        args.push(a);
        format!("${}", args.len())
    };
    if let ProjectVisibility::Visible { user_id } = vis {
        let u = next(Arg::I(user_id), &mut args);
        conds.push(format!(
            "(p.owner_id = {u} OR p.assignee_id = {u} \
             OR EXISTS (SELECT 1 FROM tasks t2 WHERE t2.project_id = p.id AND (t2.owner_id = {u} OR t2.assignee_id = {u})) \
             OR EXISTS (SELECT 1 FROM tasks t3 JOIN segments s3 ON s3.task_id = t3.id JOIN jobs j3 ON j3.segment_id = s3.id \
                        WHERE t3.project_id = p.id AND j3.assignee_id = {u}))"
        ));
    }
    if let Some(id) = f.id {
        let p = next(Arg::I(id), &mut args);
        conds.push(format!("p.id = {p}"));
    }
    let text = [
        (&f.name, "lower(p.name)"),
        (&f.owner, "lower(COALESCE(o.username, ''))"),
        (&f.assignee, "lower(COALESCE(a.username, ''))"),
        (&f.status, "lower(p.status)"),
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
            "(lower(p.name) LIKE {p} ESCAPE '\\' OR lower(COALESCE(o.username, '')) LIKE {p} ESCAPE '\\' \
             OR lower(COALESCE(a.username, '')) LIKE {p} ESCAPE '\\' OR lower(p.status) LIKE {p} ESCAPE '\\')"
        ));
    }
    (conds.join(" AND "), args)
}

impl Db {
    /// Creates a project with its labels in one transaction.
    pub async fn insert_project(&self, n: &NewProject) -> Result<i64> {
        let now = crate::now();
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO projects (name, owner_id, assignee_id, bug_tracker, created_date, updated_date)
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            )
            .bind(&n.name)
            .bind(n.owner_id)
            .bind(n.assignee_id)
            .bind(&n.bug_tracker)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            merge_labels!(&mut tx, LabelTables::PROJECT, id, &n.labels);
            tx.commit().await?;
            Ok(id)
        })
    }

    pub async fn project(&self, id: i64) -> Result<Option<ProjectRow>> {
        let sql = format!("SELECT {PROJECT_COLS} FROM projects p WHERE p.id = $1");
        Ok(with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }

    /// Projects by id (for tasks' permission facts), in any order.
    pub async fn projects_by_id(&self, ids: &[i64]) -> Result<Vec<ProjectRow>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        Ok(with_db!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {PROJECT_COLS} FROM projects p WHERE p.id IN ("
            ));
            let mut sep = qb.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            qb.push(")");
            qb.build_query_as().fetch_all(p).await
        })?)
    }

    pub async fn count_projects(&self, vis: ProjectVisibility, f: &ProjectFilter) -> Result<i64> {
        let (w, args) = project_where(vis, f);
        self.count_matching(PROJECT_FROM, &w, &args).await
    }

    /// A page of projects matching a filter, in the given order (default newest first).
    pub async fn list_projects(
        &self,
        vis: ProjectVisibility,
        f: &ProjectFilter,
        order: &[(ProjectSort, bool)],
        offset: i64,
        limit: Option<i64>,
    ) -> Result<Vec<ProjectRow>> {
        let (w, args) = project_where(vis, f);
        let order: Vec<(&str, bool)> = order.iter().map(|(s, d)| (s.column(), *d)).collect();
        let select = format!("SELECT {PROJECT_COLS} {PROJECT_FROM}");
        self.page_matching(&select, &w, &args, &order, "p.id", offset, limit)
            .await
    }

    /// How many tasks each of the given projects has (projects without one are left
    /// out).
    pub async fn project_task_counts(&self, ids: &[i64]) -> Result<Vec<(i64, i64)>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        Ok(with_db!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT project_id, COUNT(*) FROM tasks WHERE project_id IN (",
            );
            let mut sep = qb.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            qb.push(") GROUP BY project_id");
            qb.build_query_as().fetch_all(p).await
        })?)
    }

    /// Labels (with attribute specs) of the given projects, in id order;
    /// `LabelRow::task_id` holds the project id.
    pub async fn project_labels_of(
        &self,
        project_ids: &[i64],
    ) -> Result<Vec<(LabelRow, Vec<AttrRow>)>> {
        self.labels_of_owners(&LabelTables::PROJECT, project_ids)
            .await
    }

    /// A project's tasks, in id order.
    pub async fn project_tasks(&self, id: i64) -> Result<Vec<crate::tasks::TaskRow>> {
        let filter = crate::tasks::TaskFilter {
            project_id: Some(id),
            ..Default::default()
        };
        self.list_tasks(
            crate::tasks::TaskVisibility::All,
            &filter,
            &[(crate::tasks::TaskSort::Id, false)],
            0,
            None,
        )
        .await
    }

    /// Updates a project's fields and merges `labels` by name into the project and into
    /// every one of its tasks, in one transaction.
    pub async fn update_project(&self, id: i64, u: &ProjectPatch) -> Result<()> {
        let now = crate::now();
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE projects SET
                    name = COALESCE($2, name),
                    owner_id = CASE WHEN $3 THEN $4 ELSE owner_id END,
                    assignee_id = CASE WHEN $5 THEN $6 ELSE assignee_id END,
                    bug_tracker = COALESCE($7, bug_tracker)
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&u.name)
            .bind(u.owner_id.is_some())
            .bind(u.owner_id.flatten())
            .bind(u.assignee_id.is_some())
            .bind(u.assignee_id.flatten())
            .bind(&u.bug_tracker)
            .execute(&mut *tx)
            .await?;
            if !u.labels.is_empty() {
                merge_labels!(&mut tx, LabelTables::PROJECT, id, &u.labels);
                let tasks: Vec<(i64,)> =
                    sqlx::query_as("SELECT id FROM tasks WHERE project_id = $1")
                        .bind(id)
                        .fetch_all(&mut *tx)
                        .await?;
                for (tid,) in tasks {
                    merge_labels!(&mut tx, LabelTables::TASK, tid, &u.labels);
                    // a task's exports are keyed by its updated date: new labels make
                    // them stale
                    sqlx::query("UPDATE tasks SET updated_date = $2 WHERE id = $1")
                        .bind(tid)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Deletes a project with its tasks, their labels, jobs, annotations and queue items,
    /// and the data records no other task uses, in one transaction.
    pub async fn delete_project(&self, id: i64) -> Result<Option<DeletedProject>> {
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM projects WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Ok(None);
            }
            let tasks: Vec<(i64, Option<i64>)> =
                sqlx::query_as("SELECT id, data_id FROM tasks WHERE project_id = $1 ORDER BY id")
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?;
            // annotations have no foreign key to their job (see migration 0002)
            sqlx::query(
                "DELETE FROM annotations WHERE job_id IN
                    (SELECT j.id FROM jobs j JOIN segments s ON s.id = j.segment_id
                     JOIN tasks t ON t.id = s.task_id WHERE t.project_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            for (tid, _) in &tasks {
                sqlx::query("DELETE FROM queue_items WHERE key LIKE $1")
                    .bind(format!("task/{tid}/%"))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM queue_items WHERE key LIKE $1")
                .bind(format!("project/{id}/%"))
                .execute(&mut *tx)
                .await?;
            // tasks (and their labels, segments, jobs) cascade from the project
            sqlx::query("DELETE FROM projects WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let mut out = DeletedProject {
                task_ids: tasks.iter().map(|(t, _)| *t).collect(),
                data_ids: vec![],
            };
            for d in tasks.iter().filter_map(|(_, d)| *d) {
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
                    out.data_ids.push(d);
                }
            }
            tx.commit().await?;
            Ok(Some(out))
        })
    }
}
