//! Task data benchmarks (issue: tasks and image data). Run with
//! `cargo bench -p ferrocat --bench media` (add `-- --quick` for a smaller run).
//!
//! 1. Processing throughput: 100 photo-like JPEGs of 1920×1080 (noise and shapes) are
//!    uploaded to a fresh ferrocat (release binary, SQLite); megapixels per second from
//!    the accepted upload to `Finished`. In the same run, the machine's limit:
//!    libjpeg-turbo's `djpeg | cjpeg` at the same quality over the same files, one
//!    pipeline per core (Debian's `libjpeg-turbo-progs`). Prints the ratio.
//! 2. Peak server RSS (VmHWM) while ingesting a 1 GB upload.
//! 3. Chunk serving: 16 concurrent clients fetching one cached 36-frame compressed chunk;
//!    requests per second, p50 and p99.
//! 4. Peak server RSS above idle (issue 16; target < 300 MB): while a task of a 4 MB
//!    tar.gz holding one 4 GiB member fails, and while a task of 1,000 10-MB JPEGs of noise
//!    (100 with `--quick`; hard links in the share, sent as `server_files`) succeeds.
//!    `FERROCAT_BENCH_BIN=<older build>` gives the figures before a change; `-- rss`
//!    runs this section alone.

mod common;
#[path = "../tests/shared/hostile.rs"]
mod hostile;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{login, new_task, rss_peak_kb, start_server, wait_finished};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

const QUALITY: u8 = 70;

fn photo(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let mut img = RgbImage::new(w, h);
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    for (x, y, p) in img.enumerate_pixels_mut() {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let noise = (s & 15) as i32 - 8;
        let inside = ((x as i32 - (w as i32 * (seed as i32 % 5 + 1)) / 6).pow(2)
            + (y as i32 - h as i32 / 2).pow(2))
            < (h as i32 / 4).pow(2);
        let band = ((x / 97 + y / 61 + seed) % 7) as i32 * 20;
        let base = [(x * 255 / w) as i32, (y * 255 / h) as i32, band];
        let c = |v: i32| (if inside { 230 - v / 2 } else { v } + noise).clamp(0, 255) as u8;
        *p = Rgb([c(base[0]), c(base[1]), c(base[2])]);
    }
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

fn turbo_limit(files: &[PathBuf], out: &Path) -> Option<Duration> {
    if Command::new("djpeg")
        .arg("-version")
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        return None;
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let start = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= files.len() {
                        break;
                    }
                    let target = out.join(format!("{i}.jpg"));
                    let status = Command::new("sh")
                        .arg("-c")
                        .arg(format!(
                            "djpeg '{}' | cjpeg -quality {QUALITY} > '{}'",
                            files[i].display(),
                            target.display()
                        ))
                        .status()
                        .unwrap();
                    assert!(status.success());
                }
            });
        }
    });
    Some(start.elapsed())
}

