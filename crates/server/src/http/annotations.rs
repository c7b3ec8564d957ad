//! `/jobs/{id}/annotations` and `/tasks/{id}/annotations` (api-v1 §9.5, §9.6) and
//! `/server/logs` (§11.4).
//!
//! Reads answer with `ETag: "<version>"`; writes accept `If-Match: "<version>"` and
//! `Idempotency-Key` (see `ferrocat_core::annotations`).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrocat_core::annotations::{Action, WriteRequest, WriteResponse};
use ferrocat_core::exports::{ExportKind, Target as ExportTarget};
use ferrocat_wire::annotations::LabeledData;
use ferrocat_wire::logs::LogEvent;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Input, Origin, QueryPairs};
use crate::http::users::parse_id;

#[derive(Clone, Copy)]
enum Target {
    Job(i64),
    Task(i64),
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits and quotes")
}

fn json_response(status: StatusCode, body: impl Into<Bytes>, version: Option<i64>) -> Response {
    let mut r = Response::new(Body::from(body.into()));
    *r.status_mut() = status;
    if status != StatusCode::NO_CONTENT {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if let Some(v) = version {
        r.headers_mut().insert(header::ETAG, etag(v));
    }
    r
}

fn document(doc: &LabeledData) -> ApiResult<Response> {
    let body = serde_json::to_vec(doc).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(json_response(StatusCode::OK, body, Some(doc.version)))
}

/// `PUT ?format=F` is an import (§10.3): the multipart `annotation_file` (optional after
/// the first request; an empty or non-multipart body is accepted and ignored).
async fn import(
    st: &AppState,
    me: &AuthUser,
    target: ferrocat_core::imports::Target,
    format: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    use ferrocat_core::imports::ImportAnswer;
    let file = annotation_file(headers, body).await?;
    let answer = st
        .core
        .imports()
        .request(&me.actor, target, format, file)
        .await?;
    Ok(match answer {
        ImportAnswer::Accepted => crate::http::tasks::empty(StatusCode::ACCEPTED),
        ImportAnswer::Done => crate::http::tasks::empty(StatusCode::CREATED),
        ImportAnswer::Failed(msg) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::Value::String(msg)),
        )
            .into_response(),
    })
}

/// The `annotation_file` part of a multipart body, if there is one. A body that is not
/// multipart, or that breaks off, holds no file (clients re-send empty bodies while an
/// import runs; the first request without a file is answered with a field error).
async fn annotation_file(headers: &HeaderMap, body: Bytes) -> ApiResult<Option<Vec<u8>>> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Ok(boundary) = multer::parse_boundary(ctype) else {
        return Ok(None);
    };
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    while let Ok(Some(field)) = mp.next_field().await {
        if field.name() == Some("annotation_file") {
            return Ok(field.bytes().await.ok().map(|b| b.to_vec()));
        }
    }
    Ok(None)
}

/// `If-Match`: `"7"`, `W/"7"` or `7`; `*` means no condition.
fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("").trim();
    if s == "*" {
        return Ok(None);
    }
    let bare = s.trim_start_matches("W/").trim_matches('"');
    bare.parse::<i64>().map(Some).map_err(|_| {
        ApiError::BadRequest(
            "If-Match must hold an annotation version as the ETag of GET …/annotations gives it, e.g. \"7\"."
                .into(),
        )
    })
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            ApiError::BadRequest("Idempotency-Key must be visible ASCII characters.".into())
        }),
    }
}

/// Only JSON bodies carry annotation documents.
fn require_json(headers: &HeaderMap, body: &[u8]) -> ApiResult<()> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime.is_empty() || mime == "application/json" || mime.ends_with("+json") {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest(
                "JSON parse error - the body is empty".into(),
            ));
        }
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType(format!(
        "Unsupported media type \"{ctype}\" in request."
    )))
}

