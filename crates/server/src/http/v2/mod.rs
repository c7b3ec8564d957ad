//! The CVAT v2 API (`/api/…`, what `cvat-sdk`/`cvat-cli` 2.80 speak), beside v1: thin
//! handlers over the same core. This first part is the server's identity, sign-in and
//! personal access tokens, and users; where a v2 request and answer are the v1 ones,
//! the v1 handler serves both. CVAT spells some v2 paths with a trailing slash: both
//! spellings are routed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Router, middleware};
use ferrocat_store::access_tokens::AccessTokenRow;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::ApiResult;
use crate::extract::{AuthUser, Input, Origin};
use crate::http::users::parse_id;
use crate::http::{annotations, auth, users};
use crate::pagination::PageQuery;
use axum::handler::Handler;
use ferrocat_core::uploads::Dest;

mod exchange;
mod projects;
mod requests;
mod uploads;

/// The CVAT version whose v2 API this server follows: `cvat-sdk` 2.80 accepts servers
/// of 2.80.x and 2.81.x without a warning.
pub const CVAT_VERSION: &str = "2.80.0";

/// `path` and `path/`, both to `route`.
fn both(r: Router<AppState>, path: &str, route: MethodRouter<AppState>) -> Router<AppState> {
    r.route(path, route.clone())
        .route(&format!("{path}/"), route)
}

/// The v2 routes, under `/api`.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut r = Router::new();
    // sign-in goes through the handler's own throttle (failures only)
    r = both(r, "/auth/login", post(auth::login));
    r = both(r, "/auth/logout", post(auth::logout));
    r = both(r, "/server/about", get(about));
    r = both(r, "/users/self", get(users::me));
    r = both(r, "/users", get(users::list));
    r = both(r, "/users/{id}", get(users::retrieve));
    r = both(
        r,
        "/auth/access_tokens",
        get(list_tokens).post(create_token),
    );
    r = both(r, "/auth/access_tokens/self", get(current_token));
    r = both(r, "/tasks", get(list_tasks).post(create_task));
    r = both(
        r,
        "/tasks/{id}",
        get(retrieve_task)
            .patch(update_task)
            .delete(crate::http::tasks::destroy),
    );
    r = both(r, "/tasks/{id}/preview", get(task_preview));
    r = both(r, "/projects", get(projects::list).post(projects::create));
    r = both(
        r,
        "/projects/{id}",
        get(projects::retrieve)
            .patch(projects::update)
            .delete(crate::http::projects::destroy),
    );
    r = both(r, "/projects/{id}/preview", get(projects::preview));
    r = both(
        r,
        "/tasks/{id}/data",
        // uploads are streamed to disk, so their size is not limited here
        get(crate::http::tasks::data)
            .post(upload_data)
            .layer(axum::extract::DefaultBodyLimit::disable()),
    );
    r = both(r, "/tasks/{id}/data/meta", get(data_meta));
    r = both(r, "/requests", get(requests::list));
    r = both(r, "/requests/{rq_id}", get(requests::retrieve));
    r = both(r, "/requests/{rq_id}/cancel", post(requests::cancel));
    // TUS uploads: `HEAD` and `PATCH` at the `Location` their creation answered
    let unlimited = axum::extract::DefaultBodyLimit::disable;
    let tus =
        || axum::routing::head(uploads::tus_head).patch(uploads::tus_patch.layer(unlimited()));
    r = both(r, "/tasks/{id}/data/{file_id}", tus());
    r = both(r, "/tasks/{id}/annotations/{file_id}", tus());
    r = both(r, "/jobs/{id}/annotations/{file_id}", tus());
    r = both(r, "/tasks/backup/{file_id}", tus());
    r = both(r, "/projects/backup/{file_id}", tus());
    r = both(
        r,
        "/projects/backup",
        post(exchange::restore_project_backup.layer(unlimited())),
    );
    r = both(
        r,
        "/projects/{id}/backup/export",
        post(exchange::export_project_backup),
    );
    r = both(
        r,
        "/projects/{id}/backup/download",
        get(exchange::download_project_backup),
    );
    r = both(
        r,
        "/tasks/backup",
        post(exchange::restore_backup.layer(unlimited())),
    );
    r = both(
        r,
        "/tasks/{id}/backup/export",
        post(exchange::export_backup),
    );
    r = both(
        r,
        "/tasks/{id}/backup/download",
        get(exchange::download_backup),
    );
    r = both(r, "/tasks/{id}/dataset/export", post(exchange::export_task));
    r = both(
        r,
        "/tasks/{id}/dataset/download",
        get(exchange::download_task),
    );
    r = both(
        r,
        "/projects/{id}/dataset/export",
        post(exchange::export_project),
    );
    r = both(
        r,
        "/projects/{id}/dataset/download",
        get(exchange::download_project),
    );
    r = both(r, "/jobs", get(list_jobs));
    r = both(r, "/jobs/{id}", get(retrieve_job).patch(update_job));
    r = both(r, "/jobs/{id}/preview", get(job_preview));
    r = both(
        r,
        "/jobs/{id}/annotations",
        get(annotations::job_get)
            .put(job_put)
            .patch(job_patch)
            .delete(annotations::job_delete)
            .post(exchange::import_job.layer(unlimited())),
    );
    r = both(
        r,
        "/tasks/{id}/annotations",
        get(annotations::task_get)
            .put(task_put)
            .patch(task_patch)
            .delete(annotations::task_delete)
            .post(exchange::import_task.layer(unlimited())),
    );
    r = both(r, "/labels", get(list_labels));
    r = both(r, "/labels/{id}", get(retrieve_label));
    r = both(
        r,
        "/auth/access_tokens/{id}",
        get(retrieve_token).delete(revoke_token),
    );
    r.route_layer(middleware::from_fn_with_state(
        state.clone(),
        crate::auth::authenticate,
    ))
}

