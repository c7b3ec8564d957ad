//! Dataset repositories (api-v1 §12): a task linked to a git remote, to which its
//! annotations are pushed as "CVAT for images 1.1" (or "CVAT for video 1.1" for
//! interpolation tasks).
//!
//! Decided here:
//! - Nothing is kept checked out: every push clones the remote (shallow, the task's
//!   branch when it exists) into a scratch folder, writes the file, commits and
//!   force-pushes the branch `cvat_<task id>_<task name>`, then removes the folder. A
//!   link is checked once with `git ls-remote` when it is made.
//! - Remotes are `https://`, `ssh://` or `user@host:path`; `file://` URLs and local paths
//!   only with `--git-allow-local`; a URL with a password in it is refused: credentials
//!   come from the server's own git and ssh configuration. `git` runs through the tools
//!   wrapper with no terminal, no prompt (`GIT_TERMINAL_PROMPT=0`, ssh in batch mode),
//!   only the allowed protocols (`GIT_ALLOW_PROTOCOL`) and a deadline.
//! - The status is `!sync` until a push succeeds, `sync` while the pushed state is the
//!   task's state, `!sync` again after any change to the task, `syncing` while a push
//!   is queued or running. (`merged`, CVAT's "the branch reached master", is not
//!   reported: it would mean fetching every remote on every status read.)
//! - Errors are JSON (`{"detail": …}`), not CVAT's plain text (api-v1 §12's
//!   recommendation).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrocat_store::queue::QueueItem;
use serde_json::{Map, Value, json};

use crate::Core;
use crate::error::{Error, Result};
use crate::exports::{ExportKind, Target};
use crate::permissions::{Actor, Perm};

/// Queue item kinds: the check of a new link, and a push.
pub const CHECK_KIND: &str = "git_check";
pub const PUSH_KIND: &str = "git_push";

/// Longest run of one `git` command.
const GIT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Where a task's annotations go: a remote and a file in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Remote {
    pub url: String,
    pub path: String,
    /// A `file://` URL or a local path.
    pub local: bool,
}

fn check_key(task_id: i64) -> String {
    format!("task/{task_id}/git/check")
}

fn push_key(task_id: i64) -> String {
    format!("task/{task_id}/git/push")
}

/// The default file of a task: `annotation/<name>.zip`, unsafe characters as `_`.
fn default_path(task_name: &str) -> String {
    format!("annotation/{}.zip", safe_name(task_name))
}

fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect()
}

/// Reads `"<url> [<file path>]"` (the create body's `path`), checking both.
pub fn parse_spec(
    spec: &str,
    task_name: &str,
    allow_local: bool,
) -> std::result::Result<Remote, String> {
    let spec = spec.trim();
    let (url, path) = match spec.strip_suffix(']').and_then(|s| s.rsplit_once(" [")) {
        Some((u, p)) => (u.trim(), p.trim().to_string()),
        None => (spec, default_path(task_name)),
    };
    let local = check_url(url)?;
    if local && !allow_local {
        return Err(format!(
            "{url}: local repositories are not allowed on this server (--git-allow-local)"
        ));
    }
    check_path(&path)?;
    Ok(Remote {
        url: url.to_string(),
        path,
        local,
    })
}

/// `Ok(true)` for a local repository, `Ok(false)` for a network remote.
fn check_url(url: &str) -> std::result::Result<bool, String> {
    if url.is_empty() {
        return Err("A repository URL is required".into());
    }
    if url.starts_with('-') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url}: not a repository URL"));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority = rest.split('/').next().unwrap_or_default();
        match scheme.to_ascii_lowercase().as_str() {
            "https" | "ssh" => {
                let (userinfo, host) = authority.rsplit_once('@').unwrap_or(("", authority));
                if userinfo.contains(':') {
                    return Err(
                        "A password in the repository URL is refused: put credentials in the server's git configuration"
                            .into(),
                    );
                }
                if host.is_empty() || rest.len() <= authority.len() + 1 {
                    return Err(format!("{url}: a host and a repository path are needed"));
                }
                Ok(false)
            }
            "file" => Ok(true),
            other => Err(format!(
                "{other}:// remotes are not supported: use https://, ssh:// or user@host:path"
            )),
        }
    } else if let Some((before, after)) = url.split_once(':')
        && !before.contains('/')
        && !after.is_empty()
    {
        // scp-like `[user@]host:path`
        let host = before.rsplit('@').next().unwrap_or_default();
        if host.is_empty() {
            return Err(format!("{url}: a host is needed before ':'"));
        }
        Ok(false)
    } else {
        Ok(true)
    }
}

