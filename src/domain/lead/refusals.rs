//! Why a change of a lead changed nothing: the store's statements enforce the rules, these
//! explain the refusal (or find the wanted state already there, a retry).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::quota;

use super::{Lead, LeadState};

/// Explains why an update changed nothing: the caller's version is stale.
pub fn explain_update_refusal(lead: &Lead, expected_version: i64) -> DomainError {
    if lead.version == expected_version {
        DomainError::ConcurrentModification
    } else {
        DomainError::VersionConflict {
            lead_id: lead.id,
            current_version: lead.version,
        }
    }
}

/// What the store saw of a lead, and of the actor's standing in its pool, after a claim
/// statement changed nothing. The statement enforces the rules; this explains the refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimSnapshot {
    pub lead_id: Uuid,
    pub state: LeadState,
    pub owner_id: Option<String>,
    pub locked: bool,
    pub previous_owner_id: Option<String>,
    pub cooldown_until: Option<DateTime<Utc>>,
    /// When the pool's embargo on a lead that just entered it ends; `None` without one.
    pub claimable_at: Option<DateTime<Utc>>,
    pub claimant: Claimant,
}

/// The actor's standing in a pool, as far as claiming any lead of it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimant {
    pub pool_id: Uuid,
    pub pool_archived: bool,
    pub daily_claim_limit: Option<i32>,
    pub timezone: String,
    /// The actor's membership: `None` when not a member.
    pub member: Option<ClaimantStanding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimantStanding {
    pub active: bool,
    pub held_count: i32,
    pub cap: Option<i32>,
    /// Claims already made today, in the pool's time zone.
    pub claims_today: i32,
}

impl Claimant {
    /// Why the actor may claim no lead of the pool, whichever: membership, archive, daily quota,
    /// cap. `ClaimNext` asks before it picks a lead, so a caller who could not take one never
    /// holds one another caller could.
    pub fn explain_refusal(&self, actor: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        let member = self.admitted(actor)?;
        self.require_room(member, actor, now)
    }

    /// The actor's standing, if they are an active member of the pool and it is open.
    fn admitted(&self, actor: &str) -> Result<ClaimantStanding, DomainError> {
        let Some(member) = self.member else {
            return Err(DomainError::NotPoolMember {
                pool_id: self.pool_id,
            });
        };
        if !member.active {
            return Err(DomainError::MemberInactive {
                pool_id: self.pool_id,
                user_id: actor.to_owned(),
            });
        }
        if self.pool_archived {
            return Err(DomainError::PoolArchived(self.pool_id));
        }
        Ok(member)
    }

    /// Room for one more claim today and under the cap.
    fn require_room(
        &self,
        member: ClaimantStanding,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if let Some(limit) = self.daily_claim_limit
            && member.claims_today >= limit
        {
            return Err(DomainError::DailyClaimLimitReached {
                limit,
                resets_at: quota::resets_at(now, &self.timezone),
            });
        }
        match member.cap {
            Some(limit) if member.held_count >= limit => Err(DomainError::HeldLimitReached {
                user_id: actor.to_owned(),
                limit,
                held: member.held_count,
            }),
            _ => Ok(()),
        }
    }
}

/// An all-or-nothing batch's refusal as the caller will find things: the batch's claims are
/// undone, so the cap's `held` is what the member held before the call, not with the `taken`
/// leads the batch had claimed in that pool when it was refused.
pub fn refusal_after_undoing(mut refusal: DomainError, taken: i32) -> DomainError {
    if let DomainError::HeldLimitReached { held, .. } = &mut refusal {
        *held -= taken;
    }
    refusal
}

