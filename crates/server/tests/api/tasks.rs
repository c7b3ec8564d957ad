//! api-v1 §6–§8 and §11.2: tasks, labels, data upload and processing, serving, share,
//! jobs, permissions.

use std::time::{Duration, Instant};

use image::{DynamicImage, GenericImageView, ImageFormat};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp};
use crate::db_tests;
use crate::media::{encode, jpeg, photo, unzip, zip};

db_tests!(
    seed_task_create_upload_status_list,
    label_validation,
    patch_merges_labels_by_name,
    list_filters_and_ordering,
    share_listing_and_server_files,
    every_image_format,
    archive_with_nested_folders_and_frame_selection,
    upload_validation,
    corrupt_file_fails_the_task_and_nothing_stays,
    segments_jobs_and_status,
    permissions_by_role,
    delete_removes_media,
);

/// The seed's create-task body.
fn seed_task() -> Value {
    json!({
        "name": "testCreate",
        "labels": [
            {"name": "label1", "attributes": [{"name": "select", "mutable": false, "input_type": "select", "default_value": "select", "values": ["select"]}]},
            {"name": "label2", "attributes": [{"name": "checkbox", "mutable": false, "input_type": "checkbox", "default_value": "false", "values": ["false"]}]},
            {"name": "label3", "attributes": [{"name": "text", "mutable": true, "input_type": "text", "default_value": "text", "values": ["text"]}]}
        ],
        "z_order": false
    })
}

pub async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/api/v1/tasks", Some(token), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

/// Uploads `files` as `client_files[i]` with extra text fields; returns the response.
pub async fn upload(
    app: &TestApp,
    token: &str,
    task: i64,
    files: &[(&str, Vec<u8>)],
    fields: &[(&str, &str)],
) -> crate::common::Resp {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    for (i, (name, bytes)) in files.iter().enumerate() {
        form = form.part(
            format!("client_files[{i}]"),
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string()),
        );
    }
    TestApp::read(
        app.client
            .post(app.url(&format!("/api/v1/tasks/{task}/data")))
            .header("Authorization", format!("Token {token}"))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Polls `/status` until it is no longer Queued/Started.
pub async fn wait(app: &TestApp, token: &str, task: i64) -> Value {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let r = app
            .get(&format!("/api/v1/tasks/{task}/status"), token)
            .await;
        assert_eq!(r.status, 200);
        let state = r.body["state"].as_str().unwrap().to_string();
        if state == "Finished" || state == "Failed" {
            return r.body;
        }
        assert!(
            ["Queued", "Started"].contains(&state.as_str()),
            "{}",
            r.body
        );
        assert!(Instant::now() < until, "processing did not end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn bytes(
    app: &TestApp,
    token: &str,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = app
        .client
        .get(app.url(path))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

/// The seed's task section replayed: create, upload, status, list, meta, chunk.
async fn seed_task_create_upload_status_list(app: TestApp) {
    let t = app.admin_token.clone();
    let r = TestApp::read(
        app.client
            .post(app.url("/api/v1/tasks"))
            .header("Host", "alexking.site:8080")
            .header("Authorization", format!("Token {t}"))
            .json(&seed_task())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let task = &r.body;
    let id = task["id"].as_i64().unwrap();
    assert_eq!(
        r.headers["location"],
        format!("http://alexking.site:8080/api/v1/tasks/{id}")
    );
    let mut keys: Vec<&str> = task
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "assignee",
            "bug_tracker",
            "created_date",
            "id",
            "labels",
            "mode",
            "name",
            "overlap",
            "owner",
            "project",
            "segment_size",
            "segments",
            "status",
            "updated_date",
            "url",
            "z_order"
        ]
    );
    assert_eq!(
        task["url"],
        format!("http://alexking.site:8080/api/v1/tasks/{id}")
    );
    assert_eq!(
        (
            task["name"].clone(),
            task["mode"].clone(),
            task["owner"].clone(),
            task["assignee"].clone(),
            task["bug_tracker"].clone()
        ),
        (
            json!("testCreate"),
            json!(""),
            json!(1),
            Value::Null,
            json!("")
        )
    );
    assert_eq!(
        (
            task["overlap"].clone(),
            task["segment_size"].clone(),
            task["z_order"].clone()
        ),
        (Value::Null, json!(0), json!(false))
    );
    assert_eq!(
        (
            task["status"].clone(),
            task["segments"].clone(),
            task["project"].clone()
        ),
        (json!("annotation"), json!([]), Value::Null)
    );
    let labels = task["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 3);
    let ids: Vec<i64> = labels.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "label ids ascend in request order"
    );
    let mut expected = seed_task()["labels"].clone();
    for (i, l) in expected.as_array_mut().unwrap().iter_mut().enumerate() {
        l["id"] = labels[i]["id"].clone();
        l["attributes"][0]["id"] = labels[i]["attributes"][0]["id"].clone();
    }
    assert_eq!(task["labels"], expected);

    // upload the seed's three files
    let files = [
        ("000000001296.jpg", jpeg(584, 328, 1)),
        ("000000000776.jpg", jpeg(640, 480, 2)),
        ("000000000285.jpg", jpeg(500, 375, 3)),
    ];
    let r = upload(&app, &t, id, &files, &[("image_quality", "70")]).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"chunk_size": null, "size": 0, "image_quality": 70, "start_frame": 0, "stop_frame": 0, "frame_filter": "",
               "compressed_chunk_type": "imageset", "original_chunk_type": "imageset",
               "client_files": ["000000001296.jpg", "000000000776.jpg", "000000000285.jpg"],
               "server_files": [], "remote_files": [], "use_zip_chunks": false})
    );
    assert_eq!(
        wait(&app, &t, id).await,
        json!({"state": "Finished", "message": ""})
    );

    // the task list as the seed shows it
    let r = app.get("/api/v1/tasks?page_size=10&page=1", &t).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["count"], 1);
    assert_eq!(
        (r.body["next"].clone(), r.body["previous"].clone()),
        (Value::Null, Value::Null)
    );
    let listed = &r.body["results"][0];
    assert_eq!(listed["mode"], "annotation");
    assert_eq!(listed["overlap"], 0);
    assert_eq!(listed["data_chunk_size"], 72);
    assert_eq!(listed["data_compressed_chunk_type"], "imageset");
    assert_eq!(listed["data_original_chunk_type"], "imageset");
    assert_eq!(listed["size"], 3);
    assert_eq!(listed["image_quality"], 70);
    assert!(listed["data"].as_i64().unwrap() > 0);
    let seg = &listed["segments"][0];
    assert_eq!(
        (seg["start_frame"].clone(), seg["stop_frame"].clone()),
        (json!(0), json!(2))
    );
    let job = &seg["jobs"][0];
    assert_eq!(job["assignee"], Value::Null);
    assert_eq!(job["status"], "annotation");
    assert!(
        job["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/v1/jobs/{}", job["id"]))
    );
    // re-fetching one task by id, and the UI's buggy `?id=undefined` query
    let r = app
        .get(&format!("/api/v1/tasks?page_size=10&id={id}"), &t)
        .await;
    assert_eq!(r.body["results"][0]["id"], id);
    let r = app
        .get("/api/v1/tasks?page_size=10&?id=undefined", &t)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["count"], 1);

    // meta: frames in plain string order of names
    let r = app.get(&format!("/api/v1/tasks/{id}/data/meta"), &t).await;
    assert_eq!(
        r.body,
        json!({"chunk_size": 72, "size": 3, "image_quality": 70, "start_frame": 0, "stop_frame": 2, "frame_filter": "",
               "frames": [{"width": 500, "height": 375, "name": "000000000285.jpg"},
                          {"width": 640, "height": 480, "name": "000000000776.jpg"},
                          {"width": 584, "height": 328, "name": "000000001296.jpg"}]})
    );
    // the compressed chunk: 000000.jpeg … in frame order, each a JPEG of the frame's size
    let (status, headers, chunk) = bytes(
        &app,
        &t,
        &format!("/api/v1/tasks/{id}/data?type=chunk&number=0&quality=compressed"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/zip");
    assert!(headers.get("etag").is_some());
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let members = unzip(&chunk);
    assert_eq!(
        members.iter().map(|m| m.0.as_str()).collect::<Vec<_>>(),
        ["000000.jpeg", "000001.jpeg", "000002.jpeg"]
    );
    let dims: Vec<(u32, u32)> = members
        .iter()
        .map(|m| image::load_from_memory(&m.1).unwrap().dimensions())
        .collect();
    assert_eq!(dims, [(500, 375), (640, 480), (584, 328)]);
    // a frame is the chunk member's bytes
    let (status, headers, frame) = bytes(
        &app,
        &t,
        &format!("/api/v1/tasks/{id}/data?type=frame&number=1&quality=compressed"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(frame, members[1].1);
    // original quality: the uploaded bytes, unchanged
    let (_, _, orig) = bytes(
        &app,
        &t,
        &format!("/api/v1/tasks/{id}/data?type=chunk&number=0&quality=original"),
    )
    .await;
    let om = unzip(&orig);
    assert_eq!(
        om.iter().map(|m| m.0.as_str()).collect::<Vec<_>>(),
        ["000000.jpg", "000001.jpg", "000002.jpg"]
    );
    assert_eq!(om[0].1, files[2].1);
    let (_, h, f2) = bytes(
        &app,
        &t,
        &format!("/api/v1/tasks/{id}/data?type=frame&number=2&quality=original"),
    )
    .await;
    assert_eq!(f2, files[0].1);
    assert_eq!(h["content-type"], "image/jpeg");
    // preview: the first frame fitted into 256×256
    let (status, h, preview) =
        bytes(&app, &t, &format!("/api/v1/tasks/{id}/data?type=preview")).await;
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "image/jpeg");
    assert_eq!(
        image::load_from_memory(&preview).unwrap().dimensions(),
        (256, 192)
    );
    // ETag and Range
    let etag = headers_etag(&app, &t, id).await;
    let r = app
        .client
        .get(app.url(&format!("/api/v1/tasks/{id}/data?type=chunk&number=0")))
        .header("Authorization", format!("Token {t}"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = app
        .client
        .get(app.url(&format!("/api/v1/tasks/{id}/data?type=chunk&number=0")))
        .header("Authorization", format!("Token {t}"))
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 0-9/{}", chunk.len())
    );
    assert_eq!(r.bytes().await.unwrap().to_vec(), chunk[..10].to_vec());
    // data errors are JSON strings
    for (q, msg) in [
        ("type=nope", "data type not specified or has wrong value"),
        ("type=chunk", "number not specified"),
        ("type=chunk&number=0&quality=best", "wrong quality value"),
    ] {
        let r = app.get(&format!("/api/v1/tasks/{id}/data?{q}"), &t).await;
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.body, json!(msg), "{q}");
    }
    let r = app
        .get(&format!("/api/v1/tasks/{id}/data?type=chunk&number=1"), &t)
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .as_str()
            .unwrap()
            .starts_with("cannot get requested data type: chunk, number: 1")
    );
    let r = app
        .get(&format!("/api/v1/tasks/{id}/data?type=frame&number=3"), &t)
        .await;
    assert_eq!(r.status, 400);
    // data cannot be attached twice
    let r = upload(&app, &t, id, &files[..1], &[("image_quality", "70")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["Data are already attached to the task"]})
    );
}

