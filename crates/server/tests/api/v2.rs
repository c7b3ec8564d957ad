//! The CVAT v2 API with its real clients: `cvat-cli` and `cvat-sdk` 2.80 from PyPI
//! (the venv `scripts/test.sh` makes, found through `FERROCAT_TEST_CVAT_CLI`), against
//! the server on both databases; and a v1 client seeing what they did.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{ADMIN_PASSWORD, TestApp};
use crate::db_tests;
use crate::media::jpeg;

db_tests!(
    cvat_cli_task_commands,
    access_tokens_and_the_sdk,
    sdk_task_jobs_annotations_frames
);

/// `cvat-cli` of the test venv, if any (required in CI).
pub fn cli() -> Option<PathBuf> {
    match std::env::var_os("FERROCAT_TEST_CVAT_CLI") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("CI").is_some() => {
            panic!("FERROCAT_TEST_CVAT_CLI is required in CI (scripts/test.sh sets it)")
        }
        None => {
            eprintln!("notice: FERROCAT_TEST_CVAT_CLI not set: the cvat-cli checks are skipped");
            None
        }
    }
}

/// `host` and `port` of the app, as the CLI takes them.
pub fn host_port(app: &TestApp) -> (String, String) {
    let (host, port) = app.base.rsplit_once(':').unwrap();
    (host.to_string(), port.to_string())
}

/// Runs `cvat-cli <args>` signed in with the admin's password (or with `token` as
/// `CVAT_ACCESS_TOKEN`).
pub fn run(
    cli: &Path,
    at: &(String, String),
    token: Option<&str>,
    args: &[&str],
    cwd: &Path,
) -> Output {
    let (host, port) = at;
    let mut cmd = Command::new(cli);
    cmd.current_dir(cwd)
        .args(["--server-host", host, "--server-port", port]);
    match token {
        Some(t) => cmd.env("CVAT_ACCESS_TOKEN", t),
        None => cmd.args(["--auth", &format!("admin:{ADMIN_PASSWORD}")]),
    };
    cmd.args(args).output().expect("run cvat-cli")
}

/// Runs a Python `script` of the CLI's venv (the SDK is there) with `args`; the JSON
/// its last line prints.
pub async fn sdk_script(cli: &Path, script: &str, args: Vec<String>) -> Value {
    let python = cli.parent().unwrap().join("python");
    let mut all: Vec<String> = vec!["-c".into(), script.into()];
    all.extend(args);
    let out =
        tokio::task::spawn_blocking(move || Command::new(python).args(&all).output().unwrap())
            .await
            .unwrap();
    let printed = ok(&out, "the SDK script");
    serde_json::from_str(printed.lines().last().unwrap()).unwrap()
}

pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "cvat-cli {what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

async fn cvat_cli_task_commands(app: TestApp) {
    let Some(cli) = cli() else { return };
    let t = app.admin_token.clone();
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<String> = (0..3)
        .map(|i| {
            let p = dir.path().join(format!("img{i}.jpg"));
            std::fs::write(&p, jpeg(48, 32, i)).unwrap();
            p.display().to_string()
        })
        .collect();
    let (a, d) = (host_port(&app), dir.path().to_path_buf());
    let c = cli.clone();
    let created = tokio::task::spawn_blocking(move || {
        let mut args = vec![
            "task",
            "create",
            "from cli",
            "--labels",
            r#"[{"name": "car"}, {"name": "person"}]"#,
            "local",
        ];
        args.extend(files.iter().map(String::as_str));
        ok(&run(&c, &a, None, &args, &d), "task create")
    })
    .await
    .unwrap();
    let id: i64 = created
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the id: {created}"));

    // a v1 client sees the task, its labels and its data
    let task = app.get(&format!("/api/v1/tasks/{id}"), &t).await.body;
    assert_eq!(task["name"], "from cli");
    assert_eq!(task["size"], 3);
    assert_eq!(task["labels"].as_array().unwrap().len(), 2);
    // and a v1 task is listed by the CLI
    crate::tasks::create(
        &app,
        &t,
        json!({"name": "from v1", "labels": [{"name": "x"}]}),
    )
    .await;

    let (a, d, c) = (host_port(&app), dir.path().to_path_buf(), cli.clone());
    let (listing, frames) = tokio::task::spawn_blocking(move || {
        let listing = ok(&run(&c, &a, None, &["task", "ls", "--json"], &d), "task ls");
        let out = d.join("frames");
        std::fs::create_dir_all(&out).unwrap();
        let id_s = id.to_string();
        ok(
            &run(
                &c,
                &a,
                None,
                &[
                    "task",
                    "frames",
                    &id_s,
                    "0",
                    "2",
                    "--outdir",
                    out.to_str().unwrap(),
                    "--quality",
                    "original",
                ],
                &d,
            ),
            "task frames",
        );
        (listing, out)
    })
    .await
    .unwrap();
    let listed: Value = serde_json::from_str(&listing).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["from v1", "from cli"]);
    for k in [0, 2] {
        let img = image::open(frames.join(format!("task_{id}_frame_{k:06}.jpg"))).unwrap();
        assert_eq!((img.width(), img.height()), (48, 32));
    }

    // files of the server's share
    let share = app.share_dir().join("cams");
    std::fs::create_dir_all(&share).unwrap();
    for i in 0..2 {
        std::fs::write(share.join(format!("s{i}.jpg")), jpeg(40, 24, i)).unwrap();
    }
    let (a, d, c) = (host_port(&app), dir.path().to_path_buf(), cli.clone());
    let shared = tokio::task::spawn_blocking(move || {
        let args = [
            "task",
            "create",
            "shared",
            "--labels",
            r#"[{"name": "car"}]"#,
            "share",
            "cams/s0.jpg",
            "cams/s1.jpg",
        ];
        ok(&run(&c, &a, None, &args, &d), "task create share")
    })
    .await
    .unwrap();
    let sid: i64 = shared.trim().lines().last().unwrap().parse().unwrap();
    let meta = app
        .get(&format!("/api/tasks/{sid}/data/meta"), &t)
        .await
        .body;
    let frames: Vec<&str> = meta["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(frames, ["cams/s0.jpg", "cams/s1.jpg"]);

    // task delete: really gone (the CLI exits 0 either way)
    let (a, d, c) = (host_port(&app), dir.path().to_path_buf(), cli.clone());
    tokio::task::spawn_blocking(move || {
        ok(
            &run(&c, &a, None, &["task", "delete", &id.to_string()], &d),
            "task delete",
        )
    })
    .await
    .unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{id}"), &t).await.status,
        404
    );
}

