//! Deadline rules in business time: how long `follow_up_timeout`, `close_timeout` and
//! `warn_before` give when a pool counts them in its calendar (`domain::calendar` says what
//! the counting means; the statements that set deadlines count in SQL, tied to it by
//! `tests/business_time.rs`).

use serde::{Deserialize, Serialize};

use super::pool::RawDuration;
use super::validate::Validator;

/// The longest span a rule may give: a year of workdays, or ten years of open time.
const MAX_WORKDAYS: i32 = 366;
const MAX_OPEN_SECONDS: i64 = 10 * 366 * 86_400;

/// A rule's span, counted in the pool's calendar. Stored in grade overrides as
/// `{"workdays": 3}` or `{"open_seconds": 7200}` (read by the SQL deadline functions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusinessSpan {
    /// Due at the close of business on the N-th workday after the start's business day.
    Workdays(i32),
    /// Due once this much open time has passed.
    OpenSeconds(i32),
}

/// A span as sent (`BusinessTime`'s oneof), before validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawBusinessTime {
    Workdays(i32),
    Open(RawDuration),
}

impl BusinessSpan {
    /// Validates a sent span; `least_workdays` is 0 for deadlines (due at today's close) and 1
    /// for warnings (a warning 0 workdays early is none).
    pub fn parse(
        v: &mut Validator,
        field: &str,
        raw: Option<RawBusinessTime>,
        least_workdays: i32,
    ) -> Option<Self> {
        match raw? {
            RawBusinessTime::Workdays(n) if (least_workdays..=MAX_WORKDAYS).contains(&n) => {
                Some(Self::Workdays(n))
            }
            RawBusinessTime::Workdays(n) => {
                let range = format!("{least_workdays} to {MAX_WORKDAYS}");
                v.violation(
                    &format!("{field}.workdays"),
                    format!("must be {range}, got {n}"),
                );
                None
            }
            RawBusinessTime::Open(raw) => open_time(v, &format!("{field}.open_time"), raw),
        }
    }

    /// The span as its two columns, `(workdays, open seconds)`.
    pub fn columns(span: Option<Self>) -> (Option<i32>, Option<i32>) {
        match span {
            Some(Self::Workdays(n)) => (Some(n), None),
            Some(Self::OpenSeconds(s)) => (None, Some(s)),
            None => (None, None),
        }
    }

    /// The span its two columns hold (the database allows one of them at most).
    pub fn from_columns(workdays: Option<i32>, open_seconds: Option<i32>) -> Option<Self> {
        workdays
            .map(Self::Workdays)
            .or(open_seconds.map(Self::OpenSeconds))
    }
}

fn open_time(v: &mut Validator, field: &str, raw: RawDuration) -> Option<BusinessSpan> {
    if raw.nanos != 0 || !(1..=MAX_OPEN_SECONDS).contains(&raw.seconds) {
        v.violation(
            field,
            format!(
                "must be whole seconds from 1 to {MAX_OPEN_SECONDS} (ten years), got {} s {} ns",
                raw.seconds, raw.nanos
            ),
        );
        return None;
    }
    i32::try_from(raw.seconds)
        .ok()
        .map(BusinessSpan::OpenSeconds)
}

/// One rule with its two forms: the wall-time field and whether it is set, the business-time
/// field and its span.
pub type RuleForms = (String, bool, String, Option<BusinessSpan>);

/// What a pool's rules must satisfy together: each rule is wall time or business time, never
/// both, and business time needs a calendar. Violations name the business-time field.
pub fn check_rules(v: &mut Validator, calendar_id_set: bool, rules: &[RuleForms]) {
    for (wall, wall_set, field, business) in rules {
        if business.is_none() {
            continue;
        }
        if *wall_set {
            v.violation(
                field,
                format!("set {wall} or {field}, not both; clear the other in the same update"),
            );
        }
        if !calendar_id_set {
            v.violation(
                field,
                "counts in the pool's calendar: set calendar_id (CalendarService) first",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: RawBusinessTime, least: i32) -> (Option<BusinessSpan>, Vec<String>) {
        let mut v = Validator::new();
        let span = BusinessSpan::parse(&mut v, "rule", Some(raw), least);
        (span, v.rejected_fields())
    }

    #[test]
    fn spans_within_their_bounds_only() {
        let day = RawDuration {
            seconds: 86_400,
            nanos: 0,
        };
        assert_eq!(
            parsed(RawBusinessTime::Workdays(3), 0).0,
            Some(BusinessSpan::Workdays(3))
        );
        assert_eq!(
            parsed(RawBusinessTime::Open(day), 0).0,
            Some(BusinessSpan::OpenSeconds(86_400))
        );
        assert_eq!(parsed(RawBusinessTime::Workdays(0), 1).1, ["rule.workdays"]);
        assert_eq!(
            parsed(RawBusinessTime::Workdays(367), 0).1,
            ["rule.workdays"]
        );
        let half_second = RawDuration {
            seconds: 1,
            nanos: 500,
        };
        assert_eq!(
            parsed(RawBusinessTime::Open(half_second), 0).1,
            ["rule.open_time"]
        );
    }

    #[test]
    fn business_time_needs_a_calendar_and_no_wall_twin() {
        let mut v = Validator::new();
        let three = Some(BusinessSpan::Workdays(3));
        check_rules(
            &mut v,
            false,
            &[
                (
                    "follow_up_timeout".into(),
                    true,
                    "follow_up_business_time".into(),
                    three,
                ),
                (
                    "close_timeout".into(),
                    false,
                    "close_business_time".into(),
                    None,
                ),
                (
                    "warn_before".into(),
                    false,
                    "warn_before_business_time".into(),
                    three,
                ),
            ],
        );
        assert_eq!(
            v.rejected_fields(),
            [
                "follow_up_business_time",
                "follow_up_business_time",
                "warn_before_business_time"
            ]
        );
    }
}
