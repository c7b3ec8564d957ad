//! CVAT 2's upload protocol over HTTP (api-v2.md §4), for task data, annotation files
//! and backups alike: a POST is one step of a session (`Upload-Start`,
//! `Upload-Multiple`, `Upload-Finish`), a TUS creation (`Upload-Length`), or, with none
//! of these headers, a whole upload in one request. TUS `HEAD` and `PATCH` go to the
//! upload's own URL, `<endpoint>/<id>`. The bookkeeping is `ferrocat_core::uploads`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ferrocat_core::imports::Target;
use ferrocat_core::uploads::{Dest, TusUpload};

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Origin};
use crate::http::users::parse_id;

/// The TUS version spoken.
const TUS_VERSION: &str = "1.0.0";

/// What a POST to an upload endpoint asks for.
pub(super) enum Step {
    Start,
    Multiple,
    Finish,
    /// A TUS creation of `length` bytes named `filename`.
    Create {
        length: u64,
        filename: String,
    },
    /// The whole upload in this request (no protocol header).
    Single,
}

/// The value of one `Upload-Metadata` key (`key base64, key base64`).
fn metadata(h: &HeaderMap, key: &str) -> Option<String> {
    let v = h.get("upload-metadata")?.to_str().ok()?;
    v.split(',').find_map(|pair| {
        let mut it = pair.trim().splitn(2, ' ');
        (it.next()? == key).then_some(())?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(it.next().unwrap_or("").trim())
            .ok()?;
        String::from_utf8(bytes).ok()
    })
}

pub(super) fn step(h: &HeaderMap) -> ApiResult<Step> {
    if let Some(len) = h.get("upload-length") {
        let length = len
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::BadRequest("Upload-Length must be a byte count".into()))?;
        let filename = metadata(h, "filename").ok_or_else(|| {
            ApiError::BadRequest("Upload-Metadata must carry the filename".into())
        })?;
        return Ok(Step::Create { length, filename });
    }
    let has = |k: &str| h.contains_key(k);
    Ok(
        match (
            has("upload-start"),
            has("upload-multiple"),
            has("upload-finish"),
        ) {
            (true, false, false) => Step::Start,
            (false, true, false) => Step::Multiple,
            (false, _, true) => Step::Finish,
            // both or neither: the one-shot upload of v1 (api-v2.md §4)
            _ => Step::Single,
        },
    )
}

fn tus_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn offsets(r: &mut Response, up: &TusUpload) {
    let h = r.headers_mut();
    h.insert("upload-offset", HeaderValue::from(up.offset));
    h.insert("upload-length", HeaderValue::from(up.length));
}

/// The steps every upload endpoint answers alike: `Upload-Start` (202),
/// `Upload-Multiple` (200, `files_field` parts) and TUS creation (201 with `Location`
/// and `Upload-Filename`). The rest (finish, one-shot) is the endpoint's own:
/// `Ok(Err(request))` hands it back.
pub(super) async fn common_step(
    st: &AppState,
    me: &AuthUser,
    dest: Dest,
    step: &Step,
    req: Request,
    files_field: &str,
) -> ApiResult<Result<Response, Request>> {
    let uploads = st.core.uploads();
    match step {
        Step::Start => {
            uploads.start(dest).await?;
            Ok(Ok(StatusCode::ACCEPTED.into_response()))
        }
        Step::Multiple => {
            let batch = st.core.tasks().staging_dir().await?;
            let max = st.core.config().max_upload_bytes;
            let read = crate::http::tasks::read_upload_files(req, &batch, max, files_field).await;
            let added = match read {
                Ok((_, names)) => uploads.add(dest, &batch, &names).await.map_err(Into::into),
                Err(e) => Err(e),
            };
            let _ = tokio::fs::remove_dir_all(&batch).await;
            added?;
            Ok(Ok(StatusCode::OK.into_response()))
        }
        Step::Create { length, filename } => {
            let up = uploads
                .tus_create(dest, me.user.id, *length, filename)
                .await?;
            let origin = Origin::from_headers(req.headers());
            // the path as the client sent it (this router is nested under `/api`)
            let path = req
                .extensions()
                .get::<OriginalUri>()
                .map_or_else(|| req.uri().path(), |u| u.0.path())
                .trim_end_matches('/')
                .to_string();
            let mut r = StatusCode::CREATED.into_response();
            tus_headers(&mut r);
            let location = format!("{}{path}/{}", origin.0, up.id);
            let h = r.headers_mut();
            h.insert(
                header::LOCATION,
                HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.to_string()))?,
            );
            h.insert(
                "upload-filename",
                HeaderValue::from_str(&up.filename)
                    .unwrap_or_else(|_| HeaderValue::from_static("upload")),
            );
            Ok(Ok(r))
        }
        Step::Finish | Step::Single => Ok(Err(req)),
    }
}

