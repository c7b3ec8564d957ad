//! API tokens (`tokens`) and cookie sessions (`sessions`).
//!
//! A user has at most one token (DRF authtoken): created at the first login, returned by
//! later logins, deleted by logout. Sessions are rows so that any replica can check them.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::users::UserRow;
use crate::{Db, Result, with_db};

/// A live cookie session.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct SessionRow {
    pub key: String,
    pub user_id: i64,
    pub csrf: String,
    pub expires: DateTime<Utc>,
}

impl Db {
    /// Returns the user's token, storing `new_key` first if the user has none.
    pub async fn get_or_create_token(&self, user_id: i64, new_key: &str) -> Result<String> {
        let now = crate::now();
        with_db!(self, |p| {
            sqlx::query(
                "INSERT INTO tokens (key, user_id, created) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(new_key)
            .bind(user_id)
            .bind(now)
            .execute(p)
            .await?;
            let (key,): (String,) = sqlx::query_as("SELECT key FROM tokens WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(p)
                .await?;
            Ok(key)
        })
    }

    /// The owner of a token, if the token exists (active or not: the caller decides).
    pub async fn user_by_token(&self, key: &str) -> Result<Option<UserRow>> {
        let row: Option<UserRow> = with_db!(self, |p| {
            sqlx::query_as(
            "SELECT u.id, u.username, u.password_hash, u.email, u.first_name, u.last_name, u.is_staff,
                    u.is_superuser, u.is_active, u.last_login, u.date_joined
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.key = $1"
        )
        .bind(key)
        .fetch_optional(p)
        .await
        })?;
        self.with_groups_opt(row).await
    }

    /// Deletes the user's token (logout).
    pub async fn delete_token(&self, user_id: i64) -> Result<()> {
        with_db!(self, |p| sqlx::query(
            "DELETE FROM tokens WHERE user_id = $1"
        )
        .bind(user_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Stores a new session.
    pub async fn insert_session(&self, s: &SessionRow) -> Result<()> {
        let now = crate::now();
        with_db!(self, |p| {
            sqlx::query(
            "INSERT INTO sessions (key, user_id, csrf, created, expires) VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(&s.key)
        .bind(s.user_id)
        .bind(&s.csrf)
        .bind(now)
        .bind(s.expires)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// A session that has not expired.
    pub async fn session(&self, key: &str) -> Result<Option<SessionRow>> {
        let now = crate::now();
        Ok(with_db!(self, |p| sqlx::query_as(
            "SELECT key, user_id, csrf, expires FROM sessions WHERE key = $1 AND expires > $2"
        )
        .bind(key)
        .bind(now)
        .fetch_optional(p)
        .await)?)
    }

    /// The user's most recent live session, if any (reused for token clients so that
    /// scripts without a cookie jar do not create a session per request).
    pub async fn latest_session(&self, user_id: i64) -> Result<Option<SessionRow>> {
        let now = crate::now();
        Ok(with_db!(self, |p| sqlx::query_as(
            "SELECT key, user_id, csrf, expires FROM sessions WHERE user_id = $1 AND expires > $2
             ORDER BY expires DESC LIMIT 1"
        )
        .bind(user_id)
        .bind(now)
        .fetch_optional(p)
        .await)?)
    }

    /// Ends a session.
    pub async fn delete_session(&self, key: &str) -> Result<()> {
        with_db!(self, |p| sqlx::query("DELETE FROM sessions WHERE key = $1")
            .bind(key)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Ends every session of a user except `keep`.
    pub async fn delete_sessions_of(&self, user_id: i64, keep: Option<&str>) -> Result<()> {
        with_db!(self, |p| sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND key <> $2"
        )
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        let now = crate::now();
        Ok(with_db!(self, |p| sqlx::query(
            "DELETE FROM sessions WHERE expires <= $1"
        )
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }
}
