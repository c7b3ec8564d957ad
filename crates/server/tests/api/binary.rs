//! The `ferrocat` binary started as an operator starts it, with its own data folder and
//! environment, for the tests that watch the process (RSS, signals) or drive it with
//! outside tools.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_ferrocat");
pub const PASSWORD: &str = "Res0urce-test-pass";

pub struct Server {
    pub child: Child,
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/<pid>/status` figure in bytes (`VmRSS`, `VmHWM`).
pub fn proc_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
        * 1024
}

/// Runs the binary with `args` in `dir` with `env` (and the admin password, and no
/// other `FERROCAT_*` variable of the test's own) until its log says `ready`.
pub fn spawn(dir: &Path, args: &[&str], env: &[(&str, String)], ready: &str) -> Child {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("FERROCAT_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .args(args)
        .current_dir(dir)
        .env("FERROCAT_ADMIN_PASSWORD", PASSWORD)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let until = Instant::now() + Duration::from_secs(60);
    while !rx
        .recv_timeout(Duration::from_millis(200))
        .is_ok_and(|l| l.contains(ready))
    {
        assert!(Instant::now() < until, "ferrocat {args:?} did not start");
    }
    child
}

/// Starts the server in `dir` with `env` (and the admin password) and logs in as admin.
pub async fn start(dir: &Path, env: &[(&str, String)]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = env.to_vec();
    env.push(("FERROCAT_LISTEN", format!("127.0.0.1:{port}")));
    let child = spawn(dir, &[], &env, "listening on");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let r: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .form(&[("username", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = r["key"].as_str().unwrap().to_string();
    Server {
        child,
        base,
        token,
        client,
    }
}

impl Server {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("Token {}", self.token))
            .timeout(Duration::from_secs(30));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn task(&self, name: &str) -> i64 {
        let (s, b) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/tasks",
                Some(json!({"name": name, "labels": [{"name": "x"}]})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_i64().unwrap()
    }

    pub async fn upload(&self, id: i64, name: &str, bytes: Vec<u8>) {
        let form = reqwest::multipart::Form::new()
            .text("image_quality", "70")
            .part(
                "client_files[0]",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
            );
        let r = self
            .client
            .post(format!("{}/api/v1/tasks/{id}/data", self.base))
            .header("Authorization", format!("Token {}", self.token))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }

    pub async fn attach(&self, id: i64, body: Value) {
        let (s, b) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/tasks/{id}/data"),
                Some(body),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }

    pub async fn wait(&self, id: i64) -> Value {
        let until = Instant::now() + Duration::from_secs(120);
        loop {
            let (_, s) = self
                .call(
                    reqwest::Method::GET,
                    &format!("/api/v1/tasks/{id}/status"),
                    None,
                )
                .await;
            if s["state"] == "Finished" || s["state"] == "Failed" {
                return s;
            }
            assert!(Instant::now() < until, "task {id} did not end: {s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn about_answers(&self) {
        let (s, _) = self
            .call(reqwest::Method::GET, "/api/v1/server/about", None)
            .await;
        assert_eq!(s, 200);
    }
}
