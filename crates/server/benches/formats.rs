//! Export and import benchmark (issue: import and export in every format). Run with
//! `cargo bench -p ferrocat --bench formats` (`-- --quick` for 100 frames and 10,000
//! shapes). PostgreSQL runs too when `FERROCAT_TEST_PG` (or `FERROCAT_BENCH_PG`) names a
//! server reachable with trust auth.
//!
//! Against a release ferrocat (a child process), with a task of 1,000 frames holding
//! 100,000 shapes (half rectangles, half 8-point polygons, 2 attributes each):
//! 1. for "COCO 1.0" and "CVAT for images 1.1": the time from the first export request
//!    to the downloaded file (polling as fast as a script would), and the server's peak
//!    resident memory during the export above its resident memory before it;
//! 2. the time to import that CVAT XML into a fresh task with the same labels and frames
//!    (from the upload to the 201), and the peak memory growth during it.
//!
//! Target: each under 2 s on a 2-core machine, peak memory growth under 200 MB. Figures
//! go to `target/ferrocat-bench/formats-<db>.json`, printed beside the previous run's.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Api, compare_and_store, document, median, ms, postgres_url, rss_kb, start_server};
use serde_json::{Value, json};

/// Samples the server's resident memory every 2 ms while `f` runs: (result, peak growth
/// in MB above the memory at the start).
async fn with_peak<T>(pid: u32, f: impl std::future::Future<Output = T>) -> (T, f64) {
    let base = rss_kb(pid);
    let peak = Arc::new(AtomicU64::new(base));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kb(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let out = f.await;
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let grown = peak.load(Ordering::Relaxed).saturating_sub(base);
    (out, grown as f64 / 1024.0)
}

/// The id of the task created last.
async fn newest_task(api: &Api) -> i64 {
    let r: Value = api
        .req(
            reqwest::Method::GET,
            "/api/v1/tasks?page_size=1&ordering=-id",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["results"][0]["id"].as_i64().unwrap()
}

/// Requests an export and polls until it is downloaded; the file.
async fn export(api: &Api, task: i64, format: &str) -> Vec<u8> {
    let url = format!(
        "/api/v1/tasks/{task}/annotations?format={}",
        format.replace(' ', "%20")
    );
    loop {
        let r = api.req(reqwest::Method::GET, &url).send().await.unwrap();
        match r.status().as_u16() {
            201 => break,
            202 => tokio::time::sleep(Duration::from_millis(5)).await,
            s => panic!("{format} export answered {s}"),
        }
    }
    let r = api
        .req(reqwest::Method::GET, &format!("{url}&action=download"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

/// Uploads `file` as an import and polls until it is done.
async fn import(api: &Api, task: i64, format: &str, file: &[u8]) {
    let url = format!(
        "/api/v1/tasks/{task}/annotations?format={}",
        format.replace(' ', "%20")
    );
    let mut first = Some(file.to_vec());
    loop {
        let mut form = reqwest::multipart::Form::new();
        if let Some(bytes) = first.take() {
            form = form.part(
                "annotation_file",
                reqwest::multipart::Part::bytes(bytes).file_name("annotations.zip"),
            );
        }
        let r = api
            .req(reqwest::Method::PUT, &url)
            .multipart(form)
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            201 => return,
            202 => tokio::time::sleep(Duration::from_millis(5)).await,
            s => panic!("import answered {s}: {}", r.text().await.unwrap()),
        }
    }
}

async fn rename(api: &Api, task: i64, name: &str) {
    let r = api
        .req(reqwest::Method::PATCH, &format!("/api/v1/tasks/{task}"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn run(
    db: &str,
    database_url: Option<&str>,
    frames: usize,
    shapes: usize,
    reps: usize,
) -> Value {
    let server = start_server(database_url);
    let pid = server.child.id();
    let api = Api::new(&server.base).await;
    let (labels, _) = api.task(frames, 0).await;
    let task = newest_task(&api).await;
    let doc = document(shapes, frames as i64, &labels, 7);
    let r = api
        .req(
            reqwest::Method::PUT,
            &format!("/api/v1/tasks/{task}/annotations"),
        )
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    println!("[{db}] task of {frames} frames and {shapes} shapes");

    let mut figures = json!({ "frames": frames, "shapes": shapes });
    for format in ["COCO 1.0", "CVAT for images 1.1"] {
        let mut times = Vec::new();
        let mut peak: f64 = 0.0;
        let mut size = 0;
        for rep in 0..reps {
            // a new name makes the export stale, so each repetition makes the file anew
            rename(&api, task, &format!("bench {format} {rep}")).await;
            let t = Instant::now();
            let (file, grown) = with_peak(pid, export(&api, task, format)).await;
            times.push(t.elapsed());
            peak = peak.max(grown);
            size = file.len();
        }
        let key = if format == "COCO 1.0" {
            "coco"
        } else {
            "cvat_images"
        };
        let med = median(&mut times);
        println!(
            "[{db}] export {format:20}: median {:8.1} ms, file {:.1} MB, peak memory growth {peak:.0} MB",
            ms(med),
            size as f64 / 1e6
        );
        figures[format!("export_{key}_ms")] = json!(ms(med));
        figures[format!("export_{key}_rss_mb")] = json!(peak);
    }
    // the CVAT file to import: one more export, downloaded whole
    rename(&api, task, "bench import source").await;
    let cvat_zip = export(&api, task, "CVAT for images 1.1").await;

    let (_, _) = api.task(frames, 0).await;
    let target = newest_task(&api).await;
    let mut times = Vec::new();
    let mut peak: f64 = 0.0;
    for _ in 0..reps {
        let t = Instant::now();
        let ((), grown) = with_peak(pid, import(&api, target, "CVAT 1.1", &cvat_zip)).await;
        times.push(t.elapsed());
        peak = peak.max(grown);
    }
    let med = median(&mut times);
    println!(
        "[{db}] import CVAT 1.1 ({:.1} MB zip): median {:8.1} ms, peak memory growth {peak:.0} MB",
        cvat_zip.len() as f64 / 1e6,
        ms(med)
    );
    figures["import_cvat_ms"] = json!(ms(med));
    figures["import_cvat_rss_mb"] = json!(peak);
    let stored: Value = api
        .req(
            reqwest::Method::GET,
            &format!("/api/v1/tasks/{target}/annotations"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored["shapes"].as_array().unwrap().len(),
        shapes,
        "the import stored every shape"
    );
    figures
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (frames, shapes, reps) = if quick {
        (100, 10_000, 3)
    } else {
        (1_000, 100_000, 3)
    };
    let sqlite = run("sqlite", None, frames, shapes, reps).await;
    compare_and_store("formats", "sqlite", &sqlite);
    match postgres_url().await {
        Some(url) => {
            let pg = run("postgres", Some(&url), frames, shapes, reps).await;
            compare_and_store("formats", "postgres", &pg);
        }
        None => println!("PostgreSQL: no FERROCAT_TEST_PG / FERROCAT_BENCH_PG set, skipped"),
    }
}
