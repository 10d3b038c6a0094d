//! Automatic distribution: every `interval`, the pools with `auto_distribute` hand out the
//! leads that have sat in the pool longer than their `auto_distribute_after`, a batch per
//! transaction. Replicas may sweep at the same time: a pool another replica is distributing is
//! left to it (its distribution state row is locked, `SKIP LOCKED`), and leads are taken with
//! row locks, so no lead is ever assigned twice.

use tokio_util::sync::CancellationToken;

use crate::config::DistributeSettings;
use crate::domain::DomainError;
use crate::domain::distribution::MethodOverride;
use crate::service::Context;
use crate::store;
use crate::store::assignment::{AutoPool, DistributeCall, Mode, Selection, Wait};

/// The actor recorded on automatic distributions' events.
pub const ACTOR: &str = "scheduler";

/// Sweeps every `interval` until `stop`; returns at once when turned off.
pub async fn run(ctx: Context, settings: DistributeSettings, stop: CancellationToken) {
    let metrics = ctx.metrics.clone();
    super::every("distribute", settings.interval, &metrics, stop, |stop| {
        let ctx = ctx.clone();
        async move {
            let distributed = sweep(&ctx, settings.batch, &stop).await?;
            if distributed > 0 {
                tracing::info!(distributed, "automatic distribution");
            }
            Ok(())
        }
    })
    .await;
}

/// One pass over the due pools; how many leads were distributed. Stops between batches when
/// `stop` is cancelled.
pub async fn sweep(
    ctx: &Context,
    batch: u32,
    stop: &CancellationToken,
) -> Result<u64, DomainError> {
    let now = ctx.clock.now();
    let mut distributed = 0;
    for pool in store::assignment::due_pools(&ctx.db, now).await? {
        match sweep_pool(ctx, &pool, batch, stop).await {
            Ok(n) => distributed += n,
            // One pool's trouble (archived meanwhile, a lost race) must not hold up the others.
            Err(err) => {
                tracing::warn!(error = %err, pool_id = %pool.pool_id, "distributing a pool failed")
            }
        }
    }
    Ok(distributed)
}

/// Walks the pool's due leads batch by batch (leads nobody can take are passed over, not
/// retried within the pass).
async fn sweep_pool(
    ctx: &Context,
    pool: &AutoPool,
    batch: u32,
    stop: &CancellationToken,
) -> Result<u64, DomainError> {
    let now = ctx.clock.now();
    let mut selection = Selection {
        entered_before: Some(now - chrono::Duration::seconds(i64::from(pool.wait_seconds))),
        limit: i64::from(batch),
        ..Selection::default()
    };
    let mut distributed = 0;
    while !stop.is_cancelled() {
        let mut conn = ctx.db.acquire().await.map_err(store::db_error)?;
        let call = DistributeCall {
            tenant_id: &pool.tenant_id,
            pool_id: pool.pool_id,
            actor: ACTOR,
            method: MethodOverride::default(),
            selection: &selection,
            request_id: None,
            now,
        };
        let Some(done) =
            store::assignment::distribute(&mut conn, call, Mode::Apply, Wait::Skip).await?
        else {
            // Another replica is distributing this pool right now.
            break;
        };
        if !done.plan.assignments.is_empty() {
            ctx.wakeups.written();
        }
        let assigned = done.plan.assignments.len() as u64;
        ctx.metrics.distributions.inc_by(assigned);
        distributed += assigned;
        if done.taken < batch as usize {
            break;
        }
        selection.after = done.last;
    }
    Ok(distributed)
}
