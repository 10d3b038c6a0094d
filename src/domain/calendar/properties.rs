//! Property tests (shared/domain.md "Business time"): adding business time is monotone, lands
//! only in open time, skips holidays, honours make-up days and is correct across the
//! daylight-saving changes of New York, Berlin, Havana (at midnight) and Lord Howe (30 min).
//! Workdays are checked against an oracle that reads the draft's lists directly.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use proptest::collection::vec;
use proptest::prelude::{ProptestConfig, prop_assert, prop_assert_eq, prop_oneof, proptest};
use proptest::sample::select;
use proptest::strategy::Strategy;

use super::tests::{calendar, draft, local};
use super::*;

const ZONES: [Tz; 5] = [
    chrono_tz::America::New_York,
    chrono_tz::Europe::Berlin,
    chrono_tz::Asia::Shanghai,
    chrono_tz::America::Havana,
    chrono_tz::Australia::Lord_Howe,
];

/// Days around which the clocks change in New York, Berlin, Havana or Lord Howe.
const CHANGES: [(i32, u32, u32); 10] = [
    (2026, 3, 8),
    (2026, 3, 29),
    (2026, 10, 25),
    (2026, 11, 1),
    (2027, 3, 14),
    (2027, 3, 28),
    (2027, 4, 4),
    (2027, 10, 3),
    (2027, 10, 31),
    (2027, 11, 7),
];

fn base_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date")
}

fn nth_day(offset: i64) -> NaiveDate {
    base_date() + TimeDelta::days(offset)
}

/// Any calendar of the test zones, with its draft for the oracle: any non-empty week, whole
/// days or a window of at least two hours (so a clock change never empties a day), up to six
/// holiday ranges and six make-up days, none of them a holiday, in 2026–2028.
fn any_calendar() -> impl Strategy<Value = (CalendarDraft, Calendar)> {
    let window = proptest::option::of((0_u32..=40, 4_u32..=40));
    let holidays = vec((0_i64..1_050, 0_i64..10), 0..6);
    let make_ups = vec(0_i64..1_050, 0..6);
    (
        select(ZONES.to_vec()),
        1_u8..128,
        window,
        holidays,
        make_ups,
    )
        .prop_map(|(zone, week, window, holidays, make_ups)| {
            let workdays: Vec<i32> = (1..=7).filter(|d| week & (1 << (d - 1)) != 0).collect();
            let clock =
                |half_hours: u32| format!("{:02}:{:02}", half_hours / 2, half_hours % 2 * 30);
            let hours =
                window.map(|(start, length)| (clock(start), clock((start + length).min(47))));
            let holidays: Vec<DateRange> = (holidays.iter())
                .filter_map(|&(first, days)| DateRange::new(nth_day(first), nth_day(first + days)))
                .collect();
            let make_ups: Vec<String> = (make_ups.into_iter().map(nth_day))
                .filter(|day| !holidays.iter().any(|h| h.contains(*day)))
                .map(|day| day.to_string())
                .collect();
            let holidays: Vec<String> = holidays.iter().map(ToString::to_string).collect();
            let hours = hours.as_ref().map(|(s, e)| (s.as_str(), e.as_str()));
            let draft = draft(
                zone.name(),
                &workdays,
                hours,
                &as_strs(&holidays),
                &as_strs(&make_ups),
            );
            (draft.clone(), calendar(draft))
        })
}

fn as_strs(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

/// An instant in 2026–2028, half the time within two days of a clock change.
fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let from = local(chrono_tz::UTC, (2026, 1, 1), (0, 0)).timestamp();
    let to = local(chrono_tz::UTC, (2028, 12, 1), (0, 0)).timestamp();
    let near_change = (select(CHANGES.to_vec()), -172_800_i64..172_800)
        .prop_map(|(day, seconds)| local(chrono_tz::UTC, day, (0, 0)).timestamp() + seconds);
    prop_oneof![from..to, near_change]
        .prop_map(|seconds| DateTime::from_timestamp(seconds, 0).expect("in range"))
}

