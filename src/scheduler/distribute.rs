//! Automatic distribution's loop: every `interval`, one pass of
//! [`auto_distribute`](crate::service::assignment::auto_distribute) over the due pools.

use tokio_util::sync::CancellationToken;

use crate::config::DistributeSettings;
use crate::service::Context;
use crate::service::assignment::auto_distribute;

/// Sweeps every `interval` until `stop`; returns at once when turned off.
pub async fn run(ctx: Context, settings: DistributeSettings, stop: CancellationToken) {
    let metrics = ctx.metrics.clone();
    super::every("distribute", settings.interval, &metrics, stop, |stop| {
        let ctx = ctx.clone();
        async move {
            let distributed = auto_distribute(&ctx, settings.batch, &stop).await?;
            if distributed > 0 {
                tracing::info!(distributed, "automatic distribution");
            }
            Ok(())
        }
    })
    .await;
}
