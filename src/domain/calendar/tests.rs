//! Worked examples: the 2027 Spring Festival in Shanghai, counting workdays, warnings, and
//! daylight-saving days in New York, Berlin and Havana.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::*;
use crate::domain::validate::Validator;

pub(super) fn draft(
    timezone: &str,
    workdays: &[i32],
    hours: Option<(&str, &str)>,
    holidays: &[&str],
    make_ups: &[&str],
) -> CalendarDraft {
    let texts = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
    CalendarDraft {
        timezone: timezone.to_owned(),
        workdays: workdays.to_vec(),
        business_hours: hours.map(|(start, end)| BusinessHoursDraft {
            start: start.to_owned(),
            end: end.to_owned(),
        }),
        holidays: texts(holidays),
        make_up_workdays: texts(make_ups),
    }
}

pub(super) fn calendar(draft: CalendarDraft) -> Calendar {
    Calendar::try_from(draft).expect("valid calendar")
}

/// The instant a wall clock in `tz` reads `y-m-d h:min`; a reading it never shows panics.
pub(super) fn local(tz: Tz, (y, m, d): (i32, u32, u32), (h, min): (u32, u32)) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("an unambiguous local time")
        .to_utc()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

const MON_FRI: [i32; 5] = [1, 2, 3, 4, 5];
const EVERY_DAY: [i32; 7] = [1, 2, 3, 4, 5, 6, 7];
const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;
const NEW_YORK: Tz = chrono_tz::America::New_York;
const BERLIN: Tz = chrono_tz::Europe::Berlin;

fn hours(h: i64) -> BusinessDuration {
    BusinessDuration::Open(TimeDelta::hours(h))
}

/// The 2027 Spring Festival: 2027-02-06 (Saturday) to 2027-02-12 (Friday) off. The make-up
/// workdays Sunday 2027-01-31 and Saturday 2027-02-20 are illustrative; the State Council
/// publishes the real 调休 schedule late in the year before.
fn spring_festival() -> Calendar {
    calendar(draft(
        "Asia/Shanghai",
        &MON_FRI,
        Some(("09:00", "18:00")),
        &["2027-02-06..2027-02-12"],
        &["2027-01-31", "2027-02-20"],
    ))
}

fn sh(m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    local(SHANGHAI, (2027, m, d), (h, min))
}

#[test]
fn spring_festival_deadline_is_the_third_workday_after_the_holiday() {
    let cal = spring_festival();
    // Friday 02-05 is the start's day; 02-06..02-12 are holidays, 02-13/14 a weekend: Monday
    // 02-15, Tuesday 02-16 and Wednesday 02-17 are the 1st, 2nd and 3rd workdays after.
    let due = cal.add(sh(2, 5, 15, 0), &BusinessDuration::Workdays(3));
    assert_eq!(due, Some(sh(2, 17, 18, 0)));
    assert!(!cal.is_workday(date(2027, 2, 8)), "a Monday in the holiday");
}

#[test]
fn make_up_saturday_counts_as_a_workday() {
    let cal = spring_festival();
    assert!(cal.is_workday(date(2027, 2, 20)));
    assert!(!cal.is_workday(date(2027, 2, 21)));
    let due = cal.add(sh(2, 18, 10, 0), &BusinessDuration::Workdays(2));
    assert_eq!(
        due,
        Some(sh(2, 20, 18, 0)),
        "Friday 1st, make-up Saturday 2nd"
    );
}

#[test]
fn make_up_sunday_is_the_business_day_of_a_saturday_start() {
    let cal = spring_festival();
    let saturday_noon = sh(1, 30, 12, 0);
    let due = cal.add(saturday_noon, &BusinessDuration::Workdays(1));
    assert_eq!(
        due,
        Some(sh(2, 1, 18, 0)),
        "Sunday is its day, Monday the 1st after"
    );
    assert_eq!(cal.add(saturday_noon, &hours(2)), Some(sh(1, 31, 11, 0)));
}

#[test]
fn business_hours_resume_after_the_holiday() {
    let cal = spring_festival();
    assert_eq!(cal.add(sh(2, 5, 17, 0), &hours(3)), Some(sh(2, 15, 11, 0)));
}

