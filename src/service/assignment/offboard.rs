//! OffboardMember in one transaction: lock the user's owned leads, deactivate every membership
//! of the user, lock the leads that reached them meanwhile, plan where each goes (the pool, a
//! colleague, or the pool's distribution), and apply it all with one statement, each move an
//! `OFFBOARDED` event with reason `OFFBOARDING`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::require_room;
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::acceptance::Acceptance;
use crate::domain::access::Actor;
use crate::domain::assignment::{self, Moved, OffboardMode};
use crate::domain::distribution::{self, Candidate};
use crate::domain::event::EventKind;
use crate::domain::lead::AcquiredVia;
use crate::service::Context;
use crate::service::absences::require_present;
use crate::service::idempotency;
use crate::store::assignment::distribute::{LockedState, Wait, lock_state, recipients, save_state};
use crate::store::assignment::moves::{self, Changes, Move};
use crate::store::assignment::offboard::{Owned, deactivate, memberships, owned_leads, pools_of};

/// The reason every offboarding move records.
const REASON: &str = "OFFBOARDING";

/// An offboarding, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Offboard {
    pub user_id: String,
    pub mode: OffboardMode,
    pub note: Option<String>,
    pub request_id: Option<Uuid>,
    /// Hand the leads to a colleague who is away (the actor manages every pool concerned, or
    /// could not offboard). Left out of the request's hash when unset, as before it existed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub override_away: bool,
}

/// What moved where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffboardReport {
    /// Memberships that were active.
    pub deactivated: u64,
    pub moved: Vec<Moved>,
    /// Locked leads the user keeps (every mode but a transfer leaves them).
    pub kept_locked: Vec<Uuid>,
}

/// Takes a departing user out of every pool of the tenant and moves their leads as `mode`
/// says; needs a tenant admin or a manager of every pool the user belongs to.
pub async fn offboard(ctx: &Context, actor: &Actor, command: Offboard) -> Result<OffboardReport> {
    let key = ("assignment.offboard", command.request_id);
    idempotency::once_atomic(ctx, actor, key, &command, async |tx| {
        let memberships = memberships(&mut *tx, actor, &command.user_id).await?;
        assignment::check_offboarder(actor, &command.user_id, &memberships)?;
        take_out(tx, actor, &command, ctx.clock.now()).await
    })
    .await
}

#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, user_id = command.user_id))]
async fn take_out(
    conn: &mut PgConnection,
    actor: &Actor,
    command: &Offboard,
    now: DateTime<Utc>,
) -> Result<OffboardReport> {
    let tenant_id = actor.tenant_id.as_str();
    let user_id = command.user_id.as_str();
    // Distribution states before leads and member rows, the order distributors lock them in.
    let mut states = BTreeMap::new();
    if command.mode == OffboardMode::Redistribute {
        for pool_id in pools_of(&mut *conn, tenant_id, user_id).await? {
            let locked = lock_state(conn, tenant_id, pool_id, now, Wait::Block)
                .await?
                .ok_or(DomainError::ConcurrentModification)?;
            states.insert(pool_id, locked);
        }
    }
    let (deactivated, owned) = deactivate_holding_leads(conn, tenant_id, user_id, now).await?;
    let (movable, locked): (Vec<Owned>, Vec<Owned>) = match command.mode {
        OffboardMode::TransferTo(_) => (owned, Vec::new()),
        _ => owned.into_iter().partition(|o| !o.locked),
    };
    let moves = match &command.mode {
        OffboardMode::ReturnToPool => movable.iter().map(|o| to(o, user_id, None)).collect(),
        OffboardMode::TransferTo(colleague) => {
            let colleague = Colleague {
                user_id: colleague,
                override_away: command.override_away,
            };
            hand_to(conn, tenant_id, user_id, colleague, &movable, now).await?
        }
        OffboardMode::Redistribute => {
            redistribute(conn, tenant_id, user_id, &movable, states, now).await?
        }
    };
    let changes = Changes {
        tenant_id,
        actor: &actor.user_id,
        kind: EventKind::Offboarded,
        acquired_via: match command.mode {
            OffboardMode::Redistribute => AcquiredVia::Distribute,
            _ => AcquiredVia::Transfer,
        },
        reason: Some(REASON),
        note: command.note.as_deref(),
        move_locked: matches!(command.mode, OffboardMode::TransferTo(_)),
        // A handover by a manager, not a push: the colleagues need not accept.
        acceptance: Acceptance::NotAsked,
        request_id: command.request_id,
        now,
    };
    let moved = moves::apply(conn, &moves, changes).await?;
    Ok(OffboardReport {
        deactivated,
        moved,
        kept_locked: locked.iter().map(|o| o.candidate.lead_id).collect(),
    })
}