async fn access_tokens_and_the_sdk(app: TestApp) {
    // sign-in by e-mail gives the key and both cookies, as the SDK asserts
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "", "username": "admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.cookie("sessionid").is_some() && r.cookie("csrftoken").is_some());
    let about = app
        .client
        .get(app.url("/api/server/about"))
        .send()
        .await
        .unwrap();
    let about: Value = about.json().await.unwrap();
    assert_eq!(about["version"], "2.80.0");
    for k in ["name", "description", "logo_url", "subtitle"] {
        assert!(about[k].is_string(), "{k}: {about}");
    }

    let t = app.admin_token.clone();
    let r = app
        .post(
            "/api/auth/access_tokens",
            Some(&t),
            json!({"name": "ci", "expiry_date": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let pat = r.body["value"].as_str().unwrap().to_string();
    let pat_id = r.body["id"].as_i64().unwrap();
    assert!(pat.starts_with("fcat_"));
    // stored hashed: the value is nowhere in the database
    let (n,): (i64,) = match &app.db {
        ferrocat_store::Db::Sqlite(p) => {
            sqlx::query_as("SELECT COUNT(*) FROM access_tokens WHERE token_hash = $1")
                .bind(&pat)
                .fetch_one(p)
                .await
                .unwrap()
        }
        ferrocat_store::Db::Postgres(p) => {
            sqlx::query_as("SELECT COUNT(*) FROM access_tokens WHERE token_hash = $1")
                .bind(&pat)
                .fetch_one(p)
                .await
                .unwrap()
        }
    };
    assert_eq!(n, 0);
    let bearer = |path: &str| {
        app.client
            .get(app.url(path))
            .header("Authorization", format!("Bearer {pat}"))
            .send()
    };
    let me: Value = bearer("/api/users/self")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "admin");
    let current: Value = bearer("/api/auth/access_tokens/self")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (current["id"].as_i64(), current["name"].as_str()),
        (Some(pat_id), Some("ci"))
    );
    assert!(current.get("value").is_none(), "shown once only");
    assert!(current["last_used_date"].is_string());
    for (body, field) in [
        (json!({}), "name"),
        (
            json!({"name": "old", "expiry_date": "2001-01-01T00:00:00Z"}),
            "expiry_date",
        ),
        (json!({"name": "bad", "expiry_date": "soon"}), "expiry_date"),
    ] {
        let r = app
            .post("/api/auth/access_tokens", Some(&t), body.clone())
            .await;
        assert_eq!(r.status, 400, "{body}");
        assert!(r.body[field].is_array(), "{body}: {}", r.body);
    }

    // the SDK with the token, then the CLI; a revoked token is refused
    if let Some(cli) = cli() {
        let dir = tempfile::tempdir().unwrap();
        let (a, d, c, p) = (
            host_port(&app),
            dir.path().to_path_buf(),
            cli.clone(),
            pat.clone(),
        );
        tokio::task::spawn_blocking(move || {
            ok(
                &run(&c, &a, Some(&p), &["task", "ls"], &d),
                "task ls with a PAT",
            )
        })
        .await
        .unwrap();
        let python = cli.parent().unwrap().join("python");
        let (host, port) = host_port(&app);
        let script = format!(
            "from cvat_sdk import make_client\n\
             from cvat_sdk.core.client import AccessTokenCredentials\n\
             with make_client('{host}', port={port}, credentials=AccessTokenCredentials('{pat}')) as c:\n\
             \x20   print(c.users.retrieve_current_user().username)\n"
        );
        let out = Command::new(&python)
            .args(["-c", &script])
            .output()
            .unwrap();
        let printed = ok(&out, "the SDK with a PAT");
        assert_eq!(printed.trim(), "admin");
    }
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/auth/access_tokens/{pat_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(bearer("/api/users/self").await.unwrap().status(), 401);
    // another user's token is not theirs to see
    let (_, other) = app.user_in("other", &["user"]).await;
    let r = app
        .post(
            "/api/auth/access_tokens",
            Some(&other),
            json!({"name": "theirs"}),
        )
        .await;
    let theirs = r.body["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/auth/access_tokens/{theirs}"), &t)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get("/api/auth/access_tokens", &t).await.body["count"],
        0
    );
}

