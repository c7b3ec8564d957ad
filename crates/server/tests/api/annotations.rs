//! api-v1 §9 and §11.4: annotations of jobs and tasks, versions, validation, slicing and
//! merging, safe saves (If-Match, Idempotency-Key), client logs.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Backend, Resp, TestApp};
use crate::db_tests;
use crate::media::jpeg;
use crate::tasks::{upload, wait};

db_tests!(
    seed_workbench_sequence,
    every_shape_type_and_tracks_round_trip,
    attribute_defaults_are_filled_on_read,
    validation_errors_change_nothing,
    task_level_with_overlap_zero,
    task_level_with_overlap_merges_copies,
    interpolated_ends_when_slicing_tracks,
    concurrent_creates_are_serialized,
    big_job_put_and_get,
    export_cvat_for_images,
    export_cvat_for_video,
    import_cvat,
    yolo_round_trip,
    if_match_and_idempotency_key,
    permissions_by_job,
    property_put_get_round_trip,
);

/// The labels of [`annotated_task`]: car (model, color), person (age), sky.
pub(crate) fn car_labels() -> Value {
    json!([
        {"name": "car", "attributes": [
            {"name": "model", "mutable": false, "input_type": "select",
             "default_value": "BMW", "values": ["BMW", "Benz", "Audi"]},
            {"name": "color", "mutable": true, "input_type": "radio",
             "default_value": "white", "values": ["white", "black", "gray"]}
        ]},
        {"name": "person", "attributes": [
            {"name": "age", "mutable": true, "input_type": "number",
             "default_value": "30", "values": ["0", "120", "1"]}
        ]},
        {"name": "sky", "attributes": []}
    ])
}

/// A task with these labels, 8 frames, processed; returns (task JSON, job ids in order).
pub async fn annotated_task(app: &TestApp, token: &str, extra: Value) -> (Value, Vec<i64>) {
    let mut body = json!({"name": "cars", "labels": car_labels()});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/api/v1/tasks", Some(token), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..8)
        .map(|i| (format!("car{i}.jpg"), jpeg(64, 48, i)))
        .collect();
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let r = upload(app, token, id, &files, &[("image_quality", "70")]).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(wait(app, token, id).await["state"], "Finished");
    let task = app.get(&format!("/api/v1/tasks/{id}"), token).await.body;
    let jobs = task["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["jobs"][0]["id"].as_i64().unwrap())
        .collect();
    (task, jobs)
}

/// Ids of the task's labels and attribute specs by name.
pub(crate) struct Ids {
    pub(crate) car: i64,
    pub(crate) person: i64,
    pub(crate) sky: i64,
    pub(crate) model: i64,
    pub(crate) color: i64,
    pub(crate) age: i64,
}

pub(crate) fn ids(task: &Value) -> Ids {
    let label = |n: &str| {
        task["labels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == n)
            .unwrap()
            .clone()
    };
    let spec = |l: &Value, n: &str| {
        l["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == n)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (car, person, sky) = (label("car"), label("person"), label("sky"));
    Ids {
        car: car["id"].as_i64().unwrap(),
        person: person["id"].as_i64().unwrap(),
        sky: sky["id"].as_i64().unwrap(),
        model: spec(&car, "model"),
        color: spec(&car, "color"),
        age: spec(&person, "age"),
    }
}

pub(crate) async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Resp {
    app.call(method, path, Some(token), body).await
}

async fn patch_action(app: &TestApp, job: i64, action: &str, token: &str, body: Value) -> Resp {
    send(
        app,
        Method::PATCH,
        &format!("/api/v1/jobs/{job}/annotations?action={action}"),
        token,
        Some(body),
    )
    .await
}

fn rect(frame: i64, label: i64, points: [f64; 4], attrs: Value) -> Value {
    json!({"type": "rectangle", "occluded": false, "z_order": 0, "points": points,
           "frame": frame, "label_id": label, "group": 0, "attributes": attrs})
}

/// The seed's workbench sequence (api-v1 A.3): GET → PATCH create → update → delete →
/// logs, with the seed's bodies and versions relative to the job's start.
async fn seed_workbench_sequence(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, jobs) = annotated_task(&app, &t, json!({})).await;
    let i = ids(&task);
    let job = jobs[0];
    let r = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"version": 0, "tags": [], "shapes": [], "tracks": []})
    );
    assert_eq!(r.headers["etag"], "\"0\"");
    let start = 0;

    // create: the seed's body (its client version 26 is ignored)
    let create = json!({
        "shapes": [{"type": "rectangle", "occluded": false, "z_order": 0,
            "points": [235.4541015625, 589.7822265625, 1361.490478515625, 995.818603515625],
            "attributes": [{"spec_id": i.model.to_string(), "value": ""}],
            "frame": 3, "label_id": i.car, "group": 0}],
        "tracks": [], "tags": [], "version": 26
    });
    let r = patch_action(&app, job, "create", &t, create).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["shapes"][0]["id"].as_i64().expect("an id");
    assert_eq!(
        r.body,
        json!({"version": start + 1, "tracks": [], "tags": [], "shapes": [{
            "type": "rectangle", "occluded": false, "z_order": 0,
            "points": [235.4541015625, 589.7822265625, 1361.490478515625, 995.818603515625],
            "id": id, "frame": 3, "label_id": i.car, "group": 0,
            "attributes": [{"spec_id": i.model, "value": ""}]}]})
    );
    // the key order of CVAT's serializer
    let raw = app
        .client
        .get(app.url(&format!("/api/v1/jobs/{job}/annotations")))
        .header("Authorization", format!("Token {t}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        raw.contains(r#"{"type":"rectangle","occluded":false,"z_order":0,"points":[235.4541015625,589.7822265625,1361.490478515625,995.818603515625],"id":"#),
        "{raw}"
    );

    // update: the seed's body with that id (client version 28 ignored)
    let update = json!({
        "shapes": [{"type": "rectangle", "occluded": false, "z_order": 0,
            "points": [47.10546875, 232.705078125, 991.9782104492188, 549.2141723632812],
            "attributes": [{"spec_id": i.model.to_string(), "value": "123"}],
            "id": id, "frame": 6, "label_id": i.car, "group": 0}],
        "tracks": [], "tags": [], "version": 28
    });
    let r = patch_action(&app, job, "update", &t, update).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"version": start + 2, "tracks": [], "tags": [], "shapes": [{
            "type": "rectangle", "occluded": false, "z_order": 0,
            "points": [47.10546875, 232.705078125, 991.9782104492188, 549.2141723632812],
            "id": id, "frame": 6, "label_id": i.car, "group": 0,
            "attributes": [{"spec_id": i.model, "value": "123"}]}]})
    );

    // delete with empty lists, exactly the seed's request and answer
    let r = patch_action(
        &app,
        job,
        "delete",
        &t,
        json!({"shapes": [], "tracks": [], "tags": [], "version": 2}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"tags": [], "tracks": [], "shapes": [], "version": start + 3})
    );

    // GET: the updated shape, its missing mutable attribute filled with the default
    let r = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await;
    assert_eq!(r.body["version"], 3);
    assert_eq!(r.body["shapes"][0]["frame"], 6);
    assert_eq!(
        r.body["shapes"][0]["attributes"],
        json!([{"spec_id": i.model, "value": "123"}, {"spec_id": i.color, "value": "white"}])
    );
    assert_eq!(r.headers["etag"], "\"3\"");

    // deleting it for real, then the job's commits
    let r = patch_action(
        &app,
        job,
        "delete",
        &t,
        json!({"shapes": [{"id": id}], "tracks": [], "tags": [], "version": 3}),
    )
    .await;
    assert_eq!(r.body["version"], 4);
    let r = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await;
    assert_eq!(r.body["shapes"], json!([]));
    let commits = app.db.annotation_commits(job).await.unwrap();
    assert_eq!(
        commits.iter().map(|c| c.version).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        commits[0].message,
        "Changes: tags - 0; shapes - 1; tracks - 0"
    );
    assert_eq!(commits[0].action, "create");
    assert!(commits.iter().all(|c| c.author_id == Some(1)));

    // DELETE: 204, version + 1
    let r = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/jobs/{job}/annotations"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    let r = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await;
    assert_eq!(r.body["version"], 5);

    // the job status change that ends the sequence
    let r = app
        .patch(
            &format!("/api/v1/jobs/{job}"),
            &t,
            json!({"status": "validation", "assignee": null}),
        )
        .await;
    assert_eq!(r.status, 200);
}

