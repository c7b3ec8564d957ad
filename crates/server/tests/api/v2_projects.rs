//! Projects, edits and previews on the v2 API, with `cvat-sdk` and `cvat-cli` 2.80
//! (see `v2.rs`): a project made and listed by the CLI, filled and edited by the SDK,
//! seen by a v1 client, backed up and restored by the CLI, and deleted by the CLI with
//! its tasks.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{ADMIN_PASSWORD, TestApp};
use crate::db_tests;
use crate::media::jpeg;
use crate::v2::{cli, host_port, ok, run, sdk_script};
use crate::v2_exchange::{entries, restore_at, shapes_by_name, zip_of};

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

    let mut args = vec![
        at.0.clone(),
        at.1.clone(),
        ADMIN_PASSWORD.into(),
        pid.to_string(),
    ];
    for i in 0..3 {
        let p = dir.path().join(format!("f{i}.jpg"));
        std::fs::write(&p, jpeg(48, 32, i)).unwrap();
        args.push(p.display().to_string());
    }
    let seen = sdk_script(&cli, SDK_SCRIPT, args).await;
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

    // a box, then backup and create-from-backup: the same project again
    let truck =
        app.get(&format!("/api/labels?task_id={tid}"), t).await.body["results"][2]["id"].clone();
    let shape =
        json!({"type": "rectangle", "frame": 2, "label_id": truck, "points": [1.0, 2.0, 9.0, 8.0]});
    let r = app
        .patch(
            &format!("/api/tasks/{tid}/annotations?action=create"),
            t,
            json!({"shapes": [shape]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let expected = shapes_by_name(&app, tid).await;
    let (c, a, dd) = (cli.clone(), at.clone(), dir.path().to_path_buf());
    let pid_s = pid.to_string();
    let restored = tokio::task::spawn_blocking(move || {
        let args = ["project", "backup", &pid_s, "project.zip"];
        ok(&run(&c, &a, None, &args, &dd), "project backup");
        let args = ["project", "create-from-backup", "project.zip"];
        ok(&run(&c, &a, None, &args, &dd), "project create-from-backup")
    })
    .await
    .unwrap();
    let zip_bytes = std::fs::read(dir.path().join("project.zip")).unwrap();
    let names = entries(&zip_bytes);
    for e in [
        "project.json",
        "task_0/task.json",
        "task_0/annotations.json",
        "task_0/data/f0.jpg",
        "task_0/data/manifest.jsonl",
    ] {
        assert!(names.contains(&e.to_string()), "{e} in {names:?}");
    }
    let new_pid: i64 = restored.trim().lines().last().unwrap().parse().unwrap();
    assert_ne!(new_pid, pid);
    let p2 = app.get(&format!("/api/projects/{new_pid}"), t).await.body;
    assert_eq!(
        (p2["name"].clone(), p2["tasks"]["count"].clone()),
        (json!("fleet"), json!(1))
    );
    let tasks = app
        .get(&format!("/api/tasks?project_id={new_pid}"), t)
        .await
        .body;
    let new_tid = tasks["results"][0]["id"].as_i64().unwrap();
    assert_eq!(tasks["results"][0]["name"], "renamed");
    assert_eq!(shapes_by_name(&app, new_tid).await, expected);
    let jobs = app
        .get(&format!("/api/jobs?task_id={new_tid}"), t)
        .await
        .body;
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
        [(0, "completed".into()), (2, "validation".into())]
    );

    // a backup whose objects name a label the project does not have: refused before
    // anything is made
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
        if name == "project.json" {
            let mut doc: Value = serde_json::from_slice(&bytes).unwrap();
            doc["labels"]
                .as_array_mut()
                .unwrap()
                .retain(|l| l["name"] != "truck");
            bytes = doc.to_string().into_bytes();
        }
        parts.push((name, bytes));
    }
    let parts: Vec<(&str, Vec<u8>)> = parts.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let done = restore_at(
        &app,
        "/api/projects/backup/",
        "project_file",
        zip_of(&parts),
    )
    .await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["message"].as_str().unwrap().contains("truck"),
        "{done}"
    );
    let all = app.get("/api/projects", t).await.body;
    assert_eq!(all["count"], 2, "{all}");

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