async fn headers_etag(app: &TestApp, t: &str, id: i64) -> String {
    let (_, h, _) = bytes(
        app,
        t,
        &format!("/api/v1/tasks/{id}/data?type=chunk&number=0"),
    )
    .await;
    h["etag"].to_str().unwrap().to_string()
}

async fn label_validation(app: TestApp) {
    let t = app.admin_token.clone();
    let cases = [
        (
            json!({"labels": [{"name": "x"}]}),
            json!({"name": ["This field is required."]}),
        ),
        (
            json!({"name": "x", "labels": []}),
            json!({"labels": ["Label set must not be empty"]}),
        ),
        (
            json!({"name": "x"}),
            json!({"labels": ["This field is required."]}),
        ),
        (
            json!({"name": "x", "labels": [{"name": "a"}, {}]}),
            json!({"labels": [{}, {"name": ["This field is required."]}]}),
        ),
        (
            json!({"name": "x", "labels": [{"name": "a"}, {"name": "a"}]}),
            json!({"labels": ["All label names must be unique for the task"]}),
        ),
        (
            json!({"name": "x", "labels": "a"}),
            json!({"labels": ["Expected a list of items but got type \"str\"."]}),
        ),
        (
            json!({"name": "x", "overlap": -1, "labels": [{"name": "x"}]}),
            json!({"overlap": ["Ensure this value is greater than or equal to 0."]}),
        ),
        (
            json!({"name": "x", "assignee": 99, "labels": [{"name": "x"}]}),
            json!({"assignee": ["Invalid pk \"99\" - object does not exist."]}),
        ),
        (
            json!({"name": "x", "labels": [{"name": "a", "attributes": [{"name": "n", "mutable": false, "input_type": "slider", "values": []}]}]}),
            json!({"labels": [{"attributes": [{"input_type": ["\"slider\" is not a valid choice."]}]}]}),
        ),
        (
            json!({"name": "x", "labels": [{"name": "a", "attributes": [{"name": "n", "input_type": "number", "values": ["5", "1", "1"]}]}]}),
            json!({"labels": [{"attributes": [{"mutable": ["This field is required."],
                    "values": ["A number attribute needs values [min, max, step] with min < max and 0 < step <= max - min"]}]}]}),
        ),
        (
            json!({"name": "x", "labels": [{"name": "a", "attributes": [{"name": "c", "mutable": true, "input_type": "checkbox", "values": ["maybe"]}]}]}),
            json!({"labels": [{"attributes": [{"values": ["A checkbox attribute needs exactly one value, \"true\" or \"false\""]}]}]}),
        ),
    ];
    for (body, expected) in cases {
        let r = app.post("/api/v1/tasks", Some(&t), body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.body, expected, "{body}");
    }
    let r = app.get("/api/v1/tasks", &t).await;
    assert_eq!(r.body["count"], 0, "nothing was created by failed requests");
    // number attributes: default is min
    let task = create(&app, &t, json!({"name": "n", "labels": [{"name": "car", "attributes": [
        {"name": "speed", "mutable": true, "input_type": "number", "values": ["0", "100", "1"]}]}]})).await;
    assert_eq!(task["labels"][0]["attributes"][0]["default_value"], "0");
    // `values` left out (FiftyOne) or empty: stored as "" and shown as [""], as CVAT 1.1
    let task = create(
        &app,
        &t,
        json!({"name": "fo", "labels": [{"name": "car", "attributes": [
        {"name": "make", "mutable": false, "input_type": "select"},
        {"name": "note", "mutable": true, "input_type": "text", "values": []}]}]}),
    )
    .await;
    let attrs = &task["labels"][0]["attributes"];
    assert_eq!(attrs[0]["values"], json!([""]), "{task}");
    assert_eq!(attrs[0]["default_value"], "");
    assert_eq!(attrs[1]["values"], json!([""]));
}

