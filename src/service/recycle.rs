//! Recycling (自动回收): the sweep that warns the owners of leads near their deadline and
//! recycles the overdue ones, batch by batch, on the scheduler's interval over every tenant or
//! on demand (`RunRecycle`) for one; its dry run; what will be and what was recycled; and a
//! manager moving a deadline.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Context;
use super::absences;
use super::deadline;
use super::idempotency;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::committed::Committed;
use crate::domain::lead::LeadView;
use crate::domain::recycle::{
    self, Action, DeadlineKind, MAX_REPORTED_STEPS, Recycled, SCHEDULER_ACTOR, SweepReport,
    Upcoming, UpcomingFilter,
};
use crate::service::access;
use crate::store;
use crate::store::recycle::{Extension, Sweep};

/// A sweep an admin asks for, validated.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecycle {
    /// `None`: the whole tenant.
    pub pool_id: Option<Uuid>,
    /// Only report what the sweep would do.
    pub dry_run: bool,
    pub request_id: Option<Uuid>,
}

/// What a sweep did (or, dry, would do), as of when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swept {
    pub report: SweepReport,
    pub swept_at: DateTime<Utc>,
}

/// A manager's move of one deadline, validated.
#[derive(Debug, Clone, Serialize)]
pub struct ExtendDeadline {
    pub lead_id: Uuid,
    pub kind: DeadlineKind,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub note: Option<String>,
    pub request_id: Option<Uuid>,
}

/// The scheduler's sweep over every tenant, as of now, `batch` leads per statement, until
/// nothing is due or `stop` is cancelled.
pub async fn recycle_sweep(
    ctx: &Context,
    batch: i32,
    stop: &CancellationToken,
) -> Result<SweepReport> {
    let scope = Sweep {
        now: ctx.clock.now(),
        tenant_id: None,
        pool_id: None,
        actor: SCHEDULER_ACTOR,
        request_id: None,
        batch,
    };
    sweep(ctx, &scope, stop).await
}

/// An admin's sweep of their tenant, or one pool of it, as of now; with `dry_run` only what it
/// would do. A retry with the same `request_id` gets the first answer.
pub async fn run_recycle(
    ctx: &Context,
    actor: &Actor,
    batch: i32,
    command: RunRecycle,
) -> Result<Swept> {
    actor.require_admin()?;
    if let Some(pool_id) = command.pool_id {
        access::pool(&mut *ctx.acquire().await?, actor, pool_id).await?;
    }
    let key = ("recycle.run", command.request_id);
    idempotency::once_after(ctx, actor, key, &command, async || {
        let scope = Sweep {
            now: ctx.clock.now(),
            tenant_id: Some(&actor.tenant_id),
            pool_id: command.pool_id,
            actor: &actor.user_id,
            request_id: command.request_id,
            batch,
        };
        let report = if command.dry_run {
            plan(ctx, &scope).await?
        } else {
            // On demand, the sweep runs to its end like any call in flight at shutdown.
            sweep(ctx, &scope, &CancellationToken::new()).await?
        };
        Ok(Swept {
            report,
            swept_at: scope.now,
        })
    })
    .await
}

/// Warns, then recycles, what is due at `scope.now`, a batch per statement, until a batch finds
/// nothing left (or only leads other sweeps hold) or `stop` is cancelled. Memory stays constant:
/// the report keeps counts and the first steps only. Every step commits on its own (under a
/// deadline, each in a transaction it cuts off), so a deadline that passes midway is answered
/// with what the committed batches did ([`deadline::committed`]).
async fn sweep(ctx: &Context, scope: &Sweep<'_>, stop: &CancellationToken) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    let done = |report: &SweepReport| Committed::Swept {
        warned: report.warned,
        recycled: report.recycled,
    };
    deadline::committed(done(&report));
    // Absences first: a paused owner's leads must not be recycled for a stopped deadline.
    absences::apply_due(ctx, scope.tenant_id, scope.now, stop).await?;
    alert_aging(ctx, scope, stop).await?;
    for action in [Action::Warn, Action::Recycle] {
        while !stop.is_cancelled() {
            let steps = ctx
                .as_sent(async |conn| match action {
                    Action::Warn => store::recycle::warn_batch(conn, scope).await,
                    Action::Recycle => store::recycle::recycle_batch(conn, scope).await,
                })
                .await?;
            if steps.is_empty() {
                break;
            }
            ctx.wakeups.written();
            if action == Action::Recycle {
                ctx.metrics.recycles.inc_by(steps.len() as u64);
            }
            steps.into_iter().for_each(|step| report.record(step));
            deadline::committed(done(&report));
        }
    }
    Ok(report)
}

