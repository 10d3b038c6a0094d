//! Background loops: each sweeps on its own interval until the server shuts down, and stops
//! between batches, never inside one.

pub mod distribute;
pub mod recycle;
pub mod reports;
pub mod reroute;

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::domain::{DomainError, Result};
use crate::metrics::Metrics;

/// Runs `sweep` every `interval` until `stop`, the first time at once, recording each sweep's
/// duration in `metrics`; a zero interval turns the
/// loop off. A sweep that overruns the interval delays the next instead of queueing more; a
/// failed sweep is logged and tried again at the next tick. `sweep` gets `stop` to check between
/// its batches.
pub async fn every<F, Sweep>(
    name: &'static str,
    interval: Duration,
    metrics: &Metrics,
    stop: CancellationToken,
    mut sweep: F,
) where
    F: FnMut(CancellationToken) -> Sweep,
    Sweep: Future<Output = Result<()>>,
{
    if interval.is_zero() {
        tracing::info!(scheduler = name, "off (interval 0)");
        return;
    }
    metrics.scheduler_started(name);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let started = Instant::now();
        let swept = sweep(stop.clone()).await;
        metrics.record_sweep(name, started.elapsed(), swept.is_ok());
        match swept {
            Ok(()) => {}
            // A concurrent change got in the way and the batch rolled back whole: expected under
            // load, not a fault.
            Err(DomainError::ConcurrentModification) => tracing::info!(
                scheduler = name,
                "a concurrent change got in the way; the sweep runs again at the next tick"
            ),
            Err(err) => {
                tracing::warn!(scheduler = name, error = %err, "sweep failed; retrying at the next tick");
            }
        }
    }
}
