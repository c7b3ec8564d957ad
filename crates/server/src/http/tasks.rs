//! `/tasks` and `/jobs` (api-v1 §6–§8).

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrocat_core::tasks::TaskView;
use ferrocat_store::tasks::JobRow;
use ferrocat_wire::Page;
use ferrocat_wire::tasks::{
    Attribute, DataEcho, DataMeta, Job, JobShort, Label, Segment, Status, Task, TaskDataKeys,
};
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Input, Origin, form_to_object, parse_body};
use crate::http::users::parse_id;
use crate::pagination::PageQuery;

pub fn render_task(v: &TaskView, origin: &Origin, tz: chrono_tz::Tz) -> Task {
    let t = &v.task;
    let render = |d| ferrocat_wire::time::render(d, tz);
    // One job per segment in this version of the API.
    let segments: Vec<Segment> = v
        .jobs
        .iter()
        .map(|j| Segment {
            start_frame: j.start_frame,
            stop_frame: j.stop_frame,
            jobs: vec![JobShort {
                url: origin.api(&format!("jobs/{}", j.id)),
                id: j.id,
                assignee: j.assignee_id,
                status: j.status.clone(),
            }],
        })
        .collect();
    Task {
        url: origin.api(&format!("tasks/{}", t.id)),
        id: t.id,
        name: t.name.clone(),
        mode: t.mode.clone(),
        owner: t.owner_id,
        assignee: t.assignee_id,
        bug_tracker: t.bug_tracker.clone(),
        created_date: render(t.created_date),
        updated_date: render(t.updated_date),
        overlap: t.overlap,
        segment_size: t.segment_size,
        z_order: t.z_order,
        status: t.status.clone(),
        labels: render_labels(&v.labels),
        segments,
        project: t.project_id,
        data: v.data.as_ref().map(|d| TaskDataKeys {
            data_chunk_size: d.chunk_size,
            data_compressed_chunk_type: d.compressed_chunk_type.clone(),
            data_original_chunk_type: d.original_chunk_type.clone(),
            size: d.size,
            image_quality: d.image_quality,
            data: d.id,
        }),
    }
}

/// Labels with their attribute specs, as tasks and projects show them.
pub fn render_labels(
    labels: &[(
        ferrocat_store::tasks::LabelRow,
        Vec<ferrocat_store::tasks::AttrRow>,
    )],
) -> Vec<Label> {
    labels
        .iter()
        .map(|(l, attrs)| Label {
            id: l.id,
            name: l.name.clone(),
            attributes: attrs
                .iter()
                .map(|a| Attribute {
                    id: a.id,
                    name: a.name.clone(),
                    mutable: a.mutable,
                    input_type: a.input_type.clone(),
                    default_value: a.default_value.clone(),
                    values: serde_json::from_str(&a.value_list).unwrap_or_default(),
                })
                .collect(),
        })
        .collect()
}

pub fn render_job(j: &JobRow, origin: &Origin) -> Job {
    Job {
        url: origin.api(&format!("jobs/{}", j.id)),
        id: j.id,
        assignee: j.assignee_id,
        status: j.status.clone(),
        start_frame: j.start_frame,
        stop_frame: j.stop_frame,
        task_id: j.task_id,
    }
}

pub(crate) fn tz(st: &AppState) -> chrono_tz::Tz {
    st.core.config().time_zone
}

/// Tasks visible to the caller, newest first; filters `search`, `id`, `name`, `owner`,
/// `assignee`, `mode`, `status`, and `ordering`.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", responses((status = 200, description = "A page of tasks")))]
pub async fn list(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Page<Task>>> {
    let pq = PageQuery::from_query(uri.query());
    let pairs = crate::extract::QueryPairs::parse(uri.query()).0;
    let mut w = crate::pagination::Window::new(&pq);
    let listed = st
        .core
        .tasks()
        .list(&me.actor, &pairs, |count| w.apply(count))
        .await;
    let (count, views) = w.finish(listed)?;
    let page_no = w.page_no;
    let results = views
        .iter()
        .map(|v| render_task(v, &origin, tz(&st)))
        .collect();
    Ok(Json(pq.envelope(&origin, &uri, count, page_no, results)))
}

/// Create a task (labels, no data yet).
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body(content = ferrocat_wire::tasks::TaskWriteRequest, content_type = "application/json"),
    responses((status = 201, body = Task), (status = 400), (status = 403)))]
pub async fn create(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    input: Input,
) -> ApiResult<Response> {
    let v = st.core.tasks().create(&me.actor, input.object()?).await?;
    let task = render_task(&v, &origin, tz(&st));
    let mut r = (StatusCode::CREATED, Json(&task)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&task.url) {
        r.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(r)
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = i64, Path)), responses((status = 200, body = Task), (status = 403), (status = 404)))]
pub async fn retrieve(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<Json<Task>> {
    let v = st.core.tasks().get(&me.actor, parse_id(&id)?).await?;
    Ok(Json(render_task(&v, &origin, tz(&st))))
}

/// Edit name, owner, assignee, bug tracker, z_order; labels are merged by name.
#[utoipa::path(patch, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = i64, Path)), request_body(content = ferrocat_wire::tasks::TaskWriteRequest, content_type = "application/json"),
    responses((status = 200, body = Task), (status = 400), (status = 403), (status = 404)))]
