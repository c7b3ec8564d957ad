//! Projects in CVAT 2's shapes (`ProjectRead`, `ProjectWriteRequest`,
//! `PatchedProjectWriteRequest`): thin handlers over `core::projects`, as v1's are.
//! A project's tasks are `GET /api/tasks?project_id=`, its labels `GET
//! /api/labels?project_id=` (see `super`).

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferrocat_core::projects::ProjectView;
use serde_json::{Value, json};

use super::Users;
use crate::app::AppState;
use crate::error::ApiResult;
use crate::extract::{AuthUser, Input, Origin, QueryPairs};
use crate::http::users::parse_id;
use crate::pagination::{PageQuery, Window};

/// A project as `ProjectRead`: `tasks` and `labels` are summaries with the list URLs;
/// `owner`/`assignee` (whose model does not allow null) are left out when unset.
async fn render(
    st: &AppState,
    users: &mut Users,
    v: &ProjectView,
    tasks: i64,
    origin: &Origin,
) -> ApiResult<Value> {
    let p = &v.project;
    let tz = st.core.config().time_zone;
    let render = |d| ferrocat_wire::time::render(d, tz);
    let mut out = json!({
        "url": origin.api(&format!("projects/{}", p.id)),
        "id": p.id,
        "name": p.name,
        "bug_tracker": p.bug_tracker,
        "guide_id": null,
        "task_subsets": [],
        "created_date": render(p.created_date),
        "updated_date": render(p.updated_date),
        "status": p.status,
        "dimension": if tasks > 0 { json!("2d") } else { Value::Null },
        "organization": null,
        "organization_id": null,
        "target_storage": null,
        "source_storage": null,
        "assignee_updated_date": null,
        "tasks": {"count": tasks, "url": origin.api(&format!("tasks?project_id={}", p.id))},
        "labels": {"url": origin.api(&format!("labels?project_id={}", p.id))},
    });
    for (key, id) in [("owner", p.owner_id), ("assignee", p.assignee_id)] {
        if let Some(u) = users.get(st, origin, id).await? {
            out[key] = u;
        }
    }
    Ok(out)
}

/// [`render`] for a few projects, with their task counts read at once.
async fn render_all(
    st: &AppState,
    views: &[ProjectView],
    origin: &Origin,
) -> ApiResult<Vec<Value>> {
    let ids: Vec<i64> = views.iter().map(|v| v.project.id).collect();
    let counts: std::collections::HashMap<i64, i64> = st
        .core
        .db()
        .project_task_counts(&ids)
        .await
        .map_err(ferrocat_core::Error::from)?
        .into_iter()
        .collect();
    let mut users = Users::default();
    let mut out = Vec::with_capacity(views.len());
    for v in views {
        let n = counts.get(&v.project.id).copied().unwrap_or(0);
        out.push(render(st, &mut users, v, n, origin).await?);
    }
    Ok(out)
}

async fn render_one(st: &AppState, v: &ProjectView, origin: &Origin) -> ApiResult<Value> {
    let mut all = render_all(st, std::slice::from_ref(v), origin).await?;
    Ok(all.remove(0))
}

/// Projects the caller sees, newest first, with v1's filters; paginated.
pub async fn list(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<ferrocat_wire::Page<Value>>> {
    let pq = PageQuery::from_query(uri.query());
    let pairs = QueryPairs::parse(uri.query()).0;
    let mut w = Window::new(&pq);
    let listed = st
        .core
        .projects()
        .list(&me.actor, &pairs, |count| w.apply(count))
        .await;
    let (count, views) = w.finish(listed)?;
    let results = render_all(&st, &views, &origin).await?;
    Ok(Json(pq.envelope(&origin, &uri, count, w.page_no, results)))
}

/// `ProjectWriteRequest` (name, labels, owner_id, assignee_id, bug_tracker) through
/// v1's validation. Storages other than the server's own are refused there.
pub async fn create(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    input: Input,
) -> ApiResult<Response> {
    let body = input.object()?;
    local_storages(body)?;
    let v = st.core.projects().create(&me.actor, body).await?;
    let out = render_one(&st, &v, &origin).await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

pub async fn retrieve(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = st.core.projects().get(&me.actor, parse_id(&id)?).await?;
    Ok(Json(render_one(&st, &v, &origin).await?))
}

/// `PatchedProjectWriteRequest`: name, owner, assignee, bug tracker, labels (merged by
/// name into the project and its tasks, as on v1).
pub async fn update(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let body = input.object()?;
    local_storages(body)?;
    let v = st
        .core
        .projects()
        .update(&me.actor, parse_id(&id)?, body)
        .await?;
    Ok(Json(render_one(&st, &v, &origin).await?))
}

/// `GET /api/projects/{id}/preview`: the preview of the project's first task that has
/// media (CVAT shows the same); 404 while none has.
pub async fn preview(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let query = [("ordering".to_string(), "id".to_string())];
    let (_, tasks) = st
        .core
        .projects()
        .tasks(&me.actor, id, &query, |_| Ok((0, None)))
        .await?;
    let Some(t) = tasks.iter().find(|t| t.data.is_some()) else {
        return Err(crate::error::ApiError::not_found());
    };
    super::serve_data(&st, &me, t.task.id, "preview", None, &headers).await
}

/// Cloud storages are not part of this server: a `target_storage`/`source_storage`
/// other than `local` is refused rather than ignored.
pub(super) fn local_storages(body: &serde_json::Map<String, Value>) -> ApiResult<()> {
    for key in ["target_storage", "source_storage"] {
        let location = body
            .get(key)
            .and_then(|s| s.get("location"))
            .and_then(Value::as_str);
        if let Some(l) = location
            && l != "local"
        {
            return Err(crate::error::ApiError::Invalid(
                ferrocat_wire::FieldErrors::single(
                    key,
                    format!("location {l:?} is not supported by this server: use \"local\""),
                ),
            ));
        }
    }
    Ok(())
}