#[allow(clippy::too_many_arguments)]
async fn write(
    st: &AppState,
    me: &AuthUser,
    target: Target,
    action: Action,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Response> {
    if action != Action::Clear {
        require_json(headers, body)?;
    }
    let request_line = format!("{method} {uri}");
    let req = WriteRequest {
        action,
        body,
        if_match: if_match(headers)?,
        idempotency_key: idempotency_key(headers)?,
        request_line: &request_line,
        import: false,
    };
    let svc = st.core.annotations();
    let WriteResponse {
        status,
        body,
        version,
        replayed,
    } = match target {
        Target::Job(id) => svc.job_write(&me.actor, id, req).await?,
        Target::Task(id) => svc.task_write(&me.actor, id, req).await?,
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut r = json_response(status, body, version);
    if replayed {
        r.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(r)
}

fn patch_action(uri: &axum::http::Uri) -> ApiResult<Action> {
    let q = QueryPairs::parse(uri.query());
    Ok(Action::from_patch(q.get("action"))?)
}

/// A job's annotations, with attribute defaults filled in; `ETag` is the version.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/annotations", tag = "jobs", params(("id" = i64, Path)),
    responses((status = 200, body = ferrocat_wire::annotations::LabeledData), (status = 403), (status = 404)))]
pub async fn job_get(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (body, version) = st
        .core
        .annotations()
        .job_get_json(&me.actor, parse_id(&id)?)
        .await?;
    // served from the shared buffer, without a copy
    Ok(json_response(StatusCode::OK, body, Some(version)))
}

/// Replace a job's annotations. `If-Match` and `Idempotency-Key` are honoured.
#[utoipa::path(put, path = "/api/v1/jobs/{id}/annotations", tag = "jobs", params(("id" = i64, Path)),
    request_body(content = ferrocat_wire::annotations::LabeledData, content_type = "application/json"),
    responses((status = 200, description = "The stored objects with ids and the new version", body = ferrocat_wire::annotations::LabeledData), (status = 400), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn job_put(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    if let Some(f) = QueryPairs::parse(uri.query()).get("format") {
        return import(
            &st,
            &me,
            ferrocat_core::imports::Target::Job(id),
            f,
            &headers,
            body,
        )
        .await;
    }
    write(
        &st,
        &me,
        Target::Job(id),
        Action::Replace,
        &method,
        &uri,
        &headers,
        &body,
    )
    .await
}

/// `?action=create|update|delete` on a job's annotations.
#[utoipa::path(patch, path = "/api/v1/jobs/{id}/annotations", tag = "jobs", params(("id" = i64, Path), ("action" = String, Query)),
    request_body(content = ferrocat_wire::annotations::LabeledData, content_type = "application/json"),
    responses((status = 200, description = "The objects in request order with ids, and the new version", body = ferrocat_wire::annotations::LabeledData), (status = 400), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn job_patch(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let action = patch_action(&uri)?;
    write(
        &st,
        &me,
        Target::Job(id),
        action,
        &method,
        &uri,
        &headers,
        &body,
    )
    .await
}

/// Delete every annotation of a job (204).
#[utoipa::path(delete, path = "/api/v1/jobs/{id}/annotations", tag = "jobs", params(("id" = i64, Path)),
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub async fn job_delete(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    write(
        &st,
        &me,
        Target::Job(id),
        Action::Clear,
        &method,
        &uri,
        &headers,
        &[],
    )
    .await
}

/// A task's annotations: its jobs' documents merged (§9.6.3).
#[utoipa::path(get, path = "/api/v1/tasks/{id}/annotations", tag = "tasks", params(("id" = i64, Path)),
    responses((status = 200, body = ferrocat_wire::annotations::LabeledData), (status = 403), (status = 404)))]
pub async fn task_get(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    origin: Origin,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let pairs = QueryPairs::parse(uri.query());
    if pairs.get("format").is_some() {
        return export(
            &st,
            &me,
            ExportTarget::Task(id),
            ExportKind::Annotations,
            &pairs.0,
            &origin,
        )
        .await;
    }
    let doc = st.core.annotations().task_get(&me.actor, id).await?;
    document(&doc)
}

/// Replace a task's annotations (sliced to its jobs, one transaction).
#[utoipa::path(put, path = "/api/v1/tasks/{id}/annotations", tag = "tasks", params(("id" = i64, Path)),
    request_body(content = ferrocat_wire::annotations::LabeledData, content_type = "application/json"),
    responses((status = 200, description = "The stored objects, merged", body = ferrocat_wire::annotations::LabeledData), (status = 400), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn task_put(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    if let Some(f) = QueryPairs::parse(uri.query()).get("format") {
        return import(
            &st,
            &me,
            ferrocat_core::imports::Target::Task(id),
            f,
            &headers,
            body,
        )
        .await;
    }
    write(
        &st,
        &me,
        Target::Task(id),
        Action::Replace,
        &method,
        &uri,
        &headers,
        &body,
    )
    .await
}

/// `?action=create|update|delete` on a task's annotations.
#[utoipa::path(patch, path = "/api/v1/tasks/{id}/annotations", tag = "tasks", params(("id" = i64, Path), ("action" = String, Query)),
    request_body(content = ferrocat_wire::annotations::LabeledData, content_type = "application/json"),
    responses((status = 200, description = "The objects with ids, merged", body = ferrocat_wire::annotations::LabeledData), (status = 400), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn task_patch(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let action = patch_action(&uri)?;
    write(
        &st,
        &me,
        Target::Task(id),
        action,
        &method,
        &uri,
        &headers,
        &body,
    )
    .await
}

/// Delete every annotation of a task (204).
#[utoipa::path(delete, path = "/api/v1/tasks/{id}/annotations", tag = "tasks", params(("id" = i64, Path)),
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub async fn task_delete(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    write(
        &st,
        &me,
        Target::Task(id),
        Action::Clear,
        &method,
        &uri,
        &headers,
        &[],
    )
    .await
}

/// A task's annotations and images in a format (§10.2): 202 while the file is made,
/// 201 when it is ready, the zip with `action=download`.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/dataset", tag = "tasks",
    params(("id" = i64, Path), ("format" = String, Query), ("action" = Option<String>, Query), ("filename" = Option<String>, Query)),
    responses((status = 200, description = "The zip"), (status = 201), (status = 202), (status = 400), (status = 403), (status = 404), (status = 405), (status = 500)))]
pub async fn task_dataset(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    origin: Origin,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let pairs = QueryPairs::parse(uri.query());
    export(
        &st,
        &me,
        ExportTarget::Task(id),
        ExportKind::Dataset,
        &pairs.0,
        &origin,
    )
    .await
}

/// The §10.2 export protocol: 202 while the file is made, 201 when it is ready, the file
/// with `action=download`, 500 with the message when it failed.
pub(crate) async fn export(
    st: &AppState,
    me: &AuthUser,
    target: ExportTarget,
    kind: ExportKind,
    query: &[(String, String)],
    origin: &Origin,
) -> ApiResult<Response> {
    use ferrocat_core::exports::ExportAnswer;
    let answer = st
        .core
        .exports()
        .request(&me.actor, target, kind, query, &origin.0)
        .await?;
    Ok(match answer {
        ExportAnswer::Accepted => crate::http::tasks::empty(StatusCode::ACCEPTED),
        ExportAnswer::Ready => crate::http::tasks::empty(StatusCode::CREATED),
        ExportAnswer::Failed(msg) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::Value::String(msg)),
        )
            .into_response(),
        ExportAnswer::Download { path, filename } => {
            crate::http::files::download(
                st.core.media(),
                &path,
                "application/zip",
                disposition(&filename),
            )
            .await?
        }
    })
}

