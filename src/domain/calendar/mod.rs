//! Business time (shared/domain.md "Business time (pool calendars)"): when a pool's deadline
//! clocks run. A [`Calendar`] says which local dates are workdays and which local hours of a
//! workday are open; [`Calendar::add`] and [`Calendar::sub`] move an instant through that open
//! time by a [`BusinessDuration`], so a deadline does not expire over a weekend or the Spring
//! Festival while nobody could follow the lead up.
//!
//! Which dates are workdays, in this order of precedence:
//! 1. a holiday is closed, whatever its weekday;
//! 2. else a make-up workday (调休) is open, whatever its weekday;
//! 3. else the date's weekday decides.
//!
//! A date listed both as a holiday and as a make-up workday is refused by validation (it is a
//! typo in either list, and guessing which one was meant would move deadlines silently); rule 1
//! only makes [`Calendar::is_workday`] total should such a calendar ever be read back.
//!
//! Daylight-saving changes are handled where local times become instants (`local`): see
//! [`Calendar::interval_of`].

mod arithmetic;
mod dates;
mod draft;
mod intervals;
mod local;
mod named;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod validation;

use chrono::{Datelike, NaiveDate, NaiveTime, WeekdaySet};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use arithmetic::BusinessDuration;
pub use dates::{DateRange, DateRangeError};
pub use draft::{BusinessHoursDraft, CalendarDraft, FIRST_YEAR, LAST_YEAR, MAX_CALENDAR_RANGES};
pub use intervals::{HORIZON_DAYS, OpenInterval, WALK_LIMIT_DAYS};
pub use named::{NamedCalendar, UPDATABLE_FIELDS};

use dates::DateRanges;

/// A pool's business calendar, valid by construction: build it with [`Calendar::parse`] (or
/// deserialize it, which validates the same way). Stored and sent as a [`CalendarDraft`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CalendarDraft", into = "CalendarDraft")]
pub struct Calendar {
    timezone: Tz,
    workdays: WeekdaySet,
    business_hours: Option<BusinessHours>,
    holidays: DateRanges,
    make_up_workdays: DateRanges,
}

/// The one local window of a workday that is open, `[start, end)`, with `start < end`. A
/// window cannot run past midnight: a calendar without business hours is open all day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessHours {
    start: NaiveTime,
    end: NaiveTime,
}

impl BusinessHours {
    /// The window `[start, end)`, or `None` when it would be empty or reversed.
    pub fn new(start: NaiveTime, end: NaiveTime) -> Option<Self> {
        (start < end).then_some(Self { start, end })
    }

    pub fn start(self) -> NaiveTime {
        self.start
    }

    pub fn end(self) -> NaiveTime {
        self.end
    }
}

impl Calendar {
    /// The zone whose wall clock the dates and hours are read in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// This calendar read in another zone. The pool's zone governs: a tenant's named calendar
    /// is applied to each pool in that pool's zone.
    pub fn with_timezone(mut self, timezone: Tz) -> Self {
        self.timezone = timezone;
        self
    }

    /// The weekdays that are workdays unless a holiday says otherwise.
    pub fn workdays(&self) -> WeekdaySet {
        self.workdays
    }

    /// `None`: a workday is open from midnight to midnight.
    pub fn business_hours(&self) -> Option<BusinessHours> {
        self.business_hours
    }

    /// Holidays, sorted, overlapping and adjacent ranges merged.
    pub fn holidays(&self) -> &[DateRange] {
        self.holidays.as_slice()
    }

    /// Make-up workdays, sorted, overlapping and adjacent ranges merged.
    pub fn make_up_workdays(&self) -> &[DateRange] {
        self.make_up_workdays.as_slice()
    }

    /// Whether the local date `date` is a workday, by the precedence of the module docs.
    pub fn is_workday(&self, date: NaiveDate) -> bool {
        if self.holidays.contains(date) {
            return false;
        }
        self.make_up_workdays.contains(date) || self.workdays.contains(date.weekday())
    }
}
