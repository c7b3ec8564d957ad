//! api-v1 §5 and CVAT 2's project labels and exports: projects, their tasks, their
//! permissions, cascade delete and project exports read by Datumaro and pycocotools.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::db_tests;

db_tests!(
    crud_filters_and_paging,
    permissions_by_role,
    tasks_take_the_project_labels,
    delete_cascades_to_tasks_and_media,
    project_exports_hold_every_task,
);

use crate::annotations::car_labels;

async fn new_project(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/api/v1/projects", Some(token), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

fn names(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

async fn crud_filters_and_paging(app: TestApp) {
    let t = app.admin_token.clone();
    let (bob, _) = app.user_in("bob", &["user"]).await;
    let p = new_project(
        &app,
        &t,
        json!({"name": "Cars", "bug_tracker": "http://bugs/1"}),
    )
    .await;
    assert_eq!(p["owner"], 1);
    assert_eq!(p["assignee"], Value::Null);
    assert_eq!(p["status"], "annotation");
    assert_eq!(p["labels"], json!([]));
    let id = p["id"].as_i64().unwrap();
    assert_eq!(p["url"], app.url(&format!("/api/v1/projects/{id}")));
    new_project(&app, &t, json!({"name": "Birds", "assignee": bob})).await;
    new_project(&app, &t, json!({"name": "bicycles"})).await;

    let all = app.get("/api/v1/projects", &t).await.body;
    assert_eq!(all["count"], 3);
    assert_eq!(names(&all), ["bicycles", "Birds", "Cars"], "newest first");
    let r = app.get("/api/v1/projects?name=bi", &t).await.body;
    assert_eq!(names(&r), ["bicycles", "Birds"], "substring, any case");
    let r = app.get("/api/v1/projects?assignee=bob", &t).await.body;
    assert_eq!(names(&r), ["Birds"]);
    let r = app.get("/api/v1/projects?search=cars", &t).await.body;
    assert_eq!(names(&r), ["Cars"]);
    let r = app.get("/api/v1/projects?ordering=name", &t).await.body;
    assert_eq!(names(&r), ["bicycles", "Birds", "Cars"]);
    let r = app
        .get("/api/v1/projects?page_size=2&page=2", &t)
        .await
        .body;
    assert_eq!(
        (r["count"].as_i64(), names(&r)),
        (Some(3), vec!["Cars".to_string()])
    );
    assert!(r["previous"].is_string());
    assert_eq!(app.get("/api/v1/projects?page=9", &t).await.status, 404);

    let r = app
        .patch(
            &format!("/api/v1/projects/{id}"),
            &t,
            json!({"name": "Cars 2", "assignee": bob}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["name"].as_str(), r.body["assignee"].as_i64()),
        (Some("Cars 2"), Some(bob))
    );
    assert_eq!(
        r.body["updated_date"], p["updated_date"],
        "CVAT never moves it"
    );
    let got = app.get(&format!("/api/v1/projects/{id}"), &t).await;
    assert_eq!(got.body, r.body);

    // bad input: CVAT's error shapes, nothing stored
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": "x".repeat(257)}), "name"),
        (json!({"name": "x", "owner": 999}), "owner"),
        (
            json!({"name": "x", "labels": [{"name": "a"}, {"name": "a"}]}),
            "labels",
        ),
    ] {
        let r = app.post("/api/v1/projects", Some(&t), body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(r.body[field].is_array(), "{body}: {}", r.body);
    }
    assert_eq!(app.get("/api/v1/projects", &t).await.body["count"], 3);
    let put = app
        .call(
            Method::PUT,
            &format!("/api/v1/projects/{id}"),
            Some(&t),
            Some(json!({"name": "y"})),
        )
        .await;
    assert_eq!(put.status, 405);
    assert_eq!(app.get("/api/v1/projects/999", &t).await.status, 404);
    assert_eq!(app.get("/api/v1/projects/x", &t).await.status, 404);
    // the API's index names the collections
    let root = app.get("/api/v1/", &t).await.body;
    assert_eq!(root["projects"], app.url("/api/v1/projects"));
    assert_eq!(root["tasks"], app.url("/api/v1/tasks"));
}

async fn permissions_by_role(app: TestApp) {
    let t = app.admin_token.clone();
    let (_, owner) = app.user_in("owner", &["user"]).await;
    let (_, observer) = app.user_in("watcher", &["observer"]).await;
    let (annotator_id, annotator) = app.user_in("annie", &["annotator"]).await;
    let (_, stranger) = app.user_in("stranger", &["user"]).await;
    let p = new_project(
        &app,
        &owner,
        json!({"name": "mine", "labels": [{"name": "car"}]}),
    )
    .await;
    let pid = p["id"].as_i64().unwrap();
    let other = new_project(&app, &t, json!({"name": "admin's"})).await;

    // the observer reads every project and changes none
    assert_eq!(
        app.get("/api/v1/projects", &observer).await.body["count"],
        2
    );
    assert_eq!(
        app.get(&format!("/api/v1/projects/{pid}"), &observer)
            .await
            .status,
        200
    );
    let r = app
        .patch(
            &format!("/api/v1/projects/{pid}"),
            &observer,
            json!({"name": "no"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["detail"],
        "You do not have permission to perform this action."
    );
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/projects/{pid}"),
            Some(&observer),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        app.post("/api/v1/projects", Some(&observer), json!({"name": "o"}))
            .await
            .status,
        403
    );
    assert_eq!(
        app.post("/api/v1/projects", Some(&annotator), json!({"name": "a"}))
            .await
            .status,
        403
    );

    // a stranger sees neither, and may not put tasks into them
    assert_eq!(
        app.get("/api/v1/projects", &stranger).await.body["count"],
        0
    );
    assert_eq!(
        app.get(&format!("/api/v1/projects/{pid}"), &stranger)
            .await
            .status,
        403
    );
    let r = app
        .post(
            "/api/v1/tasks",
            Some(&stranger),
            json!({"name": "in", "project": pid}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // the annotator of one task of the project sees that project (not the other)
    let task = crate::tasks::create(
        &app,
        &owner,
        json!({"name": "job", "project": pid, "assignee": annotator_id}),
    )
    .await;
    let tid = task["id"].as_i64().unwrap();
    crate::tasks::upload(
        &app,
        &owner,
        tid,
        &[("a.jpg", crate::media::jpeg(16, 16, 1))],
        &[("image_quality", "70")],
    )
    .await;
    crate::tasks::wait(&app, &owner, tid).await;
    let seen = app.get("/api/v1/projects", &annotator).await.body;
    assert_eq!(names(&seen), ["mine"]);
    assert_eq!(
        app.get(&format!("/api/v1/projects/{pid}"), &annotator)
            .await
            .status,
        200
    );
    let oid = other["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/projects/{oid}"), &annotator)
            .await
            .status,
        403
    );
    let r = app
        .get(&format!("/api/v1/projects/{pid}/tasks"), &annotator)
        .await;
    assert_eq!(r.body["count"], 1, "{}", r.body);
    // the project owner owns its tasks (§4.2); the owner deletes
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/projects/{pid}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
}

async fn tasks_take_the_project_labels(app: TestApp) {
    let t = app.admin_token.clone();
    let p = new_project(&app, &t, json!({"name": "street", "labels": car_labels()})).await;
    let pid = p["id"].as_i64().unwrap();
    assert_eq!(p["labels"].as_array().unwrap().len(), 3);
    assert_eq!(
        p["labels"][0]["attributes"][0]["values"],
        json!(["BMW", "Benz", "Audi"])
    );

    // a task created in the project takes its labels, and may not bring its own
    let task = crate::tasks::create(&app, &t, json!({"name": "t1", "project": pid})).await;
    assert_eq!(task["project"], pid);
    let label_names = |task: &Value| -> Vec<String> {
        task["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(label_names(&task), ["car", "person", "sky"]);
    assert_eq!(task["labels"][0]["attributes"][1]["default_value"], "white");
    let tid = task["id"].as_i64().unwrap();
    let r = app
        .post(
            "/api/v1/tasks",
            Some(&t),
            json!({"name": "own", "project": pid, "labels": [{"name": "dog"}]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["labels"][0]
            .as_str()
            .unwrap()
            .contains("project's labels"),
        "{}",
        r.body
    );
    for (body, field) in [
        (json!({"name": "x", "project": 999}), "project"),
        (json!({"name": "x", "project": "a"}), "project"),
    ] {
        let r = app.post("/api/v1/tasks", Some(&t), body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(r.body[field].is_array(), "{}", r.body);
    }
    let r = app
        .patch(
            &format!("/api/v1/tasks/{tid}"),
            &t,
            json!({"labels": [{"name": "dog"}]}),
        )
        .await;
    assert_eq!(
        r.status, 400,
        "a task in a project keeps the project's labels"
    );

    // a label added to the project reaches its tasks
    let r = app
        .patch(
            &format!("/api/v1/projects/{pid}"),
            &t,
            json!({"labels": [{"name": "bus", "attributes": [
                {"name": "line", "mutable": true, "input_type": "text", "values": ["1"]}]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let task = app.get(&format!("/api/v1/tasks/{tid}"), &t).await.body;
    assert_eq!(label_names(&task), ["car", "person", "sky", "bus"]);
    assert_eq!(task["labels"][3]["attributes"][0]["name"], "line");

    // moving a task in: only with labels the project has; it gets the others
    let foreign =
        crate::tasks::create(&app, &t, json!({"name": "f", "labels": [{"name": "dog"}]})).await;
    let fid = foreign["id"].as_i64().unwrap();
    let r = app
        .patch(&format!("/api/v1/tasks/{fid}"), &t, json!({"project": pid}))
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["project"][0].as_str().unwrap().contains("dog"),
        "{}",
        r.body
    );
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{fid}"), &t).await.body["project"],
        Value::Null
    );
    let fits =
        crate::tasks::create(&app, &t, json!({"name": "s", "labels": [{"name": "sky"}]})).await;
    let sid = fits["id"].as_i64().unwrap();
    let r = app
        .patch(&format!("/api/v1/tasks/{sid}"), &t, json!({"project": pid}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["project"], pid);
    assert_eq!(label_names(&r.body), ["sky", "car", "person", "bus"]);

    let r = app
        .get(&format!("/api/v1/projects/{pid}/tasks"), &t)
        .await
        .body;
    assert_eq!(names(&r), ["s", "t1"]);
    let r = app
        .get(&format!("/api/v1/projects/{pid}/tasks?name=t"), &t)
        .await
        .body;
    assert_eq!(names(&r), ["t1"]);
    // and out again: labels stay
    let r = app
        .patch(
            &format!("/api/v1/tasks/{sid}"),
            &t,
            json!({"project": null}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["project"], Value::Null);
    assert_eq!(r.body["labels"].as_array().unwrap().len(), 4);
}

async fn delete_cascades_to_tasks_and_media(app: TestApp) {
    let t = app.admin_token.clone();
    let p = new_project(&app, &t, json!({"name": "doomed", "labels": car_labels()})).await;
    let pid = p["id"].as_i64().unwrap();
    let keep = crate::formats::rich_task(&app, &t).await.0;
    let mut dirs = vec![];
    let mut tids = vec![];
    for _ in 0..2 {
        let (task, _) =
            crate::formats::rich_task_with(&app, &t, json!({"project": pid, "labels": []})).await;
        let tid = task["id"].as_i64().unwrap();
        crate::formats::export(&app, tid, "annotations", "COCO 1.0", &t).await;
        dirs.push(app.data_path().join("data").join(task["data"].to_string()));
        dirs.push(app.data_path().join("exports").join(format!("task_{tid}")));
        tids.push(tid);
    }
    assert!(dirs.iter().all(|d| d.exists()));
    let before = count_annotations(&app).await;
    assert!(before > 0);
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/projects/{pid}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.get(&format!("/api/v1/projects/{pid}"), &t).await.status,
        404
    );
    for tid in &tids {
        assert_eq!(
            app.get(&format!("/api/v1/tasks/{tid}"), &t).await.status,
            404
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while dirs.iter().any(|d| d.exists()) {
        assert!(Instant::now() < deadline, "the folders stay: {dirs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // the other task and its annotations are untouched
    let kid = keep["id"].as_i64().unwrap();
    let left = app
        .get(&format!("/api/v1/tasks/{kid}/annotations"), &t)
        .await
        .body;
    assert_eq!(left["shapes"].as_array().unwrap().len(), 7);
    assert_eq!(
        count_annotations(&app).await,
        before / 3,
        "only the kept task's rows"
    );
    let (labels,): (i64,) = sqlx_count(&app, "SELECT COUNT(*) FROM labels").await;
    assert_eq!(labels, 3);
}

async fn count_annotations(app: &TestApp) -> i64 {
    sqlx_count(app, "SELECT COUNT(*) FROM annotations").await.0
}

async fn sqlx_count(app: &TestApp, sql: &'static str) -> (i64,) {
    match &app.db {
        ferrocat_store::Db::Sqlite(p) => sqlx::query_as(sql).fetch_one(p).await.unwrap(),
        ferrocat_store::Db::Postgres(p) => sqlx::query_as(sql).fetch_one(p).await.unwrap(),
    }
}

/// Polls a project export to the end; the zip.
async fn export_project(app: &TestApp, pid: i64, kind: &str, format: &str, t: &str) -> Vec<u8> {
    let path = format!("/api/v1/projects/{pid}/{kind}");
    let (zip, name) = crate::formats::export_from(app, &path, format, t).await;
    assert!(name.contains("project_"), "{name}");
    zip
}

async fn project_exports_hold_every_task(app: TestApp) {
    let t = app.admin_token.clone();
    let p = new_project(&app, &t, json!({"name": "two", "labels": car_labels()})).await;
    let pid = p["id"].as_i64().unwrap();
    // two tasks of 8 frames each, with the same frame names
    let mut tids = vec![];
    for _ in 0..2 {
        let (task, _) =
            crate::formats::rich_task_with(&app, &t, json!({"project": pid, "labels": []})).await;
        tids.push(task["id"].as_i64().unwrap());
    }
    // an empty task of the project is left out
    crate::tasks::create(&app, &t, json!({"name": "empty", "project": pid})).await;
    let zip = export_project(&app, pid, "dataset", "CVAT for images 1.1", &t).await;
    let files = crate::media::unzip(&zip);
    let xml = String::from_utf8(
        files
            .iter()
            .find(|(n, _)| n == "annotations.xml")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert_eq!(xml.matches("<image ").count(), 16);
    assert!(xml.contains(r#"<image id="8" name="task_"#), "{xml}");
    assert_eq!(
        files
            .iter()
            .filter(|(n, _)| n.starts_with("images/"))
            .count(),
        16
    );
    assert!(
        files
            .iter()
            .any(|(n, _)| n.starts_with("images/task_") && n.ends_with("/car0.jpg"))
    );
    // the second task's track moved with its frames (keyframes 3, 5 → 11, 13)
    assert_eq!(xml.matches(r#"<box label="car""#).count(), 2 * 5);
    // a change to a task makes a new file
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tasks/{}/annotations", tids[1]),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let again = export_project(&app, pid, "annotations", "CVAT for images 1.1", &t).await;
    let files = crate::media::unzip(&again);
    let xml2 = String::from_utf8(files[0].1.clone()).unwrap();
    assert_eq!(xml2.matches(r#"<box label="car""#).count(), 5);

    let Some(py) = crate::formats::python() else {
        return;
    };
    // COCO of both tasks (the second has no objects left)
    let coco = export_project(&app, pid, "annotations", "COCO 1.0", &t).await;
    let dir = crate::formats::unpack(&coco);
    let got = crate::formats::consumer(
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
    assert_eq!(got["images"].as_array().unwrap().len(), 16);
    assert_eq!(got["annotations"].as_array().unwrap().len(), 7, "{got}");
    let dir = crate::formats::unpack(&zip);
    let read = crate::formats::consumer(&py, &["read", "cvat", dir.path().to_str().unwrap()]);
    assert_eq!(crate::formats::kinds(&read).len(), 16, "{read}");
}
