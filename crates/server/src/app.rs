//! `Application`: builds everything from a [`Config`] (data folders, database,
//! migrations, first admin, router) and serves until shut down. `main` and the tests
//! share it.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use ferrocat_core::Core;
use ferrocat_store::Db;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

use crate::config::Config;
use crate::middleware::{MakeId, REQUEST_ID};
use crate::serve::ConnLimits;
use crate::throttle::AuthLimiter;
use ferrocat_core::queue::Pool;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub limiter: AuthLimiter,
    pub metrics: PrometheusHandle,
}

/// A built server, bound to its address, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    core: Core,
    workers: usize,
    limits: ConnLimits,
    shutdown_timeout: Duration,
}

/// The process-wide Prometheus recorder (installed once, shared by every app in a
/// process, e.g. in tests).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; then ours just stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Opens the configured database and applies migrations.
pub async fn open_db(config: &Config) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        anyhow::anyhow!("cannot create data dir {}: {e}", config.data_dir.display())
    })?;
    let db = Db::connect(&config.database_url(), config.db_max_connections).await?;
    db.migrate().await?;
    Ok(db)
}

impl Application {
    /// Builds from the configuration: creates folders, connects and migrates the database.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        config.validate()?;
        let db = open_db(&config).await?;
        Self::build_with_db(config, db).await
    }

    /// Builds on an already migrated database (tests use it for PostgreSQL schemas).
    pub async fn build_with_db(config: Config, db: Db) -> anyhow::Result<Application> {
        config.validate()?;
        std::fs::create_dir_all(config.share_dir()).map_err(|e| {
            anyhow::anyhow!(
                "cannot create share dir {}: {e}",
                config.share_dir().display()
            )
        })?;
        let core = Core::new(db, config.core_config()?);
        if let Some(password) = core
            .auth()
            .ensure_initial_admin(config.admin_password.clone())
            .await?
        {
            if config.admin_password.is_some() {
                tracing::warn!(
                    "created the superuser \"admin\" with the password from FERROCAT_ADMIN_PASSWORD"
                );
            } else {
                tracing::warn!(
                    "created the superuser \"admin\" with password: {password}  (shown once; change it after logging in)"
                );
            }
        }
        log_media_tools();
        let state = AppState {
            core: core.clone(),
            limiter: AuthLimiter::new(config.auth_rate()?),
            metrics: metrics_handle(),
        };
        let router = crate::http::router(state)
            .layer(axum::middleware::from_fn(crate::middleware::observe))
            .layer(axum::middleware::from_fn(
                crate::middleware::security_headers,
            ))
            .layer(CatchPanicLayer::custom(|_| {
                crate::error::ApiError::Internal("handler panicked".into()).into_response_owned()
            }))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
            .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeId));
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let open_files = crate::serve::raise_open_file_limit();
        let max_connections = crate::serve::connection_cap(config.max_connections, open_files);
        if max_connections < config.max_connections {
            tracing::warn!(
                "serving at most {max_connections} connections at once: the open-file limit is {}",
                open_files.unwrap_or_default()
            );
        }
        Ok(Application {
            listener,
            router,
            core,
            workers: config.workers,
            limits: ConnLimits {
                header_timeout: Duration::from_secs(config.header_timeout),
                max_connections,
            },
            shutdown_timeout: Duration::from_secs(config.shutdown_timeout),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Serves until `shutdown` completes. Then it stops accepting and claiming work,
    /// waits up to the shutdown deadline for requests in flight and for the workers'
    /// current items, gives back what is still claimed, and closes the database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let pool = Pool::start(&self.core, self.workers).await;
        let housekeeping = tokio::spawn(housekeeping(self.core.clone()));
        let connections =
            crate::serve::serve(self.listener, self.router, self.limits, shutdown).await;
        tracing::info!("shutting down: finishing in-flight requests and running queue items");
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        housekeeping.abort();
        let (requests_done, _) = tokio::join!(
            connections.finish(deadline),
            pool.stop(&self.core, deadline)
        );
        if !requests_done {
            tracing::warn!("shutdown deadline reached: closing the requests still running");
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.core.db().close()).await;
        Ok(())
    }
}

/// `ferrocat worker`: background work only (task data processing, exports, imports,
/// backups, clean-up, git pushes) with `--workers` workers, until `shutdown`; then
/// the running items get the shutdown deadline to end and are given back after it.
pub async fn run_worker(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    if config.workers == 0 {
        anyhow::bail!("ferrocat worker needs --workers of 1 or more");
    }
    let db = open_db(&config).await?;
    std::fs::create_dir_all(config.share_dir()).map_err(|e| {
        anyhow::anyhow!(
            "cannot create share dir {}: {e}",
            config.share_dir().display()
        )
    })?;
    let core = Core::new(db, config.core_config()?);
    log_media_tools();
    let pool = Pool::start(&core, config.workers).await;
    tracing::info!(workers = config.workers, "working on the queue");
    let housekeeping = tokio::spawn(housekeeping(core.clone()));
    shutdown.await;
    tracing::info!("shutting down: finishing the running queue items");
    housekeeping.abort();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(config.shutdown_timeout);
    pool.stop(&core, deadline).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), core.db().close()).await;
    Ok(())
}

/// Hourly clean-up of expired sessions and idempotency keys.
async fn housekeeping(core: Core) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match core.db().purge_expired_sessions().await {
            Ok(n) if n > 0 => tracing::info!(sessions = n, "purged expired sessions"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "session purge failed"),
        }
        let before = ferrocat_store::now() - ferrocat_core::annotations::IDEMPOTENCY_TTL;
        match core.db().purge_idempotency_keys(before).await {
            Ok(n) if n > 0 => tracing::info!(keys = n, "purged old idempotency keys"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "idempotency key purge failed"),
        }
        // abandoned v2 uploads (also swept whenever an upload starts)
        core.uploads().sweep().await;
    }
}

impl crate::error::ApiError {
    fn into_response_owned(self) -> axum::response::Response {
        axum::response::IntoResponse::into_response(self)
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: signal received");
}

/// Says at start-up which kinds of task data this server can process: video needs
/// `ffmpeg` and `ffprobe`, PDF needs `pdfinfo` and `pdftoppm` on `PATH`.
fn log_media_tools() {
    use ferrocat_media::tool;
    for (kind, programs) in [
        ("video", ["ffmpeg", "ffprobe"]),
        ("PDF", ["pdftoppm", "pdfinfo"]),
    ] {
        let missing: Vec<&str> = programs
            .into_iter()
            .filter(|p| tool::find(p).is_none())
            .collect();
        if missing.is_empty() {
            tracing::info!("{kind} data is on ({} found)", programs.join(", "));
        } else {
            tracing::warn!(
                "{kind} data is off: {} not found on PATH (Debian: apt-get install {})",
                missing.join(", "),
                tool::package_of(missing[0])
            );
        }
    }
    if tool::find("git").is_some() {
        tracing::info!("dataset repositories are on (git found)");
    } else {
        tracing::warn!(
            "dataset repositories are off: git not found on PATH (Debian: apt-get install git)"
        );
    }
}
