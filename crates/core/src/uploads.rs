//! CVAT 2's upload protocol (api-v2.md §4): an upload *session* per destination holds
//! the files that have arrived (`Upload-Multiple` batches and finished TUS uploads)
//! until `Upload-Finish` hands them on; TUS 1.0.0 uploads carry single big files in
//! resumable pieces.
//!
//! Layout, under `<data>/tmp/v2/`:
//! - `sessions/<dest>/` the files of a session, and `sessions/<dest>.names` their names
//!   in arrival order (the order frames are numbered in);
//! - `tus/<id>.part` the bytes of an unfinished TUS upload so far (its length is the
//!   upload's offset), `tus/<id>.json` what it is: destination, user, length, file name.
//!
//! A TUS upload that has not grown for `upload_ttl` is removed by [`UploadService::sweep`],
//! and so is a session nobody finished. The `.part` file is locked (`File::try_lock`)
//! while a `PATCH` writes to it, so two writers never interleave; the second gets 409.
//! Sessions and TUS uploads live on the replica that received them (the scale-out issue
//! moves them into the media store).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::Core;
use crate::error::{Error, Result};

/// Where an upload session's files go when it is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// A task's data (`/api/tasks/{id}/data/`): one session per task.
    TaskData(i64),
    /// An annotation file for a task or job, one session per target and user.
    Annotations(crate::imports::Target, i64),
    /// A task backup to restore (`/api/tasks/backup/`), one session per user.
    Backup(i64),
}

impl Dest {
    fn slug(self) -> String {
        use crate::imports::Target;
        match self {
            Dest::TaskData(t) => format!("task-{t}"),
            Dest::Annotations(Target::Task(t), u) => format!("annotations-task-{t}-user-{u}"),
            Dest::Annotations(Target::Job(j), u) => format!("annotations-job-{j}-user-{u}"),
            Dest::Backup(u) => format!("backup-user-{u}"),
        }
    }
}

/// The longest file name the file systems we store on accept (`NAME_MAX`).
const MAX_FILE_NAME_BYTES: usize = 255;

/// The name an uploaded file is stored under: the last segment of what the client sent
/// (clients send absolute paths), not empty, `.` or `..`, at most 255 bytes. `field`
/// names the field of the error.
pub fn file_name(raw: &str, field: &str) -> Result<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base == ".." || base.contains('\0') {
        return Err(Error::field(field, format!("Invalid file name: {raw:?}")));
    }
    if base.len() > MAX_FILE_NAME_BYTES {
        return Err(Error::field(
            field,
            format!(
                "File name too long ({} bytes, at most {MAX_FILE_NAME_BYTES}): {:?}…",
                base.len(),
                base.chars().take(40).collect::<String>()
            ),
        ));
    }
    Ok(base.to_string())
}

/// A TUS upload as `HEAD` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TusUpload {
    pub id: String,
    pub length: u64,
    pub offset: u64,
    pub filename: String,
}

/// The session's files, handed over by [`UploadService::finish`].
#[derive(Debug)]
pub struct Finished {
    /// The folder holding them (the caller owns it now).
    pub dir: PathBuf,
    /// Their names, in arrival order.
    pub names: Vec<String>,
}

pub struct UploadService<'a> {
    pub(crate) core: &'a Core,
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::Internal(format!("{what}: {e}"))
}

