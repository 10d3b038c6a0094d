//! Distribute and PreviewDistribution, and the scheduler's automatic distribution. One
//! distribution is one transaction: lock the pool's distribution state (so distributors of one
//! pool, on any replica, run one after the other), take the leads (`FOR UPDATE SKIP LOCKED`,
//! oldest in the pool first), lock the pool's active members, plan in Rust from what is locked,
//! apply the plan with one statement and save the advanced state. A preview runs the same steps
//! and rolls back, so it shows exactly what a distribution would do now.
//!
//! Automatic distribution: the pools with `auto_distribute` hand out the leads that have sat in
//! the pool longer than their `auto_distribute_after`, a batch per transaction. Replicas may
//! sweep at the same time: a pool another replica is distributing is left to it (its
//! distribution state row is locked, `SKIP LOCKED`), and leads are taken with row locks, so no
//! lead is ever assigned twice.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Connection, PgConnection};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::acceptance::Acceptance;
use crate::domain::access::Actor;
use crate::domain::distribution::{
    self, Candidate, MethodOverride, Plan, Selection, Skip, Undistributed,
};
use crate::domain::event::EventKind;
use crate::domain::lead::AcquiredVia;
use crate::service::Context;
use crate::service::access;
use crate::service::idempotency;
use crate::service::retry::with_retries;
use crate::store::assignment::distribute::{
    AutoPool, Wait, candidates, due_pools, lock_state, recipients, save_state,
};
use crate::store::assignment::moves::{self, Changes, Move};
use crate::store::db_error;

/// The actor recorded on automatic distributions' events.
pub const ACTOR: &str = "scheduler";

/// A distribution a manager asks for, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Distribute {
    pub pool_id: Uuid,
    pub selection: Selection,
    /// What the call names instead of the pool's strategy.
    pub method: MethodOverride,
    pub request_id: Option<Uuid>,
}

/// Hands the selected pool leads to the pool's members by the pool's strategy (or the one the
/// call names); the plan as applied.
pub async fn distribute(ctx: &Context, actor: &Actor, command: Distribute) -> Result<Plan> {
    let key = ("assignment.distribute", command.request_id);
    // In the call's transaction, so that the distribution's own is a savepoint: a BEGIN the
    // caller cuts off is then never left open on a pooled connection (`Context::begin`).
    idempotency::once_atomic(ctx, actor, key, &command, async |conn| {
        let plan = managed(conn, ctx, actor, &command, Mode::Apply).await?;
        ctx.metrics
            .distributions
            .inc_by(plan.assignments.len() as u64);
        Ok(plan)
    })
    .await
}

/// What [`distribute`] would do now, changing nothing (`command.request_id` plays no part).
pub async fn preview_distribution(
    ctx: &Context,
    actor: &Actor,
    command: &Distribute,
) -> Result<Plan> {
    // A transaction of the call's, for the same reason as `distribute`'s; it changed nothing.
    // A run that meets a concurrent change runs again, as a distribution would.
    with_retries(&ctx.metrics.conflict_retries, || async {
        let mut tx = ctx.begin().await?;
        managed(&mut tx, ctx, actor, command, Mode::Preview).await
    })
    .await
}

