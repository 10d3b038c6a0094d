//! Accept or reroute (shared/domain.md "Accept or reroute"): a lead pushed to a member waits for
//! their acceptance until its `accept_deadline`; a miss or a decline passes it on, never to a
//! member who already had it in this chain, at most `max_reroutes` times.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::DomainError;
use super::distribution::{self, Candidate, DistributionState, Method, Recipient};
use super::error::OwnerAct;
use super::lead::{Lead, LeadState};

/// Whether the members a batch of moves hands leads to must accept them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// A handover that needs no acceptance (claim, transfer, offboarding, return to the pool).
    NotAsked,
    /// A distribution: accepted within the pool's `accept_within`, when it has one.
    Push,
    /// A manager's assignment: like a push where the pool says `sla_on_assign`.
    Assign,
    /// A pass to the next member of the lead's chain.
    Reroute,
}

impl Acceptance {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAsked => "NOT_ASKED",
            Self::Push => "PUSH",
            Self::Assign => "ASSIGN",
            Self::Reroute => "REROUTE",
        }
    }
}

/// Why a pending lead leaves its member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RerouteCause {
    /// The accept deadline passed.
    Missed,
    /// The member declined it.
    Declined,
}

impl RerouteCause {
    /// The `reason` of the lead's `REROUTED` event.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missed => "MISSED",
            Self::Declined => "DECLINED",
        }
    }
}

/// The `reason` of the `ESCALATED` event a miss writes.
pub const ESCALATION_REASON: &str = "ACCEPT_MISSED";

/// A lead waiting for its owner's acceptance, as the reroute sees it (locked): what
/// distribution looks at (its `chain`: everyone it was pushed to in this chain, oldest first, the
/// owner last), and its pool's `max_reroutes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLead {
    pub candidate: Candidate,
    pub owner_id: String,
    pub accept_deadline: DateTime<Utc>,
    pub max_reroutes: Option<i32>,
}

impl PendingLead {
    /// How many times the lead has been passed on in this chain.
    pub fn reroutes(&self) -> usize {
        self.candidate.chain.len().saturating_sub(1)
    }

    /// Whether the pool's `max_reroutes` lets it be passed on once more (`None`: no limit).
    pub fn may_reroute(&self) -> bool {
        self.max_reroutes
            .is_none_or(|max| usize::try_from(max).is_ok_and(|max| self.reroutes() < max))
    }
}

/// Where each missed or declined lead goes: to a member, or back to the pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reroutes {
    /// `(lead, from its owner, to the next member)`.
    pub passes: Vec<(Uuid, String, String)>,
    /// `(lead, from its owner)`: passed on `max_reroutes` times, or nobody eligible is left.
    pub returns: Vec<(Uuid, String)>,
}

/// Passes the leads that may go on to the next eligible member by the pool's method, as a
/// distribution would (excluding everyone in each lead's chain); the rest return to the pool.
pub fn plan_reroutes(
    method: Method,
    state: &mut DistributionState,
    members: &mut [Recipient],
    pending: &[PendingLead],
    now: DateTime<Utc>,
) -> Reroutes {
    let (onward, exhausted): (Vec<&PendingLead>, Vec<&PendingLead>) =
        pending.iter().partition(|lead| lead.may_reroute());
    let candidates: Vec<Candidate> = onward.iter().map(|l| l.candidate.clone()).collect();
    let plan = distribution::plan(method, state, members, &candidates, now);
    let owner_of: HashMap<Uuid, &str> = pending
        .iter()
        .map(|l| (l.candidate.lead_id, l.owner_id.as_str()))
        .collect();
    let owner = |lead_id: &Uuid| owner_of[lead_id].to_owned();
    let passes = plan
        .assignments
        .into_iter()
        .map(|a| (a.lead_id, owner(&a.lead_id), a.user_id))
        .collect();
    let returns = exhausted
        .iter()
        .map(|l| l.candidate.lead_id)
        .chain(plan.undistributed.iter().map(|u| u.lead_id))
        .map(|lead_id| (lead_id, owner(&lead_id)))
        .collect();
    Reroutes { passes, returns }
}