/// Two durations of one kind, the first not longer: open time up to five whole days, or up to
/// ten workdays.
fn two_durations() -> impl Strategy<Value = (BusinessDuration, BusinessDuration)> {
    let open = (0_i64..432_000, 0_i64..432_000).prop_map(|(a, b)| {
        let open = |s| BusinessDuration::Open(TimeDelta::seconds(s));
        (open(a.min(b)), open(a.max(b)))
    });
    let workdays = (0_u32..=10, 0_u32..=10).prop_map(|(a, b)| {
        (
            BusinessDuration::Workdays(a.min(b)),
            BusinessDuration::Workdays(a.max(b)),
        )
    });
    prop_oneof![open, workdays]
}

/// Whether `date` is a workday, read straight off the draft's lists.
fn oracle_workday(draft: &CalendarDraft, date: NaiveDate) -> bool {
    let listed = |texts: &[String]| {
        (texts.iter()).any(|t| {
            t.parse::<DateRange>()
                .is_ok_and(|range| range.contains(date))
        })
    };
    let weekday = date.weekday().number_from_monday() as i32;
    !listed(&draft.holidays)
        && (listed(&draft.make_up_workdays) || draft.workdays.contains(&weekday))
}

fn local_date(cal: &Calendar, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&cal.timezone()).date_naive()
}

/// Whether `at` is in open time or ends an interval: some interval has `open ≤ at ≤ close`,
/// and the oracle agrees that the local date of `at` (or of the instant before) is a workday.
fn open_or_at_close(draft: &CalendarDraft, cal: &Calendar, at: DateTime<Utc>) -> bool {
    let in_interval = (cal.open_intervals_before(at).next()).is_some_and(|i| i.close == at);
    let before = at - TimeDelta::nanoseconds(1);
    in_interval
        && (oracle_workday(draft, local_date(cal, at))
            || oracle_workday(draft, local_date(cal, before)))
}