pub async fn update(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
    input: Input,
) -> ApiResult<Json<Task>> {
    let v = st
        .core
        .tasks()
        .update(&me.actor, parse_id(&id)?, input.object()?, false)
        .await?;
    Ok(Json(render_task(&v, &origin, tz(&st))))
}

/// Like PATCH, but `name` and `labels` are required.
#[utoipa::path(put, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = i64, Path)), request_body(content = ferrocat_wire::tasks::TaskWriteRequest, content_type = "application/json"),
    responses((status = 200, body = Task), (status = 400), (status = 403), (status = 404)))]
pub async fn replace(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
    input: Input,
) -> ApiResult<Json<Task>> {
    let v = st
        .core
        .tasks()
        .update(&me.actor, parse_id(&id)?, input.object()?, true)
        .await?;
    Ok(Json(render_task(&v, &origin, tz(&st))))
}

#[utoipa::path(delete, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = i64, Path)), responses((status = 204), (status = 403), (status = 404)))]
pub async fn destroy(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    st.core.tasks().delete(&me.actor, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The task's jobs (not paginated).
#[utoipa::path(get, path = "/api/v1/tasks/{id}/jobs", tag = "tasks", params(("id" = i64, Path)), responses((status = 200, body = Vec<Job>)))]
pub async fn jobs(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Job>>> {
    let jobs = st.core.tasks().jobs(&me.actor, parse_id(&id)?).await?;
    Ok(Json(jobs.iter().map(|j| render_job(j, &origin)).collect()))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = i64, Path)), responses((status = 200, body = Job), (status = 403), (status = 404)))]
pub async fn job(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<Json<Job>> {
    let j = st.core.tasks().job(&me.actor, parse_id(&id)?).await?;
    Ok(Json(render_job(&j, &origin)))
}

/// Set a job's `status` and/or `assignee` (PUT behaves the same).
#[utoipa::path(method(patch, put), path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = i64, Path)), request_body(content = ferrocat_wire::tasks::JobWriteRequest, content_type = "application/json"),
    responses((status = 200, body = Job), (status = 400), (status = 403), (status = 404)))]
pub async fn update_job(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
    input: Input,
) -> ApiResult<Json<Job>> {
    let j = st
        .core
        .tasks()
        .update_job(&me.actor, parse_id(&id)?, input.object()?)
        .await?;
    Ok(Json(render_job(&j, &origin)))
}

/// Attach media: `client_files[i]` (multipart, streamed to disk), `server_files[i]`;
/// `image_quality` required. Processing runs in the background; poll `/status`.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/data", tag = "data", params(("id" = i64, Path)),
    request_body(content = ferrocat_wire::tasks::DataRequest, content_type = "multipart/form-data"),
    responses((status = 202, body = DataEcho), (status = 400), (status = 403), (status = 404)))]
pub async fn upload(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<(StatusCode, Json<DataEcho>)> {
    let id = parse_id(&id)?;
    let tasks = st.core.tasks();
    tasks.can_attach_data(&me.actor, id).await?;
    let staged = tasks.staging_dir().await?;
    let result = async {
        let (fields, names) = read_upload(req, &staged, st.core.config().max_upload_bytes).await?;
        Ok::<_, ApiError>(
            tasks
                .attach_data(&me.actor, id, &fields, names, &staged)
                .await?,
        )
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_dir_all(&staged).await;
    }
    Ok((StatusCode::ACCEPTED, Json(result?)))
}

/// Reads an upload body: multipart file parts named `client_files…` are streamed into
/// `dir` under their base names; every other part is a text field. JSON and form bodies
/// carry only fields.
pub(crate) async fn read_upload(
    req: Request,
    dir: &std::path::Path,
    max_upload_bytes: Option<u64>,
) -> ApiResult<(Map<String, Value>, Vec<String>)> {
    read_upload_files(req, dir, max_upload_bytes, "client_files").await
}

/// [`read_upload`] for file parts whose field name starts with `files_field`.
pub(crate) async fn read_upload_files(
    req: Request,
    dir: &std::path::Path,
    max_upload_bytes: Option<u64>,
    files_field: &str,
) -> ApiResult<(Map<String, Value>, Vec<String>)> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mime = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "multipart/form-data" {
        let body = axum::body::to_bytes(req.into_body(), crate::http::MAX_BODY)
            .await
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        return match parse_body(&mime, &ctype, &body)? {
            Value::Object(m) => Ok((m, vec![])),
            _ => Err(ApiError::Invalid(ferrocat_wire::FieldErrors::non_field(
                "Invalid data. Expected a dictionary.",
            ))),
        };
    }
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!("Multipart form parse error - {e}"))
    };
    let mut mp = axum::extract::Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut pairs = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut budget = UploadBudget(max_upload_bytes);
    while let Some(mut field) = mp.next_field().await.map_err(bad)? {
        let fname = field.name().unwrap_or("").to_string();
        match field.file_name().map(str::to_string) {
            Some(file_name) if fname.starts_with(files_field) => {
                let base = ferrocat_core::uploads::file_name(&file_name, files_field)?;
                if names.contains(&base) {
                    return Err(ApiError::Invalid(ferrocat_wire::FieldErrors::single(
                        files_field,
                        format!("Duplicate file name: {base}"),
                    )));
                }
                save_part(&mut field, &dir.join(&base), &mut budget, files_field).await?;
                names.push(base);
            }
            Some(_) => {
                // a file under another field name: drain and ignore
                while field.chunk().await.map_err(bad)?.is_some() {}
            }
            None => {
                let text = text_part(&mut field, &fname, &mut budget).await?;
                pairs.push((fname, text));
            }
        }
    }
    Ok((form_to_object(pairs), names))
}

