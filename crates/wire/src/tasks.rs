//! Tasks, labels, segments, jobs and task data (api-v1 §6–§8).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Attribute {
    pub id: i64,
    pub name: String,
    pub mutable: bool,
    pub input_type: String,
    pub default_value: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Label {
    pub id: i64,
    pub name: String,
    pub attributes: Vec<Attribute>,
}

/// A job as listed inside a task's segments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct JobShort {
    pub url: String,
    pub id: i64,
    pub assignee: Option<i64>,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Segment {
    pub start_frame: i64,
    pub stop_frame: i64,
    pub jobs: Vec<JobShort>,
}

/// The data keys of a task; absent (not null) while the task has no data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct TaskDataKeys {
    pub data_chunk_size: Option<i64>,
    pub data_compressed_chunk_type: String,
    pub data_original_chunk_type: String,
    pub size: i64,
    pub image_quality: i64,
    pub data: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Task {
    pub url: String,
    pub id: i64,
    pub name: String,
    pub mode: String,
    pub owner: Option<i64>,
    pub assignee: Option<i64>,
    pub bug_tracker: String,
    pub created_date: String,
    pub updated_date: String,
    pub overlap: Option<i64>,
    pub segment_size: i64,
    pub z_order: bool,
    pub status: String,
    pub labels: Vec<Label>,
    pub segments: Vec<Segment>,
    pub project: Option<i64>,
    #[serde(flatten, skip_serializing_if = "Option::is_none", default)]
    pub data: Option<TaskDataKeys>,
}

/// `GET /jobs/{id}` (api-v1 §8.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Job {
    pub url: String,
    pub id: i64,
    pub assignee: Option<i64>,
    pub status: String,
    pub start_frame: i64,
    pub stop_frame: i64,
    pub task_id: i64,
}

/// The 202 answer of `POST /tasks/{id}/data` (api-v1 §7.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct DataEcho {
    pub chunk_size: Option<i64>,
    pub size: i64,
    pub image_quality: i64,
    pub start_frame: i64,
    pub stop_frame: i64,
    pub frame_filter: String,
    pub compressed_chunk_type: String,
    pub original_chunk_type: String,
    pub client_files: Vec<String>,
    pub server_files: Vec<String>,
    pub remote_files: Vec<String>,
    pub use_zip_chunks: bool,
}

/// `GET /tasks/{id}/status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Status {
    pub state: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct FrameMeta {
    pub width: i64,
    pub height: i64,
    pub name: String,
}

/// `GET /tasks/{id}/data/meta` (api-v1 §7.5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct DataMeta {
    pub chunk_size: Option<i64>,
    pub size: i64,
    pub image_quality: i64,
    pub start_frame: i64,
    pub stop_frame: i64,
    pub frame_filter: String,
    pub frames: Vec<FrameMeta>,
}

/// One entry of `GET /server/share` (api-v1 §11.2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ShareEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}
