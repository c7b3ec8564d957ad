//! ferrocat's use cases: accounts, permissions, tasks, jobs, annotations.
//!
//! [`Core`] is built once from a [`ferrocat_store::Db`] and a [`CoreConfig`], and hands
//! out one small service per resource (`core.auth()`, `core.users()`, `core.server()`).
//! Each service checks permissions itself (see [`permissions`]), so that a handler only
//! extracts, calls and maps. No HTTP types here.

use std::sync::Arc;

use chrono_tz::Tz;
use ferrocat_store::Db;
use ferrocat_wire::server::UserAgreement;
use tokio::sync::Semaphore;

pub mod annotations;
pub mod auth;
pub mod backups;
pub mod cleanup;
pub mod error;
pub mod exports;
pub mod git;
pub mod imports;
pub mod media;
pub mod passwords;
pub mod permissions;
pub mod processing;
pub mod projects;
pub mod queue;
pub mod remote;
pub mod requests;
pub mod server;
pub mod share;
pub mod stored;
pub mod tasks;
pub mod uploads;
pub mod users;

pub use error::{Error, Result};
pub use ferrocat_store::UserRow as User;
pub use ferrocat_store::auth::SessionRow as Session;
pub use permissions::{Actor, Perm, Policy, Role};

/// Settings the use cases need.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Time zone in which dates are rendered (api-v1 §2.4).
    pub time_zone: Tz,
    /// Groups a self-registered user joins.
    pub default_groups: Vec<String>,
    /// Agreements shown at registration; required ones must be confirmed.
    pub user_agreements: Vec<UserAgreement>,
    /// How long a cookie session lives.
    pub session_ttl: chrono::Duration,
    pub policy: Policy,
    /// This process's working folder: media, chunks and staging folders (the media
    /// store itself without a bucket; see [`media`]).
    pub data_dir: std::path::PathBuf,
    /// The media store behind `data_dir` (its root is `data_dir`).
    pub media: media::MediaStore,
    /// The server share root (`server_files`, `/server/share`).
    pub share_dir: std::path::PathBuf,
    /// Whether `remote_files` may point at loopback, link-local or private addresses.
    pub allow_private_remote: bool,
    /// Whether dataset repositories may be `file://` URLs or local paths.
    pub git_allow_local: bool,
    /// How `remote_files` are downloaded: size, speed and time limits, parallelism.
    pub remote: remote::Transfer,
    /// Memory for rendered job annotation documents (0 turns the cache off).
    pub annotation_cache_bytes: usize,
    /// Memory for stored chunks and previews being served (0 turns the cache off).
    pub media_cache_bytes: usize,
    /// Largest source file of one frame (and archive member) that processing reads.
    pub max_frame_bytes: u64,
    /// How long a worker's claim on a queue item lasts unless renewed (its heartbeat
    /// renews it every third of that): after a crash, another worker takes it then.
    pub queue_lease: std::time::Duration,
    /// Longest run of ffmpeg or pdftoppm on one task's video or PDF.
    pub media_timeout: std::time::Duration,
    /// Largest ratio of extracted to compressed size of an uploaded archive.
    pub max_archive_ratio: u64,
    /// Largest total size of one task's uploaded files (`None`: no limit).
    pub max_upload_bytes: Option<u64>,
    /// How long an unfinished v2 upload (a TUS upload, an upload session) is kept
    /// after its last byte arrived.
    pub upload_ttl: std::time::Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            time_zone: Tz::UTC,
            default_groups: vec!["user".into()],
            user_agreements: vec![],
            session_ttl: chrono::Duration::days(14),
            policy: Policy::default(),
            data_dir: "./data".into(),
            media: media::MediaStore::local(std::path::Path::new("./data")),
            share_dir: "./data/share".into(),
            allow_private_remote: false,
            git_allow_local: false,
            remote: remote::Transfer::default(),
            annotation_cache_bytes: 256 << 20,
            media_cache_bytes: 256 << 20,
            max_frame_bytes: 512 << 20,
            media_timeout: std::time::Duration::from_secs(21600),
            queue_lease: std::time::Duration::from_secs(60),
            max_archive_ratio: 100,
            max_upload_bytes: None,
            upload_ttl: std::time::Duration::from_secs(86400),
        }
    }
}

