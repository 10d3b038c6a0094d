//! Deadlines in business time: a pool naming a calendar counts follow-up and warning rules in
//! workdays or open hours, with the injected clock standing in for the Spring Festival.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use leadpool::proto;
use prost_types::Duration as WireDuration;

use crate::fixtures;
use crate::harness::{TestApp, assert_error, bad_fields};

pub(crate) fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("a Shanghai time")
        .with_timezone(&Utc)
}

pub(crate) fn workdays(n: i32) -> Option<proto::BusinessTime> {
    Some(proto::BusinessTime {
        span: Some(proto::business_time::Span::Workdays(n)),
    })
}

fn open_hours(hours: i64) -> Option<proto::BusinessTime> {
    Some(proto::BusinessTime {
        span: Some(proto::business_time::Span::OpenTime(WireDuration {
            seconds: hours * 3600,
            nanos: 0,
        })),
    })
}

/// A Shanghai pool (with alice and bob) counting in the Spring Festival calendar.
async fn business_pool(app: &TestApp, rules: proto::CreatePoolRequest) -> proto::Pool {
    let calendar = app
        .as_admin()
        .create_calendar(fixtures::spring_festival())
        .await;
    let rules = proto::CreatePoolRequest {
        calendar_id: calendar.id,
        ..rules
    };
    fixtures::pool_with(app, "East China", rules).await
}

/// Such a pool whose only rule is a follow-up within `n` workdays.
pub(crate) async fn follow_up_pool(app: &TestApp, n: i32) -> proto::Pool {
    let rules = proto::CreatePoolRequest {
        follow_up_business_time: workdays(n),
        ..Default::default()
    };
    business_pool(app, rules).await
}

fn deadline(lead: &proto::Lead) -> Option<DateTime<Utc>> {
    let at = lead.follow_up_deadline?;
    DateTime::from_timestamp(at.seconds, 0)
}