#[test]
fn open_time_used_up_at_a_close_stays_at_the_close() {
    let cal = spring_festival();
    assert_eq!(cal.add(sh(2, 5, 9, 0), &hours(9)), Some(sh(2, 5, 18, 0)));
    let a_second_more = BusinessDuration::Open(TimeDelta::hours(9) + TimeDelta::seconds(1));
    let next = sh(2, 15, 9, 0) + TimeDelta::seconds(1);
    assert_eq!(cal.add(sh(2, 5, 9, 0), &a_second_more), Some(next));
    assert_eq!(cal.add(sh(2, 6, 12, 0), &hours(0)), Some(sh(2, 15, 9, 0)));
}

/// Monday–Friday 09:00–18:00 in UTC; 2027-03-05 is a Friday.
fn office() -> Calendar {
    calendar(draft("", &MON_FRI, Some(("09:00", "18:00")), &[], &[]))
}

fn utc(d: u32, h: u32, min: u32) -> DateTime<Utc> {
    local(chrono_tz::UTC, (2027, 3, d), (h, min))
}

#[test]
fn workdays_count_from_the_day_after_the_start() {
    let cal = office();
    let three = BusinessDuration::Workdays(3);
    assert_eq!(cal.add(utc(5, 10, 0), &three), Some(utc(10, 18, 0)));
    assert_eq!(cal.add(utc(5, 7, 0), &three), Some(utc(10, 18, 0)));
    let zero = BusinessDuration::Workdays(0);
    assert_eq!(cal.add(utc(5, 10, 0), &zero), Some(utc(5, 18, 0)));
}

#[test]
fn start_after_hours_counts_from_the_next_opening() {
    let cal = office();
    let three = BusinessDuration::Workdays(3);
    for start in [utc(5, 18, 0), utc(5, 20, 0), utc(6, 12, 0), utc(8, 8, 59)] {
        assert_eq!(cal.add(start, &three), Some(utc(11, 18, 0)), "from {start}");
    }
    let zero = BusinessDuration::Workdays(0);
    assert_eq!(cal.add(utc(6, 12, 0), &zero), Some(utc(8, 18, 0)));
}

#[test]
fn warn_before_in_business_hours_walks_back_over_the_holiday() {
    let cal = spring_festival();
    let deadline = sh(2, 17, 18, 0);
    assert_eq!(cal.sub(deadline, &hours(4)), Some(sh(2, 17, 14, 0)));
    assert_eq!(cal.sub(deadline, &hours(10)), Some(sh(2, 16, 17, 0)));
    assert_eq!(cal.sub(deadline, &hours(27)), Some(sh(2, 15, 9, 0)));
    assert_eq!(cal.sub(deadline, &hours(28)), Some(sh(2, 5, 17, 0)));
    assert_eq!(cal.sub(sh(2, 10, 12, 0), &hours(0)), Some(sh(2, 5, 18, 0)));
}

#[test]
fn warn_before_in_workdays_is_the_same_local_time_earlier() {
    let cal = spring_festival();
    let deadline = sh(2, 17, 18, 0);
    let workdays = |n| cal.sub(deadline, &BusinessDuration::Workdays(n));
    assert_eq!(workdays(0), Some(deadline));
    assert_eq!(workdays(1), Some(sh(2, 16, 18, 0)));
    assert_eq!(workdays(3), Some(sh(2, 5, 18, 0)), "the holiday is skipped");
    let two = BusinessDuration::Workdays(2);
    assert_eq!(cal.sub(sh(2, 17, 14, 0), &two), Some(sh(2, 15, 14, 0)));
    assert_eq!(cal.sub(sh(2, 14, 12, 0), &two), Some(sh(2, 3, 18, 0)));
}

#[test]
fn a_window_across_the_new_york_clock_changes_opens_and_closes_sensibly() {
    let cal = calendar(draft(
        "America/New_York",
        &EVERY_DAY,
        Some(("01:30", "03:00")),
        &[],
        &[],
    ));
    let utc_at = |m, d, h, min| local(chrono_tz::UTC, (2027, m, d), (h, min));
    let spring = cal.interval_of(date(2027, 3, 14)).expect("open");
    assert_eq!(
        (spring.open, spring.close),
        (utc_at(3, 14, 6, 30), utc_at(3, 14, 7, 0))
    );
    // 01:30 shows twice on 2027-11-07: open at the first (EDT), close at 03:00 EST.
    let fall = cal.interval_of(date(2027, 11, 7)).expect("open");
    assert_eq!(
        (fall.open, fall.close),
        (utc_at(11, 7, 5, 30), utc_at(11, 7, 8, 0))
    );
    let skipped = calendar(draft(
        "America/New_York",
        &EVERY_DAY,
        Some(("02:00", "02:30")),
        &[],
        &[],
    ));
    assert_eq!(
        skipped.interval_of(date(2027, 3, 14)),
        None,
        "02:00–03:00 never shows"
    );
    let late = calendar(draft(
        "America/New_York",
        &EVERY_DAY,
        Some(("02:30", "04:00")),
        &[],
        &[],
    ));
    let jump = late.interval_of(date(2027, 3, 14)).expect("open");
    assert_eq!(
        (jump.open, jump.close),
        (utc_at(3, 14, 7, 0), utc_at(3, 14, 8, 0))
    );
}