/// One pass of automatic distribution over the due pools; how many leads were distributed.
/// Stops between batches when `stop` is cancelled.
pub async fn auto_distribute(ctx: &Context, batch: u32, stop: &CancellationToken) -> Result<u64> {
    let now = ctx.clock.now();
    let mut distributed = 0;
    for pool in due_pools(&mut *ctx.acquire().await?, now).await? {
        match auto_distribute_pool(ctx, &pool, batch, stop).await {
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
async fn auto_distribute_pool(
    ctx: &Context,
    pool: &AutoPool,
    batch: u32,
    stop: &CancellationToken,
) -> Result<u64> {
    let now = ctx.clock.now();
    let mut selection = Selection {
        entered_before: Some(now - chrono::Duration::seconds(i64::from(pool.wait_seconds))),
        limit: i64::from(batch),
        ..Selection::default()
    };
    let mut distributed = 0;
    while !stop.is_cancelled() {
        let mut tx = ctx.begin().await?;
        let call = Call {
            tenant_id: &pool.tenant_id,
            pool_id: pool.pool_id,
            actor: ACTOR,
            method: MethodOverride::default(),
            selection: &selection,
            request_id: None,
            now,
        };
        let Some(done) = run(&mut tx, call, Mode::Apply, Wait::Skip).await? else {
            // Another replica is distributing this pool right now.
            break;
        };
        ctx.commit(tx).await?;
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

/// Distributes or previews on `conn` once the actor is found to manage the pool.
async fn managed(
    conn: &mut PgConnection,
    ctx: &Context,
    actor: &Actor,
    command: &Distribute,
    mode: Mode,
) -> Result<Plan> {
    access::managed_pool(&mut *conn, actor, command.pool_id).await?;
    let call = Call {
        tenant_id: &actor.tenant_id,
        pool_id: command.pool_id,
        actor: &actor.user_id,
        method: command.method,
        selection: &command.selection,
        request_id: command.request_id,
        now: ctx.clock.now(),
    };
    let distribution = run(conn, call, mode, Wait::Block)
        .await?
        .ok_or(DomainError::ConcurrentModification)?;
    Ok(distribution.plan)
}

/// One distribution: of which pool, by whom, how.
#[derive(Debug, Clone, Copy)]
struct Call<'a> {
    tenant_id: &'a str,
    pool_id: Uuid,
    /// A user id, or [`ACTOR`].
    actor: &'a str,
    method: MethodOverride,
    selection: &'a Selection,
    request_id: Option<Uuid>,
    now: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Apply,
    Preview,
}

/// What a distribution did: its plan, how many leads it took and the last of them, where a
/// sweep continues.
struct Distribution {
    plan: Plan,
    taken: usize,
    last: Option<(DateTime<Utc>, Uuid)>,
}

/// Distributes (or previews) in a savepoint of the caller's transaction. `None`:
/// another distributor holds the pool and `wait` said not to wait.
#[tracing::instrument(skip_all, fields(tenant_id = %call.tenant_id, pool_id = %call.pool_id, ?mode))]
async fn run(
    conn: &mut PgConnection,
    call: Call<'_>,
    mode: Mode,
    wait: Wait,
) -> Result<Option<Distribution>> {
    let mut tx = conn.begin().await.map_err(db_error)?;
    let Some(locked) = lock_state(&mut tx, call.tenant_id, call.pool_id, call.now, wait).await?
    else {
        return Ok(None);
    };
    if locked.archived {
        return Err(DomainError::PoolArchived(call.pool_id));
    }
    let method = call.method.over(locked.method);
    let mut state = locked.state;
    // The leads right after the state lock gave this transaction its xid, before any wait: a
    // lead a younger transaction changed while this one waited for a member's row would make
    // its event precede that change's in the stream (a conflict, run again). The leads are
    // taken without waiting (SKIP LOCKED); members are locked after them, leads before members
    // as claims, releases and transfers lock them.
    let leads = candidates(&mut tx, call.tenant_id, call.pool_id, call.selection).await?;
    let mut members = recipients(&mut tx, call.tenant_id, call.pool_id, call.now).await?;
    let candidates: Vec<Candidate> = leads.iter().map(|(c, _)| c.clone()).collect();
    let mut plan = distribution::plan(method, &mut state, &mut members, &candidates, call.now);
    report_unavailable(&mut plan, &call.selection.lead_ids, &candidates);
    if mode == Mode::Apply {
        apply(&mut tx, call, &plan).await?;
        save_state(&mut tx, call.tenant_id, call.pool_id, &state, call.now).await?;
        tx.commit().await.map_err(db_error)?;
    }
    Ok(Some(Distribution {
        plan,
        taken: leads.len(),
        last: leads.last().map(|(c, entered)| (*entered, c.lead_id)),
    }))
}

/// Hands the planned leads to their members.
async fn apply(conn: &mut PgConnection, call: Call<'_>, plan: &Plan) -> Result<()> {
    let moves: Vec<Move> = plan
        .assignments
        .iter()
        .map(|a| Move {
            lead_id: a.lead_id,
            from_owner: None,
            to_owner: Some(a.user_id.clone()),
        })
        .collect();
    let changes = Changes {
        tenant_id: call.tenant_id,
        actor: call.actor,
        kind: EventKind::Distributed,
        acquired_via: AcquiredVia::Distribute,
        reason: Some(plan.method.strategy.as_str()),
        note: None,
        move_locked: false,
        acceptance: Acceptance::Push,
        request_id: call.request_id,
        now: call.now,
    };
    moves::apply(conn, &moves, changes).await.map(drop)
}

/// Named leads that were not there to take.
fn report_unavailable(plan: &mut Plan, named: &[Uuid], taken: &[Candidate]) {
    let taken: HashSet<Uuid> = taken.iter().map(|c| c.lead_id).collect();
    plan.undistributed.extend(
        named
            .iter()
            .filter(|id| !taken.contains(id))
            .map(|&lead_id| Undistributed {
                lead_id,
                skip: Skip::NotAvailable,
            }),
    );
}
