//! Authentication responses (api-v1 §3).

use serde::{Deserialize, Serialize};

/// `{"key": "<40 hex chars>"}`: the answer to login and register.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct TokenKey {
    pub key: String,
}

/// `{"detail": "..."}`: messages and 401/403/404 errors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Detail {
    pub detail: String,
}

impl Detail {
    pub fn new(s: impl Into<String>) -> Self {
        Detail { detail: s.into() }
    }
}

/// Login body (JSON or form).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// Registration body (JSON or form).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RegisterRequest {
    pub username: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub password1: String,
    pub password2: String,
    #[serde(default)]
    pub confirmations: Vec<serde_json::Value>,
}

/// Password change body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PasswordChangeRequest {
    #[serde(default)]
    pub old_password: Option<String>,
    pub new_password1: String,
    pub new_password2: String,
}
