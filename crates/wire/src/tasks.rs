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

// Request bodies. The handlers read these field by field (to answer with CVAT's
// messages for each field), so these types are their schemas in the OpenAPI document;
// `core::tasks` is where the rules live, and the fuzzing of the document checks both
// agree.

/// Body of `POST /tasks` and `PUT /tasks/{id}`; every field optional in `PATCH`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct TaskWriteRequest {
    #[schema(max_length = 256)]
    pub name: String,
    pub labels: Vec<LabelWrite>,
    #[schema(nullable)]
    pub owner: Option<i64>,
    #[schema(nullable)]
    pub assignee: Option<i64>,
    #[schema(max_length = 2000)]
    pub bug_tracker: Option<String>,
    #[schema(minimum = 0, nullable)]
    pub overlap: Option<i64>,
    #[schema(minimum = 0)]
    pub segment_size: Option<i64>,
    pub z_order: Option<bool>,
    #[schema(nullable)]
    pub project: Option<i64>,
}

/// A label in a task body; with `id`, an existing label (renamed, or `deleted`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct LabelWrite {
    pub id: Option<i64>,
    pub name: String,
    #[serde(default)]
    pub attributes: Vec<AttributeWrite>,
    pub deleted: Option<bool>,
}

/// The attribute input types (`core::tasks::INPUT_TYPES`).
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    Select,
    Radio,
    Checkbox,
    Number,
    Text,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct AttributeWrite {
    pub id: Option<i64>,
    pub name: String,
    pub mutable: bool,
    pub input_type: InputType,
    pub default_value: Option<String>,
    pub values: Vec<String>,
}

/// The job statuses (`core::tasks::JOB_STATUSES`).
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Annotation,
    Validation,
    Completed,
}

/// Body of `PATCH`/`PUT /jobs/{id}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct JobWriteRequest {
    pub status: Option<JobStatus>,
    #[schema(nullable)]
    pub assignee: Option<i64>,
}

/// Body of `POST /tasks/{id}/data`: one of the three sources, as multipart (with
/// `client_files[i]` parts), a form or JSON.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct DataRequest {
    #[schema(minimum = 0, maximum = 100)]
    pub image_quality: i64,
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    pub client_files: Option<Vec<String>>,
    pub server_files: Option<Vec<String>>,
    pub remote_files: Option<Vec<String>>,
    pub use_zip_chunks: Option<bool>,
    #[schema(minimum = 1, nullable)]
    pub chunk_size: Option<i64>,
    #[schema(minimum = 0)]
    pub start_frame: Option<i64>,
    #[schema(minimum = 0)]
    pub stop_frame: Option<i64>,
    /// `step=N`
    pub frame_filter: Option<String>,
}

/// The body of `POST /git/repository/create/{tid}` (api-v1 §12).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct GitCreateRequest {
    /// `"<repository URL> [<file path>]"`; the file is `.zip` or `.xml`.
    pub path: String,
    #[serde(default)]
    pub lfs: bool,
    pub tid: Option<i64>,
}
