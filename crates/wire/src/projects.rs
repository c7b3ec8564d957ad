//! Projects (api-v1 §5), with CVAT 2's project `labels` added to the v1 object.

use serde::{Deserialize, Serialize};

use crate::tasks::{Label, LabelWrite};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Project {
    pub url: String,
    pub id: i64,
    pub name: String,
    /// The labels every task of the project has (CVAT 2; not in CVAT 1.1's object).
    pub labels: Vec<Label>,
    pub owner: Option<i64>,
    pub assignee: Option<i64>,
    pub bug_tracker: String,
    pub created_date: String,
    pub updated_date: String,
    pub status: String,
}

/// The body of `POST /projects` and `PATCH /projects/{id}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ProjectWriteRequest {
    #[schema(max_length = 256)]
    pub name: String,
    /// Merged by name into the project and each of its tasks.
    #[serde(default)]
    pub labels: Vec<LabelWrite>,
    #[schema(nullable)]
    pub owner: Option<i64>,
    #[schema(nullable)]
    pub assignee: Option<i64>,
    #[schema(max_length = 2000)]
    pub bug_tracker: Option<String>,
}
