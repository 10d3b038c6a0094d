//! Accept or reroute (shared/domain.md "Accept or reroute"): a member accepts or declines a lead
//! pushed to them; the scheduler's sweep passes on the leads whose accept deadline passed; both
//! list what waits. A reroute runs like a distribution, in one transaction: lock the pool's
//! distribution state (so it and the pool's distributors, on any replica, run one after the
//! other), lock its members, lock the leads (`SKIP LOCKED` for the sweep: a lead another sweep
//! or an accept holds is theirs), plan in Rust and apply with `moves::apply`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Context;
use super::access;
use super::idempotency;
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::acceptance::{self, Acceptance, PendingLead, RerouteCause, Reroutes};
use crate::domain::access::Actor;
use crate::domain::event::EventKind;
use crate::domain::lead::{AcquiredVia, LeadView};
use crate::domain::recycle::{RecycleReason, SCHEDULER_ACTOR};
use crate::store;
use crate::store::assignment::distribute::{LockedState, Wait, lock_state, recipients, save_state};
use crate::store::assignment::moves::{self, Changes, Move};
use crate::store::assignment::reroute;
use crate::store::leads::acceptance::PendingQuery;

/// An acceptance, validated.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptLead {
    pub lead_id: Uuid,
    pub request_id: Option<Uuid>,
}

/// A decline, validated.
#[derive(Debug, Clone, Serialize)]
pub struct DeclineLead {
    pub lead_id: Uuid,
    pub reason: String,
    pub request_id: Option<Uuid>,
}

/// Where a declined lead went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Declined {
    /// To the next eligible member.
    Rerouted,
    /// Back to the pool: `max_reroutes` reached, or nobody eligible left.
    ReturnedToPool,
}

/// Whose pending leads to list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFilter {
    pub pool_id: Option<Uuid>,
    /// `None`: every owner's (the pool's managers, admins and services).
    pub owner_id: Option<String>,
}

/// The actor accepts a lead pushed to them; the lead as they now see it. A lead they own and
/// that waits for nobody (claimed, or accepted already) is answered as it is.
pub async fn accept_lead(ctx: &Context, actor: &Actor, command: AcceptLead) -> Result<LeadView> {
    let key = ("lead.accept", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        let now = ctx.clock.now();
        let accepted = store::leads::acceptance::accept(
            &mut *conn,
            actor,
            command.lead_id,
            command.request_id,
            now,
        )
        .await?;
        if let Some(view) = accepted {
            return Ok(view);
        }
        let view = store::leads::get(&mut *conn, actor, command.lead_id).await?;
        actor.require_lead_reader(
            view.lead.pool_id,
            view.lead.owner_id.as_deref(),
            view.viewer,
        )?;
        acceptance::explain_accept_refusal(&view.lead, &actor.user_id)?;
        Ok(view)
    })
    .await
}

/// The actor declines a lead pushed to them: at once it goes to the next eligible member, or
/// back to the pool.
pub async fn decline_lead(ctx: &Context, actor: &Actor, command: DeclineLead) -> Result<Declined> {
    let key = ("lead.decline", command.request_id);
    idempotency::once_atomic(ctx, actor, key, &command, async |conn| {
        let now = ctx.clock.now();
        let view = store::leads::get(&mut *conn, actor, command.lead_id).await?;
        let (pool_id, owner_id) = (view.lead.pool_id, view.lead.owner_id.as_deref());
        actor.require_lead_reader(pool_id, owner_id, view.viewer)?;
        let tenant_id = &actor.tenant_id;
        let locked = lock_state(&mut *conn, tenant_id, pool_id, now, Wait::Block)
            .await?
            .ok_or(DomainError::ConcurrentModification)?;
        let taken =
            reroute::take_declined(&mut *conn, tenant_id, &actor.user_id, command.lead_id).await?;
        let Some(pending) = taken else {
            let view = store::leads::get(&mut *conn, actor, command.lead_id).await?;
            return Err(acceptance::explain_decline_refusal(
                &view.lead,
                &actor.user_id,
            ));
        };
        let pass = Pass {
            tenant_id,
            pool_id,
            actor: &actor.user_id,
            cause: RerouteCause::Declined,
            note: Some(&command.reason),
            request_id: command.request_id,
            now,
        };
        let reroutes = pass_on(&mut *conn, pass, locked, &[pending]).await?;
        ctx.metrics.reroutes.inc_by(reroutes.passes.len() as u64);
        Ok(if reroutes.passes.is_empty() {
            Declined::ReturnedToPool
        } else {
            Declined::Rerouted
        })
    })
    .await
}

