//! What can go wrong in a use case. The server renders each variant once (DRF bodies).

use ferrocat_store::StoreError;
use ferrocat_wire::FieldErrors;

/// Messages CVAT uses verbatim.
pub const NOT_PERMITTED: &str = "You do not have permission to perform this action.";
pub const NOT_AUTHENTICATED: &str = "Authentication credentials were not provided.";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401 with this detail (bad or missing credentials).
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// 403 with this detail.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404 `{"detail":"Not found."}`.
    #[error("not found")]
    NotFound,
    /// 400 with field errors.
    #[error("invalid input: {0:?}")]
    Invalid(FieldErrors),
    /// 400 with a JSON list of messages (DRF's view-level "bare" errors).
    #[error("bad request: {0:?}")]
    Bare(Vec<String>),
    /// 400 with a nested error body (e.g. `{"labels": [{}, {"name": [...]}]}`) or a
    /// JSON string.
    #[error("bad request: {0}")]
    Body(serde_json::Value),
    /// 409 with a detail.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 405 with an empty body: a format that is listed but not enabled (api-v1 §10.1).
    #[error("format disabled")]
    Disabled,
    /// 409: an `If-Match` write found the annotations at another version (this one).
    #[error("version conflict: the current version is {0}")]
    VersionConflict(i64),
    /// 400 `{"detail"}` (a malformed header, say).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 422 `{"detail"}`: understood but refused (an idempotency key reused for another
    /// request).
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// 413 `{"detail"}`: more bytes than this server takes.
    #[error("too large: {0}")]
    TooLarge(String),
    /// 500: logged with its cause, rendered generically.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn forbidden() -> Self {
        Error::Forbidden(NOT_PERMITTED.into())
    }
    pub fn field(field: &str, msg: impl Into<String>) -> Self {
        Error::Invalid(FieldErrors::single(field, msg))
    }
    pub fn non_field(msg: impl Into<String>) -> Self {
        Error::Invalid(FieldErrors::non_field(msg))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<FieldErrors> for Error {
    fn from(e: FieldErrors) -> Self {
        Error::Invalid(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
