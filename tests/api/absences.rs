//! Leave and cover: a paused owner's deadlines move by exactly the time away, a colleague's
//! cover comes back by itself (within the colleague's cap), away members receive nothing, and
//! the scheduler starts and ends each absence once with two replicas sweeping.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use leadpool::proto;
use prost_types::{Duration as WireDuration, Timestamp};

use crate::caller::{Client, Services};
use crate::fixtures;
use crate::harness::{TestApp, recycling_settings};
use crate::streams::{next_event, watch_from_now};

const DAY: i64 = 86_400;

pub(crate) fn at(time: DateTime<Utc>) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    })
}

fn time(at: Option<Timestamp>) -> Option<DateTime<Utc>> {
    at.and_then(|t| DateTime::from_timestamp(t.seconds, 0))
}

/// A pool (alice, bob, mia) whose leads must be followed up within two days.
pub(crate) async fn two_day_pool(app: &TestApp, cap: Option<i32>) -> proto::Pool {
    let rules = proto::CreatePoolRequest {
        follow_up_timeout: Some(WireDuration {
            seconds: 2 * DAY,
            nanos: 0,
        }),
        max_held_per_member: cap,
        ..Default::default()
    };
    fixtures::pool_with(app, "East China", rules).await
}

/// A two-day pool in which alice holds one lead, claimed now (`t0`).
pub(crate) async fn alice_holding_one_lead() -> (TestApp, proto::Pool, String, DateTime<Utc>) {
    let app = TestApp::spawn().await;
    let pool = two_day_pool(&app, None).await;
    let t0 = app.clock_now();
    let lead = fixtures::held_leads(&app, &pool.id, "alice", 1)
        .await
        .remove(0);
    (app, pool, lead, t0)
}

