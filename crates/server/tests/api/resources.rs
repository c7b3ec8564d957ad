//! Issue 16's resource test: the real binary under the attacks that used to exhaust it
//! — a tar.gz holding one 4 GiB member, a symlink loop in the share, 1,000 idle sockets
//! and a trickling remote server — while its peak RSS (`VmHWM`) stays within 300 MB of
//! idle, other tasks still finish and normal requests still answer; then SIGTERM with a
//! download still crawling stops it within its shutdown deadline.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::binary::{proc_kb, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_on_the_binary_stay_within_bounded_memory() {
    let n_idle = crate::limits::idle_count();
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir_all(share.join("loopdir")).unwrap();
    std::fs::write(share.join("loopdir/a.jpg"), crate::media::jpeg(16, 16, 1)).unwrap();
    std::os::unix::fs::symlink(".", share.join("loopdir/l1")).unwrap();
    std::os::unix::fs::symlink(".", share.join("loopdir/l2")).unwrap();
    let bomb = crate::hostile::zeros_tar_gz(4 << 30, Path::new(env!("CARGO_TARGET_TMPDIR")));
    let env = [
        ("FERROCAT_SHARE_DIR", share.display().to_string()),
        ("FERROCAT_ALLOW_PRIVATE_REMOTE", "true".into()),
        ("FERROCAT_REMOTE_MIN_RATE", "1".into()),
        ("FERROCAT_REMOTE_RATE_WINDOW", "3".into()),
        ("FERROCAT_HEADER_TIMEOUT", "5".into()),
        // above the member, so that the member is read and stopped by the ratio limit
        // (the refusal from its declared size is tested in ferrocat-media)
        ("FERROCAT_MAX_FRAME_BYTES", (8u64 << 30).to_string()),
        ("FERROCAT_SHUTDOWN_TIMEOUT", "2".into()),
    ];
    let mut server = start(dir.path(), &env).await;
    let pid = server.child.id();
    // idle: after start-up and a first task, so that the pools and caches exist
    let warm = server.task("warm").await;
    server
        .upload(warm, "a.jpg", crate::media::jpeg(64, 48, 2))
        .await;
    assert_eq!(server.wait(warm).await["state"], "Finished");
    let idle = proc_kb(pid, "VmRSS:");

    // item 1: one 4 GiB member in a 4 MB tar.gz
    let t = server.task("bomb").await;
    server
        .upload(t, "bomb.tar.gz", std::fs::read(&bomb).unwrap())
        .await;
    let s = server.wait(t).await;
    assert_eq!(s["state"], "Failed", "{s}");
    assert!(s["message"].as_str().unwrap().contains("ratio"), "{s}");
    let after_bomb = proc_kb(pid, "VmHWM:");

    // item 2: a symlink loop in the share
    let t = server.task("loop").await;
    server
        .attach(
            t,
            json!({"server_files": ["loopdir/"], "image_quality": 70}),
        )
        .await;
    let s = server.wait(t).await;
    assert_eq!(s["state"], "Failed");
    assert!(s["message"].as_str().unwrap().contains("loop"), "{s}");

    // item 3: 1,000 idle sockets, and requests still answer
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut idle_sockets = Vec::new();
    for _ in 0..n_idle {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut s, b"GET / HT")
            .await
            .unwrap();
        idle_sockets.push(s);
    }
    for _ in 0..5 {
        server.about_answers().await;
    }

    // item 4: a trickling remote fails, and a task created beside it finishes
    let slow = crate::limits::trickling_server(100_000, 1, Duration::from_millis(100)).await;
    let crawl = server.task("crawl").await;
    server
        .attach(
            crawl,
            json!({"remote_files": [format!("{slow}/a.jpg")], "image_quality": 70}),
        )
        .await;
    let beside = server.task("beside").await;
    server
        .upload(beside, "b.jpg", crate::media::jpeg(64, 48, 3))
        .await;
    assert_eq!(server.wait(beside).await["state"], "Finished");
    let s = server.wait(crawl).await;
    assert_eq!(s["state"], "Failed");
    assert!(s["message"].as_str().unwrap().contains("too slow"), "{s}");
    drop(idle_sockets);

    let peak = proc_kb(pid, "VmHWM:");
    eprintln!(
        "RSS: idle {} MB, peak after the 4 GiB member {} MB, peak after all attacks {} MB",
        idle >> 20,
        after_bomb >> 20,
        peak >> 20
    );
    assert!(
        peak < idle + (300 << 20),
        "peak RSS {} MB over idle {} MB",
        peak >> 20,
        idle >> 20
    );

    // item 8: SIGTERM while a download runs that the rate check keeps (40 KB/s for a
    // minute): the process exits at its 2-s deadline, not when the download ends
    let steady = crate::limits::trickling_server(4 << 20, 4096, Duration::from_millis(100)).await;
    let crawl = server.task("crawl2").await;
    server
        .attach(
            crawl,
            json!({"remote_files": [format!("{steady}/b.jpg")], "image_quality": 70}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped = Instant::now();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(8);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "the server did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    eprintln!("SIGTERM to exit: {:?}", stopped.elapsed());
}