/// `GET /api/server/about` (no sign-in needed): the version the SDK checks.
pub async fn about(State(st): State<AppState>) -> Json<Value> {
    let a = st.core.server().about();
    Json(json!({
        "name": a.name,
        "description": a.description,
        "version": CVAT_VERSION,
        "logo_url": "",
        "subtitle": format!("ferrocat {}", a.version),
    }))
}

fn render_token(
    t: &AccessTokenRow,
    me: &AuthUser,
    tz: chrono_tz::Tz,
    value: Option<&str>,
) -> Value {
    let render = |d| ferrocat_wire::time::render(d, tz);
    let mut v = json!({
        "id": t.id,
        "name": t.name,
        "created_date": render(t.created_date),
        "updated_date": render(t.created_date),
        "expiry_date": t.expiry_date.map(render),
        "last_used_date": t.last_used_date.map(render),
        "read_only": false,
        "owner": {"id": me.user.id, "username": me.user.username, "first_name": me.user.first_name,
                  "last_name": me.user.last_name},
    });
    if let Some(value) = value {
        v["value"] = json!(value);
    }
    v
}

/// Create a personal access token (`name`, optional `expiry_date`): its value is in
/// this answer only.
pub async fn create_token(
    State(st): State<AppState>,
    me: AuthUser,
    input: Input,
) -> ApiResult<Response> {
    let (row, token) = st
        .core
        .auth()
        .create_access_token(&me.actor, input.object()?)
        .await?;
    let tz = st.core.config().time_zone;
    Ok((
        StatusCode::CREATED,
        Json(render_token(&row, &me, tz, Some(&token))),
    )
        .into_response())
}