/// Explains why a claim changed nothing, in the order of `domain.md`: membership, state,
/// lock, cooldown, embargo, daily quota, cap. `Ok` means the actor already owns the lead: a
/// retried claim succeeds again.
pub fn explain_claim_refusal(
    snapshot: &ClaimSnapshot,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let lead_id = snapshot.lead_id;
    if snapshot.owner_id.as_deref() == Some(actor) {
        return Ok(());
    }
    let claimant = &snapshot.claimant;
    let member = claimant.admitted(actor)?;
    if snapshot.state.is_closed() {
        return Err(DomainError::LeadClosed(lead_id));
    }
    if snapshot.state != LeadState::InPool {
        return Err(DomainError::LeadNotInPool(lead_id));
    }
    if snapshot.locked {
        return Err(DomainError::LeadLocked(lead_id));
    }
    if let Some(until) = snapshot.cooldown_until.filter(|until| *until > now)
        && snapshot.previous_owner_id.as_deref() == Some(actor)
    {
        return Err(DomainError::ReclaimCooldown { lead_id, until });
    }
    if let Some(claimable_at) = snapshot.claimable_at.filter(|at| *at > now) {
        return Err(DomainError::LeadEmbargoed {
            lead_id,
            claimable_at,
        });
    }
    claimant.require_room(member, actor, now)?;
    // Claimable now: it changed between the claim and this read; the caller may retry.
    Err(DomainError::ConcurrentModification)
}

/// Explains why a lead could not be created with `user_id` as its owner.
pub fn explain_owner_refusal(
    pool_id: Uuid,
    user_id: &str,
    standing: Option<ClaimantStanding>,
) -> DomainError {
    match standing {
        None => DomainError::MemberNotFound {
            pool_id,
            user_id: user_id.to_owned(),
        },
        Some(s) if !s.active => DomainError::MemberInactive {
            pool_id,
            user_id: user_id.to_owned(),
        },
        Some(ClaimantStanding {
            held_count,
            cap: Some(limit),
            ..
        }) if held_count >= limit => DomainError::HeldLimitReached {
            user_id: user_id.to_owned(),
            limit,
            held: held_count,
        },
        Some(_) => DomainError::ConcurrentModification,
    }
}

/// What the store saw of a lead after a release statement changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSnapshot {
    pub lead_id: Uuid,
    /// The pool the release named, if any.
    pub to_pool_id: Option<Uuid>,
    /// Whether the owner may use that pool: an active member of it (or none was named).
    pub owner_may_use: bool,
    pub state: LeadState,
    pub owner_id: Option<String>,
    pub locked: bool,
    pub actor_manages_pool: bool,
    /// Who released the lead last, if its latest event is a release.
    pub last_released_by: Option<String>,
    /// The pool's allowed reason codes; empty means free text.
    pub release_reasons: Vec<String>,
}

