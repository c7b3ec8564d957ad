//! api-v1 §10: every format, checked by the tools that consume it.
//!
//! The exports of a task holding every kind of object are opened with pycocotools and
//! Datumaro; each importer reads back what the matching exporter wrote (the second export
//! equals the first up to ids) and what Datumaro writes; bad files fail and change
//! nothing; dataset exports carry the images.
//!
//! pycocotools and Datumaro run from the Python venv that `scripts/test.sh` creates
//! (`FERROCAT_TEST_PYTHON`). Without it the consumer checks are skipped with a notice,
//! except under CI, where that is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};

use crate::annotations::{annotated_task, ids, import_file, send, task_annotations};
use crate::common::TestApp;
use crate::db_tests;

db_tests!(
    exports_open_in_their_consumers,
    imports_read_back_our_exports,
    imports_read_what_datumaro_writes,
    bad_files_fail_and_change_nothing,
    dataset_exports_carry_images,
);

/// Exporters and the Datumaro format that reads each.
const EXPORTS: [(&str, &str); 10] = [
    ("COCO 1.0", "coco_instances"),
    ("CVAT for images 1.1", "cvat"),
    ("CVAT for video 1.1", "cvat"),
    ("Datumaro 1.0", "datumaro"),
    ("LabelMe 3.0", "label_me"),
    ("Segmentation mask 1.1", "voc_segmentation"),
    ("MOT 1.1", "mot_seq"),
    ("PASCAL VOC 1.1", "voc"),
    ("TFRecord 1.0", "tf_detection_api"),
    ("YOLO 1.1", "yolo"),
];

/// The Python of the test venv, if any.
pub(crate) fn python() -> Option<PathBuf> {
    match std::env::var_os("FERROCAT_TEST_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("CI").is_some() => {
            panic!("FERROCAT_TEST_PYTHON is required in CI (scripts/test.sh sets it)")
        }
        None => {
            eprintln!("notice: FERROCAT_TEST_PYTHON not set: pycocotools/Datumaro checks skipped");
            None
        }
    }
}

