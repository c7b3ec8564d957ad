//! Projects, edits and previews on the v2 API, with `cvat-sdk` and `cvat-cli` 2.80
//! (see `v2.rs`): a project made and listed by the CLI, filled and edited by the SDK,
//! seen by a v1 client, and deleted by the CLI with its tasks.

use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{ADMIN_PASSWORD, TestApp};
use crate::db_tests;
use crate::media::jpeg;
use crate::v2::{cli, host_port, ok, run};

db_tests!(projects_edits_previews);

/// Prints one JSON line of what the SDK saw: every answer went through the SDK's own
/// models, which raise on a missing or mistyped field.
const SDK_SCRIPT: &str = r#"
import json, sys, tempfile, zipfile
from cvat_sdk import make_client, models
host, port, password, pid, *files = sys.argv[1:]
with make_client(host, port=int(port), credentials=("admin", password)) as c:
    p = c.projects.retrieve(int(pid))
    t = c.tasks.create_from_data(
        spec=models.TaskWriteRequest(name="in project", project_id=p.id, segment_size=2),
        resources=files, data_params={"image_quality": 70})
    t.update(models.PatchedTaskWriteRequest(name="renamed", bug_tracker="http://bugs/1"))
    p.update(models.PatchedProjectWriteRequest(
        labels=[models.PatchedLabelRequest(name="truck")]))
    p.fetch()
    jobs = sorted(t.get_jobs(), key=lambda j: j.start_frame)
    jobs[0].update(models.PatchedJobWriteRequest(stage="acceptance", state="completed"))
    jobs[1].update(models.PatchedJobWriteRequest(stage="validation"))
    labels = p.get_labels()
    task_labels = t.get_labels()
    one, _ = c.api_client.labels_api.retrieve(task_labels[0].id)
    me, _ = c.api_client.users_api.retrieve_self()
    out = tempfile.mktemp(suffix=".zip")
    p.export_dataset("COCO 1.0", out, include_images=False)
    print(json.dumps({
        "task": t.id, "tasks": [x.name for x in p.get_tasks()], "count": p.tasks.count,
        "project_labels": [l.name for l in labels], "task_labels": [l.name for l in task_labels],
        "label": [one.name, one.task_id], "me": me.url,
        "jobs": [[j.fetch().stage, j.state, j.status] for j in jobs],
        "previews": [len(x.get_preview().read()) for x in (t, jobs[1], p)],
        "export": sorted(zipfile.ZipFile(out).namelist()),
        "owner": p.owner.username,
    }))
"#;

async fn projects_edits_previews(app: TestApp) {
    let Some(cli) = cli() else { return };
    let at = host_port(&app);
    let dir = tempfile::tempdir().unwrap();
    let labels = r#"[{"name": "car", "attributes": []}, {"name": "bus"}]"#;
    let made = run(
        &cli,
        &at,
        None,
        &["project", "create", "fleet", "--labels", labels],
        dir.path(),
    );
    let pid: i64 = ok(&made, "project create").trim().parse().unwrap();
    let listed = ok(
        &run(&cli, &at, None, &["project", "ls"], dir.path()),
        "project ls",
    );
    assert_eq!(listed.trim(), pid.to_string());

    let python = cli.parent().unwrap().join("python");
    let mut args: Vec<String> = vec!["-c".into(), SDK_SCRIPT.into()];
    args.extend([
        at.0.clone(),
        at.1.clone(),
        ADMIN_PASSWORD.into(),
        pid.to_string(),
    ]);
    for i in 0..3 {
        let p = dir.path().join(format!("f{i}.jpg"));
        std::fs::write(&p, jpeg(48, 32, i)).unwrap();
        args.push(p.display().to_string());
    }
    let out =
        tokio::task::spawn_blocking(move || Command::new(python).args(&args).output().unwrap())
            .await
            .unwrap();
    let printed = ok(&out, "the SDK script");
    let seen: Value = serde_json::from_str(printed.lines().last().unwrap()).unwrap();
    assert_eq!(seen["tasks"], json!(["renamed"]));
    assert_eq!(seen["count"], 1);
    assert_eq!(seen["project_labels"], json!(["car", "bus", "truck"]));
    assert_eq!(seen["task_labels"], json!(["car", "bus", "truck"]));
    assert_eq!(seen["label"], json!(["car", seen["task"]]));
    assert_eq!(seen["owner"], "admin");
    // links stay in the API version of the request
    assert!(
        seen["me"].as_str().unwrap().ends_with("/api/users/1"),
        "{}",
        seen["me"]
    );
    assert_eq!(
        seen["jobs"],
        json!([
            ["acceptance", "completed", "completed"],
            ["validation", "in progress", "validation"]
        ])
    );
    for n in seen["previews"].as_array().unwrap() {
        assert!(n.as_u64().unwrap() > 100, "{}", seen["previews"]);
    }
    // without images: the annotations, and the empty folder Datumaro looks for
    assert_eq!(
        seen["export"],
        json!(["annotations/instances_default.json", "images/"])
    );

    // a v1 client sees the SDK's edits
    let t = &app.admin_token;
    let tid = seen["task"].as_i64().unwrap();
    let task = app.get(&format!("/api/v1/tasks/{tid}"), t).await.body;
    assert_eq!(
        (task["name"].as_str(), task["project"].as_i64()),
        (Some("renamed"), Some(pid))
    );
    let statuses: Vec<Value> = task["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["jobs"][0]["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("completed"), json!("validation")]);
    let user = app.get("/api/v1/users/self", t).await.body;
    assert!(user["url"].as_str().unwrap().ends_with("/api/v1/users/1"));

    // bad edits are refused and change nothing
    let job = app.get(&format!("/api/jobs?task_id={tid}"), t).await.body["results"][0]["id"]
        .as_i64()
        .unwrap();
    let r = app
        .patch(&format!("/api/jobs/{job}"), t, json!({"stage": "done"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["stage"][0]
            .as_str()
            .unwrap()
            .contains("valid choice")
    );
    let cloud = json!({"target_storage": {"location": "cloud_storage", "cloud_storage_id": 1}});
    let r = app.patch(&format!("/api/projects/{pid}"), t, cloud).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = app
        .patch(&format!("/api/tasks/{tid}"), t, json!({"name": ""}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        app.get(&format!("/api/tasks/{tid}"), t).await.body["name"],
        "renamed"
    );
    assert_eq!(app.get("/api/labels/987654", t).await.status, 404);
    let r = app
        .call(Method::GET, "/api/tasks?project_id=x", Some(t), None)
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // the CLI deletes the project with its task
    ok(
        &run(
            &cli,
            &at,
            None,
            &["project", "delete", &pid.to_string()],
            dir.path(),
        ),
        "project delete",
    );
    assert_eq!(
        app.get(&format!("/api/projects/{pid}"), t).await.status,
        404
    );
    assert_eq!(app.get(&format!("/api/tasks/{tid}"), t).await.status, 404);
}
