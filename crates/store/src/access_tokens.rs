//! Personal access tokens (CVAT 2's `Authorization: Bearer`): a row per token with its
//! SHA-256, never the token itself.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::{Db, Result, UserRow, with_db};

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct AccessTokenRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_date: DateTime<Utc>,
    pub expiry_date: Option<DateTime<Utc>>,
    pub last_used_date: Option<DateTime<Utc>>,
}

const COLS: &str = "id, user_id, name, created_date, expiry_date, last_used_date";

impl Db {
    pub async fn insert_access_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        expiry: Option<DateTime<Utc>>,
    ) -> Result<i64> {
        let now = crate::now();
        let (id,): (i64,) = with_db!(self, |p| sqlx::query_as(
            "INSERT INTO access_tokens (user_id, name, token_hash, created_date, expiry_date)
             VALUES ($1, $2, $3, $4, $5) RETURNING id"
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(now)
        .bind(expiry)
        .fetch_one(p)
        .await)?;
        Ok(id)
    }

    /// A user's tokens, newest first.
    pub async fn access_tokens_of(&self, user_id: i64) -> Result<Vec<AccessTokenRow>> {
        let sql = format!("SELECT {COLS} FROM access_tokens WHERE user_id = $1 ORDER BY id DESC");
        Ok(with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(user_id)
        .fetch_all(p)
        .await)?)
    }

    pub async fn access_token(&self, id: i64) -> Result<Option<AccessTokenRow>> {
        let sql = format!("SELECT {COLS} FROM access_tokens WHERE id = $1");
        Ok(with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }

    /// The token with this hash and its user, if it has not expired; its last use is
    /// recorded.
    pub async fn use_access_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(AccessTokenRow, UserRow)>> {
        let sql = format!(
            "SELECT {COLS} FROM access_tokens WHERE token_hash = $1 AND (expiry_date IS NULL OR expiry_date > $2)"
        );
        let row: Option<AccessTokenRow> =
            with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(token_hash)
                .bind(now)
                .fetch_optional(p)
                .await)?;
        let Some(row) = row else { return Ok(None) };
        let Some(user) = self.user(row.user_id).await? else {
            return Ok(None);
        };
        with_db!(self, |p| sqlx::query(
            "UPDATE access_tokens SET last_used_date = $2 WHERE id = $1"
        )
        .bind(row.id)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(Some((row, user)))
    }

    /// Revokes (deletes) a token; whether it existed.
    pub async fn delete_access_token(&self, id: i64) -> Result<bool> {
        let n = with_db!(self, |p| sqlx::query(
            "DELETE FROM access_tokens WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
