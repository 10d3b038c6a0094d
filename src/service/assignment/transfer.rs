//! TransferLeads: owned leads go to another member, all or none.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{handover, require_room};
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::assignment::{self, HeldLead, Step};
use crate::domain::event::EventKind;
use crate::domain::lead::AcquiredVia;
use crate::service::Context;
use crate::service::absences::require_present;
use crate::service::idempotency;
use crate::store::assignment::moves::{self, Move};
use crate::store::assignment::transfer::{held_leads, lock_members};

/// A transfer, validated: distinct leads, in the order asked.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub lead_ids: Vec<Uuid>,
    pub to_user_id: String,
    /// The manager moves the leads to a member who is away (for a caller who does not manage
    /// every lead's pool it is as if unset).
    pub override_away: bool,
    pub note: Option<String>,
    pub request_id: Option<Uuid>,
}

/// What a transfer did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transferred {
    /// The leads asked for, all now the recipient's.
    pub lead_ids: Vec<Uuid>,
    /// How many changed owner (the others this caller had already moved there).
    pub transferred: usize,
}

/// Transfers owned leads to a member of their pools, all or none.
pub async fn transfer(ctx: &Context, actor: &Actor, command: Transfer) -> Result<Transferred> {
    let key = ("assignment.transfer", command.request_id);
    idempotency::once_atomic(ctx, actor, key, &command, async |tx| {
        let transferred = hand_over(tx, ctx, actor, &command).await?;
        Ok(Transferred {
            lead_ids: command.lead_ids.clone(),
            transferred,
        })
    })
    .await
}

/// Locks the leads, checks each, then the recipient (present, member, active, room), then the
/// leads' locks, and moves those not there yet.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, leads = command.lead_ids.len()))]
async fn hand_over(
    conn: &mut PgConnection,
    ctx: &Context,
    actor: &Actor,
    command: &Transfer,
) -> Result<usize> {
    let to_user = command.to_user_id.as_str();
    let held: BTreeMap<Uuid, HeldLead> = held_leads(&mut *conn, actor, &command.lead_ids)
        .await?
        .into_iter()
        .map(|lead| (lead.lead_id, lead))
        .collect();
    let mut moving = Vec::new();
    for id in &command.lead_ids {
        let lead = held.get(id).ok_or(DomainError::LeadNotFound(*id))?;
        if assignment::check_transfer(lead, &actor.user_id, to_user)? == Step::Move {
            moving.push(lead);
        }
    }
    if !moving.is_empty() {
        let overridden = assignment::away_overridden(command.override_away, moving.clone());
        require_present(conn, &actor.tenant_id, to_user, overridden, ctx.clock.now()).await?;
    }
    let mut incoming: BTreeMap<Uuid, i32> = BTreeMap::new();
    for lead in &moving {
        *incoming.entry(lead.pool_id).or_default() += 1;
    }
    let moves: Vec<Move> = moving
        .iter()
        .map(|lead| Move {
            lead_id: lead.lead_id,
            from_owner: lead.owner_id.clone(),
            to_owner: Some(to_user.to_owned()),
        })
        .collect();
    lock_giver_and_receiver(conn, &actor.tenant_id, &moves, &incoming).await?;
    require_room(conn, &actor.tenant_id, to_user, incoming).await?;
    assignment::check_unlocked(moving.iter().copied())?;
    let changes = handover(
        actor,
        EventKind::Transferred,
        AcquiredVia::Transfer,
        command.note.as_deref(),
        command.request_id,
        ctx.clock.now(),
    );
    moves::apply(conn, &moves, changes).await?;
    Ok(moves.len())
}

/// The member rows every move changes, givers' and receiver's, locked in one order before any
/// of them is written.
async fn lock_giver_and_receiver(
    conn: &mut PgConnection,
    tenant_id: &str,
    moves: &[Move],
    incoming: &BTreeMap<Uuid, i32>,
) -> Result<()> {
    let pools: Vec<Uuid> = incoming.keys().copied().collect();
    let users: Vec<String> = moves
        .iter()
        .flat_map(|m| [m.from_owner.clone(), m.to_owner.clone()])
        .flatten()
        .collect();
    lock_members(conn, tenant_id, &pools, &users).await
}