/// The caller's tokens (paginated, newest first; values are never shown again).
pub async fn list_tokens(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<ferrocat_wire::Page<Value>>> {
    let pq = PageQuery::from_query(uri.query());
    let tz = st.core.config().time_zone;
    let rows = st
        .core
        .auth()
        .access_tokens(&me.actor)
        .await?
        .iter()
        .map(|t| render_token(t, &me, tz, None))
        .collect();
    Ok(Json(pq.page_of(&origin, &uri, rows)?))
}

/// The token this request was made with (404 for other credentials).
pub async fn current_token(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Value>> {
    let Some(id) = me.access_token else {
        return Err(crate::error::ApiError::not_found());
    };
    let t = st.core.auth().access_token(&me.actor, id).await?;
    Ok(Json(render_token(
        &t,
        &me,
        st.core.config().time_zone,
        None,
    )))
}

pub async fn retrieve_token(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let t = st
        .core
        .auth()
        .access_token(&me.actor, parse_id(&id)?)
        .await?;
    Ok(Json(render_token(
        &t,
        &me,
        st.core.config().time_zone,
        None,
    )))
}

/// Revoke a token: requests with it are refused from now on.
pub async fn revoke_token(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    st.core
        .auth()
        .revoke_access_token(&me.actor, parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Users as v2 objects embed them (`owner`, `assignee`), each read once per request
/// (a page of tasks or jobs names the same few users again and again).
#[derive(Default)]
struct Users(std::collections::HashMap<i64, Option<Value>>);

impl Users {
    async fn get(
        &mut self,
        st: &AppState,
        origin: &Origin,
        id: Option<i64>,
    ) -> ApiResult<Option<Value>> {
        let Some(id) = id else { return Ok(None) };
        if let Some(u) = self.0.get(&id) {
            return Ok(u.clone());
        }
        let u = st.core.db().user(id).await?.map(|u| {
            json!({"url": origin.api(&format!("users/{}", u.id)), "id": u.id, "username": u.username,
                   "first_name": u.first_name, "last_name": u.last_name})
        });
        self.0.insert(id, u.clone());
        Ok(u)
    }
}

/// A task as CVAT 2's `TaskRead`: keys whose value is null and whose model does not
/// allow null (`owner`, `assignee`) are left out.
async fn render_task(
    st: &AppState,
    users: &mut Users,
    v: &ferrocat_core::tasks::TaskView,
    origin: &Origin,
) -> ApiResult<Value> {
    let t = &v.task;
    let tz = st.core.config().time_zone;
    let render = |d| ferrocat_wire::time::render(d, tz);
    let url = |p: &str| origin.api(p);
    let count = |s: &str| v.jobs.iter().filter(|j| j.status == s).count();
    let mut out = json!({
        "url": url(&format!("tasks/{}", t.id)),
        "id": t.id,
        "name": t.name,
        "project_id": t.project_id,
        "bug_tracker": t.bug_tracker,
        "created_date": render(t.created_date),
        "updated_date": render(t.updated_date),
        "overlap": t.overlap,
        "segment_size": t.segment_size,
        "status": t.status,
        "mode": t.mode,
        "dimension": "2d",
        "subset": "",
        "organization": null,
        "jobs": {"count": v.jobs.len(), "completed": count("completed"), "validation": count("validation"),
                 "url": url(&format!("jobs?task_id={}", t.id))},
        "labels": {"url": url(&format!("labels?task_id={}", t.id))},
        "size": v.data.as_ref().map_or(0, |d| d.size),
    });
    if let Some(d) = &v.data {
        out["data"] = json!(d.id);
        out["data_chunk_size"] = json!(d.chunk_size);
        out["data_original_chunk_type"] = json!(d.original_chunk_type);
        out["data_compressed_chunk_type"] = json!(d.compressed_chunk_type);
        out["image_quality"] = json!(d.image_quality);
        out["media_type"] = json!(if d.is_video() { "video" } else { "image" });
    }
    for (key, id) in [("owner", t.owner_id), ("assignee", t.assignee_id)] {
        if let Some(u) = users.get(st, origin, id).await? {
            out[key] = u;
        }
    }
    Ok(out)
}

/// Tasks visible to the caller, newest first, with v1's filters.
pub async fn list_tasks(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<ferrocat_wire::Page<Value>>> {
    let pq = PageQuery::from_query(uri.query());
    let pairs = crate::extract::QueryPairs::parse(uri.query()).0;
    let mut w = crate::pagination::Window::new(&pq);
    let window = |count| w.apply(count);
    let listed = match pairs.iter().rev().find(|(k, _)| k == "project_id") {
        Some((_, p)) => {
            let p = query_id("project_id", p)?;
            st.core.projects().tasks(&me.actor, p, &pairs, window).await
        }
        None => st.core.tasks().list(&me.actor, &pairs, window).await,
    };
    let (count, views) = w.finish(listed)?;
    let mut results = Vec::with_capacity(views.len());
    let mut users = Users::default();
    for v in &views {
        results.push(render_task(&st, &mut users, v, &origin).await?);
    }
    Ok(Json(pq.envelope(&origin, &uri, count, w.page_no, results)))
}

pub async fn retrieve_task(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = st.core.tasks().get(&me.actor, parse_id(&id)?).await?;
    Ok(Json(
        render_task(&st, &mut Users::default(), &v, &origin).await?,
    ))
}

/// `TaskWriteRequest` (name, labels, project_id, segment_size, overlap, subset,
/// bug_tracker) through v1's validation; `subset` is not kept.
pub async fn create_task(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    input: Input,
) -> ApiResult<Response> {
    let v = st.core.tasks().create(&me.actor, input.object()?).await?;
    Ok((
        StatusCode::CREATED,
        Json(render_task(&st, &mut Users::default(), &v, &origin).await?),
    )
        .into_response())
}

/// `PatchedTaskWriteRequest`: name, owner_id, assignee_id, bug_tracker, project_id,
/// labels (added, renamed or `deleted`, as on v1) through v1's validation.
pub async fn update_task(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let body = input.object()?;
    projects::local_storages(body)?;
    let v = st
        .core
        .tasks()
        .update(&me.actor, parse_id(&id)?, body, false)
        .await?;
    Ok(Json(
        render_task(&st, &mut Users::default(), &v, &origin).await?,
    ))
}

/// One of a task's data files (`preview`, a `frame`), as `GET …/data?type=` serves it.
async fn serve_data(
    st: &AppState,
    me: &AuthUser,
    task_id: i64,
    kind: &str,
    number: Option<&str>,
    headers: &axum::http::HeaderMap,
) -> ApiResult<Response> {
    let f = st
        .core
        .tasks()
        .data_file(&me.actor, task_id, Some(kind), number, Some("compressed"))
        .await?;
    crate::http::files::serve(headers, f.body, f.range, f.content_type, &f.etag).await
}

/// `GET /api/tasks/{id}/preview`: the task's thumbnail.
pub async fn task_preview(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    serve_data(&st, &me, parse_id(&id)?, "preview", None, &headers).await
}

/// `GET /api/jobs/{id}/preview`: the job's first frame (compressed quality; ferrocat
/// keeps thumbnails per task, not per job).
pub async fn job_preview(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let j = st.core.tasks().job(&me.actor, parse_id(&id)?).await?;
    let first = j.start_frame.to_string();
    serve_data(&st, &me, j.task_id, "frame", Some(&first), &headers).await
}

/// `POST /api/tasks/{id}/data/`: CVAT 2's upload session (`Upload-Start`: 202;
/// `Upload-Multiple` batches of `client_files`: 200; TUS creation: 201;
/// `Upload-Finish` with the options: 202 `{rq_id}`), or, with neither header, one
/// request as v1 (202 `{rq_id}`).
pub async fn upload_data(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let dest = Dest::TaskData(id);
    uploads::authorize(&st, &me, dest).await?;
    let step = uploads::step(req.headers())?;
    let req = match uploads::common_step(&st, &me, dest, &step, req, "client_files").await? {
        Ok(answer) => return Ok(answer),
        Err(req) => req,
    };
    let tasks = st.core.tasks();
    let max = st.core.config().max_upload_bytes;
    let (dir, mut fields, names) = if matches!(step, uploads::Step::Finish) {
        let scratch = tasks.staging_dir().await?;
        let read = crate::http::tasks::read_upload(req, &scratch, max).await;
        let _ = tokio::fs::remove_dir_all(&scratch).await;
        let (fields, _) = read?;
        let done = st.core.uploads().finish(dest).await?;
        (done.dir, fields, done.names)
    } else {
        let staged = tasks.staging_dir().await?;
        match crate::http::tasks::read_upload(req, &staged, max).await {
            Ok((fields, names)) => (staged, fields, names),
            Err(e) => {
                let _ = tokio::fs::remove_dir_all(&staged).await;
                return Err(e);
            }
        }
    };
    // CVAT 2's own order of the files; ferrocat orders frames by name as v1 does
    fields.remove("upload_file_order");
    let attached = tasks.attach_data(&me.actor, id, &fields, names, &dir).await;
    if attached.is_err() {
        let _ = tokio::fs::remove_dir_all(&dir).await;
    }
    attached?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"rq_id": format!("create:task-{id}")})),
    )
        .into_response())
}

