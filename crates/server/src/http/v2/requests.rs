//! `/api/requests`: CVAT 2's background requests, read from the queue
//! (`ferrocat_core::requests`).

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use ferrocat_core::requests::RequestView;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::ApiResult;
use crate::extract::{AuthUser, Origin};
use crate::pagination::PageQuery;

/// A request as CVAT 2's `Request` model.
fn render(st: &AppState, v: &RequestView, origin: &Origin, owner: Option<Value>) -> Value {
    let tz = st.core.config().time_zone;
    let date = |d| ferrocat_wire::time::render(d, tz);
    let op = &v.operation;
    json!({
        "id": v.id,
        "status": v.status,
        "message": v.message,
        "progress": v.progress,
        "operation": {"type": op.kind, "target": op.target, "task_id": op.task_id,
                      "project_id": op.project_id, "job_id": op.job_id, "format": op.format,
                      "function_id": null},
        "created_date": date(v.created),
        "started_date": v.started.map(date),
        "finished_date": v.finished.map(date),
        "expiry_date": v.expiry.map(date),
        "owner": owner,
        "result_url": v.result_path.as_ref().map(|p| format!("{}{p}", origin.0)),
        "result_id": v.result_id,
    })
}

/// The owner as `{id, username}` (the caller for its own list).
async fn owner(st: &AppState, id: Option<i64>) -> ApiResult<Option<Value>> {
    let Some(id) = id else { return Ok(None) };
    Ok(st
        .core
        .db()
        .user(id)
        .await?
        .map(|u| json!({"id": u.id, "username": u.username})))
}

/// `GET /api/requests/{rq_id}`.
pub async fn retrieve(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(rq): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = st.core.requests().get(&me.actor, &rq).await?;
    let who = owner(&st, v.owner).await?;
    Ok(Json(render(&st, &v, &origin, who)))
}

/// `GET /api/requests`: the caller's requests, newest first, filtered by `action`
/// (`create`, `export`, `import`), `target`, `subresource`, `task_id`, `job_id`,
/// `project_id`, `status`, `format`; paginated.
pub async fn list(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<ferrocat_wire::Page<Value>>> {
    let pq = PageQuery::from_query(uri.query());
    let pairs = crate::extract::QueryPairs::parse(uri.query());
    let who = Some(json!({"id": me.user.id, "username": me.user.username}));
    let rows: Vec<Value> = st
        .core
        .requests()
        .list(&me.actor)
        .await?
        .iter()
        .map(|v| render(&st, v, &origin, who.clone()))
        .filter(|r| {
            let ty = r["operation"]["type"].as_str().unwrap_or_default();
            let (action, sub) = ty.split_once(':').unwrap_or((ty, ""));
            let matches = |k: &str, have: &Value| {
                pairs.get(k).is_none_or(|want| match have {
                    Value::String(s) => s == want,
                    Value::Number(n) => n.to_string() == want,
                    _ => false,
                })
            };
            matches("action", &json!(action))
                && matches("subresource", &json!(sub))
                && matches("target", &r["operation"]["target"])
                && matches("task_id", &r["operation"]["task_id"])
                && matches("job_id", &r["operation"]["job_id"])
                && matches("project_id", &r["operation"]["project_id"])
                && matches("format", &r["operation"]["format"])
                && matches("status", &r["status"])
        })
        .collect();
    Ok(Json(pq.page_of(&origin, &uri, rows)?))
}

/// `POST /api/requests/{rq_id}/cancel`: 200 when a queued request was removed.
pub async fn cancel(
    State(st): State<AppState>,
    me: AuthUser,
    Path(rq): Path<String>,
) -> ApiResult<StatusCode> {
    st.core.requests().cancel(&me.actor, &rq).await?;
    Ok(StatusCode::OK)
}
