//! The git plugin's repository status (api-v1 §12), at the server root. ferrocat has no
//! git integration: `GET /git/repository/get/{tid}` answers the "no repository" form the
//! seed frontend expects, and the probe `/git/repository/meta/get` stays a 404 so the
//! CVAT UI hides the feature (§13).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::ApiResult;
use crate::extract::AuthUser;
use crate::http::users::parse_id;

/// Repository URL and sync status of a task: always none.
#[utoipa::path(get, path = "/git/repository/get/{tid}", tag = "tasks", params(("tid" = i64, Path)),
    responses((status = 200, description = "{\"url\":{\"value\":null},\"status\":{\"value\":null,\"error\":null}}"), (status = 403), (status = 404)))]
pub async fn repository(
    State(st): State<AppState>,
    me: AuthUser,
    Path(tid): Path<String>,
) -> ApiResult<Json<Value>> {
    st.core.tasks().get(&me.actor, parse_id(&tid)?).await?;
    Ok(Json(
        json!({"url": {"value": null}, "status": {"value": null, "error": null}}),
    ))
}
