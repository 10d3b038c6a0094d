//! Distribution (自动分配): which member gets which pool lead, as pure functions of the pool's
//! members, its leads and the persisted strategy state (shared/domain.md "Distribution strategies").
//! `service::assignment::distribute` locks that state, calls [`plan`] and applies the result in one
//! transaction.

mod eligibility;
pub mod least_loaded;
pub mod round_robin;
mod rule;
pub mod rule_match;
mod selection;
mod turns;
pub mod weighted;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use eligibility::Exclusions;
pub use rule::{Choice, DistributionDraft, MethodOverride};
pub use selection::Selection;

/// How a pool spreads its leads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Strategy {
    /// The next eligible member after the cursor, in join order.
    #[default]
    RoundRobin,
    /// Smooth weighted round-robin over the members' weights.
    Weighted,
    /// The lowest held/cap ratio; ties by the round-robin cursor.
    LeastLoaded,
    /// Members whose regions, industries and grades match the lead; the fallback picks among them.
    RuleMatch,
}

stored_names!(Strategy, "distribution strategy" {
    RoundRobin => "ROUND_ROBIN",
    Weighted => "WEIGHTED",
    LeastLoaded => "LEAST_LOADED",
    RuleMatch => "RULE_MATCH",
});

/// The pool rule `distribution`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionRule {
    pub method: Method,
    /// The scheduler distributes leads that sat in the pool longer than `auto_distribute_after`.
    pub auto_distribute: bool,
    /// Whole seconds; `None` means at once.
    pub auto_distribute_after_seconds: Option<i32>,
}

/// How one distribution picks: the strategy and, for `RULE_MATCH`, what picks among the matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Method {
    pub strategy: Strategy,
    /// Picks among the matching members under `RULE_MATCH`; never `RULE_MATCH` itself.
    pub fallback: Strategy,
    /// Under `RULE_MATCH`, a lead that no active member matches goes to any eligible member
    /// (picked by the fallback) instead of staying in the pool.
    pub assign_unmatched: bool,
}

/// A member who may receive leads: active, with their standing and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: String,
    pub joined_at: DateTime<Utc>,
    pub weight: i32,
    pub held: i32,
    /// Their own `max_held`, else the pool's; `None`: no cap.
    pub cap: Option<i32>,
    pub regions: Vec<String>,
    pub industries: Vec<String>,
    pub grades: Vec<String>,
}

impl Recipient {
    fn place(&self) -> Cursor {
        Cursor {
            joined_at: self.joined_at,
            user_id: self.user_id.clone(),
        }
    }
}

/// A pool lead to distribute, as far as distribution looks at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub lead_id: Uuid,
    pub region: String,
    pub industry: String,
    pub grade: String,
    pub previous_owner_id: Option<String>,
    pub cooldown_until: Option<DateTime<Utc>>,
    /// The members it was pushed to in its accept chain, who may not get it again; empty but
    /// for a reroute.
    pub chain: Vec<String>,
}

/// A place in the stable member order `(joined_at, user_id)`: the last recipient.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cursor {
    pub joined_at: DateTime<Utc>,
    pub user_id: String,
}

/// What a pool's distributions remember between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistributionState {
    pub cursor: Option<Cursor>,
    /// Smooth weighted round-robin's current weight per user; absent means 0.
    pub current_weights: BTreeMap<String, i64>,
    /// Under `RULE_MATCH`, the last recipient of each matching set ([`turns`]).
    pub group_cursors: BTreeMap<String, Cursor>,
    /// Under `RULE_MATCH` with the `WEIGHTED` fallback, each matching set's current weights
    /// ([`turns`]); a set whose weights are all 0 is absent.
    pub group_weights: BTreeMap<String, BTreeMap<String, i64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub lead_id: Uuid,
    pub user_id: String,
}

/// Why a lead was not distributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Skip {
    /// Nobody could take it; the counts say why each active member could not.
    NoEligibleMember(Exclusions),
    /// Named by the caller but not an unlocked lead of this pool's public pool right now.
    NotAvailable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undistributed {
    pub lead_id: Uuid,
    pub skip: Skip,
}

/// What a distribution does (or, previewed, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub method: Method,
    pub assignments: Vec<Assignment>,
    pub undistributed: Vec<Undistributed>,
}

/// Plans the distribution of `leads`, in the given order, over `recipients` (the pool's active
/// members), and advances `state` as the plan is applied. Deterministic: the same inputs give
/// the same plan and the same next state. Recipients' `held` counts grow with what they get.
pub fn plan(
    method: Method,
    state: &mut DistributionState,
    recipients: &mut [Recipient],
    leads: &[Candidate],
    now: DateTime<Utc>,
) -> Plan {
    recipients.sort_by(|a, b| (a.joined_at, &a.user_id).cmp(&(b.joined_at, &b.user_id)));
    let mut pool_weights = weighted::Weights::load(&state.current_weights, recipients);
    let mut set_weights = weighted::SetWeights::default();
    let mut plan = Plan {
        method,
        assignments: Vec::with_capacity(leads.len()),
        undistributed: Vec::new(),
    };
    for lead in leads {
        let eligible = eligibility::eligible(method, recipients, lead, now);
        let (chosen, group) = match eligible {
            Ok(eligible) => {
                let group = (method.strategy == Strategy::RuleMatch)
                    .then(|| turns::group_key(recipients, &eligible));
                let cursor = group
                    .as_ref()
                    .and_then(|key| state.group_cursors.get(key))
                    .or(state.cursor.as_ref());
                let weights = match &group {
                    Some(key) => set_weights.of(key, &state.group_weights, recipients),
                    None => &mut pool_weights,
                };
                (pick(method, cursor, weights, recipients, &eligible), group)
            }
            Err(exclusions) => {
                plan.undistributed.push(Undistributed {
                    lead_id: lead.lead_id,
                    skip: Skip::NoEligibleMember(exclusions),
                });
                continue;
            }
        };
        let recipient = &mut recipients[chosen];
        recipient.held += 1;
        state.cursor = Some(recipient.place());
        if let Some(key) = group {
            turns::remember(&mut state.group_cursors, key, recipient.place());
        }
        plan.assignments.push(Assignment {
            lead_id: lead.lead_id,
            user_id: recipient.user_id.clone(),
        });
    }
    state.current_weights = pool_weights.save(recipients);
    set_weights.save(&mut state.group_weights, recipients);
    plan
}

/// The member (index into `recipients`) that gets the lead, among the non-empty `eligible`.
fn pick(
    method: Method,
    cursor: Option<&Cursor>,
    weights: &mut weighted::Weights,
    recipients: &[Recipient],
    eligible: &[usize],
) -> usize {
    let strategy = match method.strategy {
        Strategy::RuleMatch => method.fallback,
        other => other,
    };
    match strategy {
        Strategy::Weighted => weights.pick(recipients, eligible),
        Strategy::LeastLoaded => least_loaded::pick(cursor, recipients, eligible),
        Strategy::RoundRobin | Strategy::RuleMatch => {
            round_robin::pick(cursor, recipients, eligible)
        }
    }
}
