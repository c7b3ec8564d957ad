//! Client error reports (`client_exceptions`, api-v1 §11.3).

use crate::{Db, Result, with_db};

impl Db {
    /// Stores one report (the validated JSON) and returns its id.
    pub async fn insert_client_exception(
        &self,
        user_id: Option<i64>,
        task_id: Option<i64>,
        job_id: Option<i64>,
        body: &serde_json::Value,
    ) -> Result<i64> {
        let now = crate::now();
        let text = body.to_string();
        let (id,): (i64,) = with_db!(self, |p| sqlx::query_as(
            "INSERT INTO client_exceptions (user_id, task_id, job_id, created, body)
             VALUES ($1, $2, $3, $4, $5) RETURNING id"
        )
        .bind(user_id)
        .bind(task_id)
        .bind(job_id)
        .bind(now)
        .bind(&text)
        .fetch_one(p)
        .await)?;
        Ok(id)
    }

    /// The stored reports, newest first, as JSON (for operators and tests).
    pub async fn client_exceptions(&self, limit: i64) -> Result<Vec<serde_json::Value>> {
        let rows: Vec<(String,)> = with_db!(self, |p| sqlx::query_as(
            "SELECT body FROM client_exceptions ORDER BY id DESC LIMIT $1"
        )
        .bind(limit)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .filter_map(|(b,)| serde_json::from_str(&b).ok())
            .collect())
    }
}
