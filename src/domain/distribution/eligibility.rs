//! Who may get one lead: below their cap, not in the lead's cooldown, not one who already had it
//! pushed in its accept chain (a reroute) and, under `RULE_MATCH`, matching it (shared/domain.md "Distribution strategies"). Recipients are active members only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Candidate, Method, Recipient, Strategy, rule_match};

/// Why the active members could not take a lead, each counted under the first rule they fail
/// (matching, then cap, then cooldown, then the accept chain).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusions {
    /// Active members considered.
    pub members: u32,
    pub not_matching: u32,
    pub at_cap: u32,
    pub in_cooldown: u32,
    /// Members who already had the lead in its accept chain.
    #[serde(default)]
    pub had_it: u32,
}

/// The indices of the recipients that may get `lead`, or, when there are none, why.
pub fn eligible(
    method: Method,
    recipients: &[Recipient],
    lead: &Candidate,
    now: DateTime<Utc>,
) -> Result<Vec<usize>, Exclusions> {
    let matching =
        |r: &Recipient| method.strategy != Strategy::RuleMatch || rule_match::matches(r, lead);
    // A lead nobody matches goes to anyone only when the rule says so.
    let unmatched_to_all = method.strategy == Strategy::RuleMatch
        && method.assign_unmatched
        && !recipients.iter().any(matching);
    let mut exclusions = Exclusions {
        members: u32::try_from(recipients.len()).unwrap_or(u32::MAX),
        ..Exclusions::default()
    };
    let mut eligible = Vec::new();
    for (i, r) in recipients.iter().enumerate() {
        if !unmatched_to_all && !matching(r) {
            exclusions.not_matching += 1;
        } else if r.cap.is_some_and(|cap| r.held >= cap) {
            exclusions.at_cap += 1;
        } else if in_cooldown(r, lead, now) {
            exclusions.in_cooldown += 1;
        } else if lead.chain.contains(&r.user_id) {
            exclusions.had_it += 1;
        } else {
            eligible.push(i);
        }
    }
    if eligible.is_empty() {
        Err(exclusions)
    } else {
        Ok(eligible)
    }
}

/// The lead's previous owner may not get it back before its cooldown ends.
pub fn in_cooldown(recipient: &Recipient, lead: &Candidate, now: DateTime<Utc>) -> bool {
    lead.previous_owner_id.as_deref() == Some(recipient.user_id.as_str())
        && lead.cooldown_until.is_some_and(|until| until > now)
}
