//! The recycle scheduler: on every tick, one sweep over all tenants warns the owners of leads
//! near their deadline and recycles the overdue ones, batch by batch. `RunRecycle` runs the same
//! sweep for one tenant on demand, or plans it (`dry_run`).

use tokio_util::sync::CancellationToken;

use crate::config::RecycleSettings;
use crate::domain::DomainError;
use crate::domain::recycle::{Action, MAX_REPORTED_STEPS, SCHEDULER_ACTOR, SweepReport};
use crate::service::Context;
use crate::store;
use crate::store::recycle::Sweep;

/// Sweeps every tenant on `settings.interval` until `stop`.
pub async fn run(ctx: Context, settings: RecycleSettings, stop: CancellationToken) {
    let metrics = ctx.metrics.clone();
    super::every("recycle", settings.interval, &metrics, stop, |stop| {
        let ctx = ctx.clone();
        async move { sweep_all(&ctx, settings, &stop).await }
    })
    .await;
}

/// One scheduled sweep over every tenant, as of now.
async fn sweep_all(
    ctx: &Context,
    settings: RecycleSettings,
    stop: &CancellationToken,
) -> Result<(), DomainError> {
    let scope = Sweep {
        now: ctx.clock.now(),
        tenant_id: None,
        pool_id: None,
        actor: SCHEDULER_ACTOR,
        request_id: None,
        batch: settings.batch(),
    };
    let report = sweep(ctx, &scope, stop).await?;
    if report.warned + report.recycled > 0 {
        tracing::info!(
            warned = report.warned,
            recycled = report.recycled,
            "recycle sweep"
        );
    }
    Ok(())
}

/// Warns, then recycles, what is due at `scope.now`, a batch per statement, until a batch finds
/// nothing left (or only leads other sweeps hold) or `stop` is cancelled. Memory stays constant:
/// the report keeps counts and the first steps only.
pub async fn sweep(
    ctx: &Context,
    scope: &Sweep<'_>,
    stop: &CancellationToken,
) -> Result<SweepReport, DomainError> {
    let mut report = SweepReport::default();
    for action in [Action::Warn, Action::Recycle] {
        while !stop.is_cancelled() {
            let steps = match action {
                Action::Warn => store::recycle::warn_batch(&ctx.db, scope).await?,
                Action::Recycle => store::recycle::recycle_batch(&ctx.db, scope).await?,
            };
            if steps.is_empty() {
                break;
            }
            ctx.wakeups.written();
            if action == Action::Recycle {
                ctx.metrics.recycles.inc_by(steps.len() as u64);
            }
            steps.into_iter().for_each(|step| report.record(step));
        }
    }
    Ok(report)
}

/// What [`sweep`] would do at `scope.now`, changing nothing.
pub async fn dry_run(ctx: &Context, scope: &Sweep<'_>) -> Result<SweepReport, DomainError> {
    let mut report = SweepReport::default();
    let limit = i64::try_from(MAX_REPORTED_STEPS).unwrap_or(i64::MAX);
    for action in [Action::Warn, Action::Recycle] {
        let (total, steps) = store::recycle::plan(&ctx.db, scope, action, limit).await?;
        report.record_counted(action, total, steps);
    }
    Ok(report)
}