/// Explains why a release changed nothing. `Ok` means the actor's own earlier release
/// already put the lead back: a repeated release succeeds again.
pub fn explain_release_refusal(
    snapshot: &ReleaseSnapshot,
    actor: &str,
    reason: &str,
) -> Result<(), DomainError> {
    let lead_id = snapshot.lead_id;
    match snapshot.state {
        LeadState::Converted | LeadState::Discarded => Err(DomainError::LeadClosed(lead_id)),
        LeadState::InPool if snapshot.last_released_by.as_deref() == Some(actor) => Ok(()),
        LeadState::InPool => Err(DomainError::LeadNotOwned(lead_id)),
        LeadState::Owned
            if snapshot.owner_id.as_deref() != Some(actor) && !snapshot.actor_manages_pool =>
        {
            Err(DomainError::NotLeadOwner { lead_id })
        }
        LeadState::Owned
            if !snapshot.release_reasons.is_empty()
                && !snapshot.release_reasons.iter().any(|r| r == reason) =>
        {
            Err(DomainError::UnknownReleaseReason {
                reason: reason.to_owned(),
                allowed: snapshot.release_reasons.join(", "),
            })
        }
        LeadState::Owned if snapshot.locked => Err(DomainError::LeadLocked(lead_id)),
        LeadState::Owned => match snapshot.to_pool_id {
            Some(pool_id) if !snapshot.owner_may_use => Err(DomainError::NotPoolMember { pool_id }),
            _ => Err(DomainError::ConcurrentModification),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lead::{normalize_email, normalize_phone};

    /// An active member with room for two, in an open pool without a quota.
    fn claimant() -> Claimant {
        Claimant {
            pool_id: Uuid::nil(),
            pool_archived: false,
            daily_claim_limit: None,
            timezone: "UTC".into(),
            member: Some(ClaimantStanding {
                active: true,
                held_count: 0,
                cap: Some(2),
                claims_today: 0,
            }),
        }
    }

    fn pool_lead() -> ClaimSnapshot {
        ClaimSnapshot {
            lead_id: Uuid::nil(),
            state: LeadState::InPool,
            owner_id: None,
            locked: false,
            previous_owner_id: None,
            cooldown_until: None,
            claimable_at: None,
            claimant: claimant(),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_442_000, 0).expect("valid")
    }

    #[test]
    fn phones_written_differently_normalise_alike() {
        for phone in [
            "+86 138-0000-1234",
            "13800001234",
            "0086 138 0000 1234",
            "8613800001234",
            "１３８００００１２３４",
            "＋８６ 138 ００００ 1234",
        ] {
            assert_eq!(normalize_phone(phone), "13800001234", "{phone}");
        }
        assert_eq!(normalize_phone("+86 21 1234 5678"), "2112345678");
        assert_eq!(normalize_phone("021-1234-5678"), "02112345678");
        assert_eq!(normalize_phone(""), "");
        assert_eq!(
            normalize_email("  Jane.Doe@Example.COM "),
            "jane.doe@example.com"
        );
    }

    #[test]
    fn retried_claim_of_own_lead_succeeds() {
        let snapshot = ClaimSnapshot {
            state: LeadState::Owned,
            owner_id: Some("alice".into()),
            ..pool_lead()
        };
        assert!(explain_claim_refusal(&snapshot, "alice", now()).is_ok());
        assert!(matches!(
            explain_claim_refusal(&snapshot, "bob", now()),
            Err(DomainError::LeadNotInPool(_))
        ));
    }

    #[test]
    fn membership_is_checked_before_state() {
        let snapshot = ClaimSnapshot {
            state: LeadState::Owned,
            owner_id: Some("bob".into()),
            claimant: Claimant {
                member: None,
                ..claimant()
            },
            ..pool_lead()
        };
        assert!(matches!(
            explain_claim_refusal(&snapshot, "alice", now()),
            Err(DomainError::NotPoolMember { .. })
        ));
    }

    #[test]
    fn cap_reports_limit_and_held_for_a_lead_and_for_the_pool() {
        let at_cap = Claimant {
            member: Some(ClaimantStanding {
                active: true,
                held_count: 2,
                cap: Some(2),
                claims_today: 0,
            }),
            ..claimant()
        };
        let snapshot = ClaimSnapshot {
            claimant: at_cap.clone(),
            ..pool_lead()
        };
        assert!(matches!(
            explain_claim_refusal(&snapshot, "alice", now()),
            Err(DomainError::HeldLimitReached {
                limit: 2,
                held: 2,
                ..
            })
        ));
        assert!(matches!(
            at_cap.explain_refusal("alice", now()),
            Err(DomainError::HeldLimitReached { .. })
        ));
        assert!(claimant().explain_refusal("alice", now()).is_ok());
    }

    #[test]
    fn cooldown_binds_only_the_previous_owner_until_it_ends() {
        let snapshot = ClaimSnapshot {
            previous_owner_id: Some("alice".into()),
            cooldown_until: Some(now() + chrono::Duration::hours(1)),
            ..pool_lead()
        };
        assert!(matches!(
            explain_claim_refusal(&snapshot, "alice", now()),
            Err(DomainError::ReclaimCooldown { .. })
        ));
        let later = now() + chrono::Duration::hours(2);
        assert!(matches!(
            explain_claim_refusal(&snapshot, "alice", later),
            Err(DomainError::ConcurrentModification)
        ));
    }

    #[test]
    fn an_embargo_binds_everyone_until_it_ends() {
        let claimable_at = now() + chrono::Duration::minutes(30);
        let snapshot = ClaimSnapshot {
            claimable_at: Some(claimable_at),
            ..pool_lead()
        };
        assert!(matches!(
            explain_claim_refusal(&snapshot, "bob", now()),
            Err(DomainError::LeadEmbargoed { claimable_at: at, .. }) if at == claimable_at
        ));
        assert!(matches!(
            explain_claim_refusal(&snapshot, "bob", claimable_at),
            Err(DomainError::ConcurrentModification)
        ));
    }

    #[test]
    fn quota_reports_limit_and_local_midnight() {
        let snapshot = ClaimSnapshot {
            claimant: Claimant {
                daily_claim_limit: Some(3),
                timezone: "Asia/Shanghai".into(),
                member: Some(ClaimantStanding {
                    active: true,
                    held_count: 0,
                    cap: None,
                    claims_today: 3,
                }),
                ..claimant()
            },
            ..pool_lead()
        };
        let Err(DomainError::DailyClaimLimitReached { limit, resets_at }) =
            explain_claim_refusal(&snapshot, "alice", now())
        else {
            panic!("expected the quota");
        };
        assert_eq!(limit, 3);
        assert_eq!(resets_at, quota::resets_at(now(), "Asia/Shanghai"));
    }

    /// A lead `owner` holds in a pool whose only release reason is `NO_BUDGET`.
    fn owned_by(owner: &str) -> ReleaseSnapshot {
        ReleaseSnapshot {
            lead_id: Uuid::nil(),
            to_pool_id: None,
            owner_may_use: true,
            state: LeadState::Owned,
            owner_id: Some(owner.into()),
            locked: false,
            actor_manages_pool: false,
            last_released_by: None,
            release_reasons: vec!["NO_BUDGET".into()],
        }
    }

    #[test]
    fn unknown_release_reason_is_refused_for_the_owner() {
        let snapshot = owned_by("alice");
        assert!(matches!(
            explain_release_refusal(&snapshot, "alice", "BORED"),
            Err(DomainError::UnknownReleaseReason { .. })
        ));
    }

    #[test]
    fn locked_lead_is_refused() {
        let snapshot = ClaimSnapshot {
            locked: true,
            ..pool_lead()
        };
        assert!(matches!(
            explain_claim_refusal(&snapshot, "alice", now()),
            Err(DomainError::LeadLocked(_))
        ));
    }

    #[test]
    fn repeated_release_by_same_actor_succeeds_others_get_not_owned() {
        let snapshot = ReleaseSnapshot {
            state: LeadState::InPool,
            owner_id: None,
            last_released_by: Some("alice".into()),
            ..owned_by("alice")
        };
        assert!(explain_release_refusal(&snapshot, "alice", "NO_BUDGET").is_ok());
        assert!(matches!(
            explain_release_refusal(&snapshot, "bob", "NO_BUDGET"),
            Err(DomainError::LeadNotOwned(_))
        ));
    }

    #[test]
    fn release_of_someone_elses_lead_needs_a_manager() {
        let snapshot = owned_by("bob");
        assert!(matches!(
            explain_release_refusal(&snapshot, "alice", "NO_BUDGET"),
            Err(DomainError::NotLeadOwner { .. })
        ));
    }

    #[test]
    fn a_named_pool_the_owner_may_not_use_is_not_pool_member() {
        let north = Uuid::now_v7();
        let snapshot = ReleaseSnapshot {
            to_pool_id: Some(north),
            owner_may_use: false,
            ..owned_by("alice")
        };
        assert!(matches!(
            explain_release_refusal(&snapshot, "alice", "NO_BUDGET"),
            Err(DomainError::NotPoolMember { pool_id }) if pool_id == north
        ));
    }
}