/// Whose upload a TUS URL is, from its path: `/api/tasks/{id}/data/…`,
/// `/api/tasks/{id}/annotations/…`, `/api/jobs/{id}/annotations/…`, `/api/tasks/backup/…`.
/// The caller must be allowed to upload there now, as when it started.
async fn dest_of(
    st: &AppState,
    me: &AuthUser,
    uri: &axum::http::Uri,
    params: &HashMap<String, String>,
) -> ApiResult<Dest> {
    let path = uri.path();
    let id = || parse_id(params.get("id").map_or("", String::as_str));
    let dest = if path.contains("/tasks/backup/") || path.contains("/projects/backup/") {
        Dest::Backup(me.user.id)
    } else if path.contains("/jobs/") {
        Dest::Annotations(Target::Job(id()?), me.user.id)
    } else if path.contains("/annotations/") {
        Dest::Annotations(Target::Task(id()?), me.user.id)
    } else {
        Dest::TaskData(id()?)
    };
    authorize(st, me, dest).await?;
    Ok(dest)
}

/// Checks that the caller may upload into `dest`.
pub(super) async fn authorize(st: &AppState, me: &AuthUser, dest: Dest) -> ApiResult<()> {
    match dest {
        Dest::TaskData(id) => st.core.tasks().can_attach_data(&me.actor, id).await?,
        Dest::Annotations(target, _) => {
            // the format is checked when the import starts
            st.core.imports().check_access(&me.actor, target).await?
        }
        Dest::Backup(_) => st.core.backups().check_restore(&me.actor)?,
    }
    Ok(())
}

/// TUS `HEAD <upload>`: where the upload stands.
pub async fn tus_head(
    State(st): State<AppState>,
    me: AuthUser,
    OriginalUri(uri): OriginalUri,
    Path(params): Path<HashMap<String, String>>,
) -> ApiResult<Response> {
    let dest = dest_of(&st, &me, &uri, &params).await?;
    let file = params.get("file_id").map_or("", String::as_str);
    let up = st.core.uploads().tus_info(dest, me.user.id, file).await?;
    let mut r = StatusCode::OK.into_response();
    tus_headers(&mut r);
    offsets(&mut r, &up);
    Ok(r)
}

/// TUS `PATCH <upload>` with `Upload-Offset` and an `application/offset+octet-stream`
/// body, streamed to disk: 204 with the new `Upload-Offset`; 409 on a wrong offset.
pub async fn tus_patch(
    State(st): State<AppState>,
    me: AuthUser,
    OriginalUri(uri): OriginalUri,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let dest = dest_of(&st, &me, &uri, &params).await?;
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ctype.starts_with("application/offset+octet-stream") {
        return Err(ApiError::UnsupportedMediaType(
            "A TUS PATCH carries Content-Type: application/offset+octet-stream".into(),
        ));
    }
    let offset = headers
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| ApiError::BadRequest("Upload-Offset must be a byte offset".into()))?;
    let file = params.get("file_id").map_or("", String::as_str);
    let up = st
        .core
        .uploads()
        .tus_append(dest, me.user.id, file, offset, body.into_data_stream())
        .await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut r);
    offsets(&mut r, &up);
    Ok(r)
}
