//! A calendar as sent and as stored (JSON), and its validation into a [`Calendar`]. Field
//! names are relative; the API nests them (`calendar.holidays[3]`) with `Validator::nested`.

use chrono::{Datelike, NaiveTime, Timelike, Weekday, WeekdaySet};
use serde::{Deserialize, Serialize};

use super::dates::{DateRange, DateRanges};
use super::{BusinessHours, Calendar};
use crate::domain::DomainError;
use crate::domain::pool::parse_timezone;
use crate::domain::validate::{Validator, quoted};

/// Holidays, and make-up workdays, a calendar may list: a range per day of a year is plenty.
pub const MAX_CALENDAR_RANGES: usize = 366;
/// The years a holiday or make-up date may fall in: anything else is a typo.
pub const FIRST_YEAR: i32 = 1900;
pub const LAST_YEAR: i32 = 2200;

/// A calendar before validation; also its stored form:
/// `{"timezone": "Asia/Shanghai", "workdays": [1, 2, 3, 4, 5],
///   "business_hours": {"start": "09:00", "end": "18:00"},
///   "holidays": ["2027-02-06..2027-02-12"], "make_up_workdays": ["2027-02-20"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CalendarDraft {
    /// An IANA zone; empty means UTC.
    pub timezone: String,
    /// ISO weekday numbers, 1 = Monday to 7 = Sunday.
    pub workdays: Vec<i32>,
    /// Unset: workdays are open all day.
    pub business_hours: Option<BusinessHoursDraft>,
    /// Dates `2027-02-06` or inclusive ranges `2027-02-06..2027-02-12`.
    pub holidays: Vec<String>,
    /// Dates or ranges that are workdays whatever their weekday (调休).
    pub make_up_workdays: Vec<String>,
}

/// Local times `HH:MM` (or `HH:MM:SS`); the window is `[start, end)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessHoursDraft {
    pub start: String,
    pub end: String,
}

impl Calendar {
    /// Validates `draft`, recording every invalid field in `v`. The calendar returned when
    /// `v` holds violations is a placeholder that [`Validator::finish`] never lets through.
    pub fn parse(v: &mut Validator, draft: &CalendarDraft) -> Self {
        let timezone = parse_timezone(v, &draft.timezone)
            .parse()
            .unwrap_or(chrono_tz::UTC);
        let workdays = workdays(v, &draft.workdays);
        let business_hours = draft
            .business_hours
            .as_ref()
            .and_then(|hours| business_hours(v, hours));
        let holidays = date_ranges(v, "holidays", &draft.holidays);
        let make_ups = date_ranges(v, "make_up_workdays", &draft.make_up_workdays);
        let holidays = DateRanges::merged(holidays.into_iter().map(|(_, r)| r).collect());
        for (i, range) in &make_ups {
            if holidays.overlaps(*range) {
                v.violation(
                    &format!("make_up_workdays[{i}]"),
                    format!("{range} is also a holiday; a date cannot be both"),
                );
            }
        }
        if workdays.is_empty() && make_ups.is_empty() {
            v.violation(
                "workdays",
                "must name at least one ISO weekday (1 = Monday … 7 = Sunday) unless the \
                 calendar has make-up workdays; otherwise it is never open",
            );
        }
        Self {
            timezone,
            workdays,
            business_hours,
            holidays,
            make_up_workdays: DateRanges::merged(make_ups.into_iter().map(|(_, r)| r).collect()),
        }
    }
}

fn workdays(v: &mut Validator, numbers: &[i32]) -> WeekdaySet {
    let mut set = WeekdaySet::EMPTY;
    for (i, &number) in numbers.iter().enumerate() {
        let weekday = u8::try_from(number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| Weekday::try_from(n).ok());
        match weekday {
            Some(weekday) => {
                set.insert(weekday);
            }
            None => v.violation(
                &format!("workdays[{i}]"),
                format!("must be an ISO weekday, 1 (Monday) to 7 (Sunday), got {number}"),
            ),
        }
    }
    set
}

fn business_hours(v: &mut Validator, draft: &BusinessHoursDraft) -> Option<BusinessHours> {
    let start = time_of_day(v, "business_hours.start", &draft.start);
    let end = time_of_day(v, "business_hours.end", &draft.end);
    let hours = BusinessHours::new(start?, end?);
    if hours.is_none() {
        v.violation(
            "business_hours",
            format!(
                "must start before it ends, got {}–{}; leave it unset for the whole day",
                draft.start, draft.end
            ),
        );
    }
    hours
}

fn time_of_day(v: &mut Validator, field: &str, text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    let time = NaiveTime::parse_from_str(text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .ok()
        .filter(|time| time.nanosecond() == 0); // no leap second 23:59:60
    if time.is_none() {
        v.violation(
            field,
            format!(
                "must be a local time HH:MM from 00:00 to 23:59, got {}",
                quoted(text)
            ),
        );
    }
    time
}

/// The valid ranges of `texts`, each with its index for later violations.
fn date_ranges(v: &mut Validator, field: &str, texts: &[String]) -> Vec<(usize, DateRange)> {
    if texts.len() > MAX_CALENDAR_RANGES {
        v.violation(
            field,
            format!(
                "must have at most {MAX_CALENDAR_RANGES} dates or ranges, got {}",
                texts.len()
            ),
        );
    }
    let mut ranges = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let item = format!("{field}[{i}]");
        match text.parse::<DateRange>() {
            Err(err) => v.violation(&item, format!("{err}, got {}", quoted(text))),
            Ok(range) if !in_years(range) => v.violation(
                &item,
                format!("must lie in the years {FIRST_YEAR} to {LAST_YEAR}, got {range}"),
            ),
            Ok(range) => ranges.push((i, range)),
        }
    }
    ranges
}

fn in_years(range: DateRange) -> bool {
    let years = FIRST_YEAR..=LAST_YEAR;
    years.contains(&range.first().year()) && years.contains(&range.last().year())
}

impl TryFrom<CalendarDraft> for Calendar {
    type Error = DomainError;

    /// Reading a stored calendar validates it again, so a hand-edited row cannot break the
    /// invariants lookups rely on.
    fn try_from(draft: CalendarDraft) -> Result<Self, DomainError> {
        let mut v = Validator::new();
        let calendar = Calendar::parse(&mut v, &draft);
        v.finish(calendar)
    }
}

impl From<Calendar> for CalendarDraft {
    fn from(calendar: Calendar) -> Self {
        Self {
            timezone: calendar.timezone.name().to_owned(),
            workdays: calendar
                .workdays
                .iter(Weekday::Mon)
                .map(|day| day.number_from_monday() as i32)
                .collect(),
            business_hours: calendar.business_hours.map(|hours| BusinessHoursDraft {
                start: clock_time(hours.start()),
                end: clock_time(hours.end()),
            }),
            holidays: calendar
                .holidays()
                .iter()
                .map(DateRange::to_string)
                .collect(),
            make_up_workdays: (calendar.make_up_workdays().iter())
                .map(DateRange::to_string)
                .collect(),
        }
    }
}

/// `09:00`, or `09:00:30` when the seconds matter.
fn clock_time(time: NaiveTime) -> String {
    let format = if time.second() == 0 {
        "%H:%M"
    } else {
        "%H:%M:%S"
    };
    time.format(format).to_string()
}
