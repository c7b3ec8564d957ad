//! `/auth/*` and `/restrictions/*` (api-v1 §3).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrocat_wire::auth::{Detail, TokenKey};
use ferrocat_wire::server::UserAgreement;

use crate::app::AppState;
use crate::auth::{SESSION_COOKIE, clear_session_cookie, cookie, session_cookies};
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, Input, MaybeUser};

fn with_session(status: StatusCode, key: String, session: &ferrocat_core::Session) -> Response {
    let mut r = (status, Json(TokenKey { key })).into_response();
    for c in session_cookies(session) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// Log in with a username and password (JSON or form); answers the API token and sets
/// the session cookies.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content = ferrocat_wire::auth::LoginRequest, content_type = "application/json"),
    responses((status = 200, body = TokenKey), (status = 400, description = "Bad credentials"),
              (status = 429, description = "Throttled")))]
pub async fn login(
    State(st): State<AppState>,
    ip: crate::extract::ClientIp,
    input: Input,
) -> ApiResult<Response> {
    use crate::throttle::Key;
    let body = input.object()?;
    // failed attempts count, per address and per user name (crate::throttle)
    let name = ["username", "email"]
        .iter()
        .find_map(|k| body.get(*k).and_then(|v| v.as_str()))
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    let mut keys = vec![Key::LoginFrom(ip.0)];
    if !name.is_empty() {
        keys.push(Key::LoginAs(name));
    }
    st.limiter
        .blocked(&keys)
        .map_err(|wait_secs| ApiError::Throttled { wait_secs })?;
    match st.core.auth().login(body).await {
        Ok(done) => Ok(with_session(StatusCode::OK, done.token, &done.session)),
        Err(e) => {
            st.limiter.record(&keys);
            Err(e.into())
        }
    }
}

/// Register a new account; the new user is logged in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body(content = ferrocat_wire::auth::RegisterRequest, content_type = "application/json"),
    responses((status = 201, body = TokenKey), (status = 400, description = "Field errors"),
              (status = 429, description = "Throttled")))]
pub async fn register(State(st): State<AppState>, input: Input) -> ApiResult<Response> {
    let done = st.core.auth().register(input.object()?).await?;
    Ok(with_session(StatusCode::CREATED, done.token, &done.session))
}

/// Delete the caller's token and end the session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 200, body = Detail)))]
pub async fn logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    who: MaybeUser,
) -> ApiResult<Response> {
    let session = cookie(&headers, SESSION_COOKIE);
    st.core
        .auth()
        .logout(who.0.as_ref().map(|u| u.user.id), session.as_deref())
        .await?;
    let mut r = Json(Detail::new("Successfully logged out.")).into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, clear_session_cookie());
    Ok(r)
}

/// Change the caller's password (`old_password`, `new_password1`, `new_password2`).
#[utoipa::path(post, path = "/api/v1/auth/password/change", tag = "auth",
    request_body(content = ferrocat_wire::auth::PasswordChangeRequest, content_type = "application/json"),
    responses((status = 200, body = Detail), (status = 400, description = "Field errors"), (status = 401)))]
pub async fn password_change(
    State(st): State<AppState>,
    me: AuthUser,
    input: Input,
) -> ApiResult<Json<Detail>> {
    let current = me.session.as_ref().map(|s| s.key.as_str());
    st.core
        .auth()
        .change_password(&me.actor, current, input.object()?)
        .await?;
    Ok(Json(Detail::new("New password has been saved.")))
}

/// Agreements to accept at registration (no authentication).
#[utoipa::path(get, path = "/api/v1/restrictions/user-agreements", tag = "auth",
    responses((status = 200, body = Vec<UserAgreement>)))]
pub async fn user_agreements(State(st): State<AppState>) -> Json<Vec<UserAgreement>> {
    Json(st.core.server().user_agreements())
}
