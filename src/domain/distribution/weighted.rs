//! `WEIGHTED`: smooth weighted round-robin, nginx's algorithm, with persisted current weights.
//! For each lead, every eligible member's current weight grows by its weight; the eligible member
//! with the largest current weight gets the lead and its current weight drops by the eligible
//! members' total. The current weights so record how far each member is ahead of (negative) or
//! behind (positive) its share, and with a fixed set of eligible members they return to zero
//! after every W leads (W the total weight), each member having had exactly its weight's worth,
//! evenly interleaved. Within a cycle a member is usually within one lead of its share `N·wᵢ/W`,
//! but many light members with a few heavy ones drift further: eight weights of 1 then four of 10
//! leave the last heavy member 31/24 of a lead short after 35 leads (the property tests bound it).
//!
//! Ties go to the earliest member in the recipients' order (the lowest index), as in nginx, whose
//! loop over its peers keeps the first largest one it meets: that makes the sequence the one
//! nginx produces for the same weights in the same order (5, 1, 1 gives a, a, b, a, c, a, a) and
//! keeps it deterministic, so a preview and the distribution it previews agree.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use super::{Recipient, turns};

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

    /// Chooses among the non-empty `eligible` and charges the choice; members who are not
    /// eligible neither gain nor lose weight.
    pub fn pick(&mut self, recipients: &[Recipient], eligible: &[usize]) -> usize {
        let weight = |i: usize| i64::from(recipients[i].weight.max(1));
        let total: i64 = eligible.iter().map(|&i| weight(i)).sum();
        let current = &mut self.0;
        for &i in eligible {
            current[i] += weight(i);
        }
        // The largest current weight; among equals the lowest index (`Reverse` makes it the max).
        let chosen = eligible
            .iter()
            .copied()
            .max_by_key(|&i| (current[i], Reverse(i)))
            .unwrap_or(eligible[0]);
        current[chosen] -= total;
        chosen
    }
}

/// Under `RULE_MATCH`, the current weights of each set of matching members, kept apart as each
/// set's round-robin place is ([`turns`]): one set of weights for the pool let a member in two
/// sets gain and lose weight in both, and a set's light members took its heavy ones' turns.
/// Loaded as a plan first meets a set, saved when the plan ends.
#[derive(Debug, Default)]
pub struct SetWeights(BTreeMap<String, Weights>);

impl SetWeights {
    /// The current weights of the set `key`, from `saved` the first time.
    pub fn of(
        &mut self,
        key: &str,
        saved: &BTreeMap<String, BTreeMap<String, i64>>,
        recipients: &[Recipient],
    ) -> &mut Weights {
        static NONE: BTreeMap<String, i64> = BTreeMap::new();
        self.0
            .entry(key.to_owned())
            .or_insert_with(|| Weights::load(saved.get(key).unwrap_or(&NONE), recipients))
    }

    /// Writes the sets' weights back into `saved`; a set back at all zeros is forgotten.
    pub fn save(
        self,
        saved: &mut BTreeMap<String, BTreeMap<String, i64>>,
        recipients: &[Recipient],
    ) {
        for (key, weights) in self.0 {
            let weights = weights.save(recipients);
            if weights.is_empty() {
                saved.remove(&key);
            } else {
                turns::remember(saved, key, weights);
            }
        }
    }
}
