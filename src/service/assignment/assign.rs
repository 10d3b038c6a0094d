//! AssignLead: a manager hands a pool lead to a member.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{handover, require_room};
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::acceptance::Acceptance;
use crate::domain::access::Actor;
use crate::domain::assignment::{self, Step};
use crate::domain::event::EventKind;
use crate::domain::lead::{AcquiredVia, LeadView};
use crate::service::Context;
use crate::service::absences::require_present;
use crate::service::idempotency;
use crate::store;
use crate::store::assignment::moves::{self, Changes, Move};
use crate::store::assignment::transfer::held_leads;

/// An assignment, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Assign {
    pub lead_id: Uuid,
    pub user_id: String,
    /// The manager gives the lead back to its previous owner within the reclaim cooldown.
    pub override_cooldown: bool,
    /// The manager gives the lead to a member who is away.
    pub override_away: bool,
    pub note: Option<String>,
    pub request_id: Option<Uuid>,
}

/// Assigns a pool lead to a member of its pool (a retry finds it theirs and changes nothing);
/// the lead as the manager now sees it.
pub async fn assign(ctx: &Context, actor: &Actor, command: Assign) -> Result<LeadView> {
    let key = ("assignment.assign", command.request_id);
    idempotency::once_atomic(ctx, actor, key, &command, async |tx| {
        hand_over(tx, ctx, actor, &command).await?;
        store::leads::get(&mut *tx, actor, command.lead_id).await
    })
    .await
}

/// Locks the lead, checks the assignment and the member's room, and moves the lead (unless the
/// member has it already).
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, lead_id = %command.lead_id))]
async fn hand_over(
    conn: &mut PgConnection,
    ctx: &Context,
    actor: &Actor,
    command: &Assign,
) -> Result<()> {
    let now = ctx.clock.now();
    let (lead_id, to_user) = (command.lead_id, command.user_id.as_str());
    let lead = held_leads(&mut *conn, actor, &[lead_id])
        .await?
        .pop()
        .ok_or(DomainError::LeadNotFound(lead_id))?;
    if assignment::check_assign(&lead, to_user, command.override_cooldown, now)?
        == Step::AlreadyDone
    {
        return Ok(());
    }
    let overridden = assignment::away_overridden(command.override_away, [&lead]);
    require_present(conn, &actor.tenant_id, to_user, overridden, now).await?;
    require_room(
        conn,
        &actor.tenant_id,
        to_user,
        BTreeMap::from([(lead.pool_id, 1)]),
    )
    .await?;
    // The audit trail says when a manager overrode the previous owner's cooldown.
    let overridden = lead.previous_owner_id.as_deref() == Some(to_user)
        && lead.cooldown_until.is_some_and(|until| until > now);
    let moves = [Move {
        lead_id,
        from_owner: None,
        to_owner: Some(to_user.to_owned()),
    }];
    let changes = Changes {
        reason: overridden.then_some("COOLDOWN_OVERRIDDEN"),
        acceptance: Acceptance::Assign,
        ..handover(
            actor,
            EventKind::Assigned,
            AcquiredVia::Assign,
            command.note.as_deref(),
            command.request_id,
            now,
        )
    };
    moves::apply(conn, &moves, changes).await.map(drop)
}