/// Deactivates the user's memberships; how many, and every lead the user then owns, locked.
/// The leads are locked before the member rows, the order claims, releases and transfers lock
/// them in: a release of one of the user's leads, wanting its owner's row next, met the
/// offboarding in a deadlock. They are read again once the memberships are off, for a lead that
/// reached the user in between (a claim, whose member row the deactivation waited for).
async fn deactivate_holding_leads(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<(u64, Vec<Owned>)> {
    owned_leads(&mut *conn, tenant_id, user_id).await?;
    let deactivated = deactivate(&mut *conn, tenant_id, user_id, now).await?;
    let owned = owned_leads(&mut *conn, tenant_id, user_id).await?;
    Ok((deactivated, owned))
}

/// The colleague who takes every lead with `TRANSFER_TO`.
struct Colleague<'a> {
    user_id: &'a str,
    override_away: bool,
}

/// Every lead to the colleague, who must be present (unless overridden) and have room for them
/// in each pool: checked in that order, as a transfer checks its recipient.
async fn hand_to(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    colleague: Colleague<'_>,
    leads: &[Owned],
    now: DateTime<Utc>,
) -> Result<Vec<Move>> {
    if leads.is_empty() {
        return Ok(Vec::new());
    }
    require_present(
        conn,
        tenant_id,
        colleague.user_id,
        colleague.override_away,
        now,
    )
    .await?;
    let mut incoming: BTreeMap<Uuid, i32> = BTreeMap::new();
    for o in leads {
        *incoming.entry(o.pool_id).or_default() += 1;
    }
    require_room(conn, tenant_id, colleague.user_id, incoming).await?;
    Ok(leads
        .iter()
        .map(|o| to(o, user_id, Some(colleague.user_id.to_owned())))
        .collect())
}

/// Each pool's leads by the pool's distribution; what nobody can take goes back to the pool.
async fn redistribute(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    leads: &[Owned],
    mut states: BTreeMap<Uuid, LockedState>,
    now: DateTime<Utc>,
) -> Result<Vec<Move>> {
    // Leads of a pool the user has no membership in (none, while held counts hold) still leave
    // them: back to the pool.
    let mut moves: Vec<Move> = leads
        .iter()
        .filter(|o| !states.contains_key(&o.pool_id))
        .map(|o| to(o, user_id, None))
        .collect();
    for (pool_id, locked) in &mut states {
        let candidates: Vec<Candidate> = leads
            .iter()
            .filter(|o| o.pool_id == *pool_id)
            .map(|o| o.candidate.clone())
            .collect();
        let mut members = recipients(&mut *conn, tenant_id, *pool_id, now).await?;
        let plan = distribution::plan(
            locked.method,
            &mut locked.state,
            &mut members,
            &candidates,
            now,
        );
        let from = Some(user_id.to_owned());
        moves.extend(plan.assignments.into_iter().map(|a| Move {
            lead_id: a.lead_id,
            from_owner: from.clone(),
            to_owner: Some(a.user_id),
        }));
        moves.extend(plan.undistributed.iter().map(|u| Move {
            lead_id: u.lead_id,
            from_owner: from.clone(),
            to_owner: None,
        }));
        save_state(&mut *conn, tenant_id, *pool_id, &locked.state, now).await?;
    }
    Ok(moves)
}

fn to(lead: &Owned, from: &str, to_owner: Option<String>) -> Move {
    Move {
        lead_id: lead.candidate.lead_id,
        from_owner: Some(from.to_owned()),
        to_owner,
    }
}
