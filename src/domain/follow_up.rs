//! Follow-ups (跟进): the owner's logged interactions. Each resets the follow-up deadline to
//! `max(acquired_at, last_follow_up_at) + follow_up_timeout`; the close deadline stays.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainError;
use super::error::OwnerAct;
use super::lead::{Lead, LeadState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Channel {
    Call,
    Email,
    Visit,
    Message,
    Other,
}

stored_names!(Channel, "follow-up channel" {
    Call => "CALL",
    Email => "EMAIL",
    Visit => "VISIT",
    Message => "MESSAGE",
    Other => "OTHER",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    pub id: Uuid,
    pub lead_id: Uuid,
    pub author: String,
    pub channel: Channel,
    pub note: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// Explains why a follow-up was not recorded: only the owner of an owned lead records one.
pub fn explain_follow_up_refusal(lead: &Lead, actor: &str) -> DomainError {
    match lead.state {
        LeadState::Converted | LeadState::Discarded => DomainError::LeadClosed(lead.id),
        LeadState::InPool => DomainError::LeadNotOwned(lead.id),
        LeadState::Owned if lead.owner_id.as_deref() != Some(actor) => DomainError::OwnerOnly {
            lead_id: lead.id,
            act: OwnerAct::RecordFollowUp,
        },
        LeadState::Owned => DomainError::ConcurrentModification,
    }
}