/// Why `AcceptLead` changed nothing. `Ok`: the lead is the actor's and not waiting (claimed,
/// or accepted already): a lead they own is accepted, so the call answers with it.
pub fn explain_accept_refusal(lead: &Lead, actor: &str) -> Result<(), DomainError> {
    match lead.state {
        LeadState::Converted | LeadState::Discarded => Err(DomainError::LeadClosed(lead.id)),
        LeadState::InPool => Err(DomainError::LeadNotOwned(lead.id)),
        LeadState::Owned if lead.owner_id.as_deref() != Some(actor) => {
            Err(DomainError::OwnerOnly {
                lead_id: lead.id,
                act: OwnerAct::Accept,
            })
        }
        LeadState::Owned => Ok(()),
    }
}

/// Why a decline took nothing. A lead pushed to the actor that a manager locked stays with them
/// (a decline would reroute or recycle it, and locked leads are neither). Any other lead, in
/// whatever state, was not waiting for the actor: that is what they learn (a lead they hold is
/// released, not declined).
pub fn explain_decline_refusal(lead: &Lead, actor: &str) -> DomainError {
    let pushed_to_actor = lead.owner_id.as_deref() == Some(actor) && lead.accept_deadline.is_some();
    if pushed_to_actor && lead.locked {
        DomainError::LeadLocked(lead.id)
    } else {
        DomainError::NotPendingAcceptance(lead.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(chain: &[&str], max_reroutes: Option<i32>) -> PendingLead {
        PendingLead {
            candidate: Candidate {
                lead_id: Uuid::now_v7(),
                region: String::new(),
                industry: String::new(),
                grade: String::new(),
                previous_owner_id: None,
                cooldown_until: None,
                chain: chain.iter().map(|s| (*s).to_owned()).collect(),
            },
            owner_id: chain.last().map(|s| (*s).to_owned()).unwrap_or_default(),
            accept_deadline: DateTime::UNIX_EPOCH,
            max_reroutes,
        }
    }

    fn member(user_id: &str) -> Recipient {
        Recipient {
            user_id: user_id.to_owned(),
            joined_at: DateTime::UNIX_EPOCH,
            weight: 1,
            held: 0,
            cap: None,
            regions: Vec::new(),
            industries: Vec::new(),
            grades: Vec::new(),
        }
    }

    #[test]
    fn max_reroutes_counts_the_passes_made_in_the_chain() {
        // rep1 missed (1 pass), rep2 declined (2 passes): with max 2, rep3's miss ends the chain.
        assert!(pending(&["rep1"], Some(2)).may_reroute());
        assert!(pending(&["rep1", "rep2"], Some(2)).may_reroute());
        assert!(!pending(&["rep1", "rep2", "rep3"], Some(2)).may_reroute());
        assert!(!pending(&["rep1"], Some(0)).may_reroute());
        assert!(pending(&["rep1", "rep2", "rep3"], None).may_reroute());
    }

    #[test]
    fn a_reroute_skips_the_chain_and_returns_what_nobody_may_take() {
        let mut members: Vec<Recipient> = ["rep1", "rep2", "rep3"].map(member).into();
        let leads = [
            pending(&["rep1", "rep2"], None),
            pending(&["rep1", "rep2", "rep3"], None),
            pending(&["rep3"], Some(0)),
        ];
        let reroutes = plan_reroutes(
            Method::default(),
            &mut DistributionState::default(),
            &mut members,
            &leads,
            DateTime::UNIX_EPOCH,
        );
        let lead = |i: usize| leads[i].candidate.lead_id;
        assert_eq!(
            reroutes.passes,
            vec![(lead(0), "rep2".to_owned(), "rep3".to_owned())]
        );
        let mut returns = reroutes.returns;
        returns.sort();
        let mut expected = vec![(lead(1), "rep3".to_owned()), (lead(2), "rep3".to_owned())];
        expected.sort();
        assert_eq!(returns, expected);
    }
}
