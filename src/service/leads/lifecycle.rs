//! A lead's lifecycle beyond claim and release: converting, discarding and reopening it,
//! locking it against recycling, moving it to another pool. Each change repeated returns the
//! lead as it is (a retry); any other refusal says which rule stood in the way.

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{readable, settle};
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::lead::{LeadView, ReleaseReason};
use crate::domain::lifecycle as rules;
use crate::service::Context;
use crate::service::access;
use crate::service::collision::{self, Contact};
use crate::service::idempotency;
use crate::store::leads::lifecycle::{self, Change};

/// A change of one lead's state, with an optional note for its history.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    pub lead_id: Uuid,
    pub note: Option<String>,
    pub request_id: Option<Uuid>,
}

impl Transition {
    /// This transition, as the use case `method` (several take one) asks for it.
    fn asked(&self, method: &'static str) -> Asked<'_> {
        Asked {
            method,
            lead_id: self.lead_id,
            note: self.note.as_deref(),
            request_id: self.request_id,
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

/// A change asked of one lead: the use case's name in the idempotency key, and what the
/// change's event records.
struct Asked<'a> {
    method: &'static str,
    lead_id: Uuid,
    note: Option<&'a str>,
    request_id: Option<Uuid>,
}

/// The steps every change of one lead takes, at most once per request: read the lead as the
/// actor sees it, then `act` checks the actor's rights, runs the change's statement and settles.
async fn change_lead(
    ctx: &Context,
    actor: &Actor,
    asked: Asked<'_>,
    command: &impl Serialize,
    act: impl AsyncFnOnce(&mut PgConnection, LeadView, Change<'_>) -> Result<LeadView> + Clone,
) -> Result<LeadView> {
    let key = (asked.method, asked.request_id);
    idempotency::once(ctx, actor, key, command, async |conn| {
        let view = readable(&mut *conn, actor, asked.lead_id).await?;
        let change = Change {
            lead_id: asked.lead_id,
            note: asked.note,
            request_id: asked.request_id,
            now: ctx.clock.now(),
        };
        act(conn, view, change).await
    })
    .await
}

/// Marks a lead converted (won), as its owner or a manager of its pool.
pub async fn convert(ctx: &Context, actor: &Actor, command: Transition) -> Result<LeadView> {
    let asked = command.asked("lead.convert");
    change_lead(ctx, actor, asked, &command, async |conn, view, change| {
        let manages = actor.manages(view.viewer);
        let changed = lifecycle::convert(&mut *conn, actor, change, manages).await?;
        settle(conn, actor, change.lead_id, changed, |lead| {
            rules::explain_convert_refusal(lead, &actor.user_id, manages)
        })
        .await
    })
    .await
}

/// Takes a lead out of circulation, as its owner (with one of the pool's reasons) or a
/// manager of its pool.
pub async fn discard(ctx: &Context, actor: &Actor, command: Discard) -> Result<LeadView> {
    let reason = &command.reason;
    let asked = Asked {
        method: "lead.discard",
        lead_id: command.lead_id,
        note: reason.note.as_deref(),
        request_id: command.request_id,
    };
    change_lead(ctx, actor, asked, &command, async |conn, view, change| {
        let manages = actor.manages(view.viewer);
        let changed =
            lifecycle::discard(&mut *conn, actor, change, manages, &reason.reason).await?;
        let pool_rules = match changed {
            Some(_) => None,
            None => Some(
                access::pool(&mut *conn, actor, view.lead.pool_id)
                    .await?
                    .pool
                    .rules,
            ),
        };
        settle(conn, actor, change.lead_id, changed, |lead| {
            let pool_rules = pool_rules.unwrap_or_default();
            let user_id = &actor.user_id;
            rules::explain_discard_refusal(lead, &pool_rules, user_id, manages, &reason.reason)
        })
        .await
    })
    .await
}

/// Puts a discarded lead back into its pool, as a manager of the pool. A live lead that took
/// its phone or e-mail meanwhile refuses it, named.
pub async fn reopen(ctx: &Context, actor: &Actor, command: Transition) -> Result<LeadView> {
    let asked = command.asked("lead.reopen");
    change_lead(ctx, actor, asked, &command, async |conn, view, change| {
        actor.require_manager(view.lead.pool_id, view.viewer)?;
        // A live lead may have taken its phone or e-mail while it was discarded.
        let contact = Contact::of(&actor.tenant_id, &view.lead);
        let changed = collision::naming_collisions(&mut *conn, contact, async |conn| {
            lifecycle::reopen(conn, actor, change).await
        })
        .await?;
        settle(
            conn,
            actor,
            change.lead_id,
            changed,
            rules::explain_reopen_refusal,
        )
        .await
    })
    .await
}

/// Locks a live lead, as a manager of its pool: it is then never recycled or distributed, and
/// claims, releases and transfers of it fail until it is unlocked.
pub async fn lock(ctx: &Context, actor: &Actor, command: Transition) -> Result<LeadView> {
    set_lock(ctx, actor, "lead.lock", command, true).await
}

/// Unlocks a locked lead, as a manager of its pool.
pub async fn unlock(ctx: &Context, actor: &Actor, command: Transition) -> Result<LeadView> {
    set_lock(ctx, actor, "lead.unlock", command, false).await
}

async fn set_lock(
    ctx: &Context,
    actor: &Actor,
    method: &'static str,
    command: Transition,
    locked: bool,
) -> Result<LeadView> {
    let asked = command.asked(method);
    change_lead(ctx, actor, asked, &command, async |conn, view, change| {
        actor.require_manager(view.lead.pool_id, view.viewer)?;
        let changed = lifecycle::set_lock(&mut *conn, actor, change, locked).await?;
        settle(conn, actor, change.lead_id, changed, |lead| {
            rules::explain_lock_refusal(lead, locked)
        })
        .await
    })
    .await
}

/// Moves a lead to another pool, as a manager of both pools; the target must not be archived.
pub async fn move_to_pool(ctx: &Context, actor: &Actor, command: Move) -> Result<LeadView> {
    let target = command.target_pool_id;
    let asked = command.transition.asked("lead.move");
    change_lead(ctx, actor, asked, &command, async |conn, view, change| {
        actor.require_manager(view.lead.pool_id, view.viewer)?;
        let destination = access::managed_pool(&mut *conn, actor, target).await?;
        access::require_open(&destination)?;
        let changed = lifecycle::move_to_pool(&mut *conn, actor, change, target).await?;
        settle(conn, actor, change.lead_id, changed, |lead| {
            rules::explain_move_refusal(lead, target)
        })
        .await
    })
    .await
}