/// A `cvat_sdk.make_client` script: creates a task from local files, lists its jobs and
/// labels, adds a shape to the job and reads it back through `job.get_annotations()`,
/// downloads a frame; prints what it saw as JSON.
const SDK_SCRIPT: &str = r#"
import json, sys
from cvat_sdk import make_client, models
from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction
from cvat_sdk.core.proxies.tasks import ResourceType
host, port, password, *files = sys.argv[1:]
with make_client(host, port=int(port), credentials=("admin", password)) as c:
    task = c.tasks.create_from_data(
        spec={"name": "from the sdk", "labels": [{"name": "car"}, {"name": "bus"}], "segment_size": 2},
        resource_type=ResourceType.LOCAL, resources=files)
    jobs = task.get_jobs()
    labels = task.get_labels()
    job = sorted(jobs, key=lambda j: j.start_frame)[0]
    job.update_annotations(models.PatchedLabeledDataRequest(shapes=[models.LabeledShapeRequest(
        type="rectangle", frame=1, label_id=labels[1].id, points=[1.0, 2.0, 10.0, 12.0])]),
        action=AnnotationUpdateAction.CREATE)
    anns = job.get_annotations()
    frame = task.get_frame(0, quality="original").read()
    meta = task.get_meta()
    print(json.dumps({"task": task.id, "jobs": [[j.start_frame, j.stop_frame] for j in jobs],
        "labels": [l.name for l in labels], "shapes": [[s.frame, s.label_id, s.points] for s in anns.shapes],
        "bus": labels[1].id, "frame": len(frame), "frames": len(meta.frames), "size": task.size}))
"#;

async fn sdk_task_jobs_annotations_frames(app: TestApp) {
    let Some(cli) = cli() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (host, port) = host_port(&app);
    let mut args = vec![host, port, ADMIN_PASSWORD.to_string()];
    for i in 0..3 {
        let p = dir.path().join(format!("p{i}.jpg"));
        std::fs::write(&p, jpeg(40, 30, i)).unwrap();
        args.push(p.display().to_string());
    }
    let seen = sdk_script(&cli, SDK_SCRIPT, args).await;
    assert_eq!(seen["size"], 3);
    assert_eq!(seen["frames"], 3);
    assert_eq!(seen["labels"], json!(["car", "bus"]));
    let mut jobs = seen["jobs"].as_array().unwrap().clone();
    jobs.sort_by_key(|j| j[0].as_i64());
    assert_eq!(jobs, vec![json!([0, 1]), json!([2, 2])]);
    assert_eq!(
        seen["shapes"],
        json!([[1, seen["bus"], [1.0, 2.0, 10.0, 12.0]]])
    );
    assert!(seen["frame"].as_u64().unwrap() > 100);
    // the v1 API sees the SDK's shape
    let tid = seen["task"].as_i64().unwrap();
    let doc = app
        .get(
            &format!("/api/v1/tasks/{tid}/annotations"),
            &app.admin_token,
        )
        .await
        .body;
    assert_eq!(doc["shapes"][0]["points"], json!([1.0, 2.0, 10.0, 12.0]));
    // what ferrocat cannot store is refused, not dropped; nothing changes
    let job = app
        .get(&format!("/api/v1/tasks/{tid}/jobs"), &app.admin_token)
        .await
        .body[0]["id"]
        .as_i64()
        .unwrap();
    for (extra, field) in [
        (json!({"rotation": 30.0}), "shapes"),
        (
            json!({"elements": [{"type": "points", "frame": 0, "label_id": 1, "points": [1.0, 1.0]}]}),
            "shapes",
        ),
    ] {
        let mut shape = json!({"type": "rectangle", "frame": 0, "label_id": seen["bus"], "points": [1.0, 1.0, 5.0, 5.0]});
        for (k, v) in extra.as_object().unwrap() {
            shape[k] = v.clone();
        }
        let r = app
            .call(
                Method::PATCH,
                &format!("/api/jobs/{job}/annotations/?action=create"),
                Some(&app.admin_token),
                Some(json!({"shapes": [shape]})),
            )
            .await;
        assert_eq!(r.status, 400, "{extra}: {}", r.body);
        assert!(
            r.body[field][0].as_str().unwrap().contains("not supported"),
            "{}",
            r.body
        );
    }
    let after = app
        .get(
            &format!("/api/v1/tasks/{tid}/annotations"),
            &app.admin_token,
        )
        .await
        .body;
    assert_eq!(after["shapes"].as_array().unwrap().len(), 1);
}
