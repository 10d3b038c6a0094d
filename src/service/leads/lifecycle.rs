//! A lead's lifecycle beyond claim and release: converting, discarding and reopening it,
//! locking it against recycling, moving it to another pool. Each change repeated returns the
//! lead as it is (a retry); any other refusal says which rule stood in the way.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{readable, settle};
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::lead::{LeadView, ReleaseReason};
use crate::domain::lifecycle as rules;
use crate::service::Context;
use crate::service::collision::{self, Contact};
use crate::service::idempotency;
use crate::store;
use crate::store::leads::lifecycle::{self, Change};

/// A change of one lead's state, with an optional note for its history.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    pub lead_id: Uuid,
    pub note: Option<String>,
    pub request_id: Option<Uuid>,
}

impl Transition {
    fn change(&self, now: DateTime<Utc>) -> Change<'_> {
        Change {
            lead_id: self.lead_id,
            note: self.note.as_deref(),
            request_id: self.request_id,
            now,
        }
    }
}

/// A lead to take out of circulation, and why (the reason's note goes to its history).
#[derive(Debug, Clone, Serialize)]
pub struct Discard {
    pub lead_id: Uuid,
    pub reason: ReleaseReason,
    pub request_id: Option<Uuid>,
}

/// A lead to move to another pool of the tenant.
#[derive(Debug, Clone, Serialize)]
pub struct Move {
    pub transition: Transition,
    pub target_pool_id: Uuid,
}

/// Marks a lead converted (won), as its owner or a manager of its pool.
pub async fn convert(
    ctx: &Context,
    actor: &Actor,
    command: Transition,
) -> Result<LeadView, DomainError> {
    let lead_id = command.lead_id;
    idempotency::once(
        ctx,
        actor,
        "lead.convert",
        command.request_id,
        &command,
        async |conn| {
            let view = readable(&mut *conn, actor, lead_id).await?;
            let manages = actor.manages(view.viewer);
            let change = command.change(ctx.clock.now());
            let changed = lifecycle::convert(&mut *conn, actor, change, manages).await?;
            settle(&mut *conn, actor, lead_id, changed, |lead| {
                rules::explain_convert_refusal(lead, &actor.user_id, manages)
            })
            .await
        },
    )
    .await
}

/// Takes a lead out of circulation, as its owner (with one of the pool's reasons) or a
/// manager of its pool.
pub async fn discard(
    ctx: &Context,
    actor: &Actor,
    command: Discard,
) -> Result<LeadView, DomainError> {
    let Discard {
        lead_id,
        ref reason,
        request_id,
    } = command;
    idempotency::once(
        ctx,
        actor,
        "lead.discard",
        request_id,
        &command,
        async |conn| {
            let view = readable(&mut *conn, actor, lead_id).await?;
            let manages = actor.manages(view.viewer);
            let change = Change {
                lead_id,
                note: reason.note.as_deref(),
                request_id,
                now: ctx.clock.now(),
            };
            let changed =
                lifecycle::discard(&mut *conn, actor, change, manages, &reason.reason).await?;
            let pool_rules = match changed {
                Some(_) => None,
                None => {
                    let pool_id = view.lead.pool_id;
                    let access =
                        store::pools::access(&mut *conn, &actor.tenant_id, pool_id, &actor.user_id)
                            .await?;
                    Some(access.pool.rules)
                }
            };
            settle(&mut *conn, actor, lead_id, changed, |lead| {
                let pool_rules = pool_rules.unwrap_or_default();
                rules::explain_discard_refusal(
                    lead,
                    &pool_rules,
                    &actor.user_id,
                    manages,
                    &reason.reason,
                )
            })
            .await
        },
    )
    .await
}

/// Puts a discarded lead back into its pool, as a manager of the pool. A live lead that took
/// its phone or e-mail meanwhile refuses it, named.
pub async fn reopen(
    ctx: &Context,
    actor: &Actor,
    command: Transition,
) -> Result<LeadView, DomainError> {
    let lead_id = command.lead_id;
    idempotency::once(
        ctx,
        actor,
        "lead.reopen",
        command.request_id,
        &command,
        async |conn| {
            let view = readable(&mut *conn, actor, lead_id).await?;
            actor.require_manager(view.lead.pool_id, view.viewer)?;
            let change = command.change(ctx.clock.now());
            // A live lead may have taken its phone or e-mail while it was discarded.
            let contact = Contact::of(&actor.tenant_id, &view.lead);
            let changed = collision::naming_collisions(&mut *conn, contact, async |conn| {
                lifecycle::reopen(conn, actor, change).await
            })
            .await?;
            settle(
                &mut *conn,
                actor,
                lead_id,
                changed,
                rules::explain_reopen_refusal,
            )
            .await
        },
    )
    .await
}

/// Locks a live lead, as a manager of its pool: it is then never recycled or distributed, and
/// claims, releases and transfers of it fail until it is unlocked.
pub async fn lock(
    ctx: &Context,
    actor: &Actor,
    command: Transition,
) -> Result<LeadView, DomainError> {
    set_lock(ctx, actor, "lead.lock", command, true).await
}

/// Unlocks a locked lead, as a manager of its pool.
pub async fn unlock(
    ctx: &Context,
    actor: &Actor,
    command: Transition,
) -> Result<LeadView, DomainError> {
    set_lock(ctx, actor, "lead.unlock", command, false).await
}

async fn set_lock(
    ctx: &Context,
    actor: &Actor,
    method: &str,
    command: Transition,
    locked: bool,
) -> Result<LeadView, DomainError> {
    let lead_id = command.lead_id;
    idempotency::once(
        ctx,
        actor,
        method,
        command.request_id,
        &command,
        async |conn| {
            let view = readable(&mut *conn, actor, lead_id).await?;
            actor.require_manager(view.lead.pool_id, view.viewer)?;
            let change = command.change(ctx.clock.now());
            let changed = lifecycle::set_lock(&mut *conn, actor, change, locked).await?;
            settle(&mut *conn, actor, lead_id, changed, |lead| {
                rules::explain_lock_refusal(lead, locked)
            })
            .await
        },
    )
    .await
}

/// Moves a lead to another pool, as a manager of both pools; the target must not be archived.
pub async fn move_to_pool(
    ctx: &Context,
    actor: &Actor,
    command: Move,
) -> Result<LeadView, DomainError> {
    let Move {
        ref transition,
        target_pool_id: target,
    } = command;
    let lead_id = transition.lead_id;
    idempotency::once(
        ctx,
        actor,
        "lead.move",
        transition.request_id,
        &command,
        async |conn| {
            let view = readable(&mut *conn, actor, lead_id).await?;
            actor.require_manager(view.lead.pool_id, view.viewer)?;
            let destination =
                store::pools::access(&mut *conn, &actor.tenant_id, target, &actor.user_id).await?;
            actor.require_manager(target, destination.membership)?;
            if destination.pool.archived_at.is_some() {
                return Err(DomainError::PoolArchived(target));
            }
            let change = transition.change(ctx.clock.now());
            let changed = lifecycle::move_to_pool(&mut *conn, actor, change, target).await?;
            settle(&mut *conn, actor, lead_id, changed, |lead| {
                rules::explain_move_refusal(lead, target)
            })
            .await
        },
    )
    .await
}
