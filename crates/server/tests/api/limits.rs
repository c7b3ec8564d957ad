//! Issue 16: what a hostile or broken client can no longer do to the server — idle
//! connections, slow remote servers, long file names, big uploads, and a shutdown that
//! waits forever. Connection handling is not storage, so most of these run on SQLite
//! only; the upload limits run on both databases.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{Backend, TestApp};
use crate::db_tests;
use crate::media::jpeg;
use crate::tasks::{create, upload, wait};

/// Opens `n` connections that each send half a request line and then wait.
async fn idle_sockets(app: &TestApp, n: usize) -> Vec<TcpStream> {
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /api/v1/server/about HT").await.unwrap();
        out.push(s);
    }
    out
}

/// Whether the server closes `s` within `within` (EOF or reset, after any bytes).
async fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// The time of one `GET /api/v1/server/about` on a new connection.
async fn about(app: &TestApp) -> Duration {
    let started = Instant::now();
    let client = reqwest::Client::new();
    let r = client
        .get(app.url("/api/v1/server/about"))
        .header("Authorization", format!("Token {}", app.admin_token))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    started.elapsed()
}

/// 1,000 idle sockets, or fewer where the open-file limit cannot hold them beside the
/// server's own (both ends are in this process).
pub fn idle_count() -> usize {
    let limit = ferrocat::serve::raise_open_file_limit().unwrap_or(1024);
    let n = usize::try_from(limit / 2)
        .unwrap_or(1000)
        .saturating_sub(300)
        .clamp(50, 1000);
    if n < 1000 {
        eprintln!("notice: the open-file limit is {limit}: {n} idle sockets instead of 1,000");
    }
    n
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_do_not_slow_requests() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.header_timeout = 2)
        .await
        .unwrap();
    let mut before = Vec::new();
    for _ in 0..15 {
        before.push(about(&app).await);
    }
    let mut idle = idle_sockets(&app, idle_count()).await;
    let mut during = Vec::new();
    for _ in 0..15 {
        during.push(about(&app).await);
    }
    let (before, during) = (median(before), median(during));
    eprintln!(
        "GET /server/about median: {before:?} alone, {during:?} beside {} idle sockets",
        idle.len()
    );
    // every request answered; a median of well under the idle timeout shows no waiting
    assert!(during < Duration::from_secs(1), "{during:?}");
    // the half-sent requests are closed after the header timeout
    for s in idle.iter_mut().step_by(50) {
        assert!(closed_by_server(s, Duration::from_secs(10)).await);
    }
    // a keep-alive connection that goes quiet is closed too
    let mut s = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"GET /api/v1/server/about HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    assert!(closed_by_server(&mut s, Duration::from_secs(10)).await);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_queues_clients_until_idle_ones_time_out() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.header_timeout = 1;
        c.max_connections = 8;
    })
    .await
    .unwrap();
    // TestApp's own client holds a keep-alive connection from the login: close it first
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut idle = idle_sockets(&app, 8).await;
    // the ninth client waits in the listen queue and is served once they time out
    let waited = about(&app).await;
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    for s in &mut idle {
        assert!(closed_by_server(s, Duration::from_secs(5)).await);
    }
    assert!(about(&app).await < Duration::from_secs(1));
}

/// A server on loopback that answers every request with headers for `len` bytes and
/// then sends `piece` bytes every `every`, for at most 60 s.
pub async fn trickling_server(len: usize, piece: usize, every: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {len}\r\n\r\n"
                );
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let until = Instant::now() + Duration::from_secs(60);
                let bytes = vec![b'x'; piece.max(1)];
                let mut left = len;
                while left > 0 {
                    let n = left.min(bytes.len());
                    if Instant::now() > until || s.write_all(&bytes[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                    tokio::time::sleep(every).await;
                }
            });
        }
    });
    format!("http://{addr}")
}