/// A TUS id as we make them: 32 hex digits (anything else is not one of ours).
fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl UploadService<'_> {
    fn root(&self) -> PathBuf {
        self.core.config().data_dir.join("tmp").join("v2")
    }

    fn session_paths(&self, dest: Dest) -> (PathBuf, PathBuf) {
        let s = self.root().join("sessions");
        let slug = dest.slug();
        (s.join(&slug), s.join(format!("{slug}.names")))
    }

    fn tus_paths(&self, id: &str) -> (PathBuf, PathBuf) {
        let t = self.root().join("tus");
        (t.join(format!("{id}.part")), t.join(format!("{id}.json")))
    }

    /// `Upload-Start`: a new, empty session (one left unfinished is dropped).
    pub async fn start(&self, dest: Dest) -> Result<()> {
        self.sweep().await;
        let (dir, names) = self.session_paths(dest);
        let _ = tokio::fs::remove_dir_all(&dir).await;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(io("upload session"))?;
        tokio::fs::write(&names, b"")
            .await
            .map_err(io("upload session"))
    }

    async fn names(&self, dest: Dest) -> Result<Vec<String>> {
        let (dir, names) = self.session_paths(dest);
        if !tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            return Err(Error::BadRequest(
                "No upload session: send Upload-Start first".into(),
            ));
        }
        let listed = tokio::fs::read_to_string(&names).await.unwrap_or_default();
        Ok(listed
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Moves files that arrived elsewhere (`from/<name>`, an `Upload-Multiple` batch)
    /// into the session; a name the session already holds is refused and nothing moves.
    pub async fn add(&self, dest: Dest, from: &Path, names: &[String]) -> Result<()> {
        let mut listed = self.names(dest).await?;
        for n in names {
            if listed.contains(n) {
                return Err(Error::field(
                    "client_files",
                    format!("Duplicate file name: {n}"),
                ));
            }
        }
        let (dir, names_file) = self.session_paths(dest);
        for n in names {
            tokio::fs::rename(from.join(n), dir.join(n))
                .await
                .map_err(io("upload session"))?;
            listed.push(n.clone());
        }
        let mut text = listed.join("\n");
        text.push('\n');
        tokio::fs::write(&names_file, text)
            .await
            .map_err(io("upload session"))
    }

    /// `Upload-Finish`: the session's files, handed over (the session is gone). A finish
    /// without a start is an empty session.
    pub async fn finish(&self, dest: Dest) -> Result<Finished> {
        let (dir, names_file) = self.session_paths(dest);
        let names = match self.names(dest).await {
            Ok(n) => n,
            Err(_) => {
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(io("upload session"))?;
                vec![]
            }
        };
        let _ = tokio::fs::remove_file(&names_file).await;
        // a folder of its own, so that a new session can start at once
        let handed = self.root().join("finished").join(crate::random_hex(16));
        tokio::fs::create_dir_all(handed.parent().unwrap_or(&handed))
            .await
            .map_err(io("upload session"))?;
        tokio::fs::rename(&dir, &handed)
            .await
            .map_err(io("upload session"))?;
        Ok(Finished { dir: handed, names })
    }

    /// A file of the session (an annotation file named by `Upload-Finish`'s `filename`).
    pub async fn take_file(&self, dest: Dest, name: &str) -> Result<PathBuf> {
        let name = file_name(name, "filename")?;
        let listed = self.names(dest).await?;
        if !listed.contains(&name) {
            return Err(Error::field(
                "filename",
                format!("No file {name:?} was uploaded in this session"),
            ));
        }
        let (dir, names_file) = self.session_paths(dest);
        let out = self
            .root()
            .join("finished")
            .join(format!("{}.upload", crate::random_hex(16)));
        tokio::fs::create_dir_all(out.parent().unwrap_or(&out))
            .await
            .map_err(io("upload session"))?;
        tokio::fs::rename(dir.join(&name), &out)
            .await
            .map_err(io("upload session"))?;
        let rest: Vec<String> = listed.into_iter().filter(|n| *n != name).collect();
        let _ = tokio::fs::write(&names_file, rest.join("\n")).await;
        Ok(out)
    }

    /// TUS creation: a new upload of `length` bytes named `filename` (from
    /// `Upload-Metadata`) into `dest`'s session.
    pub async fn tus_create(
        &self,
        dest: Dest,
        user: i64,
        length: u64,
        filename: &str,
    ) -> Result<TusUpload> {
        let name = file_name(filename, "filename")?;
        if let Some(max) = self.core.config().max_upload_bytes
            && length > max
        {
            return Err(Error::TooLarge(format!(
                "The file is larger than this server's --max-upload-bytes ({max} bytes)"
            )));
        }
        if self.names(dest).await?.contains(&name) {
            return Err(Error::field(
                "filename",
                format!("Duplicate file name: {name}"),
            ));
        }
        self.sweep().await;
        let id = crate::random_hex(16);
        let (part, meta) = self.tus_paths(&id);
        tokio::fs::create_dir_all(part.parent().unwrap_or(&part))
            .await
            .map_err(io("upload"))?;
        let m = json!({"dest": dest.slug(), "user": user, "length": length, "filename": name});
        tokio::fs::write(&meta, m.to_string())
            .await
            .map_err(io("upload"))?;
        tokio::fs::write(&part, b"").await.map_err(io("upload"))?;
        let upload = TusUpload {
            id,
            length,
            offset: 0,
            filename: name,
        };
        if length == 0 {
            self.complete(dest, &upload).await?;
        }
        Ok(upload)
    }

    /// The upload `id` of `dest` by `user` (404 for anything else).
    pub async fn tus_info(&self, dest: Dest, user: i64, id: &str) -> Result<TusUpload> {
        if !valid_id(id) {
            return Err(Error::NotFound);
        }
        let (part, meta) = self.tus_paths(id);
        let m: Value = match tokio::fs::read(&meta).await {
            Ok(b) => serde_json::from_slice(&b).map_err(|_| Error::NotFound)?,
            Err(_) => return Err(Error::NotFound),
        };
        if m["dest"] != dest.slug().as_str() || m["user"] != user {
            return Err(Error::NotFound);
        }
        let offset = tokio::fs::metadata(&part)
            .await
            .map(|m| m.len())
            .map_err(|_| Error::NotFound)?;
        Ok(TusUpload {
            id: id.to_string(),
            length: m["length"].as_u64().unwrap_or_default(),
            offset,
            filename: m["filename"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// TUS `PATCH`: appends `body` at `offset` (409 unless that is where the upload
    /// stands, or while another request writes to it). What arrived before a broken
    /// connection stays, so the client resumes from the offset `HEAD` reports. The
    /// upload's last byte moves the file into the session. Returns the new offset.
    pub async fn tus_append<S, E>(
        &self,
        dest: Dest,
        user: i64,
        id: &str,
        offset: u64,
        body: S,
    ) -> Result<TusUpload>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let mut up = self.tus_info(dest, user, id).await?;
        let (part, _) = self.tus_paths(id);
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&part)
            .map_err(|_| Error::NotFound)?;
        if file.try_lock().is_err() {
            return Err(Error::Conflict(
                "Another request is writing to this upload".into(),
            ));
        }
        // read the offset under the lock: a writer that just finished has moved it
        let at = file.metadata().map_err(io("upload"))?.len();
        if offset != at {
            return Err(Error::Conflict(format!(
                "Upload-Offset {offset} does not match the upload's offset {at}"
            )));
        }
        let mut out = tokio::fs::File::from_std(file);
        let mut body = std::pin::pin!(body);
        let mut written = at;
        let mut broken = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    broken = Some(e.to_string());
                    break;
                }
            };
            let room = up.length - written;
            if chunk.len() as u64 > room {
                out.write_all(&chunk[..room as usize])
                    .await
                    .map_err(io("upload"))?;
                out.flush().await.map_err(io("upload"))?;
                return Err(Error::BadRequest(format!(
                    "The request carries more than the upload's Upload-Length ({} bytes)",
                    up.length
                )));
            }
            out.write_all(&chunk).await.map_err(io("upload"))?;
            written += chunk.len() as u64;
        }
        out.flush().await.map_err(io("upload"))?;
        drop(out);
        up.offset = written;
        if let Some(e) = broken {
            return Err(Error::BadRequest(format!(
                "The upload broke off at offset {written}: {e}"
            )));
        }
        if up.offset == up.length {
            self.complete(dest, &up).await?;
        }
        Ok(up)
    }

    /// Moves a finished TUS upload into its session.
    async fn complete(&self, dest: Dest, up: &TusUpload) -> Result<()> {
        let (part, meta) = self.tus_paths(&up.id);
        let tmp = self.root().join("tus").join(&up.id);
        tokio::fs::create_dir_all(&tmp)
            .await
            .map_err(io("upload"))?;
        tokio::fs::rename(&part, tmp.join(&up.filename))
            .await
            .map_err(io("upload"))?;
        let added = self
            .add(dest, &tmp, std::slice::from_ref(&up.filename))
            .await;
        let _ = tokio::fs::remove_dir_all(&tmp).await;
        let _ = tokio::fs::remove_file(&meta).await;
        added
    }

    /// Removes TUS uploads and sessions untouched for `upload_ttl`, and handed-over
    /// folders a crash left behind for as long.
    pub async fn sweep(&self) {
        let ttl = self.core.config().upload_ttl;
        let root = self.root();
        for sub in ["tus", "sessions", "finished"] {
            let Ok(mut entries) = tokio::fs::read_dir(root.join(sub)).await else {
                continue;
            };
            while let Ok(Some(e)) = entries.next_entry().await {
                let Ok(m) = e.metadata().await else { continue };
                let idle = m
                    .modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|d| d > ttl);
                if !idle {
                    continue;
                }
                let path = e.path();
                // a session's folder and its `.names` file go together
                if sub == "tus" && path.extension().is_some_and(|x| x == "json") {
                    let part = path.with_extension("part");
                    if tokio::fs::try_exists(&part).await.unwrap_or(false) {
                        continue; // the `.part` decides
                    }
                }
                let removed = if m.is_dir() {
                    tokio::fs::remove_dir_all(&path).await
                } else {
                    tokio::fs::remove_file(&path).await
                };
                if removed.is_ok() {
                    tracing::info!(path = %path.display(), "removed an abandoned upload");
                    if sub == "tus" && path.extension().is_some_and(|x| x == "part") {
                        let _ = tokio::fs::remove_file(path.with_extension("json")).await;
                    }
                }
            }
        }
    }
}
