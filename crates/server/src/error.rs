//! `ApiError`: the one place where errors become HTTP responses with DRF-style bodies
//! (api-v1 §2.8).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrocat_core::Error as CoreError;
use ferrocat_wire::FieldErrors;
use serde_json::{Value, json};

#[derive(Debug)]
pub enum ApiError {
    /// 401 with `WWW-Authenticate: Token`.
    Unauthenticated(String),
    /// 403 `{"detail"}`.
    Forbidden(String),
    /// 404 `{"detail":"Not found."}` (or another detail, e.g. "Invalid page.").
    NotFound(String),
    /// 405 `{"detail":"Method \"X\" not allowed."}`.
    MethodNotAllowed(String),
    /// 400 `{"detail"}` (e.g. malformed JSON).
    BadRequest(String),
    /// 400 field errors.
    Invalid(FieldErrors),
    /// 400 with a list of strings.
    Bare(Vec<String>),
    /// 400 with a prepared body (nested field errors, or a JSON string).
    Body(Value),
    /// 409 `{"detail"}`.
    Conflict(String),
    /// 409 `{"detail", "version"}` with the current version as `ETag`.
    VersionConflict(i64),
    /// 422 `{"detail"}`.
    Unprocessable(String),
    /// 405 with an empty body (a disabled format).
    Disabled,
    /// 415 `{"detail"}`.
    UnsupportedMediaType(String),
    /// 413 `{"detail"}` (an upload over a configured limit).
    TooLarge(String),
    /// 429 with `Retry-After`.
    Throttled { wait_secs: u64 },
    /// 500 with a generic body; the cause is logged.
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_found() -> Self {
        ApiError::NotFound("Not found.".into())
    }
    pub fn not_authenticated() -> Self {
        ApiError::Unauthenticated(ferrocat_core::error::NOT_AUTHENTICATED.into())
    }
    pub fn method_not_allowed(method: &str) -> Self {
        ApiError::MethodNotAllowed(format!("Method \"{method}\" not allowed."))
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Unauthenticated(d) => ApiError::Unauthenticated(d),
            CoreError::Forbidden(d) => ApiError::Forbidden(d),
            CoreError::NotFound => ApiError::not_found(),
            CoreError::Invalid(f) => ApiError::Invalid(f),
            CoreError::Bare(v) => ApiError::Bare(v),
            CoreError::Body(v) => ApiError::Body(v),
            CoreError::Conflict(d) => ApiError::Conflict(d),
            CoreError::VersionConflict(v) => ApiError::VersionConflict(v),
            CoreError::BadRequest(d) => ApiError::BadRequest(d),
            CoreError::Unprocessable(d) => ApiError::Unprocessable(d),
            CoreError::Disabled => ApiError::Disabled,
            CoreError::TooLarge(d) => ApiError::TooLarge(d),
            CoreError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<ferrocat_store::StoreError> for ApiError {
    fn from(e: ferrocat_store::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

fn detail(s: String) -> Value {
    json!({ "detail": s })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Unauthenticated(d) => {
                let mut r = (StatusCode::UNAUTHORIZED, axum::Json(detail(d))).into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
                return r;
            }
            ApiError::Forbidden(d) => (StatusCode::FORBIDDEN, detail(d)),
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, detail(d)),
            ApiError::MethodNotAllowed(d) => (StatusCode::METHOD_NOT_ALLOWED, detail(d)),
            ApiError::BadRequest(d) => (StatusCode::BAD_REQUEST, detail(d)),
            ApiError::Invalid(f) => (
                StatusCode::BAD_REQUEST,
                serde_json::to_value(f).unwrap_or(Value::Null),
            ),
            ApiError::Bare(v) => (StatusCode::BAD_REQUEST, json!(v)),
            ApiError::Body(v) => (StatusCode::BAD_REQUEST, v),
            ApiError::Conflict(d) => (StatusCode::CONFLICT, detail(d)),
            ApiError::VersionConflict(v) => {
                let body = json!({
                    "detail": format!(
                        "The annotations were changed meanwhile: they are at version {v}. \
                         Reload them and apply your changes again."
                    ),
                    "version": v,
                });
                let mut r = (StatusCode::CONFLICT, axum::Json(body)).into_response();
                if let Ok(etag) = HeaderValue::from_str(&format!("\"{v}\"")) {
                    r.headers_mut().insert(header::ETAG, etag);
                }
                return r;
            }
            ApiError::Unprocessable(d) => (StatusCode::UNPROCESSABLE_ENTITY, detail(d)),
            ApiError::Disabled => return StatusCode::METHOD_NOT_ALLOWED.into_response(),
            ApiError::UnsupportedMediaType(d) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, detail(d)),
            ApiError::TooLarge(d) => (StatusCode::PAYLOAD_TOO_LARGE, detail(d)),
            ApiError::Throttled { wait_secs } => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(detail(format!(
                        "Request was throttled. Expected available in {wait_secs} seconds."
                    ))),
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(wait_secs));
                return r;
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    detail("Internal server error.".into()),
                )
            }
        };
        (status, axum::Json(body)).into_response()
    }
}
