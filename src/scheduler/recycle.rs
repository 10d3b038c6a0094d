//! The recycle scheduler: on every tick, one sweep over all tenants warns the owners of leads
//! near their deadline and recycles the overdue ones, batch by batch. `RunRecycle` runs the same
//! sweep for one tenant on demand, or plans it (`dry_run`).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::Context;
use crate::domain::DomainError;
use crate::domain::recycle::{Action, MAX_REPORTED_STEPS, SCHEDULER_ACTOR, SweepReport};
use crate::store;
use crate::store::recycle::Sweep;

/// How often the scheduler sweeps, and how many leads one statement takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecycleSettings {
    /// Zero turns the background sweep off (`RunRecycle` still sweeps on demand).
    pub interval: Duration,
    pub batch_size: u32,
}

impl Default for RecycleSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            batch_size: 1_000,
        }
    }
}

impl RecycleSettings {
    /// The batch size as the statements take it: at least 1.
    pub fn batch(self) -> i32 {
        i32::try_from(self.batch_size).unwrap_or(i32::MAX).max(1)
    }
}

/// Sweeps every tenant on `settings.interval` until `stop`.
pub async fn run(ctx: Context, settings: RecycleSettings, stop: CancellationToken) {
    super::every("recycle", settings.interval, stop, |stop| {
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
