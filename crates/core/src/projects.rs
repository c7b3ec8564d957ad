//! Projects (api-v1 §5, with CVAT 2's project labels on the v1 wire shape):
//! validation, permissions, the tasks of a project and deletion.
//!
//! Decided here:
//! - A project's labels are the labels of every task in it: a task created in a project
//!   takes them (and may not bring its own), labels added to the project are added to
//!   each of its tasks, and a task moves into a project only when every label it has is
//!   one of the project's (it then gets the rest).
//! - Putting a task into a project takes `project.change` on that project (its owner,
//!   assignee or an admin), besides the task's own rule.
//! - Deleting a project removes its rows in one transaction (nothing half-deleted is
//!   ever visible) and queues the removal of its tasks' media and export folders
//!   ([`crate::cleanup`]), which is what takes time on big projects.

use ferrocat_store::projects::{
    NewProject, ProjectFilter, ProjectPatch, ProjectRow, ProjectSort, ProjectVisibility,
};
use ferrocat_store::tasks::{AttrRow, LabelRow, NewAttr, NewLabel};
use ferrocat_wire::{FieldErrors, Fields};
use serde_json::{Map, Value, json};

use crate::Core;
use crate::error::{Error, Result};
use crate::permissions::{Actor, Perm, ProjectFacts, Role, TaskFacts};
use crate::tasks::TaskView;

pub const STATUSES: [&str; 3] = ["annotation", "validation", "completed"];

/// A project with what its JSON shows.
#[derive(Debug, Clone)]
pub struct ProjectView {
    pub project: ProjectRow,
    pub labels: Vec<(LabelRow, Vec<AttrRow>)>,
}

#[derive(Clone, Copy)]
enum Want {
    Access,
    Change,
    Delete,
}

pub struct ProjectService<'a> {
    pub(crate) core: &'a Core,
}

/// Labels as stored, as labels to write (into a task of the project).
pub(crate) fn as_new_labels(rows: &[(LabelRow, Vec<AttrRow>)]) -> Vec<NewLabel> {
    rows.iter()
        .map(|(l, attrs)| NewLabel {
            name: l.name.clone(),
            attributes: attrs
                .iter()
                .map(|a| NewAttr {
                    name: a.name.clone(),
                    mutable: Some(a.mutable),
                    input_type: Some(a.input_type.clone()),
                    default_value: Some(a.default_value.clone()),
                    values: Some(serde_json::from_str(&a.value_list).unwrap_or_default()),
                })
                .collect(),
        })
        .collect()
}

/// The `(search, filters, ordering)` query of a list, read from raw pairs.
pub(crate) struct ListQuery<'q>(pub &'q [(String, String)]);

impl ListQuery<'_> {
    pub(crate) fn get(&self, k: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
    }

    pub(crate) fn id(&self) -> Result<Option<i64>> {
        match self.get("id").filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| Error::field("id", "Enter a number.")),
        }
    }

    pub(crate) fn search(&self) -> Vec<String> {
        self.get("search")
            .unwrap_or_default()
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// `ordering=a,-b`: the fields `parse` knows, `-` for descending.
    pub(crate) fn ordering<S>(&self, parse: impl Fn(&str) -> Option<S>) -> Vec<(S, bool)> {
        self.get("ordering")
            .unwrap_or_default()
            .split(',')
            .filter_map(|f| {
                let f = f.trim();
                let (desc, n) = f.strip_prefix('-').map(|n| (true, n)).unwrap_or((false, f));
                parse(n).map(|s| (s, desc))
            })
            .collect()
    }
}

