//! Real clients' request sequences, replayed with the bodies they send (read from their
//! published sources): the CVAT 1.1.0 command-line client (`utils/cli/core/core.py`,
//! tag v1.1.0) and FiftyOne 0.14.4's CVAT integration (`fiftyone/utils/cvat.py`, its
//! last release that speaks only `/api/v1`). Both log in with a form, keep the session
//! cookie and send `X-CSRFToken` from the `csrftoken` cookie; neither sends a token.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::common::{ADMIN_PASSWORD, TestApp};
use crate::db_tests;
use crate::media::{jpeg, unzip};

db_tests!(cvat_cli_1_1_commands, fiftyone_0_14_annotate_and_load);

/// A `requests.Session` as both clients use it: cookies kept, `X-CSRFToken` set from
/// the login's `csrftoken` cookie.
struct Session {
    http: reqwest::Client,
    base: String,
    headers: HeaderMap,
}

impl Session {
    async fn login(app: &TestApp) -> Session {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let r = http
            .post(app.url("/api/v1/auth/login"))
            .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let csrf = r
            .cookies()
            .find(|c| c.name() == "csrftoken")
            .expect("a csrftoken cookie")
            .value()
            .to_string();
        let mut headers = HeaderMap::new();
        headers.insert("X-CSRFToken", csrf.parse().unwrap());
        Session {
            http,
            base: app.url("/api/v1/"),
            headers,
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .headers(self.headers.clone())
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.json(reqwest::Method::GET, path, None).await
    }
}

fn files_form(files: &[(String, Vec<u8>)], fields: &[(&str, &str)]) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    for (i, (name, bytes)) in files.iter().enumerate() {
        form = form.part(
            format!("client_files[{i}]"),
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone()),
        );
    }
    form
}

