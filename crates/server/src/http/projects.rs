//! `/projects` (api-v1 §5): CRUD, a project's tasks, and exports of a whole project
//! (CVAT 2's, through the §10.2 protocol).

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrocat_core::exports::{ExportKind, Target};
use ferrocat_core::projects::ProjectView;
use ferrocat_wire::Page;
use ferrocat_wire::projects::Project;
use ferrocat_wire::tasks::Task;

use crate::app::AppState;
use crate::error::ApiResult;
use crate::extract::{AuthUser, Input, Origin, QueryPairs};
use crate::http::tasks::{render_labels, render_task, tz};
use crate::http::users::parse_id;
use crate::pagination::{PageQuery, Window};

pub fn render_project(v: &ProjectView, origin: &Origin, tz: chrono_tz::Tz) -> Project {
    let p = &v.project;
    let render = |d| ferrocat_wire::time::render(d, tz);
    Project {
        url: origin.api(&format!("projects/{}", p.id)),
        id: p.id,
        name: p.name.clone(),
        labels: render_labels(&v.labels),
        owner: p.owner_id,
        assignee: p.assignee_id,
        bug_tracker: p.bug_tracker.clone(),
        created_date: render(p.created_date),
        updated_date: render(p.updated_date),
        status: p.status.clone(),
    }
}

/// Projects visible to the caller, newest first; filters `search`, `id`, `name`,
/// `owner`, `assignee`, `status`, and `ordering`.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", operation_id = "projects_list", responses((status = 200, description = "A page of projects")))]
pub async fn list(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Page<Project>>> {
    let pq = PageQuery::from_query(uri.query());
    let pairs = QueryPairs::parse(uri.query()).0;
    let mut w = Window::new(&pq);
    let listed = st
        .core
        .projects()
        .list(&me.actor, &pairs, |count| w.apply(count))
        .await;
    let (count, views) = w.finish(listed)?;
    let results = views
        .iter()
        .map(|v| render_project(v, &origin, tz(&st)))
        .collect();
    Ok(Json(pq.envelope(&origin, &uri, count, w.page_no, results)))
}

/// Create a project (optionally with labels its tasks will take).
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", operation_id = "projects_create", request_body(content = ferrocat_wire::projects::ProjectWriteRequest, content_type = "application/json"),
    responses((status = 201, body = Project), (status = 400), (status = 403)))]
pub async fn create(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    input: Input,
) -> ApiResult<Response> {
    let v = st
        .core
        .projects()
        .create(&me.actor, input.object()?)
        .await?;
    let project = render_project(&v, &origin, tz(&st));
    let mut r = (StatusCode::CREATED, Json(&project)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&project.url) {
        r.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(r)
}

#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects", operation_id = "projects_retrieve", params(("id" = i64, Path)), responses((status = 200, body = Project), (status = 403), (status = 404)))]
pub async fn retrieve(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<Json<Project>> {
    let v = st.core.projects().get(&me.actor, parse_id(&id)?).await?;
    Ok(Json(render_project(&v, &origin, tz(&st))))
}

/// Edit name, owner, assignee, bug tracker; labels are merged by name into the project
/// and every one of its tasks.
#[utoipa::path(patch, path = "/api/v1/projects/{id}", tag = "projects", operation_id = "projects_update", params(("id" = i64, Path)), request_body(content = ferrocat_wire::projects::ProjectWriteRequest, content_type = "application/json"),
    responses((status = 200, body = Project), (status = 400), (status = 403), (status = 404)))]
pub async fn update(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
    input: Input,
) -> ApiResult<Json<Project>> {
    let v = st
        .core
        .projects()
        .update(&me.actor, parse_id(&id)?, input.object()?)
        .await?;
    Ok(Json(render_project(&v, &origin, tz(&st))))
}

/// Delete a project with its tasks, their media and annotations (the files go in the
/// background).
#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects", operation_id = "projects_destroy", params(("id" = i64, Path)), responses((status = 204), (status = 403), (status = 404)))]
pub async fn destroy(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    st.core.projects().delete(&me.actor, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The project's tasks the caller's task list shows, newest first, paginated, with the
/// task list's filters.
#[utoipa::path(get, path = "/api/v1/projects/{id}/tasks", tag = "projects", operation_id = "projects_tasks", params(("id" = i64, Path)), responses((status = 200, description = "A page of tasks"), (status = 403), (status = 404)))]
pub async fn tasks(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Page<Task>>> {
    let id = parse_id(&id)?;
    let pq = PageQuery::from_query(uri.query());
    let pairs = QueryPairs::parse(uri.query()).0;
    let mut w = Window::new(&pq);
    let listed = st
        .core
        .projects()
        .tasks(&me.actor, id, &pairs, |count| w.apply(count))
        .await;
    let (count, views) = w.finish(listed)?;
    let results = views
        .iter()
        .map(|v| render_task(v, &origin, tz(&st)))
        .collect();
    Ok(Json(pq.envelope(&origin, &uri, count, w.page_no, results)))
}

/// Export the annotations of every task of the project in one file (§10.2 protocol).
#[utoipa::path(get, path = "/api/v1/projects/{id}/annotations", tag = "projects", operation_id = "projects_annotations",
    params(("id" = i64, Path), ("format" = String, Query), ("action" = Option<String>, Query), ("filename" = Option<String>, Query)),
    responses((status = 200, description = "The zip"), (status = 201), (status = 202), (status = 400), (status = 403), (status = 404), (status = 405), (status = 500)))]
pub async fn annotations(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    origin: Origin,
) -> ApiResult<Response> {
    let target = Target::Project(parse_id(&id)?);
    let pairs = QueryPairs::parse(uri.query());
    crate::http::annotations::export(&st, &me, target, ExportKind::Annotations, &pairs.0, &origin)
        .await
}

/// Export the project as one dataset: every task's annotations and images.
#[utoipa::path(get, path = "/api/v1/projects/{id}/dataset", tag = "projects", operation_id = "projects_dataset",
    params(("id" = i64, Path), ("format" = String, Query), ("action" = Option<String>, Query), ("filename" = Option<String>, Query)),
    responses((status = 200, description = "The zip"), (status = 201), (status = 202), (status = 400), (status = 403), (status = 404), (status = 405), (status = 500)))]
pub async fn dataset(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    origin: Origin,
) -> ApiResult<Response> {
    let target = Target::Project(parse_id(&id)?);
    let pairs = QueryPairs::parse(uri.query());
    crate::http::annotations::export(&st, &me, target, ExportKind::Dataset, &pairs.0, &origin).await
}