#[test]
fn whole_day_calendars_count_23_and_25_hour_days_in_new_york() {
    let cal = calendar(draft("America/New_York", &EVERY_DAY, None, &[], &[]));
    let length = |m, d| cal.interval_of(date(2027, m, d)).map(|i| i.length());
    assert_eq!(length(3, 14), Some(TimeDelta::hours(23)));
    assert_eq!(length(3, 15), Some(TimeDelta::hours(24)));
    assert_eq!(length(11, 7), Some(TimeDelta::hours(25)));
    let saturday = local(NEW_YORK, (2027, 3, 13), (0, 0));
    let due = cal.add(saturday, &hours(48));
    assert_eq!(due, Some(local(NEW_YORK, (2027, 3, 15), (1, 0))));
    assert_eq!(
        due,
        Some(saturday + TimeDelta::hours(48)),
        "open time is wall time"
    );
}

#[test]
fn havana_days_start_after_the_midnight_jump() {
    // Cuba moves its clocks at midnight: 2027-03-14 starts at 01:00, 00:00 never shows.
    let cal = calendar(draft("America/Havana", &EVERY_DAY, None, &[], &[]));
    let tz = chrono_tz::America::Havana;
    let spring = cal.interval_of(date(2027, 3, 14)).expect("open");
    assert_eq!(spring.open, local(tz, (2027, 3, 14), (1, 0)));
    assert_eq!(spring.length(), TimeDelta::hours(23));
    let eve = cal.interval_of(date(2027, 3, 13)).expect("open");
    assert_eq!(
        eve.close, spring.open,
        "days follow each other without gap or overlap"
    );
    let fall = cal.interval_of(date(2027, 11, 7)).expect("open");
    assert_eq!(fall.length(), TimeDelta::hours(25));
}

#[test]
fn berlin_business_hours_skip_the_weekend_of_the_clock_change() {
    let cal = calendar(draft(
        "Europe/Berlin",
        &MON_FRI,
        Some(("09:00", "18:00")),
        &[],
        &[],
    ));
    let friday = local(BERLIN, (2027, 3, 26), (17, 0));
    let monday = local(BERLIN, (2027, 3, 29), (10, 0));
    assert_eq!(cal.add(friday, &hours(2)), Some(monday));
    assert_eq!(monday, local(chrono_tz::UTC, (2027, 3, 29), (8, 0)), "CEST");
}

#[test]
fn business_hours_stay_nine_hours_every_day_in_new_york_and_berlin() {
    for zone in ["America/New_York", "Europe/Berlin"] {
        let cal = calendar(draft(zone, &EVERY_DAY, Some(("09:00", "18:00")), &[], &[]));
        let tz = cal.timezone();
        let intervals = cal.open_intervals(local(tz, (2026, 1, 1), (0, 0)));
        let mut days = 0;
        for interval in intervals.take_while(|i| i.day.year() < 2029) {
            assert_eq!(
                interval.length(),
                TimeDelta::hours(9),
                "{zone} {}",
                interval.day
            );
            let opens = interval.open.with_timezone(&tz).time();
            assert_eq!(opens, NaiveTime::from_hms_opt(9, 0, 0).expect("time"));
            days += 1;
        }
        assert_eq!(days, 365 * 3 + 1, "every day of 2026..=2028 is open once");
    }
}

#[test]
fn no_open_time_within_the_horizon_is_none() {
    let cal = calendar(draft("", &[1], None, &["2027-01-01..2040-12-31"], &[]));
    let start = local(chrono_tz::UTC, (2027, 1, 1), (0, 0));
    assert_eq!(cal.add(start, &hours(1)), None);
    assert_eq!(cal.add(start, &BusinessDuration::Workdays(1)), None);
    let after = local(chrono_tz::UTC, (2039, 6, 1), (0, 0));
    assert_eq!(cal.sub(after, &hours(1)), None);
    let before = local(chrono_tz::UTC, (2026, 12, 28), (0, 0));
    assert_eq!(
        cal.add(before, &hours(1)),
        Some(before + TimeDelta::hours(1))
    );
}

