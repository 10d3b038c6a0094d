//! Under `RULE_MATCH`, each set of members that a lead matches takes turns on its own. One pool
//! cursor moved by every group would starve members: with seniors 1 and 2 matching grade A and a
//! junior matching B, A and B leads arriving alternately would put the cursor on the junior before
//! every A lead, and every A lead would go to senior 1. So the round-robin place is remembered per
//! matching set (keyed by a hash of its members), and each set stays within one lead of even.
//! The `WEIGHTED` fallback keeps its current weights per set the same way
//! ([`super::weighted::SetWeights`]).

use std::collections::BTreeMap;

use super::Recipient;

/// How many matching sets a pool remembers; past it the oldest key is forgotten (that set then
/// continues from the pool's cursor, or from zero weights), so the state stays small whatever
/// the rule mix.
const MAX_GROUPS: usize = 512;

/// The key of the set of `eligible` members: an FNV-1a hash of their ids, stable across runs.
pub fn group_key(recipients: &[Recipient], eligible: &[usize]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &i in eligible {
        for byte in recipients[i].user_id.bytes().chain([b'\n']) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Remembers what the set `key` needs next time: its last recipient, or its current weights.
pub fn remember<T>(groups: &mut BTreeMap<String, T>, key: String, value: T) {
    if groups.len() >= MAX_GROUPS && !groups.contains_key(&key) {
        groups.pop_first();
    }
    groups.insert(key, value);
}
