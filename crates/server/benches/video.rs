//! Video task data benchmarks (issue: video and PDF). Run with
//! `cargo bench -p ferrocat --bench video` (add `-- --quick` for a smaller run).
//!
//! The videos are made by ffmpeg and kept under `target/` between runs: `testsrc2` plus
//! temporal noise, 25 fps, H.264 High with B-frames (3) and a keyframe every 250
//! frames; 1920×1080 (3,000 frames, ~1 GB, or 300 with `--quick`) and 640×360 (3,000).
//! Each is given to a fresh release ferrocat (SQLite) through `server_files`, timed
//! from the accepted request to `Finished`, and beside it, in the same run and on the
//! same cores, its floor:
//!
//! 1. `use_zip_chunks=true`: `ffmpeg -i video -f rawvideo -pix_fmt yuv420p -` piped into
//!    the same JPEG encoder at the same quality, one encoder thread per core.
//! 2. `use_zip_chunks=false`: one ffmpeg transcode of the whole video to the compressed
//!    chunk encoding (H.264 Constrained Baseline, `ultrafast`, the same CRF and size).
//!
//! ferrocat's figure includes everything a task needs (the preview, the original mp4
//! chunks at CRF 17, frame rows), the floor only the one output named. Also printed:
//! frames per second beside CVAT 1.1's 40,000 frames in 10 minutes (66.7 frames/s),
//! the time to the first frame after `Finished` (chunk 0 and a frame from the middle),
//! and the peak RSS above idle of the server and of the server with its ffmpeg child.
//! Rounds alternate floor and ferrocat; the ratio is the median of the rounds'.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{login, new_task, rss_kb, start_server, wait_finished};
use ferrocat_media::image::encode_yuv420_jpeg;
use ferrocat_media::video;

const QUALITY: u8 = 70;
/// CVAT 1.1.0: a 40,000-frame video in 10 minutes.
const CVAT_FPS: f64 = 40_000.0 / 600.0;

/// The test video `w`×`h` of `frames` frames, made once and kept under `target/`.
fn source(w: u32, h: u32, frames: u32) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("video-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("src-{w}x{h}-{frames}.mp4"));
    if path.exists() {
        return path;
    }
    println!("making {}…", path.display());
    let part = path.with_extension("part.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={w}x{h}:rate=25"))
        .args(["-vf", "noise=alls=14:allf=t", "-frames:v"])
        .arg(frames.to_string())
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "high",
            "-bf",
            "3",
            "-g",
            "250",
            "-crf",
            "20",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&part)
        .status()
        .expect("ffmpeg (apt-get install ffmpeg)");
    assert!(status.success());
    std::fs::rename(&part, &path).unwrap();
    path
}

