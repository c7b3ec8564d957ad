//! The test harness: a real ferrocat on a random port, on SQLite (a temp file) or
//! PostgreSQL (a fresh schema of the server in `FERROCAT_TEST_PG`).

use std::str::FromStr;

use ferrocat::{Application, Config};
use ferrocat_store::Db;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use tokio::sync::oneshot;

pub const ADMIN_PASSWORD: &str = "Adm1n-secret-pass";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub db: Db,
    data: std::path::PathBuf,
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A response: status, headers and JSON body (`Value::Null` when not JSON).
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    /// All `Set-Cookie` values.
    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    /// The value of one cookie set by this response.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies().iter().find_map(|c| {
            let first = c.split(';').next()?;
            let (k, v) = first.split_once('=')?;
            (k == name).then(|| v.to_string())
        })
    }
}

/// Where PostgreSQL tests run, if anywhere. In CI (`CI` set) it is required.
pub fn pg_url() -> Option<String> {
    match std::env::var("FERROCAT_TEST_PG") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("CI").is_ok() {
                panic!("FERROCAT_TEST_PG must be set in CI: PostgreSQL tests may not be skipped");
            }
            eprintln!(
                "notice: FERROCAT_TEST_PG is unset; skipping the PostgreSQL variant of this test"
            );
            None
        }
    }
}

/// Creates an empty schema in the database at `url`; its name.
pub async fn new_pg_schema(url: &str) -> String {
    let schema = format!("ft_{}", ferrocat_core::random_alnum(12).to_lowercase());
    let admin = Db::connect(url, 1)
        .await
        .expect("connect to FERROCAT_TEST_PG");
    if let Db::Postgres(p) = &admin {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(p)
            .await
            .expect("create schema");
    }
    admin.close().await;
    schema
}

/// A fresh, migrated PostgreSQL schema of its own.
pub async fn pg_db() -> Option<Db> {
    let url = pg_url()?;
    let schema = new_pg_schema(&url).await;
    let opts = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let db = Db::connect_postgres(opts, 8)
        .await
        .expect("connect to schema");
    db.migrate().await.expect("migrate postgres");
    Some(db)
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts a server; `tweak` adjusts the configuration first.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(dir.path());
        config.admin_password = Some(ADMIN_PASSWORD.into());
        config.auth_rate_limit = "0".into();
        tweak(&mut config);
        let db = match backend {
            Backend::Sqlite => ferrocat::app::open_db(&config).await.unwrap(),
            Backend::Postgres => pg_db().await?,
        };
        let data = config.data_dir.clone();
        let app = Application::build_with_db(config, db.clone())
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut t = TestApp {
            base,
            client,
            admin_token: String::new(),
            db,
            data,
            _dir: dir,
            shutdown: Some(tx),
            server: Some(server),
        };
        t.admin_token = t.login("admin", ADMIN_PASSWORD).await;
        Some(t)
    }

    /// The data folder of this server.
    pub fn data_path(&self) -> std::path::PathBuf {
        self.data.clone()
    }

    /// The share root of this server.
    pub fn share_dir(&self) -> std::path::PathBuf {
        self.data.join("share")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request; `body` goes as JSON unless `None`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut rb = self.client.request(method, self.url(path));
        if let Some(t) = token {
            rb = rb.header("Authorization", format!("Token {t}"));
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        Self::read(rb.send().await.unwrap()).await
    }

    pub async fn read(r: reqwest::Response) -> Resp {
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// Logs in with a JSON body and returns the token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(r.status, 200, "login {username}: {}", r.body);
        r.body["key"].as_str().unwrap().to_string()
    }

    /// Shuts the server down as SIGTERM does and waits until `run_until` returns;
    /// returns how long that took.
    pub async fn stop(&mut self) -> std::time::Duration {
        let started = std::time::Instant::now();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        started.elapsed()
    }

    /// Registers a user and returns `(id, token)`.
    pub async fn register(&self, username: &str, password: &str) -> (i64, String) {
        let r = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"username": username, "email": format!("{username}@example.com"),
                       "password1": password, "password2": password,
                       "first_name": "First", "last_name": "Last"}),
            )
            .await;
        assert_eq!(r.status, 201, "register {username}: {}", r.body);
        let token = r.body["key"].as_str().unwrap().to_string();
        let me = self.get("/api/v1/users/self", &token).await;
        (me.body["id"].as_i64().unwrap(), token)
    }

    /// Registers a user and puts them in exactly these groups (as admin).
    pub async fn user_in(&self, username: &str, groups: &[&str]) -> (i64, String) {
        let (id, token) = self.register(username, "Str0ng-Passw0rd!").await;
        let r = self
            .patch(
                &format!("/api/v1/users/{id}"),
                &self.admin_token,
                json!({"groups": groups}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        (id, token)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Expands each `async fn name(app: TestApp)` into `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::common::{Backend, TestApp};
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(TestApp::spawn(Backend::Sqlite).await.unwrap()).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = TestApp::spawn(Backend::Postgres).await {
                        super::$name(app).await
                    }
                }
            }
        )*
    };
}