/// One `POOL_AGING` event per lead left in its pool too long (per entry), a batch per
/// statement, until a batch comes back short or `stop` is cancelled.
async fn alert_aging(ctx: &Context, scope: &Sweep<'_>, stop: &CancellationToken) -> Result<()> {
    while !stop.is_cancelled() {
        let alerted = ctx
            .as_sent(async |conn| store::recycle::alert_aging(conn, scope).await)
            .await?;
        if alerted > 0 {
            ctx.wakeups.written();
        }
        if alerted < i64::from(scope.batch) {
            break;
        }
    }
    Ok(())
}

/// What [`sweep`] would do at `scope.now`, changing nothing.
async fn plan(ctx: &Context, scope: &Sweep<'_>) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    let limit = i64::try_from(MAX_REPORTED_STEPS).unwrap_or(i64::MAX);
    for action in [Action::Warn, Action::Recycle] {
        let (total, steps) =
            store::recycle::plan(&mut *ctx.acquire().await?, scope, action, limit).await?;
        report.record_counted(action, total, steps);
    }
    Ok(report)
}

/// The owned leads whose next step (warning, else recycle) comes by `filter.until`, soonest
/// first, after `after` (the keyset position of the previous page), at most `limit`.
pub async fn upcoming(
    ctx: &Context,
    actor: &Actor,
    filter: &UpcomingFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Upcoming>> {
    let mut conn = ctx.acquire().await?;
    require_reader(&mut conn, actor, filter.pool_id).await?;
    let now = ctx.clock.now();
    store::recycle::upcoming(&mut *conn, &actor.tenant_id, filter, now, after, limit).await
}

/// A pool's recycles, newest first, of one previous owner or all, before the event `before_seq`
/// (the previous page's last), at most `limit`.
pub async fn recycled(
    ctx: &Context,
    actor: &Actor,
    pool_id: Uuid,
    previous_owner_id: Option<&str>,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<Recycled>> {
    let mut conn = ctx.acquire().await?;
    require_reader(&mut conn, actor, Some(pool_id)).await?;
    store::recycle::recycled(
        &mut *conn,
        &actor.tenant_id,
        pool_id,
        previous_owner_id,
        before_seq,
        limit,
    )
    .await
}

/// Checks the actor may read `pool_id` (when given), on the connection the read goes on: each
/// lending of one pings the server.
async fn require_reader(
    conn: &mut PgConnection,
    actor: &Actor,
    pool_id: Option<Uuid>,
) -> Result<()> {
    if let Some(pool_id) = pool_id {
        access::readable_pool(&mut *conn, actor, pool_id).await?;
    }
    Ok(())
}

/// A manager of the lead's pool moves its follow-up or close deadline; the lead as they now see
/// it. A retry finds the deadline already moved and changes nothing.
pub async fn extend_deadline(
    ctx: &Context,
    actor: &Actor,
    command: ExtendDeadline,
) -> Result<LeadView> {
    let key = ("recycle.extend_deadline", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        extend(conn, ctx, actor, &command).await
    })
    .await
}

async fn extend(
    conn: &mut PgConnection,
    ctx: &Context,
    actor: &Actor,
    command: &ExtendDeadline,
) -> Result<LeadView> {
    let view = store::leads::get(&mut *conn, actor, command.lead_id).await?;
    let (pool_id, owner_id) = (view.lead.pool_id, view.lead.owner_id.as_deref());
    actor.require_lead_reader(pool_id, owner_id, view.viewer)?;
    actor.require_manager(pool_id, view.viewer)?;
    let extension = Extension {
        lead_id: command.lead_id,
        kind: command.kind,
        until: command.until,
        reason: &command.reason,
        note: command.note.as_deref(),
        request_id: command.request_id,
        now: ctx.clock.now(),
    };
    let changed = store::recycle::extend_deadline(&mut *conn, actor, &extension).await?;
    let view = store::leads::get(&mut *conn, actor, command.lead_id).await?;
    if changed.is_none() {
        recycle::explain_extend_refusal(&view.lead, command.kind, command.until)?;
    }
    Ok(view)
}
