//! The recycle loop: on every tick, one [`recycle_sweep`] over all tenants warns the owners of
//! leads near their deadline and recycles the overdue ones, batch by batch.

use tokio_util::sync::CancellationToken;

use crate::config::RecycleSettings;
use crate::service::Context;
use crate::service::recycle::recycle_sweep;

/// Sweeps every tenant on `settings.interval` until `stop`.
pub async fn run(ctx: Context, settings: RecycleSettings, stop: CancellationToken) {
    let metrics = ctx.metrics.clone();
    super::every("recycle", settings.interval, &metrics, stop, |stop| {
        let ctx = ctx.clone();
        async move {
            let report = recycle_sweep(&ctx, settings.batch(), &stop).await?;
            if report.warned + report.recycled > 0 {
                tracing::info!(
                    warned = report.warned,
                    recycled = report.recycled,
                    "recycle sweep"
                );
            }
            Ok(())
        }
    })
    .await;
}
