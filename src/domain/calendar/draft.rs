//! A calendar as sent and as stored (JSON), and its validation into a [`Calendar`]. Field
//! names are relative; the API nests them (`calendar.holidays[3]`) with `Validator::nested`.

use chrono::{Datelike, NaiveTime, Timelike, Weekday, WeekdaySet};
use chrono_tz::Tz;
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

/// Local times `HH:MM`; the window is `[start, end)`. A stored calendar may hold `HH:MM:SS`:
/// requests could carry seconds before they were held to `HH:MM`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessHoursDraft {
    pub start: String,
    pub end: String,
}

/// Where a draft's fields come from. Those a caller sent are read as a request must write them
/// (clock times `HH:MM`), the stored ones as they were accepted; a rule between two fields
/// names the one the caller sent.
#[derive(Debug, Clone, Copy)]
pub(super) enum Source<'a> {
    /// A whole calendar a caller sent (`CreateCalendar`).
    Request,
    /// A stored calendar whose fields named in an `UpdateCalendar` mask the caller sent.
    Update(&'a [String]),
    /// A stored calendar, read back.
    Stored,
}

impl Source<'_> {
    fn sent(self, field: &str) -> bool {
        match self {
            Self::Request => true,
            Self::Update(mask) => mask.iter().any(|path| path == field),
            Self::Stored => false,
        }
    }

    /// The field a rule between `preferred` and `other` names: `preferred`, unless only
    /// `other` was sent.
    fn names<'f>(self, preferred: &'f str, other: &'f str) -> &'f str {
        if !self.sent(preferred) && self.sent(other) {
            other
        } else {
            preferred
        }
    }
}

/// A calendar's fields, each checked on its own; an invalid one is recorded and left out.
/// Ranges keep their index in the draft, to name them in the rules between fields.
struct Fields {
    timezone: Tz,
    workdays: WeekdaySet,
    business_hours: Option<BusinessHours>,
    holidays: Vec<(usize, DateRange)>,
    make_ups: Vec<(usize, DateRange)>,
}

impl Fields {
    fn parse(v: &mut Validator, draft: &CalendarDraft, source: Source) -> Self {
        let sent_hours = source.sent("business_hours");
        Self {
            timezone: parse_timezone(v, &draft.timezone)
                .parse()
                .unwrap_or(chrono_tz::UTC),
            workdays: workdays(v, &draft.workdays),
            business_hours: (draft.business_hours.as_ref())
                .and_then(|hours| business_hours(v, hours, sent_hours)),
            holidays: date_ranges(v, "holidays", &draft.holidays),
            make_ups: date_ranges(v, "make_up_workdays", &draft.make_up_workdays),
        }
    }
}

impl Calendar {
    /// Validates `draft` as a caller sent it, recording every invalid field in `v`. The
    /// calendar returned when `v` holds violations is a placeholder that [`Validator::finish`]
    /// never lets through.
    pub fn parse(v: &mut Validator, draft: &CalendarDraft) -> Self {
        Self::parse_from(v, draft, Source::Request)
    }

    /// Validates each field of `draft` on its own, as a caller sent it: what an update's patch
    /// must pass before the rules between fields judge the calendar it makes
    /// ([`NamedCalendar::updated`](super::NamedCalendar::updated)).
    pub fn check_fields(v: &mut Validator, draft: &CalendarDraft) {
        Fields::parse(v, draft, Source::Request);
    }

    /// As [`Calendar::parse`], for a draft whose fields come from `source`.
    pub(super) fn parse_from(v: &mut Validator, draft: &CalendarDraft, source: Source) -> Self {
        let fields = Fields::parse(v, draft, source);
        let merged = |ranges: &[(usize, DateRange)]| {
            DateRanges::merged(ranges.iter().map(|&(_, range)| range).collect())
        };
        let (holidays, make_ups) = (merged(&fields.holidays), merged(&fields.make_ups));
        no_date_both_holiday_and_make_up(v, &fields, (&holidays, &make_ups), source);
        if fields.workdays.is_empty() && make_ups.as_slice().is_empty() {
            never_open(v, source);
        }
        Self {
            timezone: fields.timezone,
            workdays: fields.workdays,
            business_hours: fields.business_hours,
            holidays,
            make_up_workdays: make_ups,
        }
    }
}

