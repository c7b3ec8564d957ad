//! Users and their groups (`users`, `user_groups`).
//!
//! Groups are the four fixed roles of api-v1 §4.1, rows of `groups`. A user row is read
//! together with its group names.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::{Db, Result, with_db};

/// A user as stored, with its groups.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub is_active: bool,
    pub last_login: Option<DateTime<Utc>>,
    pub date_joined: DateTime<Utc>,
    #[sqlx(skip)]
    pub groups: Vec<String>,
}

const USER_COLS: &str = "id, username, password_hash, email, first_name, last_name, is_staff, \
                         is_superuser, is_active, last_login, date_joined";

/// A user to create.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub groups: Vec<String>,
}

/// Fields to change on a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
    pub is_active: Option<bool>,
    pub groups: Option<Vec<String>>,
}

/// Orderings accepted by `GET /users?ordering=` (serializer fields that are columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    Id,
    Username,
    FirstName,
    LastName,
    Email,
    IsStaff,
    IsSuperuser,
    IsActive,
    LastLogin,
    DateJoined,
}

impl UserSort {
    /// Whether the field is one of the basic user form (`id`, `username`, names).
    pub fn in_basic_form(self) -> bool {
        matches!(
            self,
            UserSort::Id | UserSort::Username | UserSort::FirstName | UserSort::LastName
        )
    }

