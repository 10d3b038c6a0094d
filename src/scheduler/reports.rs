//! The report aggregator's loop: every `interval`, each tenant's new events folded into the
//! report rollups ([`sweep`](crate::service::reports::sweep)), so a report has little to catch
//! up on when called.

use tokio_util::sync::CancellationToken;

use crate::config::ReportSettings;
use crate::service::Context;
use crate::service::reports::sweep;

/// Folds every `interval` until `stop`; returns at once when turned off.
pub async fn run(ctx: Context, settings: ReportSettings, stop: CancellationToken) {
    let metrics = ctx.metrics.clone();
    super::every("report", settings.interval, &metrics, stop, |_| {
        let ctx = ctx.clone();
        async move {
            let folded = sweep(&ctx, settings.batch as usize).await?;
            if folded > 0 {
                tracing::debug!(folded, "events folded into the report rollups");
            }
            Ok(())
        }
    })
    .await;
}
