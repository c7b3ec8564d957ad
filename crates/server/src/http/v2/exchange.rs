//! What moves in and out of ferrocat through CVAT 2's background requests: dataset and
//! annotation exports (`…/dataset/export` → `result_url` → `…/dataset/download`),
//! annotation imports (`POST …/annotations/?format=F` through the upload protocol) and
//! task and project backups (`…/backup/export`, restore by `POST /api/tasks/backup/` or
//! `/api/projects/backup/`).

use axum::Json;
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferrocat_core::exports::{ExportKind, Target as ExportTarget};
use ferrocat_core::imports::Target as ImportTarget;
use ferrocat_core::uploads::Dest;
use serde_json::json;

use super::uploads::{self, Step};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Origin, QueryPairs};
use crate::http::users::parse_id;

/// 202 `{"rq_id": …}`.
fn accepted(rq_id: String) -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "rq_id": rq_id }))).into_response()
}

/// A zip made for a request, as an attachment named `name`.
async fn zip_download(st: &AppState, path: &std::path::Path, name: &str) -> ApiResult<Response> {
    let disposition = crate::http::annotations::disposition(name);
    crate::http::files::download(st.core.media(), path, "application/zip", disposition).await
}

/// Only downloads from the server are offered (`location=local`, the default).
fn local_only(q: &QueryPairs) -> ApiResult<()> {
    match q.get("location") {
        None | Some("local") | Some("") => Ok(()),
        Some(other) => Err(ApiError::BadRequest(format!(
            "location={other} is not supported by this server: use location=local"
        ))),
    }
}

async fn export(
    st: &AppState,
    me: &AuthUser,
    target: ExportTarget,
    uri: &axum::http::Uri,
    origin: &Origin,
) -> ApiResult<Response> {
    let q = QueryPairs::parse(uri.query());
    local_only(&q)?;
    let with_images = q
        .get("save_images")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
    let kind = if with_images {
        ExportKind::Dataset
    } else {
        ExportKind::Annotations
    };
    let format = q.get("format").unwrap_or("");
    let rq = st
        .core
        .exports()
        .start(&me.actor, target, kind, format, &origin.0)
        .await?;
    Ok(accepted(rq))
}

/// `POST /api/tasks/{id}/dataset/export?format=F&save_images=B`.
pub async fn export_task(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    origin: Origin,
) -> ApiResult<Response> {
    export(&st, &me, ExportTarget::Task(parse_id(&id)?), &uri, &origin).await
}

/// `POST /api/projects/{id}/dataset/export?format=F&save_images=B`.
pub async fn export_project(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    origin: Origin,
) -> ApiResult<Response> {
    let target = ExportTarget::Project(parse_id(&id)?);
    export(&st, &me, target, &uri, &origin).await
}

async fn download(
    st: &AppState,
    me: &AuthUser,
    target: ExportTarget,
    uri: &axum::http::Uri,
) -> ApiResult<Response> {
    let q = QueryPairs::parse(uri.query());
    let rq = q.get("rq_id").unwrap_or("");
    let (path, name) = st.core.exports().result(&me.actor, target, rq).await?;
    zip_download(st, &path, &name).await
}

/// `GET /api/tasks/{id}/dataset/download?rq_id=…`: a finished export's zip.
pub async fn download_task(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    download(&st, &me, ExportTarget::Task(parse_id(&id)?), &uri).await
}

/// `GET /api/projects/{id}/dataset/download?rq_id=…`.
pub async fn download_project(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    download(&st, &me, ExportTarget::Project(parse_id(&id)?), &uri).await
}

/// A one-shot upload's single file part (`field`), staged; the caller owns the folder.
async fn single_file(
    st: &AppState,
    req: Request,
    field: &str,
) -> ApiResult<(std::path::PathBuf, std::path::PathBuf)> {
    let staged = st.core.tasks().staging_dir().await?;
    let max = st.core.config().max_upload_bytes;
    let read = crate::http::tasks::read_upload_files(req, &staged, max, field).await;
    match read {
        Ok((_, names)) if !names.is_empty() => {
            let file = staged.join(&names[0]);
            Ok((staged, file))
        }
        other => {
            let _ = tokio::fs::remove_dir_all(&staged).await;
            other?;
            Err(ApiError::Invalid(ferrocat_wire::FieldErrors::single(
                field,
                "No file was submitted.",
            )))
        }
    }
}

/// The file an upload ends with: the session's file named by `?filename=` after
/// `Upload-Finish`, or the `field` part of a one-shot upload. Returns it and a folder
/// to remove afterwards.
async fn uploaded_file(
    st: &AppState,
    dest: Dest,
    step: &Step,
    req: Request,
    field: &str,
) -> ApiResult<(std::path::PathBuf, Option<std::path::PathBuf>)> {
    if matches!(step, Step::Finish) {
        let q = QueryPairs::parse(req.uri().query());
        let name = q.get("filename").unwrap_or("").to_string();
        let file = st.core.uploads().take_file(dest, &name).await?;
        return Ok((file, None));
    }
    let (dir, file) = single_file(st, req, field).await?;
    Ok((file, Some(dir)))
}