/// `GET /api/tasks/{id}/data/meta` as CVAT 2's `DataMetaRead`: v1's meta plus
/// `chunks_updated_date`, `deleted_frames` and each frame's `related_files`.
pub async fn data_meta(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let meta = st.core.tasks().meta(&me.actor, id).await?;
    let task = st.core.tasks().get_unchecked(id).await?; // `meta` checked access
    let tz = st.core.config().time_zone;
    let mut v =
        serde_json::to_value(&meta).map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
    v["chunks_updated_date"] = json!(ferrocat_wire::time::render(task.task.updated_date, tz));
    v["deleted_frames"] = json!([]);
    if let Some(frames) = v["frames"].as_array_mut() {
        for f in frames {
            f["related_files"] = json!(0);
        }
    }
    Ok(Json(v))
}

/// A job as CVAT 2's `JobRead`. `stage` and `state` are derived from the one status
/// ferrocat keeps (CVAT 1.1's): annotation → annotation/in progress, validation →
/// validation/in progress, completed → acceptance/completed.
async fn render_job(
    st: &AppState,
    users: &mut Users,
    j: &ferrocat_store::tasks::JobRow,
    v: &ferrocat_core::tasks::TaskView,
    origin: &Origin,
) -> ApiResult<Value> {
    let tz = st.core.config().time_zone;
    let render = |d| ferrocat_wire::time::render(d, tz);
    let t = &v.task;
    let (stage, state) = match j.status.as_str() {
        "validation" => ("validation", "in progress"),
        "completed" => ("acceptance", "completed"),
        _ => ("annotation", "in progress"),
    };
    let mut out = json!({
        "url": format!("{}/api/jobs/{}", origin.0, j.id),
        "id": j.id,
        "task_id": t.id,
        "task_name": t.name,
        "project_id": t.project_id,
        "dimension": "2d",
        "mode": t.mode,
        "bug_tracker": t.bug_tracker,
        "status": j.status,
        "stage": stage,
        "state": state,
        "type": "annotation",
        "frame_count": j.stop_frame - j.start_frame + 1,
        "start_frame": j.start_frame,
        "stop_frame": j.stop_frame,
        "created_date": render(t.created_date),
        "updated_date": render(t.updated_date),
        "organization": null,
        "issues": {"url": format!("{}/api/issues?job_id={}", origin.0, j.id), "count": 0},
        "labels": {"url": format!("{}/api/labels?job_id={}", origin.0, j.id)},
    });
    if let Some(d) = &v.data {
        out["data_chunk_size"] = json!(d.chunk_size);
        out["data_original_chunk_type"] = json!(d.original_chunk_type);
        out["data_compressed_chunk_type"] = json!(d.compressed_chunk_type);
        out["media_type"] = json!(if d.is_video() { "video" } else { "image" });
    }
    if let Some(u) = users.get(st, origin, j.assignee_id).await? {
        out["assignee"] = u;
    }
    Ok(out)
}