/// Runs `consumers.py` with `args`; its JSON answer.
pub(crate) fn consumer(py: &Path, args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/consumers.py");
    let out = std::process::Command::new(py)
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "consumers.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Polls an export (`kind` = `annotations` or `dataset`) to the end; the zip.
pub async fn export(app: &TestApp, tid: i64, kind: &str, format: &str, t: &str) -> Vec<u8> {
    export_from(app, &format!("/api/v1/tasks/{tid}/{kind}"), format, t)
        .await
        .0
}

/// Polls the export at `path` (`/api/v1/tasks/7/dataset`, say) to the end; the zip and
/// its `Content-Disposition`.
pub async fn export_from(app: &TestApp, path: &str, format: &str, t: &str) -> (Vec<u8>, String) {
    let url = format!("{path}?format={}", format.replace(' ', "%20"));
    for _ in 0..600 {
        let r = app.get(&url, t).await;
        match r.status.as_u16() {
            201 => {
                let r = app
                    .client
                    .get(app.url(&format!("{url}&action=download")))
                    .header("Authorization", format!("Token {t}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let name = r.headers()["content-disposition"]
                    .to_str()
                    .unwrap()
                    .to_string();
                return (r.bytes().await.unwrap().to_vec(), name);
            }
            202 => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            s => panic!("{format} export answered {s}: {}", r.body),
        }
    }
    panic!("{format} export did not finish")
}

/// Unpacks a zip into a fresh folder.
pub(crate) fn unpack(zip: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in crate::media::unzip(zip) {
        let path = dir.path().join(&name);
        if name.ends_with('/') {
            std::fs::create_dir_all(&path).unwrap();
            continue;
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

/// Packs a folder into a zip (paths relative to it).
fn pack(dir: &Path) -> Vec<u8> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    crate::media::zip(&files)
}

/// A task with every kind of object (8 frames `car0.jpg`…`car7.jpg`, 64×48):
/// - frame 0: a car box (model Audi, color black) and a 20×20 person polygon (age 40);
/// - frame 1: a car polygon and a car box in group 5, a person polyline, sky points;
/// - frame 2: a sky tag and an occluded person box;
/// - frames 3–5: a car box track (keyframes 3 and 5, outside from 6).
pub async fn rich_task(app: &TestApp, t: &str) -> (Value, Vec<i64>) {
    rich_task_with(app, t, json!({})).await
}

/// [`rich_task`] with `extra` fields in the create body (a `project`, say).
pub async fn rich_task_with(app: &TestApp, t: &str, extra: Value) -> (Value, Vec<i64>) {
    let (task, jobs) = annotated_task(app, t, extra).await;
    let i = ids(&task);
    let tid = task["id"].as_i64().unwrap();
    let doc = json!({"version": 0,
        "tags": [{"frame": 2, "label_id": i.sky, "group": 0, "attributes": []}],
        "shapes": [
            {"type": "rectangle", "occluded": false, "z_order": 0, "points": [8.0, 4.0, 40.0, 20.0], "frame": 0,
             "label_id": i.car, "group": 0, "attributes": [{"spec_id": i.model, "value": "Audi"}, {"spec_id": i.color, "value": "black"}]},
            {"type": "polygon", "occluded": false, "z_order": 1, "points": [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0], "frame": 0,
             "label_id": i.person, "group": 0, "attributes": [{"spec_id": i.age, "value": "40"}]},
            {"type": "polygon", "occluded": false, "z_order": 0, "points": [2.0, 2.0, 20.0, 2.0, 20.0, 20.0], "frame": 1,
             "label_id": i.car, "group": 5, "attributes": []},
            {"type": "rectangle", "occluded": false, "z_order": 0, "points": [30.0, 5.0, 50.0, 25.0], "frame": 1,
             "label_id": i.car, "group": 5, "attributes": []},
            {"type": "polyline", "occluded": false, "z_order": 0, "points": [1.0, 1.0, 10.0, 10.0, 20.0, 5.0], "frame": 1,
             "label_id": i.person, "group": 0, "attributes": []},
            {"type": "points", "occluded": false, "z_order": 0, "points": [5.0, 5.0, 6.0, 6.0], "frame": 1,
             "label_id": i.sky, "group": 0, "attributes": []},
            {"type": "rectangle", "occluded": true, "z_order": 0, "points": [0.0, 0.0, 10.0, 10.0], "frame": 2,
             "label_id": i.person, "group": 0, "attributes": []}
        ],
        "tracks": [{"frame": 3, "label_id": i.car, "group": 0, "attributes": [{"spec_id": i.model, "value": "Benz"}], "shapes": [
            {"type": "rectangle", "occluded": false, "z_order": 0, "points": [10.0, 10.0, 20.0, 20.0], "frame": 3, "outside": false, "attributes": []},
            {"type": "rectangle", "occluded": false, "z_order": 0, "points": [30.0, 10.0, 40.0, 20.0], "frame": 5, "outside": false, "attributes": []},
            {"type": "rectangle", "occluded": false, "z_order": 0, "points": [30.0, 10.0, 40.0, 20.0], "frame": 6, "outside": true, "attributes": []}]}]});
    let r = send(
        app,
        Method::PUT,
        &format!("/api/v1/tasks/{tid}/annotations"),
        t,
        Some(doc),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (task, jobs)
}

/// Per item, the annotation kinds Datumaro found.
pub(crate) fn kinds(read: &Value) -> BTreeMap<String, BTreeMap<String, u64>> {
    serde_json::from_value(read["items"].clone()).unwrap()
}

fn count(read: &Value) -> u64 {
    kinds(read).values().flat_map(|k| k.values()).sum()
}

fn count_kind(read: &Value, kind: &str) -> u64 {
    kinds(read).values().filter_map(|k| k.get(kind)).sum()
}

/// Every export opens in its consumer: pycocotools for COCO (categories, image sizes,
/// boxes, and areas as pycocotools rasterises them), Datumaro for the rest (item and
/// annotation counts).
async fn exports_open_in_their_consumers(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, _) = rich_task(&app, &t).await;
    let tid = task["id"].as_i64().unwrap();
    let Some(py) = python() else { return };
    for (format, dm) in EXPORTS {
        // Datumaro's CVAT and YOLO readers want the images (or their sizes) beside the
        // annotations: open the dataset exports of those
        let kind = if format.starts_with("CVAT") || format == "YOLO 1.1" {
            "dataset"
        } else {
            "annotations"
        };
        let zip = export(&app, tid, kind, format, &t).await;
        let dir = unpack(&zip);
        if format == "COCO 1.0" {
            let got = consumer(
                &py,
                &[
                    "coco",
                    dir.path()
                        .join("annotations/instances_default.json")
                        .to_str()
                        .unwrap(),
                ],
            );
            assert_eq!(got["categories"], json!(["car", "person", "sky"]));
            let images = got["images"].as_array().unwrap();
            assert_eq!(images.len(), 8);
            assert_eq!(images[3], json!(["car3.jpg", 64, 48]));
            let anns = got["annotations"].as_array().unwrap();
            // frame 0: box + polygon; frame 1: one group (polygon + box); frame 2: the
            // person box; frames 3–5: the track's boxes
            assert_eq!(anns.len(), 7, "{got}");
            let on = |image: i64| -> Vec<&Value> {
                anns.iter().filter(|a| a["image_id"] == image).collect()
            };
            assert_eq!(on(1)[0]["bbox"], json!([8.0, 4.0, 32.0, 16.0]));
            assert_eq!(on(1)[0]["area"], json!(512.0), "a box: w*h");
            assert_eq!(on(1)[1]["category_id"], 2);
            let group = on(2);
            assert_eq!(group.len(), 1);
            // the group's polygons are its segmentation; its box widens only the bbox
            assert_eq!(group[0]["parts"], 1, "{group:?}");
            assert_eq!(group[0]["bbox"], json!([2.0, 2.0, 48.0, 23.0]));
            for a in anns {
                if a["parts"].as_u64().unwrap() > 0 && a["iscrowd"] == 0 {
                    let area = a["area"].as_f64().unwrap();
                    let box_only = a["bbox"][2].as_f64().unwrap() * a["bbox"][3].as_f64().unwrap();
                    assert!(
                        area == a["mask_area"].as_f64().unwrap() || area == box_only,
                        "area as pycocotools rasterises it: {a}"
                    );
                }
            }
            assert_eq!(
                on(2)[0]["area"].as_f64(),
                on(2)[0]["mask_area"].as_f64(),
                "union area"
            );
        }
        let got = consumer(&py, &["read", dm, dir.path().to_str().unwrap()]);
        let items = kinds(&got);
        let expected_items = match format {
            // Datumaro makes items of a track file's frames only: those with shapes,
            // outside ones included (frame 6 holds the track's outside keyframe)
            "CVAT for video 1.1" => 7,
            // Datumaro's MOT reader makes items of the frames with boxes only
            "MOT 1.1" => 6,
            _ => 8,
        };
        assert_eq!(items.len(), expected_items, "{format}: {got}");
        let expected = match format {
            // shapes and tags of every frame (track shapes per frame)
            "CVAT for images 1.1" | "Datumaro 1.0" => 11,
            // every shape is a track there, each ended by an outside copy (which
            // Datumaro keeps, flagged); tags are not in this format
            "CVAT for video 1.1" => 18,
            "COCO 1.0" => 7,
            "YOLO 1.1" => 6,
            // boxes only; the frame-1 group is one box
            "TFRecord 1.0" => 6,
            "MOT 1.1" => 6,
            // boxes and polygons (points, polylines and tags have no place there)
            "LabelMe 3.0" => 8,
            // one mask per instance: the frame-1 group is one
            "Segmentation mask 1.1" => 7,
            // boxes in the XML, polygons as masks, the tag as a class list entry
            "PASCAL VOC 1.1" => 9,
            _ => unreachable!(),
        };
        // Datumaro adds a bbox beside each COCO polygon instance
        let found = if format == "COCO 1.0" {
            count_kind(&got, "polygon")
        } else {
            count(&got)
        };
        if expected > 0 {
            assert_eq!(found, expected, "{format}: {got}");
        } else {
            assert!(count(&got) > 0, "{format}: {got}");
        }
        eprintln!("{format}: {got}");
    }
}

/// Importers in the round trip: each reads what its exporter wrote, and a second export
/// equals the first (up to ids).
const ROUND_TRIPS: [&str; 6] = [
    "COCO 1.0",
    "LabelMe 3.0",
    "Segmentation mask 1.1",
    "MOT 1.1",
    "PASCAL VOC 1.1",
    "TFRecord 1.0",
];

/// A file's content with what cannot survive a round trip blanked: LabelMe's dates, and
/// in COCO the bbox of the group that mixes a polygon and a box (COCO's segmentation
/// holds only the polygon, so the box member is not in the file to come back).
fn comparable(name: &str, bytes: &[u8]) -> Vec<u8> {
    if name.ends_with("instances_default.json") {
        let mut v: Value = serde_json::from_slice(bytes).unwrap();
        for a in v["annotations"].as_array_mut().unwrap() {
            if a["image_id"] == 2 && a["category_id"] == 1 {
                a["bbox"] = Value::Null;
            }
        }
        return serde_json::to_vec(&v).unwrap();
    }
    if !name.ends_with(".xml") {
        return bytes.to_vec();
    }
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("<date>") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.into_bytes()
}

async fn imports_read_back_our_exports(app: TestApp) {
    let t = app.admin_token.clone();
    let (a, _) = rich_task(&app, &t).await;
    let ta = a["id"].as_i64().unwrap();
    for format in ROUND_TRIPS {
        let first = export(&app, ta, "annotations", format, &t).await;
        let (b, _) = annotated_task(&app, &t, json!({})).await;
        let tb = b["id"].as_i64().unwrap();
        let (status, body) = import_file(
            &app,
            &format!(
                "/api/v1/tasks/{tb}/annotations?format={}",
                format.replace(' ', "%20")
            ),
            &t,
            first.clone(),
            "a.zip",
        )
        .await;
        assert_eq!(status, 201, "{format}: {body}");
        let got = task_annotations(&app, tb, &t).await;
        // a fresh task's jobs are at version 0; an import counts twice, as in CVAT 1.1
        assert_eq!(got["version"], 2, "{format}");
        assert!(
            !got["shapes"].as_array().unwrap().is_empty()
                || !got["tracks"].as_array().unwrap().is_empty(),
            "{format}: {got}"
        );
        let second = export(&app, tb, "annotations", format, &t).await;
        let (f1, f2) = (crate::media::unzip(&first), crate::media::unzip(&second));
        assert_eq!(
            f1.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            f2.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            "{format}"
        );
        for ((n, x), (_, y)) in f1.iter().zip(&f2) {
            assert!(
                comparable(n, x) == comparable(n, y),
                "{format}: {n} differs:\n{}\n---\n{}",
                String::from_utf8_lossy(x),
                String::from_utf8_lossy(y)
            );
        }
        eprintln!("{format}: {} files equal", f1.len());
    }
}

/// Datumaro writes a small dataset (3 items named like the task's frames) in each
/// format; ferrocat imports it with labels and frames matched.
async fn imports_read_what_datumaro_writes(app: TestApp) {
    let t = app.admin_token.clone();
    let Some(py) = python() else { return };
    for (format, dm, shapes, tracks) in [
        ("COCO 1.0", "coco_instances", 6, 0),
        // Datumaro's VOC writer keeps boxes only (polygons need masks)
        ("PASCAL VOC 1.1", "voc", 3, 0),
        ("LabelMe 3.0", "label_me", 6, 0),
        ("MOT 1.1", "mot_seq_gt", 0, 1),
        ("YOLO 1.1", "yolo", 3, 0),
        ("Segmentation mask 1.1", "voc_segmentation", 3, 0),
        ("TFRecord 1.0", "tf_detection_api", 3, 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        consumer(&py, &["write", dm, dir.path().to_str().unwrap()]);
        let (b, _) = annotated_task(&app, &t, json!({})).await;
        let tb = b["id"].as_i64().unwrap();
        let (status, body) = import_file(
            &app,
            &format!(
                "/api/v1/tasks/{tb}/annotations?format={}",
                format.replace(' ', "%20")
            ),
            &t,
            pack(dir.path()),
            "dm.zip",
        )
        .await;
        assert_eq!(status, 201, "{format}: {body}");
        let got = task_annotations(&app, tb, &t).await;
        assert_eq!(
            got["shapes"].as_array().unwrap().len(),
            shapes,
            "{format}: {got}"
        );
        assert_eq!(
            got["tracks"].as_array().unwrap().len(),
            tracks,
            "{format}: {got}"
        );
        let frames: Vec<i64> = got["shapes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["frame"].as_i64().unwrap())
            .collect();
        assert!(
            frames.iter().all(|f| (0..3).contains(f)),
            "{format}: {frames:?}"
        );
    }
}

/// Malformed files, wrong layouts, unknown labels or frames, absurd coordinates: the
/// import fails with a message (500, as §10.3) and the task keeps what it had.
async fn bad_files_fail_and_change_nothing(app: TestApp) {
    let t = app.admin_token.clone();
    let (a, _) = rich_task(&app, &t).await;
    let ta = a["id"].as_i64().unwrap();
    let before = task_annotations(&app, ta, &t).await;
    let zip = |files: &[(&str, &str)]| {
        crate::media::zip(
            &files
                .iter()
                .map(|(n, b)| (*n, b.as_bytes().to_vec()))
                .collect::<Vec<_>>(),
        )
    };
    let coco = |images: &str, anns: &str| {
        format!(
            r#"{{"categories":[{{"id":1,"name":"car","supercategory":""}},{{"id":2,"name":"dragon","supercategory":""}}],"images":{images},"annotations":{anns}}}"#
        )
    };
    let one_image = r#"[{"id":1,"width":64,"height":48,"file_name":"car0.jpg"}]"#;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("COCO 1.0", b"{not json".to_vec(), ""),
        ("COCO 1.0", zip(&[("readme.txt", "hi")]), ""),
        (
            "COCO 1.0",
            coco(
                one_image,
                r#"[{"id":1,"image_id":1,"category_id":2,"segmentation":[],"bbox":[1,1,2,2],"area":4,"iscrowd":0}]"#,
            )
            .into_bytes(),
            "Label 'dragon' is not registered for this task",
        ),
        (
            "COCO 1.0",
            coco(
                r#"[{"id":1,"width":64,"height":48,"file_name":"nowhere.jpg"}]"#,
                r#"[{"id":1,"image_id":1,"category_id":1,"segmentation":[],"bbox":[1,1,2,2],"area":4,"iscrowd":0}]"#,
            )
            .into_bytes(),
            "Unknown frame nowhere",
        ),
        (
            "COCO 1.0",
            coco(
                one_image,
                r#"[{"id":1,"image_id":1,"category_id":1,"segmentation":[],"bbox":[1e300,1,2,2],"area":4,"iscrowd":0}]"#,
            )
            .into_bytes(),
            "",
        ),
        ("PASCAL VOC 1.1", zip(&[("Annotations/car0.xml", "<annotation><object>")]), ""),
        (
            "PASCAL VOC 1.1",
            zip(&[(
                "Annotations/car0.xml",
                "<!DOCTYPE a [<!ENTITY x \"xxxxxxxx\"><!ENTITY y \"&x;&x;&x;&x;\">]><annotation><filename>car0.jpg</filename><object><name>&y;</name></object></annotation>",
            )]),
            "",
        ),
        ("LabelMe 3.0", zip(&[("default/car0.xml", "<annotation><object><polygon><pt><x>a</x>")]), ""),
        ("MOT 1.1", zip(&[("gt/gt.txt", "1,1,x,2,3,4,1,1,1\n"), ("gt/labels.txt", "car\n")]), ""),
        ("MOT 1.1", zip(&[("gt/gt.txt", "1,1,1,2,3,4,1,9,1\n"), ("gt/labels.txt", "car\n")]), ""),
        ("Segmentation mask 1.1", zip(&[("SegmentationClass/car0.png", "not a png")]), ""),
        ("TFRecord 1.0", zip(&[("default.tfrecord", "\u{1}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}broken")]), ""),
        ("Segmentation mask 1.1", b"PK\x03\x04 not really".to_vec(), ""),
    ];
    for (format, file, msg) in cases {
        let (status, body) = import_file(
            &app,
            &format!(
                "/api/v1/tasks/{ta}/annotations?format={}",
                format.replace(' ', "%20")
            ),
            &t,
            file,
            "bad.zip",
        )
        .await;
        assert_eq!(status, 500, "{format}: {body}");
        let text = body.as_str().unwrap_or_default();
        assert!(!text.is_empty() && text.contains(msg), "{format}: {body}");
    }
    assert_eq!(
        task_annotations(&app, ta, &t).await,
        before,
        "failed imports changed nothing"
    );
}

/// `GET /tasks/{id}/dataset?format=F` carries every frame as a JPEG beside the
/// annotations, in the format's image folder.
async fn dataset_exports_carry_images(app: TestApp) {
    let t = app.admin_token.clone();
    let (a, _) = rich_task(&app, &t).await;
    let ta = a["id"].as_i64().unwrap();
    for (format, image) in [
        ("COCO 1.0", "images/car3.jpg"),
        ("CVAT for images 1.1", "images/car3.jpg"),
        ("CVAT for video 1.1", "images/car3.jpg"),
        ("Datumaro 1.0", "images/default/car3.jpg"),
        ("LabelMe 3.0", "default/car3.jpg"),
        ("Segmentation mask 1.1", "JPEGImages/car3.jpg"),
        ("TFRecord 1.0", "default.tfrecord"),
        ("YOLO 1.1", "obj_train_data/car3.jpg"),
        ("PASCAL VOC 1.1", "JPEGImages/car3.jpg"),
        ("MOT 1.1", "img1/000004.jpg"),
    ] {
        let files = crate::media::unzip(&export(&app, ta, "dataset", format, &t).await);
        let jpeg = &files
            .iter()
            .find(|(n, _)| n == image)
            .unwrap_or_else(|| {
                panic!(
                    "{format}: no {image} in {:?}",
                    files.iter().map(|(n, _)| n).collect::<Vec<_>>()
                )
            })
            .1;
        if format == "TFRecord 1.0" {
            // the images are inside the records (image/encoded)
            let jpegs = jpeg.windows(3).filter(|w| *w == b"\xff\xd8\xff").count();
            assert_eq!(jpegs, 8, "{format}");
            continue;
        }
        let img = image::load_from_memory(jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (64, 48), "{format}");
        let jpegs = files.iter().filter(|(n, _)| n.ends_with(".jpg")).count();
        assert_eq!(jpegs, 8, "{format}");
    }
    // a dataset needs a format; the annotations-only export is another file
    let r = app.get(&format!("/api/v1/tasks/{ta}/dataset"), &t).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, json!(["Unknown format specified for the request"]));
}
