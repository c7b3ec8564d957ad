//! Annotation benchmarks (issue: annotations, fast at 100,000 objects). Run with
//! `cargo bench -p ferrocat --bench annotations` (`-- --quick` for 20,000 shapes).
//! PostgreSQL runs too when `FERROCAT_TEST_PG` (or `FERROCAT_BENCH_PG`) names a server
//! reachable with trust auth; a database `ferrocat_bench` is created there afresh.
//!
//! Against a release ferrocat (a child process, as users run it), with a job of 100,000
//! shapes (half rectangles, half 8-point polygons, 2 attributes each):
//! 1. `PUT /jobs/{id}/annotations` of the whole job, as a ratio to the time serde_json
//!    takes to parse the same body into the same structs (the floor) — target ≤ 6×;
//! 2. `GET /jobs/{id}/annotations`, as a ratio to the time serde_json takes to serialize
//!    the same response from memory — target ≤ 4×: the first read after a write (rendered
//!    from the database) and a read of an unchanged job (from the document cache);
//! 3. `PATCH ?action=create` of 100 shapes into that job: median (target < 20 ms), p90;
//! 4. 16 concurrent clients doing GET on small jobs (100 shapes): requests/s, p50, p99.
//!
//! Figures are written to `target/ferrocat-bench/annotations-<db>.json`; when that file
//! exists from an earlier run, the new figures are printed beside the old ones.