#[test]
fn wall_durations_ignore_the_calendar() {
    let cal = spring_festival();
    let wall = BusinessDuration::Wall(TimeDelta::days(3));
    assert_eq!(cal.add(sh(2, 5, 15, 0), &wall), Some(sh(2, 8, 15, 0)));
    assert_eq!(cal.sub(sh(2, 8, 15, 0), &wall), Some(sh(2, 5, 15, 0)));
}

#[test]
fn opening_is_open_and_close_is_not() {
    let cal = office();
    assert!(cal.is_open(utc(5, 9, 0)));
    assert!(cal.is_open(utc(5, 17, 59)));
    assert!(!cal.is_open(utc(5, 18, 0)));
    assert!(!cal.is_open(utc(6, 12, 0)));
}

pub(super) fn rejected(draft: &CalendarDraft) -> Vec<String> {
    let mut v = Validator::new();
    v.nested("calendar.", |v| Calendar::parse(v, draft));
    v.rejected_fields()
}

#[test]
fn validation_reports_every_bad_field_with_its_path() {
    let bad = draft(
        "Mars/Olympus",
        &[0, 8],
        Some(("18:00", "09:00")),
        &[
            "2027-02-06..2027-02-12",
            "2027-02-12..2027-02-06",
            "soon",
            "1899-12-31",
        ],
        &["2027-02-07"],
    );
    let fields = rejected(&bad);
    assert_eq!(
        fields,
        [
            "calendar.timezone",
            "calendar.workdays[0]",
            "calendar.workdays[1]",
            "calendar.business_hours",
            "calendar.holidays[1]",
            "calendar.holidays[2]",
            "calendar.holidays[3]",
            "calendar.make_up_workdays[0]",
        ]
    );
}

#[test]
fn validation_refuses_calendars_that_are_never_open_and_bad_times() {
    assert_eq!(
        rejected(&draft("", &[], None, &[], &[])),
        ["calendar.workdays"]
    );
    assert!(rejected(&draft("", &[], None, &[], &["2027-02-20"])).is_empty());
    let times = draft("", &MON_FRI, Some(("9am", "24:00")), &[], &[]);
    assert_eq!(
        rejected(&times),
        [
            "calendar.business_hours.start",
            "calendar.business_hours.end"
        ]
    );
    let many: Vec<String> = (0..=MAX_CALENDAR_RANGES)
        .map(|_| "2027-01-01".into())
        .collect();
    let crowded = CalendarDraft {
        holidays: many,
        ..draft("", &MON_FRI, None, &[], &[])
    };
    assert_eq!(rejected(&crowded), ["calendar.holidays"]);
}

#[test]
fn holidays_are_merged_and_sorted() {
    let cal = calendar(draft(
        "",
        &MON_FRI,
        None,
        &[
            "2027-02-09",
            "2027-02-06..2027-02-08",
            "2027-02-07",
            "2026-10-01..2026-10-07",
        ],
        &[],
    ));
    let holidays: Vec<String> = cal.holidays().iter().map(ToString::to_string).collect();
    assert_eq!(
        holidays,
        ["2026-10-01..2026-10-07", "2027-02-06..2027-02-09"]
    );
}

#[test]
fn stored_json_is_the_draft_and_is_validated_on_read() {
    let cal = spring_festival();
    let json = serde_json::to_value(&cal).expect("serializes");
    let expected = serde_json::json!({
        "timezone": "Asia/Shanghai",
        "workdays": [1, 2, 3, 4, 5],
        "business_hours": {"start": "09:00", "end": "18:00"},
        "holidays": ["2027-02-06..2027-02-12"],
        "make_up_workdays": ["2027-01-31", "2027-02-20"],
    });
    assert_eq!(json, expected);
    let read: Calendar = serde_json::from_value(json).expect("reads back");
    assert_eq!(read, cal);
    let reversed =
        serde_json::json!({"workdays": [1], "business_hours": {"start": "18:00", "end": "09:00"}});
    assert!(serde_json::from_value::<Calendar>(reversed).is_err());
    let duration = serde_json::to_value(BusinessDuration::Workdays(3)).expect("serializes");
    assert_eq!(duration, serde_json::json!({"workdays": 3}));
}