/// `cli.py dump`: the task's name, then the export polled (no pause in the CLI; a short
/// one here) until 201, then `&action=download`.
async fn dump(s: &Session, tid: i64, format: &str) -> Vec<u8> {
    let (_, task) = s.get(&format!("tasks/{tid}")).await;
    let name = task["name"].as_str().unwrap();
    let url = format!("tasks/{tid}/annotations?format={format}&filename={name}");
    for _ in 0..600 {
        let r = s.req(reqwest::Method::GET, &url).send().await.unwrap();
        match r.status().as_u16() {
            201 => {
                let r = s
                    .req(reqwest::Method::GET, &format!("{url}&action=download"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                return r.bytes().await.unwrap().to_vec();
            }
            202 => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("dump {format}: {other}"),
        }
    }
    panic!("dump {format} never finished")
}

/// `cli.py upload`: the same PUT with the file part `annotation_file`, sent again until
/// 201.
async fn upload(s: &Session, tid: i64, format: &str, file: &[u8]) {
    for _ in 0..600 {
        let form = reqwest::multipart::Form::new().part(
            "annotation_file",
            reqwest::multipart::Part::bytes(file.to_vec()).file_name("annotations.zip"),
        );
        let r = s
            .req(
                reqwest::Method::PUT,
                &format!("tasks/{tid}/annotations?format={format}"),
            )
            .multipart(form)
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            201 => return,
            202 => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("upload {format}: {other} {}", r.text().await.unwrap()),
        }
    }
    panic!("upload {format} never finished")
}

/// `--annotation_path`: `/status` polled while `state != 'Finished'`; the CLI reads
/// `message` on every answer.
async fn wait_finished(s: &Session, tid: i64) {
    for _ in 0..600 {
        let (status, body) = s.get(&format!("tasks/{tid}/status")).await;
        assert_eq!(status, 200);
        assert!(body["message"].is_string(), "the CLI reads message: {body}");
        if body["state"] == "Finished" {
            return;
        }
        assert_ne!(body["state"], "Failed", "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {tid} never finished")
}

async fn cvat_cli_1_1_commands(app: TestApp) {
    let labels = json!([{"name": "car", "attributes": []}, {"name": "person", "attributes": []}]);
    // ls before anything: one empty page
    let s = Session::login(&app).await;
    let (status, page) = s.get("tasks").await;
    assert_eq!((status, page["count"].as_i64()), (200, Some(0)));

    // create NAME --labels … local a.jpg b.jpg c.jpg
    let s = Session::login(&app).await;
    let (status, task) = s
        .json(
            reqwest::Method::POST,
            "tasks",
            Some(json!({"name": "cli local", "labels": labels, "overlap": 0, "segment_size": 0, "bug_tracker": ""})),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    let local = task["id"].as_i64().unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| (format!("{i}.jpg"), jpeg(32, 24, i)))
        .collect();
    let r = s
        .req(reqwest::Method::POST, &format!("tasks/{local}/data"))
        .multipart(files_form(&files, &[("image_quality", "50")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    wait_finished(&s, local).await;

    // create NAME … share a.jpg b.jpg --annotation_path …: a plain form
    std::fs::create_dir_all(app.share_dir().join("cli")).unwrap();
    for i in 0..2 {
        std::fs::write(
            app.share_dir().join(format!("cli/{i}.jpg")),
            jpeg(32, 24, i),
        )
        .unwrap();
    }
    let s = Session::login(&app).await;
    let (_, task) = s
        .json(
            reqwest::Method::POST,
            "tasks",
            Some(json!({"name": "cli share", "labels": labels, "overlap": 0, "segment_size": 0, "bug_tracker": ""})),
        )
        .await;
    let share = task["id"].as_i64().unwrap();
    let r = s
        .req(reqwest::Method::POST, &format!("tasks/{share}/data"))
        .form(&[
            ("server_files[0]", "cli/0.jpg"),
            ("server_files[1]", "/cli/1.jpg"),
            ("image_quality", "50"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    wait_finished(&s, share).await;

    // annotations to dump: one box on frame 1 of the local task
    let (_, t) = s.get(&format!("tasks/{local}")).await;
    let car = t["labels"][0]["id"].as_i64().unwrap();
    let (status, _) = s
        .json(
            reqwest::Method::PUT,
            &format!("tasks/{local}/annotations"),
            Some(json!({"version": 0, "tags": [], "tracks": [], "shapes": [
                {"type": "rectangle", "occluded": false, "z_order": 0, "points": [1.0, 2.0, 10.0, 12.0],
                 "frame": 1, "label_id": car, "group": 0, "attributes": []}]})),
        )
        .await;
    assert_eq!(status, 200);

    // ls: pages by ?page=N while `next` is set (page size 1 to see two pages)
    let s = Session::login(&app).await;
    let (_, p1) = s.get("tasks?page_size=1").await;
    assert!(p1["next"].is_string());
    let (status, p2) = s.get("tasks?page_size=1&page=2").await;
    assert_eq!((status, p2["next"].clone()), (200, Value::Null));

    // frames TASK 0 2 --quality original|compressed: images PIL opens
    let s = Session::login(&app).await;
    for (n, quality) in [(0, "original"), (2, "compressed")] {
        let r = s
            .req(
                reqwest::Method::GET,
                &format!("tasks/{local}/data?type=frame&number={n}&quality={quality}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let img = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (32, 24));
    }

    // dump in three formats; upload one back into the share task
    let s = Session::login(&app).await;
    let xml = dump(&s, local, "CVAT for images 1.1").await;
    assert!(unzip(&xml).iter().any(|(n, _)| n == "annotations.xml"));
    let coco = dump(&s, local, "COCO 1.0").await;
    assert!(
        unzip(&coco)
            .iter()
            .any(|(n, _)| n.ends_with("instances_default.json"))
    );
    let yolo = dump(&s, local, "YOLO 1.1").await;
    assert!(!unzip(&yolo).is_empty());
    let s = Session::login(&app).await;
    upload(&s, local, "CVAT 1.1", &xml).await;
    let (_, doc) = s.get(&format!("tasks/{local}/annotations")).await;
    assert_eq!(doc["shapes"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["shapes"][0]["frame"], 1);

    // delete both; a second delete is the 404 the CLI logs
    let s = Session::login(&app).await;
    for id in [local, share] {
        let r = s
            .req(reqwest::Method::DELETE, &format!("tasks/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    let r = s
        .req(reqwest::Method::DELETE, &format!("tasks/{local}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

async fn fiftyone_0_14_annotate_and_load(app: TestApp) {
    // 0.14.4 goes straight to v1 (0.15+ tries the v2 login first, which ferrocat now
    // also answers)
    let s = Session::login(&app).await;

    // the project lookup and creation of `annotate(project_name=…)`
    let (status, found) = s.get("projects?search=fiftyone").await;
    assert_eq!((status, found["count"].as_i64()), (200, Some(0)));
    let fo_labels = json!([
        {"name": "vehicle", "attributes": [
            {"name": "label_id", "input_type": "text", "mutable": true},
            {"name": "parked", "input_type": "checkbox", "mutable": true},
            {"name": "kind", "input_type": "select", "mutable": true, "values": ["car", "bus"]}
        ]},
        {"name": "ground_truth", "attributes": [{"name": "value", "input_type": "text", "mutable": true}]}
    ]);
    let (status, project) = s
        .json(
            reqwest::Method::POST,
            "projects",
            Some(json!({"name": "fiftyone", "labels": fo_labels})),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    let pid = project["id"].as_i64().unwrap();
    let (_, by_id) = s.get(&format!("projects?id={pid}")).await;
    assert_eq!(by_id["results"][0]["name"], "fiftyone");

    // POST /tasks: `image_quality` in the body, `project_id`, attributes without values
    let (status, task) = s
        .json(
            reqwest::Method::POST,
            "tasks",
            Some(
                json!({"name": "FiftyOne_quickstart", "image_quality": 75, "labels": [],
                        "project_id": pid}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["project"], pid);
    let tid = task["id"].as_i64().unwrap();
    let vehicle = &task["labels"][0];
    assert_eq!(vehicle["attributes"][0]["values"], json!([""]));
    assert_eq!(vehicle["attributes"][1]["values"], json!(["false"]));
    // and a task of its own labels, as without a project
    let (status, plain) = s
        .json(
            reqwest::Method::POST,
            "tasks",
            Some(json!({"name": "FiftyOne_plain", "image_quality": 75, "labels": fo_labels})),
        )
        .await;
    assert_eq!(status, 201, "{plain}");

    // the media: renamed files, `use_cache`/`use_zip_chunks` as Python's str(True)
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| (format!("{i:06}_img{i}.jpg"), jpeg(40, 30, i)))
        .collect();
    let r = s
        .req(reqwest::Method::POST, &format!("tasks/{tid}/data"))
        .multipart(files_form(
            &files,
            &[
                ("image_quality", "75"),
                ("use_cache", "True"),
                ("use_zip_chunks", "True"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // it waits on /jobs (never /status) until the list is not empty
    let mut jobs = Value::Null;
    for _ in 0..600 {
        let (status, j) = s.get(&format!("tasks/{tid}/jobs")).await;
        assert_eq!(status, 200);
        if !j.as_array().unwrap().is_empty() {
            jobs = j;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let job_ids: Vec<i64> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        job_ids.len(),
        1,
        "one job: no segment_size by default: {jobs}"
    );

    // assignees: /users?search=, then PATCH with the 1.2 spelling `assignee_id`
    let (_, users) = s.get("users?search=admin").await;
    let uid = users["results"][0]["id"].as_i64().unwrap();
    let (status, job) = s
        .json(
            reqwest::Method::PATCH,
            &format!("jobs/{}", job_ids[0]),
            Some(json!({"assignee_id": uid})),
        )
        .await;
    assert_eq!(
        (status, job["assignee"].as_i64()),
        (200, Some(uid)),
        "{job}"
    );
    let (status, t) = s
        .json(
            reqwest::Method::PATCH,
            &format!("tasks/{tid}"),
            Some(json!({"assignee_id": uid})),
        )
        .await;
    assert_eq!((status, t["assignee"].as_i64()), (200, Some(uid)));

    // existing labels: PUT JSON (no format), with `source` and track `keyframe` keys; it
    // PUTs again while the answer's counts differ from what it sent, so a track inside
    // one job must come back as one track
    let vid = vehicle["id"].as_i64().unwrap();
    let kind = vehicle["attributes"][2]["id"].as_i64().unwrap();
    let doc = json!({"version": 0, "tags": [], "shapes": [
            {"type": "rectangle", "occluded": false, "z_order": 0, "points": [1.0, 1.0, 20.0, 15.0],
             "label_id": vid, "group": 0, "frame": 0, "source": "manual",
             "attributes": [{"spec_id": kind, "value": "bus"}]}],
        "tracks": [{"label_id": vid, "frame": 0, "group": 0, "attributes": [], "shapes": [
            {"type": "rectangle", "occluded": false, "z_order": 0, "points": [2.0, 2.0, 8.0, 8.0],
             "frame": 0, "outside": false, "keyframe": true, "source": "manual", "attributes": []},
            {"type": "rectangle", "occluded": false, "z_order": 0, "points": [4.0, 4.0, 10.0, 10.0],
             "frame": 1, "outside": false, "keyframe": true, "source": "manual", "attributes": []}]}]});
    let (status, written) = s
        .json(
            reqwest::Method::PUT,
            &format!("tasks/{tid}/annotations"),
            Some(doc),
        )
        .await;
    assert_eq!(status, 200, "{written}");
    assert_eq!(
        written["shapes"].as_array().unwrap().len(),
        1,
        "the counts it compares"
    );
    assert_eq!(written["tracks"].as_array().unwrap().len(), 1);

    // load_annotations: the task list by `next`, each task, its annotations and meta
    let s = Session::login(&app).await;
    let (_, list) = s.get("tasks").await;
    assert_eq!(list["count"], 2);
    let (_, t) = s.get(&format!("tasks/{tid}")).await;
    assert_eq!(t["labels"][0]["attributes"][2]["name"], "kind");
    let (_, back) = s.get(&format!("tasks/{tid}/annotations")).await;
    assert_eq!(back["shapes"][0]["attributes"][0]["value"], "bus");
    assert_eq!(back["tracks"][0]["shapes"].as_array().unwrap().len(), 2);
    let (_, meta) = s.get(&format!("tasks/{tid}/data/meta")).await;
    assert_eq!(
        meta["frames"][0],
        json!({"width": 40, "height": 30, "name": "000000_img0.jpg"})
    );
    let (_, jobs_of) = s.get(&format!("jobs/{}", job_ids[0])).await;
    assert!(jobs_of["status"].is_string());

    // cleanup: an existence check, then deletes
    let (_, exists) = s.get(&format!("tasks?id={tid}")).await;
    assert_eq!(exists["results"][0]["id"], tid);
    let r = s
        .req(reqwest::Method::DELETE, &format!("tasks/{tid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = s
        .req(reqwest::Method::DELETE, &format!("projects/{pid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}
