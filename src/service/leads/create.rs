//! Creating one lead, in the pool or straight into a member's hands.

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::require_lead_creator;
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::lead::{self, LeadView, NewLead};
use crate::service::Context;
use crate::service::collision::{self, Contact};
use crate::service::idempotency;
use crate::store;
use crate::store::leads::CreateLead;

/// A new lead for a pool; with an `owner_id` it is created owned by that member.
#[derive(Debug, Clone, Serialize)]
pub struct Create {
    pub pool_id: Uuid,
    pub lead: NewLead,
    pub owner_id: Option<String>,
    /// Keep the lead even if a live lead has its phone or e-mail (recorded as `duplicate_of`).
    pub allow_duplicate: bool,
    pub request_id: Option<Uuid>,
}

/// Creates a lead in a pool the actor may create leads in; refused with the lead it
/// duplicates, or with the reason the named owner cannot take it.
pub async fn create(ctx: &Context, actor: &Actor, command: Create) -> Result<LeadView> {
    let key = ("lead.create", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        require_lead_creator(conn, actor, command.pool_id).await?;
        let create = CreateLead {
            pool_id: command.pool_id,
            lead: &command.lead,
            owner_id: command.owner_id.as_deref(),
            request_id: command.request_id,
            allow_duplicate: command.allow_duplicate,
        };
        insert(ctx, conn, actor, &create).await
    })
    .await
}

/// Writes the lead, or says which rule refused it: a duplicate (named), or the owner.
async fn insert(
    ctx: &Context,
    conn: &mut PgConnection,
    actor: &Actor,
    create: &CreateLead<'_>,
) -> Result<LeadView> {
    let now = ctx.clock.now();
    let contact = Contact::of_new(&actor.tenant_id, create.lead);
    let created = collision::naming_collisions(conn, contact, async |conn| {
        store::leads::create(conn, actor, create, now).await
    })
    .await?;
    if let Some(view) = created {
        return Ok(view);
    }
    // Refused: a duplicate, or the owner cannot take it.
    let (phone, email) = (&create.lead.phone, &create.lead.email);
    let existing = store::leads::find_duplicate(&mut *conn, &actor.tenant_id, phone, email).await?;
    if existing.is_some() && !create.allow_duplicate {
        return Err(DomainError::DuplicateLead {
            existing_lead_id: existing,
        });
    }
    let owner = create.owner_id.ok_or(DomainError::ConcurrentModification)?;
    let standing =
        store::leads::standing(&mut *conn, &actor.tenant_id, create.pool_id, owner).await?;
    Err(lead::explain_owner_refusal(create.pool_id, owner, standing))
}
