//! Background work: queue items (rows of `queue_items`, `ferrocat_store::queue`) run by
//! workers. A worker claims an item with a lease, renews it while the item runs (the
//! heartbeat), and records its end; an item whose worker died is claimed again when the
//! lease runs out, at most [`MAX_ATTEMPTS`] times.
//!
//! [`KINDS`] is the one registry of item kinds: a new kind of work is a module with a
//! `run` (and, when a failure must undo something, a `give_up`) added there.
//!
//! A [`Pool`] is a process's workers (`ferrocat serve` has `--workers` of them, `ferrocat
//! worker` nothing else). Idle workers wake when this process queues work; on
//! PostgreSQL also when any process does (`LISTEN/NOTIFY`), and they look at the queue
//! every [`POLL`] (or [`POLL_LISTENING`]) in case an announcement was missed. SQLite
//! is one machine's database: workers of another process there are seen by polling.

use std::time::Duration;

use ferrocat_store::queue::QueueItem;
use futures_util::future::BoxFuture;

use crate::Core;

/// Times an item may be started (a worker died during it) before it is given up.
const MAX_ATTEMPTS: i64 = 3;

/// Runs one item; `Err` is the message the item fails with.
type Run = for<'a> fn(&'a Core, &'a QueueItem) -> BoxFuture<'a, Result<(), String>>;
/// Undoes what a failed item leaves behind (before it is marked failed).
type GiveUp = for<'a> fn(&'a Core, &'a QueueItem) -> BoxFuture<'a, ()>;

/// One kind of background work.
pub struct Kind {
    pub name: &'static str,
    run: Run,
    give_up: Option<GiveUp>,
}

/// Every kind of queue item.
pub const KINDS: [Kind; 8] = [
    Kind {
        name: "task_data",
        run: crate::processing::run,
        give_up: Some(crate::processing::give_up),
    },
    Kind {
        name: crate::exports::KIND,
        run: |c, i| Box::pin(crate::exports::run(c, i)),
        give_up: None,
    },
    Kind {
        name: crate::imports::KIND,
        run: |c, i| Box::pin(crate::imports::run(c, i)),
        give_up: None,
    },
    Kind {
        name: crate::backups::EXPORT_KIND,
        run: |c, i| Box::pin(crate::backups::run_export(c, i)),
        give_up: None,
    },
    Kind {
        name: crate::backups::IMPORT_KIND,
        run: |c, i| Box::pin(crate::backups::run_restore(c, i)),
        give_up: None,
    },
    Kind {
        name: crate::cleanup::KIND,
        run: |c, i| Box::pin(crate::cleanup::run(c, i)),
        give_up: None,
    },
    Kind {
        name: crate::git::CHECK_KIND,
        run: |c, i| Box::pin(crate::git::run(c, i)),
        give_up: None,
    },
    Kind {
        name: crate::git::PUSH_KIND,
        run: |c, i| Box::pin(crate::git::run(c, i)),
        give_up: None,
    },
];

/// How long a claim on a queue item lasts without renewal (`--queue-lease`).
pub(crate) fn lease(core: &Core) -> chrono::Duration {
    chrono::Duration::from_std(core.config().queue_lease).unwrap_or(chrono::Duration::seconds(60))
}

/// The queue items this process's workers hold. A shutdown that cannot wait for them
/// gives them back ([`Claims::release`]) so that another worker takes them over at once
/// instead of when their lease runs out.
#[derive(Clone, Default)]
pub struct Claims(std::sync::Arc<std::sync::Mutex<std::collections::HashSet<i64>>>);

impl Claims {
    fn set(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<i64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ids held now.
    pub fn held(&self) -> Vec<i64> {
        self.set().iter().copied().collect()
    }

    /// Releases every held item in the database; returns how many were still running.
    pub async fn release(&self, core: &Core) -> u64 {
        let ids = self.held();
        if ids.is_empty() {
            return 0;
        }
        match core.db().release_queue_items(&ids).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "could not release the claimed queue items");
                0
            }
        }
    }
}

/// How often an idle worker looks at the queue without an announcement.
pub const POLL: Duration = Duration::from_millis(500);
/// The same, while announcements arrive by `LISTEN` (they can be missed only while the
/// listener reconnects).
pub const POLL_LISTENING: Duration = Duration::from_secs(5);

/// A process's workers, their claims and (on PostgreSQL) the listener that wakes them.
pub struct Pool {
    stop: tokio::sync::watch::Sender<bool>,
    workers: tokio::task::JoinSet<()>,
    listener: Option<tokio::task::JoinHandle<()>>,
    claims: Claims,
}

