//! A calendar's open time as instants: one interval per workday, walked day by day forwards
//! or backwards, never minute by minute.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

use super::Calendar;
use super::local::{closing, opening, wall_clock};

/// How many days in a row without open time a walk crosses before it gives up: ten years, so
/// a calendar whose holidays cover the future answers `None` instead of looping.
pub const HORIZON_DAYS: u32 = 3_660;

/// How many days a walk crosses at all before it gives up: a century, so a deadline further
/// away is none (never due), and a valid rule that would reach it (ten years of open time in a
/// calendar open one minute a day: five million days) costs a bounded walk. The database's
/// `business_add`/`business_sub` stop at the same day.
pub const WALK_LIMIT_DAYS: u32 = 36_600;

/// The open time of one workday, `[open, close)`, as instants. Intervals of different days
/// never overlap and follow each other in date order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenInterval {
    /// The local date whose open time this is.
    pub day: NaiveDate,
    pub open: DateTime<Utc>,
    pub close: DateTime<Utc>,
}

impl OpenInterval {
    pub fn length(&self) -> TimeDelta {
        self.close - self.open
    }
}

impl Calendar {
    /// The open time of the local date `day`, or `None` when it is no workday or has no open
    /// time left after a daylight-saving change (a 02:00–02:30 window on a day the clocks
    /// jump from 02:00 to 03:00).
    ///
    /// The window's local times become instants as `local` explains: a start the clocks skip
    /// opens at the jump, a repeated start opens at its first showing, a repeated end closes
    /// at its last. A window of 01:30–03:00 in America/New_York is thus 30 minutes long on
    /// 2027-03-14 (01:30 EST to 03:00 EDT) and 2½ hours on 2027-11-07 (01:30 EDT to 03:00
    /// EST). A day is further cut to the instants whose local date is `day` — from the first
    /// showing of its midnight to the first showing of the next — so days never overlap, and
    /// a calendar without business hours counts a 23- or 25-hour day as it is.
    pub fn interval_of(&self, day: NaiveDate) -> Option<OpenInterval> {
        if !self.is_workday(day) {
            return None;
        }
        let next_day_starts = opening(self.timezone, day.succ_opt()?.and_time(NaiveTime::MIN))?;
        let (open, close) = match self.business_hours {
            None => (
                opening(self.timezone, day.and_time(NaiveTime::MIN))?,
                next_day_starts,
            ),
            Some(hours) => (
                opening(self.timezone, day.and_time(hours.start()))?,
                closing(self.timezone, day.and_time(hours.end()))?.min(next_day_starts),
            ),
        };
        (open < close).then_some(OpenInterval { day, open, close })
    }

    /// The open time from `from` on, in order: the interval holding `from` cut to start there
    /// (when `from` is open), then every later one. Ends after [`HORIZON_DAYS`] days in a row
    /// without open time, or [`WALK_LIMIT_DAYS`] days in all.
    pub fn open_intervals(&self, from: DateTime<Utc>) -> impl Iterator<Item = OpenInterval> + '_ {
        let first_day = self.local_date(from).pred_opt();
        self.days(first_day, NaiveDate::succ_opt)
            .filter(move |interval| interval.close > from)
            .map(move |interval| OpenInterval {
                open: interval.open.max(from),
                ..interval
            })
    }

    /// The open time up to `until`, latest first: the interval holding `until` (or closing
    /// or opening exactly at it) cut to end there, then every earlier one. The first may be
    /// empty when `until` is an opening. Ends as [`Calendar::open_intervals`] does.
    pub fn open_intervals_before(
        &self,
        until: DateTime<Utc>,
    ) -> impl Iterator<Item = OpenInterval> + '_ {
        let last_day = self.local_date(until).succ_opt();
        self.days(last_day, NaiveDate::pred_opt)
            .filter(move |interval| interval.open <= until)
            .map(move |interval| OpenInterval {
                close: interval.close.min(until),
                ..interval
            })
    }

    /// Whether `at` is in open time (an opening is, a close is not).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.open_intervals(at)
            .next()
            .is_some_and(|interval| interval.open == at)
    }

    pub(super) fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        wall_clock(self.timezone, at).date()
    }

    fn days(
        &self,
        start: Option<NaiveDate>,
        step: fn(&NaiveDate) -> Option<NaiveDate>,
    ) -> Workdays<'_> {
        Workdays {
            calendar: self,
            next: start,
            step,
            closed_in_a_row: 0,
            walked: 0,
        }
    }
}

/// The open intervals of successive dates, one step at a time, skipping closed dates.
struct Workdays<'a> {
    calendar: &'a Calendar,
    next: Option<NaiveDate>,
    step: fn(&NaiveDate) -> Option<NaiveDate>,
    closed_in_a_row: u32,
    walked: u32,
}

impl Iterator for Workdays<'_> {
    type Item = OpenInterval;

    fn next(&mut self) -> Option<OpenInterval> {
        while self.closed_in_a_row < HORIZON_DAYS && self.walked < WALK_LIMIT_DAYS {
            self.walked += 1;
            let day = self.next?;
            self.next = (self.step)(&day);
            match self.calendar.interval_of(day) {
                Some(interval) => {
                    self.closed_in_a_row = 0;
                    return Some(interval);
                }
                None => self.closed_in_a_row += 1,
            }
        }
        None
    }
}
