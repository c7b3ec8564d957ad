//! Who is calling (api-v1 §3.1): `Authorization: Token`, `Bearer` (CVAT 2's personal
//! access tokens), HTTP Basic, or the `sessionid`
//! cookie with CSRF for unsafe methods. The [`authenticate`] middleware resolves the
//! credentials once per request and leaves an [`Authn`] for the extractors; it does not
//! reject anything itself, so public endpoints and unknown paths never require
//! authentication. Token clients that arrive without a valid session get one
//! (§3.1.2: browser downloads rely on the cookie).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use ferrocat_core::{Error as CoreError, Session, User};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "sessionid";
pub const CSRF_COOKIE: &str = "csrftoken";
const SESSION_MAX_AGE: i64 = 14 * 24 * 3600;
const CSRF_MAX_AGE: i64 = 31_449_600;

/// How a request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Token,
    /// A personal access token (its id).
    Bearer(i64),
    Basic,
    Session,
}

/// The outcome of authentication, stored in the request extensions.
#[derive(Debug, Clone)]
pub enum Authn {
    Anonymous,
    Failed(AuthFailure),
    User {
        user: Box<User>,
        via: Via,
        session: Option<Session>,
    },
}

/// Presented credentials that did not work.
#[derive(Debug, Clone)]
pub enum AuthFailure {
    /// 401 with this detail.
    Unauthenticated(String),
    /// 403 (CSRF).
    Forbidden(String),
    /// The database failed.
    Internal(String),
}

impl AuthFailure {
    pub fn into_api_error(self) -> ApiError {
        match self {
            AuthFailure::Unauthenticated(d) => ApiError::Unauthenticated(d),
            AuthFailure::Forbidden(d) => ApiError::Forbidden(d),
            AuthFailure::Internal(m) => ApiError::Internal(m),
        }
    }
}

fn failure(e: CoreError) -> AuthFailure {
    match e {
        CoreError::Unauthenticated(d) => AuthFailure::Unauthenticated(d),
        other => AuthFailure::Internal(other.to_string()),
    }
}

/// Reads one cookie from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| cookie::Cookie::split_parse(v.to_string()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// `Set-Cookie` values that establish a session.
pub fn session_cookies(s: &Session) -> [HeaderValue; 2] {
    let sid = format!(
        "{SESSION_COOKIE}={}; HttpOnly; Path=/; SameSite=Lax; Max-Age={SESSION_MAX_AGE}",
        s.key
    );
    let csrf = format!(
        "{CSRF_COOKIE}={}; Path=/; SameSite=Lax; Max-Age={CSRF_MAX_AGE}",
        s.csrf
    );
    [
        HeaderValue::from_str(&sid).expect("session key is alphanumeric"),
        HeaderValue::from_str(&csrf).expect("csrf token is alphanumeric"),
    ]
}

/// `Set-Cookie` value that ends the session cookie.
pub fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "sessionid=; HttpOnly; Path=/; SameSite=Lax; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    )
}

async fn resolve(state: &AppState, method: &Method, headers: &HeaderMap) -> Authn {
    let auth = state.core.auth();
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or("").trim();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("token") {
            if rest.is_empty() || rest.contains(' ') {
                return Authn::Failed(AuthFailure::Unauthenticated(
                    "Invalid token header. No credentials provided.".into(),
                ));
            }
            return match auth.authenticate_token(rest).await {
                Ok(user) => Authn::User {
                    user: Box::new(user),
                    via: Via::Token,
                    session: None,
                },
                Err(e) => Authn::Failed(failure(e)),
            };
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            // personal access tokens (CVAT 2)
            if rest.is_empty() || rest.contains(' ') {
                return Authn::Failed(AuthFailure::Unauthenticated(
                    "Invalid token header. No credentials provided.".into(),
                ));
            }
            return match auth.authenticate_bearer(rest).await {
                Ok((user, token_id)) => Authn::User {
                    user: Box::new(user),
                    via: Via::Bearer(token_id),
                    session: None,
                },
                Err(e) => Authn::Failed(failure(e)),
            };
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let Some((u, p)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return Authn::Failed(AuthFailure::Unauthenticated(
                    "Invalid basic header. Credentials not correctly base64 encoded.".into(),
                ));
            };
            return match auth.authenticate_basic(u, p).await {
                Ok(user) => Authn::User {
                    user: Box::new(user),
                    via: Via::Basic,
                    session: None,
                },
                Err(e) => Authn::Failed(failure(e)),
            };
        }
        // Other schemes are not ours: fall through to the session, as DRF does.
    }
    let Some(key) = cookie(headers, SESSION_COOKIE) else {
        return Authn::Anonymous;
    };
    match auth.authenticate_session(&key).await {
        Ok(Some((user, session))) => {
            if !method.is_safe() {
                let Some(_cookie) = cookie(headers, CSRF_COOKIE) else {
                    return Authn::Failed(AuthFailure::Forbidden(
                        "CSRF Failed: CSRF cookie not set.".into(),
                    ));
                };
                let sent = headers
                    .get("x-csrftoken")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let ok: bool = sent.as_bytes().ct_eq(session.csrf.as_bytes()).into();
                if !ok {
                    return Authn::Failed(AuthFailure::Forbidden(
                        "CSRF Failed: CSRF token missing or incorrect.".into(),
                    ));
                }
            }
            Authn::User {
                user: Box::new(user),
                via: Via::Session,
                session: Some(session),
            }
        }
        Ok(None) => Authn::Anonymous,
        Err(e) => Authn::Failed(failure(e)),
    }
}

/// Middleware on the API routes: resolves credentials into an [`Authn`] extension and,
/// for token clients without a valid session cookie, sets `sessionid` and `csrftoken`.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let authn = resolve(&state, req.method(), req.headers()).await;
    let token_user = match &authn {
        Authn::User {
            user,
            via: Via::Token,
            ..
        } => Some(user.id),
        _ => None,
    };
    let cookie_session = cookie(req.headers(), SESSION_COOKIE);
    req.extensions_mut().insert(authn);
    let mut resp = next.run(req).await;
    if let Some(uid) = token_user
        && !resp.headers().contains_key(header::SET_COOKIE)
    {
        let valid = match &cookie_session {
            Some(k) => matches!(state.core.db().session(k).await, Ok(Some(s)) if s.user_id == uid),
            None => false,
        };
        if !valid {
            match state.core.auth().session_for_token_client(uid).await {
                Ok(s) => {
                    for c in session_cookies(&s) {
                        resp.headers_mut().append(header::SET_COOKIE, c);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not attach a session to a token client")
                }
            }
        }
    }
    resp
}
