//! The HTTP routes, one module per resource, assembled by [`router`].

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::AppState;
use crate::error::ApiError;

pub mod annotations;
pub mod auth;
pub mod files;
pub mod git;
pub mod openapi;
pub mod ops;
pub mod projects;
pub mod server;
pub mod tasks;
pub mod users;
pub mod v2;
pub mod web;

/// Largest non-file request body (CVAT's setting).
pub const MAX_BODY: usize = 100 * 1024 * 1024;

/// The `/api/v1` routes.
fn api(state: &AppState) -> Router<AppState> {
    let throttled = Router::new()
        .route("/auth/register", post(auth::register))
        .route_layer(middleware::from_fn_with_state(
            state.limiter.clone(),
            crate::middleware::rate_limit,
        ));
    Router::new()
        .merge(throttled)
        // throttled inside the handler: only failures count (crate::throttle)
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/password/change", post(auth::password_change))
        .route("/restrictions/user-agreements", get(auth::user_agreements))
        .route("/users", get(users::list))
        .route("/users/self", get(users::me))
        .route(
            "/users/{id}",
            get(users::retrieve)
                .patch(users::update)
                .delete(users::destroy),
        )
        .route("/server/about", get(server::about))
        .route("/server/exception", post(server::exception))
        .route("/server/share", get(server::share))
        .route("/server/logs", post(annotations::logs))
        .route("/server/annotation/formats", get(annotations::formats))
        .route("/projects", get(projects::list).post(projects::create))
        .route(
            "/projects/{id}",
            get(projects::retrieve)
                .patch(projects::update)
                .delete(projects::destroy),
        )
        .route("/projects/{id}/tasks", get(projects::tasks))
        .route("/projects/{id}/annotations", get(projects::annotations))
        .route("/projects/{id}/dataset", get(projects::dataset))
        .route("/tasks", get(tasks::list).post(tasks::create))
        .route(
            "/tasks/{id}",
            get(tasks::retrieve)
                .patch(tasks::update)
                .put(tasks::replace)
                .delete(tasks::destroy),
        )
        .route("/tasks/{id}/jobs", get(tasks::jobs))
        .route("/tasks/{id}/dataset", get(annotations::task_dataset))
        .route(
            "/tasks/{id}/annotations",
            get(annotations::task_get)
                .put(annotations::task_put)
                .patch(annotations::task_patch)
                .delete(annotations::task_delete),
        )
        .route(
            "/jobs/{id}/annotations",
            get(annotations::job_get)
                .put(annotations::job_put)
                .patch(annotations::job_patch)
                .delete(annotations::job_delete),
        )
        .route(
            "/tasks/{id}/data",
            // uploads are streamed to disk, so their size is not limited
            get(tasks::data)
                .post(tasks::upload)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/tasks/{id}/data/meta", get(tasks::meta))
        .route("/tasks/{id}/status", get(tasks::status))
        .route(
            "/jobs/{id}",
            get(tasks::job)
                .patch(tasks::update_job)
                .put(tasks::update_job),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ))
}

/// The dataset repository routes (api-v1 §12), at the root, authenticated like the API.
fn git_routes(state: &AppState) -> Router<AppState> {
    use axum::routing::any;
    Router::new()
        .route("/git/repository/create/{tid}", post(git::create))
        .route("/git/repository/get/{tid}", get(git::repository))
        .route("/git/repository/push/{tid}", get(git::push))
        .route("/git/repository/check/{rq_id}", get(git::check))
        .route("/git/repository/meta/get", any(git::meta))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ))
}

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api(&state))
        .nest("/api", v2::router(&state))
        .route(
            "/api/v1/",
            get(server::root).route_layer(middleware::from_fn_with_state(
                state.clone(),
                crate::auth::authenticate,
            )),
        )
        .merge(git_routes(&state))
        .merge(ops::router())
        .merge(web::router())
        .merge(openapi::router())
        .fallback(not_found)
        .layer(middleware::from_fn(method_not_allowed_body))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Unknown paths: 404 for every method, without authentication (api-v1 §13).
async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// Gives axum's bare 405 responses DRF's body.
async fn method_not_allowed_body(req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let resp = next.run(req).await;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && !resp.headers().contains_key("content-type")
    {
        let allow = resp.headers().get("allow").cloned();
        let mut r = ApiError::method_not_allowed(&method).into_response();
        if let Some(a) = allow {
            r.headers_mut().insert("allow", a);
        }
        return r;
    }
    resp
}
