//! Assign (分配), transfer (转移) and offboard (离职交接): who may move which lead to whom. The
//! store locks the leads and member rows these functions look at, so their answer holds until
//! the transaction applies it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainError;
use super::access::Actor;
use super::error::FieldViolation;
use super::event::EventKind;
use super::lead::{ClaimantStanding, LeadState};
use super::member::{MemberRole, Membership};

/// A lead as a move looks at it, locked, with the actor's standing in its pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLead {
    pub lead_id: Uuid,
    pub pool_id: Uuid,
    pub state: LeadState,
    pub owner_id: Option<String>,
    pub locked: bool,
    pub previous_owner_id: Option<String>,
    pub cooldown_until: Option<DateTime<Utc>>,
    pub pool_archived: bool,
    /// The actor is an active manager of the lead's pool, or a tenant admin.
    pub actor_manages: bool,
    /// The actor belongs to the lead's pool in any role.
    pub actor_is_member: bool,
    /// The lead's latest event: kind, actor and new owner.
    pub last_event: Option<(EventKind, String, Option<String>)>,
}

/// What to do with one lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Move,
    /// The lead is already where the call wants it (a retry): no move, no event.
    AlreadyDone,
}

/// Assigning a pool lead to `to`, in the order a manager would want to hear it: rights, the pool,
/// the lead's state and lock, then the previous owner's cooldown (unless overridden).
pub fn check_assign(
    lead: &HeldLead,
    to: &str,
    override_cooldown: bool,
    now: DateTime<Utc>,
) -> Result<Step, DomainError> {
    let lead_id = lead.lead_id;
    if !lead.actor_manages {
        return Err(if lead.actor_is_member {
            DomainError::ManagerRequired {
                pool_id: lead.pool_id,
            }
        } else {
            DomainError::NotPoolMember {
                pool_id: lead.pool_id,
            }
        });
    }
    if lead.owner_id.as_deref() == Some(to) {
        return Ok(Step::AlreadyDone);
    }
    if lead.pool_archived {
        return Err(DomainError::PoolArchived(lead.pool_id));
    }
    match lead.state {
        LeadState::Converted | LeadState::Discarded => {
            return Err(DomainError::LeadClosed(lead_id));
        }
        LeadState::Owned => return Err(DomainError::LeadNotInPool(lead_id)),
        LeadState::InPool => {}
    }
    if lead.locked {
        return Err(DomainError::LeadLocked(lead_id));
    }
    if let Some(until) = lead.cooldown_until.filter(|until| *until > now)
        && lead.previous_owner_id.as_deref() == Some(to)
        && !override_cooldown
    {
        return Err(DomainError::ReclaimCooldown { lead_id, until });
    }
    Ok(Step::Move)
}

/// Transferring an owned lead to `to`: by its owner or a manager of its pool, never to its owner
/// (unless this caller's own transfer already put it there: a retry). Its lock is checked after
/// the recipient ([`check_unlocked`]).
pub fn check_transfer(lead: &HeldLead, actor: &str, to: &str) -> Result<Step, DomainError> {
    let lead_id = lead.lead_id;
    if lead.state.is_closed() {
        return Err(DomainError::LeadClosed(lead_id));
    }
    if lead.owner_id.as_deref() == Some(to) {
        let retried = lead.last_event.as_ref().is_some_and(|(kind, by, owner)| {
            *kind == EventKind::Transferred && by == actor && owner.as_deref() == Some(to)
        });
        return if retried {
            Ok(Step::AlreadyDone)
        } else {
            Err(DomainError::ValidationFailed(vec![FieldViolation::new(
                "to_user_id",
                format!("{to} already owns lead {lead_id}; a transfer needs another member"),
            )]))
        };
    }
    if lead.state == LeadState::InPool {
        return Err(DomainError::LeadNotOwned(lead_id));
    }
    if lead.owner_id.as_deref() != Some(actor) && !lead.actor_manages {
        return Err(DomainError::NotLeadOwner { lead_id });
    }
    Ok(Step::Move)
}