/// An id filter of a query (`task_id=7`): a bad one gets Django's 400, not an empty list.
fn query_id(key: &str, raw: &str) -> ApiResult<i64> {
    raw.trim().parse::<i64>().map_err(|_| {
        crate::error::ApiError::Invalid(ferrocat_wire::FieldErrors::single(
            key,
            "Enter a whole number.",
        ))
    })
}

/// The tasks a `task_id=` / `job_id=` query names, checked for access, or every
/// task the caller sees.
async fn scoped_tasks(
    st: &AppState,
    me: &AuthUser,
    pairs: &[(String, String)],
) -> ApiResult<Vec<ferrocat_core::tasks::TaskView>> {
    let get = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let tasks = st.core.tasks();
    if let Some(tid) = get("task_id") {
        return Ok(vec![tasks.get(&me.actor, query_id("task_id", tid)?).await?]);
    }
    if let Some(jid) = get("job_id") {
        let job = tasks.job(&me.actor, query_id("job_id", jid)?).await?;
        return Ok(vec![tasks.get(&me.actor, job.task_id).await?]);
    }
    let (_, all) = tasks.list(&me.actor, &[], |_| Ok((0, None))).await?;
    Ok(all)
}

/// `GET /api/jobs`: jobs of the tasks the caller sees; filters `task_id`,
/// `assignee` (user name), `state`, `stage`; paginated.
pub async fn list_jobs(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<ferrocat_wire::Page<Value>>> {
    let pq = PageQuery::from_query(uri.query());
    let pairs = crate::extract::QueryPairs::parse(uri.query()).0;
    let get = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let mut rows = Vec::new();
    let mut users = Users::default();
    for v in scoped_tasks(&st, &me, &pairs).await? {
        let facts = st.core.tasks().jobs(&me.actor, v.task.id).await;
        let Ok(jobs) = facts else { continue };
        for j in &jobs {
            rows.push(render_job(&st, &mut users, j, &v, &origin).await?);
        }
    }
    let assignee = get("assignee");
    rows.retain(|r| {
        ["state", "stage"]
            .iter()
            .all(|k| get(k).is_none_or(|want| r[*k] == want.as_str()))
            && assignee
                .as_ref()
                .is_none_or(|a| r["assignee"]["username"] == a.as_str())
    });
    rows.sort_by_key(|r| std::cmp::Reverse(r["id"].as_i64().unwrap_or_default()));
    Ok(Json(pq.page_of(&origin, &uri, rows)?))
}

/// `PatchedJobWriteRequest` (`assignee`, `stage`, `state`) on the one status ferrocat
/// keeps (see [`render_job`]): `stage` annotation/validation/acceptance sets the status
/// annotation/validation/completed; without a `stage`, `state` "completed" completes
/// the job and any other state leaves the status as it is.
pub async fn update_job(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let body = job_write_body(input.object()?)?;
    let tasks = st.core.tasks();
    let j = tasks.update_job(&me.actor, parse_id(&id)?, &body).await?;
    let v = tasks.get_unchecked(j.task_id).await?;
    Ok(Json(
        render_job(&st, &mut Users::default(), &j, &v, &origin).await?,
    ))
}

/// v2's job write in v1's terms (`assignee`, `status`).
fn job_write_body(
    body: &serde_json::Map<String, Value>,
) -> ApiResult<serde_json::Map<String, Value>> {
    let choice = |key: &str, allowed: &[&str]| -> ApiResult<Option<String>> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
            Some(v) => Err(crate::error::ApiError::Invalid(
                ferrocat_wire::FieldErrors::single(
                    key,
                    format!(
                        "\"{}\" is not a valid choice.",
                        v.as_str().unwrap_or(&v.to_string())
                    ),
                ),
            )),
        }
    };
    let stage = choice("stage", &["annotation", "validation", "acceptance"])?;
    let state = choice("state", &["new", "in progress", "rejected", "completed"])?;
    let status = match (stage.as_deref(), state.as_deref()) {
        (Some("acceptance"), _) => Some("completed"),
        (Some(s), _) => Some(s),
        (None, Some("completed")) => Some("completed"),
        (None, _) => None,
    };
    let mut out = serde_json::Map::new();
    if let Some(a) = body.get("assignee") {
        out.insert("assignee".into(), a.clone());
    }
    if let Some(s) = status {
        out.insert("status".into(), json!(s));
    }
    Ok(out)
}

