//! Operability: `/healthz` (liveness), `/readyz` (readiness) and `/metrics`
//! (Prometheus text format).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Liveness: 200 while the process serves requests, whatever the state of the database
/// (a restart would not bring that back; `/readyz` says whether to send traffic here).
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200)))]
pub async fn healthz(State(st): State<AppState>) -> Response {
    axum::Json(json!({"status": "ok", "database": st.core.db().backend()})).into_response()
}

/// How long each readiness check may take before it counts as failed.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Readiness: 200 when the database answers and the media store (the data folder) can
/// be written and read back; 503 naming what failed otherwise.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200), (status = 503)))]
pub async fn readyz(State(st): State<AppState>) -> Response {
    let db = st.core.db();
    let database = match tokio::time::timeout(READY_TIMEOUT, db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 3 s".to_string()),
    };
    let media = match tokio::time::timeout(READY_TIMEOUT, st.core.media_probe()).await {
        Ok(r) => r,
        Err(_) => Err("no answer within 3 s".to_string()),
    };
    let show = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!({"error": e}),
    };
    let body = json!({
        "status": if database.is_ok() && media.is_ok() { "ok" } else { "unavailable" },
        "database": show(&database),
        "media": show(&media),
    });
    let status = if database.is_ok() && media.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// Request counts by route and status, latency histograms.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}
