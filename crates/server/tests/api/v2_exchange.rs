//! The v2 API's background requests with data moving in and out: TUS uploads (resumed
//! after a dropped connection, expired when abandoned), exports, imports and backups,
//! with the real `cvat-cli` 2.80 and with a backup zip built from CVAT's documented
//! layout.

use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp};
use crate::db_tests;
use crate::media::jpeg;
use crate::v2::{cli, host_port, ok, run};

db_tests!(
    cli_exports_imports_backups,
    tus_upload_resumed_after_a_drop,
    restore_a_cvat_layout_backup,
    export_urls_follow_the_request
);

/// Polls `GET /api/requests/{rq}` until it has ended; the request.
pub async fn wait_request(app: &TestApp, token: &str, rq: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let r = app.get(&format!("/api/requests/{rq}"), token).await;
        assert_eq!(r.status, 200, "{rq}: {}", r.body);
        if ["finished", "failed"].contains(&r.body["status"].as_str().unwrap()) {
            return r.body;
        }
        assert!(Instant::now() < until, "{rq} did not end: {}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A zip of `(name, bytes)` entries, stored.
pub fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for (name, bytes) in entries {
        z.start_file(*name, opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

pub fn entries(zip_bytes: &[u8]) -> Vec<String> {
    let z = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    z.file_names().map(|n| n.unwrap().to_string()).collect()
}

const LABELS: &str = r#"[{"name": "car", "attributes": [{"name": "color", "mutable": false,
    "input_type": "select", "default_value": "red", "values": ["red", "blue"]}]}, {"name": "person"}]"#;

/// One box with an attribute, as CVAT for images 1.1.
const XML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version>
<image id="1" name="img1.jpg" width="48" height="32">
<box label="car" occluded="0" xtl="1" ytl="2" xbr="10" ybr="12" z_order="0"><attribute name="color">blue</attribute></box>
</image></annotations>"#;

/// The labels and shapes of a task by name: `[(frame, label, points, attribute values)]`.
pub async fn shapes_by_name(app: &TestApp, task: i64) -> Vec<Value> {
    let t = &app.admin_token;
    let labels = app
        .get(&format!("/api/labels?task_id={task}"), t)
        .await
        .body;
    let name = |id: &Value| {
        labels["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == *id)
            .map(|l| l["name"].clone())
            .unwrap()
    };
    let doc = app
        .get(&format!("/api/tasks/{task}/annotations"), t)
        .await
        .body;
    doc["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let values: Vec<&Value> = s["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| &a["value"])
                .collect();
            json!([s["frame"], name(&s["label_id"]), s["points"], values])
        })
        .collect()
}