impl ProjectService<'_> {
    /// The facts of a project's permissions for `actor`.
    async fn facts(&self, actor: &Actor, p: &ProjectRow) -> Result<ProjectFacts> {
        let db = self.core.db();
        let policy = self.core.config().policy;
        let mut annotates = false;
        if !(actor.has(Role::Admin) || actor.has(Role::Observer) || actor.is_superuser) {
            let tasks = db.project_tasks(p.id).await?;
            let ids: Vec<i64> = tasks.iter().map(|t| t.id).collect();
            let jobs = db.jobs_of(&ids).await?;
            annotates = tasks.iter().any(|t| {
                let facts = TaskFacts {
                    owner: t.owner_id,
                    assignee: t.assignee_id,
                    project_owner: p.owner_id,
                    project_assignee: p.assignee_id,
                    job_assignees: jobs
                        .iter()
                        .filter(|j| j.task_id == t.id)
                        .map(|j| j.assignee_id)
                        .collect(),
                };
                crate::permissions::annotates_task(actor, policy, &facts)
            });
        }
        Ok(ProjectFacts {
            owner: p.owner_id,
            assignee: p.assignee_id,
            actor_annotates_a_task: annotates,
        })
    }

    async fn authorized(&self, actor: &Actor, id: i64, want: Want) -> Result<ProjectRow> {
        let p = self.core.db().project(id).await?.ok_or(Error::NotFound)?;
        let facts = self.facts(actor, &p).await?;
        let perm = match want {
            Want::Access => Perm::ProjectAccess(&facts),
            Want::Change => Perm::ProjectChange(&facts),
            Want::Delete => Perm::ProjectDelete(&facts),
        };
        self.core.check(actor, perm)?;
        Ok(p)
    }

    /// The project if `actor` may see it (project.access).
    pub(crate) async fn authorized_access(&self, actor: &Actor, id: i64) -> Result<ProjectRow> {
        self.authorized(actor, id, Want::Access).await
    }

    /// A `project` field of a task write: absent → `None`; `null` → `Some(None)`; a
    /// project the actor may change → its row and labels; otherwise a field error (or
    /// 403 when it exists and the actor may not put tasks in it).
    pub(crate) async fn task_project_ref(
        &self,
        actor: &Actor,
        fe: &mut FieldErrors,
        body: &Map<String, Value>,
    ) -> Result<Option<Option<ProjectView>>> {
        let v = match body.get("project") {
            None => return Ok(None),
            Some(Value::Null) => return Ok(Some(None)),
            Some(v) => v,
        };
        let Some(id) = ferrocat_wire::fields::parse_int(v) else {
            fe.add(
                "project",
                format!(
                    "Incorrect type. Expected pk value, received {}.",
                    crate::tasks::py_type(v)
                ),
            );
            return Ok(None);
        };
        let Some(p) = self.core.db().project(id).await? else {
            fe.add(
                "project",
                format!("Invalid pk \"{id}\" - object does not exist."),
            );
            return Ok(None);
        };
        let facts = self.facts(actor, &p).await?;
        self.core.check(actor, Perm::ProjectChange(&facts))?;
        Ok(Some(Some(self.view(p).await?)))
    }

    async fn view(&self, project: ProjectRow) -> Result<ProjectView> {
        let labels = self.core.db().project_labels_of(&[project.id]).await?;
        Ok(ProjectView { project, labels })
    }

    /// `POST /projects`.
    pub async fn create(&self, actor: &Actor, body: &Map<String, Value>) -> Result<ProjectView> {
        self.core.check(actor, Perm::ProjectCreate)?;
        let mut errs = Map::new();
        let mut f = Fields::new(body);
        let name = f.required_string("name", false);
        let bug_tracker = f.string("bug_tracker", true).unwrap_or_default();
        let mut fe = f.errors;
        crate::tasks::check_len(&mut fe, "name", name.as_deref(), 256);
        crate::tasks::check_len(&mut fe, "bug_tracker", Some(&bug_tracker), 2000);
        let users = self.core.tasks();
        let owner = users.user_ref(&mut fe, body, "owner").await?;
        let assignee = users.user_ref(&mut fe, body, "assignee").await?;
        crate::tasks::merge_field_errors(&mut errs, fe);
        // CVAT 1.1's projects have no labels; CVAT 2's may start without them
        let labels = match body.get("labels") {
            None | Some(Value::Null) => vec![],
            Some(v) => crate::tasks::parse_labels(v, &mut errs, true),
        };
        if !errs.is_empty() {
            return Err(Error::Body(Value::Object(errs)));
        }
        let new = NewProject {
            name: name.unwrap_or_default(),
            owner_id: owner.unwrap_or(Some(actor.id)).or(Some(actor.id)),
            assignee_id: assignee.flatten(),
            bug_tracker,
            labels,
        };
        let id = self
            .core
            .db()
            .insert_project(&new)
            .await
            .map_err(crate::tasks::label_conflict)?;
        let p = self.core.db().project(id).await?.ok_or(Error::NotFound)?;
        self.view(p).await
    }

    /// `GET /projects/{id}`.
    pub async fn get(&self, actor: &Actor, id: i64) -> Result<ProjectView> {
        let p = self.authorized(actor, id, Want::Access).await?;
        self.view(p).await
    }

    /// `GET /projects` (§5): visible projects matching `query`, a page of them and the
    /// total count. `window` turns the count into (offset, limit).
    pub async fn list(
        &self,
        actor: &Actor,
        query: &[(String, String)],
        window: impl FnOnce(i64) -> Result<(i64, Option<i64>)>,
    ) -> Result<(i64, Vec<ProjectView>)> {
        let q = ListQuery(query);
        let filter = ProjectFilter {
            search: q.search(),
            id: q.id()?,
            name: q.get("name"),
            owner: q.get("owner"),
            assignee: q.get("assignee"),
            status: q.get("status"),
        };
        let order = q.ordering(ProjectSort::parse);
        let vis = if actor.has(Role::Admin) || actor.has(Role::Observer) {
            ProjectVisibility::All
        } else {
            ProjectVisibility::Visible { user_id: actor.id }
        };
        let db = self.core.db();
        let count = db.count_projects(vis, &filter).await?;
        let (offset, limit) = window(count)?;
        let rows = db
            .list_projects(vis, &filter, &order, offset, limit)
            .await?;
        let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
        let mut labels = db.project_labels_of(&ids).await?;
        let mut out = Vec::with_capacity(rows.len());
        for project in rows {
            let (mine, rest): (Vec<_>, Vec<_>) = labels
                .into_iter()
                .partition(|(l, _)| l.task_id == project.id);
            labels = rest;
            out.push(ProjectView {
                project,
                labels: mine,
            });
        }
        Ok((count, out))
    }

    /// `PATCH /projects/{id}`: fields; labels merged by name into the project and its
    /// tasks.
    pub async fn update(
        &self,
        actor: &Actor,
        id: i64,
        body: &Map<String, Value>,
    ) -> Result<ProjectView> {
        self.authorized(actor, id, Want::Change).await?;
        let mut errs = Map::new();
        let mut f = Fields::new(body);
        let name = f.string("name", false);
        let bug_tracker = f.string("bug_tracker", true);
        let mut fe = f.errors;
        crate::tasks::check_len(&mut fe, "name", name.as_deref(), 256);
        crate::tasks::check_len(&mut fe, "bug_tracker", bug_tracker.as_deref(), 2000);
        let users = self.core.tasks();
        let owner = users.user_ref(&mut fe, body, "owner").await?;
        let assignee = users.user_ref(&mut fe, body, "assignee").await?;
        crate::tasks::merge_field_errors(&mut errs, fe);
        let labels = match body.get("labels") {
            None | Some(Value::Null) => vec![],
            Some(v) => crate::tasks::parse_labels(v, &mut errs, false),
        };
        if !errs.is_empty() {
            return Err(Error::Body(Value::Object(errs)));
        }
        let patch = ProjectPatch {
            name,
            owner_id: owner,
            assignee_id: assignee,
            bug_tracker,
            labels,
        };
        self.core
            .db()
            .update_project(id, &patch)
            .await
            .map_err(crate::tasks::label_conflict)?;
        let p = self.core.db().project(id).await?.ok_or(Error::NotFound)?;
        self.view(p).await
    }

    /// `DELETE /projects/{id}`: the project and its tasks at once; their folders in the
    /// background.
    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<()> {
        self.authorized(actor, id, Want::Delete).await?;
        let Some(gone) = self.core.db().delete_project(id).await? else {
            return Err(Error::NotFound);
        };
        let mut dirs = vec![crate::exports::project_exports_dir(self.core, id)];
        for t in &gone.task_ids {
            dirs.push(crate::exports::task_exports_dir(self.core, *t));
        }
        for d in &gone.data_ids {
            let dir = crate::tasks::data_dir(self.core, *d);
            self.core.files().forget_under(&dir);
            dirs.push(dir);
        }
        crate::cleanup::queue(self.core, &format!("project/{id}"), &dirs, actor.id).await
    }

    /// `GET /projects/{id}/tasks`: the project's tasks the actor's task list shows,
    /// newest first (§4.4.1).
    pub async fn tasks(
        &self,
        actor: &Actor,
        id: i64,
        query: &[(String, String)],
        window: impl FnOnce(i64) -> Result<(i64, Option<i64>)>,
    ) -> Result<(i64, Vec<TaskView>)> {
        self.authorized(actor, id, Want::Access).await?;
        self.core
            .tasks()
            .list_in(actor, query, Some(id), window)
            .await
    }
}

/// The error of a task write that brings labels into a project.
pub(crate) fn own_labels_refused() -> Error {
    Error::Body(json!({"labels": [
        "A task in a project takes the project's labels; leave labels out or change the project's labels"
    ]}))
}
