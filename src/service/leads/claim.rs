//! Claiming leads from the pool: one, or a batch.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::lead::{self, LeadView};
use crate::service::Context;
use crate::service::idempotency;
use crate::store;
use crate::store::leads::ClaimTarget;

/// A lead to take from the pool.
#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    pub lead_id: Uuid,
    pub request_id: Option<Uuid>,
}

/// Leads to take from the pool at once; `all_or_nothing` takes none unless all can be taken.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimMany {
    pub lead_ids: Vec<Uuid>,
    pub all_or_nothing: bool,
    pub request_id: Option<Uuid>,
}

/// One requested lead of a batch claim: the lead if the actor owns it now (claimed by this
/// call or before), else why it was refused.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClaimResult {
    pub lead_id: Uuid,
    pub outcome: Result<LeadView>,
}

/// Takes a lead from the pool for the actor. Claiming a lead the actor already owns returns
/// it unchanged (a retry); any other refusal says which rule stood in the way.
pub async fn claim(ctx: &Context, actor: &Actor, command: Claim) -> Result<LeadView> {
    let Claim {
        lead_id,
        request_id,
    } = command;
    let key = ("lead.claim", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        take(conn, ctx, actor, lead_id, request_id).await
    })
    .await
}

/// The claim statement, and when it changed nothing, why: the lead when the actor owns it
/// already (a retry), else the rule that stood in the way.
async fn take(
    conn: &mut PgConnection,
    ctx: &Context,
    actor: &Actor,
    lead_id: Uuid,
    request_id: Option<Uuid>,
) -> Result<LeadView> {
    let now = ctx.clock.now();
    let target = ClaimTarget::Lead(lead_id);
    let claimed = store::leads::claim(&mut *conn, actor, target, request_id, now).await?;
    if let Some(view) = claimed {
        ctx.metrics.claims.inc();
        return Ok(view);
    }
    let snapshot = store::leads::claim_snapshot(&mut *conn, actor, lead_id, now).await?;
    lead::explain_claim_refusal(&snapshot, &actor.user_id, now)?;
    store::leads::get(&mut *conn, actor, lead_id).await
}

/// The best lead of a pool for the actor to take, by the pool's `pull_order`, of a region or
/// industry when given.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimNext {
    pub pool_id: Uuid,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub request_id: Option<Uuid>,
}

/// Claims for the actor the pool's best lead they may claim: `NO_CLAIMABLE_LEAD` when none
/// fits, else the claim's own refusals (cap, quota). Concurrent callers pass over each other's
/// leads instead of waiting on them.
pub async fn claim_next(ctx: &Context, actor: &Actor, command: ClaimNext) -> Result<LeadView> {
    let key = ("lead.claim_next", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        let now = ctx.clock.now();
        let pool_id = command.pool_id;
        let target = ClaimTarget::Next {
            pool_id,
            region: command.region.as_deref(),
            industry: command.industry.as_deref(),
        };
        let claimed = store::leads::claim(&mut *conn, actor, target, command.request_id, now);
        if let Some(view) = claimed.await? {
            ctx.metrics.claims.inc();
            return Ok(view);
        }
        // The pick admits only a claimant the claim would: no lead means none fits, unless the
        // caller may claim nothing at all, or one would fit but for its embargo.
        let claimant = store::leads::claimant(&mut *conn, actor, pool_id, now).await?;
        claimant.explain_refusal(&actor.user_id, now)?;
        let wanted = (command.region.as_deref(), command.industry.as_deref());
        let embargoed = store::leads::first_embargoed(&mut *conn, actor, pool_id, wanted, now);
        Err(match embargoed.await? {
            Some((lead_id, claimable_at)) => DomainError::LeadEmbargoed {
                lead_id,
                claimable_at,
            },
            None => DomainError::NoClaimableLead(pool_id),
        })
    })
    .await
}

/// Takes several leads from the pool for the actor; the result of each, in request order.
/// With `all_or_nothing` the first refusal refuses the call and no lead is taken.
pub async fn claim_many(
    ctx: &Context,
    actor: &Actor,
    command: ClaimMany,
) -> Result<Vec<ClaimResult>> {
    let ClaimMany {
        ref lead_ids,
        all_or_nothing,
        request_id,
    } = command;
    let key = ("lead.claim_many", command.request_id);
    // An all-or-nothing call that fails must undo the claims it made.
    idempotency::once_atomic(ctx, actor, key, &command, async |tx| {
        let now = ctx.clock.now();
        let claimed =
            store::leads::batch::claim_many(&mut *tx, actor, lead_ids, request_id, now).await?;
        let mut taken: HashMap<Uuid, i32> = HashMap::new();
        for view in &claimed {
            *taken.entry(view.lead.pool_id).or_default() += 1;
        }
        let (results, refused_in) = results(tx, actor, lead_ids, claimed, now).await?;
        if all_or_nothing && results.iter().any(|r| r.outcome.is_err()) {
            let refused = results
                .into_iter()
                .find_map(|r| Some((r.lead_id, r.outcome.err()?)));
            let Some((lead_id, refusal)) = refused else {
                return Err(DomainError::internal(
                    "an all-or-nothing claim failed without a refusal",
                ));
            };
            let pool_id = refused_in.get(&lead_id);
            let taken_there = pool_id.and_then(|p| taken.get(p)).copied().unwrap_or(0);
            return Err(lead::refusal_after_undoing(refusal, taken_there));
        }
        Ok(results)
    })
    .await
}

/// The result of each requested lead of a batch claim, in request order, and the pool of each
/// refused lead.
async fn results(
    conn: &mut PgConnection,
    actor: &Actor,
    lead_ids: &[Uuid],
    claimed: Vec<LeadView>,
    now: DateTime<Utc>,
) -> Result<(Vec<ClaimResult>, HashMap<Uuid, Uuid>)> {
    let mut owned: HashMap<Uuid, LeadView> = claimed
        .into_iter()
        .map(|view| (view.lead.id, view))
        .collect();
    let unclaimed: Vec<Uuid> = lead_ids
        .iter()
        .filter(|id| !owned.contains_key(id))
        .copied()
        .collect();
    let mut refused = HashMap::new();
    let mut refused_in = HashMap::new();
    let mut owned_before = Vec::new();
    if !unclaimed.is_empty() {
        for snapshot in store::leads::claim_snapshots(&mut *conn, actor, &unclaimed, now).await? {
            match lead::explain_claim_refusal(&snapshot, &actor.user_id, now) {
                Ok(()) => owned_before.push(snapshot.lead_id),
                Err(refusal) => {
                    refused_in.insert(snapshot.lead_id, snapshot.claimant.pool_id);
                    refused.insert(snapshot.lead_id, refusal);
                }
            }
        }
    }
    if !owned_before.is_empty() {
        for view in store::leads::get_many(&mut *conn, actor, &owned_before).await? {
            owned.insert(view.lead.id, view);
        }
    }
    let results = lead_ids
        .iter()
        .map(|&lead_id| ClaimResult {
            lead_id,
            outcome: match owned.remove(&lead_id) {
                Some(view) => Ok(view),
                None => Err(refused
                    .remove(&lead_id)
                    .unwrap_or(DomainError::LeadNotFound(lead_id))),
            },
        })
        .collect();
    Ok((results, refused_in))
}