/// `attachment; filename="…"`, with RFC 6266 `filename*=` for non-ASCII names.
pub(crate) fn disposition(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && c != '"' && c != '\\' && !c.is_ascii_control() {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut v = format!("attachment; filename=\"{ascii}\"");
    if ascii != name {
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        v.push_str(&format!("; filename*=UTF-8''{encoded}"));
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Every format CVAT 1.1 lists; `enabled` tells which ferrocat implements (§10.1).
#[utoipa::path(get, path = "/api/v1/server/annotation/formats", tag = "server",
    responses((status = 200, description = "importers and exporters"), (status = 401)))]
pub async fn formats(_me: AuthUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "importers": ferrocat_formats::IMPORTERS,
        "exporters": ferrocat_formats::EXPORTERS,
    }))
}

/// Store client events; answers them validated (§11.4).
#[utoipa::path(post, path = "/api/v1/server/logs", tag = "server",
    request_body(content = Vec<LogEvent>, content_type = "application/json"),
    responses((status = 201, body = Vec<LogEvent>), (status = 400), (status = 401)))]
pub async fn logs(
    State(st): State<AppState>,
    me: AuthUser,
    input: Input,
) -> ApiResult<impl IntoResponse> {
    let events = st.core.server().log_events(&me.actor, &input.0).await?;
    Ok((StatusCode::CREATED, Json(events)))
}
