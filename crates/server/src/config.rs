//! Configuration: one typed struct from command-line flags and `FERROCAT_*` variables,
//! validated at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono_tz::Tz;
use clap::{Args, Parser, Subcommand};
use ferrocat_core::CoreConfig;
use ferrocat_wire::server::UserAgreement;

/// ferrocat: a single-binary image and video annotation server speaking the CVAT REST
/// API v1. With no command it runs `serve`.
#[derive(Debug, Parser)]
#[command(name = "ferrocat", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default). Applies migrations first.
    Serve,
    /// Run background work only (task data processing, exports, imports, backups,
    /// git pushes) with `--workers` workers, beside `serve --workers 0` replicas on the
    /// same database and data. Applies migrations first.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Create a superuser (staff, admin group) non-interactively.
    Createsuperuser {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long, env = "FERROCAT_SUPERUSER_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

/// Settings shared by every command.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(
        long,
        env = "FERROCAT_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// Folder for the SQLite database, media and exports.
    #[arg(
        long,
        env = "FERROCAT_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Root of the server share that `server_files` and `/server/share` read
    /// [default: <data-dir>/share].
    #[arg(long, env = "FERROCAT_SHARE_DIR", global = true)]
    pub share_dir: Option<PathBuf>,

    /// Metadata database: `sqlite://path` or `postgres://user@host/db`
    /// [default: sqlite://<data-dir>/ferrocat.db].
    #[arg(
        long,
        env = "FERROCAT_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// IANA time zone in which dates are rendered (e.g. `Asia/Shanghai`).
    #[arg(long, env = "FERROCAT_TIME_ZONE", default_value = "UTC", global = true)]
    pub time_zone: String,

    /// Password for the `admin` superuser created on first start (random and printed
    /// once when unset).
    #[arg(
        long,
        env = "FERROCAT_ADMIN_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub admin_password: Option<String>,

    /// Comma-separated groups that self-registered users join (empty: none, as CVAT).
    #[arg(
        long,
        env = "FERROCAT_DEFAULT_GROUPS",
        default_value = "user",
        global = true
    )]
    pub default_groups: String,

    /// Login and registration attempts allowed per client address, as `N/second`,
    /// `N/minute` or `N/hour`; `0` turns the limit off.
    #[arg(
        long,
        env = "FERROCAT_AUTH_RATE_LIMIT",
        default_value = "20/minute",
        global = true
    )]
    pub auth_rate_limit: String,

    /// User agreements shown at registration, as a JSON list of
    /// `{"name", "display_text", "url", "required"}`.
    #[arg(
        long,
        env = "FERROCAT_USER_AGREEMENTS",
        default_value = "[]",
        global = true
    )]
    pub user_agreements: String,

    /// Allow `remote_files` URLs on loopback, link-local and private addresses.
    #[arg(long, env = "FERROCAT_ALLOW_PRIVATE_REMOTE", default_value_t = false, global = true,
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    pub allow_private_remote: bool,

    /// Allow dataset repositories (`/git/repository/create`) at `file://` URLs and local
    /// paths (off: only `https://`, `ssh://` and `user@host:path` remotes).
    #[arg(long, env = "FERROCAT_GIT_ALLOW_LOCAL", default_value_t = false, global = true,
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    pub git_allow_local: bool,

    /// Largest remote file (bytes) downloaded for task data.
    #[arg(long, env = "FERROCAT_REMOTE_MAX_BYTES", default_value_t = 4 << 30, global = true)]
    pub remote_max_bytes: u64,

    /// Slowest remote download kept, in KB/s averaged over `--remote-rate-window`
    /// seconds; 0 turns the check off.
    #[arg(
        long,
        env = "FERROCAT_REMOTE_MIN_RATE",
        default_value_t = 10,
        global = true
    )]
    pub remote_min_rate: u64,

    /// Seconds over which `--remote-min-rate` is measured.
    #[arg(
        long,
        env = "FERROCAT_REMOTE_RATE_WINDOW",
        default_value_t = 30,
        global = true
    )]
    pub remote_rate_window: u64,

    /// Longest download of one remote file, in seconds.
    #[arg(
        long,
        env = "FERROCAT_REMOTE_TIMEOUT",
        default_value_t = 600,
        global = true
    )]
    pub remote_timeout: u64,

    /// Remote files of one task downloaded at once.
    #[arg(
        long,
        env = "FERROCAT_REMOTE_PARALLEL",
        default_value_t = 4,
        global = true
    )]
    pub remote_parallel: usize,

    /// Memory (MB) for rendered job annotations, so that a big job read twice is served
    /// from memory; 0 turns the cache off.
    #[arg(
        long,
        env = "FERROCAT_ANNOTATION_CACHE_MB",
        default_value_t = 256,
        global = true
    )]
    pub annotation_cache_mb: usize,
    /// Memory (MB) for stored chunks and previews being served, so that a chunk every
    /// annotator opens is sent from memory; 0 turns the cache off.
    #[arg(
        long,
        env = "FERROCAT_MEDIA_CACHE_MB",
        default_value_t = 256,
        global = true
    )]
    pub media_cache_mb: usize,

    /// Largest pool of database connections.
    #[arg(
        long,
        env = "FERROCAT_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub db_max_connections: u32,

    /// Largest source file of one frame (and archive member) that processing reads.
    #[arg(long, env = "FERROCAT_MAX_FRAME_BYTES", default_value_t = 512 << 20, global = true)]
    pub max_frame_bytes: u64,

    /// Longest run of ffmpeg on one video (or pdftoppm on one PDF) while task data is
    /// processed, in seconds; then it is stopped and the task fails.
    #[arg(
        long,
        env = "FERROCAT_MEDIA_TIMEOUT",
        default_value_t = 21600,
        global = true
    )]
    pub media_timeout: u64,

    /// Seconds a worker's claim on a queue item lasts unless renewed (it is renewed every
    /// third of that while the item runs); a crashed worker's items are taken over after it.
    #[arg(
        long,
        env = "FERROCAT_QUEUE_LEASE",
        default_value_t = 60,
        global = true
    )]
    pub queue_lease: u64,

    /// Largest ratio of extracted to compressed size of an uploaded archive.
    #[arg(
        long,
        env = "FERROCAT_MAX_ARCHIVE_RATIO",
        default_value_t = 100,
        global = true
    )]
    pub max_archive_ratio: u64,

    /// Largest total size (bytes) of the files uploaded for one task's data, counted
    /// while they stream in; unset means no limit.
    #[arg(long, env = "FERROCAT_MAX_UPLOAD_BYTES", global = true)]
    pub max_upload_bytes: Option<u64>,

    /// Seconds an unfinished v2 upload (a TUS upload or an upload session) is kept after
    /// its last byte arrived; then it is removed and the client has to start again.
    #[arg(
        long,
        env = "FERROCAT_UPLOAD_TTL",
        default_value_t = 86400,
        global = true
    )]
    pub upload_ttl: u64,

    /// Background workers in this process (task data processing, imports, exports); 0
    /// serves the API only and leaves the work to other processes. Two by default, so
    /// that one long item (a slow download, a big archive) does not hold all others.
    #[arg(long, env = "FERROCAT_WORKERS", default_value_t = 2, global = true)]
    pub workers: usize,

    /// Seconds a client has to send a request's line and headers; also how long an idle
    /// keep-alive connection stays open.
    #[arg(
        long,
        env = "FERROCAT_HEADER_TIMEOUT",
        default_value_t = 30,
        global = true
    )]
    pub header_timeout: u64,

    /// Most connections served at once; more wait in the listen queue. Lowered at start
    /// to what the open-file limit allows.
    #[arg(
        long,
        env = "FERROCAT_MAX_CONNECTIONS",
        default_value_t = 10_000,
        global = true
    )]
    pub max_connections: usize,

    /// Seconds a shutdown waits for requests and background work to finish; then the
    /// work still claimed is released for another worker and the process exits.
    #[arg(
        long,
        env = "FERROCAT_SHUTDOWN_TIMEOUT",
        default_value_t = 30,
        global = true
    )]
    pub shutdown_timeout: u64,

    /// Log format: `text` or `json`.
    #[arg(
        long,
        env = "FERROCAT_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: String,
}