/// The seed's edit: labels carry ids, a new label without id is created, nothing is
/// deleted or renamed.
async fn patch_merges_labels_by_name(app: TestApp) {
    let t = app.admin_token.clone();
    let task = create(&app, &t, seed_task()).await;
    let id = task["id"].as_i64().unwrap();
    let (uid, _) = app.user_in("assignee", &["annotator"]).await;
    let mut labels = task["labels"].as_array().unwrap().clone();
    labels[1]["attributes"][0]["default_value"] = json!("true");
    labels[1]["attributes"][0]["values"] = json!(["true"]);
    labels.push(json!({"name": "label5", "attributes": [{"name": "radio", "mutable": false, "input_type": "radio", "default_value": "a", "values": ["a", "b"]}]}));
    let r = app
        .patch(&format!("/api/v1/tasks/{id}"), &t, json!({"name": "renamed", "assignee": uid, "bug_tracker": "http://bugs/1", "labels": labels, "overlap": 9}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "renamed");
    assert_eq!(r.body["assignee"], uid);
    assert_eq!(r.body["overlap"], Value::Null, "overlap is write-once");
    let out = r.body["labels"].as_array().unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(out[1]["attributes"][0]["default_value"], "true");
    assert_eq!(out[3]["name"], "label5");
    assert_eq!(out[3]["attributes"][0]["values"], json!(["a", "b"]));
    // a label sent with a known id but a new name is a new label; the old one stays
    let r = app
        .patch(
            &format!("/api/v1/tasks/{id}"),
            &t,
            json!({"labels": [{"id": out[0]["id"], "name": "label1b", "attributes": []}]}),
        )
        .await;
    assert_eq!(r.body["labels"].as_array().unwrap().len(), 5);
    // clearing the assignee; PUT requires name and labels
    let r = app
        .patch(
            &format!("/api/v1/tasks/{id}"),
            &t,
            json!({"assignee": null}),
        )
        .await;
    assert_eq!(r.body["assignee"], Value::Null);
    let r = app
        .call(
            Method::PUT,
            &format!("/api/v1/tasks/{id}"),
            Some(&t),
            Some(json!({"name": "p"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, json!({"labels": ["This field is required."]}));
    let r = app
        .call(
            Method::PUT,
            &format!("/api/v1/tasks/{id}"),
            Some(&t),
            Some(json!({"name": "p", "labels": []})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "p");
    let r = app.get(&format!("/api/v1/tasks/{id}"), &t).await;
    assert_eq!(r.body["labels"].as_array().unwrap().len(), 5);
    assert_eq!(app.get("/api/v1/tasks/999999", &t).await.status, 404);

    // the seed's PATCH body, literally (its ids are ignored; labels match by name)
    let task = create(&app, &t, seed_task()).await;
    let id = task["id"].as_i64().unwrap();
    let attr = |name: &str, input: &str, default: &str, values: Value, id: Option<i64>| {
        let mut a = json!({"name": name, "mutable": name == "text", "input_type": input, "default_value": default, "values": values});
        if let Some(i) = id {
            a["id"] = json!(i);
        }
        a
    };
    let body = json!({
        "assignee": uid, "name": "test", "bug_tracker": "", "z_order": false,
        "labels": [
            {"name": "label1", "attributes": [attr("select", "select", "select", json!(["select"]), Some(6))], "id": 6},
            {"name": "label2", "attributes": [attr("checkbox", "checkbox", "false", json!(["false"]), Some(7))], "id": 7},
            {"name": "label3", "attributes": [attr("text", "text", "text", json!(["text"]), Some(8))], "id": 8},
            {"name": "label4", "attributes": [attr("number", "number", "0", json!(["0", "100", "1"]), Some(9))], "id": 9},
            {"name": "label5", "attributes": [attr("radio", "radio", "radio", json!(["radio"]), None)]}
        ]
    });
    let r = app.patch(&format!("/api/v1/tasks/{id}"), &t, body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "test");
    assert_eq!(r.body["assignee"], uid);
    let labels = r.body["labels"].as_array().unwrap();
    assert_eq!(
        labels
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["label1", "label2", "label3", "label4", "label5"]
    );
    assert_eq!(
        labels[0]["id"], task["labels"][0]["id"],
        "existing labels keep their ids"
    );
    assert_eq!(
        labels[3]["attributes"][0]["values"],
        json!(["0", "100", "1"])
    );
    assert_eq!(labels[4]["attributes"][0]["default_value"], "radio");
}

async fn list_filters_and_ordering(app: TestApp) {
    let t = app.admin_token.clone();
    let (_, ut) = app.user_in("bob", &["user"]).await;
    for name in ["Alpha cars", "beta people", "Gamma cars"] {
        create(&app, &t, json!({"name": name, "labels": [{"name": "x"}]})).await;
    }
    create(
        &app,
        &ut,
        json!({"name": "bob's own", "labels": [{"name": "x"}]}),
    )
    .await;
    let names = |r: &crate::common::Resp| -> Vec<String> {
        r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = app.get("/api/v1/tasks", &t).await;
    assert_eq!(
        names(&r),
        ["bob's own", "Gamma cars", "beta people", "Alpha cars"],
        "newest first"
    );
    let r = app.get("/api/v1/tasks?search=cars", &t).await;
    assert_eq!(r.body["count"], 2);
    let r = app.get("/api/v1/tasks?search=CARS,gamma", &t).await;
    assert_eq!(names(&r), ["Gamma cars"]);
    let r = app.get("/api/v1/tasks?search=bob", &t).await;
    assert_eq!(names(&r), ["bob's own"], "search covers the owner's name");
    let r = app.get("/api/v1/tasks?owner=bo&name=OWN", &t).await;
    assert_eq!(names(&r), ["bob's own"]);
    let r = app.get("/api/v1/tasks?status=annotation&mode=", &t).await;
    assert_eq!(r.body["count"], 4);
    let r = app.get("/api/v1/tasks?ordering=name", &t).await;
    assert_eq!(
        names(&r),
        ["Alpha cars", "beta people", "bob's own", "Gamma cars"]
    );
    let r = app
        .get("/api/v1/tasks?ordering=-id&page_size=2&page=2", &t)
        .await;
    assert_eq!(names(&r), ["beta people", "Alpha cars"]);
    let r = app.get("/api/v1/tasks?id=abc", &t).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, json!({"id": ["Enter a number."]}));
    let r = app.get("/api/v1/tasks?page=9", &t).await;
    assert_eq!(r.status, 404);
    // tasks without an assignee are visible to everybody (CVAT's default)
    let r = app.get("/api/v1/tasks", &ut).await;
    assert_eq!(r.body["count"], 4);
}

async fn share_listing_and_server_files(app: TestApp) {
    let t = app.admin_token.clone();
    let share = app.share_dir();
    std::fs::create_dir_all(share.join("car/sub")).unwrap();
    std::fs::write(share.join("car/car5.jpg"), jpeg(64, 48, 5)).unwrap();
    std::fs::write(share.join("car/car3.jpg"), jpeg(80, 60, 3)).unwrap();
    std::fs::write(share.join("car/sub/deep.jpg"), jpeg(40, 30, 4)).unwrap();
    std::fs::write(share.join("car/notes.txt"), b"not an image").unwrap();
    std::fs::create_dir_all(app.data_path().join("secret")).unwrap();
    let r = app.get("/api/v1/server/share?directory=/car/", &t).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!([{"name": "sub", "type": "DIR"}, {"name": "car3.jpg", "type": "REG"}, {"name": "car5.jpg", "type": "REG"}, {"name": "notes.txt", "type": "REG"}])
    );
    let r = app.get("/api/v1/server/share", &t).await;
    assert_eq!(r.body, json!([{"name": "car", "type": "DIR"}]));
    #[cfg(unix)]
    std::os::unix::fs::symlink(app.data_path(), share.join("escape")).unwrap();
    for bad in [
        "/../",
        "/car/../../",
        "/nothing/",
        "/escape/",
        "/car/car3.jpg",
    ] {
        let r = app
            .get(&format!("/api/v1/server/share?directory={bad}"), &t)
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(
            r.body,
            json!(format!(
                "{} is an invalid directory",
                bad.trim_start_matches('/')
            )),
            "{bad}"
        );
    }
    let r = app.get("/api/v1/server/share", &t).await;
    assert_eq!(
        r.body,
        json!([{"name": "car", "type": "DIR"}]),
        "a symlink leaving the share is hidden"
    );

    let task = create(
        &app,
        &t,
        json!({"name": "from share", "labels": [{"name": "x"}]}),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    let r = TestApp::read(
        app.client
            .post(app.url(&format!("/api/v1/tasks/{id}/data")))
            .header("Authorization", format!("Token {t}"))
            .form(&[("server_files[0]", "/car/"), ("image_quality", "50")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["server_files"], json!(["/car/"]));
    assert_eq!(wait(&app, &t, id).await["state"], "Finished");
    let meta = app.get(&format!("/api/v1/tasks/{id}/data/meta"), &t).await;
    let names: Vec<&str> = meta.body["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["car/car3.jpg", "car/car5.jpg", "car/sub/deep.jpg"]);
    // escaping paths are refused at once
    let task = create(
        &app,
        &t,
        json!({"name": "bad share", "labels": [{"name": "x"}]}),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    for bad in ["../secret", "/car/../../secret", "/escape/"] {
        let r = app
            .post(
                &format!("/api/v1/tasks/{id}/data"),
                Some(&t),
                json!({"server_files": [bad], "image_quality": 70}),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(
            r.body["server_files"][0]
                .as_str()
                .unwrap()
                .contains("no such file"),
            "{}",
            r.body
        );
    }
    // a symlink loop in the share fails the task with a message naming it, and the worker
    // goes on to the next task (before, the walk never ended)
    std::fs::create_dir_all(share.join("loopdir")).unwrap();
    std::fs::write(share.join("loopdir/a.jpg"), jpeg(20, 10, 1)).unwrap();
    std::os::unix::fs::symlink(".", share.join("loopdir/l1")).unwrap();
    std::os::unix::fs::symlink(".", share.join("loopdir/l2")).unwrap();
    let task = create(&app, &t, json!({"name": "loop", "labels": [{"name": "x"}]})).await;
    let id = task["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/tasks/{id}/data"),
            Some(&t),
            json!({"server_files": ["/loopdir/"], "image_quality": 70}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let status = wait(&app, &t, id).await;
    assert_eq!(status["state"], "Failed", "{status}");
    assert!(
        status["message"].as_str().unwrap().contains("loop"),
        "{status}"
    );
    let task = create(
        &app,
        &t,
        json!({"name": "after the loop", "labels": [{"name": "x"}]}),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/tasks/{id}/data"),
            Some(&t),
            json!({"server_files": ["/car/car3.jpg"], "image_quality": 70}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(wait(&app, &t, id).await["state"], "Finished");
}

async fn every_image_format(app: TestApp) {
    let t = app.admin_token.clone();
    let rgb = DynamicImage::ImageRgb8(photo(33, 21, 7));
    let files = vec![
        ("a.jpg", encode(&rgb, ImageFormat::Jpeg)),
        ("b.png", encode(&rgb, ImageFormat::Png)),
        (
            "c.png",
            encode(
                &DynamicImage::ImageLuma16(rgb.to_luma16()),
                ImageFormat::Png,
            ),
        ),
        (
            "d.png",
            encode(&DynamicImage::ImageRgba8(rgb.to_rgba8()), ImageFormat::Png),
        ),
        (
            "e.png",
            encode(&DynamicImage::ImageRgb16(rgb.to_rgb16()), ImageFormat::Png),
        ),
        ("f.bmp", encode(&rgb, ImageFormat::Bmp)),
        ("g.tif", encode(&rgb, ImageFormat::Tiff)),
        (
            "h.tiff",
            encode(&DynamicImage::ImageRgb16(rgb.to_rgb16()), ImageFormat::Tiff),
        ),
        (
            "i.webp",
            encode(&DynamicImage::ImageRgba8(rgb.to_rgba8()), ImageFormat::WebP),
        ),
        ("j.gif", encode(&rgb, ImageFormat::Gif)),
        (
            "k.jpg",
            encode(&DynamicImage::ImageLuma8(rgb.to_luma8()), ImageFormat::Jpeg),
        ),
    ];
    let task = create(
        &app,
        &t,
        json!({"name": "formats", "labels": [{"name": "x"}]}),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    let r = upload(&app, &t, id, &files, &[("image_quality", "90")]).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        wait(&app, &t, id).await,
        json!({"state": "Finished", "message": ""})
    );
    let meta = app.get(&format!("/api/v1/tasks/{id}/data/meta"), &t).await;
    for f in meta.body["frames"].as_array().unwrap() {
        assert_eq!(
            (f["width"].clone(), f["height"].clone()),
            (json!(33), json!(21)),
            "{f}"
        );
    }
    let (_, _, chunk) = bytes(
        &app,
        &t,
        &format!("/api/v1/tasks/{id}/data?type=chunk&number=0"),
    )
    .await;
    let members = unzip(&chunk);
    assert_eq!(members.len(), files.len());
    for (name, jpeg_bytes) in &members {
        let img = image::load_from_memory_with_format(jpeg_bytes, ImageFormat::Jpeg).unwrap();
        assert_eq!(img.dimensions(), (33, 21), "{name}");
    }
    let (_, h, _) = bytes(
        &app,
        &t,
        &format!("/api/v1/tasks/{id}/data?type=frame&number=1&quality=original"),
    )
    .await;
    assert_eq!(h["content-type"], "image/png");
}

async fn archive_with_nested_folders_and_frame_selection(app: TestApp) {
    let t = app.admin_token.clone();
    let members: Vec<(&str, Vec<u8>)> = vec![
        ("img10.jpg", jpeg(20, 10, 10)),
        ("img2.jpg", jpeg(20, 10, 2)),
        ("B.jpg", jpeg(20, 10, 11)),
        ("a/z.jpg", jpeg(20, 10, 12)),
        ("b/a.jpg", jpeg(20, 10, 13)),
        (
            "b/deeper/x.png",
            encode(
                &DynamicImage::ImageRgb8(photo(20, 10, 14)),
                ImageFormat::Png,
            ),
        ),
        ("readme.txt", b"ignored".to_vec()),
    ];
    let archive = zip(&members);
    let task = create(&app, &t, json!({"name": "zip", "labels": [{"name": "x"}]})).await;
    let id = task["id"].as_i64().unwrap();
    let r = upload(
        &app,
        &t,
        id,
        &[("photos.zip", archive.clone())],
        &[("image_quality", "70"), ("chunk_size", "2")],
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(wait(&app, &t, id).await["state"], "Finished");
    let meta = app.get(&format!("/api/v1/tasks/{id}/data/meta"), &t).await;
    let names: Vec<&str> = meta.body["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "B.jpg",
            "a/z.jpg",
            "b/a.jpg",
            "b/deeper/x.png",
            "img10.jpg",
            "img2.jpg"
        ],
        "plain string order"
    );
    // chunks of 2: chunk 1 holds frames 2 and 3
    let (_, _, c1) = bytes(
        &app,
        &t,
        &format!("/api/v1/tasks/{id}/data?type=chunk&number=1&quality=original"),
    )
    .await;
    let m = unzip(&c1);
    assert_eq!(
        m.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["000000.jpg", "000001.png"]
    );
    assert_eq!(m[1].1, members[5].1);

    // start/stop/step selection
    let task = create(
        &app,
        &t,
        json!({"name": "selected", "labels": [{"name": "x"}]}),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    let r = upload(
        &app,
        &t,
        id,
        &[("photos.zip", archive)],
        &[
            ("image_quality", "70"),
            ("start_frame", "1"),
            ("stop_frame", "40"),
            ("frame_filter", "step=2"),
        ],
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(wait(&app, &t, id).await["state"], "Finished");
    let meta = app.get(&format!("/api/v1/tasks/{id}/data/meta"), &t).await;
    let names: Vec<&str> = meta.body["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a/z.jpg", "b/deeper/x.png", "img2.jpg"]);
    assert_eq!(
        (
            meta.body["start_frame"].clone(),
            meta.body["stop_frame"].clone(),
            meta.body["frame_filter"].clone()
        ),
        (json!(1), json!(5), json!("step=2"))
    );
    assert_eq!(meta.body["size"], 3);
}

async fn upload_validation(app: TestApp) {
    let t = app.admin_token.clone();
    let task = create(&app, &t, json!({"name": "v", "labels": [{"name": "x"}]})).await;
    let id = task["id"].as_i64().unwrap();
    let img = jpeg(10, 10, 1);
    let cases: Vec<(Vec<(&str, &str)>, Value)> = vec![
        (
            vec![],
            json!({"image_quality": ["This field is required."]}),
        ),
        (
            vec![("image_quality", "70"), ("chunk_size", "0")],
            json!({"chunk_size": ["Chunk size must be a positive integer"]}),
        ),
        (
            vec![("image_quality", "70"), ("frame_filter", "every=2")],
            json!({"frame_filter": ["Invalid frame filter expression"]}),
        ),
        (
            vec![("image_quality", "101")],
            json!({"image_quality": ["Ensure this value is less than or equal to 100."]}),
        ),
        (
            vec![("image_quality", "x")],
            json!({"image_quality": ["A valid integer is required."]}),
        ),
        (
            vec![
                ("image_quality", "70"),
                ("start_frame", "5"),
                ("stop_frame", "2"),
            ],
            json!({"non_field_errors": ["Stop frame must be more or equal start frame"]}),
        ),
        (
            vec![("image_quality", "70"), ("server_files[0]", "/x")],
            json!({"non_field_errors": ["Only one of client_files, server_files, remote_files may be used"],
                   "server_files": ["/x: no such file or directory in the share"]}),
        ),
    ];
    for (fields, expected) in cases {
        let r = upload(&app, &t, id, &[("one.jpg", img.clone())], &fields).await;
        assert_eq!(r.status, 400, "{fields:?}");
        assert_eq!(r.body, expected, "{fields:?}");
    }
    let r = upload(
        &app,
        &t,
        id,
        &[("same.jpg", img.clone()), ("same.jpg", img.clone())],
        &[("image_quality", "70")],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"client_files": ["Duplicate file name: same.jpg"]})
    );
    let r = upload(&app, &t, id, &[], &[("image_quality", "70")]).await;
    assert_eq!(r.status, 400);
    // nothing was attached by the failed attempts; a good upload still works
    assert!(
        app.get(&format!("/api/v1/tasks/{id}"), &t)
            .await
            .body
            .get("data")
            .is_none()
    );
    let r = upload(
        &app,
        &t,
        id,
        &[("dir/one.jpg", img)],
        &[("image_quality", "70")],
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(
        r.body["client_files"],
        json!(["one.jpg"]),
        "only the base name is kept"
    );
    assert_eq!(wait(&app, &t, id).await["state"], "Finished");
    assert_eq!(app.get("/api/v1/tasks/4242/status", &t).await.status, 404);
}

async fn corrupt_file_fails_the_task_and_nothing_stays(app: TestApp) {
    let t = app.admin_token.clone();
    let task = create(
        &app,
        &t,
        json!({"name": "broken", "labels": [{"name": "x"}]}),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    let mut broken = jpeg(64, 64, 9);
    broken.truncate(broken.len() / 3);
    let files = [("good.jpg", jpeg(64, 64, 1)), ("zbroken.jpg", broken)];
    let r = upload(&app, &t, id, &files, &[("image_quality", "70")]).await;
    assert_eq!(r.status, 202);
    let status = wait(&app, &t, id).await;
    assert_eq!(status["state"], "Failed");
    assert!(
        status["message"].as_str().unwrap().contains("zbroken.jpg"),
        "{status}"
    );
    let r = app.get(&format!("/api/v1/tasks/{id}"), &t).await;
    assert!(
        r.body.get("data").is_none() && r.body.get("size").is_none(),
        "{}",
        r.body
    );
    assert_eq!(r.body["segments"], json!([]));
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}/data/meta"), &t)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}/data?type=preview"), &t)
            .await
            .status,
        404
    );
    // still Failed later; a new upload replaces it
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}/status"), &t)
            .await
            .body["state"],
        "Failed"
    );
    let r = upload(&app, &t, id, &files[..1], &[("image_quality", "70")]).await;
    assert_eq!(r.status, 202);
    assert_eq!(wait(&app, &t, id).await["state"], "Finished");
    // not an image at all
    let task = create(
        &app,
        &t,
        json!({"name": "nothing", "labels": [{"name": "x"}]}),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    upload(
        &app,
        &t,
        id,
        &[("notes.txt", b"hello".to_vec())],
        &[("image_quality", "70")],
    )
    .await;
    let status = wait(&app, &t, id).await;
    assert_eq!(
        status,
        json!({"state": "Failed", "message": "No media data found"})
    );
}

async fn segments_jobs_and_status(app: TestApp) {
    let t = app.admin_token.clone();
    let task = create(
        &app,
        &t,
        json!({"name": "segs", "labels": [{"name": "x"}], "segment_size": 3, "overlap": 1}),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..8)
        .map(|i| (format!("f{i}.jpg"), jpeg(16, 16, i)))
        .collect();
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    upload(&app, &t, id, &files, &[("image_quality", "70")]).await;
    assert_eq!(wait(&app, &t, id).await["state"], "Finished");
    let task = app.get(&format!("/api/v1/tasks/{id}"), &t).await.body;
    let segs: Vec<(i64, i64)> = task["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["start_frame"].as_i64().unwrap(),
                s["stop_frame"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(segs, [(0, 2), (2, 4), (4, 6), (6, 7)]);
    assert_eq!(task["overlap"], 1);
    let jobs = app.get(&format!("/api/v1/tasks/{id}/jobs"), &t).await.body;
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 4);
    assert_eq!(jobs[1]["start_frame"], 2);
    assert_eq!(jobs[1]["task_id"], id);
    let job_ids: Vec<i64> = jobs.iter().map(|j| j["id"].as_i64().unwrap()).collect();
    // job GET and PATCH, task status follows
    let j0 = app.get(&format!("/api/v1/jobs/{}", job_ids[0]), &t).await;
    assert_eq!(j0.body, jobs[0].clone());
    let (uid, _) = app.user_in("worker", &["annotator"]).await;
    for (k, jid) in job_ids.iter().enumerate() {
        let status = if k == 0 { "validation" } else { "completed" };
        let r = app
            .patch(
                &format!("/api/v1/jobs/{jid}"),
                &t,
                json!({"status": status, "assignee": uid, "url": "ignored", "id": 1}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["status"], status);
        assert_eq!(r.body["assignee"], uid);
    }
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}"), &t).await.body["status"],
        "validation"
    );
    let r = app
        .call(
            Method::PUT,
            &format!("/api/v1/jobs/{}", job_ids[0]),
            Some(&t),
            Some(json!({"status": "completed"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}"), &t).await.body["status"],
        "completed"
    );
    let r = app
        .patch(
            &format!("/api/v1/jobs/{}", job_ids[0]),
            &t,
            json!({"status": "foo"}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"status": ["\"foo\" is not a valid choice."]})
    );
    let r = app
        .patch(
            &format!("/api/v1/jobs/{}", job_ids[0]),
            &t,
            json!({"assignee": 99}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"assignee": ["Invalid pk \"99\" - object does not exist."]})
    );
    assert_eq!(app.get("/api/v1/jobs/99999", &t).await.status, 404);
    assert_eq!(app.get("/api/v1/jobs", &t).await.status, 404);
}

async fn permissions_by_role(app: TestApp) {
    let t = app.admin_token.clone();
    let (_, annotator) = app.user_in("ann", &["annotator"]).await;
    let (obs_id, observer) = app.user_in("obs", &["observer"]).await;
    let (owner_id, owner) = app.user_in("own", &["user"]).await;
    let (other_id, other) = app.user_in("oth", &["user"]).await;
    let (worker_id, worker) = app.user_in("wrk", &["annotator"]).await;
    let _ = obs_id;
    // an annotator cannot create tasks
    let r = app
        .post(
            "/api/v1/tasks",
            Some(&annotator),
            json!({"name": "x", "labels": [{"name": "x"}]}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        json!({"detail": "You do not have permission to perform this action."})
    );
    let task = create(
        &app,
        &owner,
        json!({"name": "owned", "labels": [{"name": "x"}], "assignee": other_id}),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    assert_eq!(task["owner"], owner_id);
    // an annotator without a job here cannot even read it (the task has an assignee)
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}"), &annotator)
            .await
            .status,
        403
    );
    // the observer reads but cannot change
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}"), &observer)
            .await
            .status,
        200
    );
    assert_eq!(
        app.patch(
            &format!("/api/v1/tasks/{id}"),
            &observer,
            json!({"name": "no"})
        )
        .await
        .status,
        403
    );
    // the task assignee may change but not delete; data needs task.create too
    assert_eq!(
        app.patch(
            &format!("/api/v1/tasks/{id}"),
            &other,
            json!({"name": "yes"})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/tasks/{id}"),
            Some(&other),
            None
        )
        .await
        .status,
        403
    );
    let r = upload(
        &app,
        &observer,
        id,
        &[("a.jpg", jpeg(8, 8, 1))],
        &[("image_quality", "70")],
    )
    .await;
    assert_eq!(r.status, 403);
    upload(
        &app,
        &owner,
        id,
        &[("a.jpg", jpeg(8, 8, 1)), ("b.jpg", jpeg(8, 8, 2))],
        &[("image_quality", "70")],
    )
    .await;
    assert_eq!(wait(&app, &owner, id).await["state"], "Finished");
    let job = app
        .get(&format!("/api/v1/tasks/{id}/jobs"), &owner)
        .await
        .body[0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/jobs/{job}"), &worker)
            .await
            .status,
        403
    );
    app.patch(
        &format!("/api/v1/jobs/{job}"),
        &other,
        json!({"assignee": worker_id}),
    )
    .await;
    // a job assignee can read the task, its data and its job, and change the job
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}"), &worker)
            .await
            .status,
        200
    );
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}/data/meta"), &worker)
            .await
            .status,
        200
    );
    assert_eq!(
        app.patch(
            &format!("/api/v1/jobs/{job}"),
            &worker,
            json!({"status": "validation"})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.patch(
            &format!("/api/v1/tasks/{id}"),
            &worker,
            json!({"name": "no"})
        )
        .await
        .status,
        403
    );
    // lists: the worker sees the task through the job; the annotator does not
    assert_eq!(app.get("/api/v1/tasks", &worker).await.body["count"], 1);
    assert_eq!(app.get("/api/v1/tasks", &annotator).await.body["count"], 0);
    assert_eq!(app.get("/api/v1/tasks", &observer).await.body["count"], 1);
    // a task without assignee: anyone edits its annotations (CVAT), an observer never
    let open = create(
        &app,
        &owner,
        json!({"name": "open", "labels": [{"name": "x"}]}),
    )
    .await;
    let oid = open["id"].as_i64().unwrap();
    upload(
        &app,
        &owner,
        oid,
        &[("a.jpg", jpeg(8, 8, 1))],
        &[("image_quality", "70")],
    )
    .await;
    wait(&app, &owner, oid).await;
    let ojob = app
        .get(&format!("/api/v1/tasks/{oid}/jobs"), &owner)
        .await
        .body[0]["id"]
        .as_i64()
        .unwrap();
    let empty = json!({"version": 0, "tags": [], "shapes": [], "tracks": []});
    for (who, token, status) in [
        ("an annotator", &annotator, 200),
        ("the observer", &observer, 403),
    ] {
        let path = format!("/api/v1/jobs/{ojob}/annotations");
        let r = app
            .call(Method::PUT, &path, Some(token), Some(empty.clone()))
            .await;
        assert_eq!(r.status, status, "{who} PUT {path}");
        let r = app
            .patch(
                &format!("/api/v1/jobs/{ojob}"),
                token,
                json!({"status": "annotation"}),
            )
            .await;
        assert_eq!(r.status, status, "{who} PATCH job");
        assert_eq!(app.get(&path, token).await.status, 200);
        // the task's own annotations take task.change: neither
        let path = format!("/api/v1/tasks/{oid}/annotations");
        let r = app
            .call(Method::PUT, &path, Some(token), Some(empty.clone()))
            .await;
        assert_eq!(r.status, 403, "{who} PUT {path}");
    }
    // a missing task is 404 even for users without roles; anonymous is 401
    assert_eq!(app.get("/api/v1/tasks/77777", &annotator).await.status, 404);
    assert_eq!(
        app.call(Method::GET, &format!("/api/v1/tasks/{id}"), None, None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/tasks/{id}"),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
}

async fn delete_removes_media(app: TestApp) {
    let t = app.admin_token.clone();
    let task = create(&app, &t, json!({"name": "gone", "labels": [{"name": "x"}]})).await;
    let id = task["id"].as_i64().unwrap();
    upload(
        &app,
        &t,
        id,
        &[("a.jpg", jpeg(8, 8, 1))],
        &[("image_quality", "70")],
    )
    .await;
    wait(&app, &t, id).await;
    let data_id = app.get(&format!("/api/v1/tasks/{id}"), &t).await.body["data"]
        .as_i64()
        .unwrap();
    let dir = app.data_path().join("data").join(data_id.to_string());
    assert!(dir.join("compressed/0.zip").exists());
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/tasks/{id}"),
            Some(&t),
            None
        )
        .await
        .status,
        204
    );
    assert!(!dir.exists());
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}"), &t).await.status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}/status"), &t)
            .await
            .status,
        404
    );
}

