//! Leads.

use super::{optional_timestamp, timestamp};
use crate::domain::lead::{AcquiredVia, Lead, LeadState};
use crate::proto;

pub fn lead_state(state: LeadState) -> proto::LeadState {
    match state {
        LeadState::InPool => proto::LeadState::InPool,
        LeadState::Owned => proto::LeadState::Owned,
        LeadState::Converted => proto::LeadState::Converted,
        LeadState::Discarded => proto::LeadState::Discarded,
    }
}

fn acquired_via(via: Option<AcquiredVia>) -> proto::AcquisitionChannel {
    match via {
        None => proto::AcquisitionChannel::Unspecified,
        Some(AcquiredVia::Claim) => proto::AcquisitionChannel::Claim,
        Some(AcquiredVia::Create) => proto::AcquisitionChannel::Create,
        Some(AcquiredVia::Assign) => proto::AcquisitionChannel::Assign,
        Some(AcquiredVia::Transfer) => proto::AcquisitionChannel::Transfer,
        Some(AcquiredVia::Distribute) => proto::AcquisitionChannel::Distribute,
    }
}

pub fn lead(lead: Lead) -> proto::Lead {
    proto::Lead {
        id: lead.id.to_string(),
        pool_id: lead.pool_id.to_string(),
        external_ref: lead.external_ref.unwrap_or_default(),
        name: lead.name,
        company: lead.company,
        phone: lead.phone,
        email: lead.email,
        source: lead.source,
        region: lead.region,
        industry: lead.industry,
        grade: lead.grade,
        tags: lead.tags,
        attributes: lead.attributes.into_iter().collect(),
        state: lead_state(lead.state).into(),
        owner_id: lead.owner_id.unwrap_or_default(),
        acquired_at: optional_timestamp(lead.acquired_at),
        acquired_via: acquired_via(lead.acquired_via).into(),
        last_follow_up_at: optional_timestamp(lead.last_follow_up_at),
        follow_up_deadline: optional_timestamp(lead.follow_up_deadline),
        close_deadline: optional_timestamp(lead.close_deadline),
        locked: lead.locked,
        previous_owner_id: lead.previous_owner_id.unwrap_or_default(),
        cooldown_until: optional_timestamp(lead.cooldown_until),
        pool_entered_at: optional_timestamp(lead.pool_entered_at),
        version: lead.version,
        created_at: Some(timestamp(lead.created_at)),
        updated_at: Some(timestamp(lead.updated_at)),
        contact_masked: false,
        duplicate_of: lead
            .duplicate_of
            .map(|id| id.to_string())
            .unwrap_or_default(),
    }
}
