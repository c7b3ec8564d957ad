//! Annotation benchmarks (issue: annotations, fast at 100,000 objects). Run with
//! `cargo bench -p ferrocat --bench annotations` (`-- --quick` for 20,000 shapes,
//! `-- --db=sqlite` or `-- --db=postgres` for one engine only).
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

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Api, compare_and_store, document, median, ms, pct, postgres_url, start_server};
use ferrocat_wire::annotations::LabeledData;
use serde_json::{Value, json};

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
    // Each is timed right beside the request it is the floor of, so that a machine that
    // slows down or speeds up during the run moves both alike.
    let parse_floor = || {
        let t = Instant::now();
        let d: LabeledData = serde_json::from_slice(&body).unwrap();
        let e = t.elapsed();
        std::hint::black_box(d);
        e
    };
    let serialize_floor = |doc: &LabeledData| {
        let t = Instant::now();
        let v = serde_json::to_vec(doc).unwrap();
        let e = t.elapsed();
        std::hint::black_box(v);
        e
    };
    let get_job = || async {
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
        let e = t.elapsed();
        assert!(bytes.len() > body.len() / 2);
        e
    };
    let (mut parse, mut put, mut cold, mut ser, mut get) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        parse.push(parse_floor());
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
        parse.push(parse_floor());
        let stored: LabeledData = serde_json::from_slice(&bytes).unwrap();
        ser.push(serialize_floor(&stored));
        // the first read after a write renders the job from the database
        cold.push(get_job().await);
        ser.push(serialize_floor(&stored));
    }
    let stored: LabeledData = {
        let r = api
            .req(
                reqwest::Method::GET,
                &format!("/api/v1/jobs/{job}/annotations"),
            )
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    };
    for _ in 0..reps {
        ser.push(serialize_floor(&stored));
        get.push(get_job().await);
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
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let only = std::env::args().find_map(|a| a.strip_prefix("--db=").map(str::to_owned));
    let wants = |db: &str| only.as_deref().is_none_or(|o| o == db);
    let (shapes, reps) = if quick { (20_000, 3) } else { (100_000, 5) };
    if wants("sqlite") {
        let sqlite = run("sqlite", None, shapes, reps).await;
        compare_and_store("annotations", "sqlite", &sqlite);
    }
    if !wants("postgres") {
        return;
    }
    match postgres_url().await {
        Some(url) => {
            let pg = run("postgres", Some(&url), shapes, reps).await;
            compare_and_store("annotations", "postgres", &pg);
        }
        None => println!("PostgreSQL: no FERROCAT_TEST_PG / FERROCAT_BENCH_PG set, skipped"),
    }
}
