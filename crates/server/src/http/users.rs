//! `/users` (api-v1 §4.5).

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use ferrocat_core::User;
use ferrocat_core::users::Form;
use ferrocat_wire::Page;
use ferrocat_wire::users::{AnyUser, BasicUser, User as WireUser};

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Input, Origin};
use crate::pagination::PageQuery;

/// Renders a user in the given form.
pub fn render(u: &User, form: Form, origin: &Origin, tz: chrono_tz::Tz) -> AnyUser {
    let full = WireUser {
        url: origin.api(&format!("users/{}", u.id)),
        id: u.id,
        username: u.username.clone(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        email: u.email.clone(),
        groups: u.groups.clone(),
        is_staff: u.is_staff,
        is_superuser: u.is_superuser,
        is_active: u.is_active,
        last_login: u.last_login.map(|t| ferrocat_wire::time::render(t, tz)),
        date_joined: ferrocat_wire::time::render(u.date_joined, tz),
    };
    match form {
        Form::Full => AnyUser::Full(full),
        Form::Basic => AnyUser::Basic(BasicUser::from(full)),
    }
}

/// Path ids: anything that is not a positive integer is a 404.
pub fn parse_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(ApiError::not_found)
}

/// All users, ordered by id (`page_size=all` supported, `ordering=` accepted).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(("page" = Option<String>, Query), ("page_size" = Option<String>, Query), ("ordering" = Option<String>, Query)),
    responses((status = 200, description = "A page of users"), (status = 401)))]
pub async fn list(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Page<AnyUser>>> {
    let pq = PageQuery::from_query(uri.query());
    let users = st.core.users();
    let count = users.count().await?;
    let (page, offset, limit) = pq.window(count)?;
    let q = crate::extract::QueryPairs::parse(uri.query());
    let ordering = q.get("ordering");
    let rows = users.list(&me.actor, ordering, offset, limit).await?;
    let form = users.list_form(&me.actor);
    let tz = st.core.config().time_zone;
    let results = rows.iter().map(|u| render(u, form, &origin, tz)).collect();
    Ok(Json(pq.envelope(&origin, &uri, count, page, results)))
}

/// The caller, in the full form.
#[utoipa::path(get, path = "/api/v1/users/self", tag = "users",
    responses((status = 200, body = WireUser), (status = 401)))]
pub async fn me(State(st): State<AppState>, me: AuthUser, origin: Origin) -> Json<AnyUser> {
    Json(render(
        &me.user,
        Form::Full,
        &origin,
        st.core.config().time_zone,
    ))
}

/// One user (full form for staff and for oneself, basic otherwise).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = AnyUser), (status = 401), (status = 404)))]
pub async fn retrieve(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<Json<AnyUser>> {
    let id = parse_id(&id)?;
    let users = st.core.users();
    let u = users.get(id).await?;
    Ok(Json(render(
        &u,
        users.read_form(&me.actor, id),
        &origin,
        st.core.config().time_zone,
    )))
}

/// Edit a user: the user themself or an admin; staff may change groups and flags.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    request_body(content = ferrocat_wire::users::UserPatchRequest, content_type = "application/json"),
    responses((status = 200, body = AnyUser), (status = 400), (status = 403), (status = 404)))]
pub async fn update(
    State(st): State<AppState>,
    me: AuthUser,
    origin: Origin,
    Path(id): Path<String>,
    input: Input,
) -> ApiResult<Json<AnyUser>> {
    let id = parse_id(&id)?;
    let (u, form) = st
        .core
        .users()
        .patch(&me.actor, id, input.object()?)
        .await?;
    Ok(Json(render(&u, form, &origin, st.core.config().time_zone)))
}

/// Delete a user: the user themself or an admin.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn destroy(
    State(st): State<AppState>,
    me: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    st.core.users().delete(&me.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