/// A relative `.zip` or `.xml` path inside the repository.
fn check_path(path: &str) -> std::result::Result<(), String> {
    let lower = path.to_ascii_lowercase();
    if !(lower.ends_with(".zip") || lower.ends_with(".xml")) {
        return Err("Only .xml and .zip formats are supported".into());
    }
    let p = Path::new(path);
    if p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        || path.starts_with(".git/")
        || path.chars().any(|c| c.is_control())
    {
        return Err(format!("{path}: not a file path inside the repository"));
    }
    Ok(())
}

pub struct GitService<'a> {
    pub(crate) core: &'a Core,
}

impl GitService<'_> {
    /// `POST /git/repository/create/{tid}`: links the task (task.create and
    /// task.change) and queues the check of the remote; the request id.
    pub async fn create(
        &self,
        actor: &Actor,
        tid: i64,
        body: &Map<String, Value>,
    ) -> Result<String> {
        self.core.check(actor, Perm::TaskCreate)?;
        let (task, _) = self.core.tasks().authorized_change(actor, tid).await?;
        let spec = match body.get("path") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(Error::BadRequest(
                    "`path` (\"<repository URL> [<file path>]\") is required".into(),
                ));
            }
        };
        let lfs = body
            .get("lfs")
            .and_then(ferrocat_wire::fields::parse_bool)
            .unwrap_or(false);
        let remote = parse_spec(&spec, &task.name, self.core.config().git_allow_local)
            .map_err(Error::BadRequest)?;
        let db = self.core.db();
        db.set_git_repo(tid, &remote.url, &remote.path, lfs).await?;
        db.enqueue(
            &check_key(tid),
            CHECK_KIND,
            &json!({"task_id": tid}).to_string(),
            Some(actor.id),
        )
        .await?;
        self.core.notify_queue();
        Ok(format!("git.create.{tid}"))
    }

    /// `GET /git/repository/get/{tid}` (task.access): the link and its status, or the
    /// null form for a task without one.
    pub async fn get(&self, actor: &Actor, tid: i64) -> Result<Value> {
        let (task, _) = self.core.tasks().authorized_access(actor, tid).await?;
        let db = self.core.db();
        let Some(repo) = db.git_repo(tid).await? else {
            return Ok(json!({"url": {"value": null}, "status": {"value": null, "error": null}}));
        };
        let status = self.status(&repo, task.updated_date).await?;
        Ok(json!({
            "url": {"value": format!("{} [{}]", repo.url, repo.path)},
            "status": {"value": status, "error": repo.error},
        }))
    }

    async fn status(
        &self,
        repo: &ferrocat_store::git::GitRepoRow,
        updated: chrono::DateTime<chrono::Utc>,
    ) -> Result<&'static str> {
        let pushing = self.core.db().queue_item(&push_key(repo.task_id)).await?;
        if pushing.is_some_and(|i| i.state == "queued" || i.state == "started") {
            return Ok("syncing");
        }
        Ok(match (&*repo.status, repo.synced) {
            ("sync", Some(s)) if s >= updated => "sync",
            _ => "!sync",
        })
    }

    /// `GET /git/repository/push/{tid}` (task.access): queues a push; the request id.
    pub async fn push(&self, actor: &Actor, tid: i64, origin: &str) -> Result<String> {
        self.core.tasks().authorized_access(actor, tid).await?;
        let db = self.core.db();
        if db.git_repo(tid).await?.is_none() {
            return Err(Error::BadRequest(
                "The task has no dataset repository".into(),
            ));
        }
        let payload = json!({"task_id": tid, "user_id": actor.id, "origin": origin});
        db.enqueue(
            &push_key(tid),
            PUSH_KIND,
            &payload.to_string(),
            Some(actor.id),
        )
        .await?;
        self.core.notify_queue();
        Ok(format!("git.push.{tid}"))
    }

    /// `GET /git/repository/check/{rq_id}`: the state of a create or push request.
    pub async fn check(&self, rq_id: &str) -> Result<Value> {
        let key = rq_id
            .strip_prefix("git.create.")
            .and_then(|t| t.parse::<i64>().ok())
            .map(check_key)
            .or_else(|| {
                rq_id
                    .strip_prefix("git.push.")
                    .and_then(|t| t.parse::<i64>().ok())
                    .map(push_key)
            });
        let item = match key {
            Some(k) => self.core.db().queue_item(&k).await?,
            None => None,
        };
        Ok(match item {
            None => json!({"status": "unknown"}),
            Some(i) if i.state == "failed" => json!({"status": "failed", "stderr": i.message}),
            Some(i) => json!({"status": i.state}),
        })
    }

    /// `GET /git/repository/meta/get`: the status of every linked task the actor sees.
    pub async fn meta(&self, actor: &Actor) -> Result<Value> {
        let db = self.core.db();
        let mut out = Map::new();
        for repo in db.git_repos().await? {
            let Ok((task, _)) = self
                .core
                .tasks()
                .authorized_access(actor, repo.task_id)
                .await
            else {
                continue;
            };
            let status = self.status(&repo, task.updated_date).await?;
            out.insert(repo.task_id.to_string(), json!(status));
        }
        Ok(Value::Object(out))
    }
}

