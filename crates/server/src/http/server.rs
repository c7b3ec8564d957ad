//! `/server/*` (api-v1 §11).

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use ferrocat_wire::server::{About, Exception};

use crate::app::AppState;
use crate::error::ApiResult;
use crate::extract::{AuthUser, Input, Origin};

/// The API's index (DRF's root view, api-v1 §2.1): the collections a client starts
/// from. CVAT 1.1 also lists `plugins`, a vestigial collection ferrocat does not serve
/// (§11.5), so it is left out rather than pointing at a 404.
#[utoipa::path(get, path = "/api/v1/", tag = "server", responses((status = 200, description = "{\"projects\": url, \"tasks\": url, \"users\": url}"), (status = 401)))]
pub async fn root(_me: AuthUser, origin: Origin) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "projects": origin.api("projects"),
        "tasks": origin.api("tasks"),
        "users": origin.api("users"),
    }))
}

/// Server name, version and description.
#[utoipa::path(get, path = "/api/v1/server/about", tag = "server", responses((status = 200, body = About), (status = 401)))]
pub async fn about(State(st): State<AppState>, _me: AuthUser) -> Json<About> {
    Json(st.core.server().about())
}

/// Store a client crash report; answers the validated fields.
#[utoipa::path(post, path = "/api/v1/server/exception", tag = "server",
    request_body(content = Exception, content_type = "application/json"),
    responses((status = 201, body = Exception), (status = 400), (status = 401)))]
pub async fn exception(
    State(st): State<AppState>,
    me: AuthUser,
    input: Input,
) -> ApiResult<(StatusCode, Json<Exception>)> {
    let e = st
        .core
        .server()
        .report_exception(&me.actor, input.object()?)
        .await?;
    Ok((StatusCode::CREATED, Json(e)))
}

/// One directory of the server share: `[{"name", "type": "REG" | "DIR"}]`, directories
/// first, then by name.
#[utoipa::path(get, path = "/api/v1/server/share", tag = "server", params(("directory" = Option<String>, Query)),
    responses((status = 200, body = Vec<ferrocat_wire::tasks::ShareEntry>), (status = 400), (status = 401)))]
pub async fn share(
    State(st): State<AppState>,
    _me: AuthUser,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Vec<ferrocat_wire::tasks::ShareEntry>>> {
    let q = crate::extract::QueryPairs::parse(uri.query());
    let dir = q.get("directory").unwrap_or("/");
    Ok(Json(ferrocat_core::share::list(
        &st.core.config().share_dir,
        dir,
    )?))
}