/// `user` away from `from` until `until`, paused, set by themselves.
pub(crate) fn pause(
    user: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> proto::SetAwayRequest {
    proto::SetAwayRequest {
        user_id: user.into(),
        away_from: at(from),
        away_until: at(until),
        mode: proto::AwayMode::Pause.into(),
        reason: "年假".into(),
        ..Default::default()
    }
}

/// `user` away from `from` until `until`, `colleague` covering.
pub(crate) fn cover(
    user: &str,
    colleague: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> proto::SetAwayRequest {
    proto::SetAwayRequest {
        mode: proto::AwayMode::Cover.into(),
        cover_user_id: colleague.into(),
        ..pause(user, from, until)
    }
}

/// Runs the scheduler's sweep (absences, then recycling) of the pool now, as an admin.
pub(crate) async fn sweep(app: &TestApp, pool: &proto::Pool) -> proto::RunRecycleResponse {
    app.as_admin().run_recycle(&pool.id, false).await
}

async fn lead_of(app: &TestApp, id: &str) -> proto::Lead {
    app.as_admin().get_lead(id).await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.expect(sql)
}

#[tokio::test]
async fn a_paused_owners_deadlines_move_by_exactly_the_time_away() {
    let (app, pool, lead, t0) = alice_holding_one_lead().await;
    let due = time(lead_of(&app, &lead).await.follow_up_deadline).expect("a deadline");
    assert_eq!(due, t0 + Duration::days(2));
    let alice = app.as_member("alice");
    let absence = alice
        .set_away(pause("", t0 + Duration::days(1), t0 + Duration::days(4)))
        .await;
    assert_eq!(absence.state(), proto::AbsenceState::Scheduled);
    assert_eq!(
        absence.user_id, "alice",
        "an empty user_id means the caller"
    );

    app.clock.advance(Duration::days(1));
    sweep(&app, &pool).await;
    // Past the original deadline, while away: nothing is warned or recycled.
    app.clock.advance(Duration::days(2));
    let swept = sweep(&app, &pool).await;
    assert_eq!(swept.recycled, 0);
    assert_eq!(lead_of(&app, &lead).await.owner_id, "alice");
    assert!(
        upcoming(&app, &pool, t0 + Duration::days(30))
            .await
            .is_empty(),
        "nothing is upcoming while the owner is paused"
    );

    app.clock.advance(Duration::days(1));
    sweep(&app, &pool).await;
    let resumed = lead_of(&app, &lead).await;
    assert_eq!(
        time(resumed.follow_up_deadline),
        Some(due + Duration::days(3)),
        "the deadline moves by the three days away"
    );
    let away = alice.list_away(include_ended()).await.absences;
    assert_eq!(away[0].state(), proto::AbsenceState::Ended);
    let listed = upcoming(&app, &pool, t0 + Duration::days(30)).await;
    assert_eq!(listed.len(), 1, "listed again once back");
    let kinds = fixtures::event_kinds(&app, &lead).await;
    assert_eq!(kinds, ["CREATED", "CLAIMED", "UPDATED"]);
    let away_events = count(
        &app,
        "SELECT count(*) FROM lead_events WHERE user_id = 'alice' AND lead_id IS NULL
         AND kind IN ('AWAY_STARTED', 'AWAY_ENDED')",
    )
    .await;
    assert_eq!(
        away_events, 2,
        "one AWAY_STARTED and one AWAY_ENDED in alice's one pool"
    );

    app.clock.advance(Duration::days(1) + Duration::seconds(1));
    assert_eq!(sweep(&app, &pool).await.recycled, 1);
    fixtures::assert_consistent(&app).await;
}

/// The pool's leads due a warning or recycle by `until`, as its manager lists them.
async fn upcoming(
    app: &TestApp,
    pool: &proto::Pool,
    until: DateTime<Utc>,
) -> Vec<proto::UpcomingRecycle> {
    let request = app
        .as_member("mia")
        .req(proto::ListUpcomingRecyclesRequest {
            pool_id: pool.id.clone(),
            until: at(until),
            ..Default::default()
        });
    app.recycles()
        .list_upcoming_recycles(request)
        .await
        .expect("upcoming recycles")
        .into_inner()
        .recycles
}

fn include_ended() -> proto::ListAwayRequest {
    proto::ListAwayRequest {
        include_ended: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn clearing_an_absence_early_moves_deadlines_by_the_time_actually_away() {
    let (app, pool, lead, t0) = alice_holding_one_lead().await;
    let mia = app.as_member("mia");
    let absence = mia
        .set_away(pause(
            "alice",
            t0 + Duration::hours(1),
            t0 + Duration::days(10),
        ))
        .await;
    app.clock.advance(Duration::hours(1));
    sweep(&app, &pool).await;
    app.clock.advance(Duration::hours(30));
    let cleared = mia.clear_away(&absence.id).await;
    assert_eq!(cleared.resumed_leads, 1);
    let ended = cleared.absence.expect("the absence");
    assert_eq!(ended.state(), proto::AbsenceState::Ended);
    assert_eq!(time(ended.away_until), Some(app.clock_now()));
    let deadline = time(lead_of(&app, &lead).await.follow_up_deadline);
    assert_eq!(deadline, Some(t0 + Duration::days(2) + Duration::hours(30)));
    let again = mia.try_clear_away(&absence.id).await;
    let metadata = app.assert_refused(async { again }, "ABSENCE_ENDED").await;
    assert_eq!(metadata["absence_id"], absence.id);
    fixtures::assert_consistent(&app).await;
}

/// alice holds `n` leads of the pool, claimed an hour apart (so their deadlines differ).
async fn alices_leads(app: &TestApp, pool: &proto::Pool, n: usize) -> Vec<String> {
    let mut leads = Vec::new();
    for id in fixtures::leads(app, &pool.id, n).await {
        app.as_member("alice").claim(&id).await;
        app.clock.advance(Duration::hours(1));
        leads.push(id);
    }
    leads
}

/// alice's `n` leads, held by bob since `t0` while alice is away for 20 hours.
async fn covered_by_bob(n: usize) -> (TestApp, proto::Pool, Vec<String>, DateTime<Utc>) {
    let app = TestApp::spawn().await;
    let pool = two_day_pool(&app, None).await;
    let leads = alices_leads(&app, &pool, n).await;
    let t0 = app.clock_now();
    app.as_member("alice")
        .set_away(cover("", "bob", t0, t0 + Duration::hours(20)))
        .await;
    sweep(&app, &pool).await;
    (app, pool, leads, t0)
}

#[tokio::test]
async fn a_covered_lead_returns_on_the_end_date_unless_the_colleague_released_it() {
    let (app, pool, leads, _) = covered_by_bob(3).await;
    for id in &leads {
        let lead = lead_of(&app, id).await;
        assert_eq!(
            (lead.owner_id.as_str(), lead.covered_owner_id.as_str()),
            ("bob", "alice")
        );
    }
    assert_eq!(fixtures::held_count(&app, &pool.id, "alice").await, 0);
    let bob = app.as_member("bob");
    bob.release(&leads[0], "NO_INTENT").await;
    bob.follow_up(&leads[1]).await;

    app.clock.advance(Duration::hours(20));
    sweep(&app, &pool).await;
    let released = lead_of(&app, &leads[0]).await;
    assert_eq!(released.state(), proto::LeadState::InPool);
    assert_eq!(released.covered_owner_id, "");
    for id in &leads[1..] {
        let lead = lead_of(&app, id).await;
        assert_eq!(
            (lead.owner_id.as_str(), lead.covered_owner_id.as_str()),
            ("alice", "")
        );
    }
    let kinds = fixtures::event_kinds(&app, &leads[1]).await;
    assert_eq!(
        kinds,
        [
            "CREATED",
            "CLAIMED",
            "COVER_STARTED",
            "FOLLOWED_UP",
            "COVER_ENDED"
        ]
    );
    assert_eq!(fixtures::held_count(&app, &pool.id, "alice").await, 2);
    assert_eq!(fixtures::held_count(&app, &pool.id, "bob").await, 0);
    fixtures::assert_consistent(&app).await;
}

/// Back to back: bob covers alice until the hour carl's cover of her begins. The sweep at that
/// hour ends bob's cover before starting carl's, so her leads come back and go on to carl (the
/// later absence is planned first, as when a trip is booked before the leave around it).
#[tokio::test]
async fn back_to_back_covers_hand_the_leads_from_the_first_colleague_to_the_next() {
    let app = TestApp::spawn().await;
    let pool = two_day_pool(&app, None).await;
    fixtures::member(&app, &pool.id, "carl", proto::MemberRole::Member).await;
    let leads = alices_leads(&app, &pool, 2).await;
    let t0 = app.clock_now();
    let (handover, back) = (t0 + Duration::hours(3), t0 + Duration::hours(30));
    let alice = app.as_member("alice");
    alice.set_away(cover("", "carl", handover, back)).await;
    alice.set_away(cover("", "bob", t0, handover)).await;
    sweep(&app, &pool).await;
    assert_eq!(lead_of(&app, &leads[0]).await.owner_id, "bob");

    app.clock.set(handover);
    sweep(&app, &pool).await;
    let states: Vec<_> = alice
        .list_away(include_ended())
        .await
        .absences
        .iter()
        .map(|a| a.state())
        .collect();
    let (ended, active) = (proto::AbsenceState::Ended, proto::AbsenceState::Active);
    assert_eq!(states, [ended, active]);
    for id in &leads {
        let lead = lead_of(&app, id).await;
        let holder = (lead.owner_id.as_str(), lead.covered_owner_id.as_str());
        assert_eq!(holder, ("carl", "alice"), "lead {id}");
        let kinds = fixtures::event_kinds(&app, id).await;
        let covered = ["COVER_STARTED", "COVER_ENDED", "COVER_STARTED"];
        assert_eq!(kinds[2..], covered, "lead {id}");
    }
    assert_eq!(fixtures::held_count(&app, &pool.id, "carl").await, 2);
    assert_eq!(fixtures::held_count(&app, &pool.id, "bob").await, 0);
    fixtures::assert_consistent(&app).await;
}

/// An absence that began in a pool ends there too, even after the user left it meanwhile: a
/// follower never sees an absence begin that does not end.
#[tokio::test]
async fn every_pool_told_an_absence_began_is_told_it_ended() {
    let app = TestApp::spawn().await;
    let pool = two_day_pool(&app, None).await;
    let t0 = app.clock_now();
    app.as_member("alice")
        .set_away(pause("", t0, t0 + Duration::hours(5)))
        .await;
    sweep(&app, &pool).await;
    let alice = proto::Member {
        pool_id: pool.id.clone(),
        user_id: "alice".into(),
        active: false,
        ..Default::default()
    };
    app.as_member("mia").update_member(alice, &["active"]).await;
    app.clock.advance(Duration::hours(5));
    sweep(&app, &pool).await;
    let events = "SELECT count(*) FROM lead_events WHERE user_id = 'alice' AND kind = ";
    assert_eq!(count(&app, &format!("{events}'AWAY_STARTED'")).await, 1);
    assert_eq!(count(&app, &format!("{events}'AWAY_ENDED'")).await, 1);
}

/// A lead the colleague converts while covering is the owner's conversion in the member report
/// (`covered_owner_id`: reports credit the right person); the colleague acquired it by cover.
#[tokio::test]
async fn a_conversion_by_the_covering_colleague_is_credited_to_the_owner() {
    let (app, pool, leads, t0) = covered_by_bob(2).await;
    app.as_member("bob").convert(&leads[0]).await;

    let day = |offset: i64| (t0 + Duration::days(offset)).date_naive().to_string();
    let rows = app
        .as_admin()
        .member_report(proto::GetMemberReportRequest {
            pool_id: pool.id.clone(),
            from_date: day(-2),
            to_date: day(2),
            user_id: String::new(),
        })
        .await;
    let row = |user: &str| {
        let row = rows.iter().find(|r| r.user_id == user).expect("a row");
        let cover = row.acquired.as_ref().expect("acquired").cover;
        (row.converted, cover)
    };
    assert_eq!(row("alice"), (1, 0));
    assert_eq!(row("bob"), (0, 2));
}

#[tokio::test]
async fn a_cover_beyond_the_colleagues_cap_leaves_the_excess_paused_with_the_owner() {
    let app = TestApp::spawn().await;
    let pool = two_day_pool(&app, Some(3)).await;
    fixtures::held_leads(&app, &pool.id, "bob", 2).await;
    let leads = alices_leads(&app, &pool, 3).await;
    let t0 = app.clock_now();
    app.as_member("alice")
        .set_away(cover("", "bob", t0, t0 + Duration::days(3)))
        .await;
    sweep(&app, &pool).await;
    // Room for one: the lead due soonest, the first claimed.
    assert_eq!(lead_of(&app, &leads[0]).await.owner_id, "bob");
    assert_eq!(lead_of(&app, &leads[1]).await.owner_id, "alice");
    assert_eq!(fixtures::held_count(&app, &pool.id, "bob").await, 3);

    // Two days on, bob's own two and the one he covers are overdue and recycled; alice's two
    // are due within the absence too, but stay paused with her.
    app.clock.advance(Duration::days(2));
    let swept = sweep(&app, &pool).await;
    assert_eq!(swept.recycled, 3);
    let recycled = lead_of(&app, &leads[0]).await;
    assert_eq!(recycled.state(), proto::LeadState::InPool);
    assert_eq!(
        recycled.covered_owner_id, "",
        "a recycled lead's cover ends"
    );
    app.clock.advance(Duration::days(1));
    sweep(&app, &pool).await;
    for id in &leads[1..] {
        let lead = lead_of(&app, id).await;
        assert_eq!(lead.owner_id, "alice");
        let claimed_deadline = time(lead.acquired_at).expect("acquired") + Duration::days(2);
        let moved = time(lead.follow_up_deadline).expect("a deadline");
        assert_eq!(moved, claimed_deadline + Duration::days(3));
    }
    assert_eq!(
        lead_of(&app, &leads[0]).await.owner_id,
        "",
        "a recycled lead does not come back"
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn away_members_receive_nothing_and_assignment_to_them_needs_an_override() {
    let app = TestApp::spawn().await;
    let pool = two_day_pool(&app, None).await;
    let t0 = app.clock_now();
    let until = t0 + Duration::days(5);
    app.as_member("alice").set_away(pause("", t0, until)).await;
    let leads = fixtures::leads(&app, &pool.id, 4).await;
    let plan = app
        .as_admin()
        .distribute(proto::DistributeRequest {
            pool_id: pool.id.clone(),
            limit: 2,
            ..Default::default()
        })
        .await;
    assert!(
        plan.assignments.iter().all(|a| a.user_id != "alice"),
        "alice receives nothing: {plan:?}"
    );
    assert_eq!(plan.assignments.len(), 2);

    let mia = app.as_member("mia");
    let free = &leads[3];
    let refused = mia.try_assign(free, "alice", false).await;
    let metadata = app.assert_refused(async { refused }, "MEMBER_AWAY").await;
    assert_eq!(metadata["user_id"], "alice");
    assert_eq!(
        metadata["away_until"],
        until.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
    let assigned = mia
        .assignments()
        .assign_lead(mia.req(proto::AssignLeadRequest {
            lead_id: free.clone(),
            user_id: "alice".into(),
            override_away: true,
            ..Default::default()
        }))
        .await
        .expect("an overridden assignment")
        .into_inner();
    assert_eq!(assigned.lead.map(|l| l.owner_id).as_deref(), Some("alice"));

    let members = mia
        .list_members(proto::ListMembersRequest {
            pool_id: pool.id.clone(),
            ..Default::default()
        })
        .await
        .members;
    let away: Vec<_> = members
        .iter()
        .map(|m| (m.user_id.as_str(), time(m.away_until)))
        .collect();
    assert_eq!(away, [("alice", Some(until)), ("bob", None), ("mia", None)]);
    let stats = mia.member_stats(&pool.id, "alice").await;
    assert_eq!(time(stats.away_until), Some(until));
    app.clock.set(until);
    let stats = mia.member_stats(&pool.id, "alice").await;
    assert_eq!(stats.away_until, None, "back at away_until");
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn bad_absences_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let pool = two_day_pool(&app, None).await;
    let t0 = app.clock_now();
    let alice = app.as_member("alice");
    let fields = app
        .invalid_fields(alice.try_set_away(proto::SetAwayRequest::default()))
        .await;
    assert_eq!(fields, ["away_until", "mode"]);
    let backwards = pause("", t0 + Duration::days(2), t0 + Duration::days(1));
    let fields = app.invalid_fields(alice.try_set_away(backwards)).await;
    assert_eq!(fields, ["away_until"]);
    let own_cover = cover("", "alice", t0, t0 + Duration::days(1));
    let fields = app.invalid_fields(alice.try_set_away(own_cover)).await;
    assert_eq!(fields, ["cover_user_id"]);
    let no_colleague = cover("", "", t0, t0 + Duration::days(1));
    let fields = app.invalid_fields(alice.try_set_away(no_colleague)).await;
    assert_eq!(fields, ["cover_user_id"]);
    let stranger = cover("", "zoe", t0, t0 + Duration::days(1));
    let metadata = app
        .assert_refused(alice.try_set_away(stranger), "MEMBER_NOT_FOUND")
        .await;
    assert_eq!(metadata["user_id"], "zoe");
    let for_bob = pause("bob", t0, t0 + Duration::days(1));
    app.assert_refused(alice.try_set_away(for_bob), "MANAGER_REQUIRED")
        .await;

    let week = alice.set_away(pause("", t0, t0 + Duration::days(7))).await;
    let overlapping = pause("", t0 + Duration::days(6), t0 + Duration::days(9));
    let metadata = app
        .assert_refused(alice.try_set_away(overlapping), "MEMBER_AWAY")
        .await;
    assert_eq!(
        metadata["away_until"],
        (t0 + Duration::days(7)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    app.assert_refused(alice.try_clear_away(&unknown), "ABSENCE_NOT_FOUND")
        .await;
    app.assert_refused(
        app.as_member("bob").try_clear_away(&week.id),
        "MANAGER_REQUIRED",
    )
    .await;
    // Not begun: cleared means cancelled, and the week is free again.
    let cancelled = alice.clear_away(&week.id).await.absence.expect("absence");
    assert_eq!(cancelled.state(), proto::AbsenceState::Cancelled);
    alice
        .set_away(pause("", t0 + Duration::days(6), t0 + Duration::days(9)))
        .await;
    let _ = pool;
}

#[tokio::test]
async fn members_list_their_own_absences_and_managers_everyones() {
    let app = TestApp::spawn().await;
    two_day_pool(&app, None).await;
    let t0 = app.clock_now();
    for user in ["alice", "bob"] {
        app.as_member(user)
            .set_away(pause("", t0 + Duration::days(1), t0 + Duration::days(2)))
            .await;
    }
    let users = |client: Client| async move {
        let listed = client.list_away(proto::ListAwayRequest::default()).await;
        let mut users: Vec<String> = listed.absences.into_iter().map(|a| a.user_id).collect();
        users.sort();
        users
    };
    assert_eq!(users(app.as_member("alice")).await, ["alice"]);
    assert_eq!(users(app.as_member("mia")).await, ["alice", "bob"]);
    let first = app
        .as_member("mia")
        .list_away(proto::ListAwayRequest {
            page_size: 1,
            ..Default::default()
        })
        .await;
    assert_eq!(first.absences.len(), 1);
    let second = app
        .as_member("mia")
        .list_away(proto::ListAwayRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await;
    assert_eq!(second.absences.len(), 1);
    assert_ne!(first.absences[0].id, second.absences[0].id);
    let refused = app
        .as_member("alice")
        .try_list_away(proto::ListAwayRequest {
            user_id: "bob".into(),
            ..Default::default()
        })
        .await;
    crate::harness::assert_error(refused, "MANAGER_REQUIRED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_running_the_scheduler_start_and_end_each_absence_once() {
    let app = TestApp::spawn().await;
    let pool = two_day_pool(&app, None).await;
    let reps: Vec<String> = (0..6).map(|i| format!("rep{i}")).collect();
    for rep in &reps {
        fixtures::member(&app, &pool.id, rep, proto::MemberRole::Member).await;
        fixtures::held_leads(&app, &pool.id, rep, 2).await;
    }
    let t0 = app.clock_now();
    for (i, rep) in reps.iter().enumerate() {
        let from = t0 + Duration::minutes(10 * i as i64);
        let request = if i % 2 == 0 {
            cover(rep, "bob", from, from + Duration::hours(1))
        } else {
            pause(rep, from, from + Duration::hours(1))
        };
        app.as_admin().set_away(request).await;
    }
    let mut ended = watch_from_now(&app.as_service(), proto::EventKind::AwayEnded).await;
    let settings = || recycling_settings(StdDuration::from_millis(20), 10);
    let _first = app.spawn_replica(settings()).await;
    let _second = app.spawn_replica(settings()).await;
    app.clock.advance(Duration::hours(2));
    let mut seen = Vec::new();
    while seen.len() < reps.len() {
        seen.push(next_event(&mut ended).await.user_id);
    }
    seen.sort();
    assert_eq!(seen, reps);
    let per_kind: Vec<(String, i64)> = sqlx::query_as(
        "SELECT kind, count(*) FROM lead_events
         WHERE kind IN ('AWAY_STARTED', 'AWAY_ENDED', 'COVER_STARTED', 'COVER_ENDED')
         GROUP BY kind ORDER BY kind",
    )
    .fetch_all(&app.db)
    .await
    .expect("counts");
    let expected = [
        ("AWAY_ENDED", 6),
        ("AWAY_STARTED", 6),
        ("COVER_ENDED", 6),
        ("COVER_STARTED", 6),
    ];
    let expected: Vec<(String, i64)> = expected.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    assert_eq!(per_kind, expected, "each absence started and ended once");
    let twice = count(
        &app,
        "SELECT count(*) FROM (SELECT lead_id FROM lead_events WHERE kind = 'COVER_STARTED'
                               GROUP BY lead_id HAVING count(*) > 1) t",
    )
    .await;
    assert_eq!(twice, 0);
    fixtures::assert_consistent(&app).await;
}

/// A cover that ends gives the owner back only what fits under her cap: she may have claimed
/// while away, and nobody ever holds more than the cap. The rest stay with the colleague.
#[tokio::test]
async fn a_cover_that_ends_returns_no_more_than_the_owners_cap_allows() {
    let app = TestApp::spawn().await;
    let pool = two_day_pool(&app, Some(2)).await;
    let leads = alices_leads(&app, &pool, 2).await;
    let t0 = app.clock_now();
    let alice = app.as_member("alice");
    alice
        .set_away(cover("", "bob", t0, t0 + Duration::hours(20)))
        .await;
    sweep(&app, &pool).await;
    assert_eq!(fixtures::held_count(&app, &pool.id, "alice").await, 0);
    let claimed_while_away = app
        .as_service()
        .create_in(&pool.id, fixtures::new_lead("孙丽"))
        .await;
    alice.claim(&claimed_while_away.id).await;

    app.clock.advance(Duration::hours(20));
    sweep(&app, &pool).await;
    let owners: Vec<_> = futures::future::join_all(leads.iter().map(|id| lead_of(&app, id)))
        .await
        .into_iter()
        .map(|lead| (lead.owner_id, lead.covered_owner_id))
        .collect();
    assert_eq!(
        owners,
        [
            ("alice".into(), String::new()),
            ("bob".into(), String::new())
        ],
        "one comes back, the other stays with bob"
    );
    assert_eq!(fixtures::held_count(&app, &pool.id, "alice").await, 2);
    assert_eq!(fixtures::held_count(&app, &pool.id, "bob").await, 1);
    fixtures::assert_consistent(&app).await;
}

/// A colleague who covers and then goes away with a cover of their own does not pass the leads
/// they cover on: they stay (paused) with them, still the first owner's, and come back to her
/// when her absence ends; the second colleague never gets them.
#[tokio::test]
async fn a_covering_colleague_gone_away_keeps_the_cover_for_the_owner() {
    let (app, pool, leads, t0) = covered_by_bob(2).await;
    let bobs_own = fixtures::held_leads(&app, &pool.id, "bob", 1).await;
    app.clock.advance(Duration::hours(1));
    app.as_member("bob")
        .set_away(cover(
            "",
            "mia",
            t0 + Duration::hours(1),
            t0 + Duration::hours(10),
        ))
        .await;
    sweep(&app, &pool).await;
    let holders = async || {
        let mut holders = Vec::new();
        for id in &leads {
            let lead = lead_of(&app, id).await;
            holders.push((lead.owner_id, lead.covered_owner_id));
        }
        holders
    };
    let with = |owner: &str, covered: &str| vec![(owner.to_owned(), covered.to_owned()); 2];
    assert_eq!(holders().await, with("bob", "alice"));
    assert_eq!(
        lead_of(&app, &bobs_own[0]).await.owner_id,
        "mia",
        "bob's own lead moves"
    );

    app.clock.set(t0 + Duration::hours(20));
    sweep(&app, &pool).await;
    assert_eq!(holders().await, with("alice", ""));
    assert_eq!(fixtures::held_count(&app, &pool.id, "alice").await, 2);
    fixtures::assert_consistent(&app).await;
}