    /// Parses a serializer field name; unknown names give `None` (and are ignored).
    pub fn parse(field: &str) -> Option<UserSort> {
        Some(match field {
            "id" => UserSort::Id,
            "username" => UserSort::Username,
            "first_name" => UserSort::FirstName,
            "last_name" => UserSort::LastName,
            "email" => UserSort::Email,
            "is_staff" => UserSort::IsStaff,
            "is_superuser" => UserSort::IsSuperuser,
            "is_active" => UserSort::IsActive,
            "last_login" => UserSort::LastLogin,
            "date_joined" => UserSort::DateJoined,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            UserSort::Id => "id",
            // Text orders are case-insensitive, and the same on both engines.
            UserSort::Username => "username_key",
            UserSort::FirstName => "lower(first_name)",
            UserSort::LastName => "lower(last_name)",
            UserSort::Email => "lower(email)",
            UserSort::IsStaff => "is_staff",
            UserSort::IsSuperuser => "is_superuser",
            UserSort::IsActive => "is_active",
            UserSort::LastLogin => "last_login",
            UserSort::DateJoined => "date_joined",
        }
    }
}

impl Db {
    /// Creates a user and its group memberships in one transaction; returns the new id.
    /// A taken username or e-mail gives [`crate::StoreError::Unique`].
    pub async fn insert_user(&self, u: &NewUser) -> Result<i64> {
        let now = crate::now();
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO users (username, username_key, password_hash, email, first_name, last_name,
                                    is_staff, is_superuser, is_active, date_joined)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, $9) RETURNING id",
            )
            .bind(&u.username)
            .bind(u.username.to_lowercase())
            .bind(&u.password_hash)
            .bind(&u.email)
            .bind(&u.first_name)
            .bind(&u.last_name)
            .bind(u.is_staff)
            .bind(u.is_superuser)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            for g in &u.groups {
                sqlx::query("INSERT INTO user_groups (user_id, group_name) VALUES ($1, $2)")
                    .bind(id)
                    .bind(g)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Number of users.
    pub async fn count_users(&self) -> Result<i64> {
        let (n,): (i64,) = with_db!(self, |p| sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(p)
            .await)?;
        Ok(n)
    }

    /// One user with its groups.
    pub async fn user(&self, id: i64) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        let row: Option<UserRow> =
            with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .fetch_optional(p)
                .await)?;
        self.with_groups_opt(row).await
    }

    /// The user whose username matches case-insensitively.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE username_key = $1");
        let key = username.to_lowercase();
        let row: Option<UserRow> =
            with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&key)
                .fetch_optional(p)
                .await)?;
        self.with_groups_opt(row).await
    }

    /// The user with this e-mail (case-insensitively), if exactly one has it.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        let sql = format!(
            "SELECT {USER_COLS} FROM users WHERE email <> '' AND lower(email) = lower($1) ORDER BY id LIMIT 2"
        );
        let rows: Vec<UserRow> =
            with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(email)
                .fetch_all(p)
                .await)?;
        if rows.len() != 1 {
            return Ok(None);
        }
        self.with_groups_opt(rows.into_iter().next()).await
    }

    /// Whether another user (not `except`) has this username, case-insensitively.
    pub async fn username_taken(&self, username: &str, except: Option<i64>) -> Result<bool> {
        let key = username.to_lowercase();
        let (n,): (i64,) = with_db!(self, |p| sqlx::query_as(
            "SELECT COUNT(*) FROM users WHERE username_key = $1 AND id <> $2"
        )
        .bind(&key)
        .bind(except.unwrap_or(-1))
        .fetch_one(p)
        .await)?;
        Ok(n > 0)
    }

    /// Whether another user (not `except`) has this e-mail, case-insensitively.
    pub async fn email_taken(&self, email: &str, except: Option<i64>) -> Result<bool> {
        let (n,): (i64,) = with_db!(self, |p| {
            sqlx::query_as(
            "SELECT COUNT(*) FROM users WHERE email <> '' AND lower(email) = lower($1) AND id <> $2"
        )
        .bind(email)
        .bind(except.unwrap_or(-1))
        .fetch_one(p)
        .await
        })?;
        Ok(n > 0)
    }

    /// A page of users in the given order (ties broken by id), with their groups.
    pub async fn list_users(
        &self,
        order: &[(UserSort, bool)],
        offset: i64,
        limit: Option<i64>,
    ) -> Result<Vec<UserRow>> {
        let mut order_sql: Vec<String> = order
            .iter()
            .map(|(s, desc)| format!("{} {}", s.column(), if *desc { "DESC" } else { "ASC" }))
            .collect();
        order_sql.push("id ASC".into());
        let sql = format!(
            "SELECT {USER_COLS} FROM users ORDER BY {} LIMIT $1 OFFSET $2",
            order_sql.join(", ")
        );
        let rows: Vec<UserRow> =
            with_db!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(limit.unwrap_or(i64::MAX))
                .bind(offset)
                .fetch_all(p)
                .await)?;
        self.with_groups(rows).await
    }

    /// Applies a patch (and replaces the groups when given) in one transaction.
    pub async fn update_user(&self, id: i64, u: &UserPatch) -> Result<()> {
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE users SET
                    username = COALESCE($2, username),
                    username_key = COALESCE($3, username_key),
                    email = COALESCE($4, email),
                    first_name = COALESCE($5, first_name),
                    last_name = COALESCE($6, last_name),
                    is_staff = COALESCE($7, is_staff),
                    is_superuser = COALESCE($8, is_superuser),
                    is_active = COALESCE($9, is_active)
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&u.username)
            .bind(u.username.as_ref().map(|s| s.to_lowercase()))
            .bind(&u.email)
            .bind(&u.first_name)
            .bind(&u.last_name)
            .bind(u.is_staff)
            .bind(u.is_superuser)
            .bind(u.is_active)
            .execute(&mut *tx)
            .await?;
            if let Some(groups) = &u.groups {
                sqlx::query("DELETE FROM user_groups WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                for g in groups {
                    sqlx::query("INSERT INTO user_groups (user_id, group_name) VALUES ($1, $2)")
                        .bind(id)
                        .bind(g)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Deletes a user; references from tasks, projects and jobs become NULL, tokens and
    /// sessions go with it. Returns whether a user was deleted.
    pub async fn delete_user(&self, id: i64) -> Result<bool> {
        let r = with_db!(self, |p| sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(r > 0)
    }

    /// Records a successful login.
    pub async fn set_last_login(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        with_db!(self, |p| sqlx::query(
            "UPDATE users SET last_login = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Replaces the stored password hash.
    pub async fn set_password_hash(&self, id: i64, hash: &str) -> Result<()> {
        with_db!(self, |p| sqlx::query(
            "UPDATE users SET password_hash = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(hash)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Names of all groups (the fixed roles).
    pub async fn group_names(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = with_db!(self, |p| sqlx::query_as(
            "SELECT name FROM groups ORDER BY name"
        )
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    pub(crate) async fn with_groups_opt(&self, row: Option<UserRow>) -> Result<Option<UserRow>> {
        match row {
            None => Ok(None),
            Some(r) => Ok(self.with_groups(vec![r]).await?.pop()),
        }
    }

    /// Fills `groups` of each row with one query.
    pub(crate) async fn with_groups(&self, mut rows: Vec<UserRow>) -> Result<Vec<UserRow>> {
        if rows.is_empty() {
            return Ok(rows);
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let pairs: Vec<(i64, String)> = with_db!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT user_id, group_name FROM user_groups WHERE user_id IN (",
            );
            let mut sep = qb.separated(", ");
            for id in &ids {
                sep.push_bind(*id);
            }
            qb.push(") ORDER BY group_name");
            qb.build_query_as().fetch_all(p).await
        })?;
        let index: std::collections::HashMap<i64, usize> =
            rows.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        for (uid, g) in pairs {
            if let Some(&i) = index.get(&uid) {
                rows[i].groups.push(g);
            }
        }
        Ok(rows)
    }
}
