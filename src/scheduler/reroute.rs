//! The reroute sweep's loop: every `interval`, one pass of
//! [`reroute_sweep`](crate::service::acceptance::reroute_sweep) over the pools with pushed
//! leads whose accept deadline passed.

use tokio_util::sync::CancellationToken;

use crate::config::RerouteSettings;
use crate::service::Context;
use crate::service::acceptance::reroute_sweep;

/// Sweeps every `interval` until `stop`; returns at once when turned off.
pub async fn run(ctx: Context, settings: RerouteSettings, stop: CancellationToken) {
    let metrics = ctx.metrics.clone();
    super::every("reroute", settings.interval, &metrics, stop, |stop| {
        let ctx = ctx.clone();
        async move {
            let rerouted = reroute_sweep(&ctx, settings.batch, &stop).await?;
            if rerouted > 0 {
                tracing::info!(rerouted, "missed acceptances passed on");
            }
            Ok(())
        }
    })
    .await;
}