/// `task create` of a zip over 100 MiB (so the CLI sends it by TUS) with
/// `--annotation_path` (annotations always go by TUS); `export-dataset` in three formats,
/// one `--with-images`; `import-dataset` of an export; `backup` and
/// `create-from-backup`; the caller's request list.
async fn cli_exports_imports_backups(app: TestApp) {
    let Some(cli) = cli() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    // two images and 101 MiB that are not media (skipped by processing)
    let mut padding = vec![0u8; 101 << 20];
    for (i, b) in padding.iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3];
    }
    let big = zip_of(&[
        ("img0.jpg", jpeg(48, 32, 0)),
        ("img1.jpg", jpeg(48, 32, 1)),
        ("padding.bin", padding),
    ]);
    std::fs::write(d.join("big.zip"), &big).unwrap();
    drop(big);
    std::fs::write(d.join("ann.xml"), XML).unwrap();
    let (a, c) = (host_port(&app), cli.clone());
    let dd = d.clone();
    let created = tokio::task::spawn_blocking(move || {
        let args = [
            "task",
            "create",
            "big one",
            "--labels",
            LABELS,
            "--annotation_path",
            "ann.xml",
            "--annotation_format",
            "CVAT 1.1",
            "local",
            "big.zip",
        ];
        ok(&run(&c, &a, None, &args, &dd), "task create")
    })
    .await
    .unwrap();
    let id: i64 = created.trim().parse().unwrap();
    let t = app.admin_token.clone();
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}"), &t).await.body["size"],
        2
    );
    let expected = json!([[1, "car", [1.0, 2.0, 10.0, 12.0], ["blue"]]]);
    assert_eq!(json!(shapes_by_name(&app, id).await), expected);

    // exports in three formats
    let (a, c, dd) = (host_port(&app), cli.clone(), d.clone());
    let id_s = id.to_string();
    tokio::task::spawn_blocking(move || {
        for (file, format, images) in [
            ("coco.zip", "COCO 1.0", "no"),
            ("cvat.zip", "CVAT for images 1.1", "yes"),
            ("yolo.zip", "YOLO 1.1", "no"),
        ] {
            let args = [
                "task",
                "export-dataset",
                &id_s,
                file,
                "--format",
                format,
                "--with-images",
                images,
            ];
            ok(&run(&c, &a, None, &args, &dd), format);
        }
    })
    .await
    .unwrap();
    let coco = std::fs::read(d.join("coco.zip")).unwrap();
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(coco)).unwrap();
    let doc: Value =
        serde_json::from_reader(z.by_name("annotations/instances_default.json").unwrap()).unwrap();
    assert_eq!(doc["annotations"].as_array().unwrap().len(), 1);
    assert_eq!(doc["annotations"][0]["bbox"], json!([1.0, 2.0, 9.0, 10.0]));
    let cvat = entries(&std::fs::read(d.join("cvat.zip")).unwrap());
    for e in ["annotations.xml", "images/img0.jpg", "images/img1.jpg"] {
        assert!(cvat.contains(&e.to_string()), "{e} in {cvat:?}");
    }
    let yolo = entries(&std::fs::read(d.join("yolo.zip")).unwrap());
    assert!(yolo.contains(&"obj.names".to_string()), "{yolo:?}");

    // import-dataset of the CVAT export into the emptied task
    let r = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/tasks/{id}/annotations/"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(shapes_by_name(&app, id).await.is_empty());
    let (a, c, dd) = (host_port(&app), cli.clone(), d.clone());
    let id_s = id.to_string();
    tokio::task::spawn_blocking(move || {
        let args = [
            "task",
            "import-dataset",
            &id_s,
            "cvat.zip",
            "--format",
            "CVAT 1.1",
        ];
        ok(&run(&c, &a, None, &args, &dd), "import-dataset")
    })
    .await
    .unwrap();
    assert_eq!(json!(shapes_by_name(&app, id).await), expected);

    // backup and create-from-backup: the same task again, with the big archive by TUS
    let (a, c, dd) = (host_port(&app), cli.clone(), d.clone());
    let id_s = id.to_string();
    let restored = tokio::task::spawn_blocking(move || {
        ok(
            &run(&c, &a, None, &["task", "backup", &id_s, "backup.zip"], &dd),
            "backup",
        );
        ok(
            &run(
                &c,
                &a,
                None,
                &["task", "create-from-backup", "backup.zip"],
                &dd,
            ),
            "create-from-backup",
        )
    })
    .await
    .unwrap();
    let backup = entries(&std::fs::read(d.join("backup.zip")).unwrap());
    for e in ["task.json", "annotations.json", "data/big.zip"] {
        assert!(backup.contains(&e.to_string()), "{e} in {backup:?}");
    }
    let new_id: i64 = restored.trim().lines().last().unwrap().parse().unwrap();
    assert_ne!(new_id, id);
    let task = app.get(&format!("/api/tasks/{new_id}"), &t).await.body;
    assert_eq!(
        (task["name"].clone(), task["size"].clone()),
        (json!("big one"), json!(2))
    );
    assert_eq!(json!(shapes_by_name(&app, new_id).await), expected);

    // the caller's requests: three exports, one backup
    let listed = app.get("/api/requests?action=export", &t).await.body;
    let mut types: Vec<&str> = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["operation"]["type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "export:annotations",
            "export:annotations",
            "export:backup",
            "export:dataset"
        ]
    );
    // a finished request cannot be cancelled; an import is its owner's alone, and the
    // list holds the caller's own requests
    let imports = app
        .get("/api/requests?action=import&subresource=annotations", &t)
        .await
        .body;
    let rq = imports["results"][0]["id"].as_str().unwrap().to_string();
    assert!(
        rq.starts_with(&format!("import:task-{id}-annotations")),
        "{imports}"
    );
    let r = app
        .post(&format!("/api/requests/{rq}/cancel"), Some(&t), json!({}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let (_, other) = app.user_in("outsider", &["user"]).await;
    assert_eq!(
        app.get(&format!("/api/requests/{rq}"), &other).await.status,
        404
    );
    assert_eq!(app.get("/api/requests", &other).await.body["count"], 0);
}

/// POST with TUS creation headers; the `Location` answered.
async fn tus_create(app: &TestApp, token: &str, path: &str, name: &str, len: usize) -> String {
    let r = app
        .client
        .post(app.url(path))
        .header("Authorization", format!("Token {token}"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", len.to_string())
        .header(
            "Upload-Metadata",
            format!(
                "filename {},filetype {}",
                base64::engine::general_purpose::STANDARD.encode(name),
                base64::engine::general_purpose::STANDARD.encode("application/zip")
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["upload-filename"], name);
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn tus_patch(
    app: &TestApp,
    token: &str,
    at: &str,
    offset: u64,
    body: reqwest::Body,
) -> reqwest::Result<reqwest::Response> {
    app.client
        .patch(at)
        .header("Authorization", format!("Token {token}"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(body)
        .send()
        .await
}

async fn tus_offset(app: &TestApp, token: &str, at: &str) -> (u16, Option<u64>) {
    let r = app
        .client
        .head(at)
        .header("Authorization", format!("Token {token}"))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    let off = r
        .headers()
        .get("upload-offset")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (r.status().as_u16(), off)
}

/// A TUS upload whose connection drops half-way is resumed from the offset `HEAD`
/// reports and completes; a wrong offset is 409; the data are processed.
async fn tus_upload_resumed_after_a_drop(app: TestApp) {
    let t = app.admin_token.clone();
    let task =
        crate::tasks::create(&app, &t, json!({"name": "tus", "labels": [{"name": "a"}]})).await;
    let id = task["id"].as_i64().unwrap();
    let data = format!("/api/tasks/{id}/data/");
    let start = app
        .client
        .post(app.url(&data))
        .header("Authorization", format!("Token {t}"))
        .header("Upload-Start", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 202);
    let archive = zip_of(&[
        ("f0.jpg", jpeg(40, 30, 0)),
        ("f1.jpg", jpeg(40, 30, 1)),
        ("f2.jpg", jpeg(40, 30, 2)),
    ]);
    let at = tus_create(&app, &t, &data, "frames.zip", archive.len()).await;
    assert!(at.starts_with(&app.url(&data)), "{at}");

    // half of it, then the connection breaks
    let half = archive.len() / 2;
    let first = bytes::Bytes::copy_from_slice(&archive[..half]);
    let stream = futures_util::stream::iter(vec![
        Ok::<_, std::io::Error>(first),
        Err(std::io::Error::other("connection dropped")),
    ]);
    let dropped = tus_patch(&app, &t, &at, 0, reqwest::Body::wrap_stream(stream)).await;
    assert!(
        dropped.as_ref().map_or(true, |r| !r.status().is_success()),
        "a broken body is not a success"
    );
    let (status, got) = tus_offset(&app, &t, &at).await;
    assert_eq!(status, 200);
    let got = got.unwrap();
    assert!(got as usize <= half, "{got} of {half}");
    // a wrong offset: 409, nothing written
    let wrong = tus_patch(&app, &t, &at, got + 1, reqwest::Body::from(vec![0u8; 4]))
        .await
        .unwrap();
    assert_eq!(wrong.status(), 409);
    assert_eq!(tus_offset(&app, &t, &at).await.1, Some(got));
    // another user cannot see it
    let (_, other) = app.user_in("stranger", &["user"]).await;
    assert_ne!(tus_offset(&app, &other, &at).await.0, 200);
    // resumed
    let rest = archive[got as usize..].to_vec();
    let done = tus_patch(&app, &t, &at, got, reqwest::Body::from(rest))
        .await
        .unwrap();
    assert_eq!(done.status(), 204);
    assert_eq!(
        done.headers()["upload-offset"],
        archive.len().to_string().as_str()
    );
    let finish = app
        .client
        .post(app.url(&data))
        .header("Authorization", format!("Token {t}"))
        .header("Upload-Finish", "true")
        .json(&json!({"image_quality": 70}))
        .send()
        .await
        .unwrap();
    assert_eq!(finish.status(), 202);
    let rq: Value = finish.json().await.unwrap();
    let req = wait_request(&app, &t, rq["rq_id"].as_str().unwrap()).await;
    assert_eq!(req["status"], "finished", "{req}");
    assert_eq!(req["result_id"], id);
    assert_eq!(
        app.get(&format!("/api/tasks/{id}"), &t).await.body["size"],
        3
    );
}

/// An abandoned TUS upload is removed after `--upload-ttl`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_tus_uploads_expire() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.upload_ttl = 1)
        .await
        .unwrap();
    let t = app.admin_token.clone();
    let task =
        crate::tasks::create(&app, &t, json!({"name": "ttl", "labels": [{"name": "a"}]})).await;
    let data = format!("/api/tasks/{}/data/", task["id"]);
    let start = |_: ()| {
        app.client
            .post(app.url(&data))
            .header("Authorization", format!("Token {t}"))
            .header("Upload-Start", "true")
            .send()
    };
    assert_eq!(start(()).await.unwrap().status(), 202);
    let at = tus_create(&app, &t, &data, "a.zip", 100).await;
    let r = tus_patch(&app, &t, &at, 0, reqwest::Body::from(vec![1u8; 10]))
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(tus_offset(&app, &t, &at).await, (200, Some(10)));
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // the next upload sweeps
    tus_create(&app, &t, &data, "b.zip", 100).await;
    assert_eq!(tus_offset(&app, &t, &at).await.0, 404);
    let left = std::fs::read_dir(app.data_path().join("tmp/v2/tus"))
        .unwrap()
        .count();
    assert_eq!(left, 2, "only b's two files are left");
}

/// Restores a task backup through the one-shot form (`task_file`); the request when it
/// has ended.
async fn restore(app: &TestApp, zip_bytes: Vec<u8>) -> Value {
    restore_at(app, "/api/tasks/backup/", "task_file", zip_bytes).await
}

/// Restores through the one-shot form at `path` with the file in `field`.
pub async fn restore_at(app: &TestApp, path: &str, field: &str, zip_bytes: Vec<u8>) -> Value {
    let form = reqwest::multipart::Form::new().part(
        field.to_string(),
        reqwest::multipart::Part::bytes(zip_bytes).file_name("backup.zip"),
    );
    let r = app
        .client
        .post(app.url(path))
        .header("Authorization", format!("Token {}", app.admin_token))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let rq: Value = r.json().await.unwrap();
    wait_request(app, &app.admin_token, rq["rq_id"].as_str().unwrap()).await
}

/// A backup as CVAT 2 writes it (`../shared` has no CVAT; the layout is CVAT's
/// documented one: colours, label types, job types, a manifest, `index.json`, tracks
/// with attributes by name) restores; broken ones fail and create nothing.
async fn restore_a_cvat_layout_backup(app: TestApp) {
    let task_json = json!({
        "name": "from cvat", "bug_tracker": "", "status": "annotation", "subset": "Train",
        "version": "1.0",
        "labels": [
            {"name": "car", "color": "#fa3253", "type": "rectangle", "sublabels": [],
             "attributes": [{"name": "parked", "mutable": true, "input_type": "checkbox",
                             "default_value": "false", "values": ["false"]}]},
            {"name": "sign", "color": "#33ddff", "type": "any", "sublabels": [], "attributes": []}
        ],
        "data": {"chunk_size": 72, "image_quality": 70, "start_frame": 0, "stop_frame": 3,
                 "chunk_type": "imageset", "storage_method": "cache", "storage": "local",
                 "sorting_method": "lexicographical", "deleted_frames": []},
        "jobs": [
            {"status": "annotation", "type": "annotation", "start_frame": 0, "stop_frame": 1, "frames": []},
            {"status": "completed", "type": "annotation", "start_frame": 2, "stop_frame": 3, "frames": []}
        ]
    });
    let annotations = json!([
        {"version": 0, "tags": [{"frame": 0, "group": 0, "source": "manual", "attributes": [], "label": "sign"}],
         "shapes": [{"type": "rectangle", "occluded": false, "outside": false, "z_order": 0, "rotation": 0.0,
                     "points": [1.0, 2.0, 11.0, 12.0], "frame": 1, "group": 0, "source": "manual",
                     "attributes": [{"name": "parked", "value": "true"}], "label": "car"}],
         "tracks": []},
        {"version": 0, "tags": [], "shapes": [],
         "tracks": [{"frame": 2, "group": 0, "source": "manual", "attributes": [], "label": "car",
                     "shapes": [
                        {"type": "rectangle", "occluded": false, "outside": false, "z_order": 0, "rotation": 0.0,
                         "points": [5.0, 5.0, 20.0, 20.0], "frame": 2,
                         "attributes": [{"name": "parked", "value": "false"}]},
                        {"type": "rectangle", "occluded": false, "outside": true, "z_order": 0, "rotation": 0.0,
                         "points": [6.0, 6.0, 21.0, 21.0], "frame": 3, "attributes": []}],
                     "elements": []}]}
    ]);
    let manifest = "{\"version\":\"1.1\"}\n{\"type\":\"images\"}\n".to_string()
        + &(0..4)
            .map(|i| {
                format!(
                    "{{\"name\":\"frame_{i}\",\"extension\":\".jpg\",\"width\":40,\"height\":30}}\n"
                )
            })
            .collect::<String>();
    let make = |task: &Value, ann: &Value| {
        let mut e: Vec<(String, Vec<u8>)> = (0..4)
            .map(|i| (format!("data/frame_{i}.jpg"), jpeg(40, 30, i)))
            .collect();
        e.push(("data/manifest.jsonl".into(), manifest.clone().into_bytes()));
        e.push(("data/index.json".into(), b"{\"0\":0}".to_vec()));
        e.push(("task.json".into(), task.to_string().into_bytes()));
        e.push(("annotations.json".into(), ann.to_string().into_bytes()));
        let refs: Vec<(&str, Vec<u8>)> = e.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        zip_of(&refs)
    };
    let t = app.admin_token.clone();
    let tasks_now = || async { app.get("/api/tasks", &t).await.body["count"].clone() };
    let before = tasks_now().await;

    // broken backups: a failed request, no task
    let mut wrong_version = task_json.clone();
    wrong_version["version"] = json!("2.0");
    let mut unknown_label = annotations.clone();
    unknown_label[0]["shapes"][0]["label"] = json!("truck");
    for (zip_bytes, says) in [
        (
            make(&wrong_version, &annotations),
            "version is not supported",
        ),
        (make(&task_json, &unknown_label), "unknown label \"truck\""),
        (b"not a zip at all".to_vec(), "not a readable zip"),
    ] {
        let req = restore(&app, zip_bytes).await;
        assert_eq!(req["status"], "failed", "{req}");
        assert!(req["message"].as_str().unwrap().contains(says), "{req}");
        assert_eq!(tasks_now().await, before);
    }

    let req = restore(&app, make(&task_json, &annotations)).await;
    assert_eq!(req["status"], "finished", "{req}");
    assert_eq!(req["operation"]["type"], "import:backup");
    let id = req["result_id"].as_i64().unwrap();
    let task = app.get(&format!("/api/tasks/{id}"), &t).await.body;
    assert_eq!(
        (task["name"].clone(), task["size"].clone()),
        (json!("from cvat"), json!(4))
    );
    assert_eq!(task["segment_size"], 2);
    let jobs = app.get(&format!("/api/jobs?task_id={id}"), &t).await.body;
    let mut statuses: Vec<(i64, String)> = jobs["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["start_frame"].as_i64().unwrap(),
                j["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [(0, "annotation".to_string()), (2, "completed".to_string())]
    );
    assert_eq!(
        json!(shapes_by_name(&app, id).await),
        json!([[1, "car", [1.0, 2.0, 11.0, 12.0], ["true"]]])
    );
    let doc = app
        .get(&format!("/api/tasks/{id}/annotations"), &t)
        .await
        .body;
    assert_eq!(doc["tags"].as_array().unwrap().len(), 1);
    let track = &doc["tracks"][0];
    assert_eq!(track["shapes"].as_array().unwrap().len(), 2);
    assert_eq!(track["shapes"][1]["outside"], true);
    assert_eq!(track["shapes"][0]["attributes"][0]["value"], "false");
    // the frames are the backup's images, in the manifest's order
    let meta = app
        .get(&format!("/api/tasks/{id}/data/meta"), &t)
        .await
        .body;
    assert_eq!(meta["frames"][3]["name"], "frame_3.jpg");
}

/// An export's absolute URLs (CVAT XML's segment URLs) are those of the request that
/// asked for it: a request through another host name gets a file of its own.
async fn export_urls_follow_the_request(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, _) = crate::formats::rich_task(&app, &t).await;
    let id = task["id"].as_i64().unwrap();
    let mut seen = Vec::new();
    for host in ["first.example:8080", "second.example", "first.example:8080"] {
        let r = app
            .client
            .post(app.url(&format!(
                "/api/tasks/{id}/dataset/export?format=CVAT%20for%20images%201.1&save_images=false"
            )))
            .header("Authorization", format!("Token {t}"))
            .header("X-Forwarded-Host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let rq: Value = r.json().await.unwrap();
        let done = wait_request(&app, &t, rq["rq_id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "finished", "{done}");
        let r = app
            .client
            .get(done["result_url"].as_str().unwrap())
            .header("Authorization", format!("Token {t}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let zip_bytes = r.bytes().await.unwrap().to_vec();
        let xml = crate::media::unzip(&zip_bytes)
            .into_iter()
            .find(|(n, _)| n == "annotations.xml")
            .map(|(_, b)| String::from_utf8(b).unwrap())
            .unwrap();
        let url = xml
            .split("<url>")
            .nth(1)
            .and_then(|r| r.split("</url>").next())
            .unwrap()
            .to_string();
        assert!(url.starts_with(&format!("http://{host}/")), "{host}: {url}");
        seen.push(url);
    }
    assert_eq!(seen[0], seen[2]);
}
