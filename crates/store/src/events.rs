//! Client events of `POST /server/logs` (`client_events`, api-v1 §11.4).

use chrono::{DateTime, Utc};

use crate::{Db, Result, with_db};

/// One validated event.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub client_id: i64,
    pub name: String,
    pub time: DateTime<Utc>,
    pub is_active: bool,
    pub job_id: Option<i64>,
    pub task_id: Option<i64>,
    pub proj_id: Option<i64>,
    pub message: Option<String>,
    /// JSON object text.
    pub payload: Option<String>,
}

/// Rows per multi-row insert.
const BATCH: usize = 500;

impl Db {
    /// Stores events of one request in one transaction.
    pub async fn insert_client_events(
        &self,
        user_id: Option<i64>,
        events: &[NewEvent],
    ) -> Result<()> {
        let now = crate::now();
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            for chunk in events.chunks(BATCH) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO client_events (user_id, client_id, name, time, is_active, job_id, task_id,
                     proj_id, message, payload, created_date) ",
                );
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(user_id)
                        .push_bind(e.client_id)
                        .push_bind(e.name.as_str())
                        .push_bind(e.time)
                        .push_bind(e.is_active)
                        .push_bind(e.job_id)
                        .push_bind(e.task_id)
                        .push_bind(e.proj_id)
                        .push_bind(e.message.as_deref())
                        .push_bind(e.payload.as_deref())
                        .push_bind(now);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Events of a job, oldest first: (name, time, payload JSON text).
    pub async fn job_events(
        &self,
        job_id: i64,
    ) -> Result<Vec<(String, DateTime<Utc>, Option<String>)>> {
        Ok(with_db!(self, |p| sqlx::query_as(
            "SELECT name, time, payload FROM client_events WHERE job_id = $1 ORDER BY time, id"
        )
        .bind(job_id)
        .fetch_all(p)
        .await)?)
    }

    /// Working time on a job in milliseconds, as the UI reports it: the sum of
    /// `payload.working_time` of its `Send user activity` events.
    pub async fn job_working_time_ms(&self, job_id: i64) -> Result<i64> {
        let rows: Vec<(Option<String>,)> = with_db!(self, |p| {
            sqlx::query_as(
            "SELECT payload FROM client_events WHERE job_id = $1 AND name = 'Send user activity'"
        )
        .bind(job_id)
        .fetch_all(p)
        .await
        })?;
        Ok(rows
            .iter()
            .filter_map(|(p,)| p.as_deref())
            .filter_map(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .filter_map(|v| v.get("working_time").and_then(|w| w.as_i64()))
            .fold(0i64, |a, b| a.saturating_add(b.max(0))))
    }
}
