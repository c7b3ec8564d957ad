//! `/server/*` (api-v1 §11).

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use ferrocat_wire::server::{About, Exception};

use crate::app::AppState;
use crate::error::ApiResult;
use crate::extract::{AuthUser, Input};

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
