//! Fuzz tests of every parser of untrusted bytes, with a fixed budget in the normal test
//! command: the importers, the image probe and decoders, archive reading, the multipart
//! upload parser and JSON annotation bodies. Inputs are real files (our own exports,
//! images of every format, archives of every kind) mutated by proptest: bytes flipped,
//! set, inserted, deleted, repeated or cut, inside the zip members as well as in the
//! whole file, plus tokens that parsers trip over (huge numbers, NaN, quotes, entities).
//!
//! `FERROCAT_FUZZ_CASES=N` sets the cases per target (default 512, half that for the targets
//! that go through HTTP); run for hours with
//! e.g. `FERROCAT_FUZZ_CASES=1000000 cargo nextest run -p ferrocat --test api fuzz`.
//! A failure prints the shrunk input; keep it as a fixture in the target's own tests.

use std::io::Cursor;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::common::{Backend, TestApp};

/// Cases per target.
fn cases() -> u32 {
    std::env::var("FERROCAT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// Cases per target that goes through HTTP (each case is a request or three).
fn http_cases() -> u32 {
    (cases() / 2).max(1)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    })
}

/// What parsers trip over.
const TOKENS: &[&[u8]] = &[
    b"-1",
    b"0",
    b"-0",
    b"99999999999999999999999",
    b"1e308",
    b"-1e308",
    b"NaN",
    b"Infinity",
    b"null",
    b"\"",
    b"\\",
    b"<",
    b">",
    b"</",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\n",
    b"\r\n",
    b"\0",
    b"\xff\xff\xff\xff",
    b"\xc3",
    b"&#0;",
    b"&amp;",
    b"<!DOCTYPE x [<!ENTITY a \"aaaaaaaa\">]>",
    b"&a;",
    b"../",
    b"/etc/passwd",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Repeat(Index, usize, usize),
    Cut(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let token = prop_oneof![
        proptest::sample::select(TOKENS).prop_map(<[u8]>::to_vec),
        proptest::collection::vec(any::<u8>(), 1..16),
    ];
    prop_oneof![
        4 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        4 => (any::<Index>(), token).prop_map(|(i, t)| Mutation::Insert(i, t)),
        2 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<Index>(), 1usize..64, 1usize..50).prop_map(|(i, n, k)| Mutation::Repeat(i, n, k)),
        1 => any::<Index>().prop_map(Mutation::Cut),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        let at = |i: &Index| if len == 0 { 0 } else { i.index(len) };
        match m {
            Mutation::Flip(i, b) if len > 0 => bytes[at(i)] ^= 1 << b,
            Mutation::Set(i, b) if len > 0 => bytes[at(i)] = *b,
            Mutation::Insert(i, t) => {
                let p = at(i);
                bytes.splice(p..p, t.iter().copied());
            }
            Mutation::Delete(i, n) if len > 0 => {
                let p = at(i);
                bytes.drain(p..(p + n).min(len));
            }
            Mutation::Repeat(i, n, k) if len > 0 => {
                let p = at(i);
                let piece = bytes[p..(p + n).min(len)].to_vec();
                for _ in 0..*k {
                    bytes.splice(p..p, piece.iter().copied());
                }
            }
            Mutation::Cut(i) => bytes.truncate(at(i)),
            _ => {}
        }
    }
    bytes
}

