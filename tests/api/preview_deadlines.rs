//! PreviewDeadlines: a manager sees, per member and day, how owned leads would fall due under a
//! proposed calendar or rule change, and the figures match what applying the change does.

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;
use leadpool::proto;
use leadpool::proto::preview_deadlines_request::Change;

use crate::business_deadlines::{follow_up_pool, shanghai, workdays};
use crate::caller::{Client, Services};
use crate::fixtures;
use crate::harness::{TestApp, assert_error, bad_fields};

async fn preview(
    who: &Client,
    pool_id: &str,
    change: Change,
) -> Result<proto::PreviewDeadlinesResponse, tonic::Status> {
    let request = proto::PreviewDeadlinesRequest {
        pool_id: pool_id.into(),
        change: Some(change),
        ..Default::default()
    };
    who.calendars()
        .preview_deadlines(who.req(request))
        .await
        .map(tonic::Response::into_inner)
}

/// The Spring Festival calendar with two more days off, the 3rd and 4th of February.
fn two_more_days_off(calendar_id: &str) -> proto::UpdateCalendarRequest {
    let mut calendar = fixtures::spring_festival();
    calendar.id = calendar_id.into();
    calendar.holidays.push("2027-02-03..2027-02-04".into());
    proto::UpdateCalendarRequest {
        calendar: Some(calendar),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["holidays".into()],
        }),
        ..Default::default()
    }
}

/// The pool's follow-up rule made one workday.
fn one_workday(pool_id: &str) -> proto::UpdatePoolRequest {
    proto::UpdatePoolRequest {
        pool: Some(proto::Pool {
            id: pool_id.into(),
            follow_up_business_time: workdays(1),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["follow_up_business_time".into()],
        }),
        ..Default::default()
    }
}

fn days(response: &proto::PreviewDeadlinesResponse) -> Vec<(&str, &str, i32, i32)> {
    response
        .days
        .iter()
        .map(|d| {
            (
                d.date.as_str(),
                d.user_id.as_str(),
                d.due_now,
                d.due_with_change,
            )
        })
        .collect()
}

fn local_day(at: Option<prost_types::Timestamp>) -> String {
    let at = at.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, 0));
    at.expect("a deadline")
        .with_timezone(&Shanghai)
        .date_naive()
        .to_string()
}

#[tokio::test]
async fn a_calendar_change_is_previewed_per_member_and_day_and_matches_applying_it() {
    let app = TestApp::spawn().await;
    let pool = follow_up_pool(&app, 3).await;
    app.clock.set(shanghai(2027, 2, 1, 10, 0)); // Monday: due Thursday the 4th
    fixtures::held_leads(&app, &pool.id, "alice", 2).await;
    let bobs = fixtures::held_leads(&app, &pool.id, "bob", 1).await;
    let calendar_id = app.as_admin().get_pool(&pool.id).await.calendar_id;

    let before = app.fingerprint().await;
    let change = Change::CalendarChange(two_more_days_off(&calendar_id));
    let previewed = preview(&app.as_member("mia"), &pool.id, change)
        .await
        .expect("a preview");
    assert_eq!(app.fingerprint().await, before, "a preview keeps nothing");
    // A holiday over the stored make-up day clashes only once merged with the stored calendar;
    // named by its path in this request, the list the change touched.
    let mut clash = two_more_days_off(&calendar_id);
    let proposed = clash.calendar.as_mut().unwrap();
    proposed.holidays = vec!["2027-02-06..2027-02-20".into()];
    proposed.make_up_workdays.clear();
    let refused = preview(
        &app.as_member("mia"),
        &pool.id,
        Change::CalendarChange(clash),
    )
    .await;
    assert_eq!(
        bad_fields(refused),
        ["calendar_change.calendar.holidays[0]"]
    );
    assert_eq!(app.fingerprint().await, before);
    // Tue 2nd, Fri 5th, then the holiday week: the third workday is Monday the 15th.
    assert_eq!(
        days(&previewed),
        [
            ("2027-02-04", "alice", 2, 0),
            ("2027-02-04", "bob", 1, 0),
            ("2027-02-15", "alice", 0, 2),
            ("2027-02-15", "bob", 0, 1),
        ]
    );
    assert_eq!(
        (previewed.changed_leads, previewed.timezone.as_str()),
        (3, "Asia/Shanghai")
    );

    let mut applied = two_more_days_off(&calendar_id);
    applied.reschedule_owned = true;
    app.as_admin()
        .calendars()
        .update_calendar(app.as_admin().req(applied))
        .await
        .expect("the change applied");
    let bobs_lead = app.as_admin().get_lead(&bobs[0]).await;
    assert_eq!(local_day(bobs_lead.follow_up_deadline), "2027-02-15");
}

