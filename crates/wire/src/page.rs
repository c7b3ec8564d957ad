//! The pagination envelope (api-v1 §2.6).

use serde::{Deserialize, Serialize};

/// `{"count", "next", "previous", "results"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Page<T> {
    pub count: i64,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}
