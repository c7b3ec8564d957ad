//! Background work as rows (`queue_items`): task data processing now, exports and imports
//! later. A worker claims an item by taking a lease (`lease_until`) and renews it while it
//! runs; an item whose lease ran out (its worker died) is claimed again. Each item has a
//! deterministic `key` (e.g. `task/7/data`), so a client request attaches to existing work.

use chrono::{DateTime, Duration, Utc};
use sqlx::FromRow;

use crate::{Db, Result, with_db};

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct QueueItem {
    pub id: i64,
    pub key: String,
    pub kind: String,
    /// `queued`, `started`, `finished` or `failed`.
    pub state: String,
    pub message: String,
    pub payload: String,
    pub attempts: i64,
    pub lease_until: Option<DateTime<Utc>>,
    /// When the item last changed (queued, progress, end).
    pub updated: DateTime<Utc>,
    /// Who asked for it.
    pub user_id: Option<i64>,
    pub created: DateTime<Utc>,
    /// What it made, for its client (a created task's id, say).
    pub result: Option<String>,
}

/// The PostgreSQL channel on which queued work is announced (the payload is the kind).
pub const QUEUE_CHANNEL: &str = "ferrocat_queue";

const COLS: &str = "id, key, kind, state, message, payload, attempts, lease_until, updated, user_id, created, result";

