//! Deadlines in business time: an instant plus or minus a duration, walking the calendar's
//! open intervals (shared/domain.md "Business time").

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::Calendar;
use super::local::{opening, wall_clock};

/// How long a deadline rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusinessDuration {
    /// Wall-clock time: the calendar plays no part (a pool without a calendar, cooldowns).
    Wall(TimeDelta),
    /// The close of business on the N-th workday after the start's business day; see
    /// [`Calendar::add`].
    Workdays(u32),
    /// That much open time (business hours and minutes), as Salesforce `BusinessHours.add`.
    Open(TimeDelta),
}

impl Calendar {
    /// `start` moved forward by `duration`; `None` when the walk meets
    /// [`HORIZON_DAYS`](super::HORIZON_DAYS) days in a row without open time, or
    /// [`WALK_LIMIT_DAYS`](super::WALK_LIMIT_DAYS) days in all: a deadline a century away is none
    /// (or it runs past the dates chrono can represent).
    ///
    /// - `Wall(d)`: `start + d`.
    /// - `Workdays(n)`: the start's business day is the workday whose open time holds `start`,
    ///   or, for a start in closed time, the workday of the next opening. The deadline is the
    ///   close of the n-th workday after that day; the start's own day never counts, however
    ///   early the start. With Monday–Friday 09:00–18:00, a lead claimed Friday 10:00 (or
    ///   Friday 07:00) with 3 workdays is due Wednesday 18:00: Monday, Tuesday and Wednesday
    ///   are the 1st, 2nd and 3rd workdays after Friday. Claimed Friday 20:00 or Saturday, the
    ///   business day is Monday and the deadline Thursday 18:00. `Workdays(0)` is the close of
    ///   the business day itself.
    /// - `Open(d)`: walk forward through open intervals until `d` of open time has passed;
    ///   a start in closed time counts from the next opening. The result is in open time or,
    ///   when the walk uses up an interval exactly, that interval's close (Friday 09:00 plus 9
    ///   business hours is Friday 18:00, not Monday 09:00). `Open(0)` is the next open instant.
    ///
    /// A negative `Open(d)` is `sub` by `−d`.
    pub fn add(&self, start: DateTime<Utc>, duration: &BusinessDuration) -> Option<DateTime<Utc>> {
        match *duration {
            BusinessDuration::Wall(d) => start.checked_add_signed(d),
            BusinessDuration::Workdays(n) => self.add_workdays(start, n),
            BusinessDuration::Open(d) if d < TimeDelta::zero() => self.sub(
                start,
                &BusinessDuration::Open(TimeDelta::zero().checked_sub(&d)?),
            ),
            BusinessDuration::Open(d) => self.add_open(start, d),
        }
    }

    /// `deadline` moved back by `duration`: when a warning `warn_before` the deadline fires.
    /// `None` as for [`Calendar::add`].
    ///
    /// - `Wall(d)`: `deadline − d`.
    /// - `Open(d)`: walk backwards through open intervals until `d` of open time lies between
    ///   the result and `deadline`; a deadline in closed time counts back from the previous
    ///   close. The result is in open time or at a close, and the latest such instant: from a
    ///   start `s` in open time, `sub(add(s, Open(d)), Open(d)) == s`.
    /// - `Workdays(n)`: the same local time of day n workdays earlier, cut to that day's open
    ///   time. The deadline's day is the workday whose open time holds it (or ends at it; for
    ///   a deadline in closed time, the previous close). A deadline of Wednesday 18:00 warned
    ///   1 workday before warns Tuesday 18:00: one full business day ahead, which is what a
    ///   rep can act on. (Opening of the n-th previous workday was the other candidate; it
    ///   warns up to a business day earlier than asked.) A time the clocks skip or repeat on
    ///   the earlier day is read as an opening: a warning errs early rather than late.
    ///   `Workdays(0)` is the deadline itself, or the previous close for one in closed time.
    ///
    /// A negative `Open(d)` is `add` by `−d`.
    pub fn sub(
        &self,
        deadline: DateTime<Utc>,
        duration: &BusinessDuration,
    ) -> Option<DateTime<Utc>> {
        match *duration {
            BusinessDuration::Wall(d) => deadline.checked_sub_signed(d),
            BusinessDuration::Workdays(n) => self.sub_workdays(deadline, n),
            BusinessDuration::Open(d) if d < TimeDelta::zero() => self.add(
                deadline,
                &BusinessDuration::Open(TimeDelta::zero().checked_sub(&d)?),
            ),
            BusinessDuration::Open(d) => self.sub_open(deadline, d),
        }
    }

    fn add_workdays(&self, start: DateTime<Utc>, n: u32) -> Option<DateTime<Utc>> {
        let mut days = self.open_intervals(start);
        let business_day = days.next()?;
        let due_day = match n.checked_sub(1) {
            None => business_day,
            Some(skip) => days.nth(usize::try_from(skip).ok()?)?,
        };
        Some(due_day.close)
    }

    fn add_open(&self, start: DateTime<Utc>, amount: TimeDelta) -> Option<DateTime<Utc>> {
        let mut left = amount;
        for interval in self.open_intervals(start) {
            if interval.length() >= left {
                return Some(interval.open + left);
            }
            left -= interval.length();
        }
        None
    }

    fn sub_open(&self, deadline: DateTime<Utc>, amount: TimeDelta) -> Option<DateTime<Utc>> {
        let mut left = amount;
        for interval in self.open_intervals_before(deadline) {
            if interval.length() >= left {
                return Some(interval.close - left);
            }
            left -= interval.length();
        }
        None
    }

    fn sub_workdays(&self, deadline: DateTime<Utc>, n: u32) -> Option<DateTime<Utc>> {
        let mut days = self.open_intervals_before(deadline);
        let deadline_day = days.next()?;
        let Some(skip) = n.checked_sub(1) else {
            return Some(deadline_day.close);
        };
        // Since the day's midnight, so a whole-day close (the next midnight) reads 24:00.
        let time_of_day = wall_clock(self.timezone, deadline_day.close)
            - deadline_day.day.and_time(NaiveTime::MIN);
        let warn_day = days.nth(usize::try_from(skip).ok()?)?;
        let local = warn_day
            .day
            .and_time(NaiveTime::MIN)
            .checked_add_signed(time_of_day)?;
        let at = opening(self.timezone, local)?;
        Some(at.clamp(warn_day.open, warn_day.close))
    }
}