/// Every shape type, tags, groups, z-order and a track survive PUT → GET exactly when all
/// attributes are given; floats keep every bit.
async fn every_shape_type_and_tracks_round_trip(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, jobs) = annotated_task(&app, &t, json!({})).await;
    let i = ids(&task);
    let job = jobs[0];
    let car_attrs =
        json!([{"spec_id": i.model, "value": "Audi"}, {"spec_id": i.color, "value": "black"}]);
    let age = json!([{"spec_id": i.age, "value": "41"}]);
    let doc = json!({
        "version": 0,
        "tags": [
            {"id": null, "frame": 1, "label_id": i.sky, "group": null, "attributes": []},
            {"frame": 0, "label_id": i.car, "group": 3, "attributes": car_attrs}
        ],
        "shapes": [
            {"type": "rectangle", "occluded": true, "z_order": -2, "points": [0.1, 0.2, 0.30000000000000004, 1e-7],
             "frame": 0, "label_id": i.car, "group": 1, "attributes": car_attrs},
            {"type": "polygon", "occluded": false, "z_order": 3, "points": [1.5, 2.25, 10.0, 2.0, 123456.789, 99.5, 4.0, 8.0],
             "frame": 2, "label_id": i.person, "group": 1, "attributes": age},
            {"type": "polyline", "occluded": false, "z_order": 0, "points": [0.0, 0.0, 5.0, 5.0],
             "frame": 2, "label_id": i.sky, "group": 0, "attributes": []},
            {"type": "points", "occluded": false, "z_order": 0, "points": [3.0, 4.0],
             "frame": 7, "label_id": i.person, "group": 0, "attributes": age},
            {"type": "cuboid", "occluded": false, "z_order": 1,
             "points": [1.0, 1.0, 1.0, 9.0, 9.0, 1.0, 9.0, 9.0, 3.0, 3.0, 3.0, 11.0, 11.0, 3.0, 11.0, 11.0],
             "frame": 5, "label_id": i.car, "group": 0, "attributes": car_attrs}
        ],
        "tracks": [
            {"frame": 0, "label_id": i.car, "group": 0,
             "attributes": [{"spec_id": i.model, "value": "Benz"}],
             "shapes": [
                {"type": "rectangle", "occluded": false, "z_order": 0, "points": [1.0, 2.0, 3.0, 4.0],
                 "frame": 0, "outside": false, "attributes": [{"spec_id": i.color, "value": "gray"}]},
                {"type": "rectangle", "occluded": true, "z_order": 0, "points": [5.0, 6.0, 7.0, 8.5],
                 "frame": 3, "outside": false, "attributes": [{"spec_id": i.color, "value": "black"}]},
                {"type": "rectangle", "occluded": false, "z_order": 0, "points": [5.0, 6.0, 7.0, 8.5],
                 "frame": 6, "outside": true, "attributes": [{"spec_id": i.color, "value": "black"}]}
             ]},
            {"frame": 1, "label_id": i.person, "group": 2, "attributes": [],
             "shapes": [
                {"type": "polygon", "occluded": false, "z_order": 0, "points": [0.0, 0.0, 4.0, 0.0, 4.0, 4.0],
                 "frame": 1, "outside": false, "attributes": [{"spec_id": i.age, "value": "5"}]}
             ]}
        ]
    });
    let r = send(
        &app,
        Method::PUT,
        &format!("/api/v1/jobs/{job}/annotations"),
        &t,
        Some(doc.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["version"], 1);
    // the response is the request with ids, in request order
    let written = r.body.clone();
    assert_eq!(written["shapes"].as_array().unwrap().len(), 5);
    for (k, n) in [("tags", 2), ("shapes", 5), ("tracks", 2)] {
        let items = written[k].as_array().unwrap();
        assert_eq!(items.len(), n);
        assert!(items.iter().all(|o| o["id"].as_i64().is_some()));
    }
    assert_eq!(written["shapes"][1]["points"], doc["shapes"][1]["points"]);
    assert!(
        written["tracks"][0]["shapes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"].is_i64())
    );

    let got = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await
        .body;
    // GET orders tags and shapes by frame (ties by id), tracks by id
    let by_frame = |v: &Value| {
        let mut items = v.as_array().unwrap().clone();
        items.sort_by_key(|o| (o["frame"].as_i64().unwrap(), o["id"].as_i64().unwrap()));
        Value::Array(items)
    };
    assert_eq!(got["shapes"], by_frame(&written["shapes"]));
    assert_eq!(got["tags"], by_frame(&written["tags"]));
    assert_eq!(got["tracks"], written["tracks"]);
    assert_eq!(
        got["shapes"][0]["points"],
        json!([0.1, 0.2, 0.30000000000000004, 1e-7])
    );

    // a PUT that re-sends known ids keeps them
    let mut again = got.clone();
    again["shapes"] = json!([got["shapes"][0]]);
    let r = send(
        &app,
        Method::PUT,
        &format!("/api/v1/jobs/{job}/annotations"),
        &t,
        Some(again),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["shapes"][0]["id"], got["shapes"][0]["id"]);
    assert_eq!(
        r.body["tracks"][0]["shapes"][1]["id"],
        got["tracks"][0]["shapes"][1]["id"]
    );
    let after = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await
        .body;
    assert_eq!(after["shapes"].as_array().unwrap().len(), 1);
    assert_eq!(after["version"], 2);
}

