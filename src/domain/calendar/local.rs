//! Local wall-clock times as instants, through daylight-saving changes. A local time can be
//! missing (spring forward: 02:30 on 2027-03-14 in New York never shows) or shown twice (fall
//! back: 01:30 on 2027-11-07). A missing time maps to the first instant after it, the moment
//! the clocks jump; a repeated one to its first showing for an opening and its last for a
//! close, so a change never shortens a window that only touches the repeated hour.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Further than any UTC offset the tz database has ever had (Manila's LMT was −15:56), so a
/// local time's instant always lies within this many seconds of the same digits read as UTC.
const MAX_OFFSET_SECONDS: i64 = 16 * 3_600;

/// When a window that starts at `local` opens: its first showing, or the end of the gap.
pub(super) fn opening(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.to_utc()),
        LocalResult::Ambiguous(first, second) => Some(first.min(second).to_utc()),
        LocalResult::None => gap_end(tz, local),
    }
}

/// When a window that ends at `local` closes: its last showing, or the end of the gap.
pub(super) fn closing(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.to_utc()),
        LocalResult::Ambiguous(first, second) => Some(first.max(second).to_utc()),
        LocalResult::None => gap_end(tz, local),
    }
}

/// The wall-clock reading of `at` in `tz`.
pub(super) fn wall_clock(tz: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}

/// The first instant whose wall clock reads `local` or later, for a `local` the clocks skip:
/// the instant of the jump. Found by bisecting whole seconds (transitions fall on whole
/// seconds) between two instants whose readings lie on either side of `local`; within that
/// window the only change is the one that skipped `local`, so the reading grows with the
/// instant and bisection is exact. Gaps are rare, so the ~17 steps cost nothing overall.
fn gap_end(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let as_utc = local.and_utc().timestamp();
    let shows_local_or_later =
        |seconds: i64| DateTime::from_timestamp(seconds, 0).map(|at| wall_clock(tz, at) >= local);
    let (mut before, mut after) = (as_utc - MAX_OFFSET_SECONDS, as_utc + MAX_OFFSET_SECONDS);
    while after - before > 1 {
        let middle = before + (after - before) / 2;
        if shows_local_or_later(middle)? {
            after = middle;
        } else {
            before = middle;
        }
    }
    DateTime::from_timestamp(after, 0)
}
