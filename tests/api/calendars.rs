//! CalendarService: a tenant's business calendars, and pools naming them.

use leadpool::proto;
use tonic_types::StatusExt;

use crate::fixtures;
use crate::harness::{Caller, TestApp, assert_error};

#[tokio::test]
async fn admins_keep_calendars_that_everyone_of_the_tenant_reads() {
    let app = TestApp::spawn().await;
    let admin = app.as_admin();
    let created = admin.create_calendar(fixtures::spring_festival()).await;
    assert_eq!(created.name, "中国大陆 2027");
    assert_eq!(created.workdays, [1, 2, 3, 4, 5]);
    assert_eq!(created.holidays, ["2027-01-01", "2027-02-06..2027-02-12"]);
    assert_eq!(created.make_up_workdays, ["2027-02-20"]);
    assert_eq!(created.version, 1);

    let alice = app.as_member("alice");
    assert_eq!(alice.get_calendar(&created.id).await, created);
    let before = app.fingerprint().await;
    assert_error(
        alice.try_create_calendar(fixtures::spring_festival()).await,
        "ADMIN_REQUIRED",
    );
    assert_error(
        alice.try_delete_calendar(&created.id).await,
        "ADMIN_REQUIRED",
    );
    assert_error(
        admin.try_create_calendar(fixtures::spring_festival()).await,
        "CALENDAR_NAME_TAKEN",
    );
    let stranger = app.as_caller(Caller::admin("another-tenant"));
    assert_error(
        stranger.try_get_calendar(&created.id).await,
        "CALENDAR_NOT_FOUND",
    );
    assert_eq!(app.fingerprint().await, before, "refusals change nothing");

    let mut weekend = fixtures::spring_festival();
    weekend.name = "Weekend shift".into();
    weekend.workdays = vec![6, 7];
    weekend.business_hours = None;
    weekend.make_up_workdays = vec![];
    admin.create_calendar(weekend).await;
    let first = alice.list_calendars(1, String::new()).await;
    assert_eq!(first.calendars[0].name, "Weekend shift", "by name");
    let second = alice.list_calendars(1, first.next_page_token).await;
    assert_eq!(second.calendars[0].name, "中国大陆 2027");
    assert!(second.next_page_token.is_empty());
}

#[tokio::test]
async fn an_update_changes_the_masked_fields_and_keeps_the_calendar_valid() {
    let app = TestApp::spawn().await;
    let admin = app.as_admin();
    let created = admin.create_calendar(fixtures::spring_festival()).await;
    let patch = proto::Calendar {
        id: created.id.clone(),
        holidays: vec!["2027-10-01..2027-10-07".into()],
        workdays: vec![9], // not in the mask: ignored
        ..Default::default()
    };
    let updated = admin.update_calendar(patch, &["holidays"]).await;
    assert_eq!(updated.holidays, ["2027-10-01..2027-10-07"]);
    assert_eq!(updated.workdays, created.workdays);
    assert_eq!(updated.version, 2);

    // A make-up day on a holiday is refused, whichever list the change touched.
    let clash = proto::Calendar {
        id: created.id.clone(),
        make_up_workdays: vec!["2027-10-02".into()],
        ..Default::default()
    };
    let fields = app
        .invalid_fields(admin.try_update_calendar(clash, &["make_up_workdays"]))
        .await;
    assert_eq!(fields, ["calendar.make_up_workdays[0]"]);
    let clash = proto::Calendar {
        id: created.id.clone(),
        holidays: vec!["2027-01-01".into(), "2027-02-19..2027-02-21".into()],
        ..Default::default()
    };
    let fields = app
        .invalid_fields(admin.try_update_calendar(clash, &["holidays"]))
        .await;
    assert_eq!(
        fields,
        ["calendar.holidays[1]"],
        "the list the change touched"
    );
    let unknown = proto::Calendar {
        id: uuid::Uuid::now_v7().to_string(),
        name: "x".into(),
        ..Default::default()
    };
    assert_error(
        admin.try_update_calendar(unknown, &["name"]).await,
        "CALENDAR_NOT_FOUND",
    );
}

#[tokio::test]
async fn an_update_is_validated_as_the_calendar_it_makes() {
    let app = TestApp::spawn().await;
    let admin = app.as_admin();
    let created = admin.create_calendar(fixtures::spring_festival()).await;
    let id_only = || proto::Calendar {
        id: created.id.clone(),
        ..Default::default()
    };
    // No weekday is a workday any more; the stored make-up day keeps it open, as a created
    // calendar with the same fields would be.
    let updated = admin.update_calendar(id_only(), &["workdays"]).await;
    assert!(updated.workdays.is_empty());
    assert_eq!(updated.make_up_workdays, ["2027-02-20"]);
    let mut same = fixtures::spring_festival();
    (same.name, same.workdays) = ("Make-up days only".into(), vec![]);
    admin.create_calendar(same).await;

    // Emptying what keeps it open names the field the update changed.
    let fields = app
        .invalid_fields(admin.try_update_calendar(id_only(), &["make_up_workdays"]))
        .await;
    assert_eq!(fields, ["calendar.make_up_workdays"]);
    let both = &["workdays", "make_up_workdays"];
    let fields = app
        .invalid_fields(admin.try_update_calendar(id_only(), both))
        .await;
    assert_eq!(fields, ["calendar.workdays"]);
    assert_eq!(admin.get_calendar(&created.id).await, updated);
}

