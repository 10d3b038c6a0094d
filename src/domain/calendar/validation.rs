//! Validation of calendars as sent, as stored and as an update makes them: clock times are
//! `HH:MM`, and a rule between fields names the field the caller changed.

use chrono::{DateTime, NaiveTime, Utc};
use uuid::Uuid;

use super::tests::{draft, rejected};
use super::*;
use crate::domain::validate::Validator;

const MON_FRI: [i32; 5] = [1, 2, 3, 4, 5];

fn hours(start: &str, end: &str) -> CalendarDraft {
    draft("", &MON_FRI, Some((start, end)), &[], &[])
}

fn named(draft: CalendarDraft) -> NamedCalendar {
    NamedCalendar {
        id: Uuid::nil(),
        name: "Stored".to_owned(),
        calendar: Calendar::try_from(draft).expect("a valid stored calendar"),
        version: 1,
        created_at: DateTime::<Utc>::UNIX_EPOCH,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
    }
}

/// The fields an update of `stored` names when it refuses it.
fn refused_update(stored: &NamedCalendar, patch: &CalendarDraft, mask: &[&str]) -> Vec<String> {
    let mask: Vec<String> = mask.iter().map(|p| (*p).to_owned()).collect();
    let refused = stored.updated("Stored", patch, &mask).expect_err("refused");
    (refused.field_violations().iter())
        .map(|v| v.field.clone())
        .collect()
}

#[test]
fn clock_times_are_two_digits_a_colon_and_two_digits() {
    let (start, end) = (
        "calendar.business_hours.start",
        "calendar.business_hours.end",
    );
    assert!(rejected(&hours("00:00", "23:59")).is_empty());
    assert_eq!(rejected(&hours("08:00:59", "23:00:30")), [start, end]);
    assert_eq!(rejected(&hours("09:00", "23:59:59")), [end]);
    assert_eq!(rejected(&hours("9:0", "18:0")), [start, end]);
    assert_eq!(rejected(&hours("09:00:00", " 18:00")), [start, end]);
    assert_eq!(rejected(&hours("9:00", "24:00")), [start, end]);
    assert_eq!(rejected(&hours("+9:00", "23:5٩")), [start, end]);
}

#[test]
fn a_stored_calendar_keeps_the_seconds_it_was_accepted_with() {
    // Requests could carry seconds before clock times were `HH:MM`; such rows still read.
    let stored = named(hours("08:00:59", "23:59:59"));
    let open = stored.calendar.business_hours().expect("hours");
    let at = |h, m, s| NaiveTime::from_hms_opt(h, m, s).expect("a time");
    assert_eq!((open.start(), open.end()), (at(8, 0, 59), at(23, 59, 59)));
    // An update that does not touch them keeps them; one that sends them again is refused.
    let patch = draft("", &[], None, &["2027-10-01"], &[]);
    let updated = stored.updated("Stored", &patch, &["holidays".to_owned()]);
    assert_eq!(
        updated.expect("valid").calendar.business_hours(),
        Some(open)
    );
    let again = CalendarDraft::from(stored.calendar.clone());
    let fields = refused_update(&stored, &again, &["business_hours"]);
    assert_eq!(
        fields,
        [
            "calendar.business_hours.start",
            "calendar.business_hours.end"
        ]
    );
}

#[test]
fn a_patch_is_checked_field_by_field_and_the_result_as_a_whole() {
    // Alone, a patch of `workdays: []` looks never open; merged it keeps the make-up day.
    let mut v = Validator::new();
    v.nested("calendar.", |v| {
        Calendar::check_fields(v, &draft("", &[], None, &[], &[]))
    });
    assert!(v.rejected_fields().is_empty());
    let stored = named(draft("", &MON_FRI, None, &[], &["2027-02-20"]));
    let patch = draft("", &[], None, &[], &[]);
    let updated = stored.updated("Stored", &patch, &["workdays".to_owned()]);
    assert!(
        updated
            .expect("open on make-up days")
            .calendar
            .workdays()
            .is_empty()
    );
}

#[test]
fn a_rule_between_fields_names_the_field_the_update_changed() {
    let make_ups_only = named(draft("", &[], None, &[], &["2027-02-20"]));
    let cleared = draft("", &[], None, &[], &[]);
    let fields = refused_update(&make_ups_only, &cleared, &["make_up_workdays"]);
    assert_eq!(fields, ["calendar.make_up_workdays"]);
    let both = refused_update(&make_ups_only, &cleared, &["workdays", "make_up_workdays"]);
    assert_eq!(both, ["calendar.workdays"]);

    let holiday = draft(
        "",
        &[],
        None,
        &["2027-01-01", "2027-02-19..2027-02-21"],
        &[],
    );
    let fields = refused_update(&make_ups_only, &holiday, &["holidays"]);
    assert_eq!(fields, ["calendar.holidays[1]"]);
    let make_up = draft("", &[], None, &[], &["2027-02-20", "2027-01-01"]);
    let stored = named(draft("", &MON_FRI, None, &["2027-01-01"], &[]));
    let fields = refused_update(&stored, &make_up, &["make_up_workdays"]);
    assert_eq!(fields, ["calendar.make_up_workdays[1]"]);
}