/// The use-case layer: cheap to clone, shared by all requests and workers.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    cfg: CoreConfig,
    blocking: Semaphore,
    queue: tokio::sync::Notify,
    documents: annotations::cache::DocumentCache,
    files: stored::FileCache,
}

impl Core {
    pub fn new(db: Db, cfg: CoreConfig) -> Core {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Core {
            inner: Arc::new(Inner {
                documents: annotations::cache::DocumentCache::new(cfg.annotation_cache_bytes),
                files: stored::FileCache::new(cfg.media_cache_bytes),
                db,
                cfg,
                blocking: Semaphore::new(cores),
                queue: tokio::sync::Notify::new(),
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Rendered job documents (see [`annotations::cache`]).
    pub fn documents(&self) -> &annotations::cache::DocumentCache {
        &self.inner.documents
    }

    /// Stored chunks and previews being served (see [`stored`]).
    pub fn files(&self) -> &stored::FileCache {
        &self.inner.files
    }

    pub fn config(&self) -> &CoreConfig {
        &self.inner.cfg
    }

    /// Runs CPU-heavy work (hashing, decoding) on the blocking pool, at most one per core
    /// at a time, so that the async runtime keeps answering.
    pub async fn blocking<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let _permit = self
            .inner
            .blocking
            .acquire()
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::Internal(format!("blocking work failed: {e}")))
    }

    pub fn auth(&self) -> auth::AuthService<'_> {
        auth::AuthService { core: self }
    }

    pub fn users(&self) -> users::UserService<'_> {
        users::UserService { core: self }
    }

    pub fn git(&self) -> git::GitService<'_> {
        git::GitService { core: self }
    }

    pub fn projects(&self) -> projects::ProjectService<'_> {
        projects::ProjectService { core: self }
    }

    pub fn tasks(&self) -> tasks::TaskService<'_> {
        tasks::TaskService { core: self }
    }

    pub fn annotations(&self) -> annotations::AnnotationService<'_> {
        annotations::AnnotationService { core: self }
    }

    pub fn exports(&self) -> exports::ExportService<'_> {
        exports::ExportService { core: self }
    }

    pub fn backups(&self) -> backups::BackupService<'_> {
        backups::BackupService { core: self }
    }

    /// The user a queue item runs for, as an actor (`what` names them in the error
    /// when they were deleted since).
    pub(crate) async fn actor_of(
        &self,
        user_id: i64,
        what: &str,
    ) -> std::result::Result<Actor, String> {
        let user = self.db().user(user_id).await.map_err(|e| e.to_string())?;
        user.map(|u| Actor::from_user(&u))
            .ok_or_else(|| format!("{what} is gone"))
    }

    pub fn requests(&self) -> requests::RequestService<'_> {
        requests::RequestService { core: self }
    }

    pub fn uploads(&self) -> uploads::UploadService<'_> {
        uploads::UploadService { core: self }
    }

    pub fn imports(&self) -> imports::ImportService<'_> {
        imports::ImportService { core: self }
    }

    pub fn server(&self) -> server::ServerService<'_> {
        server::ServerService { core: self }
    }

    /// The media store (see [`media`]).
    pub fn media(&self) -> &media::MediaStore {
        &self.inner.cfg.media
    }

    /// Whether the media store takes a write and gives it back (for readiness probes):
    /// the working folder, and the bucket when there is one.
    pub async fn media_probe(&self) -> std::result::Result<(), String> {
        self.media().probe().await
    }

    /// Wakes a background worker (work was queued).
    pub fn notify_queue(&self) {
        self.inner.queue.notify_one();
    }

    /// Completes when work was queued in this process.
    pub async fn queue_notified(&self) {
        self.inner.queue.notified().await
    }

    /// Checks a permission for `actor` under the configured policy.
    pub fn check(&self, actor: &Actor, perm: Perm<'_>) -> Result<()> {
        permissions::check(actor, self.inner.cfg.policy, perm)
    }
}

/// Random lowercase hex of `bytes` random bytes (token keys).
pub(crate) fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Random alphanumeric string (session keys, CSRF tokens, generated passwords).
pub fn random_alnum(len: usize) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
