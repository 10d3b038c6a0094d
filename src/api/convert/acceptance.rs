//! Accept or reroute: requests to the commands of `service::acceptance`, and its answers.

use super::OWNER_ME;
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::page::PageSize;
use crate::domain::validate::{MAX_CODE_CHARS, MAX_NOTE_CHARS, Validator};
use crate::proto;
use crate::service::acceptance::{AcceptLead, DeclineLead, Declined, PendingFilter};

pub fn parse_accept(req: &proto::AcceptLeadRequest) -> Result<AcceptLead, DomainError> {
    let mut v = Validator::new();
    let command = AcceptLead {
        lead_id: v.uuid("lead_id", &req.lead_id),
        request_id: v.optional_uuid("request_id", &req.request_id),
    };
    v.finish(command)
}

pub fn parse_decline(req: &proto::DeclineLeadRequest) -> Result<DeclineLead, DomainError> {
    let mut v = Validator::new();
    let command = DeclineLead {
        lead_id: v.uuid("lead_id", &req.lead_id),
        reason: v.required_text("reason", &req.reason, MAX_NOTE_CHARS),
        request_id: v.optional_uuid("request_id", &req.request_id),
    };
    v.finish(command)
}

pub fn declined(outcome: Declined) -> proto::DeclineLeadResponse {
    let outcome = match outcome {
        Declined::Rerouted => proto::DeclineOutcome::Rerouted,
        Declined::ReturnedToPool => proto::DeclineOutcome::ReturnedToPool,
    };
    proto::DeclineLeadResponse {
        outcome: outcome.into(),
    }
}

/// Whose pending leads a `ListPendingAcceptance` asks for, and one page's size.
pub fn pending_filter(
    actor: &Actor,
    req: &proto::ListPendingAcceptanceRequest,
) -> Result<(PendingFilter, PageSize), DomainError> {
    let mut v = Validator::new();
    let pool_id = v.optional_uuid("pool_id", &req.pool_id);
    let owner = v.optional_text("owner_id", &req.owner_id, MAX_CODE_CHARS);
    let owner_id = match (owner.as_str(), req.all_owners) {
        ("", true) => None,
        (_, true) => {
            v.violation("owner_id", "must be empty when all_owners is set");
            None
        }
        ("" | OWNER_ME, false) => Some(actor.user_id.clone()),
        (other, false) => Some(other.to_owned()),
    };
    let others = owner_id.as_deref() != Some(actor.user_id.as_str());
    if others && pool_id.is_none() && !actor.reads_everything() {
        v.violation(
            "pool_id",
            "is required to list another member's pending leads, unless the caller has the admin \
             or service role",
        );
    }
    let page = PageSize::parse(&mut v, req.page_size);
    v.finish((PendingFilter { pool_id, owner_id }, page))
}