/// With the media cache off (as for chunks too big for it), chunks, frames (windows of
/// their chunk), ranges and the preview are streamed from disk, byte for byte the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_files_stream_from_disk_without_the_cache() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.media_cache_mb = 0)
        .await
        .unwrap();
    let t = app.admin_token.clone();
    let id = create(&app, &t, json!({"name": "disk", "labels": [{"name": "x"}]})).await["id"]
        .as_i64()
        .unwrap();
    let files = [("b.jpg", jpeg(64, 48, 2)), ("a.jpg", jpeg(40, 30, 1))];
    let r = upload(&app, &t, id, &files, &[("image_quality", "70")]).await;
    assert_eq!(r.status, 202);
    assert_eq!(wait(&app, &t, id).await["state"], "Finished");
    let (status, headers, chunk) = bytes(
        &app,
        &t,
        &format!("/api/v1/tasks/{id}/data?type=chunk&number=0&quality=original"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"], chunk.len().to_string().as_str());
    let members = unzip(&chunk);
    assert_eq!(members[0].1, files[1].1);
    let (status, headers, frame) = bytes(
        &app,
        &t,
        &format!("/api/v1/tasks/{id}/data?type=frame&number=1&quality=original"),
    )
    .await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "image/jpeg")
    );
    assert_eq!(frame, files[0].1);
    let r = app
        .client
        .get(app.url(&format!(
            "/api/v1/tasks/{id}/data?type=frame&number=1&quality=original"
        )))
        .header("Authorization", format!("Token {t}"))
        .header("Range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    let n = files[0].1.len();
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes {}-{}/{n}", n - 5, n - 1)
    );
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        files[0].1[n - 5..].to_vec()
    );
    let (status, _, preview) =
        bytes(&app, &t, &format!("/api/v1/tasks/{id}/data?type=preview")).await;
    assert_eq!(status, 200);
    assert_eq!(
        image::load_from_memory(&preview).unwrap().dimensions(),
        (40, 30)
    );
}