impl Db {
    /// Queues work under `key`, replacing the item of the same key (callers replace
    /// only what is finished, failed or stale). Returns the new item's id: the id
    /// changes with every enqueue, so a worker still running a replaced item writes
    /// nothing into the new one (its progress, renewals and end match no row).
    ///
    /// Concurrent enqueues of one key follow each other: SQLite serialises writers,
    /// and on PostgreSQL a transaction-scoped advisory lock on the key does (without
    /// it, two transactions would both delete, both insert, and one fail on the key's
    /// unique index). On PostgreSQL the commit also wakes the workers of every process
    /// (`NOTIFY` on [`QUEUE_CHANNEL`]).
    pub async fn enqueue(
        &self,
        key: &str,
        kind: &str,
        payload: &str,
        user_id: Option<i64>,
    ) -> Result<i64> {
        let now = crate::now();
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            if let Db::Postgres(_) = self {
                sqlx::query(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), pg_notify($2, $3)",
                )
                .bind(key)
                .bind(QUEUE_CHANNEL)
                .bind(kind)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM queue_items WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO queue_items (key, kind, state, message, payload, user_id, created, updated)
                 VALUES ($1, $2, 'queued', '', $3, $4, $5, $5) RETURNING id",
            )
            .bind(key)
            .bind(kind)
            .bind(payload)
            .bind(user_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Forgets an item read before (a delivered or discarded export, say): by its id,
    /// so that an item enqueued under the same key since is kept.
    pub async fn dequeue(&self, item: &QueueItem) -> Result<()> {
        with_db!(self, |p| sqlx::query(
            "DELETE FROM queue_items WHERE id = $1"
        )
        .bind(item.id)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The item with this key, if any.
    pub async fn queue_item(&self, key: &str) -> Result<Option<QueueItem>> {
        let sql = format!("SELECT {COLS} FROM queue_items WHERE key = $1");
        Ok(with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(key)
        .fetch_optional(p)
        .await)?)
    }

    /// The items a user asked for, oldest first.
    pub async fn queue_items_of(&self, user_id: i64) -> Result<Vec<QueueItem>> {
        let sql = format!("SELECT {COLS} FROM queue_items WHERE user_id = $1 ORDER BY id");
        Ok(with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(user_id)
        .fetch_all(p)
        .await)?)
    }

    /// Records what a started item made (read back as [`QueueItem::result`]).
    pub async fn queue_result(&self, id: i64, result: &str) -> Result<()> {
        with_db!(self, |p| sqlx::query(
            "UPDATE queue_items SET result = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(result)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Forgets an item read before if no worker has claimed it yet; whether it did.
    pub async fn dequeue_queued(&self, item: &QueueItem) -> Result<bool> {
        Ok(with_db!(self, |p| sqlx::query(
            "DELETE FROM queue_items WHERE id = $1 AND state = 'queued'"
        )
        .bind(item.id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?
            > 0)
    }

    /// Claims the oldest runnable item: queued, or started with an expired lease. The
    /// claim sets `state = started`, counts an attempt and takes a lease.
    pub async fn claim_queue_item(&self, lease: Duration) -> Result<Option<QueueItem>> {
        let now = crate::now();
        let until = now + lease;
        let pick = "SELECT id FROM queue_items
                    WHERE state = 'queued' OR (state = 'started' AND lease_until < $1)
                    ORDER BY id LIMIT 1";
        let item: Option<QueueItem> = match self {
            // SQLite serialises writers, so the UPDATE … WHERE id = (SELECT …) is atomic.
            Db::Sqlite(p) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "UPDATE queue_items SET state = 'started', attempts = attempts + 1, lease_until = $2, updated = $1
                     WHERE id = ({pick}) RETURNING {COLS}"
                )))
                .bind(now)
                .bind(until)
                .fetch_optional(p)
                .await?
            }
            // PostgreSQL: several replicas claim at once; SKIP LOCKED hands each a different row.
            Db::Postgres(p) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "UPDATE queue_items SET state = 'started', attempts = attempts + 1, lease_until = $2, updated = $1
                     WHERE id = ({pick} FOR UPDATE SKIP LOCKED) RETURNING {COLS}"
                )))
                .bind(now)
                .bind(until)
                .fetch_optional(p)
                .await?
            }
        };
        Ok(item)
    }

    /// Renews the lease and records a progress message.
    pub async fn queue_progress(&self, id: i64, message: &str, lease: Duration) -> Result<()> {
        let now = crate::now();
        with_db!(self, |p| {
            sqlx::query(
            "UPDATE queue_items SET message = $2, lease_until = $3, updated = $4 WHERE id = $1 AND state = 'started'"
        )
        .bind(id)
        .bind(message)
        .bind(now + lease)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Renews the lease of a started item (its message stays).
    pub async fn renew_queue_lease(&self, id: i64, lease: Duration) -> Result<()> {
        let now = crate::now();
        with_db!(self, |p| {
            sqlx::query(
                "UPDATE queue_items SET lease_until = $2 WHERE id = $1 AND state = 'started'",
            )
            .bind(id)
            .bind(now + lease)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Gives claimed items back: their lease ends now, so that the next claim (in this
    /// process or another) takes them over. Items no longer `started` are left alone.
    pub async fn release_queue_items(&self, ids: &[i64]) -> Result<u64> {
        let now = crate::now();
        let mut released = 0;
        for &id in ids {
            released += with_db!(self, |p| {
                sqlx::query(
                    "UPDATE queue_items SET lease_until = $2, updated = $3 WHERE id = $1 AND state = 'started'",
                )
                .bind(id)
                // in the past, so that a claim in the same instant sees it expired
                .bind(now - Duration::seconds(1))
                .bind(now)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        if let (Db::Postgres(p), true) = (self, released > 0) {
            sqlx::query("SELECT pg_notify($1, 'released')")
                .bind(QUEUE_CHANNEL)
                .execute(p)
                .await?;
        }
        Ok(released)
    }

    /// Ends an item as `finished` or `failed` with a message.
    pub async fn queue_done(&self, id: i64, failed: bool, message: &str) -> Result<()> {
        let now = crate::now();
        with_db!(self, |p| {
            sqlx::query(
            "UPDATE queue_items SET state = $2, message = $3, lease_until = NULL, updated = $4 WHERE id = $1"
        )
        .bind(id)
        .bind(if failed { "failed" } else { "finished" })
        .bind(message)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}

/// Announcements of queued work from every process (PostgreSQL `LISTEN` on
/// [`QUEUE_CHANNEL`]), so that idle workers wake at once instead of at their next poll.
pub struct QueueListener(sqlx::postgres::PgListener);

impl QueueListener {
    /// Waits for the next announcement: `true` for one, `false` when the connection was
    /// lost (it reconnects on the next call; what was announced meanwhile is lost, so
    /// the caller looks at the queue anyway).
    pub async fn next(&mut self) -> Result<bool> {
        Ok(self.0.try_recv().await?.is_some())
    }
}

impl Db {
    /// A listener for queued work on PostgreSQL; `None` on SQLite (one machine: its
    /// workers poll, and those of this process are woken in memory).
    pub async fn queue_listener(&self) -> Result<Option<QueueListener>> {
        match self {
            Db::Postgres(p) => {
                let mut l = sqlx::postgres::PgListener::connect_with(p).await?;
                l.listen(QUEUE_CHANNEL).await?;
                Ok(Some(QueueListener(l)))
            }
            Db::Sqlite(_) => Ok(None),
        }
    }
}
