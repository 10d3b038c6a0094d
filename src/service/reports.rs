//! Reports: the aggregator that folds each tenant's events into daily rollups (the scheduler's
//! sweep, and a catch-up before every report so it counts every event committed before the
//! call), and the three reports read from the rollups.

use std::collections::HashSet;
use std::time::Duration;

use uuid::Uuid;

use super::{Context, access};
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::event::{EventKind, StreamFilter};
use crate::domain::pool::Pool;
use crate::domain::report::{
    self, Bucket, Fairness, Fold, MemberReportRows, MemberRow, Metric, Period, PoolBucket,
    PoolReportRows,
};
use crate::store;

/// Events one aggregation transaction folds.
pub const BATCH: usize = 5_000;

/// Folds the tenant's next batch of events into the rollups, in one transaction with the
/// checkpoint. `wait`: queue behind another aggregator of the tenant rather than skip.
/// Returns how many events it folded; fewer than `batch` means it has caught up.
pub async fn aggregate(ctx: &Context, tenant_id: &str, batch: usize, wait: bool) -> Result<usize> {
    let filter = StreamFilter::default();
    // A look without locking first: an idle tenant costs two reads, no write.
    let seen = store::reports::checkpoint(&ctx.db, tenant_id).await?;
    if store::events::stream_page(&ctx.db, tenant_id, &filter, seen, 1)
        .await?
        .events
        .is_empty()
    {
        return Ok(0);
    }
    let mut tx = ctx.begin().await?;
    let Some(after) = store::reports::lock_checkpoint(&mut tx, tenant_id, wait).await? else {
        return Ok(0);
    };
    let page = store::events::stream_page(&ctx.db, tenant_id, &filter, after, batch).await?;
    if page.events.is_empty() {
        return Ok(0);
    }
    let next = page.next_position(after, batch);
    let mut fold = prepare(&mut tx, tenant_id, &page.events).await?;
    for event in &page.events {
        fold.apply(event);
    }
    let (facts, tally) = fold.finish();
    store::reports::save_facts(&mut *tx, tenant_id, &facts).await?;
    store::reports::add(&mut tx, tenant_id, &tally).await?;
    store::reports::move_checkpoint(&mut *tx, tenant_id, next).await?;
    ctx.commit(tx).await?;
    Ok(page.events.len())
}

/// The fold for a batch: its leads' facts, its pools' zones, and who could receive the leads it
/// distributes.
async fn prepare(
    tx: &mut sqlx::PgConnection,
    tenant_id: &str,
    events: &[crate::domain::event::LeadEvent],
) -> Result<Fold> {
    let leads: Vec<Uuid> = events.iter().filter_map(|e| e.lead_id).collect();
    let pools: HashSet<Uuid> = events
        .iter()
        .flat_map(|e| [Some(e.pool_id), e.to_pool_id])
        .flatten()
        .collect();
    let pools: Vec<Uuid> = pools.into_iter().collect();
    let distributed: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Distributed)
        .collect();
    let eligibility = match (distributed.first(), distributed.last()) {
        (Some(first), Some(last)) => {
            let (from, until) = (first.occurred_at, last.occurred_at);
            store::reports::eligibility(tx, tenant_id, &pools, from, until).await?
        }
        _ => Default::default(),
    };
    Ok(Fold::new(
        store::reports::facts(&mut *tx, tenant_id, &leads).await?,
        store::reports::zones(&mut *tx, tenant_id, &pools).await?,
        eligibility,
    ))
}