/// The leads waiting for acceptance, soonest deadline first, after `after` (the keyset position
/// of the previous page), at most `limit`. Another owner's, or every owner's, only for the
/// pool's managers (and admins and services, who may list the whole tenant).
pub async fn pending_acceptance(
    ctx: &Context,
    actor: &Actor,
    filter: &PendingFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<LeadView>> {
    let mut conn = ctx.acquire().await?;
    let own = filter.owner_id.as_deref() == Some(actor.user_id.as_str());
    match filter.pool_id {
        Some(pool_id) if own => drop(access::readable_pool(&mut *conn, actor, pool_id).await?),
        Some(pool_id) if !actor.reads_everything() => {
            drop(access::managed_pool(&mut *conn, actor, pool_id).await?)
        }
        Some(pool_id) => drop(access::pool(&mut *conn, actor, pool_id).await?),
        None if own || actor.reads_everything() => {}
        None => actor.require_admin()?,
    }
    let query = PendingQuery {
        pool_id: filter.pool_id,
        owner_id: filter.owner_id.as_deref(),
        after,
        limit,
    };
    store::leads::acceptance::pending(&mut *conn, actor, query).await
}

/// One pass of the reroute sweep over every tenant, as of now, `batch` leads per transaction;
/// how many leads were passed on or returned. Stops between batches when `stop` is cancelled.
pub async fn reroute_sweep(ctx: &Context, batch: u32, stop: &CancellationToken) -> Result<u64> {
    let now = ctx.clock.now();
    let mut handled = 0;
    for (tenant_id, pool_id) in reroute::due_pools(&mut *ctx.acquire().await?, now).await? {
        match reroute_pool(ctx, &tenant_id, pool_id, batch, stop).await {
            Ok(n) => handled += n,
            // One pool's trouble must not hold up the others.
            Err(err) => tracing::warn!(error = %err, %pool_id, "rerouting a pool failed"),
        }
    }
    Ok(handled)
}

/// Reroutes one pool's missed leads batch by batch, until a batch comes back short; leaves the
/// pool at once to another replica already on it.
async fn reroute_pool(
    ctx: &Context,
    tenant_id: &str,
    pool_id: Uuid,
    batch: u32,
    stop: &CancellationToken,
) -> Result<u64> {
    let now = ctx.clock.now();
    let mut handled = 0;
    while !stop.is_cancelled() {
        let mut tx = ctx.begin().await?;
        let Some(locked) = lock_state(&mut tx, tenant_id, pool_id, now, Wait::Skip).await? else {
            break;
        };
        let limit = i64::from(batch);
        let missed =
            reroute::take_missed(&mut tx, tenant_id, pool_id, SCHEDULER_ACTOR, now, limit).await?;
        if missed.is_empty() {
            break;
        }
        let pass = Pass {
            tenant_id,
            pool_id,
            actor: SCHEDULER_ACTOR,
            cause: RerouteCause::Missed,
            note: None,
            request_id: None,
            now,
        };
        let reroutes = pass_on(&mut tx, pass, locked, &missed).await?;
        ctx.commit(tx).await?;
        ctx.wakeups.written();
        ctx.metrics.reroutes.inc_by(reroutes.passes.len() as u64);
        handled += missed.len() as u64;
        if missed.len() < batch as usize {
            break;
        }
    }
    Ok(handled)
}

/// One reroute: of which pool, by whom, why.
#[derive(Debug, Clone, Copy)]
struct Pass<'a> {
    tenant_id: &'a str,
    pool_id: Uuid,
    actor: &'a str,
    cause: RerouteCause,
    note: Option<&'a str>,
    request_id: Option<Uuid>,
    now: DateTime<Utc>,
}

/// Plans where the locked pending leads go and moves them there: `REROUTED` to the next member
/// (who must accept in turn), `RECYCLED` (`ACCEPT_TIMEOUT`) back to the pool.
async fn pass_on(
    conn: &mut PgConnection,
    pass: Pass<'_>,
    locked: LockedState,
    pending: &[PendingLead],
) -> Result<Reroutes> {
    let mut state = locked.state;
    let mut members = recipients(&mut *conn, pass.tenant_id, pass.pool_id, pass.now).await?;
    let reroutes =
        acceptance::plan_reroutes(locked.method, &mut state, &mut members, pending, pass.now);
    let to_member = reroutes
        .passes
        .iter()
        .map(|(lead_id, from, to)| pass_move(*lead_id, from, Some(to)));
    let changes = Changes {
        tenant_id: pass.tenant_id,
        actor: pass.actor,
        kind: EventKind::Rerouted,
        acquired_via: AcquiredVia::Distribute,
        reason: Some(pass.cause.as_str()),
        note: pass.note,
        move_locked: true,
        acceptance: Acceptance::Reroute,
        request_id: pass.request_id,
        now: pass.now,
    };
    moves::apply(&mut *conn, &to_member.collect::<Vec<_>>(), changes).await?;
    let to_pool = reroutes
        .returns
        .iter()
        .map(|(lead_id, from)| pass_move(*lead_id, from, None));
    let changes = Changes {
        kind: EventKind::Recycled,
        reason: Some(RecycleReason::AcceptTimeout.as_str()),
        acceptance: Acceptance::NotAsked,
        ..changes
    };
    moves::apply(&mut *conn, &to_pool.collect::<Vec<_>>(), changes).await?;
    save_state(&mut *conn, pass.tenant_id, pass.pool_id, &state, pass.now).await?;
    Ok(reroutes)
}

fn pass_move(lead_id: Uuid, from: &str, to: Option<&String>) -> Move {
    Move {
        lead_id,
        from_owner: Some(from.to_owned()),
        to_owner: to.cloned(),
    }
}