#[tokio::test]
async fn three_workdays_skip_the_spring_festival_and_warn_two_business_hours_early() {
    let app = TestApp::spawn().await;
    let pool = business_pool(
        &app,
        proto::CreatePoolRequest {
            follow_up_business_time: workdays(3),
            warn_before_business_time: open_hours(2),
            ..Default::default()
        },
    )
    .await;
    // Friday afternoon before the holiday week.
    app.clock.set(shanghai(2027, 2, 5, 15, 0));
    let lead = fixtures::lead(&app, &pool.id, "王伟").await;
    let owned = app.as_member("alice").claim(&lead.id).await;
    // Mon 15th, Tue 16th, Wed 17th are the three workdays after the holiday.
    assert_eq!(deadline(&owned), Some(shanghai(2027, 2, 17, 18, 0)));

    let sweep_at = async |at: DateTime<Utc>| {
        app.clock.set(at);
        let done = app.as_admin().run_recycle("", false).await;
        (done.warned, done.recycled)
    };
    // Over the holiday nothing happens; the warning goes out two open hours before the close.
    assert_eq!(sweep_at(shanghai(2027, 2, 12, 23, 0)).await, (0, 0));
    assert_eq!(sweep_at(shanghai(2027, 2, 17, 15, 59)).await, (0, 0));
    assert_eq!(sweep_at(shanghai(2027, 2, 17, 16, 0)).await, (1, 0));
    assert_eq!(sweep_at(shanghai(2027, 2, 17, 17, 59)).await, (0, 0));
    assert_eq!(sweep_at(shanghai(2027, 2, 17, 18, 0)).await, (0, 1));
    assert_eq!(
        fixtures::event_kinds(&app, &lead.id).await,
        ["CREATED", "CLAIMED", "RECYCLE_WARNING", "RECYCLED"]
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn a_make_up_saturday_counts_and_a_follow_up_counts_from_its_own_time() {
    let app = TestApp::spawn().await;
    let pool = follow_up_pool(&app, 2).await;
    app.clock.set(shanghai(2027, 2, 18, 10, 0)); // Thursday
    let lead = fixtures::lead(&app, &pool.id, "李娜").await;
    let owned = app.as_member("alice").claim(&lead.id).await;
    // Friday 19th, then Saturday 20th, worked to make up for the holiday.
    assert_eq!(deadline(&owned), Some(shanghai(2027, 2, 20, 18, 0)));

    // A follow-up on Saturday evening, after hours, belongs to Monday, the next opening's day:
    // due two workdays after it.
    app.clock.set(shanghai(2027, 2, 20, 19, 30));
    let followed = app.as_member("alice").follow_up(&lead.id).await;
    assert_eq!(deadline(&followed), Some(shanghai(2027, 2, 24, 18, 0)));
}

#[tokio::test]
async fn a_pool_on_the_wall_clock_is_unaffected_and_can_switch_with_reschedule() {
    let app = TestApp::spawn().await;
    let pool = business_pool(
        &app,
        proto::CreatePoolRequest {
            follow_up_timeout: Some(WireDuration {
                seconds: 3 * 86_400,
                nanos: 0,
            }),
            ..Default::default()
        },
    )
    .await;
    let claimed_at = shanghai(2027, 2, 5, 15, 0);
    app.clock.set(claimed_at);
    let lead = fixtures::lead(&app, &pool.id, "Zhang Wei").await;
    let owned = app.as_member("alice").claim(&lead.id).await;
    assert_eq!(
        deadline(&owned),
        Some(claimed_at + chrono::Duration::days(3))
    );

    // Switching the rule to business time, and rescheduling the owned leads under it.
    let switched = proto::Pool {
        id: pool.id.clone(),
        follow_up_business_time: workdays(3),
        ..Default::default()
    };
    let paths = ["follow_up_timeout", "follow_up_business_time"];
    let updated = app.as_admin().reschedule(switched, &paths).await;
    assert_eq!(updated.rescheduled_leads, 1);
    let rescheduled = app.as_admin().get_lead(&lead.id).await;
    assert_eq!(deadline(&rescheduled), Some(shanghai(2027, 2, 17, 18, 0)));
}

#[tokio::test]
async fn business_rules_need_a_calendar_and_no_wall_twin() {
    let app = TestApp::spawn().await;
    let admin = app.as_admin();
    let before = app.fingerprint().await;
    let both = proto::CreatePoolRequest {
        name: "Both".into(),
        follow_up_timeout: Some(WireDuration {
            seconds: 86_400,
            nanos: 0,
        }),
        follow_up_business_time: workdays(3),
        close_business_time: workdays(400),
        ..Default::default()
    };
    assert_eq!(
        bad_fields(admin.try_create_pool(both).await),
        [
            "close_business_time.workdays",
            "follow_up_business_time",
            "follow_up_business_time",
        ]
    );
    assert_eq!(app.fingerprint().await, before);

    // An update that would leave business time without a calendar is refused whole.
    let pool = follow_up_pool(&app, 3).await;
    let before = app.fingerprint().await;
    let no_calendar = proto::Pool {
        id: pool.id.clone(),
        ..Default::default()
    };
    let refused = admin.try_update_pool(no_calendar, &["calendar_id"]).await;
    assert_eq!(bad_fields(refused), ["pool.follow_up_business_time"]);
    assert_eq!(app.fingerprint().await, before);
    assert_error(
        admin.try_delete_calendar(&pool.calendar_id).await,
        "CALENDAR_IN_USE",
    );
}

/// A holiday taken back: with `reschedule_owned` the owned leads of every pool naming the calendar
/// get the deadlines it now implies (an `UPDATED` event each); without, they keep theirs.
#[tokio::test]
async fn a_calendar_change_reschedules_the_pools_that_count_in_it_when_asked() {
    let app = TestApp::spawn().await;
    let pool = follow_up_pool(&app, 3).await;
    app.clock.set(shanghai(2027, 2, 5, 15, 0));
    let lead = fixtures::lead(&app, &pool.id, "王伟").await;
    app.as_member("alice").claim(&lead.id).await;
    let admin = app.as_admin();

    let no_holiday = proto::Calendar {
        id: pool.calendar_id.clone(),
        ..Default::default()
    };
    admin
        .update_calendar(no_holiday.clone(), &["holidays"])
        .await;
    let kept = admin.get_lead(&lead.id).await;
    assert_eq!(
        deadline(&kept),
        Some(shanghai(2027, 2, 17, 18, 0)),
        "not asked"
    );

    let changed = admin.reschedule_calendar(no_holiday, &["holidays"]).await;
    assert_eq!(changed, 1);
    let moved = admin.get_lead(&lead.id).await;
    // Mon 8th, Tue 9th, Wed 10th, now that the week is worked.
    assert_eq!(deadline(&moved), Some(shanghai(2027, 2, 10, 18, 0)));
    assert_eq!(
        fixtures::event_kinds(&app, &lead.id).await,
        ["CREATED", "CLAIMED", "UPDATED"]
    );
    fixtures::assert_consistent(&app).await;
}

/// A grade's own rule in business time (A leads: 5 workdays) beside the pool's wall-clock rule,
/// and a grade override in wall time beside the pool's business-time rule.
#[tokio::test]
async fn grade_overrides_count_in_either_time() {
    let app = TestApp::spawn().await;
    let a_in_workdays = proto::GradeDeadlines {
        follow_up_business_time: workdays(5),
        ..Default::default()
    };
    let b_in_hours = proto::GradeDeadlines {
        follow_up_timeout: Some(WireDuration {
            seconds: 3600,
            nanos: 0,
        }),
        ..Default::default()
    };
    let pool = business_pool(
        &app,
        proto::CreatePoolRequest {
            follow_up_business_time: workdays(1),
            grade_overrides: [
                ("A".to_owned(), a_in_workdays),
                ("B".to_owned(), b_in_hours),
            ]
            .into(),
            ..Default::default()
        },
    )
    .await;
    let claimed_at = shanghai(2027, 2, 5, 15, 0);
    app.clock.set(claimed_at);
    let graded = async |grade: &str| {
        let lead = proto::NewLead {
            grade: grade.into(),
            ..fixtures::new_lead(&format!("Grade {grade}"))
        };
        let lead = app.as_admin().create_in(&pool.id, lead).await;
        deadline(&app.as_member("alice").claim(&lead.id).await)
    };
    // Workdays after the holiday week: Mon 15 … Fri 19 for A, Mon 15 for the rest.
    assert_eq!(graded("A").await, Some(shanghai(2027, 2, 19, 18, 0)));
    assert_eq!(
        graded("B").await,
        Some(claimed_at + chrono::Duration::hours(1))
    );
    assert_eq!(graded("C").await, Some(shanghai(2027, 2, 15, 18, 0)));
    let returned = app.as_admin().get_pool(&pool.id).await;
    assert_eq!(
        returned.grade_overrides["A"].follow_up_business_time,
        workdays(5)
    );

    // Without a calendar, a grade's business time is refused like the pool's own.
    let no_calendar = proto::CreatePoolRequest {
        name: "No calendar".into(),
        grade_overrides: [(
            "A".to_owned(),
            proto::GradeDeadlines {
                close_business_time: workdays(2),
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    };
    assert_eq!(
        bad_fields(app.as_admin().try_create_pool(no_calendar).await),
        ["grade_overrides[A].close_business_time"]
    );
    // A bad wall-clock duration is named down to the field, as its business-time twin is.
    let zero = Some(prost_types::Duration::default());
    let fraction = Some(prost_types::Duration {
        seconds: 60,
        nanos: 5,
    });
    let bad_walls = proto::CreatePoolRequest {
        name: "Bad walls".into(),
        grade_overrides: [(
            "A".to_owned(),
            proto::GradeDeadlines {
                follow_up_timeout: zero,
                close_timeout: fraction,
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    };
    assert_eq!(
        bad_fields(app.as_admin().try_create_pool(bad_walls).await),
        [
            "grade_overrides[A].follow_up_timeout",
            "grade_overrides[A].close_timeout"
        ]
    );
}