#[tokio::test]
async fn a_rule_change_is_previewed_and_bad_previews_are_refused() {
    let app = TestApp::spawn().await;
    let pool = follow_up_pool(&app, 3).await;
    app.clock.set(shanghai(2027, 2, 1, 10, 0));
    fixtures::held_leads(&app, &pool.id, "alice", 1).await;
    let mia = app.as_member("mia");
    let previewed = preview(&mia, &pool.id, Change::PoolChange(one_workday(&pool.id)))
        .await
        .expect("a preview");
    assert_eq!(
        days(&previewed),
        [("2027-02-02", "alice", 0, 1), ("2027-02-04", "alice", 1, 0)]
    );

    let before = app.fingerprint().await;
    let other_pool = Change::PoolChange(one_workday(&uuid::Uuid::now_v7().to_string()));
    let fields = bad_fields(preview(&mia, &pool.id, other_pool).await);
    assert_eq!(fields, ["pool_change.pool.id"]);
    let mut bad_rule = one_workday(&pool.id);
    bad_rule.pool.as_mut().unwrap().follow_up_business_time = workdays(-1);
    let fields = bad_fields(preview(&mia, &pool.id, Change::PoolChange(bad_rule)).await);
    assert_eq!(
        fields,
        ["pool_change.pool.follow_up_business_time.workdays"]
    );
    let calendar_id = app.as_admin().get_pool(&pool.id).await.calendar_id;
    let mut seconds = two_more_days_off(&calendar_id);
    seconds.calendar.as_mut().unwrap().business_hours = Some(proto::BusinessHours {
        start: "09:00:00".into(),
        end: "18:00".into(),
    });
    seconds.update_mask.as_mut().unwrap().paths = vec!["business_hours".into()];
    let fields = bad_fields(preview(&mia, &pool.id, Change::CalendarChange(seconds)).await);
    assert_eq!(fields, ["calendar_change.calendar.business_hours.start"]);
    let no_change = proto::PreviewDeadlinesRequest {
        pool_id: pool.id.clone(),
        ..Default::default()
    };
    let refused = mia.calendars().preview_deadlines(mia.req(no_change)).await;
    assert_eq!(bad_fields(refused), ["change"]);
    let by_rep = preview(
        &app.as_member("alice"),
        &pool.id,
        Change::PoolChange(one_workday(&pool.id)),
    )
    .await;
    assert_error(by_rep, "MANAGER_REQUIRED");
    assert_eq!(
        app.fingerprint().await,
        before,
        "refused previews change nothing"
    );
}

/// A preview runs the change as UpdateCalendar would: it reads the calendar, then writes it if
/// its version is still the one read. An update committed in between (held open here, as a
/// concurrent UpdateCalendar's transaction) made that write find nothing and the caller got
/// `ABORTED`; the preview now runs again on the calendar as it is, as the update itself does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_overtaken_by_a_calendar_update_runs_again() {
    let app = TestApp::spawn().await;
    let pool = follow_up_pool(&app, 3).await;
    app.clock.set(shanghai(2027, 2, 1, 10, 0)); // Monday: due Thursday the 4th
    fixtures::held_leads(&app, &pool.id, "alice", 2).await;
    let calendar_id = app.as_admin().get_pool(&pool.id).await.calendar_id;
    let update = app
        .holding(
            "UPDATE calendars SET version = version + 1 WHERE id = $1::uuid",
            &calendar_id,
        )
        .await;
    let previewing = tokio::spawn({
        let (mia, pool_id) = (app.as_member("mia"), pool.id.clone());
        let change = Change::CalendarChange(two_more_days_off(&calendar_id));
        async move { preview(&mia, &pool_id, change).await }
    });
    app.until_a_statement_waits_on_a_lock().await;
    update.commit().await.expect("commit");
    let previewed = previewing
        .await
        .expect("task")
        .expect("the preview, run again");
    assert_eq!(
        days(&previewed),
        [("2027-02-04", "alice", 2, 0), ("2027-02-15", "alice", 0, 2)]
    );
    assert_eq!(app.conflict_retries().await, 1, "the preview ran twice");
}

/// A deadline D is before `due_before` D + 1 ns: the bound was cut to its microsecond, D, and
/// the lead was left out (as ListLeads' time filters left leads out, audit leaddata repro 01).
#[tokio::test]
async fn a_lead_due_a_nanosecond_before_due_before_is_counted() {
    let app = TestApp::spawn().await;
    let pool = follow_up_pool(&app, 3).await;
    app.clock.set(shanghai(2027, 2, 1, 10, 0)); // Monday: due Thursday the 4th, 18:00
    let held = fixtures::held_leads(&app, &pool.id, "alice", 1).await;
    let deadline = app.as_admin().get_lead(&held[0]).await.follow_up_deadline;
    let mia = app.as_member("mia");
    for nanos in [1, 999] {
        let request = proto::PreviewDeadlinesRequest {
            pool_id: pool.id.clone(),
            change: Some(Change::PoolChange(one_workday(&pool.id))),
            due_before: deadline.map(|d| prost_types::Timestamp {
                nanos: d.nanos + nanos,
                ..d
            }),
        };
        let previewed = mia
            .calendars()
            .preview_deadlines(mia.req(request))
            .await
            .expect("a preview")
            .into_inner();
        assert_eq!(
            days(&previewed),
            [("2027-02-02", "alice", 0, 1), ("2027-02-04", "alice", 1, 0)]
        );
    }
}