async fn import(
    st: &AppState,
    me: &AuthUser,
    target: ImportTarget,
    req: Request,
) -> ApiResult<Response> {
    let dest = Dest::Annotations(target, me.user.id);
    uploads::authorize(st, me, dest).await?;
    let step = uploads::step(req.headers())?;
    let q = QueryPairs::parse(req.uri().query());
    let format = q.get("format").unwrap_or("").to_string();
    if matches!(step, Step::Start | Step::Finish | Step::Single) {
        // an unknown format is refused before any byte is uploaded
        st.core.imports().check(&me.actor, target, &format).await?;
    }
    let req = match uploads::common_step(st, me, dest, &step, req, "annotation_file").await? {
        Ok(answer) => return Ok(answer),
        Err(req) => req,
    };
    let (file, scratch) = uploaded_file(st, dest, &step, req, "annotation_file").await?;
    let started = st
        .core
        .imports()
        .start_file(&me.actor, target, &format, &file)
        .await;
    if let Some(dir) = scratch {
        let _ = tokio::fs::remove_dir_all(dir).await;
    }
    let _ = tokio::fs::remove_file(&file).await;
    Ok(accepted(started?))
}

/// `POST /api/tasks/{id}/annotations/?format=F`: an annotation import (upload protocol).
pub async fn import_task(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    import(&st, &me, ImportTarget::Task(parse_id(&id)?), req).await
}

/// `POST /api/jobs/{id}/annotations/?format=F`.
pub async fn import_job(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    import(&st, &me, ImportTarget::Job(parse_id(&id)?), req).await
}

async fn backup(
    st: &AppState,
    me: &AuthUser,
    target: ExportTarget,
    uri: &axum::http::Uri,
) -> ApiResult<Response> {
    local_only(&QueryPairs::parse(uri.query()))?;
    let rq = st.core.backups().start_export(&me.actor, target).await?;
    Ok(accepted(rq))
}

/// `POST /api/tasks/{id}/backup/export`.
pub async fn export_backup(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    backup(&st, &me, ExportTarget::Task(parse_id(&id)?), &uri).await
}

/// `POST /api/projects/{id}/backup/export`: CVAT's project layout, `project.json` and
/// a `task_<i>/` folder per task with media.
pub async fn export_project_backup(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    backup(&st, &me, ExportTarget::Project(parse_id(&id)?), &uri).await
}

async fn backup_download(
    st: &AppState,
    me: &AuthUser,
    target: ExportTarget,
    uri: &axum::http::Uri,
) -> ApiResult<Response> {
    let q = QueryPairs::parse(uri.query());
    let rq = q.get("rq_id").unwrap_or("");
    let (path, name) = st.core.backups().export_file(&me.actor, target, rq).await?;
    zip_download(st, &path, &name).await
}

/// `GET /api/tasks/{id}/backup/download?rq_id=…`: a finished backup's zip.
pub async fn download_backup(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    backup_download(&st, &me, ExportTarget::Task(parse_id(&id)?), &uri).await
}

/// `GET /api/projects/{id}/backup/download?rq_id=…`.
pub async fn download_project_backup(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    backup_download(&st, &me, ExportTarget::Project(parse_id(&id)?), &uri).await
}

/// A backup restored through the upload protocol (the one-shot form's file is
/// `field`); `project` for a project backup.
async fn restore(
    st: &AppState,
    me: &AuthUser,
    req: Request,
    field: &str,
    project: bool,
) -> ApiResult<Response> {
    let dest = Dest::Backup(me.user.id);
    uploads::authorize(st, me, dest).await?;
    let step = uploads::step(req.headers())?;
    let req = match uploads::common_step(st, me, dest, &step, req, field).await? {
        Ok(answer) => return Ok(answer),
        Err(req) => req,
    };
    let (file, scratch) = uploaded_file(st, dest, &step, req, field).await?;
    let started = st
        .core
        .backups()
        .start_restore(&me.actor, &file, project)
        .await;
    if let Some(dir) = scratch {
        let _ = tokio::fs::remove_dir_all(dir).await;
    }
    let _ = tokio::fs::remove_file(&file).await;
    Ok(accepted(started?))
}

/// `POST /api/tasks/backup/`: a backup restored as a new task (`task_file`). The
/// request's `result_id` is the new task.
pub async fn restore_backup(
    State(st): State<AppState>,
    me: AuthUser,
    req: Request,
) -> ApiResult<Response> {
    restore(&st, &me, req, "task_file", false).await
}

/// `POST /api/projects/backup/`: a project backup restored as a new project with its
/// tasks (`project_file`). The request's `result_id` is the new project; it is
/// finished when every task's media are processed and annotations written.
pub async fn restore_project_backup(
    State(st): State<AppState>,
    me: AuthUser,
    req: Request,
) -> ApiResult<Response> {
    restore(&st, &me, req, "project_file", true).await
}