impl Pool {
    /// Starts `n` workers (none for `n` = 0).
    pub async fn start(core: &Core, n: usize) -> Pool {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let claims = Claims::default();
        let listener = if n == 0 {
            None
        } else {
            match core.db().queue_listener().await {
                Ok(l) => l.map(|l| tokio::spawn(wake_on_announcements(core.clone(), l))),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for queued work: polling instead");
                    None
                }
            }
        };
        let poll = if listener.is_some() {
            POLL_LISTENING
        } else {
            POLL
        };
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..n {
            workers.spawn(worker(core.clone(), stop_rx.clone(), claims.clone(), poll));
        }
        Pool {
            stop,
            workers,
            listener,
            claims,
        }
    }

    /// Claims nothing more and waits until `deadline` for the running items. Past it,
    /// the workers are cancelled (their heartbeats with them) and what they held is
    /// given back for another worker; work on blocking threads is left to the runtime's
    /// own shutdown. Whether every item ended in time.
    pub async fn stop(mut self, core: &Core, deadline: tokio::time::Instant) -> bool {
        let _ = self.stop.send(true);
        if let Some(l) = self.listener.take() {
            l.abort();
        }
        let drained = tokio::time::timeout_at(deadline, async {
            while let Some(r) = self.workers.join_next().await {
                if let Err(e) = r {
                    tracing::error!(error = %e, "a worker ended abnormally");
                }
            }
        })
        .await
        .is_ok();
        if !drained {
            self.workers.abort_all();
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while self.workers.join_next().await.is_some() {}
            })
            .await;
            let released = tokio::time::timeout(Duration::from_secs(5), self.claims.release(core))
                .await
                .unwrap_or(0);
            tracing::warn!(
                released,
                "shutdown deadline reached: the queue items still running are released for another worker"
            );
        }
        drained
    }
}

/// Wakes a worker of this process for every announcement of queued work.
async fn wake_on_announcements(core: Core, mut listener: ferrocat_store::queue::QueueListener) {
    loop {
        match listener.next().await {
            Ok(_) => core.notify_queue(),
            Err(e) => {
                tracing::warn!(error = %e, "listening for queued work failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                core.notify_queue();
            }
        }
    }
}

/// The background worker: claims queue items and runs them until `stop` turns true,
/// looking at the queue when woken and every `poll`. An item stays in `claims` while it
/// runs (and after, if the worker is aborted).
pub async fn worker(
    core: Core,
    mut stop: tokio::sync::watch::Receiver<bool>,
    claims: Claims,
    poll: Duration,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        match core.db().claim_queue_item(lease(&core)).await {
            Ok(Some(item)) => {
                let id = item.id;
                claims.set().insert(id);
                run_item(&core, item).await;
                claims.set().remove(&id);
            }
            Ok(None) => {
                tokio::select! {
                    _ = core.queue_notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "queue claim failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Renews a queue item's lease while its work runs (downloads, processing, exports),
/// so that no other worker takes it over; stops when dropped, also when the worker is
/// cancelled at shutdown.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    fn start(core: &Core, id: i64) -> Heartbeat {
        let core = core.clone();
        Heartbeat(tokio::spawn(async move {
            loop {
                tokio::time::sleep(core.config().queue_lease / 3).await;
                if let Err(e) = core.db().renew_queue_lease(id, lease(&core)).await {
                    tracing::warn!(error = %e, "could not renew a queue item's lease");
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[tracing::instrument(skip_all, fields(key = %item.key, kind = %item.kind))]
async fn run_item(core: &Core, item: QueueItem) {
    let _beat = Heartbeat::start(core, item.id);
    let Some(kind) = KINDS.iter().find(|k| k.name == item.kind) else {
        let msg = format!("unknown kind of work: {}", item.kind);
        let _ = core.db().queue_done(item.id, true, &msg).await;
        return;
    };
    let outcome = if item.attempts > MAX_ATTEMPTS {
        Err("The work was interrupted too many times; start it again".to_string())
    } else {
        (kind.run)(core, &item).await
    };
    let (failed, msg) = match outcome {
        Ok(()) => (false, String::new()),
        Err(m) => {
            tracing::warn!(error = %m, "background work failed");
            if let Some(give_up) = kind.give_up {
                give_up(core, &item).await;
            }
            (true, m)
        }
    };
    if let Err(e) = core.db().queue_done(item.id, failed, &msg).await {
        tracing::warn!(error = %e, "could not record the end of a queue item");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique() {
        let mut names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
    }
}
