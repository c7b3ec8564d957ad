//! The dataset repository routes (api-v1 §12), at the server root: link a task to a
//! git remote, push its annotations, and read the state ([`ferrocat_core::git`]).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::ApiResult;
use crate::extract::{AuthUser, Input, Origin};
use crate::http::users::parse_id;

/// Link a task to a repository: body `{"path": "<url> [<file path>]", "lfs": bool}`;
/// the remote is checked in the background.
#[utoipa::path(post, path = "/git/repository/create/{tid}", tag = "git", params(("tid" = i64, Path)),
    request_body(content = ferrocat_wire::tasks::GitCreateRequest, content_type = "application/json"),
    responses((status = 200, description = "{\"rq_id\": \"git.create.<tid>\"}"), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn create(
    State(st): State<AppState>,
    me: AuthUser,
    Path(tid): Path<String>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let rq = st
        .core
        .git()
        .create(&me.actor, parse_id(&tid)?, input.object()?)
        .await?;
    Ok(Json(json!({ "rq_id": rq })))
}

/// Repository URL and sync status of a task (all null without a repository).
#[utoipa::path(get, path = "/git/repository/get/{tid}", tag = "git", params(("tid" = i64, Path)),
    responses((status = 200, description = "{\"url\":{\"value\":…},\"status\":{\"value\":…,\"error\":…}}"), (status = 401), (status = 403), (status = 404)))]
pub async fn repository(
    State(st): State<AppState>,
    me: AuthUser,
    Path(tid): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(st.core.git().get(&me.actor, parse_id(&tid)?).await?))
}

/// Push the task's annotations to its repository (in the background).
#[utoipa::path(get, path = "/git/repository/push/{tid}", tag = "git", params(("tid" = i64, Path)),
    responses((status = 200, description = "{\"rq_id\": \"git.push.<tid>\"}"), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn push(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(tid): Path<String>,
) -> ApiResult<Json<Value>> {
    let rq = st
        .core
        .git()
        .push(&me.actor, parse_id(&tid)?, &origin.0)
        .await?;
    Ok(Json(json!({ "rq_id": rq })))
}

/// The state of a create or push request: `queued`, `started`, `finished`, `failed`
/// (with `stderr`) or `unknown`.
#[utoipa::path(get, path = "/git/repository/check/{rq_id}", tag = "git", params(("rq_id" = String, Path)),
    responses((status = 200, description = "{\"status\": …}"), (status = 401), (status = 404)))]
pub async fn check(
    State(st): State<AppState>,
    _me: AuthUser,
    Path(rq): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(st.core.git().check(&rq).await?))
}

/// `{"<task id>": "<status>"}` for every linked task the caller sees (any method, as
/// CVAT's UI probes it with OPTIONS).
#[utoipa::path(get, path = "/git/repository/meta/get", tag = "git",
    responses((status = 200, description = "{\"<tid>\": \"<status>\"}"), (status = 401)))]
pub async fn meta(State(st): State<AppState>, me: AuthUser) -> ApiResult<Json<Value>> {
    Ok(Json(st.core.git().meta(&me.actor).await?))
}