/// Open time in `[from, to)`.
fn open_time_between(cal: &Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
    (cal.open_intervals(from).take_while(|i| i.open < to))
        .map(|i| i.close.min(to) - i.open)
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn add_is_monotone_in_the_start(
        (_, cal) in any_calendar(), a in any_instant(), b in any_instant(), (d, _) in two_durations(),
    ) {
        let (early, late) = (a.min(b), a.max(b));
        let (due_early, due_late) = (cal.add(early, &d), cal.add(late, &d));
        prop_assert!(due_early.is_some() && due_early <= due_late, "{due_early:?} {due_late:?}");
    }

    #[test]
    fn add_is_monotone_in_the_duration(
        (_, cal) in any_calendar(), start in any_instant(), (short, long) in two_durations(),
    ) {
        let (sooner, later) = (cal.add(start, &short), cal.add(start, &long));
        prop_assert!(sooner.is_some() && sooner <= later, "{sooner:?} {later:?}");
        prop_assert!(sooner >= Some(start));
    }

    #[test]
    fn add_lands_in_open_time_or_at_a_close(
        (draft, cal) in any_calendar(), start in any_instant(), (d, _) in two_durations(),
    ) {
        let due = cal.add(start, &d).expect("open time ahead");
        prop_assert!(open_or_at_close(&draft, &cal, due), "{due}");
    }

    #[test]
    fn open_time_added_is_spent_exactly(
        (_, cal) in any_calendar(), start in any_instant(), seconds in 0_i64..432_000,
    ) {
        let amount = TimeDelta::seconds(seconds);
        let due = cal.add(start, &BusinessDuration::Open(amount)).expect("open time ahead");
        prop_assert_eq!(open_time_between(&cal, start, due), amount);
    }

    #[test]
    fn holidays_are_skipped_and_make_up_days_counted(
        (draft, cal) in any_calendar(), start in any_instant(),
    ) {
        let intervals: Vec<OpenInterval> = cal.open_intervals(start).take(21).collect();
        for pair in intervals.windows(2) {
            prop_assert!(pair[0].close <= pair[1].open, "{pair:?}");
        }
        for i in &intervals {
            prop_assert!(i.open < i.close && oracle_workday(&draft, i.day), "{i:?}");
            prop_assert_eq!(local_date(&cal, i.open), i.day);
            prop_assert_eq!(local_date(&cal, i.close - TimeDelta::nanoseconds(1)), i.day);
        }
        let (first, last) = (intervals[0].day, intervals[intervals.len() - 1].day);
        let days = first.iter_days().take_while(|d| *d <= last);
        let workdays = days.filter(|d| oracle_workday(&draft, *d)).count();
        prop_assert_eq!(workdays, intervals.len(), "every workday is open, once");
    }

    #[test]
    fn workdays_end_at_the_close_of_the_nth_workday_after(
        (draft, cal) in any_calendar(), start in any_instant(), n in 0_u32..=10,
    ) {
        let due = cal.add(start, &BusinessDuration::Workdays(n)).expect("open time ahead");
        let business_day = cal.open_intervals(start).next().expect("open").day;
        // Skips the empty interval of the next day when `due` is also its opening.
        let due_day = (cal.open_intervals_before(due))
            .find(|i| i.length() > TimeDelta::zero())
            .expect("open");
        prop_assert_eq!(due_day.close, due, "a close");
        let after = business_day.iter_days().skip(1).take_while(|d| *d <= due_day.day);
        prop_assert_eq!(after.filter(|d| oracle_workday(&draft, *d)).count(), n as usize);
    }

    #[test]
    fn sub_undoes_add_from_open_time(
        (_, cal) in any_calendar(), start in any_instant(), share in 0.0_f64..1.0, seconds in 0_i64..432_000,
    ) {
        let interval = cal.open_intervals(start).next().expect("open time ahead");
        let into = (interval.length().num_seconds() as f64 * share) as i64;
        let from = interval.open + TimeDelta::seconds(into);
        let amount = BusinessDuration::Open(TimeDelta::seconds(seconds));
        let due = cal.add(from, &amount).expect("open time ahead");
        prop_assert_eq!(cal.sub(due, &amount), Some(from));
    }

    #[test]
    fn sub_is_monotone_and_lands_in_open_time_or_at_a_close(
        (draft, cal) in any_calendar(), a in any_instant(), b in any_instant(), (short, long) in two_durations(),
    ) {
        let (early, late) = (a.min(b), a.max(b));
        let warn = |at, d| cal.sub(at, d).expect("open time before");
        prop_assert!(warn(early, &short) <= warn(late, &short));
        prop_assert!(warn(late, &long) <= warn(late, &short));
        prop_assert!(warn(late, &short) <= late);
        prop_assert!(open_or_at_close(&draft, &cal, warn(late, &long)));
    }

    #[test]
    fn whole_days_every_day_count_wall_time(
        zone in select(ZONES.to_vec()), start in any_instant(), seconds in 0_i64..864_000,
    ) {
        let cal = calendar(draft(zone.name(), &[1, 2, 3, 4, 5, 6, 7], None, &[], &[]));
        let amount = TimeDelta::seconds(seconds);
        prop_assert_eq!(cal.add(start, &BusinessDuration::Open(amount)), Some(start + amount));
        prop_assert_eq!(cal.sub(start, &BusinessDuration::Open(amount)), Some(start - amount));
    }

    #[test]
    fn nine_to_six_is_nine_hours_across_new_york_and_berlin_changes(
        zone in select(vec![chrono_tz::America::New_York, chrono_tz::Europe::Berlin]),
        change in select(CHANGES.to_vec()), offset in -3_i64..3, k in 1_i64..=10,
    ) {
        let cal = calendar(draft(zone.name(), &[1, 2, 3, 4, 5, 6, 7], Some(("09:00", "18:00")), &[], &[]));
        let day = NaiveDate::from_ymd_opt(change.0, change.1, change.2).expect("date") + TimeDelta::days(offset);
        let at = |date: NaiveDate, hour| local(zone, (date.year(), date.month(), date.day()), (hour, 0));
        let due_day = day + TimeDelta::days(k - 1);
        let nine_hours = BusinessDuration::Open(TimeDelta::hours(9 * k));
        prop_assert_eq!(cal.add(at(day, 9), &nine_hours), Some(at(due_day, 18)));
        let workdays = BusinessDuration::Workdays(u32::try_from(k).expect("small"));
        prop_assert_eq!(cal.add(at(day, 12), &workdays), Some(at(day + TimeDelta::days(k), 18)));
        prop_assert_eq!(cal.sub(at(due_day, 18), &nine_hours), Some(at(day, 9)));
    }

    #[test]
    fn stored_form_reads_back_equal((_, cal) in any_calendar()) {
        let json = serde_json::to_string(&cal).expect("serializes");
        let read: Calendar = serde_json::from_str(&json).expect("reads back");
        prop_assert_eq!(&read, &cal);
        let parsed_again = Calendar::try_from(CalendarDraft::from(cal.clone())).expect("valid");
        prop_assert_eq!(parsed_again, cal);
    }
}
