//! A report's range of days and how a pool report groups them.

use chrono::{Datelike, Days, Months, NaiveDate};

use crate::domain::DomainError;
use crate::domain::error::FieldViolation;

/// The longest range a report covers.
pub const MAX_DAYS: i64 = 731;

/// Days `from` (first) to `to` (the day after the last), in the pool's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// A range of 1 to [`MAX_DAYS`] days; the violations name the request's fields.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, DomainError> {
        let days = (to - from).num_days();
        if days < 1 {
            return Err(invalid("to_date", "must be after from_date"));
        }
        if days > MAX_DAYS {
            return Err(invalid(
                "to_date",
                "must be at most 731 days after from_date",
            ));
        }
        Ok(Self { from, to })
    }

    /// How many days the range covers.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days()
    }

    /// The whole calendar months inside the range, as `[first, end)` of their first days: the
    /// reads take these from the month rollups and the days before and after from the day
    /// rollups. `(to, to)` when the range holds no whole month.
    pub fn whole_months(&self) -> (NaiveDate, NaiveDate) {
        let first = match month_start(self.from) {
            start if start == self.from => start,
            start => start + Months::new(1),
        };
        let end = month_start(self.to);
        if first < end {
            (first, end)
        } else {
            (self.to, self.to)
        }
    }
}

/// The first day of `day`'s month.
pub fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

fn invalid(field: &str, message: &str) -> DomainError {
    DomainError::ValidationFailed(vec![FieldViolation::new(field, message)])
}

/// How a pool report groups days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bucket {
    #[default]
    Day,
    /// Monday to Sunday.
    Week,
    Month,
}

impl Bucket {
    /// The first day of the bucket holding `day`.
    fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => day,
            Self::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Self::Month => month_start(day),
        }
    }

    /// The first day of the next bucket after the one starting on `start`.
    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => start + Days::new(1),
            Self::Week => start + Days::new(7),
            Self::Month => start + Months::new(1),
        }
    }

    /// The buckets of `period` as (first day, day after the last), clipped to it.
    pub fn split(self, period: Period) -> Vec<(NaiveDate, NaiveDate)> {
        let mut buckets = Vec::new();
        let mut start = period.from;
        while start < period.to {
            let end = self.next(self.start(start)).min(period.to);
            buckets.push((start, end));
            start = end;
        }
        buckets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn weeks_run_monday_to_sunday_and_months_by_the_calendar_clipped_to_the_range() {
        let period = Period::new(date("2026-01-28"), date("2026-03-03")).unwrap();
        let weeks = Bucket::Week.split(period);
        assert_eq!(weeks[0], (date("2026-01-28"), date("2026-02-02")));
        assert_eq!(weeks[1], (date("2026-02-02"), date("2026-02-09")));
        assert_eq!(
            weeks.last(),
            Some(&(date("2026-03-02"), date("2026-03-03")))
        );
        let months = Bucket::Month.split(period);
        assert_eq!(
            months,
            [
                (date("2026-01-28"), date("2026-02-01")),
                (date("2026-02-01"), date("2026-03-01")),
                (date("2026-03-01"), date("2026-03-03")),
            ]
        );
        assert_eq!(Bucket::Day.split(period).len(), 34);
    }

    #[test]
    fn whole_months_are_those_wholly_inside_the_range() {
        let months = |from, to| Period::new(date(from), date(to)).unwrap().whole_months();
        let (mar, jun) = (date("2026-03-01"), date("2026-06-01"));
        assert_eq!(months("2026-02-15", "2026-06-10"), (mar, jun));
        assert_eq!(months("2026-03-01", "2026-06-01"), (mar, jun));
        assert_eq!(months("2026-03-01", "2026-04-01").1, date("2026-04-01"));
        // No whole month: every day from the day rows.
        let none = date("2026-04-30");
        assert_eq!(months("2026-03-02", "2026-04-30"), (none, none));
        assert_eq!(
            months("2026-03-15", "2026-04-10"),
            (date("2026-04-10"), date("2026-04-10"))
        );
    }

    #[test]
    fn a_range_is_one_to_731_days() {
        assert!(Period::new(date("2026-01-01"), date("2026-01-01")).is_err());
        assert!(Period::new(date("2026-01-01"), date("2028-01-03")).is_err());
        assert!(Period::new(date("2026-01-01"), date("2028-01-02")).is_ok());
    }
}