/// An allowance of `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: std::time::Duration,
}

impl Config {
    /// Settings for tests and embedding: everything under `data_dir`, port chosen by the
    /// system.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            data_dir: data_dir.into(),
            share_dir: None,
            database_url: None,
            time_zone: "UTC".into(),
            admin_password: None,
            default_groups: "user".into(),
            auth_rate_limit: "20/minute".into(),
            user_agreements: "[]".into(),
            db_max_connections: 16,
            allow_private_remote: false,
            git_allow_local: false,
            remote_max_bytes: 4 << 30,
            remote_min_rate: 10,
            remote_rate_window: 30,
            remote_timeout: 600,
            remote_parallel: 4,
            annotation_cache_mb: 256,
            media_cache_mb: 256,
            max_frame_bytes: 512 << 20,
            media_timeout: 21600,
            queue_lease: 60,
            max_archive_ratio: 100,
            max_upload_bytes: None,
            upload_ttl: 86400,
            // one, so that tests see queue items run in order
            workers: 1,
            header_timeout: 30,
            max_connections: 10_000,
            shutdown_timeout: 30,
            log_format: "text".into(),
        }
    }

    pub fn share_dir(&self) -> PathBuf {
        self.share_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("share"))
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("ferrocat.db").display()))
    }

    pub fn time_zone(&self) -> anyhow::Result<Tz> {
        self.time_zone
            .parse::<Tz>()
            .map_err(|e| anyhow::anyhow!("--time-zone {:?}: {e}", self.time_zone))
    }

    pub fn auth_rate(&self) -> anyhow::Result<Option<Rate>> {
        let s = self.auth_rate_limit.trim();
        if s == "0" || s.is_empty() {
            return Ok(None);
        }
        let (n, unit) = s.split_once('/').ok_or_else(|| {
            anyhow::anyhow!("--auth-rate-limit {s:?}: expected N/second, N/minute or N/hour")
        })?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--auth-rate-limit {s:?}: bad count"))?;
        let secs = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            u => anyhow::bail!("--auth-rate-limit {s:?}: unknown unit {u:?}"),
        };
        if count == 0 {
            return Ok(None);
        }
        Ok(Some(Rate {
            count,
            per: std::time::Duration::from_secs(secs),
        }))
    }

    /// The use-case settings, validated.
    pub fn core_config(&self) -> anyhow::Result<CoreConfig> {
        let user_agreements: Vec<UserAgreement> = serde_json::from_str(&self.user_agreements)
            .map_err(|e| anyhow::anyhow!("--user-agreements: {e}"))?;
        let default_groups: Vec<String> = self
            .default_groups
            .split(',')
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect();
        for g in &default_groups {
            if ferrocat_core::Role::parse(g).is_none() {
                anyhow::bail!(
                    "--default-groups: unknown group {g:?} (admin, user, annotator, observer)"
                );
            }
        }
        // `--media-url` (a bucket behind the data folder) comes when processing, uploads
        // and cleanup go through the store too (issue 18); until then the folder is it.
        let media = ferrocat_core::media::MediaStore::local(&self.data_dir);
        Ok(CoreConfig {
            media,
            data_dir: self.data_dir.clone(),
            share_dir: self.share_dir(),
            allow_private_remote: self.allow_private_remote,
            git_allow_local: self.git_allow_local,
            remote: ferrocat_core::remote::Transfer {
                max_bytes: self.remote_max_bytes,
                min_rate: self.remote_min_rate.saturating_mul(1024),
                rate_window: std::time::Duration::from_secs(self.remote_rate_window.max(1)),
                timeout: std::time::Duration::from_secs(self.remote_timeout.max(1)),
                parallel: self.remote_parallel.max(1),
            },
            annotation_cache_bytes: self.annotation_cache_mb.saturating_mul(1 << 20),
            media_cache_bytes: self.media_cache_mb.saturating_mul(1 << 20),
            max_frame_bytes: self.max_frame_bytes,
            media_timeout: std::time::Duration::from_secs(self.media_timeout.max(1)),
            queue_lease: std::time::Duration::from_secs(self.queue_lease.max(3)),
            max_archive_ratio: self.max_archive_ratio.max(1),
            max_upload_bytes: self.max_upload_bytes,
            upload_ttl: std::time::Duration::from_secs(self.upload_ttl.max(1)),
            time_zone: self.time_zone()?,
            default_groups,
            user_agreements,
            ..CoreConfig::default()
        })
    }

    /// Checks every setting; called before anything starts.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.core_config()?;
        self.auth_rate()?;
        if self.header_timeout == 0 {
            anyhow::bail!("--header-timeout must be at least 1 second");
        }
        if self.max_connections == 0 {
            anyhow::bail!("--max-connections must be at least 1");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            anyhow::bail!("--log-format must be text or json");
        }
        Ok(())
    }

    /// The effective settings without secrets, for the start-up log.
    pub fn describe(&self) -> String {
        let db = self.database_url();
        let db = match db.split_once('@') {
            Some((scheme_user, host)) if db.starts_with("postgres") => {
                let scheme = scheme_user.split("://").next().unwrap_or("postgres");
                format!("{scheme}://***@{host}")
            }
            _ => db,
        };
        format!(
            "listen={} data_dir={} share_dir={} database={} time_zone={} default_groups={:?} auth_rate_limit={}",
            self.listen,
            self.data_dir.display(),
            self.share_dir().display(),
            db,
            self.time_zone,
            self.default_groups,
            self.auth_rate_limit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        let mut c = Config::for_data_dir("/tmp/x");
        assert_eq!(
            c.auth_rate().unwrap(),
            Some(Rate {
                count: 20,
                per: std::time::Duration::from_secs(60)
            })
        );
        c.auth_rate_limit = "0".into();
        assert_eq!(c.auth_rate().unwrap(), None);
        c.auth_rate_limit = "5/fortnight".into();
        assert!(c.auth_rate().is_err());
    }

    #[test]
    fn bad_settings_fail_fast() {
        let mut c = Config::for_data_dir("/tmp/x");
        c.time_zone = "Mars/Olympus".into();
        assert!(c.validate().is_err());
        let mut c = Config::for_data_dir("/tmp/x");
        c.default_groups = "user,wizard".into();
        assert!(c.validate().is_err());
        let c = Config::for_data_dir("/tmp/x");
        assert!(c.database_url().ends_with("ferrocat.db"));
    }
}