/// A server on loopback that serves `body` for every path after `delay`, and counts
/// the most requests it had in flight at once.
async fn slow_file_server(
    body: Vec<u8>,
    delay: Duration,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let peak = Arc::new(AtomicUsize::new(0));
    let now = Arc::new(AtomicUsize::new(0));
    let (p, n) = (peak.clone(), now.clone());
    let app = axum::Router::new().route(
        "/{name}",
        axum::routing::get(move || {
            let (p, n, body) = (p.clone(), n.clone(), body.clone());
            async move {
                let inflight = n.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(inflight, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                n.fetch_sub(1, Ordering::SeqCst);
                body
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), peak)
}

/// A task without labels or data; returns its id.
async fn empty_task(app: &TestApp, token: &str, name: &str) -> i64 {
    create(app, token, json!({"name": name, "labels": [{"name": "x"}]})).await["id"]
        .as_i64()
        .unwrap()
}

async fn remote_task(app: &TestApp, urls: &[String]) -> i64 {
    let t = app.admin_token.clone();
    let id = empty_task(app, &t, "remote").await;
    let r = app
        .post(
            &format!("/api/v1/tasks/{id}/data"),
            Some(&t),
            json!({"remote_files": urls, "image_quality": 70}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_remote_fails_its_task_and_holds_no_other() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.allow_private_remote = true;
        c.remote_min_rate = 1; // KB/s
        c.remote_rate_window = 8;
        c.workers = 2;
    })
    .await
    .unwrap();
    let t = app.admin_token.clone();
    let slow = trickling_server(100_000, 1, Duration::from_millis(100)).await;
    let started = Instant::now();
    let stalled = remote_task(&app, &[format!("{slow}/a.jpg")]).await;
    // another task, created meanwhile, is processed while the download crawls
    let other = empty_task(&app, &t, "other").await;
    let r = upload(
        &app,
        &t,
        other,
        &[("a.jpg", jpeg(32, 24, 1))],
        &[("image_quality", "70")],
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(wait(&app, &t, other).await["state"], "Finished");
    let s = app
        .get(&format!("/api/v1/tasks/{stalled}/status"), &t)
        .await;
    assert_eq!(s.body["state"], "Started", "{}", s.body);
    // the crawl is given up after one window below the minimum rate
    let s = wait(&app, &t, stalled).await;
    assert_eq!(s["state"], "Failed");
    assert!(
        s["message"].as_str().unwrap().contains("is too slow"),
        "{s}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_files_of_one_task_download_in_parallel() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.allow_private_remote = true;
        c.remote_parallel = 3;
    })
    .await
    .unwrap();
    let (base, peak) = slow_file_server(jpeg(16, 16, 3), Duration::from_millis(400)).await;
    let urls: Vec<String> = (0..6).map(|i| format!("{base}/{i}.jpg")).collect();
    let id = remote_task(&app, &urls).await;
    assert_eq!(wait(&app, &app.admin_token, id).await["state"], "Finished");
    assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_has_a_deadline_and_releases_the_claimed_item() {
    let mut app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.allow_private_remote = true;
        c.remote_min_rate = 0;
        c.shutdown_timeout = 1;
    })
    .await
    .unwrap();
    let t = app.admin_token.clone();
    let slow = trickling_server(100_000, 1, Duration::from_millis(200)).await;
    let id = remote_task(&app, &[format!("{slow}/a.jpg")]).await;
    let until = Instant::now() + Duration::from_secs(20);
    while app
        .get(&format!("/api/v1/tasks/{id}/status"), &t)
        .await
        .body["state"]
        != "Started"
    {
        assert!(Instant::now() < until, "the download never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = app.stop().await;
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    // the item is free for the next worker at once, not after its 60-s lease
    // (the server closed its pool: open the database again, as the next start would)
    let url = format!("sqlite://{}", app.data_path().join("ferrocat.db").display());
    let db = ferrocat_store::Db::connect(&url, 2).await.unwrap();
    let key = ferrocat_core::tasks::data_key(id);
    let item = db.queue_item(&key).await.unwrap().unwrap();
    assert_eq!(item.state, "started");
    assert!(item.lease_until.unwrap() <= ferrocat_store::now());
    let again = db
        .claim_queue_item(chrono::Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, item.id);
}

db_tests!(client_file_names_and_upload_size);

async fn client_file_names_and_upload_size(app: TestApp) {
    let t = app.admin_token.clone();
    let id = empty_task(&app, &t, "names").await;
    let long = format!("{}.jpg", "a".repeat(260));
    let r = upload(
        &app,
        &t,
        id,
        &[(&long, jpeg(8, 8, 1))],
        &[("image_quality", "70")],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["client_files"][0]
            .as_str()
            .unwrap()
            .starts_with("File name too long (264 bytes, at most 255)"),
        "{}",
        r.body
    );
    // nothing was attached: the task takes data afterwards
    let name = format!("{}.jpg", "a".repeat(251));
    let r = upload(
        &app,
        &t,
        id,
        &[(&name, jpeg(8, 8, 1))],
        &[("image_quality", "70")],
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(wait(&app, &t, id).await["state"], "Finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_max_upload_bytes_are_refused_while_streaming() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.max_upload_bytes = Some(64 << 10))
        .await
        .unwrap();
    let t = app.admin_token.clone();
    let id = empty_task(&app, &t, "big").await;
    let big = vec![0u8; 40 << 10];
    let r = upload(
        &app,
        &t,
        id,
        &[("a.jpg", big.clone()), ("b.jpg", big)],
        &[("image_quality", "70")],
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("--max-upload-bytes")
    );
    let staged = std::fs::read_dir(app.data_path().join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "the staged files are removed");
    let r = upload(
        &app,
        &t,
        id,
        &[("a.jpg", jpeg(8, 8, 1))],
        &[("image_quality", "70")],
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(wait(&app, &t, id).await["state"], "Finished");
}