/// A worker that dies mid-processing leaves a lease that runs out; the next start takes
/// the work over and finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_processing_is_resumed_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let a = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.data_dir = path.clone();
        c.workers = 0;
    })
    .await
    .unwrap();
    let t = a.admin_token.clone();
    let task = create(&a, &t, json!({"name": "resume", "labels": [{"name": "x"}]})).await;
    let id = task["id"].as_i64().unwrap();
    upload(
        &a,
        &t,
        id,
        &[("a.jpg", jpeg(30, 20, 1))],
        &[("image_quality", "70")],
    )
    .await;
    assert_eq!(
        a.get(&format!("/api/v1/tasks/{id}/status"), &t).await.body["state"],
        "Queued"
    );
    // a worker claimed it and died: state started, lease in the past
    if let ferrocat_store::Db::Sqlite(p) = &a.db {
        sqlx::query("UPDATE queue_items SET state = 'started', attempts = 1, lease_until = '2000-01-01 00:00:00+00:00', message = 'Images are being compressed 10%'")
            .execute(p)
            .await
            .unwrap();
    }
    assert_eq!(
        a.get(&format!("/api/v1/tasks/{id}/status"), &t).await.body["state"],
        "Started"
    );
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let b = TestApp::spawn_with(Backend::Sqlite, |c| c.data_dir = path.clone())
        .await
        .unwrap();
    assert_eq!(
        wait(&b, &b.admin_token, id).await,
        json!({"state": "Finished", "message": ""})
    );
    let meta = b
        .get(&format!("/api/v1/tasks/{id}/data/meta"), &b.admin_token)
        .await;
    assert_eq!(meta.body["frames"][0]["width"], 30);
    drop(dir);
}

