//! What the benchmarks share: a release ferrocat started as a child process, an API
//! client, percentiles, peak memory, and figures kept between runs.
#![allow(dead_code)]

use std::io::Cursor;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrocat_wire::annotations::{AttributeValue, LabeledData, Shape, ShapeType};
use image::{DynamicImage, ImageFormat, RgbImage};
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_ferrocat");
pub const PASSWORD: &str = "bench-Pass-1";

pub struct Server {
    pub child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_server(database_url: Option<&str>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // FERROCAT_BENCH_BIN runs another build (say, a copy of main's) for A/B figures.
    let bin = std::env::var("FERROCAT_BENCH_BIN").unwrap_or_else(|_| BIN.to_owned());
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir.path())
        .env("FERROCAT_LISTEN", format!("127.0.0.1:{port}"))
        .env("FERROCAT_ADMIN_PASSWORD", PASSWORD)
        .env("FERROCAT_AUTH_RATE_LIMIT", "0")
        .stdout(Stdio::null());
    // FERROCAT_BENCH_LOG=<file> keeps the server's log (at RUST_LOG's level) there.
    match std::env::var("FERROCAT_BENCH_LOG") {
        Ok(path) => {
            let log = std::fs::File::create(path).unwrap();
            cmd.env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stderr(log);
        }
        Err(_) => {
            cmd.env("RUST_LOG", "warn").stderr(Stdio::null());
        }
    }
    if let Some(url) = database_url {
        cmd.env("FERROCAT_DATABASE_URL", url);
    }
    let child = cmd.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let until = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        base,
        _dir: dir,
    }
}

impl Server {
    /// The server's share folder (`<data-dir>/share`, the default).
    pub fn share_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("data/share")
    }
}

pub struct Api {
    pub c: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub async fn new(base: &str) -> Api {
        let c = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        let token = login(&c, base).await;
        Api {
            c,
            base: base.to_string(),
            token,
        }
    }

