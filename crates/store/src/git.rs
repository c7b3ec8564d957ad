//! Tasks' dataset repositories (api-v1 §12): one row per linked task.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::{Db, Result, with_db};

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct GitRepoRow {
    pub task_id: i64,
    pub url: String,
    pub path: String,
    pub lfs: bool,
    /// `!sync` or `sync`.
    pub status: String,
    /// The task's `updated_date` that the last push carried.
    pub synced: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

const COLS: &str = "task_id, url, path, lfs, status, synced, error";

impl Db {
    /// Links a task to a repository (or relinks it: the sync state starts again).
    pub async fn set_git_repo(&self, task_id: i64, url: &str, path: &str, lfs: bool) -> Result<()> {
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM git_repositories WHERE task_id = $1")
                .bind(task_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO git_repositories (task_id, url, path, lfs, status) VALUES ($1, $2, $3, $4, '!sync')",
            )
            .bind(task_id)
            .bind(url)
            .bind(path)
            .bind(lfs)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    pub async fn git_repo(&self, task_id: i64) -> Result<Option<GitRepoRow>> {
        let sql = format!("SELECT {COLS} FROM git_repositories WHERE task_id = $1");
        Ok(with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(task_id)
        .fetch_optional(p)
        .await)?)
    }

    /// Every linked task's repository, by task id.
    pub async fn git_repos(&self) -> Result<Vec<GitRepoRow>> {
        let sql = format!("SELECT {COLS} FROM git_repositories ORDER BY task_id");
        Ok(with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .fetch_all(p)
        .await)?)
    }

    /// Records the end of a check or push: `synced` is set on a successful push.
    pub async fn git_repo_result(
        &self,
        task_id: i64,
        status: &str,
        synced: Option<DateTime<Utc>>,
        error: Option<&str>,
    ) -> Result<()> {
        with_db!(self, |p| {
            sqlx::query(
            "UPDATE git_repositories SET status = $2, synced = COALESCE($3, synced), error = $4 WHERE task_id = $1"
        )
        .bind(task_id)
        .bind(status)
        .bind(synced)
        .bind(error)
        .execute(p)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }
}
