//! The HTTP/1 connection loop. `axum::serve` has no timeouts and no connection cap, so a
//! few hundred clients that send half a request line and wait would hold every file
//! descriptor of the process. Here:
//!
//! - at most `max_connections` are served at once (a semaphore permit per connection);
//!   more wait in the kernel's listen queue until one closes;
//! - a client has `header_timeout` to send a request line and headers. hyper starts
//!   that timer whenever it waits for a request head, so it is also the idle time of a
//!   keep-alive connection between requests;
//! - on shutdown the listener closes, idle connections close, and requests in flight
//!   run to the end or to the caller's deadline ([`Connections::finish`]).
//!
//! HTTP/1.1 only: that is what CVAT's clients and browsers speak to it, and hyper's
//! HTTP/2 preface detection has no timeout of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Descriptors kept out of the connection cap: the database pool, stored files being
/// read or written, the listener and the worker's files.
const RESERVED_FILES: u64 = 256;

/// How connections are limited.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// Raises the open-file soft limit to the hard limit (a server needs one descriptor per
/// connection; the usual soft limit of 1,024 is a desktop default). Returns the soft limit
/// now in force, if the platform tells.
pub fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// The connection cap that fits in `open_files` descriptors.
pub fn connection_cap(configured: usize, open_files: Option<u64>) -> usize {
    match open_files {
        Some(n) => {
            let fit = n.saturating_sub(RESERVED_FILES).max(16);
            configured.min(usize::try_from(fit).unwrap_or(usize::MAX))
        }
        None => configured,
    }
}

/// The open connections after the listener has stopped.
pub struct Connections {
    stop: tokio::sync::watch::Sender<bool>,
    permits: Arc<Semaphore>,
    max: usize,
}

impl Connections {
    /// Asks every connection to close after its request in flight (one that never sent
    /// a request is closed at once) and waits for them until `deadline`; returns whether
    /// all closed in time. A connection gives back its permit when it ends, so all
    /// permits back means all connections closed.
    pub async fn finish(self, deadline: tokio::time::Instant) -> bool {
        let _ = self.stop.send(true);
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        tokio::time::timeout_at(deadline, self.permits.acquire_many(all))
            .await
            .is_ok()
    }
}

/// Accepts and serves connections until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> Connections {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let max = limits.max_connections.min(u32::MAX as usize);
    let permits = Arc::new(Semaphore::new(max));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors (EMFILE) or a connection reset before it was
                    // accepted: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        // hyper's graceful shutdown waits for a connection that has not sent its first
        // request yet (it counts as busy): such a one is dropped instead.
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = started.clone();
        let service = tower::service_fn(move |mut req: hyper::Request<Incoming>| {
            seen.store(true, std::sync::atomic::Ordering::Relaxed);
            req.extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(remote));
            router.clone().oneshot(req)
        });
        let conn =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => Some(r),
                _ = stopped.wait_for(|s| *s) => None,
            };
            let ended = match ended {
                Some(r) => Some(r),
                None if started.load(std::sync::atomic::Ordering::Relaxed) => {
                    conn.as_mut().graceful_shutdown();
                    Some(conn.await)
                }
                None => None,
            };
            if let Some(Err(e)) = ended {
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    Connections { stop, permits, max }
}
