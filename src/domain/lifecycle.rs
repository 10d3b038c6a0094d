//! Lock, convert, discard, reopen and move: the transitions that are not about claiming.
//! Each store statement checks its own precondition; when it changes nothing, these functions
//! read the lead as it now is and say why, or that the wanted state is already there (a retry).

use uuid::Uuid;

use super::DomainError;
use super::lead::{Lead, LeadState};
use super::pool::PoolRules;

/// Lock or unlock: `Ok` when the lead already has the wanted flag.
pub fn explain_lock_refusal(lead: &Lead, locked: bool) -> Result<(), DomainError> {
    if lead.state.is_closed() {
        Err(DomainError::LeadClosed(lead.id))
    } else if lead.locked == locked {
        Ok(())
    } else {
        Err(DomainError::ConcurrentModification)
    }
}

/// Whether a call that finds the lead already closed is a retry of the actor's own close: only
/// someone who could have closed it (a manager, or the rep who held it last) hears `Ok`; anyone
/// else is told the lead is closed (domain.md: "already in the wanted state by the same actor").
fn closed_by_them(lead: &Lead, actor: &str, manages: bool) -> bool {
    manages || lead.previous_owner_id.as_deref() == Some(actor)
}

/// Convert: `Ok` when it is already converted, to someone who could have converted it.
pub fn explain_convert_refusal(lead: &Lead, actor: &str, manages: bool) -> Result<(), DomainError> {
    match lead.state {
        LeadState::Converted if closed_by_them(lead, actor, manages) => Ok(()),
        LeadState::Converted | LeadState::Discarded => Err(DomainError::LeadClosed(lead.id)),
        LeadState::InPool => Err(DomainError::LeadNotOwned(lead.id)),
        LeadState::Owned if !manages && lead.owner_id.as_deref() != Some(actor) => {
            Err(DomainError::NotLeadOwner { lead_id: lead.id })
        }
        LeadState::Owned => Err(DomainError::ConcurrentModification),
    }
}

/// Discard: `Ok` when it is already discarded, to someone who could have discarded it. Managers
/// discard any live lead; an owner only their own unlocked one; the reason must be one of the
/// pool's codes when it has any.
pub fn explain_discard_refusal(
    lead: &Lead,
    rules: &PoolRules,
    actor: &str,
    manages: bool,
    reason: &str,
) -> Result<(), DomainError> {
    let owns = lead.owner_id.as_deref() == Some(actor);
    match lead.state {
        LeadState::Discarded if closed_by_them(lead, actor, manages) => Ok(()),
        LeadState::Discarded | LeadState::Converted => Err(DomainError::LeadClosed(lead.id)),
        _ if !manages && !owns && lead.state == LeadState::Owned => {
            Err(DomainError::NotLeadOwner { lead_id: lead.id })
        }
        _ if !manages && !owns => Err(DomainError::ManagerRequired {
            pool_id: lead.pool_id,
        }),
        _ if !rules.allows_reason(reason) => Err(DomainError::UnknownReleaseReason {
            reason: reason.to_owned(),
            allowed: rules.release_reasons.join(", "),
        }),
        _ if !manages && lead.locked => Err(DomainError::LeadLocked(lead.id)),
        _ => Err(DomainError::ConcurrentModification),
    }
}

/// Reopen: `Ok` when it is already back in the pool.
pub fn explain_reopen_refusal(lead: &Lead) -> Result<(), DomainError> {
    match lead.state {
        LeadState::InPool => Ok(()),
        LeadState::Owned => Err(DomainError::LeadNotInPool(lead.id)),
        LeadState::Converted => Err(DomainError::LeadClosed(lead.id)),
        LeadState::Discarded => Err(DomainError::ConcurrentModification),
    }
}

/// Move: `Ok` when it is already in the target pool.
pub fn explain_move_refusal(lead: &Lead, target_pool: Uuid) -> Result<(), DomainError> {
    match lead.state {
        LeadState::InPool if lead.pool_id == target_pool => Ok(()),
        LeadState::Owned => Err(DomainError::LeadNotInPool(lead.id)),
        LeadState::Converted | LeadState::Discarded => Err(DomainError::LeadClosed(lead.id)),
        LeadState::InPool => Err(DomainError::ConcurrentModification),
    }
}