/// A new task from `images` (name, bytes) at [`QUALITY`]: its id and the time from the
/// accepted upload to `Finished`.
async fn create_from(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    images: Vec<(String, Vec<u8>)>,
) -> (i64, Duration) {
    let id = new_task(c, base, token).await;
    let mut form = reqwest::multipart::Form::new().text("image_quality", QUALITY.to_string());
    for (i, (name, bytes)) in images.into_iter().enumerate() {
        form = form.part(
            format!("client_files[{i}]"),
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
    }
    let r = c
        .post(format!("{base}/api/v1/tasks/{id}/data"))
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let accepted = Instant::now();
    let outcome = wait_finished(c, base, token, id).await;
    assert!(outcome.starts_with("Finished"), "{outcome}");
    (id, accepted.elapsed())
}

/// Serving chunk 0 of task `id` to 16 clients for `secs` seconds, against the machine's
/// limit for moving these bytes to this client over loopback: a bare HTTP/1.1 responder
/// that sends the same bytes from memory, nothing else.
async fn chunk_serving(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    id: i64,
    secs: u64,
    what: &str,
) {
    let url = format!("{base}/api/v1/tasks/{id}/data?type=chunk&number=0&quality=compressed");
    let chunk = c
        .get(&url)
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let len = chunk.len();
    let floor = hammer(c, &bare_server(chunk), "", len, secs).await;
    let ours = hammer(c, &url, token, len, secs).await;
    println!(
        "chunk serving ({what}, {} KB, 16 clients): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms; \
         bare loopback responder {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms; ratio {:.2}",
        len / 1024,
        ours.0,
        ours.1,
        ours.2,
        floor.0,
        floor.1,
        floor.2,
        ours.0 / floor.0
    );
}

/// 16 clients fetching `url` for `secs` seconds, each response read to its end (and its
/// length checked) without being kept: requests per second, p50 and p99 in ms.
async fn hammer(
    c: &reqwest::Client,
    url: &str,
    token: &str,
    expected: usize,
    secs: u64,
) -> (f64, f64, f64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let lat = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for _ in 0..16 {
        let (c, url, token, lat) = (c.clone(), url.to_string(), token.to_string(), lat.clone());
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut r = c
                    .get(&url)
                    .header("Authorization", format!("Token {token}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let mut got = 0;
                while let Some(part) = r.chunk().await.unwrap() {
                    got += part.len();
                }
                assert_eq!(got, expected);
                mine.push(t.elapsed());
            }
            lat.lock().unwrap().extend(mine);
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let mut l = lat.lock().unwrap().clone();
    l.sort();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)].as_secs_f64() * 1e3;
    (l.len() as f64 / secs as f64, pct(0.5), pct(0.99))
}

/// A bare HTTP/1.1 keep-alive responder on loopback (one thread per connection) that
/// answers every request with `body`; returns its URL.
fn bare_server(body: bytes::Bytes) -> String {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/chunk", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            std::thread::spawn(move || {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/zip\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                let mut line = String::new();
                loop {
                    // Request line and headers, up to the empty line.
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    if out.write_all(head.as_bytes()).is_err() || out.write_all(&body).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n_images: usize = if quick { 20 } else { 100 };
    let c = reqwest::Client::new();
    if std::env::args().any(|a| a == "rss") {
        // `cargo bench --bench media -- rss`: section 4 alone
        hostile_rss(&c, quick).await;
        return;
    }

    // 1. processing throughput
    println!("generating {n_images} photo-like 1920x1080 JPEGs…");
    let work = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..n_images)
        .map(|i| {
            let p = work.path().join(format!("img{i:04}.jpg"));
            std::fs::write(&p, photo(1920, 1080, i as u32)).unwrap();
            p
        })
        .collect();
    let megapixels = n_images as f64 * 1920.0 * 1080.0 / 1e6;
    let server = start_server(None);
    let token = login(&c, &server.base).await;
    let out = tempfile::tempdir().unwrap();
    // Rounds alternate ferrocat and libjpeg-turbo so that both see the same machine load;
    // the ratio reported is the median of the rounds' ratios.
    let rounds = if quick { 1 } else { 3 };
    let mut ratios = Vec::new();
    let mut id = 0;
    for round in 1..=rounds {
        let images = files
            .iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(p).unwrap())
            })
            .collect();
        let ours;
        (id, ours) = create_from(&c, &server.base, &token, images).await;
        let ours_mps = megapixels / ours.as_secs_f64();
        print!(
            "round {round}: ferrocat {:.2} s for {megapixels:.0} MP = {ours_mps:.1} MP/s",
            ours.as_secs_f64()
        );
        match turbo_limit(&files, out.path()) {
            Some(t) => {
                let limit = megapixels / t.as_secs_f64();
                println!(
                    "; djpeg | cjpeg on all cores {:.2} s = {limit:.1} MP/s; ratio {:.2}",
                    t.as_secs_f64(),
                    ours_mps / limit
                );
                ratios.push(ours_mps / limit);
            }
            None => println!(
                "; djpeg/cjpeg not installed (apt-get install libjpeg-turbo-progs): no baseline"
            ),
        }
    }
    if !ratios.is_empty() {
        ratios.sort_by(f64::total_cmp);
        println!(
            "ratio ferrocat / libjpeg-turbo limit, median of {}: {:.2} (target >= 0.8)",
            ratios.len(),
            ratios[ratios.len() / 2]
        );
    }

    // 3. chunk serving (chunk 0 of the task above holds 36 frames of 1920×1080, 20 when quick)
    let secs = if quick { 3 } else { 10 };
    let what = format!("{} frames of 1920×1080", n_images.min(36));
    chunk_serving(&c, &server.base, &token, id, secs, &what).await;
    // The same with a chunk of 36 smaller frames (640×360), where bytes matter less
    // than the work per request.
    let small = (0..36u32)
        .map(|i| (format!("s{i:02}.jpg"), photo(640, 360, i)))
        .collect();
    let (id, _) = create_from(&c, &server.base, &token, small).await;
    chunk_serving(&c, &server.base, &token, id, secs, "36 frames of 640×360").await;
    drop(server);

    // 2. peak RSS while ingesting a 1 GB upload
    let server = start_server(None);
    let token = login(&c, &server.base).await;
    let id = new_task(&c, &server.base, &token).await;
    let size: usize = if quick { 256 << 20 } else { 1 << 30 };
    let before = rss_peak_kb(server.child.id());
    let block = vec![0x5au8; 1 << 20];
    let stream = futures_util::stream::iter(
        (0..size >> 20).map(move |_| Ok::<_, std::io::Error>(block.clone())),
    );
    let part = reqwest::multipart::Part::stream_with_length(
        reqwest::Body::wrap_stream(stream),
        size as u64,
    )
    .file_name("big.jpg");
    let form = reqwest::multipart::Form::new()
        .text("image_quality", "70")
        .part("client_files[0]", part);
    let t = Instant::now();
    let r = c
        .post(format!("{}/api/v1/tasks/{id}/data", server.base))
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let peak = rss_peak_kb(server.child.id());
    println!(
        "ingest of a {} MB upload: {:.2} s, server peak RSS {} MB (before: {} MB; target < 300 MB)",
        size >> 20,
        t.elapsed().as_secs_f64(),
        peak / 1024,
        before / 1024
    );
    drop(server);

    hostile_rss(&c, quick).await;
}

