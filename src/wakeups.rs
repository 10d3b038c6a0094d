//! Wakes event followers when events commit. A call that wrote wakes this process's followers
//! in memory at once, and marks the write for the announcer, which sends one coalesced NOTIFY
//! (outside any writing transaction) so other replicas wake theirs; one `LISTEN` connection
//! per process receives those. A wake-up only means "read again"; followers also poll slowly,
//! so a lost wake-up delays them and never loses an event.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::store;

/// How long to wait before listening again after the connection failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Writes within this window share one NOTIFY to the other replicas.
const ANNOUNCE_EVERY: Duration = Duration::from_millis(10);

/// The in-memory fan-out: a counter that moves on every notification. Followers compare it,
/// so any number of notifications while a follower is busy reading coalesce into one re-read.
#[derive(Debug, Clone)]
pub struct Wakeups {
    sender: watch::Sender<u64>,
    written: std::sync::Arc<Notify>,
}

impl Default for Wakeups {
    fn default() -> Self {
        Self {
            sender: watch::Sender::new(0),
            written: std::sync::Arc::new(Notify::new()),
        }
    }
}

impl Wakeups {
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }

    pub fn wake(&self) {
        self.sender.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Events were committed by this process: wake its followers, and the other replicas'.
    pub fn written(&self) {
        self.wake();
        self.written.notify_one();
    }
}

/// Announces this process's writes to the other replicas until `stop`: one NOTIFY per burst.
pub async fn announce(db: PgPool, wakeups: Wakeups, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = wakeups.written.notified() => {}
        }
        if let Err(err) = store::events::announce(&db).await {
            tracing::warn!(error = %err, "cannot announce written events to other replicas");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(ANNOUNCE_EVERY) => {}
        }
    }
}

/// Listens for other replicas' announcements until `stop`, waking every follower
/// on each. After a lost connection it wakes them anyway (notifications may have been missed)
/// and listens again.
pub async fn listen(db: PgPool, wakeups: Wakeups, stop: CancellationToken) {
    while !stop.is_cancelled() {
        match store::events::listen(&db).await {
            Ok(mut listener) => {
                wakeups.wake();
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        received = listener.recv() => match received {
                            Ok(_) => wakeups.wake(),
                            Err(err) => {
                                tracing::warn!(error = %err, "event notifications lost; listening again");
                                break;
                            }
                        },
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot listen for event notifications"),
        }
        wakeups.wake();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RETRY_AFTER) => {}
        }
    }
}