/// How long a report waits for transactions that were running when it was called.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// Folds every event of the tenant committed before the call (waiting for another aggregator
/// of the tenant rather than passing it), so a report counts them all. The stream is read
/// below its horizon (the oldest running transaction), so first the transactions running at
/// the call settle: usually at once, at most [`SETTLE_LIMIT`] (then the report counts what
/// the stream has).
async fn catch_up(ctx: &Context, tenant_id: &str) -> Result<()> {
    let committed_before = store::events::next_transaction(&ctx.db).await?;
    let started = tokio::time::Instant::now();
    loop {
        let horizon = store::events::horizon(&ctx.db).await?;
        while aggregate(ctx, tenant_id, BATCH, true).await? >= BATCH {}
        if horizon.xid >= committed_before || started.elapsed() > SETTLE_LIMIT {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The scheduler's round: every tenant's pending events, skipping tenants another replica is
/// folding. Returns the events folded.
pub async fn sweep(ctx: &Context, batch: usize) -> Result<usize> {
    let mut folded = 0;
    for tenant_id in store::reports::tenants(&ctx.db).await? {
        loop {
            let n = aggregate(ctx, &tenant_id, batch, false).await?;
            folded += n;
            if n < batch {
                break;
            }
        }
    }
    Ok(folded)
}

/// Whose rows the caller may read: managers, admins and services everyone's (or the one they
/// ask for); a member only their own.
async fn readable_rows<'a>(
    ctx: &Context,
    actor: &'a Actor,
    pool_id: Uuid,
    asked: Option<&'a str>,
) -> Result<(Pool, Option<&'a str>)> {
    let access = access::pool(&mut *ctx.acquire().await?, actor, pool_id).await?;
    actor.require_pool_reader(pool_id, access.membership)?;
    if actor.roles.service || actor.manages(access.membership) {
        return Ok((access.pool, asked));
    }
    match asked {
        Some(user) if user != actor.user_id => {
            actor.require_manager(pool_id, access.membership)?;
            Ok((access.pool, asked))
        }
        _ => Ok((access.pool, Some(actor.user_id.as_str()))),
    }
}

/// `GetPoolReport`: the pool's buckets over `period` (managers, admins and services).
pub async fn pool_report(
    ctx: &Context,
    actor: &Actor,
    pool_id: Uuid,
    period: Period,
    bucket: Bucket,
) -> Result<(Pool, Vec<PoolBucket>)> {
    let access = access::pool(&mut *ctx.acquire().await?, actor, pool_id).await?;
    // As the other reports: an outsider hears `NOT_POOL_MEMBER`, a member `MANAGER_REQUIRED`.
    actor.require_pool_reader(pool_id, access.membership)?;
    if !actor.roles.service {
        actor.require_manager(pool_id, access.membership)?;
    }
    catch_up(ctx, &actor.tenant_id).await?;
    let mut tx = ctx.begin().await?;
    let tenant = actor.tenant_id.as_str();
    let (in_pool_before, owned_before) =
        store::reports::pool_sizes_before(&mut *tx, tenant, pool_id, period.from).await?;
    let rows = PoolReportRows {
        counts: store::reports::pool_counts(&mut *tx, tenant, pool_id, period).await?,
        bins: store::reports::pool_bins(&mut *tx, tenant, pool_id, period).await?,
        in_pool_before,
        owned_before,
    };
    ctx.commit(tx).await?;
    Ok((access.pool, report::pool_report(period, bucket, &rows)))
}

/// `GetMemberReport`: each member's row the caller may read (or the one asked for:
/// `MEMBER_NOT_FOUND` when that user has no row, never in the pool nor active in the range).
pub async fn member_report(
    ctx: &Context,
    actor: &Actor,
    pool_id: Uuid,
    period: Period,
    asked: Option<&str>,
) -> Result<Vec<MemberRow>> {
    let (_, member) = readable_rows(ctx, actor, pool_id, asked).await?;
    catch_up(ctx, &actor.tenant_id).await?;
    let mut tx = ctx.begin().await?;
    let tenant = actor.tenant_id.as_str();
    let rows = MemberReportRows {
        totals: store::reports::member_totals(&mut *tx, tenant, pool_id, period, member).await?,
        bins: store::reports::member_bins(&mut *tx, tenant, pool_id, period, member).await?,
        held_before: store::reports::held_before(&mut *tx, tenant, pool_id, period.from, member)
            .await?,
        members: store::reports::member_ids(&mut *tx, tenant, pool_id, member).await?,
    };
    ctx.commit(tx).await?;
    match member {
        Some(user) => report::member_report_of(pool_id, period, &rows, user),
        None => Ok(report::member_report(period, &rows)),
    }
}

/// `GetDistributionFairness`: received against entitled, for the rows the caller may read.
pub async fn fairness(
    ctx: &Context,
    actor: &Actor,
    pool_id: Uuid,
    period: Period,
) -> Result<Fairness> {
    let (_, member) = readable_rows(ctx, actor, pool_id, None).await?;
    catch_up(ctx, &actor.tenant_id).await?;
    let mut tx = ctx.begin().await?;
    let tenant = actor.tenant_id.as_str();
    let totals = store::reports::member_totals(&mut *tx, tenant, pool_id, period, member).await?;
    let distributed =
        store::reports::pool_total(&mut *tx, tenant, pool_id, period, Metric::Distributed).await?;
    ctx.commit(tx).await?;
    Ok(report::fairness(&totals, distributed))
}