    pub fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.c
            .request(m, format!("{}{path}", self.base))
            .header("Authorization", format!("Token {}", self.token))
    }

    /// A processed task of `frames` tiny images with two labels of two attributes;
    /// returns (labels with spec ids, job ids).
    pub async fn task(&self, frames: usize, segment: usize) -> (Vec<(i64, [i64; 2])>, Vec<i64>) {
        let body = json!({"name": "bench", "segment_size": segment, "labels": [
            {"name": "car", "attributes": [
                {"name": "model", "mutable": false, "input_type": "select", "default_value": "a", "values": ["a", "b"]},
                {"name": "color", "mutable": true, "input_type": "text", "default_value": "", "values": []}]},
            {"name": "person", "attributes": [
                {"name": "age", "mutable": true, "input_type": "number", "default_value": "1", "values": ["0", "100", "1"]},
                {"name": "pose", "mutable": false, "input_type": "radio", "default_value": "up", "values": ["up", "down"]}]}
        ]});
        let task: Value = self
            .req(reqwest::Method::POST, "/api/v1/tasks")
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = task["id"].as_i64().unwrap();
        let mut jpeg = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(RgbImage::from_pixel(32, 24, image::Rgb([90, 120, 30])))
            .write_to(&mut jpeg, ImageFormat::Jpeg)
            .unwrap();
        let jpeg = jpeg.into_inner();
        let mut form = reqwest::multipart::Form::new().text("image_quality", "70");
        for i in 0..frames {
            form = form.part(
                format!("client_files[{i}]"),
                reqwest::multipart::Part::bytes(jpeg.clone()).file_name(format!("{i:05}.jpg")),
            );
        }
        let r = self
            .req(reqwest::Method::POST, &format!("/api/v1/tasks/{id}/data"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        loop {
            let s: Value = self
                .req(reqwest::Method::GET, &format!("/api/v1/tasks/{id}/status"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            match s["state"].as_str().unwrap() {
                "Finished" => break,
                "Failed" => panic!("task failed: {s}"),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        let task: Value = self
            .req(reqwest::Method::GET, &format!("/api/v1/tasks/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let labels = task["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let a = l["attributes"].as_array().unwrap();
                (
                    l["id"].as_i64().unwrap(),
                    [a[0]["id"].as_i64().unwrap(), a[1]["id"].as_i64().unwrap()],
                )
            })
            .collect();
        let jobs = task["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["jobs"][0]["id"].as_i64().unwrap())
            .collect();
        (labels, jobs)
    }
}

pub fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Peak resident memory of a process so far (kB).
pub fn rss_peak_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM:")
}

/// Resident memory of a process now (kB).
pub fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(key)).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0)
}

/// Resets a process's peak resident memory to its current one (Linux ≥ 4.0); false
/// when the kernel refused.
pub fn reset_rss_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Prints `figures` beside those of the previous run of `bench` on `db` (when the
/// sizes match), then stores them in `target/ferrocat-bench/<bench>-<db>.json`.
pub fn compare_and_store(bench: &str, db: &str, figures: &Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ferrocat-bench");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{bench}-{db}.json"));
    if let Ok(old) = std::fs::read(&path)
        && let Ok(old) = serde_json::from_slice::<Value>(&old)
        && old["shapes"] == figures["shapes"]
    {
        println!("[{db}] against the previous run ({}):", path.display());
        for (k, v) in figures.as_object().unwrap() {
            if let (Some(new), Some(prev)) = (v.as_f64(), old[k].as_f64())
                && k != "shapes"
            {
                println!("    {k:28} {prev:10.2} → {new:10.2}");
            }
        }
    }
    let _ = std::fs::write(&path, serde_json::to_vec_pretty(figures).unwrap());
}

/// A fresh PostgreSQL database for the benchmark, if a server is configured.
pub async fn postgres_url() -> Option<String> {
    let base = std::env::var("FERROCAT_BENCH_PG")
        .or_else(|_| std::env::var("FERROCAT_TEST_PG"))
        .ok()?;
    use sqlx::Connection;
    let mut conn = match sqlx::PgConnection::connect(&base).await {
        Ok(c) => c,
        Err(e) => {
            println!("PostgreSQL at {base} not reachable ({e}): skipped");
            return None;
        }
    };
    use sqlx::Executor;
    conn.execute("DROP DATABASE IF EXISTS ferrocat_bench WITH (FORCE)")
        .await
        .ok()?;
    conn.execute("CREATE DATABASE ferrocat_bench").await.ok()?;
    let (head, _) = base.rsplit_once('/')?;
    Some(format!("{head}/ferrocat_bench"))
}

/// `n` shapes: even ones rectangles, odd ones 8-point polygons, 2 attributes each.
pub fn document(n: usize, frames: i64, labels: &[(i64, [i64; 2])], seed: u64) -> LabeledData {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let shapes = (0..n)
        .map(|i| {
            let (label, specs) = labels[i % labels.len()];
            let (x, y) = (rnd() * 1800.0, rnd() * 1000.0);
            let (kind, points) = if i % 2 == 0 {
                (
                    ShapeType::Rectangle,
                    vec![x, y, x + 20.0 + rnd() * 100.0, y + 20.0 + rnd() * 80.0],
                )
            } else {
                (
                    ShapeType::Polygon,
                    (0..8)
                        .flat_map(|k| {
                            let a = k as f64 * std::f64::consts::PI / 4.0;
                            [x + a.cos() * 30.0 + rnd(), y + a.sin() * 30.0 + rnd()]
                        })
                        .collect(),
                )
            };
            Shape {
                kind,
                occluded: i % 7 == 0,
                z_order: (i % 5) as i64,
                points,
                id: None,
                frame: (i as i64) % frames,
                label_id: label,
                group: Some(0),
                attributes: vec![
                    AttributeValue {
                        spec_id: specs[0],
                        value: "b".into(),
                    },
                    AttributeValue {
                        spec_id: specs[1],
                        value: format!("v{}", i % 13),
                    },
                ],
            }
        })
        .collect();
    LabeledData {
        version: 0,
        tracks: vec![],
        shapes,
        tags: vec![],
    }
}

/// The admin's token on a bench server.
pub async fn login(c: &reqwest::Client, base: &str) -> String {
    let r: serde_json::Value = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["key"].as_str().unwrap().to_string()
}

/// A new task with one label.
pub async fn new_task(c: &reqwest::Client, base: &str, token: &str) -> i64 {
    let r: serde_json::Value = c
        .post(format!("{base}/api/v1/tasks"))
        .header("Authorization", format!("Token {token}"))
        .json(&serde_json::json!({"name": "bench", "labels": [{"name": "car", "attributes": []}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["id"].as_i64().unwrap()
}

/// Polls a task's status until it ends: `Finished …` or `Failed <message>`.
pub async fn wait_finished(c: &reqwest::Client, base: &str, token: &str, id: i64) -> String {
    loop {
        let r: serde_json::Value = c
            .get(format!("{base}/api/v1/tasks/{id}/status"))
            .header("Authorization", format!("Token {token}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let s = r["state"].as_str().unwrap().to_string();
        if s == "Finished" || s == "Failed" {
            return format!("{s} {}", r["message"]);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