use std::io::Cursor;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrocat_wire::annotations::{AttributeValue, LabeledData, Shape, ShapeType};
use image::{DynamicImage, ImageFormat, RgbImage};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_ferrocat");
const PASSWORD: &str = "bench-Pass-1";

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(database_url: Option<&str>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir.path())
        .env("FERROCAT_LISTEN", format!("127.0.0.1:{port}"))
        .env("FERROCAT_ADMIN_PASSWORD", PASSWORD)
        .env("FERROCAT_AUTH_RATE_LIMIT", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
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

struct Api {
    c: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn new(base: &str) -> Api {
        let c = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        let r: Value = c
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Api {
            c,
            base: base.to_string(),
            token: r["key"].as_str().unwrap().to_string(),
        }
    }

    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.c
            .request(m, format!("{}{path}", self.base))
            .header("Authorization", format!("Token {}", self.token))
    }

    /// A processed task of `frames` tiny images with two labels of two attributes;
    /// returns (labels with spec ids, job ids).
    async fn task(&self, frames: usize, segment: usize) -> (Vec<(i64, [i64; 2])>, Vec<i64>) {
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

/// `n` shapes: even ones rectangles, odd ones 8-point polygons, 2 attributes each.
fn document(n: usize, frames: i64, labels: &[(i64, [i64; 2])], seed: u64) -> LabeledData {
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

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the four measurements against one server; returns the figures.
async fn run(db: &str, database_url: Option<&str>, shapes: usize, reps: usize) -> Value {
    let server = start_server(database_url);
    let api = Api::new(&server.base).await;
    let frames = 50;
    let (labels, jobs) = api.task(frames, 0).await;
    let job = jobs[0];
    let doc = document(shapes, frames as i64, &labels, 1);
    let body = serde_json::to_vec(&doc).unwrap();
    println!(
        "[{db}] job of {shapes} shapes, request body {:.1} MB",
        body.len() as f64 / 1e6
    );

    // Floors, in this process: parse the body into the structs; serialize the response.
    let mut parse = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        let d: LabeledData = serde_json::from_slice(&body).unwrap();
        parse.push(t.elapsed());
        std::hint::black_box(d);
    }
    let mut put = Vec::new();
    let mut cold = Vec::new();
    let mut stored = LabeledData::default();
    for _ in 0..reps {
        let t = Instant::now();
        let r = api
            .req(
                reqwest::Method::PUT,
                &format!("/api/v1/jobs/{job}/annotations"),
            )
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let bytes = r.bytes().await.unwrap();
        put.push(t.elapsed());
        stored = serde_json::from_slice(&bytes).unwrap();
        // the first read after a write renders the job from the database
        let t = Instant::now();
        let r = api
            .req(
                reqwest::Method::GET,
                &format!("/api/v1/jobs/{job}/annotations"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let bytes = r.bytes().await.unwrap();
        cold.push(t.elapsed());
        assert!(bytes.len() > body.len() / 2);
    }
    let mut ser = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        let v = serde_json::to_vec(&stored).unwrap();
        ser.push(t.elapsed());
        std::hint::black_box(v);
    }
    let mut get = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        let r = api
            .req(
                reqwest::Method::GET,
                &format!("/api/v1/jobs/{job}/annotations"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let bytes = r.bytes().await.unwrap();
        get.push(t.elapsed());
        assert!(bytes.len() > body.len() / 2);
    }
    let (parse_m, put_m, ser_m, get_m, cold_m) = (
        median(&mut parse),
        median(&mut put),
        median(&mut ser),
        median(&mut get),
        median(&mut cold),
    );
    println!(
        "[{db}] PUT whole job   median {:8.1} ms | serde_json parse  {:7.1} ms | ratio {:5.2} (target ≤ 6)",
        ms(put_m),
        ms(parse_m),
        put_m.as_secs_f64() / parse_m.as_secs_f64()
    );
    println!(
        "[{db}] GET first after a write {:8.1} ms | serde_json encode {:7.1} ms | ratio {:5.2} (target ≤ 4)",
        ms(cold_m),
        ms(ser_m),
        cold_m.as_secs_f64() / ser_m.as_secs_f64()
    );
    println!(
        "[{db}] GET unchanged job       {:8.1} ms | serde_json encode {:7.1} ms | ratio {:5.2} (target ≤ 4)",
        ms(get_m),
        ms(ser_m),
        get_m.as_secs_f64() / ser_m.as_secs_f64()
    );

    // PATCH create of 100 shapes into the big job.
    let mut patch = Vec::new();
    for n in 0..40 {
        let small = serde_json::to_vec(&document(100, frames as i64, &labels, 100 + n)).unwrap();
        let t = Instant::now();
        let r = api
            .req(
                reqwest::Method::PATCH,
                &format!("/api/v1/jobs/{job}/annotations?action=create"),
            )
            .header("Content-Type", "application/json")
            .body(small)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        patch.push(t.elapsed());
    }
    let patch_m = median(&mut patch);
    let patch_p90 = pct(&mut patch, 0.9);
    println!(
        "[{db}] PATCH create 100 median {:7.2} ms | p90 {:7.2} ms (target median < 20 ms)",
        ms(patch_m),
        ms(patch_p90)
    );

    // 16 clients GET small jobs (100 shapes each) for a few seconds.
    let (small_labels, small_jobs) = api.task(16, 1).await;
    for (n, j) in small_jobs.iter().enumerate() {
        let d = document(100, 1, &small_labels, 1000 + n as u64);
        let mut v = serde_json::to_value(&d).unwrap();
        for s in v["shapes"].as_array_mut().unwrap() {
            s["frame"] = json!(n);
        }
        let r = api
            .req(
                reqwest::Method::PUT,
                &format!("/api/v1/jobs/{j}/annotations"),
            )
            .json(&v)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let api = Arc::new(api);
    let small_jobs = Arc::new(small_jobs);
    let until = Instant::now() + Duration::from_secs(5);
    let started = Instant::now();
    let mut handles = Vec::new();
    for c in 0..16usize {
        let api = api.clone();
        let jobs = small_jobs.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut k = c;
            while Instant::now() < until {
                let j = jobs[k % jobs.len()];
                k += 1;
                let t = Instant::now();
                let r = api
                    .req(
                        reqwest::Method::GET,
                        &format!("/api/v1/jobs/{j}/annotations"),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    let rps = lat.len() as f64 / secs;
    let p50 = pct(&mut lat, 0.5);
    let p99 = pct(&mut lat, 0.99);
    println!(
        "[{db}] 16 clients GET small jobs: {rps:7.0} req/s | p50 {:6.2} ms | p99 {:6.2} ms",
        ms(p50),
        ms(p99)
    );
    json!({
        "shapes": shapes,
        "put_ms": ms(put_m), "parse_floor_ms": ms(parse_m),
        "put_ratio": put_m.as_secs_f64() / parse_m.as_secs_f64(),
        "get_ms": ms(get_m), "serialize_floor_ms": ms(ser_m),
        "get_ratio": get_m.as_secs_f64() / ser_m.as_secs_f64(),
        "get_after_write_ms": ms(cold_m),
        "get_after_write_ratio": cold_m.as_secs_f64() / ser_m.as_secs_f64(),
        "patch_create_100_median_ms": ms(patch_m), "patch_create_100_p90_ms": ms(patch_p90),
        "small_get_rps": rps, "small_get_p50_ms": ms(p50), "small_get_p99_ms": ms(p99),
    })
}

/// Prints the new figures beside the previous run's, then stores the new ones.
fn compare_and_store(db: &str, figures: &Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ferrocat-bench");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("annotations-{db}.json"));
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
async fn postgres_url() -> Option<String> {
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (shapes, reps) = if quick { (20_000, 3) } else { (100_000, 5) };
    let sqlite = run("sqlite", None, shapes, reps).await;
    compare_and_store("sqlite", &sqlite);
    match postgres_url().await {
        Some(url) => {
            let pg = run("postgres", Some(&url), shapes, reps).await;
            compare_and_store("postgres", &pg);
        }
        None => println!("PostgreSQL: no FERROCAT_TEST_PG / FERROCAT_BENCH_PG set, skipped"),
    }
}
