//! The `ferrocat` binary as a newcomer runs it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_ferrocat");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn clean_env(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("FERROCAT_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// `ferrocat serve`-style start with no arguments in an empty folder: the printed admin
/// password logs in, and `/users/self` answers as the seed shows; SIGTERM stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_in_an_empty_folder_prints_a_working_admin_password() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(BIN);
    clean_env(&mut cmd)
        .current_dir(dir.path())
        .env("FERROCAT_LISTEN", format!("127.0.0.1:{port}"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut password = None;
    let mut listening = false;
    while Instant::now() < deadline && !(password.is_some() && listening) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(i) = line.find("with password: ") {
                password = line[i + 15..]
                    .split_whitespace()
                    .next()
                    .map(|s| s.to_string());
            }
            listening |= line.contains("listening on");
        }
    }
    let password = password.expect("the admin password is printed on first start");
    assert!(listening);
    assert!(
        dir.path().join("data/ferrocat.db").exists(),
        "SQLite database in ./data"
    );
    assert!(dir.path().join("data/share").is_dir());

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .form(&[("username", "admin"), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let key = r.json::<serde_json::Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let me: serde_json::Value = client
        .get(format!("{base}/api/v1/users/self"))
        .header("Authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "admin");
    assert_eq!(me["groups"], json!(["admin"]));
    assert_eq!(me["is_superuser"], true);
    // one log line per request with method, path and status
    let mut seen = false;
    let until = Instant::now() + Duration::from_secs(5);
    while !seen && Instant::now() < until {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen = line.contains("request")
                && line.contains("/api/v1/users/self")
                && line.contains("status=200");
        }
    }
    assert!(seen, "a request log line");

    // graceful stop on SIGTERM
    let pid = server.0.id();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let mut server = server;
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            assert!(status.success(), "clean exit on SIGTERM: {status:?}");
            break;
        }
        assert!(Instant::now() < until, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }

    // a second start does not create another admin nor print a password
    let out = clean_env(&mut Command::new(BIN))
        .current_dir(dir.path())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn createsuperuser_and_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        clean_env(&mut Command::new(BIN))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "createsuperuser",
        "--username",
        "root",
        "--email",
        "root@example.com",
        "--password",
        "pw-Root-1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("root"));
    let out = run(&[
        "createsuperuser",
        "--username",
        "ROOT",
        "--email",
        "x@example.com",
        "--password",
        "pw",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = run(&["--time-zone", "Nowhere/Land", "migrate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("time-zone"));
}

#[test]
fn help_documents_every_option() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--listen",
        "FERROCAT_LISTEN",
        "--data-dir",
        "FERROCAT_DATA_DIR",
        "--share-dir",
        "FERROCAT_SHARE_DIR",
        "--database-url",
        "FERROCAT_DATABASE_URL",
        "--time-zone",
        "FERROCAT_TIME_ZONE",
        "FERROCAT_ADMIN_PASSWORD",
        "FERROCAT_DEFAULT_GROUPS",
        "FERROCAT_AUTH_RATE_LIMIT",
        "serve",
        "migrate",
        "createsuperuser",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}:\n{help}");
    }
}