/// Zip members rewritten (stored, so that the mutation reaches the parser whole).
fn rezip(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in members {
        w.start_file(name.as_str(), opts).unwrap();
        std::io::Write::write_all(&mut w, bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// An input: a seed, and mutations of the whole file or of one zip member.
fn input(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let seeds = std::sync::Arc::new(seeds);
    let n = seeds.len();
    (
        0..n,
        any::<bool>(),
        any::<Index>(),
        proptest::collection::vec(mutation(), 0..8),
    )
        .prop_map(move |(s, inside, member, muts)| {
            let seed = seeds[s].clone();
            // our seeds that start so are zips
            if inside && seed.starts_with(b"PK\x03\x04") {
                let mut members = crate::media::unzip(&seed);
                if !members.is_empty() {
                    let k = member.index(members.len());
                    members[k].1 = apply(std::mem::take(&mut members[k].1), &muts);
                    return rezip(&members);
                }
            }
            apply(seed, &muts)
        })
}

/// Runs `check` on `cases()` inputs; a panic or an `Err` fails with the shrunk input.
/// `check` tells whether the input was read (to see that cases get past the first check).
fn fuzz(target: &str, seeds: Vec<Vec<u8>>, check: impl Fn(&[u8]) -> Result<bool, String>) {
    let started = std::time::Instant::now();
    let read = std::sync::atomic::AtomicU32::new(0);
    runner(cases())
        .run(&input(seeds), |bytes| {
            let ok = check(&bytes).map_err(|e| {
                TestCaseError::fail(format!("{e} (input of {} bytes)", bytes.len()))
            })?;
            read.fetch_add(u32::from(ok), std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{target}: {e}"));
    eprintln!(
        "fuzz {target}: {} cases ({} read, the rest refused) in {:?}",
        cases(),
        read.into_inner(),
        started.elapsed()
    );
}

const IMPORTERS: [(&str, &str); 8] = [
    ("COCO 1.0", "COCO 1.0"),
    ("CVAT 1.1", "CVAT for images 1.1"),
    ("LabelMe 3.0", "LabelMe 3.0"),
    ("Segmentation mask 1.1", "Segmentation mask 1.1"),
    ("MOT 1.1", "MOT 1.1"),
    ("PASCAL VOC 1.1", "PASCAL VOC 1.1"),
    ("TFRecord 1.0", "TFRecord 1.0"),
    ("YOLO 1.1", "YOLO 1.1"),
];

/// Every importer on mutations of our own export in its format (and of its members
/// alone, as the bare JSON or XML files the importers also take).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importers() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let t = app.admin_token.clone();
    let (task, _) = crate::formats::rich_task(&app, &t).await;
    let tid = task["id"].as_i64().unwrap();
    for (importer, exporter) in IMPORTERS {
        let export = crate::formats::export(&app, tid, "annotations", exporter, &t).await;
        let mut seeds: Vec<Vec<u8>> = crate::media::unzip(&export)
            .into_iter()
            .filter(|(n, _)| n.ends_with(".json") || n.ends_with(".xml"))
            .map(|(_, b)| b)
            .collect();
        seeds.push(export);
        let ferrocat_formats::Lookup::Ready(imp) = ferrocat_formats::importer(importer) else {
            panic!("{importer} is not an importer")
        };
        tokio::task::spawn_blocking(move || {
            fuzz(importer, seeds, |bytes| {
                Ok(match imp {
                    ferrocat_formats::Importer::Yolo => {
                        ferrocat_formats::yolo::read(Cursor::new(bytes)).is_ok()
                    }
                    _ => ferrocat_formats::read(imp, bytes).is_ok(),
                })
            })
        })
        .await
        .unwrap();
    }
}

/// The image probe, the decoder and the frame pipeline on mutated images of every
/// format processing takes.
#[test]
fn image_probe_and_decoders() {
    use image::{DynamicImage, ImageFormat};
    let img = DynamicImage::ImageRgb8(crate::media::photo(24, 16, 7));
    let seeds: Vec<Vec<u8>> = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Bmp,
        ImageFormat::Tiff,
        ImageFormat::WebP,
        ImageFormat::Gif,
    ]
    .into_iter()
    .map(|f| crate::media::encode(&img, f))
    .collect();
    fuzz("images", seeds, |bytes| {
        let _ = ferrocat_media::image::probe_size(bytes);
        let _ = ferrocat_media::image::decode_rgb8(bytes);
        Ok(ferrocat_media::image::compress_frame(bytes, 70).is_ok())
    });
}

/// Archive reading (zip, tar, tar.gz) on mutated archives, with small limits, into a
/// fresh folder each time: no panic, and nothing written outside it.
#[test]
fn archives() {
    use std::io::Write;
    let members: [(&str, Vec<u8>); 3] = [
        ("a.jpg", crate::media::jpeg(8, 8, 1)),
        ("sub/b.png", b"not really a png".to_vec()),
        ("sub/deeper/c.txt", b"text".repeat(20)),
    ];
    let zip = crate::media::zip(&members);
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in &members {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, bytes.as_slice()).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let tgz = gz.finish().unwrap();
    let limits = ferrocat_media::archive::Limits {
        max_files: 100,
        max_total_bytes: 1 << 20,
        max_ratio: 100,
        max_member_bytes: 256 << 10,
    };
    let outside = tempfile::tempdir().unwrap();
    let kinds = ["x.zip", "x.tar", "x.tar.gz"];
    let seeds = vec![zip, tar, tgz];
    fuzz("archives", seeds, |bytes| {
        // the kind comes from the name: try each
        let mut read = false;
        for kind in kinds {
            let dir = tempfile::tempdir_in(outside.path()).unwrap();
            let src = dir.path().join(kind);
            std::fs::write(&src, bytes).unwrap();
            let dest = dir.path().join("out");
            std::fs::create_dir(&dest).unwrap();
            if let Ok(names) = ferrocat_media::archive::extract(&src, &dest, &limits) {
                read = true;
                for n in names {
                    let p = dest.join(&n);
                    if !p.starts_with(&dest) || n.contains("..") {
                        return Err(format!("{kind}: member {n:?} outside the folder"));
                    }
                }
            }
        }
        let stray = std::fs::read_dir(outside.path()).unwrap().count();
        if stray != 0 {
            return Err(format!("{stray} files left beside the case folders"));
        }
        Ok(read)
    });
}

/// The upload parser through the server: mutated multipart bodies of a real upload get
/// an answer under 500, and a good upload still works after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let t = app.admin_token.clone();
    let boundary = "XfuzzBoundary";
    let jpeg = crate::media::jpeg(8, 8, 2);
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"image_quality\"\r\n\r\n70\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"client_files[0]\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes());
    body.extend_from_slice(&jpeg);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut runner = runner(http_cases());
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    let handle = tokio::runtime::Handle::current();
    let app = std::sync::Arc::new(app);
    let a = app.clone();
    let t2 = t.clone();
    tokio::task::spawn_blocking(move || {
        runner
            .run(&input(vec![body]), |bytes| {
                let status = handle.block_on(async {
                    let id = crate::tasks::create(
                        &a,
                        &t2,
                        json!({"name": "fuzz", "labels": [{"name": "x"}]}),
                    )
                    .await["id"]
                        .as_i64()
                        .unwrap();
                    a.client
                        .post(a.url(&format!("/api/v1/tasks/{id}/data")))
                        .header("Authorization", format!("Token {t2}"))
                        .header(
                            "Content-Type",
                            format!("multipart/form-data; boundary={boundary}"),
                        )
                        .body(bytes)
                        .timeout(std::time::Duration::from_secs(30))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                });
                let status = status.map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
                *statuses.lock().unwrap().entry(status).or_default() += 1;
                prop_assert!(status < 500, "answered {status}");
                Ok(())
            })
            .unwrap_or_else(|e| panic!("multipart: {e}"));
        eprintln!(
            "fuzz multipart: {} cases, statuses {:?}",
            http_cases(),
            statuses.lock().unwrap()
        );
    })
    .await
    .unwrap();
    let id = crate::tasks::create(
        &app,
        &t,
        json!({"name": "after", "labels": [{"name": "x"}]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let r =
        crate::tasks::upload(&app, &t, id, &[("a.jpg", jpeg)], &[("image_quality", "70")]).await;
    assert_eq!(r.status, 202);
}

/// JSON annotation bodies: mutated PUT/PATCH documents get an answer under 500, and
/// whatever is refused leaves the stored annotations as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotation_bodies() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let t = app.admin_token.clone();
    let (task, jobs) = crate::formats::rich_task(&app, &t).await;
    let tid = task["id"].as_i64().unwrap();
    let job = jobs[0];
    let doc = app
        .get(&format!("/api/v1/tasks/{tid}/annotations"), &t)
        .await
        .body;
    let seed = serde_json::to_vec(&doc).unwrap();
    let app = std::sync::Arc::new(app);
    let handle = tokio::runtime::Handle::current();
    let a = app.clone();
    let t2 = t.clone();
    let mut runner = runner(http_cases());
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    tokio::task::spawn_blocking(move || {
        runner
            .run(&(input(vec![seed]), 0usize..3), |(bytes, how)| {
                handle.block_on(async {
                    let url = format!("/api/v1/jobs/{job}/annotations");
                    let before = a.get(&url, &t2).await.body;
                    let req = match how {
                        0 => a.client.put(a.url(&url)),
                        1 => a.client.patch(a.url(&format!("{url}?action=create"))),
                        _ => a.client.patch(a.url(&format!("{url}?action=update"))),
                    };
                    let r = req
                        .header("Authorization", format!("Token {t2}"))
                        .header("Content-Type", "application/json")
                        .body(bytes)
                        .timeout(std::time::Duration::from_secs(30))
                        .send()
                        .await
                        .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
                    let status = r.status().as_u16();
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                    prop_assert!(status < 500, "answered {status}");
                    if status >= 400 {
                        let after = a.get(&url, &t2).await.body;
                        prop_assert_eq!(before, after, "a refused body changed the annotations");
                    }
                    Ok(())
                })
            })
            .unwrap_or_else(|e| panic!("annotation bodies: {e}"));
        eprintln!(
            "fuzz annotation bodies: {} cases, statuses {:?}",
            http_cases(),
            statuses.lock().unwrap()
        );
    })
    .await
    .unwrap();
    let r = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await;
    assert_eq!(r.status, 200);
    let _: Value = r.body;
}
