//! Login, logout, registration, password change, and checking credentials
//! (api-v1 §3).

use ferrocat_store::auth::SessionRow;
use ferrocat_store::{NewUser, StoreError, UserRow};
use ferrocat_wire::{FieldErrors, Fields};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::passwords::{self, Verified};
use crate::permissions::{Actor, Role};
use crate::users::{check_email, check_name, check_username};
use crate::{Core, random_alnum, random_hex};

const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

/// How personal access tokens start (so that a leaked one is recognisable).
pub const PAT_PREFIX: &str = "fcat_";

/// SHA-256 of a personal access token, hex: what is stored.
fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// What a successful login or registration yields: the user, their API token and a new
/// cookie session.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub user: UserRow,
    pub token: String,
    pub session: SessionRow,
}

pub struct AuthService<'a> {
    pub(crate) core: &'a Core,
}

impl AuthService<'_> {
    /// `POST /auth/login` (§3.2).
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, body: &Map<String, Value>) -> Result<LoggedIn> {
        let mut f = Fields::new(body);
        let mut username = f.string("username", true).unwrap_or_default();
        let email = f.string("email", true).unwrap_or_default();
        let password = f.required_secret("password");
        f.finish()?;
        let password = password.unwrap_or_default();
        // CVAT 2 (and its SDK) may log in by e-mail instead of user name
        if username.is_empty()
            && !email.is_empty()
            && let Some(u) = self.core.db().user_by_email(&email).await?
        {
            username = u.username;
        }
        if username.is_empty() {
            return Err(Error::non_field(
                "Must include \"username\" and \"password\".",
            ));
        }
        let user = self.check_password(&username, &password).await?;
        let Some(user) = user else {
            return Err(Error::non_field(BAD_CREDENTIALS));
        };
        self.start_session(user).await
    }

    /// `POST /auth/register` (§3.4): validates everything, reports all failures at once.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, body: &Map<String, Value>) -> Result<LoggedIn> {
        let db = self.core.db();
        let mut f = Fields::new(body);
        let username = f.required_string("username", false);
        let email = f.string("email", true).unwrap_or_default();
        let first_name = f.string("first_name", false);
        let last_name = f.string("last_name", false);
        let password1 = f.required_secret("password1");
        let password2 = f.required_secret("password2");
        let confirmations = f.raw("confirmations").cloned();
        let mut errs = f.errors;

        if let Some(u) = &username {
            check_username(&mut errs, "username", u);
            if !errs.has("username") && db.username_taken(u, None).await? {
                errs.add("username", "A user with that username already exists.");
            }
        }
        if !email.is_empty() {
            check_email(&mut errs, "email", &email);
            if !errs.has("email") && db.email_taken(&email, None).await? {
                errs.add(
                    "email",
                    "A user is already registered with this e-mail address.",
                );
            }
        }
        if let Some(n) = &first_name {
            check_name(&mut errs, "first_name", n, 30);
        }
        if let Some(n) = &last_name {
            check_name(&mut errs, "last_name", n, 150);
        }
        if let Some(p) = &password1 {
            for m in passwords::strength_errors(p) {
                errs.add("password1", m);
            }
        }
        errs.clone().into_result()?;

        // Object-level checks run only when every field is valid, as in DRF.
        let (username, password1, password2) = (
            username.unwrap_or_default(),
            password1.unwrap_or_default(),
            password2.unwrap_or_default(),
        );
        if password1 != password2 {
            errs.add("non_field_errors", "The two password fields didn't match.");
        }
        for a in self
            .core
            .config()
            .user_agreements
            .iter()
            .filter(|a| a.required)
        {
            if !confirmed(confirmations.as_ref(), &a.name) {
                errs.add(
                    "non_field_errors",
                    format!("Agreement {} must be accepted", a.name),
                );
            }
        }
        errs.into_result()?;

        let hash = self
            .core
            .blocking(move || passwords::hash(&password1))
            .await?;
        let new = NewUser {
            username: username.clone(),
            password_hash: hash,
            email,
            first_name: first_name.unwrap_or_default(),
            last_name: last_name.unwrap_or_default(),
            is_staff: false,
            is_superuser: false,
            groups: self.core.config().default_groups.clone(),
        };
        let id = match db.insert_user(&new).await {
            Ok(id) => id,
            // Lost a race with another registration of the same name or e-mail.
            Err(StoreError::Unique(c)) if c.contains("email") => {
                return Err(Error::field(
                    "email",
                    "A user is already registered with this e-mail address.",
                ));
            }
            Err(StoreError::Unique(_)) => {
                return Err(Error::field(
                    "username",
                    "A user with that username already exists.",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let user = db.user(id).await?.ok_or(Error::NotFound)?;
        self.start_session(user).await
    }

    /// `POST /auth/logout` (§3.3): deletes the user's token and the given session.
    pub async fn logout(&self, user_id: Option<i64>, session_key: Option<&str>) -> Result<()> {
        if let Some(id) = user_id {
            self.core.db().delete_token(id).await?;
        }
        if let Some(k) = session_key {
            self.core.db().delete_session(k).await?;
        }
        Ok(())
    }

    /// `POST /auth/password/change` (§3.5). The current session stays valid; the user's
    /// other sessions end.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current_session: Option<&str>,
        body: &Map<String, Value>,
    ) -> Result<()> {
        let db = self.core.db();
        let user = db.user(actor.id).await?.ok_or(Error::NotFound)?;
        let mut f = Fields::new(body);
        let old = if passwords::usable(&user.password_hash) {
            f.required_secret("old_password")
        } else {
            None
        };
        let p1 = f.required_secret("new_password1");
        let p2 = f.required_secret("new_password2");
        let mut errs = f.errors;
        if let Some(old) = old {
            let stored = user.password_hash.clone();
            let ok = self
                .core
                .blocking(move || passwords::verify(&old, &stored))
                .await?;
            if ok == Verified::Bad {
                errs.add("old_password", "Invalid password");
            }
        }
        if let (Some(p1), Some(p2)) = (&p1, &p2) {
            if p1 != p2 {
                errs.add("new_password2", "The two password fields didn't match.");
            } else {
                for m in passwords::strength_errors(p2) {
                    errs.add("new_password2", m);
                }
            }
        }
        errs.into_result()?;
        let p1 = p1.unwrap_or_default();
        let hash = self.core.blocking(move || passwords::hash(&p1)).await?;
        db.set_password_hash(user.id, &hash).await?;
        db.delete_sessions_of(user.id, current_session).await?;
        Ok(())
    }

    /// `Authorization: Token <key>`.
    pub async fn authenticate_token(&self, key: &str) -> Result<UserRow> {
        match self.core.db().user_by_token(key).await? {
            None => Err(Error::Unauthenticated("Invalid token.".into())),
            Some(u) if !u.is_active => {
                Err(Error::Unauthenticated("User inactive or deleted.".into()))
            }
            Some(u) => Ok(u),
        }
    }

    /// `Authorization: Bearer <personal access token>` (CVAT 2): an unexpired token of an
    /// active user.
    /// The user and the token's id.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<(UserRow, i64)> {
        let hash = token_hash(token);
        match self
            .core
            .db()
            .use_access_token(&hash, ferrocat_store::now())
            .await?
        {
            Some((t, u)) if u.is_active => Ok((u, t.id)),
            Some(_) => Err(Error::Unauthenticated("User inactive or deleted.".into())),
            None => Err(Error::Unauthenticated("Invalid token.".into())),
        }
    }

    /// Creates a personal access token for `actor`: its row and the token, shown once.
    /// Body: `name` (required, ≤ 256), `expiry_date` (optional, in the future).
    pub async fn create_access_token(
        &self,
        actor: &Actor,
        body: &Map<String, Value>,
    ) -> Result<(ferrocat_store::access_tokens::AccessTokenRow, String)> {
        let mut f = Fields::new(body);
        let name = f.required_string("name", false);
        let expiry = f.string("expiry_date", true).filter(|s| !s.is_empty());
        let mut errs = f.errors;
        if name.as_ref().is_some_and(|n| n.chars().count() > 256) {
            errs.add("name", "Ensure this field has no more than 256 characters.");
        }
        let expiry = match expiry {
            None => None,
            Some(s) => match ferrocat_wire::time::parse(&s) {
                Some(t) if t > ferrocat_store::now() => Some(t),
                Some(_) => {
                    errs.add("expiry_date", "The expiry date must be in the future.");
                    None
                }
                None => {
                    errs.add(
                        "expiry_date",
                        "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
                    );
                    None
                }
            },
        };
        errs.into_result()?;
        let token = format!("{PAT_PREFIX}{}", random_alnum(40));
        let db = self.core.db();
        let id = db
            .insert_access_token(
                actor.id,
                &name.unwrap_or_default(),
                &token_hash(&token),
                expiry,
            )
            .await?;
        let row = db.access_token(id).await?.ok_or(Error::NotFound)?;
        Ok((row, token))
    }

    /// The caller's personal access tokens, newest first.
    pub async fn access_tokens(
        &self,
        actor: &Actor,
    ) -> Result<Vec<ferrocat_store::access_tokens::AccessTokenRow>> {
        Ok(self.core.db().access_tokens_of(actor.id).await?)
    }

    /// One of the caller's tokens (another user's is 404, as if it did not exist).
    pub async fn access_token(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<ferrocat_store::access_tokens::AccessTokenRow> {
        match self.core.db().access_token(id).await? {
            Some(t) if t.user_id == actor.id => Ok(t),
            _ => Err(Error::NotFound),
        }
    }

    /// Revokes one of the caller's tokens.
    pub async fn revoke_access_token(&self, actor: &Actor, id: i64) -> Result<()> {
        self.access_token(actor, id).await?;
        self.core.db().delete_access_token(id).await?;
        Ok(())
    }

    /// `Authorization: Basic …`.
    pub async fn authenticate_basic(&self, username: &str, password: &str) -> Result<UserRow> {
        self.check_password(username, password)
            .await?
            .ok_or_else(|| Error::Unauthenticated("Invalid username/password.".into()))
    }

    /// The `sessionid` cookie: a live session of an active user, or nothing (an unknown
    /// or expired session makes the request anonymous, as in Django).
    pub async fn authenticate_session(&self, key: &str) -> Result<Option<(UserRow, SessionRow)>> {
        let db = self.core.db();
        let Some(s) = db.session(key).await? else {
            return Ok(None);
        };
        match db.user(s.user_id).await? {
            Some(u) if u.is_active => Ok(Some((u, s))),
            _ => Ok(None),
        }
    }

    /// The session to hand to a token client that arrived without one (§3.1.2): the
    /// user's latest live session, or a new one.
    pub async fn session_for_token_client(&self, user_id: i64) -> Result<SessionRow> {
        if let Some(s) = self.core.db().latest_session(user_id).await? {
            return Ok(s);
        }
        self.new_session(user_id).await
    }

    /// `ferrocat createsuperuser`: an active staff superuser in the admin group.
    pub async fn create_superuser(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> Result<UserRow> {
        let db = self.core.db();
        let mut errs = FieldErrors::new();
        check_username(&mut errs, "username", username);
        if !email.is_empty() {
            check_email(&mut errs, "email", email);
        }
        if password.is_empty() {
            errs.add("password", "This field may not be blank.");
        }
        errs.into_result()?;
        if db.username_taken(username, None).await? {
            return Err(Error::Conflict(format!(
                "a user named {username:?} already exists"
            )));
        }
        let pw = password.to_string();
        let hash = self.core.blocking(move || passwords::hash(&pw)).await?;
        let id = db
            .insert_user(&NewUser {
                username: username.into(),
                password_hash: hash,
                email: email.into(),
                is_staff: true,
                is_superuser: true,
                groups: vec![Role::Admin.name().into()],
                ..Default::default()
            })
            .await
            .map_err(|e| match e {
                StoreError::Unique(_) => {
                    Error::Conflict(format!("user {username:?} or its e-mail already exists"))
                }
                e => e.into(),
            })?;
        db.user(id).await?.ok_or(Error::NotFound)
    }

    /// On first start: when there are no users at all, creates the superuser `admin`
    /// with `password` or a random one, and returns the password used.
    pub async fn ensure_initial_admin(&self, password: Option<String>) -> Result<Option<String>> {
        if self.core.db().count_users().await? > 0 {
            return Ok(None);
        }
        let password = password
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| random_alnum(20));
        match self.create_superuser("admin", "", &password).await {
            Ok(_) => Ok(Some(password)),
            // Another replica created it at the same moment.
            Err(Error::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The active user with this username and password, if any. Legacy hashes are
    /// upgraded on success. Runs the hash even for unknown users so that timing does not
    /// tell which usernames exist.
    async fn check_password(&self, username: &str, password: &str) -> Result<Option<UserRow>> {
        let db = self.core.db();
        let user = db.user_by_username(username).await?;
        let stored = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.to_string());
        let pw = password.to_string();
        let verdict = self
            .core
            .blocking(move || passwords::verify(&pw, &stored))
            .await?;
        let Some(user) = user else { return Ok(None) };
        if verdict == Verified::Bad || !user.is_active {
            return Ok(None);
        }
        if verdict == Verified::OkRehash {
            let pw = password.to_string();
            let hash = self.core.blocking(move || passwords::hash(&pw)).await?;
            db.set_password_hash(user.id, &hash).await?;
        }
        Ok(Some(user))
    }

    async fn start_session(&self, mut user: UserRow) -> Result<LoggedIn> {
        let db = self.core.db();
        let token = db.get_or_create_token(user.id, &random_hex(20)).await?;
        let session = self.new_session(user.id).await?;
        let now = ferrocat_store::now();
        db.set_last_login(user.id, now).await?;
        user.last_login = Some(now);
        Ok(LoggedIn {
            user,
            token,
            session,
        })
    }

    async fn new_session(&self, user_id: i64) -> Result<SessionRow> {
        let s = SessionRow {
            key: random_alnum(32).to_lowercase(),
            user_id,
            csrf: random_alnum(64),
            expires: ferrocat_store::now() + self.core.config().session_ttl,
        };
        self.core.db().insert_session(&s).await?;
        Ok(s)
    }
}

/// An argon2id hash of a random string: verified against when the user does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vq2Jv3GZ3l4bNwGkE1y5o2Xx8d3D8pMvzS2v1cQ0y8Q";

fn confirmed(confirmations: Option<&Value>, name: &str) -> bool {
    let Some(Value::Array(items)) = confirmations else {
        return false;
    };
    items.iter().any(|c| {
        c.get("name").and_then(Value::as_str) == Some(name)
            && c.get("value").and_then(ferrocat_wire::fields::parse_bool) == Some(true)
    })
}
