//! Wakes event followers when events commit: one `LISTEN` connection per process, fanned out
//! in memory to every open `WatchEvents` stream. A wake-up only means "read again"; followers
//! also poll slowly, so a lost notification delays them and never loses an event.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store;

/// How long to wait before listening again after the connection failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The in-memory fan-out: a counter that moves on every notification. Followers compare it,
/// so any number of notifications while a follower is busy reading coalesce into one re-read.
#[derive(Debug, Clone)]
pub struct Wakeups {
    sender: watch::Sender<u64>,
}

impl Default for Wakeups {
    fn default() -> Self {
        Self {
            sender: watch::Sender::new(0),
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
}

/// Listens for the `lead_events` trigger's notifications until `stop`, waking every follower
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
