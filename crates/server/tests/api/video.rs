//! Video and PDF task data through HTTP (api-v1 §7, "video" rows), on both databases:
//! small videos made by ffmpeg (`testsrc2`, 320×240, 50 frames, H.264 High with
//! B-frames and a keyframe every 12 frames), checked with ffprobe and against a
//! reference decode.

use std::path::{Path, PathBuf};
use std::process::Command;

use image::RgbImage;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::db_tests;
use crate::tasks::{create, upload, wait};

db_tests!(
    videos_in_every_container,
    video_frames_match_a_reference_decode,
    frame_selection_and_rotation,
    broken_videos_fail_and_leave_nothing,
    pdf_pages_and_a_video_in_an_archive,
    video_exports_and_round_trips,
);

const FRAMES: u64 = 50;

/// Runs ffmpeg (quietly); the tests need it, as the server does.
fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg is needed for the video tests (Debian: apt-get install ffmpeg)");
    assert!(status.success(), "ffmpeg {args:?}");
}

/// A folder for one test's videos.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// `testsrc2` encoded with `codec` args into `dir/name`; returns its bytes.
pub(crate) fn clip(dir: &Path, name: &str, size: &str, frames: u64, codec: &[&str]) -> Vec<u8> {
    let path = dir.join(name);
    let src = format!("testsrc2=size={size}:rate=25");
    let n = frames.to_string();
    let mut args = vec!["-f", "lavfi", "-i", &src, "-frames:v", &n];
    args.extend_from_slice(codec);
    let out = path.to_str().unwrap().to_string();
    args.push(&out);
    ffmpeg(&args);
    std::fs::read(path).unwrap()
}

pub(crate) const H264: &[&str] = &[
    "-c:v",
    "libx264",
    "-profile:v",
    "high",
    "-bf",
    "2",
    "-g",
    "12",
    "-pix_fmt",
    "yuv420p",
];

fn mp4(dir: &Path) -> Vec<u8> {
    let mut codec = H264.to_vec();
    codec.extend(["-movflags", "+faststart"]);
    clip(dir, "clip.mp4", "320x240", FRAMES, &codec)
}

/// Frame `n` of the video file `path` as ffmpeg decodes it (RGB).
fn reference(path: &Path, n: u64) -> RgbImage {
    let out = path.with_extension(format!("ref{n}.png"));
    ffmpeg(&[
        "-i",
        path.to_str().unwrap(),
        "-vf",
        &format!("select=eq(n\\,{n})"),
        "-frames:v",
        "1",
        out.to_str().unwrap(),
    ]);
    image::open(&out).unwrap().to_rgb8()
}

/// PSNR of two images of the same size over RGB, in dB.
fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let se: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = se / a.as_raw().len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// PSNR of the luma (BT.601 Y from RGB) of two images, in dB: for compressed frames,
/// whose 4:2:0 chroma is upsampled by another filter than the reference's (at saturated
/// edges that alone costs RGB PSNR), as video codecs measure.
fn psnr_luma(a: &RgbImage, b: &RgbImage) -> f64 {
    let luma = |img: &RgbImage| -> RgbImage {
        let mut out = img.clone();
        for p in out.pixels_mut() {
            let y = 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
            let y = y.round() as u8;
            *p = image::Rgb([y, y, y]);
        }
        out
    };
    psnr(&luma(a), &luma(b))
}

/// What ffprobe says of an mp4 chunk: frames decoded, profile, pixel format, size.
fn probe_chunk(dir: &Path, bytes: &[u8]) -> (u64, String, String, u32, u32) {
    let path = dir.join("chunk.mp4");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames,profile,pix_fmt,width,height",
            "-of",
            "json",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    (
        s["nb_read_frames"].as_str().unwrap().parse().unwrap(),
        s["profile"].as_str().unwrap().to_string(),
        s["pix_fmt"].as_str().unwrap().to_string(),
        s["width"].as_u64().unwrap() as u32,
        s["height"].as_u64().unwrap() as u32,
    )
}

