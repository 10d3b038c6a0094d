//! `WEIGHTED`: smooth weighted round-robin (nginx's algorithm) with persisted current weights.
//! For each lead, every eligible member's current weight grows by its weight and the chosen
//! member's drops by the eligible members' total, so the current weights record how far each
//! member is ahead of (negative) or behind (positive) its share.
//!
//! nginx chooses the largest current weight; over some weight mixes that lets a member drift up
//! to 1.4 leads from its share. We choose by earliest deadline instead: among the members not
//! ahead of their share, the one whose next lead is due soonest, `(total − current) / weight`.
//! With a fixed set of eligible members that keeps every member within one lead of `N·wᵢ/W` after
//! any N leads (the property tests check it), still evenly interleaved.

use std::collections::BTreeMap;

use super::Recipient;

/// The current weights, one per recipient, in the recipients' order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weights(Vec<i64>);

impl Weights {
    pub fn load(saved: &BTreeMap<String, i64>, recipients: &[Recipient]) -> Self {
        Self(
            recipients
                .iter()
                .map(|r| saved.get(&r.user_id).copied().unwrap_or(0))
                .collect(),
        )
    }

    /// The weights to persist: the recipients' non-zero ones (members who left are forgotten).
    pub fn save(&self, recipients: &[Recipient]) -> BTreeMap<String, i64> {
        recipients
            .iter()
            .zip(&self.0)
            .filter(|(_, w)| **w != 0)
            .map(|(r, w)| (r.user_id.clone(), *w))
            .collect()
    }

    /// Chooses among the non-empty `eligible` and charges the choice.
    pub fn pick(&mut self, recipients: &[Recipient], eligible: &[usize]) -> usize {
        let weight = |i: usize| i64::from(recipients[i].weight.max(1));
        let total: i64 = eligible.iter().map(|&i| weight(i)).sum();
        let current = &mut self.0;
        // How many leads until `i`'s next one is due, as the fraction (total − current) / weight.
        let due = |i: usize| (i128::from(total - current[i]), i128::from(weight(i)));
        let sooner = |a: usize, b: usize| {
            let ((da, wa), (db, wb)) = (due(a), due(b));
            (da * wb).cmp(&(db * wa)).then(a.cmp(&b))
        };
        let not_ahead: Vec<usize> = eligible
            .iter()
            .copied()
            .filter(|&i| current[i] >= 0)
            .collect();
        let pool = if not_ahead.is_empty() {
            eligible
        } else {
            &not_ahead
        };
        let chosen = pool
            .iter()
            .copied()
            .min_by(|&a, &b| sooner(a, b))
            .unwrap_or(eligible[0]);
        for &i in eligible {
            current[i] += weight(i);
        }
        current[chosen] -= total;
        chosen
    }
}
