//! Scale-out on one PostgreSQL database: two `serve --workers 0` replicas and
//! `ferrocat worker` processes, the real binary each, sharing the database and the data
//! folder. Requests alternate between the replicas; the workers alone do the background
//! work, woken by `LISTEN/NOTIFY`; a worker killed mid-item is taken over by another.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::binary::{self, Server};
use crate::common::{new_pg_schema, pg_url};

/// A database URL of a fresh schema in `FERROCAT_TEST_PG` (required in CI).
async fn fresh_schema() -> Option<String> {
    let url = pg_url()?;
    let schema = new_pg_schema(&url).await;
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
}

fn worker(dir: &Path, env: &[(&str, String)]) -> Child {
    binary::spawn(dir, &["worker"], env, "working on the queue")
}

/// The task's status, asked of each replica in turn until it has ended.
async fn wait_alternating(replicas: &[&Server], id: i64, within: Duration) -> Value {
    let until = Instant::now() + within;
    for n in 0.. {
        let (_, s) = replicas[n % replicas.len()]
            .call(Method::GET, &format!("/api/v1/tasks/{id}/status"), None)
            .await;
        if s["state"] == "Finished" || s["state"] == "Failed" {
            return s;
        }
        assert!(Instant::now() < until, "task {id} did not end: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unreachable!()
}

/// A v1 export asked of the replicas in turn (202 until made, then 201), downloaded
/// from the other one.
async fn export(replicas: &[&Server], id: i64, format: &str) -> Vec<u8> {
    let path = format!("/api/v1/tasks/{id}/annotations?format={format}");
    let until = Instant::now() + Duration::from_secs(60);
    for n in 0.. {
        let (status, body) = replicas[n % 2].call(Method::GET, &path, None).await;
        match status {
            202 => {}
            201 => break,
            other => panic!("export {format}: {other} {body}"),
        }
        assert!(Instant::now() < until, "export {format} was not made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = replicas[1]
        .client
        .get(format!("{}{path}&action=download", replicas[1].base))
        .header("Authorization", format!("Token {}", replicas[1].token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "download {format}");
    r.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_and_workers_apart() {
    let Some(url) = fresh_schema().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("FERROCAT_DATABASE_URL", url.clone()),
        (
            "FERROCAT_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("FERROCAT_QUEUE_LEASE", "3".to_string()),
    ];
    let mut serve_env = env.to_vec();
    serve_env.push(("FERROCAT_WORKERS", "0".to_string()));
    let a = binary::start(dir.path(), &serve_env).await;
    let b = binary::start(dir.path(), &serve_env).await;
    let replicas = [&a, &b];

    // no worker yet: the replicas queue the work and do none of it
    let id = a.task("images").await;
    b.upload(id, "i.jpg", crate::media::jpeg(64, 48, 1)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, s) = a
        .call(Method::GET, &format!("/api/v1/tasks/{id}/status"), None)
        .await;
    assert_eq!(s["state"], "Queued", "{s}");
    // a worker started now takes it (and, on NOTIFY, what is queued later at once)
    let mut w1 = worker(dir.path(), &env);
    let s = wait_alternating(&replicas, id, Duration::from_secs(60)).await;
    assert_eq!(s["state"], "Finished", "{s}");
    let id2 = b.task("more").await;
    let queued = Instant::now();
    a.upload(id2, "j.jpg", crate::media::jpeg(32, 32, 9)).await;
    let s = wait_alternating(&replicas, id2, Duration::from_secs(60)).await;
    assert_eq!(s["state"], "Finished", "{s}");
    assert!(
        queued.elapsed() < Duration::from_secs(4),
        "a listening worker woke late: {:?}",
        queued.elapsed()
    );
    for r in replicas {
        let f = r
            .client
            .get(format!(
                "{}/api/v1/tasks/{id}/data?type=frame&number=0&quality=compressed",
                r.base
            ))
            .header("Authorization", format!("Token {}", r.token))
            .send()
            .await
            .unwrap();
        assert_eq!(f.status(), 200);
    }
    // exports in two formats, made by the worker, served by either replica
    let coco = export(&replicas, id, "COCO%201.0").await;
    let cvat = export(&replicas, id, "CVAT%20for%20images%201.1").await;
    assert!(coco.starts_with(b"PK") && cvat.starts_with(b"PK"));

    // the worker killed in the middle of a long item: a second one finishes it
    let video = crate::video::clip(dir.path(), "long.mp4", "640x360", 750, crate::video::H264);
    let id3 = a.task("killed").await;
    b.upload(id3, "long.mp4", video).await;
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, s) = a
            .call(Method::GET, &format!("/api/v1/tasks/{id3}/status"), None)
            .await;
        if s["state"] == "Started" && s["message"].as_str().unwrap_or("").contains("Video") {
            break;
        }
        assert!(
            s["state"] != "Finished",
            "ingest ended before the kill: {s}"
        );
        assert!(Instant::now() < until, "{s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w1.kill().unwrap(); // SIGKILL
    w1.wait().unwrap();
    let mut w2 = worker(dir.path(), &env);
    let s = wait_alternating(&replicas, id3, Duration::from_secs(120)).await;
    assert_eq!(s["state"], "Finished", "{s}");
    let (_, meta) = b
        .call(Method::GET, &format!("/api/v1/tasks/{id3}/data/meta"), None)
        .await;
    assert_eq!(meta["size"], 750);
    let _ = w2.kill();
    let _ = w2.wait();
}
