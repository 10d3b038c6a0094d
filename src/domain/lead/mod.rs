//! Leads: their fields, states and the rules of claim and release.

mod fields;
mod refusals;

pub use fields::{LeadFields, NewLead, UPDATABLE_FIELDS};
pub use refusals::{
    ClaimSnapshot, Claimant, ClaimantStanding, ReleaseSnapshot, explain_claim_refusal,
    explain_owner_refusal, explain_release_refusal, explain_update_refusal, refusal_after_undoing,
};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::member::Membership;
use super::validate::{MAX_CODE_CHARS, MAX_NOTE_CHARS, Validator};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeadState {
    InPool,
    Owned,
    Converted,
    Discarded,
}

stored_names!(LeadState, "lead state" {
    InPool => "IN_POOL",
    Owned => "OWNED",
    Converted => "CONVERTED",
    Discarded => "DISCARDED",
});

impl LeadState {
    /// Converted and discarded leads are out of circulation.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Converted | Self::Discarded)
    }
}

/// How the current owner got the lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcquiredVia {
    Claim,
    Create,
    Assign,
    Transfer,
    Distribute,
}

stored_names!(AcquiredVia, "acquisition channel" {
    Claim => "CLAIM",
    Create => "CREATE",
    Assign => "ASSIGN",
    Transfer => "TRANSFER",
    Distribute => "DISTRIBUTE",
});

/// A lead as one reader sees it: the lead and the reader's membership of its pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadView {
    pub lead: Lead,
    pub viewer: Option<Membership>,
    pub pool_masks_contacts: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    pub id: Uuid,
    pub pool_id: Uuid,
    pub external_ref: Option<String>,
    pub name: String,
    pub company: String,
    pub phone: String,
    pub email: String,
    pub source: String,
    pub region: String,
    pub industry: String,
    pub grade: String,
    pub tags: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub state: LeadState,
    pub owner_id: Option<String>,
    pub acquired_at: Option<DateTime<Utc>>,
    pub acquired_via: Option<AcquiredVia>,
    pub last_follow_up_at: Option<DateTime<Utc>>,
    pub follow_up_deadline: Option<DateTime<Utc>>,
    pub close_deadline: Option<DateTime<Utc>>,
    pub locked: bool,
    pub previous_owner_id: Option<String>,
    pub cooldown_until: Option<DateTime<Utc>>,
    pub pool_entered_at: Option<DateTime<Utc>>,
    pub duplicate_of: Option<Uuid>,
    /// While a colleague covers for the away owner: the owner the lead returns to.
    #[serde(default)]
    pub covered_owner_id: Option<String>,
    /// While the owner has yet to accept the lead pushed to them: when it is rerouted.
    #[serde(default)]
    pub accept_deadline: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The phone's digits as ASCII: a Chinese input method types full-width ones (`１３８`), which
/// are the same number.
fn phone_digits(phone: &str) -> impl Iterator<Item = char> + '_ {
    phone.chars().filter_map(|c| match c {
        '0'..='9' => Some(c),
        '０'..='９' => char::from_digit(u32::from(c) - u32::from('０'), 10),
        _ => None,
    })
}

/// The phone as duplicates are compared: its digits, without a Chinese country code
/// (`+86 138-0000-1234`, `＋８６ １３８００００１２３４` and `13800001234` are the same number).
pub fn normalize_phone(phone: &str) -> String {
    let digits: String = phone_digits(phone).collect();
    let international = phone.trim_start().starts_with(['+', '＋']);
    if let Some(rest) = digits.strip_prefix("0086") {
        rest.to_owned()
    } else if let Some(rest) = digits
        .strip_prefix("86")
        .filter(|rest| international || rest.len() == 11)
    {
        rest.to_owned()
    } else {
        digits
    }
}

/// The e-mail as duplicates are compared: trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Why a lead goes back to the pool, as given by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseReason {
    pub reason: String,
    pub note: Option<String>,
}

impl ReleaseReason {
    pub fn parse(v: &mut Validator, reason: &str, note: &str) -> Self {
        let reason = v.required_text("reason", reason, MAX_CODE_CHARS);
        let note = v.optional_text("note", note, MAX_NOTE_CHARS);
        Self {
            reason,
            note: Some(note).filter(|n| !n.is_empty()),
        }
    }
}