/// A transfer's last check, after the recipient's (shared/domain.md: "b active member, b's cap,
/// not locked"): the first locked lead of those moving, in request order, stops it.
pub fn check_unlocked<'a>(
    moving: impl IntoIterator<Item = &'a HeldLead>,
) -> Result<(), DomainError> {
    match moving.into_iter().find(|lead| lead.locked) {
        Some(lead) => Err(DomainError::LeadLocked(lead.lead_id)),
        None => Ok(()),
    }
}

/// Whether a caller's `override_away` lets leads go to a member who is away: only a manager of
/// every pool the leads move in (or a tenant admin) may override, as shared/domain.md says; for
/// an owner passing on their own leads it is as if unset, so they hear `MEMBER_AWAY`.
pub fn away_overridden<'a>(
    override_away: bool,
    moving: impl IntoIterator<Item = &'a HeldLead>,
) -> bool {
    override_away && moving.into_iter().all(|lead| lead.actor_manages)
}

/// Whether `user_id` may receive `incoming` more leads of a pool: an active member with room
/// under their cap for all of them.
pub fn check_recipient(
    pool_id: Uuid,
    user_id: &str,
    standing: Option<ClaimantStanding>,
    incoming: i32,
) -> Result<(), DomainError> {
    let Some(standing) = standing else {
        return Err(DomainError::MemberNotFound {
            pool_id,
            user_id: user_id.to_owned(),
        });
    };
    if !standing.active {
        return Err(DomainError::MemberInactive {
            pool_id,
            user_id: user_id.to_owned(),
        });
    }
    match standing.cap {
        Some(limit) if standing.held_count + incoming > limit => {
            Err(DomainError::HeldLimitReached {
                user_id: user_id.to_owned(),
                limit,
                held: standing.held_count,
            })
        }
        _ => Ok(()),
    }
}

/// A lead as it was moved: the pool it was in, where it went, its new owner (`None`: the pool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    pub lead_id: Uuid,
    pub pool_id: Uuid,
    pub destination: Uuid,
    pub to_owner: Option<String>,
}

/// Where an offboarded user's leads go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum OffboardMode {
    ReturnToPool,
    TransferTo(String),
    Redistribute,
}