/// §9.3: defaults for shapes and tags, immutable ones for tracks, mutable ones for the
/// first keyframe, inherited values for later keyframes.
async fn attribute_defaults_are_filled_on_read(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, jobs) = annotated_task(&app, &t, json!({})).await;
    let i = ids(&task);
    let job = jobs[0];
    let doc = json!({
        "version": 0,
        "tags": [{"frame": 0, "label_id": i.car, "group": 0, "attributes": [{"spec_id": i.color, "value": "gray"}]}],
        "shapes": [rect(1, i.car, [0.0, 0.0, 1.0, 1.0], json!([])),
                   rect(1, i.person, [0.0, 0.0, 1.0, 1.0], json!([]))],
        "tracks": [{"frame": 0, "label_id": i.car, "group": 0, "attributes": [], "shapes": [
            {"type": "rectangle", "occluded": false, "points": [0.0, 0.0, 1.0, 1.0], "frame": 0, "outside": false, "attributes": []},
            {"type": "rectangle", "occluded": false, "points": [0.0, 0.0, 2.0, 2.0], "frame": 2, "outside": false,
             "attributes": [{"spec_id": i.color, "value": "black"}]},
            {"type": "rectangle", "occluded": false, "points": [0.0, 0.0, 3.0, 3.0], "frame": 4, "outside": false, "attributes": []}
        ]}]
    });
    let mut doc = doc;
    // keyframes sent out of order come back in request order (ids map by position)
    let ks = doc["tracks"][0]["shapes"].as_array_mut().unwrap();
    ks.swap(0, 2);
    let r = patch_action(&app, job, "create", &t, doc).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let frames: Vec<i64> = r.body["tracks"][0]["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["frame"].as_i64().unwrap())
        .collect();
    assert_eq!(frames, vec![4, 2, 0]);
    assert_eq!(r.body["tracks"][0]["frame"], 0);
    // write responses echo attributes as sent
    assert_eq!(r.body["shapes"][0]["attributes"], json!([]));
    let got = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await
        .body;
    assert_eq!(
        got["tags"][0]["attributes"],
        json!([{"spec_id": i.color, "value": "gray"}, {"spec_id": i.model, "value": "BMW"}])
    );
    assert_eq!(
        got["shapes"][0]["attributes"],
        json!([{"spec_id": i.model, "value": "BMW"}, {"spec_id": i.color, "value": "white"}])
    );
    assert_eq!(
        got["shapes"][1]["attributes"],
        json!([{"spec_id": i.age, "value": "30"}])
    );
    let track = &got["tracks"][0];
    assert_eq!(
        track["attributes"],
        json!([{"spec_id": i.model, "value": "BMW"}])
    );
    let kf: Vec<Value> = track["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["attributes"].clone())
        .collect();
    assert_eq!(
        kf,
        vec![
            json!([{"spec_id": i.color, "value": "white"}]),
            json!([{"spec_id": i.color, "value": "black"}]),
            json!([{"spec_id": i.color, "value": "black"}]),
        ]
    );
    // z_order defaulted to 0 for keyframes sent without it
    assert_eq!(track["shapes"][0]["z_order"], 0);
    // a new attribute of the label shows up with its default on the next read, even
    // though the annotations did not change (the rendered document is not reused)
    let tid = task["id"].as_i64().unwrap();
    let again = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await
        .body;
    assert_eq!(again, got);
    let r = app
        .patch(&format!("/api/v1/tasks/{tid}"), &t, json!({"labels": [{"name": "person", "attributes": [
            {"name": "hat", "mutable": false, "input_type": "checkbox", "default_value": "false", "values": ["false"]}]}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let hat = r.body["labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "person")
        .unwrap()["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "hat")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let after = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await
        .body;
    assert_eq!(after["version"], got["version"]);
    assert_eq!(
        after["shapes"][1]["attributes"],
        json!([{"spec_id": i.age, "value": "30"}, {"spec_id": hat, "value": "false"}])
    );
}

/// Every validation error of §9.1–§9.3 and the stricter checks; none changes anything.
async fn validation_errors_change_nothing(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, jobs) = annotated_task(&app, &t, json!({"segment_size": 4})).await;
    let i = ids(&task);
    let job = jobs[0];
    let r = patch_action(
        &app,
        job,
        "create",
        &t,
        json!({"version": 0, "tags": [], "tracks": [], "shapes": [rect(0, i.car, [1.0, 2.0, 3.0, 4.0], json!([]))]}),
    )
    .await;
    assert_eq!(r.status, 200);
    let before = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await
        .body;
    let doc = |shapes: Value, tracks: Value| json!({"version": 1, "tags": [], "shapes": shapes, "tracks": tracks});
    let kf = |frame: i64, attrs: Value| json!({"type": "rectangle", "occluded": false, "points": [0.0, 0.0, 1.0, 1.0], "frame": frame, "outside": false, "attributes": attrs});
    let cases: Vec<(Value, Value)> = vec![
        (
            doc(
                json!([rect(0, 999, [0.0, 0.0, 1.0, 1.0], json!([]))]),
                json!([]),
            ),
            json!("label_id `999` is invalid"),
        ),
        (
            doc(
                json!([rect(
                    0,
                    i.car,
                    [0.0, 0.0, 1.0, 1.0],
                    json!([{"spec_id": i.age, "value": "1"}])
                )]),
                json!([]),
            ),
            json!(format!("spec_id `{}` is invalid", i.age)),
        ),
        (
            doc(
                json!([]),
                json!([{"frame": 0, "label_id": i.car, "group": 0,
                "attributes": [{"spec_id": i.color, "value": "x"}], "shapes": [kf(0, json!([]))]}]),
            ),
            json!(format!("spec_id `{}` is invalid", i.color)),
        ),
        (
            doc(
                json!([]),
                json!([{"frame": 0, "label_id": i.car, "group": 0, "attributes": [],
                "shapes": [kf(0, json!([{"spec_id": i.model, "value": "BMW"}]))]}]),
            ),
            json!(format!("spec_id `{}` is invalid", i.model)),
        ),
        (
            doc(
                json!([rect(
                    0,
                    i.car,
                    [0.0, 0.0, 1.0, 1.0],
                    json!([{"spec_id": i.color, "value": "x"}, {"spec_id": i.color, "value": "y"}])
                )]),
                json!([]),
            ),
            json!(format!(
                "spec_id `{}` is given twice for one object",
                i.color
            )),
        ),
        (
            doc(
                json!([rect(4, i.car, [0.0, 0.0, 1.0, 1.0], json!([]))]),
                json!([]),
            ),
            json!("frame `4` is outside the job's frames 0..3"),
        ),
        (
            doc(
                json!([]),
                json!([{"frame": 0, "label_id": i.car, "group": 0, "attributes": [],
                "shapes": [kf(1, json!([])), kf(1, json!([]))]}]),
            ),
            json!("a track has two keyframes on frame `1`"),
        ),
        (
            doc(
                json!([{"type": "rectangle", "occluded": false, "points": [0, 0, 1, 1, 2, 2], "frame": 0,
                "label_id": i.car, "group": 0, "attributes": []}]),
                json!([]),
            ),
            json!({"shapes": [{"points": ["A rectangle needs exactly 4 numbers, got 6."]}]}),
        ),
        (
            doc(
                json!([{"type": "cuboid", "occluded": false, "points": [0, 0, 1, 1], "frame": 0,
                "label_id": i.car, "group": 0, "attributes": []}]),
                json!([]),
            ),
            json!({"shapes": [{"points": ["A cuboid needs exactly 16 numbers, got 4."]}]}),
        ),
        (
            doc(
                json!([{"type": "polygon", "occluded": false, "points": [0, 0, 1], "frame": 0,
                "label_id": i.car, "group": 0, "attributes": []}]),
                json!([]),
            ),
            json!({"shapes": [{"points": ["Points must be x, y pairs: an even count of numbers, got 3."]}]}),
        ),
        (
            doc(
                json!([{"type": "circle", "occluded": "maybe", "points": [], "frame": -1,
                "label_id": i.car, "attributes": [{"spec_id": "x"}]}]),
                json!([]),
            ),
            json!({"shapes": [{
                "type": ["\"circle\" is not a valid choice."],
                "occluded": ["Must be a valid boolean."],
                "points": ["This list may not be empty."],
                "frame": ["Ensure this value is greater than or equal to 0."],
                "group": ["This field is required."],
                "attributes": [{"spec_id": ["A valid integer is required."], "value": ["This field is required."]}]
            }]}),
        ),
        (
            json!({"shapes": []}),
            json!({"version": ["This field is required."], "tags": ["This field is required."], "tracks": ["This field is required."]}),
        ),
        (
            json!([1, 2]),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
    ];
    for action in ["create", "update"] {
        for (body, expected) in &cases {
            let r = patch_action(&app, job, action, &t, body.clone()).await;
            assert_eq!(r.status, 400, "{action} {body}: {}", r.body);
            assert_eq!(&r.body, expected, "{action} {body}");
        }
    }
    for (body, expected) in &cases {
        let r = send(
            &app,
            Method::PUT,
            &format!("/api/v1/jobs/{job}/annotations"),
            &t,
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, 400, "PUT {body}");
        assert_eq!(&r.body, expected);
    }
    // actions, media types, malformed JSON, bad headers
    for q in ["", "?action=merge"] {
        let r = send(
            &app,
            Method::PATCH,
            &format!("/api/v1/jobs/{job}/annotations{q}"),
            &t,
            Some(doc(json!([]), json!([]))),
        )
        .await;
        assert_eq!(r.status, 400);
        assert_eq!(
            r.body,
            json!(["Please specify a correct 'action' for the request"])
        );
    }
    let raw = |ctype: &str, body: &str| {
        app.client
            .put(app.url(&format!("/api/v1/jobs/{job}/annotations")))
            .header("Authorization", format!("Token {t}"))
            .header("Content-Type", ctype)
            .body(body.to_string())
            .send()
    };
    let r = TestApp::read(raw("text/plain", "{}").await.unwrap()).await;
    assert_eq!(r.status, 415);
    let r = TestApp::read(raw("application/json", "{\"version\": ").await.unwrap()).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error")
    );
    let r = TestApp::read(
        app.client
            .patch(app.url(&format!("/api/v1/jobs/{job}/annotations?action=create")))
            .header("Authorization", format!("Token {t}"))
            .header("If-Match", "yesterday")
            .json(&doc(json!([]), json!([])))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
    // an id taken by another job cannot be updated into this one
    let other = jobs[1];
    let r = patch_action(
        &app,
        other,
        "create",
        &t,
        json!({"version": 0, "tags": [], "tracks": [], "shapes": [rect(5, i.car, [1.0, 2.0, 3.0, 4.0], json!([]))]}),
    )
    .await;
    let foreign = r.body["shapes"][0]["id"].as_i64().unwrap();
    let mut stolen = rect(0, i.car, [0.0, 0.0, 1.0, 1.0], json!([]));
    stolen["id"] = json!(foreign);
    let r = patch_action(&app, job, "update", &t, doc(json!([stolen]), json!([]))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // ids the server never gave out cannot be kept (they would collide later)
    for bad in [i64::MAX, -1, 0] {
        let mut made_up = rect(0, i.car, [0.0, 0.0, 1.0, 1.0], json!([]));
        made_up["id"] = json!(bad);
        let r = send(
            &app,
            Method::PUT,
            &format!("/api/v1/jobs/{job}/annotations"),
            &t,
            Some(doc(json!([made_up]), json!([]))),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(
            r.body,
            json!(format!(
                "id `{bad}` was never given out by this server: send objects without ids to create them"
            ))
        );
    }
    // unknown jobs
    let r = app.get("/api/v1/jobs/99999/annotations", &t).await;
    assert_eq!(r.status, 404);
    // nothing changed, not even the version
    let after = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await
        .body;
    assert_eq!(after, before);
}

pub(crate) async fn task_annotations(app: &TestApp, task: i64, token: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/tasks/{task}/annotations"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Overlap 0: a task-level PUT is split by frame; GET concatenates the jobs in order.
async fn task_level_with_overlap_zero(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, jobs) = annotated_task(&app, &t, json!({"segment_size": 4})).await;
    let tid = task["id"].as_i64().unwrap();
    assert_eq!(jobs.len(), 2);
    let i = ids(&task);
    let shapes: Vec<Value> = (0..8)
        .map(|f| rect(f, i.sky, [f as f64, 0.0, 10.0, 10.0], json!([])))
        .collect();
    let doc = json!({"version": 0, "tags": [{"frame": 5, "label_id": i.sky, "group": 0, "attributes": []}],
                     "shapes": shapes, "tracks": []});
    let r = send(
        &app,
        Method::PUT,
        &format!("/api/v1/tasks/{tid}/annotations"),
        &t,
        Some(doc),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["shapes"].as_array().unwrap().len(), 8);
    let first = app
        .get(&format!("/api/v1/jobs/{}/annotations", jobs[0]), &t)
        .await
        .body;
    let second = app
        .get(&format!("/api/v1/jobs/{}/annotations", jobs[1]), &t)
        .await
        .body;
    let frames = |d: &Value| {
        d["shapes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["frame"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(frames(&first), vec![0, 1, 2, 3]);
    assert_eq!(frames(&second), vec![4, 5, 6, 7]);
    assert_eq!(second["tags"].as_array().unwrap().len(), 1);
    // a job-level write moves only that job's version; the task reports the highest
    patch_action(
        &app,
        jobs[1],
        "create",
        &t,
        json!({"version": 0, "tags": [], "tracks": [], "shapes": []}),
    )
    .await;
    let all = task_annotations(&app, tid, &t).await;
    assert_eq!(all["version"], 2);
    assert_eq!(frames(&all), (0..8).collect::<Vec<_>>());
    // task-level PATCH delete reaches every job; frames beyond the task are refused
    let ids_: Vec<Value> = all["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!({"id": s["id"]}))
        .collect();
    let r = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/tasks/{tid}/annotations?action=delete"),
        &t,
        Some(json!({"version": 2, "tags": [], "tracks": [], "shapes": ids_[..5]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        frames(&task_annotations(&app, tid, &t).await),
        vec![5, 6, 7]
    );
    let r = send(&app, Method::PATCH, &format!("/api/v1/tasks/{tid}/annotations?action=create"), &t,
        Some(json!({"version": 0, "tags": [], "tracks": [], "shapes": [rect(8, i.sky, [0.0, 0.0, 1.0, 1.0], json!([]))]}))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, json!("frame `8` is outside the task's frames 0..7"));
    // DELETE empties every job and bumps each version
    let r = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/tasks/{tid}/annotations"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    let all = task_annotations(&app, tid, &t).await;
    assert_eq!(
        all,
        json!({"version": 4, "tags": [], "shapes": [], "tracks": []})
    );
    // deleting the task deletes its annotations
    let r = send(&app, Method::PATCH, &format!("/api/v1/tasks/{tid}/annotations?action=create"), &t,
        Some(json!({"version": 0, "tags": [], "tracks": [], "shapes": [rect(1, i.sky, [0.0, 0.0, 1.0, 1.0], json!([]))]}))).await;
    let id = r.body["shapes"][0]["id"].as_i64().unwrap();
    assert_eq!(app.db.annotation_jobs(&[id]).await.unwrap().len(), 1);
    let r = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/tasks/{tid}"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert!(app.db.annotation_jobs(&[id]).await.unwrap().is_empty());
}

/// Overlap > 0: objects in the overlap are stored by both jobs and merged, not doubled.
async fn task_level_with_overlap_merges_copies(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, jobs) = annotated_task(&app, &t, json!({"segment_size": 6, "overlap": 2})).await;
    let tid = task["id"].as_i64().unwrap();
    let i = ids(&task);
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
    assert_eq!(segs, vec![(0, 5), (4, 7)]);
    let doc = json!({
        "version": 0,
        "tags": [{"frame": 4, "label_id": i.sky, "group": 0, "attributes": []}],
        "shapes": [rect(1, i.sky, [0.0, 0.0, 5.0, 5.0], json!([])),
                   rect(4, i.sky, [10.0, 10.0, 20.0, 20.0], json!([])),
                   {"type": "polygon", "occluded": false, "z_order": 0, "points": [0.0, 0.0, 8.0, 0.0, 8.0, 8.0],
                    "frame": 5, "label_id": i.person, "group": 0, "attributes": [{"spec_id": i.age, "value": "9"}]},
                   rect(6, i.sky, [0.0, 0.0, 5.0, 5.0], json!([]))],
        "tracks": [{"frame": 0, "label_id": i.sky, "group": 0, "attributes": [], "shapes": [
            {"type": "rectangle", "occluded": false, "points": [0.0, 0.0, 10.0, 10.0], "frame": 0, "outside": false, "attributes": []},
            {"type": "rectangle", "occluded": false, "points": [70.0, 0.0, 80.0, 10.0], "frame": 7, "outside": false, "attributes": []}
        ]}]
    });
    let r = send(
        &app,
        Method::PUT,
        &format!("/api/v1/tasks/{tid}/annotations"),
        &t,
        Some(doc),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // the answer is already merged: every object once
    assert_eq!(r.body["shapes"].as_array().unwrap().len(), 4, "{}", r.body);
    assert_eq!(r.body["tags"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["tracks"].as_array().unwrap().len(), 1);
    // each job holds its copy of the overlap objects (frames 4 and 5)
    let a = app
        .get(&format!("/api/v1/jobs/{}/annotations", jobs[0]), &t)
        .await
        .body;
    let b = app
        .get(&format!("/api/v1/jobs/{}/annotations", jobs[1]), &t)
        .await
        .body;
    assert_eq!(a["shapes"].as_array().unwrap().len(), 3);
    assert_eq!(b["shapes"].as_array().unwrap().len(), 3);
    assert_eq!(b["tags"].as_array().unwrap().len(), 1);
    assert_eq!(a["shapes"][1]["frame"], 4);
    assert_eq!(b["shapes"][0]["frame"], 4);
    assert_ne!(
        a["shapes"][1]["id"], b["shapes"][0]["id"],
        "copies get their own ids"
    );
    // the task view merges them back
    let all = task_annotations(&app, tid, &t).await;
    let frames: Vec<i64> = all["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["frame"].as_i64().unwrap())
        .collect();
    assert_eq!(frames, vec![1, 4, 5, 6]);
    assert_eq!(all["tags"].as_array().unwrap().len(), 1);
    assert_eq!(all["tracks"].as_array().unwrap().len(), 1);
    let keys: Vec<i64> = all["tracks"][0]["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["frame"].as_i64().unwrap())
        .collect();
    assert_eq!(keys, vec![0, 4, 5, 7]);
    // a new object in the overlap of the second job alone is kept
    let r = patch_action(&app, jobs[1], "create", &t,
        json!({"version": 0, "tags": [], "tracks": [], "shapes": [rect(4, i.sky, [300.0, 300.0, 310.0, 310.0], json!([]))]})).await;
    assert_eq!(r.status, 200);
    let all = task_annotations(&app, tid, &t).await;
    assert_eq!(all["shapes"].as_array().unwrap().len(), 5);
}

/// Slicing a track to a job interpolates the ends that fall between keyframes: linear for
/// rectangles, along the resampled outline for polygons.
async fn interpolated_ends_when_slicing_tracks(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, jobs) = annotated_task(&app, &t, json!({"segment_size": 4})).await;
    let tid = task["id"].as_i64().unwrap();
    let i = ids(&task);
    let key = |ty: &str, frame: i64, points: Value| json!({"type": ty, "occluded": false, "points": points, "frame": frame, "outside": false, "attributes": []});
    let doc = json!({"version": 0, "tags": [], "shapes": [], "tracks": [
        {"frame": 0, "label_id": i.sky, "group": 0, "attributes": [], "shapes": [
            key("rectangle", 0, json!([0.0, 0.0, 10.0, 10.0])),
            key("rectangle", 6, json!([60.0, 30.0, 70.0, 40.0]))]},
        {"frame": 2, "label_id": i.sky, "group": 0, "attributes": [], "shapes": [
            key("polygon", 2, json!([0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0])),
            key("polygon", 6, json!([40.0, 0.0, 50.0, 0.0, 50.0, 10.0, 40.0, 10.0]))]}
    ]});
    let r = send(
        &app,
        Method::PUT,
        &format!("/api/v1/tasks/{tid}/annotations"),
        &t,
        Some(doc),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = app
        .get(&format!("/api/v1/jobs/{}/annotations", jobs[0]), &t)
        .await
        .body;
    let b = app
        .get(&format!("/api/v1/jobs/{}/annotations", jobs[1]), &t)
        .await
        .body;
    let keys = |d: &Value, n: usize| -> Vec<(i64, Value)> {
        d["tracks"][n]["shapes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["frame"].as_i64().unwrap(), s["points"].clone()))
            .collect()
    };
    // rectangle: job 1 ends with the shape at frame 3, job 2 starts with it at frame 4
    assert_eq!(
        keys(&a, 0),
        vec![
            (0, json!([0.0, 0.0, 10.0, 10.0])),
            (3, json!([30.0, 15.0, 40.0, 25.0]))
        ]
    );
    assert_eq!(keys(&b, 0)[0], (4, json!([40.0, 20.0, 50.0, 30.0])));
    assert_eq!(keys(&b, 0)[1].0, 6);
    // after its last keyframe a rectangle track continues to the end of the job
    assert_eq!(keys(&b, 0).last().unwrap().0, 7);
    // polygon: the square moved a quarter of the way at frame 3
    let poly = keys(&a, 1);
    assert_eq!(poly.len(), 2);
    assert_eq!(poly[1].0, 3);
    let pts: Vec<f64> = poly[1]
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        (pts[0] - 10.0).abs() < 1e-9 && pts[1].abs() < 1e-9,
        "{pts:?}"
    );
    let xs: Vec<f64> = pts.chunks(2).map(|c| c[0]).collect();
    assert!(
        xs.iter().all(|x| (10.0 - 1e-6..=20.0 + 1e-6).contains(x)),
        "{pts:?}"
    );
    // polygon tracks end at their last keyframe
    assert_eq!(keys(&b, 1).last().unwrap().0, 6);
}

/// 20 concurrent creates on one job: every shape once, versions consecutive.
async fn concurrent_creates_are_serialized(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, jobs) = annotated_task(&app, &t, json!({})).await;
    let i = ids(&task);
    let job = jobs[0];
    let start = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await
        .body["version"]
        .as_i64()
        .unwrap();
    let mut handles = Vec::new();
    for n in 0..20 {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/jobs/{job}/annotations?action=create"));
        let t = t.clone();
        let body = json!({"version": 0, "tags": [], "tracks": [],
            "shapes": [rect(n % 8, i.sky, [n as f64, 0.0, 100.0, 100.0], json!([]))]});
        handles.push(tokio::spawn(async move {
            let r = client
                .patch(url)
                .header("Authorization", format!("Token {t}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }));
    }
    let mut versions = Vec::new();
    for h in handles {
        versions.push(h.await.unwrap()["version"].as_i64().unwrap());
    }
    versions.sort();
    assert_eq!(versions, (start + 1..=start + 20).collect::<Vec<_>>());
    let got = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await
        .body;
    assert_eq!(got["version"], start + 20);
    let mut xs: Vec<i64> = got["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["points"][0].as_f64().unwrap() as i64)
        .collect();
    xs.sort();
    assert_eq!(xs, (0..20).collect::<Vec<_>>());
    let mut ids_: Vec<i64> = got["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    ids_.dedup();
    assert_eq!(ids_.len(), 20);
    let commits = app.db.annotation_commits(job).await.unwrap();
    assert_eq!(
        commits.iter().map(|c| c.version).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
}

/// A job of 8,000 shapes (a body over 1 MB, whose shapes are parsed on two threads; its
/// answer is rendered while the database writes): the answer carries the new version,
/// every id, and GET returns the same objects.
async fn big_job_put_and_get(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, jobs) = annotated_task(&app, &t, json!({})).await;
    let i = ids(&task);
    let job = jobs[0];
    let shapes: Vec<Value> = (0..8000)
        .map(|n| {
            rect(
                n % 8,
                i.sky,
                [n as f64 * 0.25, 1.0, n as f64 + 5.5, 9.0],
                json!([]),
            )
        })
        .collect();
    let doc = json!({"version": 0, "tags": [], "tracks": [], "shapes": shapes});
    assert!(doc.to_string().len() > 1 << 20);
    for round in 1..=2 {
        let r = send(
            &app,
            Method::PUT,
            &format!("/api/v1/jobs/{job}/annotations"),
            &t,
            Some(doc.clone()),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["version"], round);
        assert_eq!(r.headers["etag"], format!("\"{round}\""));
        let answered = r.body["shapes"].as_array().unwrap();
        assert_eq!(answered.len(), 8000);
        assert!(
            answered
                .iter()
                .zip(&shapes)
                .all(|(a, s)| a["points"] == s["points"]
                    && a["frame"] == s["frame"]
                    && a["id"].is_i64())
        );
        let got = app
            .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
            .await;
        assert_eq!(got.body["version"], round);
        let stored = got.body["shapes"].as_array().unwrap();
        assert_eq!(stored.len(), 8000);
        let mut sent: Vec<i64> = answered.iter().map(|a| a["id"].as_i64().unwrap()).collect();
        let mut read: Vec<i64> = stored.iter().map(|a| a["id"].as_i64().unwrap()).collect();
        sent.sort_unstable();
        read.sort_unstable();
        assert_eq!(sent, read, "every answered id is stored, once");
        // a second read (from the document cache) is the same
        let again = app
            .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
            .await;
        assert_eq!(again.body, got.body);
    }
}

/// §10.1 and §10.2: the format list, and the export protocol with "CVAT for images 1.1"
/// (202 → 201 → download, shared state, redone after a change).
async fn export_cvat_for_images(app: TestApp) {
    let t = app.admin_token.clone();
    let r = app.get("/api/v1/server/annotation/formats", &t).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["importers"].as_array().unwrap().len(), 8);
    assert_eq!(r.body["exporters"].as_array().unwrap().len(), 10);
    assert!(r.body["exporters"].as_array().unwrap().iter().any(|f| f
        == &json!({"name": "CVAT for images 1.1", "ext": "ZIP", "version": "1.1", "enabled": true})));
    for list in ["importers", "exporters"] {
        for f in r.body[list].as_array().unwrap() {
            assert_eq!(f["enabled"], true, "every format works: {f}");
        }
    }
    let (task, jobs) = annotated_task(&app, &t, json!({"segment_size": 4})).await;
    let tid = task["id"].as_i64().unwrap();
    let i = ids(&task);
    let doc = json!({"version": 0, "tags": [{"frame": 2, "label_id": i.sky, "group": 0, "attributes": []}],
        "shapes": [rect(0, i.car, [38.7734375, 52.267578125, 537.5498657226562, 324.32745361328125],
                        json!([{"spec_id": i.model, "value": "Audi"}])),
                   {"type": "polygon", "occluded": true, "z_order": 0, "points": [1.0, 2.0, 3.0, 4.0, 5.0, 1.0],
                    "frame": 5, "label_id": i.person, "group": 3, "attributes": []}],
        "tracks": [{"frame": 1, "label_id": i.sky, "group": 0, "attributes": [], "shapes": [
            {"type": "rectangle", "occluded": false, "points": [0.0, 0.0, 10.0, 10.0], "frame": 1, "outside": false, "attributes": []},
            {"type": "rectangle", "occluded": false, "points": [30.0, 0.0, 40.0, 10.0], "frame": 4, "outside": true, "attributes": []}]}]});
    let r = send(
        &app,
        Method::PUT,
        &format!("/api/v1/tasks/{tid}/annotations"),
        &t,
        Some(doc),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = |extra: &str| {
        format!("/api/v1/tasks/{tid}/annotations?format=CVAT%20for%20images%201.1{extra}")
    };
    // errors first
    let r = app.get(&url("&action=nonsense"), &t).await;
    assert_eq!(
        (r.status.as_u16(), r.body.clone()),
        (400, json!(["Unexpected action specified for the request"]))
    );
    let r = app
        .get(
            &format!("/api/v1/tasks/{tid}/annotations?format=Nope%201.0"),
            &t,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body.clone()),
        (400, json!(["Unknown format specified for the request"]))
    );
    let r = send(
        &app,
        Method::PUT,
        &format!("/api/v1/tasks/{tid}/annotations?format=Nope"),
        &t,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body.clone()),
        (400, json!(["Unknown input format 'Nope'"]))
    );
    let r = send(
        &app,
        Method::PUT,
        &format!("/api/v1/jobs/{}/annotations?format=COCO%201.0", jobs[0]),
        &t,
        Some(json!({})),
    )
    .await;
    // an import without the file
    assert_eq!(r.status, 400, "{}", r.body);
    // the protocol
    async fn until_ready(app: &TestApp, url: &str, t: &str) {
        let r = app.get(url, t).await;
        assert_eq!(r.status, 202, "the first request starts the export");
        for _ in 0..300 {
            let r = app.get(url, t).await;
            match r.status.as_u16() {
                202 => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                201 => return,
                s => panic!("unexpected {s}: {}", r.body),
            }
        }
        panic!("the export did not finish");
    }
    until_ready(&app, &url(""), &t).await;
    // another user with access shares the same export
    let (_, observer) = app.user_in("viewer", &["observer"]).await;
    assert_eq!(app.get(&url(""), &observer).await.status, 201);
    let r = app
        .client
        .get(app.url(&url("&action=download")))
        .header("Authorization", format!("Token {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cd.starts_with("attachment; filename=\"task_cars-")
            && cd.ends_with("-cvat for images 1.1.zip\""),
        "{cd}"
    );
    let zip = r.bytes().await.unwrap();
    let files = crate::media::unzip(&zip);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].0, "annotations.xml");
    let xml = String::from_utf8(files[0].1.clone()).unwrap();
    assert!(xml.starts_with(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<annotations>\n  <version>1.1</version>"
    ));
    assert_eq!(xml.matches("<image id=").count(), 8);
    assert!(
        xml.contains(
            r#"<image id="0" name="car0.jpg" width="64" height="48">
    <box label="car" occluded="0" xtl="38.77" ytl="52.27" xbr="537.55" ybr="324.33">
      <attribute name="model">Audi</attribute>
      <attribute name="color">white</attribute>
    </box>"#
        ),
        "{xml}"
    );
    assert!(xml.contains(r#"<polygon label="person" occluded="1" points="1.00,2.00;3.00,4.00;5.00,1.00" group_id="3">"#));
    assert!(xml.contains(r#"<tag label="sky">"#));
    // the track: frames 1..3 (standing still before an outside keyframe), outside from
    // 4 on (not written)
    assert_eq!(
        xml.matches(
            r#"<box label="sky" occluded="0" xtl="0.00" ytl="0.00" xbr="10.00" ybr="10.00">"#
        )
        .count(),
        3
    );
    assert_eq!(xml.matches(r#"<box label="sky""#).count(), 3);
    assert!(xml.contains("<url>http://127.0.0.1"));
    // the download cleared the state; a change makes a new file
    let r = patch_action(
        &app,
        jobs[0],
        "delete",
        &t,
        json!({"version": 0, "tags": [], "tracks": [],
        "shapes": [{"id": 0}]}),
    )
    .await;
    assert_eq!(r.status, 200);
    let first_box = app
        .get(&format!("/api/v1/jobs/{}/annotations", jobs[0]), &t)
        .await
        .body["shapes"][0]["id"]
        .clone();
    let r = patch_action(
        &app,
        jobs[0],
        "delete",
        &t,
        json!({"version": 0, "tags": [], "tracks": [],
        "shapes": [{"id": first_box}]}),
    )
    .await;
    assert_eq!(r.status, 200);
    until_ready(&app, &url(""), &t).await;
    let r = app
        .client
        .get(app.url(&url("&action=download&filename=Mine.ZIP")))
        .header("Authorization", format!("Token {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"mine.zip\""
    );
    let files = crate::media::unzip(&r.bytes().await.unwrap());
    let xml = String::from_utf8(files[0].1.clone()).unwrap();
    assert!(!xml.contains(r#"label="car""#), "the deleted box is gone");
    // the file made before the change was removed when the new one was made
    let exports = app.data_path().join("exports").join(format!("task_{tid}"));
    let names = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let kept = names(&exports);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0].starts_with("annotations-cvat_for_images_1_1-"),
        "{kept:?}"
    );
    // a stranger may not export
    let (_, stranger) = app.user_in("outsider", &["user"]).await;
    let r = app
        .patch(&format!("/api/v1/tasks/{tid}"), &t, json!({"assignee": 1}))
        .await;
    assert_eq!(r.status, 200);
    for j in &jobs {
        app.patch(&format!("/api/v1/jobs/{j}"), &t, json!({"assignee": 1}))
            .await;
    }
    assert_eq!(app.get(&url(""), &stranger).await.status, 403);
    // deleting the task removes its export files
    let r = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/tasks/{tid}"),
        &t,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert!(!exports.exists(), "{:?}", names(&exports));
}

/// "CVAT for video 1.1": tracks frame by frame, standalone shapes as two-element tracks.
async fn export_cvat_for_video(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, _) = annotated_task(&app, &t, json!({})).await;
    let tid = task["id"].as_i64().unwrap();
    let i = ids(&task);
    let doc = json!({"version": 0, "tags": [{"frame": 0, "label_id": i.sky, "group": 0, "attributes": []}],
        "shapes": [rect(6, i.sky, [1.0, 2.0, 3.0, 4.0], json!([]))],
        "tracks": [{"frame": 0, "label_id": i.car, "group": 2, "attributes": [{"spec_id": i.model, "value": "Benz"}], "shapes": [
            {"type": "rectangle", "occluded": false, "points": [10.0, 10.0, 50.0, 50.0], "frame": 0, "outside": false,
             "attributes": [{"spec_id": i.color, "value": "black"}]},
            {"type": "rectangle", "occluded": false, "points": [12.0, 10.0, 52.0, 50.0], "frame": 2, "outside": false, "attributes": []},
            {"type": "rectangle", "occluded": false, "points": [12.0, 10.0, 52.0, 50.0], "frame": 4, "outside": true, "attributes": []}]}]});
    let r = send(
        &app,
        Method::PUT,
        &format!("/api/v1/tasks/{tid}/annotations"),
        &t,
        Some(doc),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = format!("/api/v1/tasks/{tid}/annotations?format=CVAT%20for%20video%201.1");
    assert_eq!(app.get(&url, &t).await.status, 202);
    let xml = export_xml(&app, tid, "CVAT for video 1.1", &t).await;
    assert!(xml.contains(r#"  <track id="0" label="car" group_id="2">
    <box frame="0" outside="0" occluded="0" keyframe="1" xtl="10.00" ytl="10.00" xbr="50.00" ybr="50.00">
      <attribute name="color">black</attribute>
      <attribute name="model">Benz</attribute>
    </box>
    <box frame="1" outside="0" occluded="0" keyframe="0" xtl="11.00" ytl="10.00" xbr="51.00" ybr="50.00">
      <attribute name="color">black</attribute>
      <attribute name="model">Benz</attribute>
    </box>"#), "{xml}");
    assert!(xml.contains(r#"<box frame="4" outside="1" occluded="0" keyframe="1" xtl="12.00""#));
    assert_eq!(xml.matches("<box frame=").count(), 5 + 2);
    assert!(xml.contains(r#"  <track id="1" label="sky">
    <box frame="6" outside="0" occluded="0" keyframe="1" xtl="1.00" ytl="2.00" xbr="3.00" ybr="4.00">
    </box>
    <box frame="7" outside="1" occluded="0" keyframe="1" xtl="1.00" ytl="2.00" xbr="3.00" ybr="4.00">
    </box>
  </track>"#), "{xml}");
    assert!(!xml.contains("<tag"), "tags are not written in this format");
}

/// Exports a task in `format` and returns `annotations.xml`.
async fn export_xml(app: &TestApp, tid: i64, format: &str, t: &str) -> String {
    let files = export_files(app, tid, format, t).await;
    String::from_utf8(files[0].1.clone()).unwrap()
}

/// Sends an import and polls it to the end: (status, body) of the last answer.
pub(crate) async fn import_file(
    app: &TestApp,
    path: &str,
    t: &str,
    file: Vec<u8>,
    name: &str,
) -> (u16, Value) {
    let send_part = |bytes: Option<Vec<u8>>| {
        let mut form = reqwest::multipart::Form::new();
        if let Some(b) = bytes {
            form = form.part(
                "annotation_file",
                reqwest::multipart::Part::bytes(b).file_name(name.to_string()),
            );
        }
        app.client
            .put(app.url(path))
            .header("Authorization", format!("Token {t}"))
            .multipart(form)
            .send()
    };
    let r = TestApp::read(send_part(Some(file)).await.unwrap()).await;
    if r.status != 202 {
        return (r.status.as_u16(), r.body);
    }
    for _ in 0..300 {
        let r = TestApp::read(send_part(None).await.unwrap()).await;
        if r.status != 202 {
            return (r.status.as_u16(), r.body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("import did not finish")
}

fn images_part(xml: &str) -> &str {
    &xml[xml.find("  <image ").unwrap_or(xml.len())..]
}

/// "CVAT 1.1" import (§10.3, §10.7): what we export comes back the same; tracks from
/// "CVAT for video"; bad files fail with a message and change nothing.
async fn import_cvat(app: TestApp) {
    let t = app.admin_token.clone();
    let (a, _) = annotated_task(&app, &t, json!({})).await;
    let (b, b_jobs) = annotated_task(&app, &t, json!({"segment_size": 4})).await;
    let (ta, tb) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    let i = ids(&a);
    let doc = json!({"version": 0,
        "tags": [{"frame": 2, "label_id": i.car, "group": 0, "attributes": [{"spec_id": i.model, "value": "Benz"}]}],
        "shapes": [rect(0, i.car, [1.25, 2.5, 30.0, 40.0], json!([{"spec_id": i.model, "value": "Audi & <Co>"}, {"spec_id": i.color, "value": "gray"}])),
            {"type": "polygon", "occluded": true, "z_order": 0, "points": [1.0, 2.0, 3.0, 4.0, 5.0, 1.0], "frame": 5, "label_id": i.person, "group": 3, "attributes": []},
            {"type": "polyline", "occluded": false, "z_order": 0, "points": [1.0, 1.0, 7.5, 7.5], "frame": 6, "label_id": i.sky, "group": 0, "attributes": []},
            {"type": "points", "occluded": false, "z_order": 0, "points": [4.0, 4.0], "frame": 7, "label_id": i.person, "group": 0, "attributes": [{"spec_id": i.age, "value": "7"}]},
            {"type": "cuboid", "occluded": false, "z_order": 0, "points": (0..16).map(|n| n as f64).collect::<Vec<_>>(), "frame": 3, "label_id": i.car, "group": 0, "attributes": []}],
        "tracks": [{"frame": 1, "label_id": i.sky, "group": 0, "attributes": [], "shapes": [
            {"type": "rectangle", "occluded": false, "points": [0.0, 0.0, 10.0, 10.0], "frame": 1, "outside": false, "attributes": []},
            {"type": "rectangle", "occluded": false, "points": [30.0, 0.0, 40.0, 10.0], "frame": 3, "outside": false, "attributes": []},
            {"type": "rectangle", "occluded": false, "points": [30.0, 0.0, 40.0, 10.0], "frame": 6, "outside": true, "attributes": []}]}]});
    let r = send(
        &app,
        Method::PUT,
        &format!("/api/v1/tasks/{ta}/annotations"),
        &t,
        Some(doc),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // images format: export A, import into B (segments differ), export B: the same
    let xml_a = export_xml(&app, ta, "CVAT for images 1.1", &t).await;
    let zip_a = crate::media::zip(&[("nested/annotations.xml", xml_a.clone().into_bytes())]);
    let (status, body) = import_file(
        &app,
        &format!("/api/v1/tasks/{tb}/annotations?format=CVAT%201.1"),
        &t,
        zip_a,
        "a.zip",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let xml_b = export_xml(&app, tb, "CVAT for images 1.1", &t).await;
    assert_eq!(images_part(&xml_b), images_part(&xml_a));
    let got = task_annotations(&app, tb, &t).await;
    assert_eq!(
        got["shapes"].as_array().unwrap().len(),
        5 + 5,
        "the track came back as its 5 visible frames"
    );
    assert!(
        got["shapes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["attributes"][0]["value"] == "Audi & <Co>")
    );
    // video format: the track comes back as a track with its keyframes
    let xml_v = export_xml(&app, ta, "CVAT for video 1.1", &t).await;
    let (status, body) = import_file(
        &app,
        &format!("/api/v1/tasks/{tb}/annotations?format=CVAT%201.1"),
        &t,
        xml_v.into_bytes(),
        "v.xml",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let got = task_annotations(&app, tb, &t).await;
    let track_frames: Vec<Vec<i64>> = got["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t["shapes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["frame"].as_i64().unwrap())
                .collect()
        })
        .collect();
    // tracks are cut at B's job boundary 3|4: the sky track (keys 1, 3, outside 6) into
    // [1, 3] and [4, 6]; each standalone shape became a two-keyframe track (the last
    // frame's one keyframe), the cuboid's on frames 3|4 cut in two
    assert_eq!(
        track_frames,
        vec![
            vec![1, 3],
            vec![0, 1],
            vec![3],
            vec![4, 6],
            vec![4],
            vec![5, 6],
            vec![6, 7],
            vec![7]
        ]
    );
    let before = task_annotations(&app, tb, &t).await;
    // bad files fail with a message and change nothing
    let bad: Vec<(&str, Vec<u8>, &str)> = vec![
        ("broken.xml", b"<annotations><image id=\"0\"><box label=".to_vec(), "malformed XML"),
        ("label.xml", br#"<annotations><image id="0"><tag label="unicorn"></tag></image></annotations>"#.to_vec(), "Label 'unicorn' is not registered for this task"),
        ("frame.xml", br#"<annotations><image id="99"><tag label="sky"></tag></image></annotations>"#.to_vec(), "Unknown frame 99"),
        ("bomb.xml", br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxxxx"><!ENTITY y "&x;&x;&x;&x;&x;">]><annotations><image id="0"><tag label="sky"><attribute name="n">&y;</attribute></tag></image></annotations>"#.to_vec(), "entity"),
        ("json.json", b"{}".to_vec(), "no <annotations>"),
        ("empty.zip", crate::media::zip(&[("readme.txt", b"hi".to_vec())]), "no .xml"),
        ("huge.xml", br#"<annotations><image id="0"><box label="sky" occluded="0" xtl="0" ytl="0" xbr="1e300" ybr="1"></box></image></annotations>"#.to_vec(), "not a usable number"),
    ];
    for (name, bytes, msg) in bad {
        let (status, body) = import_file(
            &app,
            &format!("/api/v1/tasks/{tb}/annotations?format=CVAT%201.1"),
            &t,
            bytes,
            name,
        )
        .await;
        assert_eq!(status, 500, "{name}: {body}");
        assert!(body.as_str().unwrap().contains(msg), "{name}: {body}");
        assert_eq!(
            task_annotations(&app, tb, &t).await,
            before,
            "{name} changed nothing"
        );
    }
    // protocol errors
    let (status, body) = import_file(
        &app,
        &format!("/api/v1/tasks/{tb}/annotations?format=CVAT%201.1"),
        &t,
        vec![],
        "e.xml",
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"annotation_file": ["No file was submitted."]}))
    );
    let (status, body) = import_file(
        &app,
        &format!("/api/v1/tasks/{tb}/annotations?format=Nope"),
        &t,
        b"x".to_vec(),
        "x",
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!(["Unknown input format 'Nope'"]))
    );
    // a job import keeps only the job's frames and leaves the other job alone
    let (status, body) = import_file(
        &app,
        &format!("/api/v1/jobs/{}/annotations?format=CVAT%201.1", b_jobs[1]),
        &t,
        xml_a.clone().into_bytes(),
        "a.xml",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let second = app
        .get(&format!("/api/v1/jobs/{}/annotations", b_jobs[1]), &t)
        .await
        .body;
    assert!(
        second["shapes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| (4..=7).contains(&s["frame"].as_i64().unwrap()))
    );
    assert_eq!(
        second["shapes"].as_array().unwrap().len(),
        3 + 2,
        "polygon, polyline, points and the track's frames 4 and 5"
    );
    let first = app
        .get(&format!("/api/v1/jobs/{}/annotations", b_jobs[0]), &t)
        .await
        .body;
    assert_eq!(first["tracks"], before_tracks_of(&before, 0, 3));
}

/// Polls an export to the end, downloads it and returns the zip's files.
async fn export_files(app: &TestApp, tid: i64, format: &str, t: &str) -> Vec<(String, Vec<u8>)> {
    crate::media::unzip(&crate::formats::export(app, tid, "annotations", format, t).await)
}

/// "YOLO 1.1": rectangles (standalone and tracks') out, back in, out again the same.
async fn yolo_round_trip(app: TestApp) {
    let t = app.admin_token.clone();
    let (a, _) = annotated_task(&app, &t, json!({})).await;
    let (b, _) = annotated_task(&app, &t, json!({})).await;
    let (ta, tb) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    let i = ids(&a);
    let doc = json!({"version": 0, "tags": [],
        "shapes": [rect(0, i.car, [8.0, 4.0, 40.0, 20.0], json!([])), rect(3, i.sky, [0.0, 0.0, 64.0, 48.0], json!([])),
            {"type": "polygon", "occluded": false, "z_order": 0, "points": [1.0, 2.0, 3.0, 4.0, 5.0, 1.0], "frame": 5, "label_id": i.person, "group": 0, "attributes": []}],
        "tracks": [{"frame": 1, "label_id": i.person, "group": 0, "attributes": [], "shapes": [
            {"type": "rectangle", "occluded": false, "points": [0.0, 0.0, 10.0, 10.0], "frame": 1, "outside": false, "attributes": []},
            {"type": "rectangle", "occluded": false, "points": [30.0, 0.0, 40.0, 10.0], "frame": 3, "outside": true, "attributes": []}]}]});
    let r = send(
        &app,
        Method::PUT,
        &format!("/api/v1/tasks/{ta}/annotations"),
        &t,
        Some(doc),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let files_a = export_files(&app, ta, "YOLO 1.1", &t).await;
    let get = |files: &[(String, Vec<u8>)], name: &str| {
        String::from_utf8(
            files
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{name}"))
                .1
                .clone(),
        )
        .unwrap()
    };
    assert_eq!(get(&files_a, "obj.names"), "car\nperson\nsky\n");
    assert!(get(&files_a, "obj.data").starts_with("classes = 3\n"));
    assert_eq!(get(&files_a, "train.txt").lines().count(), 8);
    assert_eq!(
        get(&files_a, "obj_train_data/car0.txt"),
        "0 0.375000 0.250000 0.500000 0.333333\n"
    );
    assert_eq!(
        get(&files_a, "obj_train_data/car3.txt"),
        "2 0.500000 0.500000 1.000000 1.000000\n"
    );
    assert_eq!(
        get(&files_a, "obj_train_data/car2.txt"),
        "1 0.078125 0.104167 0.156250 0.208333\n"
    );
    assert_eq!(
        get(&files_a, "obj_train_data/car5.txt"),
        "",
        "polygons are not written"
    );
    let zip_a = crate::media::zip(
        &files_a
            .iter()
            .map(|(n, b)| (n.as_str(), b.clone()))
            .collect::<Vec<_>>(),
    );
    let (status, body) = import_file(
        &app,
        &format!("/api/v1/tasks/{tb}/annotations?format=YOLO%201.1"),
        &t,
        zip_a,
        "y.zip",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let got = task_annotations(&app, tb, &t).await;
    assert_eq!(
        got["shapes"].as_array().unwrap().len(),
        4,
        "two boxes and the track's two visible frames"
    );
    // 6 decimals of the image size: back within a thousandth of a pixel
    let pts: Vec<f64> = got["shapes"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        pts.iter()
            .zip([8.0, 4.0, 40.0, 20.0])
            .all(|(a, b)| (a - b).abs() < 1e-3),
        "{pts:?}"
    );
    let files_b = export_files(&app, tb, "YOLO 1.1", &t).await;
    for (name, bytes) in &files_a {
        assert_eq!(&get(&files_b, name).into_bytes(), bytes, "{name}");
    }
    // bad files
    for (name, body, msg) in [
        (
            "obj_train_data/car0.txt",
            "7 0.5 0.5 0.1 0.1\n",
            "class 7 is not in obj.names",
        ),
        (
            "obj_train_data/car0.txt",
            "0 0.5 0.5\n",
            "expected \"class cx cy w h\"",
        ),
        (
            "obj_train_data/nowhere.txt",
            "0 0.5 0.5 0.1 0.1\n",
            "Unknown frame nowhere",
        ),
    ] {
        let zip = crate::media::zip(&[
            ("obj.names", b"car\nperson\nsky\n".to_vec()),
            (name, body.as_bytes().to_vec()),
        ]);
        let (status, body) = import_file(
            &app,
            &format!("/api/v1/tasks/{tb}/annotations?format=YOLO%201.1"),
            &t,
            zip,
            "y.zip",
        )
        .await;
        assert_eq!(status, 500);
        assert!(body.as_str().unwrap().contains(msg), "{body}");
    }
    assert_eq!(
        task_annotations(&app, tb, &t).await,
        got,
        "failed imports changed nothing"
    );
}

/// The tracks of a merged document that start inside `[a, b]`.
fn before_tracks_of(doc: &Value, a: i64, b: i64) -> Value {
    Value::Array(
        doc["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| (a..=b).contains(&t["frame"].as_i64().unwrap()))
            .cloned()
            .collect(),
    )
}

async fn write_with(
    app: &TestApp,
    job: i64,
    token: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Resp {
    let mut rb = app
        .client
        .patch(app.url(&format!("/api/v1/jobs/{job}/annotations?action=create")))
        .header("Authorization", format!("Token {token}"))
        .json(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    TestApp::read(rb.send().await.unwrap()).await
}

/// ferrocat's safe saves: If-Match refuses a stale save; an Idempotency-Key retry gets
/// the stored answer and writes nothing.
async fn if_match_and_idempotency_key(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, jobs) = annotated_task(&app, &t, json!({})).await;
    let i = ids(&task);
    let job = jobs[0];
    let body = json!({"version": 0, "tags": [], "tracks": [], "shapes": [rect(0, i.sky, [1.0, 1.0, 2.0, 2.0], json!([]))]});
    let r = write_with(&app, job, &t, &[("If-Match", "\"0\"")], &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["etag"], "\"1\"");
    // someone saved meanwhile: the stale save is refused and changes nothing
    let r = write_with(&app, job, &t, &[("If-Match", "\"0\"")], &body).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.headers["etag"], "\"1\"");
    let r = write_with(&app, job, &t, &[("If-Match", "W/\"1\"")], &body).await;
    assert_eq!(r.status, 200);
    // idempotent retries
    let r1 = write_with(&app, job, &t, &[("Idempotency-Key", "save-42")], &body).await;
    assert_eq!(r1.status, 200);
    assert_eq!(r1.body["version"], 3);
    let r2 = write_with(&app, job, &t, &[("Idempotency-Key", "save-42")], &body).await;
    assert_eq!(r2.status, 200);
    assert_eq!(r2.body, r1.body);
    assert_eq!(r2.headers["idempotent-replayed"], "true");
    let got = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await
        .body;
    assert_eq!(got["version"], 3);
    assert_eq!(got["shapes"].as_array().unwrap().len(), 3);
    // the same key for another request is refused
    let other = json!({"version": 0, "tags": [], "tracks": [], "shapes": []});
    let r = write_with(&app, job, &t, &[("Idempotency-Key", "save-42")], &other).await;
    assert_eq!(r.status, 422);
    // keys are per user
    let (_, t2) = app.user_in("second", &["admin"]).await;
    let r = write_with(&app, job, &t2, &[("Idempotency-Key", "save-42")], &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["version"], 4);
    // both at once: a replay of an idempotent save whose If-Match is now stale still
    // answers the stored response
    let r = write_with(
        &app,
        job,
        &t,
        &[("Idempotency-Key", "k2"), ("If-Match", "\"4\"")],
        &body,
    )
    .await;
    assert_eq!(r.status, 200);
    let r = write_with(
        &app,
        job,
        &t,
        &[("Idempotency-Key", "k2"), ("If-Match", "\"4\"")],
        &body,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["version"], 5);
    let r = write_with(&app, job, &t, &[("Idempotency-Key", "")], &body).await;
    assert_eq!(r.status, 400);
}

/// job.access / job.change: an observer reads but cannot write, the assignee writes, a
/// stranger sees nothing.
async fn permissions_by_job(app: TestApp) {
    let t = app.admin_token.clone();
    let (task, jobs) = annotated_task(&app, &t, json!({})).await;
    let i = ids(&task);
    let tid = task["id"].as_i64().unwrap();
    let job = jobs[0];
    let (_, observer) = app.user_in("watcher", &["observer"]).await;
    let (annotator_id, annotator) = app.user_in("labeler", &["annotator"]).await;
    let (_, stranger) = app.user_in("stranger", &["user"]).await;
    let (_, other_annotator) = app.user_in("other", &["annotator"]).await;
    // with an assignee on the task and on the job, only the job's assignee (and the
    // task's owner, assignee, admins) may write the job (CVAT lets anyone annotate jobs of
    // a task without assignee)
    let (boss_id, _) = app.user_in("boss", &["user"]).await;
    let r = app
        .patch(
            &format!("/api/v1/tasks/{tid}"),
            &t,
            json!({"assignee": boss_id}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .patch(
            &format!("/api/v1/jobs/{job}"),
            &t,
            json!({"assignee": annotator_id}),
        )
        .await;
    assert_eq!(r.status, 200);
    let body = json!({"version": 0, "tags": [], "tracks": [],
        "shapes": [rect(0, i.sky, [1.0, 1.0, 2.0, 2.0], json!([]))]});
    let get = |path: String, token: String| {
        let app = &app;
        async move { app.get(&path, &token).await.status }
    };
    assert_eq!(
        get(format!("/api/v1/jobs/{job}/annotations"), observer.clone()).await,
        200
    );
    assert_eq!(
        get(format!("/api/v1/tasks/{tid}/annotations"), observer.clone()).await,
        200
    );
    assert_eq!(
        get(format!("/api/v1/jobs/{job}/annotations"), stranger.clone()).await,
        403
    );
    assert_eq!(
        get(format!("/api/v1/jobs/{job}/annotations"), annotator.clone()).await,
        200
    );
    for token in [&observer, &stranger, &other_annotator] {
        let r = patch_action(&app, job, "create", token, body.clone()).await;
        assert_eq!(r.status, 403, "{}", r.body);
        let r = send(
            &app,
            Method::DELETE,
            &format!("/api/v1/jobs/{job}/annotations"),
            token,
            None,
        )
        .await;
        assert_eq!(r.status, 403);
    }
    let r = patch_action(&app, job, "create", &annotator, body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // the assignee of a job may not rewrite the whole task
    let r = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/tasks/{tid}/annotations"),
        &annotator,
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    let anon = app
        .call(
            Method::GET,
            &format!("/api/v1/jobs/{job}/annotations"),
            None,
            None,
        )
        .await;
    assert_eq!(anon.status, 401);
    let got = app
        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
        .await
        .body;
    assert_eq!(got["shapes"].as_array().unwrap().len(), 1);
    assert_eq!(got["version"], 1);
}

/// The seed's two log payloads, echoed as the seed shows (server time zone
/// Asia/Shanghai), stored for per-job working time; bad events answer per element.
async fn logs_in_shanghai(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.time_zone = "Asia/Shanghai".into()).await
    else {
        return;
    };
    let t = app.admin_token.clone();
    let (_, jobs) = annotated_task(&app, &t, json!({})).await;
    let job = jobs[0];
    let r = app
        .call(
            Method::POST,
            "/api/v1/server/logs",
            Some(&t),
            Some(json!([{
                "name": "Send user activity", "time": "2020-08-13T01:45:53.569Z",
                "client_id": "642862", "is_active": true, "payload": {"working_time": 264149}
            }])),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body,
        json!([{"client_id": 642862, "name": "Send user activity",
                "time": "2020-08-13T09:45:53.569000+08:00",
                "payload": {"working_time": 264149}, "is_active": true}])
    );
    let events = json!([
        {"name": "Load job", "time": "2020-08-13T01:45:53.569Z", "client_id": "642862", "job_id": job, "task_id": 19,
         "is_active": true, "payload": {"duration": 5209, "frame count": 8, "track count": 0, "object count": 0,
            "box count": 0, "polygon count": 0, "polyline count": 0, "points count": 0, "cuboids count": 0, "tag count": 0}},
        {"name": "Fit image", "time": "2020-08-13T01:45:58.799Z", "client_id": "642862", "job_id": job, "task_id": 19,
         "is_active": true, "payload": {}},
        {"name": "Draw object", "time": "2020-08-13T01:46:15.345Z", "client_id": "642862", "job_id": job, "task_id": 19,
         "is_active": true, "payload": {"count": 1, "duration": 8960}},
        {"name": "Change attribute", "time": "2020-08-13T01:46:19.895Z", "client_id": "642862", "job_id": job, "task_id": 19,
         "is_active": true, "payload": {"id": 30, "value": "gray", "object_id": 1}},
        {"name": "Change frame", "time": "2020-08-13T01:46:27.376Z", "client_id": "642862", "job_id": job, "task_id": 19,
         "is_active": true, "payload": {"from": 0, "to": 1}},
        {"name": "Send user activity", "time": "2020-08-13T01:47:00Z", "client_id": 642862, "job_id": job,
         "is_active": false, "payload": {"working_time": 1000}},
        {"name": "Send user activity", "time": "2020-08-13T01:48:00.5+00:00", "client_id": 642862, "job_id": job,
         "is_active": true, "message": "note", "payload": {"working_time": 2500}}
    ]);
    let r = app
        .call(
            Method::POST,
            "/api/v1/server/logs",
            Some(&t),
            Some(events.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body.as_array().unwrap().len(), 7);
    assert_eq!(
        r.body[0],
        json!({"job_id": job, "task_id": 19, "client_id": 642862, "name": "Load job",
               "time": "2020-08-13T09:45:53.569000+08:00", "payload": events[0]["payload"], "is_active": true})
    );
    assert_eq!(r.body[5]["time"], "2020-08-13T09:47:00+08:00");
    assert_eq!(r.body[6]["message"], "note");
    assert_eq!(app.db.job_events(job).await.unwrap().len(), 7);
    assert_eq!(app.db.job_working_time_ms(job).await.unwrap(), 3500);
    // bad events: one error object per element, nothing stored
    let r = app
        .call(Method::POST, "/api/v1/server/logs", Some(&t), Some(json!([
            {"name": "ok", "time": "2020-08-13T01:45:53Z", "client_id": 1, "is_active": true, "job_id": job},
            {"time": "yesterday", "client_id": "x", "is_active": "maybe", "payload": [1], "job_id": job}
        ])))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body[0], json!({}));
    assert_eq!(r.body[1]["name"], json!(["This field is required."]));
    assert!(
        r.body[1]["time"][0]
            .as_str()
            .unwrap()
            .starts_with("Datetime has wrong format")
    );
    assert_eq!(
        r.body[1]["client_id"],
        json!(["A valid integer is required."])
    );
    assert_eq!(r.body[1]["is_active"], json!(["Must be a valid boolean."]));
    assert_eq!(
        r.body[1]["payload"],
        json!(["Expected a dictionary of items but got type \"list\"."])
    );
    assert_eq!(app.db.job_events(job).await.unwrap().len(), 7);
    let r = app
        .call(Method::POST, "/api/v1/server/logs", Some(&t), Some(json!([
            {"name": "a\u{0}b", "time": "2020-08-13T01:45:53Z", "client_id": 1, "is_active": true}
        ])))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body[0]["name"],
        json!(["Null characters are not allowed."])
    );
    // a list only: one event as an object is refused, as CVAT 1.1 does
    let one = app
        .call(
            Method::POST,
            "/api/v1/server/logs",
            Some(&t),
            Some(events[0].clone()),
        )
        .await;
    assert_eq!(one.status, 400);
    assert_eq!(
        one.body,
        json!({"non_field_errors": ["Expected a list of items but got type \"dict\"."]})
    );
    assert_eq!(app.db.job_events(job).await.unwrap().len(), 7);
    let anon = app
        .call(Method::POST, "/api/v1/server/logs", None, Some(json!([])))
        .await;
    assert_eq!(anon.status, 401);
}

mod logs_with_time_zone {
    use crate::common::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::logs_in_shanghai(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::logs_in_shanghai(Backend::Postgres).await
    }
}

/// Property: random valid documents survive PUT → GET unchanged, except for filled
/// attribute defaults (all attributes are given here, so nothing is filled) and GET's
/// ordering.
async fn property_put_get_round_trip(app: TestApp) {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let t = app.admin_token.clone();
    let (task, jobs) = annotated_task(&app, &t, json!({})).await;
    let i = ids(&task);
    let job = jobs[0];
    let coord = prop_oneof![
        -1.0e6f64..1.0e6,
        any::<i32>().prop_map(f64::from),
        (0u32..10_000).prop_map(|n| f64::from(n) / 7.0),
    ];
    let value = "[a-zA-Z0-9 ,.;:!?éß漢字-]{0,12}";
    let shape = (
        0usize..5,
        proptest::collection::vec(coord.clone(), 1..=8),
        0i64..8,
        any::<bool>(),
        -3i64..3,
        proptest::option::of(0i64..4),
        value,
        value,
    )
        .prop_map(move |(k, mut pts, frame, occluded, z, group, v1, v2)| {
            let ty = ["rectangle", "polygon", "polyline", "points", "cuboid"][k];
            let even = pts.len() - pts.len() % 2;
            let n = match ty {
                "rectangle" => 4,
                "cuboid" => 16,
                "polygon" => even.max(6),
                _ => even.max(2),
            };
            while pts.len() < n {
                pts.push(pts[0] + 0.5 * pts.len() as f64);
            }
            pts.truncate(n);
            json!({"type": ty, "occluded": occluded, "z_order": z, "points": pts, "frame": frame,
                   "label_id": i.car, "group": group,
                   "attributes": [{"spec_id": i.model, "value": v1}, {"spec_id": i.color, "value": v2}]})
        });
    let tag = (0i64..8, value).prop_map(move |(frame, v)| {
        json!({"frame": frame, "label_id": i.person, "group": null, "attributes": [{"spec_id": i.age, "value": v}]})
    });
    let track = (proptest::collection::btree_set(0i64..8, 1..4), coord, any::<bool>()).prop_map(move |(frames, x, outside)| {
        let frames: Vec<i64> = frames.into_iter().collect();
        let shapes: Vec<Value> = frames.iter().enumerate().map(|(n, f)| json!({
            "type": "rectangle", "occluded": false, "z_order": 0, "points": [x, x, x + 1.0 + n as f64, x + 2.0],
            "frame": f, "outside": outside && n + 1 == frames.len(), "attributes": [{"spec_id": i.age, "value": n.to_string()}]
        })).collect();
        json!({"frame": frames[0], "label_id": i.person, "group": 0, "attributes": [], "shapes": shapes})
    });
    let strategy = (
        proptest::collection::vec(shape, 0..12),
        proptest::collection::vec(tag, 0..4),
        proptest::collection::vec(track, 0..3),
    );
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    runner
        .run(&strategy, |(shapes, tags, tracks)| {
            let doc = json!({"version": 0, "shapes": shapes, "tags": tags, "tracks": tracks});
            let (put, got) = tokio::task::block_in_place(|| {
                handle.block_on(async {
                    let put = send(
                        &app,
                        Method::PUT,
                        &format!("/api/v1/jobs/{job}/annotations"),
                        &t,
                        Some(doc.clone()),
                    )
                    .await;
                    let got = app
                        .get(&format!("/api/v1/jobs/{job}/annotations"), &t)
                        .await;
                    (put, got)
                })
            });
            prop_assert_eq!(put.status, 200, "{}", put.body);
            let strip = |v: &Value| {
                let mut v = v.clone();
                for k in ["shapes", "tags", "tracks"] {
                    for o in v[k].as_array_mut().unwrap() {
                        o.as_object_mut().unwrap().remove("id");
                        if let Some(ks) = o.get_mut("shapes") {
                            for s in ks.as_array_mut().unwrap() {
                                s.as_object_mut().unwrap().remove("id");
                            }
                        }
                    }
                }
                v
            };
            let sorted = |v: &Value, k: &str| {
                let mut items = v[k].as_array().unwrap().clone();
                items.sort_by_key(|o| (o["frame"].as_i64().unwrap(), o["id"].as_i64().unwrap()));
                Value::Array(items)
            };
            // the write answer is the request plus ids
            let mut sent = doc.clone();
            sent["version"] = put.body["version"].clone();
            prop_assert_eq!(strip(&put.body), strip(&sent));
            // GET: the same objects in frame order, ids as the write answered
            prop_assert_eq!(&got.body["shapes"], &sorted(&put.body, "shapes"));
            prop_assert_eq!(&got.body["tags"], &sorted(&put.body, "tags"));
            prop_assert_eq!(&got.body["tracks"], &put.body["tracks"]);
            Ok(())
        })
        .unwrap();
}
