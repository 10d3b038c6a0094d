//! Who could receive a distributed lead at the moment it was handed out, and the share each
//! one's weight entitled them to: the fairness ledger's "entitled".

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A member of a pool as the aggregator finds them (weights are today's: the aggregator runs
/// seconds behind the events, so they are the weights of the distribution it counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EligibleMember {
    pub user_id: String,
    pub weight: i32,
    pub active: bool,
    pub joined_at: DateTime<Utc>,
}

/// A user's time away (not cancelled): from `from` until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Absence {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The pools' members and the users' absences a batch of events needs.
#[derive(Debug, Clone, Default)]
pub struct Eligibility {
    pub members: HashMap<Uuid, Vec<EligibleMember>>,
    pub absences: HashMap<String, Vec<Absence>>,
}

impl Eligibility {
    fn away(&self, user_id: &str, at: DateTime<Utc>) -> bool {
        self.absences
            .get(user_id)
            .is_some_and(|spans| spans.iter().any(|a| a.from <= at && at < a.until))
    }

    /// Each member able to receive a lead of `pool_id` at `at` (active, joined, not away), as
    /// an index into [`Self::members`]`[pool_id]` with their weight, and the total of their
    /// weights: a member's share of the lead is weight ÷ total, kept as that fraction so shares
    /// add up exactly.
    pub fn shares(&self, pool_id: Uuid, at: DateTime<Utc>) -> (i64, Vec<(usize, i64)>) {
        let eligible: Vec<(usize, i64)> = self
            .members
            .get(&pool_id)
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, m)| m.active && m.joined_at <= at && !self.away(&m.user_id, at))
            .map(|(i, m)| (i, i64::from(m.weight)))
            .collect();
        let total = eligible.iter().map(|(_, weight)| weight).sum();
        (total, eligible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        format!("2026-03-02T{hour:02}:00:00Z").parse().unwrap()
    }

    fn member(user_id: &str, weight: i32, active: bool) -> EligibleMember {
        EligibleMember {
            user_id: user_id.into(),
            weight,
            active,
            joined_at: at(0),
        }
    }

    #[test]
    fn shares_follow_weights_among_active_members_not_away() {
        let pool = Uuid::nil();
        let mut who = Eligibility::default();
        who.members.insert(
            pool,
            vec![
                member("alice", 3, true),
                member("bob", 1, true),
                member("carol", 5, false),
            ],
        );
        assert_eq!(who.shares(pool, at(9)), (4, vec![(0, 3), (1, 1)]));
        who.absences.insert(
            "alice".into(),
            vec![Absence {
                from: at(8),
                until: at(10),
            }],
        );
        assert_eq!(who.shares(pool, at(9)), (1, vec![(1, 1)]));
        assert_eq!(who.shares(pool, at(10)).1.len(), 2);
        assert_eq!(who.shares(Uuid::max(), at(9)), (0, vec![]));
    }
}