pub async fn retrieve_job(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tasks = st.core.tasks();
    let j = tasks.job(&me.actor, parse_id(&id)?).await?;
    let v = tasks.get_unchecked(j.task_id).await?;
    Ok(Json(
        render_job(&st, &mut Users::default(), &j, &v, &origin).await?,
    ))
}

/// A label as CVAT 2's `Label`, of a task or (`task_id` null) of a project.
fn render_labels(
    labels: &[(
        ferrocat_store::tasks::LabelRow,
        Vec<ferrocat_store::tasks::AttrRow>,
    )],
    task_id: Option<i64>,
    project_id: Option<i64>,
) -> ApiResult<Vec<Value>> {
    let mut out = Vec::with_capacity(labels.len());
    for l in crate::http::tasks::render_labels(labels) {
        let mut value = serde_json::to_value(&l)
            .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
        value["task_id"] = json!(task_id);
        value["project_id"] = json!(project_id);
        value["parent_id"] = Value::Null;
        value["has_parent"] = json!(false);
        value["sublabels"] = json!([]);
        value["type"] = json!("any");
        value["color"] = json!("");
        out.push(value);
    }
    Ok(out)
}

/// `GET /api/labels?task_id=|job_id=|project_id=`: the labels of a task (or of a
/// job's task), of a project, or of every task the caller sees; paginated. A task of a
/// project holds its own copy of the project's labels, with ids of its own: those are
/// the ids its annotations use.
pub async fn list_labels(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<ferrocat_wire::Page<Value>>> {
    let pq = PageQuery::from_query(uri.query());
    let pairs = crate::extract::QueryPairs::parse(uri.query()).0;
    let project = pairs.iter().rev().find(|(k, _)| k == "project_id");
    let mut rows = Vec::new();
    if let Some((_, pid)) = project {
        let pid = query_id("project_id", pid)?;
        let p = st.core.projects().get(&me.actor, pid).await?;
        rows = render_labels(&p.labels, None, Some(p.project.id))?;
    } else {
        for v in scoped_tasks(&st, &me, &pairs).await? {
            rows.extend(render_labels(
                &v.labels,
                Some(v.task.id),
                v.task.project_id,
            )?);
        }
    }
    Ok(Json(pq.page_of(&origin, &uri, rows)?))
}

/// `GET /api/labels/{id}`: a task's label, for whoever may see the task.
pub async fn retrieve_label(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let v = st.core.tasks().of_label(&me.actor, id).await?;
    let mine: Vec<_> = v
        .labels
        .iter()
        .filter(|(l, _)| l.id == id)
        .cloned()
        .collect();
    let mut one = render_labels(&mine, Some(v.task.id), v.task.project_id)?;
    one.pop()
        .map(Json)
        .ok_or_else(crate::error::ApiError::not_found)
}

/// CVAT 2's annotation bodies, in v1's terms: what v2 lets a client leave out gets its
/// default (`version` 0, empty `tags`/`shapes`/`tracks`, per object `attributes` [],
/// `group` 0, `occluded`/`outside` false, `z_order` 0). `rotation` and `elements` are
/// CVAT 2 shape features ferrocat does not store: 0 and `[]` are dropped, anything else
/// is refused with 400 rather than lost. A body that is not a JSON object goes on as it
/// is, for v1 to report.
fn with_v2_defaults(body: Bytes) -> ApiResult<Bytes> {
    let Ok(Value::Object(mut doc)) = serde_json::from_slice::<Value>(&body) else {
        return Ok(body);
    };
    let refuse = |key: &str, what: &str| {
        crate::error::ApiError::Invalid(ferrocat_wire::FieldErrors::single(
            key,
            format!("{what} is not supported by this server"),
        ))
    };
    fn fill(o: &mut serde_json::Map<String, Value>, defaults: &[(&str, Value)]) {
        for (k, v) in defaults {
            if o.get(*k).is_none_or(Value::is_null) {
                o.insert((*k).to_string(), v.clone());
            }
        }
    }
    fn fix_shape(
        o: &mut serde_json::Map<String, Value>,
        key: &str,
        refuse: &dyn Fn(&str, &str) -> crate::error::ApiError,
    ) -> ApiResult<()> {
        if let Some(r) = o.remove("rotation")
            && r.as_f64().is_some_and(|r| r != 0.0)
        {
            return Err(refuse(key, "A rotated shape"));
        }
        if let Some(e) = o.remove("elements")
            && e.as_array().is_some_and(|e| !e.is_empty())
        {
            return Err(refuse(key, "A skeleton (shape elements)"));
        }
        Ok(())
    }
    fill(
        &mut doc,
        &[
            ("version", json!(0)),
            ("tags", json!([])),
            ("shapes", json!([])),
            ("tracks", json!([])),
        ],
    );
    let object = [("attributes", json!([])), ("group", json!(0))];
    let shape = [
        ("occluded", json!(false)),
        ("z_order", json!(0)),
        ("attributes", json!([])),
    ];
    for key in ["tags", "shapes", "tracks"] {
        let Some(items) = doc.get_mut(key).and_then(Value::as_array_mut) else {
            continue;
        };
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            fill(item, &object);
            if key == "shapes" {
                fill(item, &shape);
                fix_shape(item, key, &refuse)?;
            }
            if key == "tracks" {
                if let Some(e) = item.remove("elements")
                    && e.as_array().is_some_and(|e| !e.is_empty())
                {
                    return Err(refuse(key, "A skeleton track (elements)"));
                }
                let Some(ks) = item.get_mut("shapes").and_then(Value::as_array_mut) else {
                    continue;
                };
                for k in ks.iter_mut().filter_map(Value::as_object_mut) {
                    fill(k, &shape);
                    fill(k, &[("outside", json!(false))]);
                    fix_shape(k, key, &refuse)?;
                }
            }
        }
    }
    serde_json::to_vec(&doc)
        .map(Bytes::from)
        .map_err(|e| crate::error::ApiError::Internal(e.to_string()))
}

macro_rules! v2_write {
    ($name:ident, $v1:path) => {
        /// The v1 write with CVAT 2's defaults filled in ([`with_v2_defaults`]).
        pub async fn $name(
            st: State<AppState>,
            me: AuthUser,
            id: Path<String>,
            method: axum::http::Method,
            uri: OriginalUri,
            headers: axum::http::HeaderMap,
            body: Bytes,
        ) -> ApiResult<Response> {
            let body = with_v2_defaults(body)?;
            $v1(st, me, id, method, uri, headers, body).await
        }
    };
}

v2_write!(job_put, annotations::job_put);
v2_write!(job_patch, annotations::job_patch);
v2_write!(task_put, annotations::task_put);
v2_write!(task_patch, annotations::task_patch);