/// Offboarding needs a tenant admin, or a manager of every pool the user belongs to
/// (`memberships`: each of the user's pools with the actor's membership there).
pub fn check_offboarder(
    actor: &Actor,
    user_id: &str,
    memberships: &[(Uuid, Option<Membership>)],
) -> Result<(), DomainError> {
    if memberships.is_empty() {
        return Err(DomainError::UserNotMember {
            user_id: user_id.to_owned(),
        });
    }
    if actor.roles.admin {
        return Ok(());
    }
    let unmanaged = memberships
        .iter()
        .find(|(_, m)| !m.is_some_and(|m| m.active && m.role == MemberRole::Manager));
    match unmanaged {
        Some((pool_id, _)) => Err(DomainError::ManagerRequired { pool_id: *pool_id }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_442_000, 0).expect("valid")
    }

    fn owned_by(owner: &str) -> HeldLead {
        HeldLead {
            lead_id: Uuid::nil(),
            pool_id: Uuid::nil(),
            state: LeadState::Owned,
            owner_id: Some(owner.into()),
            locked: false,
            previous_owner_id: None,
            cooldown_until: None,
            pool_archived: false,
            actor_manages: false,
            actor_is_member: true,
            last_event: None,
        }
    }

    fn in_pool() -> HeldLead {
        HeldLead {
            state: LeadState::InPool,
            owner_id: None,
            actor_manages: true,
            ..owned_by("nobody")
        }
    }

    #[test]
    fn assign_refuses_the_cooling_previous_owner_unless_overridden() {
        let lead = HeldLead {
            previous_owner_id: Some("alice".into()),
            cooldown_until: Some(now() + chrono::Duration::hours(1)),
            ..in_pool()
        };
        assert!(matches!(
            check_assign(&lead, "alice", false, now()),
            Err(DomainError::ReclaimCooldown { .. })
        ));
        assert_eq!(
            check_assign(&lead, "alice", true, now()).ok(),
            Some(Step::Move)
        );
        assert_eq!(
            check_assign(&lead, "bob", false, now()).ok(),
            Some(Step::Move)
        );
    }

    #[test]
    fn assign_needs_a_manager_and_an_unlocked_pool_lead() {
        let plain = HeldLead {
            actor_manages: false,
            ..in_pool()
        };
        assert!(matches!(
            check_assign(&plain, "bob", false, now()),
            Err(DomainError::ManagerRequired { .. })
        ));
        let locked = HeldLead {
            locked: true,
            ..in_pool()
        };
        assert!(matches!(
            check_assign(&locked, "bob", false, now()),
            Err(DomainError::LeadLocked(_))
        ));
        let owned = HeldLead {
            actor_manages: true,
            ..owned_by("alice")
        };
        assert!(matches!(
            check_assign(&owned, "bob", false, now()),
            Err(DomainError::LeadNotInPool(_))
        ));
        assert_eq!(
            check_assign(&owned, "alice", false, now()).ok(),
            Some(Step::AlreadyDone)
        );
    }

    #[test]
    fn transfer_to_the_owner_is_refused_unless_it_is_the_callers_own_retry() {
        let lead = owned_by("bob");
        let err = check_transfer(&lead, "alice", "bob").expect_err("to self");
        assert_eq!(err.field_violations()[0].field, "to_user_id");
        let retried = HeldLead {
            last_event: Some((EventKind::Transferred, "alice".into(), Some("bob".into()))),
            ..lead
        };
        assert_eq!(
            check_transfer(&retried, "alice", "bob").ok(),
            Some(Step::AlreadyDone)
        );
    }

    #[test]
    fn transfer_needs_the_owner_or_a_manager_and_an_owned_lead() {
        assert!(matches!(
            check_transfer(&owned_by("carl"), "alice", "bob"),
            Err(DomainError::NotLeadOwner { .. })
        ));
        assert_eq!(
            check_transfer(&owned_by("alice"), "alice", "bob").ok(),
            Some(Step::Move)
        );
        assert!(matches!(
            check_transfer(&in_pool(), "mia", "bob"),
            Err(DomainError::LeadNotOwned(_))
        ));
    }

    #[test]
    fn transfer_checks_the_lock_of_every_moving_lead_last() {
        let locked = HeldLead {
            locked: true,
            ..owned_by("alice")
        };
        // The lock does not stop the checks before the recipient's.
        assert_eq!(
            check_transfer(&locked, "alice", "bob").ok(),
            Some(Step::Move)
        );
        let free = owned_by("alice");
        assert!(check_unlocked([&free]).is_ok());
        assert!(matches!(
            check_unlocked([&free, &locked]),
            Err(DomainError::LeadLocked(_))
        ));
    }

    #[test]
    fn only_a_manager_of_every_moving_lead_overrides_an_absence() {
        let own = owned_by("alice");
        let managed = HeldLead {
            actor_manages: true,
            ..owned_by("carl")
        };
        assert!(!away_overridden(true, [&own]), "an owner may not override");
        assert!(away_overridden(true, [&managed]));
        assert!(!away_overridden(true, [&managed, &own]));
        assert!(!away_overridden(false, [&managed]));
    }

    #[test]
    fn recipient_needs_room_for_every_incoming_lead() {
        let standing = ClaimantStanding {
            active: true,
            held_count: 3,
            cap: Some(5),
            claims_today: 0,
        };
        assert!(check_recipient(Uuid::nil(), "bob", Some(standing), 2).is_ok());
        assert!(matches!(
            check_recipient(Uuid::nil(), "bob", Some(standing), 3),
            Err(DomainError::HeldLimitReached {
                limit: 5,
                held: 3,
                ..
            })
        ));
        assert!(matches!(
            check_recipient(Uuid::nil(), "bob", None, 1),
            Err(DomainError::MemberNotFound { .. })
        ));
    }
}