/// `git` with the server's environment for it: no prompts, allowed protocols only.
fn git(core: &Core, dir: Option<&Path>, args: &[&str]) -> std::result::Result<Vec<u8>, String> {
    use ferrocat_media::tool;
    if tool::find("git").is_none() {
        return Err(tool::missing("git").to_string());
    }
    let mut cmd = tool::command("git", args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let protocols = if core.config().git_allow_local {
        "https:ssh:file"
    } else {
        "https:ssh"
    };
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("SSH_ASKPASS", "true")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .env("GIT_ALLOW_PROTOCOL", protocols);
    tool::output(cmd, GIT_TIMEOUT, 16 << 20).map_err(|e| e.to_string())
}

/// Runs one check or push (in a worker).
pub async fn run(core: &Core, item: &QueueItem) -> std::result::Result<(), String> {
    let p: Value = serde_json::from_str(&item.payload).map_err(|e| e.to_string())?;
    let tid = p["task_id"].as_i64().ok_or("git work without a task")?;
    let db = core.db();
    let repo = db
        .git_repo(tid)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the task has no dataset repository")?;
    let outcome = if item.kind == CHECK_KIND {
        let url = repo.url.clone();
        let c = core.clone();
        core.blocking(move || git(&c, None, &["ls-remote", "--heads", "--", &url]).map(|_| ()))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map(|()| None)
    } else {
        push(core, tid, &repo, &p).await.map(Some)
    };
    let recorded = match &outcome {
        Ok(Some(synced)) => db.git_repo_result(tid, "sync", Some(*synced), None).await,
        Ok(None) => db.git_repo_result(tid, &repo.status, None, None).await,
        Err(e) => db.git_repo_result(tid, "!sync", None, Some(e)).await,
    };
    recorded.map_err(|e| e.to_string())?;
    outcome.map(|_| ())
}

/// Exports the task, commits the file on the task's branch and force-pushes it; the
/// task state that was pushed.
async fn push(
    core: &Core,
    tid: i64,
    repo: &ferrocat_store::git::GitRepoRow,
    p: &Value,
) -> std::result::Result<chrono::DateTime<chrono::Utc>, String> {
    let db = core.db();
    let task = db
        .task(tid)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the task is gone")?;
    let format = if task.mode == "interpolation" {
        "CVAT for video 1.1"
    } else {
        "CVAT for images 1.1"
    };
    let origin = p["origin"].as_str().unwrap_or_default();
    let export = crate::exports::make_file(
        core,
        Target::Task(tid),
        ExportKind::Annotations,
        format,
        task.updated_date.timestamp_micros(),
        origin,
    )
    .await?;
    let doc = core
        .annotations()
        .task_document(tid)
        .await
        .map_err(|e| e.to_string())?;
    let author = match p["user_id"].as_i64() {
        Some(u) => db.user(u).await.map_err(|e| e.to_string())?,
        None => None,
    };
    let message = format!(
        "Annotations of task {tid} \"{}\" in {format}: {} shapes, {} tracks, {} tags\n\nTask: {origin}/api/v1/tasks/{tid}\n",
        task.name,
        doc.shapes.len(),
        doc.tracks.len(),
        doc.tags.len()
    );
    let work = Push {
        url: repo.url.clone(),
        path: repo.path.clone(),
        lfs: repo.lfs,
        branch: format!("cvat_{tid}_{}", safe_name(&task.name)),
        export,
        message,
        author: author.map(|u| {
            let email = if u.email.is_empty() {
                format!("{}@ferrocat", u.username)
            } else {
                u.email
            };
            format!("{} <{email}>", u.username)
        }),
        scratch: core
            .config()
            .data_dir
            .join("tmp")
            .join(format!("git-{}", crate::random_alnum(12))),
    };
    let c = core.clone();
    core.blocking(move || {
        let result = work.run(&c);
        let _ = std::fs::remove_dir_all(&work.scratch);
        result
    })
    .await
    .map_err(|e| e.to_string())??;
    Ok(task.updated_date)
}

/// One push, run on a blocking thread.
struct Push {
    url: String,
    path: String,
    lfs: bool,
    branch: String,
    export: PathBuf,
    message: String,
    author: Option<String>,
    scratch: PathBuf,
}

impl Push {
    fn run(&self, core: &Core) -> std::result::Result<(), String> {
        let dir = self
            .scratch
            .to_str()
            .ok_or("the data folder's path is not UTF-8")?;
        std::fs::create_dir_all(self.scratch.parent().unwrap_or(Path::new(".")))
            .map_err(|e| e.to_string())?;
        let shallow = ["clone", "--quiet", "--no-tags", "--depth", "1"];
        let on_branch = [
            &shallow[..],
            &["--branch", &self.branch, "--", &self.url, dir],
        ]
        .concat();
        if git(core, None, &on_branch).is_err() {
            // no such branch yet (or an empty repository): start it from the default one
            let _ = std::fs::remove_dir_all(&self.scratch);
            git(
                core,
                None,
                &[&shallow[..], &["--", &self.url, dir]].concat(),
            )?;
            git(
                core,
                Some(&self.scratch),
                &["checkout", "--quiet", "-B", &self.branch],
            )?;
        }
        let target = self.scratch.join(&self.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        if self.path.to_ascii_lowercase().ends_with(".xml") {
            let file = std::fs::File::open(&self.export).map_err(|e| e.to_string())?;
            let mut zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
            let mut xml = zip.by_name("annotations.xml").map_err(|e| e.to_string())?;
            let mut out = std::fs::File::create(&target).map_err(|e| e.to_string())?;
            std::io::copy(&mut xml, &mut out).map_err(|e| e.to_string())?;
        } else {
            std::fs::copy(&self.export, &target).map_err(|e| e.to_string())?;
        }
        let mut add = vec!["add", "--", self.path.as_str()];
        if self.lfs {
            let attrs = self.scratch.join(".gitattributes");
            let mut text = std::fs::read_to_string(&attrs).unwrap_or_default();
            for line in [
                "*.xml filter=lfs diff=lfs merge=lfs -text",
                "*.zip filter=lfs diff=lfs merge=lfs -text",
            ] {
                if !text.lines().any(|l| l == line) {
                    text.push_str(line);
                    text.push('\n');
                }
            }
            std::fs::write(&attrs, text).map_err(|e| e.to_string())?;
            add.push(".gitattributes");
        }
        git(core, Some(&self.scratch), &add)?;
        let changed = !git(core, Some(&self.scratch), &["status", "--porcelain"])?.is_empty();
        if changed {
            let mut commit = vec![
                "-c",
                "user.name=ferrocat",
                "-c",
                "user.email=ferrocat@localhost",
                "commit",
                "--quiet",
                "-m",
                &self.message,
            ];
            let author;
            if let Some(a) = &self.author {
                author = format!("--author={a}");
                commit.push(&author);
            }
            git(core, Some(&self.scratch), &commit)?;
        }
        let refspec = format!("HEAD:refs/heads/{}", self.branch);
        git(
            core,
            Some(&self.scratch),
            &["push", "--quiet", "--force", "origin", &refspec],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let r = parse_spec("https://github.com/org/repo.git", "My task: 1", false).unwrap();
        assert_eq!(r.path, "annotation/My_task__1.zip");
        assert!(!r.local);
        let r = parse_spec("git@github.com:org/repo.git [labels/a.xml]", "t", false).unwrap();
        assert_eq!(
            (r.url.as_str(), r.path.as_str()),
            ("git@github.com:org/repo.git", "labels/a.xml")
        );
        assert!(parse_spec("ssh://git@host:2222/org/repo", "t", false).is_ok());
        for (bad, why) in [
            ("https://u:secret@host/org/repo", "password"),
            ("http://host/org/repo", "not supported"),
            ("git://host/org/repo", "not supported"),
            ("file:///srv/repo.git", "local"),
            ("/srv/repo.git", "local"),
            ("-uhost:repo", "not a repository"),
            ("https://host/repo [a.txt]", "Only .xml and .zip"),
            ("https://host/repo [../a.zip]", "inside the repository"),
            ("https://host/repo [/etc/a.zip]", "inside the repository"),
            ("https://host", "host and a repository path"),
            ("", "required"),
        ] {
            let e = parse_spec(bad, "t", false).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(parse_spec("file:///srv/repo.git", "t", true).unwrap().local);
        assert!(parse_spec("/srv/repo.git [x.xml]", "t", true).is_ok());
    }
}