/// What is left of `--max-upload-bytes` for one request's files (`None`: no limit).
struct UploadBudget(Option<u64>);

impl UploadBudget {
    fn take(&mut self, n: usize) -> ApiResult<()> {
        if let Some(left) = &mut self.0 {
            *left = left.checked_sub(n as u64).ok_or_else(|| {
                ApiError::TooLarge(
                    "The uploaded files are larger than this server's --max-upload-bytes".into(),
                )
            })?;
        }
        Ok(())
    }
}

/// The longest text field of an upload (a `server_files[i]` path, `image_quality`…).
const MAX_TEXT_FIELD: usize = 64 << 10;

/// Reads one text part, at most [`MAX_TEXT_FIELD`] bytes, counted against the budget.
async fn text_part(
    field: &mut axum::extract::multipart::Field<'_>,
    name: &str,
    budget: &mut UploadBudget,
) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::BadRequest(format!("Multipart form parse error - {e}")))?
    {
        budget.take(chunk.len())?;
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(ApiError::Invalid(ferrocat_wire::FieldErrors::single(
                name,
                format!("Ensure this field has no more than {MAX_TEXT_FIELD} bytes."),
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| {
        ApiError::BadRequest(format!(
            "Multipart form parse error - {name} is not UTF-8 text"
        ))
    })
}

/// Streams one file part to `path`, counting its bytes against the budget.
async fn save_part(
    field: &mut axum::extract::multipart::Field<'_>,
    path: &std::path::Path,
    budget: &mut UploadBudget,
    files_field: &str,
) -> ApiResult<()> {
    let io = |e: std::io::Error| ApiError::Internal(format!("upload: {e}"));
    let mut out = tokio::fs::File::create(path).await.map_err(|e| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::InvalidFilename | std::io::ErrorKind::InvalidInput
        ) {
            ApiError::Invalid(ferrocat_wire::FieldErrors::single(
                files_field,
                format!("Invalid file name: {e}"),
            ))
        } else {
            io(e)
        }
    })?;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::BadRequest(format!("Multipart form parse error - {e}")))?
    {
        budget.take(chunk.len())?;
        out.write_all(&chunk).await.map_err(io)?;
    }
    out.flush().await.map_err(io)
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}/status", tag = "data", params(("id" = i64, Path)), responses((status = 200, body = Status)))]
pub async fn status(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Status>> {
    Ok(Json(
        st.core.tasks().status(&me.actor, parse_id(&id)?).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}/data/meta", tag = "data", params(("id" = i64, Path)), responses((status = 200, body = DataMeta), (status = 404)))]
pub async fn meta(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<DataMeta>> {
    Ok(Json(st.core.tasks().meta(&me.actor, parse_id(&id)?).await?))
}

/// A chunk (zip), one frame, or the preview, with `ETag`, `Cache-Control` and `Range`.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/data", tag = "data", params(("id" = i64, Path),
    ("type" = String, Query), ("number" = Option<i64>, Query), ("quality" = Option<String>, Query)),
    responses((status = 200, description = "chunk, frame or preview bytes"), (status = 206), (status = 304), (status = 400), (status = 404)))]
pub async fn data(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let q = crate::extract::QueryPairs::parse(uri.query());
    let get = |k: &str| q.get(k);
    let f = st
        .core
        .tasks()
        .data_file(
            &me.actor,
            parse_id(&id)?,
            get("type"),
            get("number"),
            get("quality"),
        )
        .await?;
    crate::http::files::serve(&headers, f.body, f.range, f.content_type, &f.etag).await
}

pub fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}