/// A date both a holiday and a make-up workday is refused, named in the list the caller sent
/// (the make-up days when they sent both).
fn no_date_both_holiday_and_make_up(
    v: &mut Validator,
    fields: &Fields,
    (holidays, make_ups): (&DateRanges, &DateRanges),
    source: Source,
) {
    let (field, named, others, clash) = match source.names("make_up_workdays", "holidays") {
        "make_up_workdays" => (
            "make_up_workdays",
            &fields.make_ups,
            holidays,
            "is also a holiday",
        ),
        _ => (
            "holidays",
            &fields.holidays,
            make_ups,
            "has a make-up workday",
        ),
    };
    for (i, range) in named {
        if others.overlaps(*range) {
            v.violation(
                &format!("{field}[{i}]"),
                format!("{range} {clash}; a date cannot be both a holiday and a make-up workday"),
            );
        }
    }
}

/// A calendar with neither workdays nor make-up workdays is refused, named in the list the
/// caller sent (the workdays when they sent both).
fn never_open(v: &mut Validator, source: Source) {
    match source.names("workdays", "make_up_workdays") {
        "workdays" => v.violation(
            "workdays",
            "must name at least one ISO weekday (1 = Monday … 7 = Sunday) unless the \
             calendar has make-up workdays; otherwise it is never open",
        ),
        field => v.violation(
            field,
            "must keep at least one date while the calendar has no workdays; otherwise it is \
             never open",
        ),
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

/// `sent`: the hours come from a request, so their times must be `HH:MM`.
fn business_hours(
    v: &mut Validator,
    draft: &BusinessHoursDraft,
    sent: bool,
) -> Option<BusinessHours> {
    let start = time_of_day(v, "business_hours.start", &draft.start, sent);
    let end = time_of_day(v, "business_hours.end", &draft.end, sent);
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

fn time_of_day(v: &mut Validator, field: &str, text: &str, sent: bool) -> Option<NaiveTime> {
    let time = if sent { hh_mm(text) } else { stored_time(text) };
    if time.is_none() {
        v.violation(
            field,
            format!(
                "must be a local time HH:MM (24-hour clock, two digits each, no seconds) from \
                 00:00 to 23:59, got {}",
                quoted(text)
            ),
        );
    }
    time
}

/// `HH:MM` exactly: two ASCII digits, a colon, two ASCII digits, from 00:00 to 23:59.
fn hh_mm(text: &str) -> Option<NaiveTime> {
    let digit = |b: u8| b.is_ascii_digit().then(|| u32::from(b - b'0'));
    match *text.as_bytes() {
        [h1, h2, b':', m1, m2] => NaiveTime::from_hms_opt(
            digit(h1)? * 10 + digit(h2)?,
            digit(m1)? * 10 + digit(m2)?,
            0,
        ),
        _ => None,
    }
}

/// A stored time, read as it was accepted: `HH:MM` or `HH:MM:SS`, without a leap second.
fn stored_time(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    NaiveTime::parse_from_str(text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .ok()
        .filter(|time| time.nanosecond() == 0) // no leap second 23:59:60
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
        let calendar = Calendar::parse_from(&mut v, &draft, Source::Stored);
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

/// `09:00`, or `09:00:30` for a calendar stored with seconds.
fn clock_time(time: NaiveTime) -> String {
    let format = if time.second() == 0 {
        "%H:%M"
    } else {
        "%H:%M:%S"
    };
    time.format(format).to_string()
}
