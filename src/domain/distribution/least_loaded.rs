//! `LEAST_LOADED`: the lowest held/cap ratio, ties broken by the round-robin cursor. A member
//! without a cap counts as having the largest cap among the eligible; when none of them has a
//! cap, the lowest held count wins.

use std::cmp::Ordering;

use super::{Cursor, Recipient, round_robin};

pub fn pick(cursor: Option<&Cursor>, recipients: &[Recipient], eligible: &[usize]) -> usize {
    let widest = eligible.iter().filter_map(|&i| recipients[i].cap).max();
    let load = |i: usize| {
        let r = &recipients[i];
        // held / cap as a fraction; without any cap every member's denominator is 1.
        (
            i64::from(r.held),
            i64::from(r.cap.or(widest).unwrap_or(1).max(1)),
        )
    };
    let lighter = |a: (i64, i64), b: (i64, i64)| (a.0 * b.1).cmp(&(b.0 * a.1));
    let lightest = eligible
        .iter()
        .map(|&i| load(i))
        .min_by(|&a, &b| lighter(a, b))
        .unwrap_or((0, 1));
    let tied = || {
        eligible
            .iter()
            .copied()
            .filter(move |&i| lighter(load(i), lightest) == Ordering::Equal)
    };
    round_robin::first_after(cursor, recipients, tied())
        .or_else(|| tied().next())
        .unwrap_or(eligible[0])
}