async fn get_bytes(app: &TestApp, t: &str, path: &str) -> (u16, String, Vec<u8>) {
    let r = app
        .client
        .get(app.url(path))
        .header("Authorization", format!("Token {t}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

/// A task made from `files` with `fields`; waits for the end of processing and returns
/// (id, final status).
async fn task_from(
    app: &TestApp,
    t: &str,
    files: &[(&str, Vec<u8>)],
    fields: &[(&str, &str)],
) -> (i64, Value) {
    let task = create(
        app,
        t,
        json!({"name": "video", "segment_size": 20, "labels": [{"name": "car", "attributes": []}]}),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    let r = upload(app, t, id, files, fields).await;
    assert_eq!(r.status, 202, "{}", r.body);
    (id, wait(app, t, id).await)
}

async fn data_meta(app: &TestApp, t: &str, id: i64) -> Value {
    let r = app.get(&format!("/api/v1/tasks/{id}/data/meta"), t).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Task frame `n` at original quality, decoded.
async fn original_frame(app: &TestApp, t: &str, id: i64, n: u64) -> RgbImage {
    let path = format!("/api/v1/tasks/{id}/data?type=frame&number={n}&quality=original");
    let (status, _, body) = get_bytes(app, t, &path).await;
    assert_eq!(status, 200, "frame {n}");
    image::load_from_memory(&body).unwrap().to_rgb8()
}

/// The message of a task made from `files` that must end `Failed`.
async fn failure(
    app: &TestApp,
    t: &str,
    files: &[(&str, Vec<u8>)],
    fields: &[(&str, &str)],
) -> String {
    let (_, status) = task_from(app, t, files, fields).await;
    assert_eq!(status["state"], "Failed", "{status}");
    status["message"].as_str().unwrap().to_string()
}

async fn finished(
    app: &TestApp,
    t: &str,
    files: &[(&str, Vec<u8>)],
    fields: &[(&str, &str)],
) -> i64 {
    let (id, status) = task_from(app, t, files, fields).await;
    assert_eq!(status["state"], "Finished", "{status}");
    id
}

/// mp4 with mp4 chunks in detail; webm (VP9), mkv and avi (MPEG-4 part 2) with zip
/// chunks: meta, mode, chunk types and the content of every chunk.
async fn videos_in_every_container(app: TestApp) {
    let t = app.admin_token.clone();
    let dir = scratch();
    let id = finished(
        &app,
        &t,
        &[("clip.mp4", mp4(dir.path()))],
        &[("image_quality", "70")],
    )
    .await;
    let meta = data_meta(&app, &t, id).await;
    assert_eq!(
        meta,
        json!({"chunk_size": 36, "size": 50, "image_quality": 70, "start_frame": 0,
               "stop_frame": 49, "frame_filter": "",
               "frames": [{"width": 320, "height": 240, "name": "clip.mp4"}]})
    );
    let task = app.get(&format!("/api/v1/tasks/{id}"), &t).await.body;
    assert_eq!(task["mode"], "interpolation");
    assert_eq!(task["data_compressed_chunk_type"], "video");
    assert_eq!(task["data_original_chunk_type"], "video");
    assert_eq!(task["size"], 50);
    for (n, frames) in [(0, 36), (1, 14)] {
        for quality in ["compressed", "original"] {
            let (s, ct, body) = get_bytes(
                &app,
                &t,
                &format!("/api/v1/tasks/{id}/data?type=chunk&number={n}&quality={quality}"),
            )
            .await;
            assert_eq!((s, ct.as_str()), (200, "video/mp4"));
            let (count, profile, pix, w, h) = probe_chunk(dir.path(), &body);
            assert_eq!((count, pix.as_str(), w, h), (frames, "yuv420p", 320, 240));
            if quality == "compressed" {
                assert_eq!(profile, "Constrained Baseline");
            }
        }
    }
    let (s, _, _) = get_bytes(
        &app,
        &t,
        &format!("/api/v1/tasks/{id}/data?type=chunk&number=2"),
    )
    .await;
    assert_eq!(s, 400);
    let (s, ct, preview) =
        get_bytes(&app, &t, &format!("/api/v1/tasks/{id}/data?type=preview")).await;
    assert_eq!((s, ct.as_str()), (200, "image/jpeg"));
    assert_eq!(
        image::load_from_memory(&preview)
            .unwrap()
            .to_rgb8()
            .dimensions(),
        (256, 192)
    );
    // the overlap of interpolation tasks is 5 by default (§7.2.7)
    let jobs = app.get(&format!("/api/v1/tasks/{id}/jobs"), &t).await.body;
    let ranges: Vec<(i64, i64)> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["start_frame"].as_i64().unwrap(),
                j["stop_frame"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ranges, vec![(0, 19), (15, 34), (30, 49), (45, 49)]);

    let others: [(&str, &[&str]); 3] = [
        (
            "clip.webm",
            &[
                "-c:v",
                "libvpx-vp9",
                "-b:v",
                "300k",
                "-deadline",
                "realtime",
            ],
        ),
        ("clip.mkv", H264),
        ("clip.avi", &["-c:v", "mpeg4", "-q:v", "3"]),
    ];
    for (name, codec) in others {
        let bytes = clip(dir.path(), name, "160x120", 30, codec);
        let id = finished(
            &app,
            &t,
            &[(name, bytes)],
            &[("image_quality", "80"), ("use_zip_chunks", "true")],
        )
        .await;
        let meta = app
            .get(&format!("/api/v1/tasks/{id}/data/meta"), &t)
            .await
            .body;
        assert_eq!(meta["size"], 30, "{name}: {meta}");
        assert_eq!(meta["chunk_size"], 72, "{name}: {meta}");
        assert_eq!(
            meta["frames"],
            json!([{"width": 160, "height": 120, "name": name}])
        );
        let task = app.get(&format!("/api/v1/tasks/{id}"), &t).await.body;
        assert_eq!(task["data_compressed_chunk_type"], "imageset", "{name}");
        assert_eq!(task["data_original_chunk_type"], "video", "{name}");
        let (s, ct, zip) = get_bytes(
            &app,
            &t,
            &format!("/api/v1/tasks/{id}/data?type=chunk&number=0&quality=compressed"),
        )
        .await;
        assert_eq!((s, ct.as_str()), (200, "application/zip"));
        let members = crate::media::unzip(&zip);
        assert_eq!(members.len(), 30, "{name}");
        for (k, (member, jpeg)) in members.iter().enumerate() {
            assert_eq!(member, &format!("{k:06}.jpeg"));
            let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg).unwrap();
            assert_eq!((img.width(), img.height()), (160, 120), "{name} {member}");
        }
        let (s, ct, original) = get_bytes(
            &app,
            &t,
            &format!("/api/v1/tasks/{id}/data?type=chunk&number=0&quality=original"),
        )
        .await;
        assert_eq!((s, ct.as_str()), (200, "video/mp4"));
        assert_eq!(probe_chunk(dir.path(), &original).0, 30, "{name}");
    }
}

/// `type=frame` at, between and after keyframes (the source has one every 12 frames)
/// equals ffmpeg's own decode of the source (PSNR ≥ 40 dB: RGB for original frames,
/// luma for compressed ones), for both kinds of chunks and qualities;
/// the bodies are images any client opens, as the CVAT 1.1 CLI's `frames` does.
async fn video_frames_match_a_reference_decode(app: TestApp) {
    let t = app.admin_token.clone();
    let dir = scratch();
    let src = mp4(dir.path());
    let path = dir.path().join("clip.mp4");
    for zip in ["false", "true"] {
        let id = finished(
            &app,
            &t,
            &[("clip.mp4", src.clone())],
            &[("image_quality", "95"), ("use_zip_chunks", zip)],
        )
        .await;
        for n in [0u64, 5, 12, 13, 40, 49] {
            let want = reference(&path, n);
            for (quality, ct) in [("original", "image/png"), ("compressed", "image/jpeg")] {
                let (s, got_ct, body) = get_bytes(
                    &app,
                    &t,
                    &format!("/api/v1/tasks/{id}/data?type=frame&number={n}&quality={quality}"),
                )
                .await;
                assert_eq!((s, got_ct.as_str()), (200, ct), "frame {n} {quality}");
                let got = image::load_from_memory(&body).unwrap().to_rgb8();
                let db = if quality == "original" {
                    psnr(&got, &want)
                } else {
                    psnr_luma(&got, &want)
                };
                assert!(db >= 40.0, "zip={zip} frame {n} {quality}: {db:.1} dB");
            }
        }
        let (s, _, _) = get_bytes(
            &app,
            &t,
            &format!("/api/v1/tasks/{id}/data?type=frame&number=50"),
        )
        .await;
        assert_eq!(s, 400);
    }
}

/// `start_frame`, `stop_frame` and `step` pick decoded frames as §7.2.3 says; a video
/// with a 90° display matrix gives turned frames of the turned size.
async fn frame_selection_and_rotation(app: TestApp) {
    let t = app.admin_token.clone();
    let dir = scratch();
    let src = mp4(dir.path());
    let path = dir.path().join("clip.mp4");
    let id = finished(
        &app,
        &t,
        &[("clip.mp4", src.clone())],
        &[
            ("image_quality", "95"),
            ("start_frame", "5"),
            ("stop_frame", "40"),
            ("frame_filter", "step=3"),
            ("chunk_size", "5"),
        ],
    )
    .await;
    let meta = data_meta(&app, &t, id).await;
    assert_eq!(
        (
            &meta["size"],
            &meta["start_frame"],
            &meta["stop_frame"],
            &meta["chunk_size"]
        ),
        // the stop frame as sent (inside the video), as CVAT 1.1 keeps it; the last
        // selected frame is 38
        (&json!(12), &json!(5), &json!(40), &json!(5))
    );
    for k in [0u64, 4, 11] {
        let got = original_frame(&app, &t, id, k).await;
        let db = psnr(&got, &reference(&path, 5 + 3 * k));
        assert!(db >= 40.0, "task frame {k}: {db:.1} dB");
    }
    // frames beyond the end are clamped
    let id = finished(
        &app,
        &t,
        &[("clip.mp4", src.clone())],
        &[
            ("image_quality", "50"),
            ("start_frame", "45"),
            ("stop_frame", "900"),
        ],
    )
    .await;
    let meta = data_meta(&app, &t, id).await;
    assert_eq!(
        (&meta["size"], &meta["stop_frame"]),
        (&json!(5), &json!(49))
    );
    let msg = failure(
        &app,
        &t,
        &[("clip.mp4", src.clone())],
        &[("image_quality", "50"), ("start_frame", "50")],
    )
    .await;
    assert!(msg.contains("beyond the last frame"), "{msg}");

    let rotated = dir.path().join("rotated.mp4");
    ffmpeg(&[
        "-i",
        path.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v",
        "rotate=90",
        rotated.to_str().unwrap(),
    ]);
    let id = finished(
        &app,
        &t,
        &[("rotated.mp4", std::fs::read(&rotated).unwrap())],
        &[("image_quality", "95")],
    )
    .await;
    let meta = data_meta(&app, &t, id).await;
    assert_eq!(
        meta["frames"],
        json!([{"width": 240, "height": 320, "name": "rotated.mp4"}])
    );
    let got = original_frame(&app, &t, id, 7).await;
    let want = reference(&rotated, 7);
    assert_eq!(want.dimensions(), (240, 320));
    assert!(psnr(&got, &want) >= 40.0);
}

/// The data folders of the server (one per data record that still exists).
fn data_folders(app: &TestApp) -> usize {
    std::fs::read_dir(app.data_path().join("data"))
        .map(|r| r.count())
        .unwrap_or(0)
}

/// A truncated mp4, a text file named `.mp4`, a video beside an image and two videos
/// fail with a message; nothing stays on disk.
async fn broken_videos_fail_and_leave_nothing(app: TestApp) {
    let t = app.admin_token.clone();
    let dir = scratch();
    let src = mp4(dir.path());
    let before = data_folders(&app);
    let cut = src[..src.len() * 2 / 3].to_vec();
    let q70 = [("image_quality", "70")];
    let msg = failure(&app, &t, &[("cut.mp4", cut)], &q70).await;
    assert!(
        msg.contains("cut.mp4") && msg.contains("truncated at frame"),
        "{msg}"
    );
    let notes = [("notes.mp4", b"this is no video at all".to_vec())];
    let msg = failure(&app, &t, &notes, &q70).await;
    assert!(msg.starts_with("notes.mp4: not a readable video"), "{msg}");
    let jpeg = crate::media::jpeg(32, 32, 1);
    let msg = failure(
        &app,
        &t,
        &[("clip.mp4", src.clone()), ("a.jpg", jpeg)],
        &q70,
    )
    .await;
    assert_eq!(
        msg,
        "Only one video, archive, pdf, zip or many image, directory can be used simultaneously, but 1 image(s), 1 video(s), 0 archive(s), 0 pdf(s) found."
    );
    let two = [("a.mp4", src.clone()), ("b.mp4", src.clone())];
    let msg = failure(&app, &t, &two, &q70).await;
    assert!(msg.contains("0 image(s), 2 video(s)"), "{msg}");
    assert_eq!(data_folders(&app), before);
}

/// A minimal PDF of `pages` pages, each with a filled rectangle at another place.
pub fn pdf(pages: usize) -> Vec<u8> {
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            (0..pages)
                .map(|i| format!("{} 0 R", 3 + i))
                .collect::<Vec<_>>()
                .join(" ")
        )
        .into_bytes(),
    ];
    for i in 0..pages {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 144 72] /Contents {} 0 R >>",
                3 + pages + i
            )
            .into_bytes(),
        );
    }
    for i in 0..pages {
        let content = format!("0 0 1 rg {} 10 30 50 re f", 10 + i * 30);
        objects.push(
            format!(
                "<< /Length {} >>\nstream\n{content}\nendstream",
                content.len()
            )
            .into_bytes(),
        );
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (n, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", n + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A 3-page PDF is 3 frames of an annotation task, named as CVAT names them; a PDF
/// beside an image and a broken PDF fail; a video inside a zip is a video task.
async fn pdf_pages_and_a_video_in_an_archive(app: TestApp) {
    let t = app.admin_token.clone();
    let id = finished(&app, &t, &[("doc.pdf", pdf(3))], &[("image_quality", "90")]).await;
    let meta = data_meta(&app, &t, id).await;
    // 144 × 72 pt at 200 dpi
    let page = |i: usize| json!({"width": 400, "height": 200, "name": format!("doc{i:09}.jpeg")});
    assert_eq!(meta["frames"], json!([page(0), page(1), page(2)]));
    let task = app.get(&format!("/api/v1/tasks/{id}"), &t).await.body;
    assert_eq!(task["mode"], "annotation");
    // the blue rectangle moves 30 pt (83 px) to the right on each page
    for k in 0..3u32 {
        let (s, ct, body) = get_bytes(
            &app,
            &t,
            &format!("/api/v1/tasks/{id}/data?type=frame&number={k}&quality=original"),
        )
        .await;
        assert_eq!((s, ct.as_str()), (200, "image/jpeg"));
        let img = image::load_from_memory(&body).unwrap().to_rgb8();
        let x = (10 + k * 30 + 15) * 200 / 72;
        let p = img.get_pixel(x, 100);
        assert!(p[2] > 200 && p[0] < 60, "page {k} at {x}: {p:?}");
    }
    let q70 = [("image_quality", "70")];
    let mixed = [("doc.pdf", pdf(1)), ("a.jpg", crate::media::jpeg(8, 8, 1))];
    let msg = failure(&app, &t, &mixed, &q70).await;
    assert!(
        msg.contains("1 image(s), 0 video(s), 0 archive(s), 1 pdf(s)"),
        "{msg}"
    );
    let bad = [("bad.pdf", b"%PDF-1.4 nothing".to_vec())];
    let msg = failure(&app, &t, &bad, &q70).await;
    assert!(msg.starts_with("bad.pdf: "), "{msg}");

    let dir = scratch();
    let zip = crate::media::zip(&[("films/clip.mp4", mp4(dir.path()))]);
    let id = finished(&app, &t, &[("films.zip", zip)], &[("image_quality", "70")]).await;
    let meta = data_meta(&app, &t, id).await;
    assert_eq!(
        (&meta["size"], &meta["frames"]),
        (
            &json!(50),
            &json!([{"width": 320, "height": 240, "name": "films/clip.mp4"}])
        )
    );
    // on disk: the sources, the chunks and the preview; no rendered pages or extracted
    // members besides them
    for folder in std::fs::read_dir(app.data_path().join("data")).unwrap() {
        let mut names: Vec<String> = std::fs::read_dir(folder.unwrap().path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["compressed", "original", "preview.jpeg", "raw"]);
    }
}

/// A track on a video task exports as CVAT for video (with `<source>`,
/// `<original_size>` and the frames as `images/frame_NNNNNN.png`) and as MOT, and both
/// import back into another video task.
async fn video_exports_and_round_trips(app: TestApp) {
    let t = app.admin_token.clone();
    let dir = scratch();
    let src = clip(dir.path(), "walk.mp4", "160x120", 12, H264);
    let files = [("walk.mp4", src)];
    let fields = [("image_quality", "70"), ("use_zip_chunks", "true")];
    let id = finished(&app, &t, &files, &fields).await;
    let task = app.get(&format!("/api/v1/tasks/{id}"), &t).await.body;
    let label = task["labels"][0]["id"].as_i64().unwrap();
    let shape = |frame: i64, x: f64| {
        json!({"type": "rectangle", "occluded": false, "z_order": 0, "frame": frame,
               "outside": false, "attributes": [], "points": [x, 10.0, x + 30.0, 50.0]})
    };
    let body = json!({"version": 0, "tags": [], "shapes": [], "tracks": [
        {"frame": 0, "label_id": label, "group": 0, "attributes": [],
         "shapes": [shape(0, 10.0), shape(8, 50.0)]}]});
    let r = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/tasks/{id}/annotations"),
            Some(&t),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let dataset = crate::formats::export(&app, id, "dataset", "CVAT for video 1.1", &t).await;
    let members = crate::media::unzip(&dataset);
    let xml = String::from_utf8(
        members
            .iter()
            .find(|(n, _)| n == "annotations.xml")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(xml.contains("<source>walk.mp4</source>"), "{xml}");
    assert!(
        xml.contains("<original_size>\n        <width>160</width>\n        <height>120</height>"),
        "{xml}"
    );
    assert!(xml.contains("<track id=\"0\" label=\"car\""), "{xml}");
    let images: Vec<&(String, Vec<u8>)> = members
        .iter()
        .filter(|(n, _)| n.starts_with("images/"))
        .collect();
    assert_eq!(images.len(), 12);
    assert_eq!(images[11].0, "images/frame_000011.png");
    let img = image::load_from_memory_with_format(&images[3].1, image::ImageFormat::Png).unwrap();
    assert_eq!((img.width(), img.height()), (160, 120));
    let cvat = crate::formats::export(&app, id, "annotations", "CVAT for video 1.1", &t).await;
    let mot = crate::formats::export(&app, id, "annotations", "MOT 1.1", &t).await;
    for (format, file) in [("CVAT 1.1", cvat), ("MOT 1.1", mot)] {
        let other = finished(&app, &t, &files, &fields).await;
        let (status, body) = crate::annotations::import_file(
            &app,
            &format!(
                "/api/v1/tasks/{other}/annotations?format={}",
                format.replace(' ', "%20")
            ),
            &t,
            file,
            "a.zip",
        )
        .await;
        assert_eq!(status, 201, "{format}: {body}");
        let got = crate::annotations::task_annotations(&app, other, &t).await;
        let tracks = got["tracks"].as_array().unwrap();
        assert_eq!(tracks.len(), 1, "{format}: {got}");
        let first = &tracks[0]["shapes"][0];
        assert_eq!(
            (&first["frame"], &first["points"]),
            (&json!(0), &json!([10.0, 10.0, 40.0, 50.0])),
            "{format}: {got}"
        );
    }
}

/// The shared start-the-binary helper for the tests below.
use crate::binary;

/// With no ffmpeg on `PATH`, a video fails with the program to install; images still
/// work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ffmpeg_a_video_fails_saying_what_to_install() {
    let dir = scratch();
    let empty = dir.path().join("no-tools");
    std::fs::create_dir_all(&empty).unwrap();
    let server = binary::start(dir.path(), &[("PATH", empty.display().to_string())]).await;
    let id = server.task("no ffmpeg").await;
    server.upload(id, "clip.mp4", mp4(dir.path())).await;
    let status = server.wait(id).await;
    assert_eq!(status["state"], "Failed");
    let msg = status["message"].as_str().unwrap();
    assert!(
        msg.contains("ffprobe is not installed") && msg.contains("apt-get install ffmpeg"),
        "{msg}"
    );
    let id = server.task("images").await;
    server
        .upload(id, "a.jpg", crate::media::jpeg(16, 16, 1))
        .await;
    assert_eq!(server.wait(id).await["state"], "Finished");
}

/// The server killed while it ingests a video: after a restart the task ends
/// `Finished` (the item is taken again when its lease, 3 s here, runs out), never stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_video_ingest_ends_after_restart() {
    let dir = scratch();
    let video = clip(dir.path(), "long.mp4", "640x360", 750, H264);
    let lease = [("FERROCAT_QUEUE_LEASE", "3".to_string())];
    let server = binary::start(dir.path(), &lease).await;
    let id = server.task("killed").await;
    server.upload(id, "long.mp4", video).await;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, s) = server
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/tasks/{id}/status"),
                None,
            )
            .await;
        if s["state"] == "Started" && s["message"].as_str().unwrap_or("").contains("Video") {
            break;
        }
        assert!(
            s["state"] != "Finished",
            "ingest ended before the kill: {s}"
        );
        assert!(std::time::Instant::now() < until, "{s}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(server); // SIGKILL, mid-ingest
    // its ffmpeg does not outlive it (PR_SET_PDEATHSIG; the closed pipe stops it too), so
    // nothing else writes into the data folder that the next run processes again
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while orphans(dir.path()) > 0 {
        assert!(
            std::time::Instant::now() < until,
            "ffmpeg outlived the server"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let server = binary::start(dir.path(), &lease).await;
    let status = server.wait(id).await;
    assert_eq!(status["state"], "Finished", "{status}");
    let (s, meta) = server
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/tasks/{id}/data/meta"),
            None,
        )
        .await;
    assert_eq!((s, &meta["size"]), (200, &json!(750)));
    // one data folder: the killed run's partial chunks were replaced
    let folders: Vec<PathBuf> = std::fs::read_dir(dir.path().join("data/data"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(folders.len(), 1);
}

/// Running ffmpeg processes in the folder `cwd` (the server's, which they inherit).
fn orphans(cwd: &Path) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| std::fs::read_link(e.path().join("cwd")).is_ok_and(|d| d == cwd))
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c.starts_with(b"ffmpeg")))
        .count()
}