/// A little HTTP server on loopback serving `files` by name (404 otherwise).
async fn file_server(files: Vec<(&'static str, Vec<u8>)>) -> String {
    use axum::extract::Path as AxPath;
    let files = std::sync::Arc::new(files);
    let app = axum::Router::new().route(
        "/{name}",
        axum::routing::get(move |AxPath(name): AxPath<String>| {
            let files = files.clone();
            async move {
                match files.iter().find(|(n, _)| *n == name) {
                    Some((_, b)) => (axum::http::StatusCode::OK, b.clone()),
                    None => (axum::http::StatusCode::NOT_FOUND, vec![]),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_files_are_downloaded_when_private_addresses_are_allowed() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.allow_private_remote = true)
        .await
        .unwrap();
    let t = app.admin_token.clone();
    let base = file_server(vec![
        ("one.jpg", jpeg(40, 30, 1)),
        (
            "two.png",
            encode(&DynamicImage::ImageRgb8(photo(20, 10, 2)), ImageFormat::Png),
        ),
    ])
    .await;
    let task = create(
        &app,
        &t,
        json!({"name": "remote", "labels": [{"name": "x"}]}),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    let urls = [format!("{base}/two.png"), format!("{base}/one.jpg")];
    let r = app
        .post(
            &format!("/api/v1/tasks/{id}/data"),
            Some(&t),
            json!({"remote_files": urls, "image_quality": 70}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["remote_files"], json!(urls));
    assert_eq!(wait(&app, &t, id).await["state"], "Finished");
    let meta = app.get(&format!("/api/v1/tasks/{id}/data/meta"), &t).await;
    assert_eq!(
        meta.body["frames"],
        json!([{"width": 40, "height": 30, "name": "one.jpg"}, {"width": 20, "height": 10, "name": "two.png"}])
    );
    // an HTTP error fails the task with CVAT's message
    let task = create(
        &app,
        &t,
        json!({"name": "missing", "labels": [{"name": "x"}]}),
    )
    .await;
    let id = task["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("/api/v1/tasks/{id}/data"),
            Some(&t),
            json!({"remote_files": [format!("{base}/nope.jpg")], "image_quality": 70}),
        )
        .await;
    assert_eq!(r.status, 202);
    let s = wait(&app, &t, id).await;
    assert_eq!(s["state"], "Failed");
    assert_eq!(
        s["message"],
        format!("Failed to download {base}/nope.jpg. 404 - Not Found")
    );
    // the same file name twice
    let r = app
        .post(&format!("/api/v1/tasks/{id}/data"), Some(&t), json!({"remote_files": [format!("{base}/one.jpg"), format!("{base}/one.jpg?x=1")], "image_quality": 70}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"remote_files": ["filename collision: one.jpg"]})
    );
}

db_tests!(remote_files_on_private_addresses_are_refused);

async fn remote_files_on_private_addresses_are_refused(app: TestApp) {
    let t = app.admin_token.clone();
    let task = create(&app, &t, json!({"name": "ssrf", "labels": [{"name": "x"}]})).await;
    let id = task["id"].as_i64().unwrap();
    for url in [
        "http://127.0.0.1:9/a.jpg",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/a.jpg",
        "http://10.0.0.1/a.jpg",
        "file:///etc/passwd",
        // the forms the fuzzing of issue 16 found accepted
        "http://[::a00:1]/a.jpg",
        "http://[64:ff9b::808:808]/a.jpg",
        "http://[2002::1]/a.jpg",
        "http://[fec0::1]/a.jpg",
        "http://[::ffff:0:7f00:1]/a.jpg",
        "http://192.0.0.8/a.jpg",
        "http://240.0.0.1/a.jpg",
    ] {
        let r = app
            .post(
                &format!("/api/v1/tasks/{id}/data"),
                Some(&t),
                json!({"remote_files": [url], "image_quality": 70}),
            )
            .await;
        assert_eq!(r.status, 400, "{url}");
        assert!(
            r.body["remote_files"][0].as_str().unwrap().starts_with(url),
            "{}",
            r.body
        );
    }
    assert!(
        app.get(&format!("/api/v1/tasks/{id}"), &t)
            .await
            .body
            .get("data")
            .is_none()
    );
    // the seed frontend's task-details call: the git plugin's empty answer
    let r = app.get(&format!("/git/repository/get/{id}"), &t).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"url": {"value": null}, "status": {"value": null, "error": null}})
    );
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/git/repository/get/{id}"),
            None,
            None
        )
        .await
        .status,
        401
    );
    assert_eq!(app.get("/git/repository/get/99999", &t).await.status, 404);
    // the git plugin is there: its probe answers the linked tasks (none), to a user
    assert_eq!(
        app.call(Method::OPTIONS, "/git/repository/meta/get", None, None)
            .await
            .status,
        401
    );
    let r = app
        .call(Method::OPTIONS, "/git/repository/meta/get", Some(&t), None)
        .await;
    assert_eq!((r.status.as_u16(), r.body), (200, json!({})));
}
