//! Editing a lead's fields.

use serde::Serialize;
use uuid::Uuid;

use super::readable;
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::lead::{self, LeadView, NewLead};
use crate::service::Context;
use crate::service::collision::{self, Contact};
use crate::service::idempotency;
use crate::store;
use crate::store::leads::edit::LeadEdit;

/// New values for the fields named in `mask`, based on the lead at `version`.
#[derive(Debug, Clone, Serialize)]
pub struct Update {
    pub lead_id: Uuid,
    pub version: i64,
    pub values: NewLead,
    pub mask: Vec<String>,
    pub request_id: Option<Uuid>,
}

/// Changes the masked fields of a lead the actor owns or manages (or any, for a service),
/// if it is still at the version the caller read; a contact another live lead has is refused
/// naming that lead.
pub async fn update(ctx: &Context, actor: &Actor, command: Update) -> Result<LeadView> {
    let Update {
        lead_id,
        version,
        ref values,
        ref mask,
        request_id,
    } = command;
    let key = ("lead.update", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        let view = readable(&mut *conn, actor, lead_id).await?;
        let owns = view.lead.owner_id.as_deref() == Some(actor.user_id.as_str());
        if !owns && !actor.roles.service && !actor.manages(view.viewer) {
            return Err(DomainError::NotLeadOwner { lead_id });
        }
        let edit = LeadEdit {
            lead_id,
            expected_version: version,
            values,
            mask,
            request_id,
            now: ctx.clock.now(),
        };
        let contact = Contact::of_new(&actor.tenant_id, values);
        let updated = collision::naming_collisions(&mut *conn, contact, async |conn| {
            store::leads::edit::update(conn, actor, &edit).await
        })
        .await?;
        match updated {
            Some(view) => Ok(view),
            None => {
                let current = store::leads::get(&mut *conn, actor, lead_id).await?;
                Err(lead::explain_update_refusal(&current.lead, version))
            }
        }
    })
    .await
}
