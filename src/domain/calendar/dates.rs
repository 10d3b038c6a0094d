//! Inclusive ranges of local dates (holidays, make-up workdays) and the sorted, merged list a
//! calendar looks dates up in by binary search, so a lookup costs O(log ranges) per day walked.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

use crate::domain::validate::iso_date;

/// The dates `first..=last`, written `2027-02-06..2027-02-12`, or `2027-02-20` for one date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateRange {
    first: NaiveDate,
    last: NaiveDate,
}

impl DateRange {
    /// `first..=last`, or `None` when `last` comes before `first`.
    pub fn new(first: NaiveDate, last: NaiveDate) -> Option<Self> {
        (first <= last).then_some(Self { first, last })
    }

    pub fn day(date: NaiveDate) -> Self {
        Self {
            first: date,
            last: date,
        }
    }

    pub fn first(self) -> NaiveDate {
        self.first
    }

    pub fn last(self) -> NaiveDate {
        self.last
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        self.first <= date && date <= self.last
    }
}

/// Why a text is not a [`DateRange`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateRangeError {
    #[error("must be a date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD")]
    Malformed,
    #[error("must not end before it starts")]
    Reversed,
}

impl FromStr for DateRange {
    type Err = DateRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let date = |part: &str| iso_date(part.trim()).ok_or(DateRangeError::Malformed);
        match text.split_once("..") {
            None => date(text).map(Self::day),
            Some((first, last)) => {
                Self::new(date(first)?, date(last)?).ok_or(DateRangeError::Reversed)
            }
        }
    }
}

impl fmt::Display for DateRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}..{}", self.first, self.last)
        }
    }
}

/// Ranges sorted by their first date, none overlapping or adjacent to the next: the invariant
/// that lets [`DateRanges::contains`] binary-search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct DateRanges(Vec<DateRange>);

impl DateRanges {
    /// Sorts `ranges` and merges those that overlap or touch, so 2027-02-06..2027-02-08 and
    /// 2027-02-09 become one range.
    pub(super) fn merged(mut ranges: Vec<DateRange>) -> Self {
        ranges.sort_unstable();
        let mut merged: Vec<DateRange> = Vec::with_capacity(ranges.len());
        for range in ranges {
            match merged.last_mut() {
                Some(prev) if prev.last.succ_opt().is_none_or(|next| range.first <= next) => {
                    prev.last = prev.last.max(range.last);
                }
                _ => merged.push(range),
            }
        }
        Self(merged)
    }

    pub(super) fn as_slice(&self) -> &[DateRange] {
        &self.0
    }

    pub(super) fn contains(&self, date: NaiveDate) -> bool {
        self.overlaps(DateRange::day(date))
    }

    /// Whether any date of `range` is in one of these ranges.
    pub(super) fn overlaps(&self, range: DateRange) -> bool {
        let i = self.0.partition_point(|r| r.last < range.first);
        self.0.get(i).is_some_and(|r| r.first <= range.last)
    }
}