/// 4. Peak RSS above idle under a 4 GiB member and 1,000 10-MB images.
async fn hostile_rss(c: &reqwest::Client, quick: bool) {
    let bomb = hostile::zeros_tar_gz(4 << 30, &std::env::temp_dir());
    let (outcome, idle, peak) = rss_of_task(c, |id, base, token| {
        let bytes = std::fs::read(&bomb).unwrap();
        upload_one(c.clone(), base, token, id, "bomb.tar.gz", bytes)
    })
    .await;
    println!(
        "a {:.1} MB tar.gz of one 4 GiB member: {outcome}; peak RSS {} MB above idle ({} MB; target < 300 MB)",
        std::fs::metadata(&bomb).unwrap().len() as f64 / 1e6,
        (peak - idle) / 1024,
        idle / 1024
    );
    let n_big = if quick { 100 } else { 1000 };
    let big = noise_jpeg(2800, 2100);
    let big_len = big.len();
    let (outcome, idle, peak) = rss_of_task(c, |id, base, token| {
        let names = share_links(&big, n_big, &base.share);
        attach_share(c.clone(), base.url, token, id, names)
    })
    .await;
    println!(
        "{n_big} JPEGs of {:.1} MB (2800×2100 noise): {outcome}; peak RSS {} MB above idle ({} MB; target < 300 MB)",
        big_len as f64 / 1e6,
        (peak - idle) / 1024,
        idle / 1024
    );
}

/// A JPEG of pixel noise at quality 90: about 10 MB at 2800×2100, the size of a
/// camera's photo file.
fn noise_jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let img = RgbImage::from_fn(w, h, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let b = state.to_le_bytes();
        Rgb([b[0], b[1], b[2]])
    });
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&DynamicImage::ImageRgb8(img))
        .unwrap();
    out.into_inner()
}

/// Where a bench's server is, for the closures of [`rss_of_task`].
struct Place {
    url: String,
    share: PathBuf,
}

/// Starts a fresh server, makes a task, lets `attach` give it data, waits for the end;
/// returns the outcome, the idle RSS before and the peak RSS (kB).
async fn rss_of_task<F, Fut>(c: &reqwest::Client, attach: F) -> (String, u64, u64)
where
    F: FnOnce(i64, Place, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let server = start_server(None);
    let token = login(c, &server.base).await;
    let id = new_task(c, &server.base, &token).await;
    let pid = server.child.id();
    let idle = common::rss_kb(pid);
    let place = Place {
        url: server.base.clone(),
        share: server.share_dir(),
    };
    attach(id, place, token.clone()).await;
    let outcome = wait_finished(c, &server.base, &token, id).await;
    let peak = rss_peak_kb(pid);
    (outcome.chars().take(140).collect(), idle, peak)
}

async fn upload_one(
    c: reqwest::Client,
    base: Place,
    token: String,
    id: i64,
    name: &str,
    bytes: Vec<u8>,
) {
    let form = reqwest::multipart::Form::new()
        .text("image_quality", QUALITY.to_string())
        .part(
            "client_files[0]",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
    let r = c
        .post(format!("{}/api/v1/tasks/{id}/data", base.url))
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

async fn attach_share(
    c: reqwest::Client,
    base: String,
    token: String,
    id: i64,
    names: Vec<String>,
) {
    let r = c
        .post(format!("{base}/api/v1/tasks/{id}/data"))
        .header("Authorization", format!("Token {token}"))
        .json(&serde_json::json!({"server_files": names, "image_quality": QUALITY}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

/// `n` hard links to one file in the share (no disk for the sources themselves).
fn share_links(bytes: &[u8], n: usize, share: &Path) -> Vec<String> {
    let dir = share.join("big");
    std::fs::create_dir_all(&dir).unwrap();
    let first = dir.join("img0000.jpg");
    std::fs::write(&first, bytes).unwrap();
    (0..n)
        .map(|i| {
            let name = format!("img{i:04}.jpg");
            if i > 0 {
                std::fs::hard_link(&first, dir.join(&name)).unwrap();
            }
            format!("big/{name}")
        })
        .collect()
}
