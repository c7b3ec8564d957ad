//! `/server/*` and `/restrictions/*` objects (api-v1 §3.8, §11).

use serde::{Deserialize, Serialize};

/// `GET /server/about`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct About {
    pub name: String,
    pub description: String,
    pub version: String,
}

/// One configured user agreement, as `GET /restrictions/user-agreements` lists it
/// (note the camelCase `displayText`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct UserAgreement {
    pub name: String,
    #[serde(rename = "displayText", alias = "display_text")]
    pub display_text: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub value: bool,
}

/// `POST /server/exception` body as echoed back (only fields that were sent).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, utoipa::ToSchema)]
pub struct Exception {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proj_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}