/// Floor 1: ffmpeg's raw frames into the same JPEG encoder on every core.
fn jpeg_floor(src: &Path, w: u32, h: u32) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(src)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let len = (w * h + 2 * w.div_ceil(2) * h.div_ceil(2)) as usize;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(cores * 2);
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let bytes = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..cores)
        .map(|_| {
            let (rx, bytes) = (Arc::clone(&rx), Arc::clone(&bytes));
            std::thread::spawn(move || {
                loop {
                    let Ok(frame) = rx.lock().unwrap().recv() else {
                        break;
                    };
                    let jpeg = encode_yuv420_jpeg(&frame, w, h, QUALITY).unwrap();
                    bytes.fetch_add(jpeg.len() as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut frames = 0;
    loop {
        let mut frame = vec![0u8; len];
        if std::io::Read::read_exact(&mut out, &mut frame).is_err() {
            break;
        }
        tx.send(frame).unwrap();
        frames += 1;
    }
    drop(tx);
    for w in workers {
        w.join().unwrap();
    }
    assert!(child.wait().unwrap().success());
    (started.elapsed(), frames)
}

/// Floor 2: one transcode of the whole video to the compressed chunk encoding.
fn mp4_floor(src: &Path, w: u32, h: u32, out: &Path) -> Duration {
    let (cw, ch) = video::compressed_size(w, h);
    let started = Instant::now();
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(src)
        .args(["-vf", &format!("scale={cw}:{ch}")])
        .args(video::compressed_codec_args(QUALITY))
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
    started.elapsed()
}

/// Resident memory of `pid` and its children now (kB). A child belongs to the thread
/// that started it (ffmpeg to a blocking-pool thread), so every thread's list is read.
fn tree_kb(pid: u32) -> u64 {
    let children: u64 = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
                .flat_map(|list| {
                    list.split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok())
                        .collect::<Vec<_>>()
                })
                .map(rss_kb)
                .sum()
        })
        .unwrap_or(0);
    rss_kb(pid) + children
}

struct Ingest {
    took: Duration,
    frames: u64,
    first_frame: Duration,
    /// Peak RSS above idle: the server alone, the server with its children (MB).
    peak_mb: (f64, f64),
}

/// A task of `src` (hard-linked into a fresh server's share), timed to `Finished`.
async fn ferrocat(c: &reqwest::Client, src: &Path, zip: bool) -> Ingest {
    let server = start_server(None);
    let token = login(c, &server.base).await;
    let id = new_task(c, &server.base, &token).await;
    let name = src.file_name().unwrap().to_string_lossy().into_owned();
    let share = server.share_dir();
    std::fs::create_dir_all(&share).unwrap();
    std::fs::hard_link(src, share.join(&name))
        .or_else(|_| std::fs::copy(src, share.join(&name)).map(|_| ()))
        .unwrap();
    let pid = server.child.id();
    let idle = rss_kb(pid);
    let (stop, peak_self, peak_tree) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let watcher = {
        let (stop, peak_self, peak_tree) = (stop.clone(), peak_self.clone(), peak_tree.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak_self.fetch_max(rss_kb(pid), Ordering::Relaxed);
                peak_tree.fetch_max(tree_kb(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let r = c
        .post(format!("{}/api/v1/tasks/{id}/data", server.base))
        .header("Authorization", format!("Token {token}"))
        .json(
            &serde_json::json!({"server_files": [name], "image_quality": QUALITY,
                                  "use_zip_chunks": zip}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let accepted = Instant::now();
    let outcome = wait_finished(c, &server.base, &token, id).await;
    let took = accepted.elapsed();
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    assert!(outcome.starts_with("Finished"), "{outcome}");
    let meta: serde_json::Value = c
        .get(format!("{}/api/v1/tasks/{id}/data/meta", server.base))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let frames = meta["size"].as_u64().unwrap();
    // what a viewer asks first: chunk 0, then a frame from the middle
    let started = Instant::now();
    for query in [
        "type=chunk&number=0&quality=compressed".to_string(),
        format!("type=frame&number={}&quality=compressed", frames / 2),
    ] {
        let r = c
            .get(format!("{}/api/v1/tasks/{id}/data?{query}", server.base))
            .header("Authorization", format!("Token {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{query}");
        r.bytes().await.unwrap();
    }
    let mb = |kb: u64| kb.saturating_sub(idle) as f64 / 1024.0;
    Ingest {
        took,
        frames,
        first_frame: started.elapsed(),
        peak_mb: (
            mb(peak_self.load(Ordering::Relaxed)),
            mb(peak_tree.load(Ordering::Relaxed)),
        ),
    }
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 1 } else { 2 };
    let videos = [
        (1920, 1080, if quick { 300 } else { 3000 }),
        (640, 360, if quick { 750 } else { 3000 }),
    ];
    let c = reqwest::Client::new();
    let scratch = tempfile::tempdir().unwrap();
    for (w, h, n) in videos {
        let src = source(w, h, n);
        let mb = std::fs::metadata(&src).unwrap().len() as f64 / 1e6;
        println!("\n{w}x{h}, {n} frames, {mb:.0} MB");
        for zip in [true, false] {
            let mut ratios = Vec::new();
            for round in 1..=rounds {
                let floor = if zip {
                    let (t, frames) = jpeg_floor(&src, w, h);
                    assert_eq!(frames, u64::from(n));
                    t
                } else {
                    mp4_floor(&src, w, h, &scratch.path().join("floor.mp4"))
                };
                let ours = ferrocat(&c, &src, zip).await;
                assert_eq!(ours.frames, u64::from(n));
                let fps = |d: Duration| f64::from(n) / d.as_secs_f64();
                let ratio = floor.as_secs_f64() / ours.took.as_secs_f64();
                ratios.push(ratio);
                println!(
                    "  use_zip_chunks={zip} round {round}: ferrocat {:.1} s ({:.0} frames/s, {:.1}× CVAT 1.1's {CVAT_FPS:.1}); floor {:.1} s ({:.0} frames/s); ratio {ratio:.2}; first frame after Finished {:.0} ms; peak RSS above idle {:.0} MB (with ffmpeg {:.0} MB)",
                    ours.took.as_secs_f64(),
                    fps(ours.took),
                    fps(ours.took) / CVAT_FPS,
                    floor.as_secs_f64(),
                    fps(floor),
                    ours.first_frame.as_secs_f64() * 1000.0,
                    ours.peak_mb.0,
                    ours.peak_mb.1,
                );
            }
            ratios.sort_by(f64::total_cmp);
            println!(
                "  use_zip_chunks={zip}: median ratio to the floor {:.2} (target ≥ 0.8)",
                ratios[ratios.len() / 2]
            );
        }
    }
}