/// The fields a refused call's `BadRequest` names, each with its description.
fn violations(result: Result<proto::Calendar, tonic::Status>) -> Vec<(String, String)> {
    let status = result.expect_err("the call should fail");
    let details = status.get_error_details();
    let bad_request = details.bad_request().expect("BadRequest details");
    (bad_request.field_violations.iter())
        .map(|v| (v.field.clone(), v.description.clone()))
        .collect()
}

#[tokio::test]
async fn business_hours_are_hh_mm_to_the_minute() {
    let app = TestApp::spawn().await;
    let admin = app.as_admin();
    let with_hours = |name: &str, start: &str, end: &str| proto::Calendar {
        name: name.into(),
        business_hours: Some(proto::BusinessHours {
            start: start.into(),
            end: end.into(),
        }),
        ..fixtures::spring_festival()
    };
    let (start, end) = (
        "calendar.business_hours.start",
        "calendar.business_hours.end",
    );
    let cases: &[(&str, &str, &[&str])] = &[
        ("08:00:59", "23:00:30", &[start, end]),
        ("09:00", "23:59:59", &[end]),
        ("9:0", "18:0", &[start, end]),
        ("09:00:00", "18:00", &[start]),
        (" 09:00", "18:00 ", &[start, end]),
        ("09:00", "24:00", &[end]),
        ("-1:00", "23:60", &[start, end]),
        ("０９:００", "18:00", &[start]),
    ];
    for &(from, until, expected) in cases {
        let sent = with_hours("Bad hours", from, until);
        let fields = app.invalid_fields(admin.try_create_calendar(sent)).await;
        assert_eq!(fields, expected, "{from}–{until}");
    }
    let refused = admin.try_create_calendar(with_hours("x", "08:00:59", "18:00"));
    let (_, description) = &violations(refused.await)[0];
    assert!(description.contains("HH:MM"), "{description}");
    assert!(description.contains("\"08:00:59\""), "{description}");

    let created = admin
        .create_calendar(with_hours("Late", "00:00", "23:59"))
        .await;
    let hours = created.business_hours.clone().expect("hours");
    assert_eq!(
        (hours.start.as_str(), hours.end.as_str()),
        ("00:00", "23:59")
    );
    let mut patch = with_hours("", "09:00:30", "18:00");
    patch.id = created.id.clone();
    let fields = app
        .invalid_fields(admin.try_update_calendar(patch, &["business_hours"]))
        .await;
    assert_eq!(fields, [start]);
    assert_eq!(admin.get_calendar(&created.id).await, created);
}

#[tokio::test]
async fn every_bad_field_is_named_at_once_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let bad = proto::Calendar {
        name: "  ".into(),
        workdays: vec![1, 8],
        business_hours: Some(proto::BusinessHours {
            start: "18:00".into(),
            end: "09:00".into(),
        }),
        holidays: vec!["2027-02-30".into(), "2027-03-05..2027-03-01".into()],
        make_up_workdays: vec!["1066-10-14".into()],
        ..Default::default()
    };
    let fields = app
        .invalid_fields(app.as_admin().try_create_calendar(bad))
        .await;
    assert_eq!(
        fields,
        [
            "calendar.name",
            "calendar.workdays[1]",
            "calendar.business_hours",
            "calendar.holidays[0]",
            "calendar.holidays[1]",
            "calendar.make_up_workdays[0]",
        ]
    );
    let never_open = proto::Calendar {
        name: "Never".into(),
        ..Default::default()
    };
    let fields = app
        .invalid_fields(app.as_admin().try_create_calendar(never_open))
        .await;
    assert_eq!(fields, ["calendar.workdays"]);
}

#[tokio::test]
async fn a_calendar_a_pool_names_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.as_admin();
    let calendar = admin.create_calendar(fixtures::spring_festival()).await;
    let pool = fixtures::pool_with(
        &app,
        "Shanghai",
        proto::CreatePoolRequest {
            timezone: "Asia/Shanghai".into(),
            calendar_id: calendar.id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(pool.calendar_id, calendar.id);
    assert_eq!(admin.get_pool(&pool.id).await.calendar_id, calendar.id);

    let before = app.fingerprint().await;
    let in_use = assert_error(
        admin.try_delete_calendar(&calendar.id).await,
        "CALENDAR_IN_USE",
    );
    assert_eq!(in_use["calendar_id"], calendar.id);
    let unknown = uuid::Uuid::now_v7().to_string();
    let elsewhere = proto::CreatePoolRequest {
        name: "Elsewhere".into(),
        calendar_id: unknown.clone(),
        ..Default::default()
    };
    let missing = assert_error(admin.try_create_pool(elsewhere).await, "CALENDAR_NOT_FOUND");
    assert_eq!(missing["calendar_id"], unknown);
    assert_eq!(app.fingerprint().await, before);

    let wall_clock = proto::Pool {
        id: pool.id.clone(),
        ..Default::default()
    };
    let updated = admin.update_pool(wall_clock, &["calendar_id"]).await;
    assert_eq!(updated.pool.expect("pool").calendar_id, "");
    admin.delete_calendar(&calendar.id).await;
    assert_error(
        admin.try_delete_calendar(&calendar.id).await,
        "CALENDAR_NOT_FOUND",
    );
}
