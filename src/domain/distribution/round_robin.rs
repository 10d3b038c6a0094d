//! `ROUND_ROBIN`: members in the stable order `(joined_at, user_id)`; the next eligible member
//! after the persisted cursor (the last recipient), wrapping around.

use super::{Cursor, Recipient};

/// The first of `eligible` (ascending indices into `recipients`, which are in join order)
/// after `cursor`, else the first of them.
pub fn pick(cursor: Option<&Cursor>, recipients: &[Recipient], eligible: &[usize]) -> usize {
    first_after(cursor, recipients, eligible.iter().copied()).unwrap_or(eligible[0])
}

/// The first of `candidates` (ascending) whose place is after `cursor`.
pub fn first_after(
    cursor: Option<&Cursor>,
    recipients: &[Recipient],
    mut candidates: impl Iterator<Item = usize>,
) -> Option<usize> {
    let cursor = cursor?;
    candidates.find(|&i| {
        let r = &recipients[i];
        (r.joined_at, r.user_id.as_str()) > (cursor.joined_at, cursor.user_id.as_str())
    })
}
