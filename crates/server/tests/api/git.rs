//! api-v1 §12: a task's dataset repository, pushed to a local bare repository with the
//! real `git` (the server runs with `--git-allow-local`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp};

mod pushes_to_a_bare_repository {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::pushes(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::pushes(Backend::Postgres).await
    }
}

fn git(args: &[&str]) -> String {
    let out = Command::new("git").args(args).output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Polls `/git/repository/check/{rq}` to an end; the last answer.
async fn settle(app: &TestApp, rq: &str, t: &str) -> Value {
    for _ in 0..600 {
        let r = app.get(&format!("/git/repository/check/{rq}"), t).await;
        assert_eq!(r.status, 200);
        let s = r.body["status"].as_str().unwrap().to_string();
        if s == "finished" || s == "failed" {
            return r.body;
        }
        assert!(s == "queued" || s == "started", "{}", r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{rq} never ended")
}

async fn status(app: &TestApp, tid: i64, t: &str) -> Value {
    let r = app.get(&format!("/git/repository/get/{tid}"), t).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

async fn push(app: &TestApp, tid: i64, t: &str) -> Value {
    let r = app.get(&format!("/git/repository/push/{tid}"), t).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["rq_id"], format!("git.push.{tid}"));
    settle(app, r.body["rq_id"].as_str().unwrap(), t).await
}

async fn pushes(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.git_allow_local = true).await else {
        return;
    };
    let t = app.admin_token.clone();
    let remotes = tempfile::tempdir().unwrap();
    let bare = remotes.path().join("labels.git");
    git(&["init", "--bare", "--quiet", bare.to_str().unwrap()]);
    let (task, _) = crate::formats::rich_task(&app, &t).await;
    let tid = task["id"].as_i64().unwrap();

    let spec = format!("{} [labels/cars.xml]", bare.display());
    let r = app
        .post(
            &format!("/git/repository/create/{tid}"),
            Some(&t),
            json!({"path": spec, "lfs": false, "tid": tid}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["rq_id"], format!("git.create.{tid}"));
    assert_eq!(
        settle(&app, &format!("git.create.{tid}"), &t).await["status"],
        "finished"
    );
    let s = status(&app, tid, &t).await;
    assert_eq!(s["url"]["value"], spec);
    assert_eq!(s["status"], json!({"value": "!sync", "error": null}));

    // the first push: one commit on the task's branch with the task's XML
    assert_eq!(push(&app, tid, &t).await, json!({"status": "finished"}));
    assert_eq!(status(&app, tid, &t).await["status"]["value"], "sync");
    let branch = format!("cvat_{tid}_cars");
    let dir = bare.to_str().unwrap();
    let log = git(&["--git-dir", dir, "log", "--format=%s|%an", &branch]);
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(
        log.starts_with(&format!("Annotations of task {tid} \"cars\"")),
        "{log}"
    );
    assert!(log.trim_end().ends_with("|admin"), "{log}");
    let xml = git(&[
        "--git-dir",
        dir,
        "show",
        &format!("{branch}:labels/cars.xml"),
    ]);
    assert!(xml.contains("<annotations>"), "{xml}");
    let boxes = xml.matches("<box ").count();
    assert!(boxes > 0);
    let meta = app.get("/git/repository/meta/get", &t).await.body;
    assert_eq!(meta, json!({ tid.to_string(): "sync" }));

    // an edit makes it unsynchronised; the second push a second commit
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tasks/{tid}/annotations"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(status(&app, tid, &t).await["status"]["value"], "!sync");
    assert_eq!(push(&app, tid, &t).await["status"], "finished");
    let log = git(&["--git-dir", dir, "log", "--format=%s", &branch]);
    assert_eq!(log.lines().count(), 2, "{log}");
    let xml = git(&[
        "--git-dir",
        dir,
        "show",
        &format!("{branch}:labels/cars.xml"),
    ]);
    assert_eq!(xml.matches("<box ").count(), 0);
    // a push with nothing new changes nothing
    assert_eq!(push(&app, tid, &t).await["status"], "finished");
    let log = git(&["--git-dir", dir, "log", "--format=%s", &branch]);
    assert_eq!(log.lines().count(), 2);

    // a remote that is not there: the check fails and says why
    let (other, _) = crate::annotations::annotated_task(&app, &t, json!({"name": "lost"})).await;
    let oid = other["id"].as_i64().unwrap();
    let gone = remotes.path().join("missing.git");
    let r = app
        .post(
            &format!("/git/repository/create/{oid}"),
            Some(&t),
            json!({"path": gone.to_str().unwrap(), "lfs": false}),
        )
        .await;
    assert_eq!(r.status, 200);
    let checked = settle(&app, &format!("git.create.{oid}"), &t).await;
    assert_eq!(checked["status"], "failed");
    assert!(!checked["stderr"].as_str().unwrap().is_empty(), "{checked}");
    let s = status(&app, oid, &t).await;
    assert_eq!(
        s["url"]["value"],
        format!("{} [annotation/lost.zip]", gone.display())
    );
    assert!(s["status"]["error"].is_string(), "{s}");

    // bad input: JSON 400s, the link unchanged
    for (body, why) in [
        (
            json!({"path": "https://me:secret@example.com/org/repo.git"}),
            "password",
        ),
        (
            json!({"path": "https://example.com/org/repo.git [a.txt]"}),
            ".xml and .zip",
        ),
        (
            json!({"path": "http://example.com/org/repo.git"}),
            "not supported",
        ),
        (json!({"lfs": true}), "required"),
    ] {
        let r = app
            .post(
                &format!("/git/repository/create/{tid}"),
                Some(&t),
                body.clone(),
            )
            .await;
        assert_eq!(r.status, 400, "{body}");
        assert!(
            r.body["detail"].as_str().unwrap().contains(why),
            "{body}: {}",
            r.body
        );
    }
    assert_eq!(status(&app, tid, &t).await["url"]["value"], spec);
    assert_eq!(
        app.get("/git/repository/check/git.push.99999", &t)
            .await
            .body,
        json!({"status": "unknown"})
    );
    let r = app
        .get(&format!("/git/repository/push/{}", tid + 100), &t)
        .await;
    assert_eq!(r.status, 404);

    // who may: a stranger neither sees nor pushes; nobody anonymous
    let (_, stranger) = app.user_in("stranger", &["user"]).await;
    let (private, _) =
        crate::annotations::annotated_task(&app, &t, json!({"name": "private", "assignee": 1}))
            .await;
    let pid = private["id"].as_i64().unwrap();
    let r = app
        .get(&format!("/git/repository/push/{pid}"), &stranger)
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .call(
            Method::GET,
            &format!("/git/repository/get/{tid}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    // a task without a repository cannot be pushed
    let r = app.get(&format!("/git/repository/push/{pid}"), &t).await;
    assert_eq!(r.status, 400);

    // without --git-allow-local, local repositories are refused
    let Some(strict) = TestApp::spawn(backend).await else {
        return;
    };
    let (task, _) =
        crate::annotations::annotated_task(&strict, &strict.admin_token, json!({})).await;
    let r = strict
        .post(
            &format!("/git/repository/create/{}", task["id"]),
            Some(&strict.admin_token),
            json!({"path": bare.to_str().unwrap()}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("--git-allow-local"),
        "{}",
        r.body
    );
    assert!(Path::new(dir).exists());
}
