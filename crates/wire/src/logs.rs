//! Client events of `POST /server/logs` (api-v1 §11.4).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One event as echoed back: only known keys, absent optional keys omitted, in CVAT's
/// serializer order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proj_id: Option<i64>,
    pub client_id: i64,
    pub name: String,
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub payload: Option<Map<String, Value>>,
    pub is_active: bool,
}
