//! Recycling on missed deadlines, driven by moving the clock and sweeping with `RunRecycle`.

use chrono::{DateTime, Duration, Utc};
use leadpool::proto;
use prost_types::{Duration as PbDuration, Timestamp};

use crate::caller::Services;
use crate::fixtures::{self, admin, pool_with, service, user};
use crate::harness::{Caller, TestApp, assert_error, bad_fields, start_time};

const DAY: i64 = 86_400;

fn secs(seconds: i64) -> Option<PbDuration> {
    Some(PbDuration { seconds, nanos: 0 })
}

fn ts(at: DateTime<Utc>) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

/// Follow-up deadline in 7 days, a warning a day before.
fn weekly_rules() -> proto::CreatePoolRequest {
    proto::CreatePoolRequest {
        follow_up_timeout: secs(7 * DAY),
        warn_before: secs(DAY),
        ..Default::default()
    }
}

/// A lead of `pool` claimed by `who` now.
async fn owned_lead(app: &TestApp, pool_id: &str, who: &str, grade: &str) -> proto::Lead {
    let lead = app
        .as_service()
        .create_in(
            pool_id,
            proto::NewLead {
                grade: grade.into(),
                ..fixtures::new_lead("Wang Wei")
            },
        )
        .await;
    app.as_member(who).claim(&lead.id).await
}

async fn run(app: &TestApp, dry_run: bool) -> proto::RunRecycleResponse {
    app.as_admin().run_recycle("", dry_run).await
}

/// Sets the clock to `start_time() + offset` and sweeps; returns (warned, recycled).
async fn sweep_at(app: &TestApp, offset: Duration) -> (i32, i32) {
    app.clock.set(start_time() + offset);
    let done = run(app, false).await;
    (done.warned, done.recycled)
}

async fn get(app: &TestApp, lead_id: &str) -> proto::Lead {
    app.as_admin().get_lead(lead_id).await
}

/// (kind, reason, note) of the lead's recycle events, in order.
async fn recycle_events(app: &TestApp, lead_id: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT kind, reason FROM lead_events
         WHERE lead_id = $1::uuid AND kind IN ('RECYCLE_WARNING', 'RECYCLED') ORDER BY seq",
    )
    .bind(lead_id)
    .fetch_all(&app.db)
    .await
    .expect("events")
}

fn warning(reason: &str) -> (String, String) {
    ("RECYCLE_WARNING".into(), reason.into())
}

fn recycle(reason: &str) -> (String, String) {
    ("RECYCLED".into(), reason.into())
}

#[tokio::test]
async fn warns_once_when_the_deadline_is_warn_before_away() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Weekly", weekly_rules()).await;
    let lead = owned_lead(&app, &pool.id, "alice", "B").await;

    let just_before = Duration::days(6) - Duration::seconds(1);
    assert_eq!(sweep_at(&app, just_before).await, (0, 0));
    assert!(recycle_events(&app, &lead.id).await.is_empty());

    assert_eq!(sweep_at(&app, Duration::days(6)).await, (1, 0));
    assert_eq!(
        sweep_at(&app, Duration::days(6) + Duration::hours(1)).await,
        (0, 0)
    );
    assert_eq!(
        sweep_at(&app, Duration::days(7) - Duration::seconds(1)).await,
        (0, 0)
    );
    assert_eq!(
        recycle_events(&app, &lead.id).await,
        [warning("FOLLOW_UP_OVERDUE")]
    );
    let (actor, to_owner, note): (String, Option<String>, String) = sqlx::query_as(
        "SELECT actor, to_owner, note FROM lead_events
         WHERE lead_id = $1::uuid AND kind = 'RECYCLE_WARNING'",
    )
    .bind(&lead.id)
    .fetch_one(&app.db)
    .await
    .expect("warning");
    assert_eq!(actor, "root-admin", "RunRecycle records its caller");
    assert_eq!(
        to_owner.as_deref(),
        Some("alice"),
        "the owner keeps the lead"
    );
    assert_eq!(note, "recycled at 2026-03-09T09:00:00Z");
    let still = get(&app, &lead.id).await;
    assert_eq!(
        (still.owner_id.as_str(), still.version),
        ("alice", lead.version)
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn recycles_after_the_deadline_into_the_recycle_pool_with_cooldown() {
    let app = TestApp::spawn().await;
    let bin = fixtures::pool(&app, "Recycled", None).await;
    let pool = pool_with(
        &app,
        "Weekly",
        proto::CreatePoolRequest {
            reclaim_cooldown: secs(3 * DAY),
            recycle_to_pool_id: bin.id.clone(),
            ..weekly_rules()
        },
    )
    .await;
    let lead = owned_lead(&app, &pool.id, "alice", "B").await;
    assert_eq!(fixtures::held_count(&app, &pool.id, "alice").await, 1);

    assert_eq!(sweep_at(&app, Duration::days(6)).await, (1, 0));
    let deadline = start_time() + Duration::days(7);
    assert_eq!(sweep_at(&app, Duration::days(7)).await, (0, 1));
    let recycled = get(&app, &lead.id).await;
    assert_eq!(recycled.state(), proto::LeadState::InPool);
    assert_eq!(recycled.owner_id, "");
    assert_eq!(recycled.previous_owner_id, "alice");
    assert_eq!(recycled.pool_id, bin.id, "into the pool's recycle pool");
    assert_eq!(recycled.cooldown_until, ts(deadline + Duration::days(3)));
    assert_eq!(recycled.pool_entered_at, ts(deadline));
    assert_eq!(
        (recycled.follow_up_deadline, recycled.acquired_at),
        (None, None)
    );
    assert_eq!(fixtures::held_count(&app, &pool.id, "alice").await, 0);
    let (from_owner, to_pool): (String, String) = sqlx::query_as(
        "SELECT from_owner, to_pool_id::text FROM lead_events
         WHERE lead_id = $1::uuid AND kind = 'RECYCLED'",
    )
    .bind(&lead.id)
    .fetch_one(&app.db)
    .await
    .expect("recycled event");
    assert_eq!(
        (from_owner.as_str(), to_pool.as_str()),
        ("alice", bin.id.as_str())
    );

    assert_eq!(sweep_at(&app, Duration::days(8)).await, (0, 0), "only once");
    assert_eq!(
        recycle_events(&app, &lead.id).await,
        [warning("FOLLOW_UP_OVERDUE"), recycle("FOLLOW_UP_OVERDUE")]
    );
    fixtures::assert_consistent(&app).await;
}

/// A pool with the weekly rules whose recycled leads go to a second pool, the bin.
async fn weekly_pool_recycling_to_a_bin(app: &TestApp) -> (proto::Pool, proto::Pool) {
    let bin = fixtures::pool(app, "Recycled", None).await;
    let rules = proto::CreatePoolRequest {
        recycle_to_pool_id: bin.id.clone(),
        ..weekly_rules()
    };
    (pool_with(app, "Weekly", rules).await, bin)
}

#[tokio::test]
async fn a_lead_recycles_into_its_own_pool_once_the_recycle_pool_is_archived() {
    let app = TestApp::spawn().await;
    let (pool, bin) = weekly_pool_recycling_to_a_bin(&app).await;
    let lead = owned_lead(&app, &pool.id, "alice", "B").await;
    app.as_admin().archive_pool(&bin.id).await;

    assert_eq!(sweep_at(&app, Duration::days(6)).await, (1, 0));
    assert_eq!(sweep_at(&app, Duration::days(7)).await, (0, 1));
    let recycled = get(&app, &lead.id).await;
    assert_eq!(
        (recycled.pool_id.as_str(), recycled.state()),
        (pool.id.as_str(), proto::LeadState::InPool),
        "an archived pool takes no leads"
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn a_follow_up_postpones_the_follow_up_recycle_but_not_the_close_recycle() {
    let app = TestApp::spawn().await;
    let rules = proto::CreatePoolRequest {
        follow_up_timeout: secs(3 * DAY),
        close_timeout: secs(10 * DAY),
        warn_before: secs(DAY),
        ..Default::default()
    };
    let pool = pool_with(&app, "Closing", rules).await;
    let lead = owned_lead(&app, &pool.id, "alice", "B").await;

    // Warned for the follow-up deadline (day 3) on day 2; the follow-up moves it to day 5.
    assert_eq!(sweep_at(&app, Duration::days(2)).await, (1, 0));
    app.as_member("alice").follow_up(&lead.id).await;
    assert_eq!(
        sweep_at(&app, Duration::days(3)).await,
        (0, 0),
        "old deadline gone"
    );
    // A follow-up every two days keeps the follow-up deadline ahead of the close deadline.
    for day in [4, 6, 8] {
        app.clock.set(start_time() + Duration::days(day));
        app.as_member("alice").follow_up(&lead.id).await;
    }
    let kept = get(&app, &lead.id).await;
    assert_eq!(
        kept.follow_up_deadline,
        ts(start_time() + Duration::days(11))
    );
    assert_eq!(kept.close_deadline, ts(start_time() + Duration::days(10)));

    assert_eq!(
        sweep_at(&app, Duration::days(9)).await,
        (1, 0),
        "close warning"
    );
    app.clock
        .set(start_time() + Duration::days(9) + Duration::hours(12));
    app.as_member("alice").follow_up(&lead.id).await;
    assert_eq!(sweep_at(&app, Duration::days(10)).await, (0, 1));
    assert_eq!(
        recycle_events(&app, &lead.id).await,
        [
            warning("FOLLOW_UP_OVERDUE"),
            warning("CLOSE_OVERDUE"),
            recycle("CLOSE_OVERDUE")
        ]
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn exempt_grades_and_locked_leads_are_left_alone() {
    let app = TestApp::spawn().await;
    let rules = proto::CreatePoolRequest {
        exempt_grades: vec!["A".into()],
        ..weekly_rules()
    };
    let pool = pool_with(&app, "Exempt", rules).await;
    let vip = owned_lead(&app, &pool.id, "alice", "A").await;
    let locked = owned_lead(&app, &pool.id, "alice", "B").await;
    let plain = owned_lead(&app, &pool.id, "bob", "B").await;
    app.as_member("mia").lock(&locked.id).await;

    assert_eq!(sweep_at(&app, Duration::days(6)).await, (1, 0));
    assert_eq!(sweep_at(&app, Duration::days(30)).await, (0, 1));
    assert!(recycle_events(&app, &vip.id).await.is_empty());
    assert!(recycle_events(&app, &locked.id).await.is_empty());
    assert_eq!(get(&app, &vip.id).await.owner_id, "alice");
    assert_eq!(get(&app, &locked.id).await.owner_id, "alice");
    assert_eq!(get(&app, &plain.id).await.state(), proto::LeadState::InPool);

    // Unlocked long after its deadline: warned first, recycled a full day later.
    app.as_member("mia").unlock(&locked.id).await;
    assert_eq!(sweep_at(&app, Duration::days(31)).await, (1, 0));
    assert_eq!(
        sweep_at(&app, Duration::days(32) - Duration::seconds(1)).await,
        (0, 0)
    );
    assert_eq!(sweep_at(&app, Duration::days(32)).await, (0, 1));
    assert_eq!(get(&app, &vip.id).await.owner_id, "alice");
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn recycle_waits_for_warning_lead_time() {
    let app = TestApp::spawn().await;
    let pool = pool_with(
        &app,
        "Late",
        proto::CreatePoolRequest {
            follow_up_timeout: secs(7 * DAY),
            ..Default::default()
        },
    )
    .await;
    let lead = owned_lead(&app, &pool.id, "alice", "B").await;
    // The rule changes after the claim, with the deadline already close: the warning cannot
    // come a full day ahead any more.
    app.clock
        .set(start_time() + Duration::days(6) + Duration::hours(20));
    app.as_admin()
        .update_pool(
            proto::Pool {
                id: pool.id.clone(),
                warn_before: secs(DAY),
                ..Default::default()
            },
            &["warn_before"],
        )
        .await;
    // The scheduler was down until two days after the deadline.
    let late = Duration::days(9);
    assert_eq!(
        sweep_at(&app, late).await,
        (1, 0),
        "warned first, not recycled"
    );
    assert_eq!(
        get(&app, &lead.id).await.owner_id,
        "alice",
        "kept a full warn_before"
    );
    assert_eq!(
        sweep_at(&app, late + Duration::days(1) - Duration::seconds(1)).await,
        (0, 0)
    );
    assert_eq!(sweep_at(&app, late + Duration::days(1)).await, (0, 1));
    let note: String = sqlx::query_scalar(
        "SELECT note FROM lead_events WHERE lead_id = $1::uuid AND kind = 'RECYCLE_WARNING'",
    )
    .bind(&lead.id)
    .fetch_one(&app.db)
    .await
    .expect("warning");
    assert_eq!(note, "recycled at 2026-03-12T09:00:00Z");
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn the_ex_owner_is_in_cooldown_after_a_recycle_but_others_may_claim() {
    let app = TestApp::spawn().await;
    let rules = proto::CreatePoolRequest {
        follow_up_timeout: secs(7 * DAY),
        reclaim_cooldown: secs(2 * DAY),
        ..Default::default()
    };
    let pool = pool_with(&app, "Cooling", rules).await;
    let lead = owned_lead(&app, &pool.id, "alice", "B").await;
    assert_eq!(
        sweep_at(&app, Duration::days(7)).await,
        (0, 1),
        "no warning rule"
    );

    let again = app.as_member("alice").try_claim(&lead.id).await;
    let md = assert_error(again, "RECLAIM_COOLDOWN");
    assert_eq!(md["cooldown_until"], "2026-03-11T09:00:00Z");
    let taken = app.as_member("bob").claim(&lead.id).await;
    assert_eq!(taken.owner_id, "bob");
    fixtures::assert_consistent(&app).await;
}

/// (lead, action, reason, deadline, recycle_at) of a response's steps, sorted.
fn steps(response: &proto::RunRecycleResponse) -> Vec<(String, i32, i32, i64, i64)> {
    let mut steps: Vec<_> = response
        .steps
        .iter()
        .map(|s| {
            (
                s.lead_id.clone(),
                s.action,
                s.reason,
                s.deadline.as_ref().expect("deadline").seconds,
                s.recycle_at.as_ref().expect("recycle_at").seconds,
            )
        })
        .collect();
    steps.sort();
    steps
}

#[tokio::test]
async fn dry_run_changes_nothing_and_matches_the_sweep_that_follows() {
    let app = TestApp::spawn().await;
    let weekly = pool_with(&app, "Weekly", weekly_rules()).await;
    let strict = pool_with(
        &app,
        "Strict",
        proto::CreatePoolRequest {
            follow_up_timeout: secs(5 * DAY),
            ..Default::default()
        },
    )
    .await;
    for who in ["alice", "bob"] {
        owned_lead(&app, &weekly.id, who, "B").await;
        owned_lead(&app, &strict.id, who, "C").await;
    }
    app.clock.set(start_time() + Duration::days(6));
    let before = app.fingerprint().await;
    let planned = run(&app, true).await;
    assert_eq!(app.fingerprint().await, before, "a dry run changes nothing");
    assert!(planned.dry_run);
    assert_eq!((planned.warned, planned.recycled), (2, 2));
    assert!(!planned.steps_truncated);

    let swept = run(&app, false).await;
    assert!(!swept.dry_run);
    assert_eq!((swept.warned, swept.recycled), (2, 2));
    assert_eq!(steps(&planned), steps(&swept));
    assert_eq!(planned.swept_at, swept.swept_at);
    let nothing_left = run(&app, true).await;
    assert_eq!((nothing_left.warned, nothing_left.recycled), (0, 0));
    fixtures::assert_consistent(&app).await;
}

async fn extend(
    app: &TestApp,
    who: &Caller,
    lead_id: &str,
    until: DateTime<Utc>,
) -> Result<proto::Lead, tonic::Status> {
    app.recycles()
        .extend_deadline(who.req(proto::ExtendDeadlineRequest {
            lead_id: lead_id.into(),
            deadline: proto::DeadlineKind::FollowUp.into(),
            until: ts(until),
            reason: "BIG_DEAL".into(),
            note: "waiting for the budget".into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

#[tokio::test]
async fn an_extended_deadline_needs_a_new_warning() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Weekly", weekly_rules()).await;
    let lead = owned_lead(&app, &pool.id, "alice", "B").await;
    assert_eq!(sweep_at(&app, Duration::days(6)).await, (1, 0));

    let until = start_time() + Duration::days(14);
    let extended = extend(&app, &user("mia"), &lead.id, until)
        .await
        .expect("extend");
    assert_eq!(extended.follow_up_deadline, ts(until));
    assert_eq!(extended.version, lead.version + 1);
    let retried = extend(&app, &user("mia"), &lead.id, until)
        .await
        .expect("retry");
    assert_eq!(retried.version, extended.version, "no second change");
    let (reason, note, actor): (String, String, String) = sqlx::query_as(
        "SELECT reason, note, actor FROM lead_events WHERE lead_id = $1::uuid AND kind = 'UPDATED'",
    )
    .bind(&lead.id)
    .fetch_one(&app.db)
    .await
    .expect("one UPDATED event");
    assert_eq!(
        (reason.as_str(), note.as_str(), actor.as_str()),
        ("BIG_DEAL", "waiting for the budget", "mia")
    );

    assert_eq!(
        sweep_at(&app, Duration::days(7)).await,
        (0, 0),
        "the old deadline is gone"
    );
    assert_eq!(
        sweep_at(&app, Duration::days(13)).await,
        (1, 0),
        "warned anew"
    );
    assert_eq!(sweep_at(&app, Duration::days(14)).await, (0, 1));
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn a_follow_up_resets_the_deadline_by_the_rule_even_after_an_extension() {
    // domain.md: follow_up_deadline = max(acquired_at, last_follow_up_at) + timeout, whatever
    // the deadline was before; a manager who wants more time extends again.
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Weekly", weekly_rules()).await;
    let lead = owned_lead(&app, &pool.id, "alice", "B").await;
    let until = start_time() + Duration::days(14);
    extend(&app, &user("mia"), &lead.id, until)
        .await
        .expect("extend");

    app.clock.set(start_time() + Duration::days(1));
    let followed = app.as_member("alice").follow_up(&lead.id).await;
    assert_eq!(
        followed.follow_up_deadline,
        ts(start_time() + Duration::days(8)),
        "day 1 + the pool's 7 days"
    );
    assert_eq!(
        sweep_at(&app, Duration::days(7)).await,
        (1, 0),
        "warned anew"
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn upcoming_recycles_list_deadlines_warnings_and_recycle_times() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Weekly", weekly_rules()).await;
    let first = owned_lead(&app, &pool.id, "alice", "B").await;
    app.clock.advance(Duration::days(1));
    let second = owned_lead(&app, &pool.id, "alice", "B").await;
    let bobs = owned_lead(&app, &pool.id, "bob", "B").await;
    assert_eq!(
        sweep_at(&app, Duration::days(6)).await,
        (1, 0),
        "first warned"
    );

    let list = |who: Caller, pool_id: &str, owner_id: &str, until: DateTime<Utc>, token: &str| {
        let mut client = app.recycles();
        let request = who.req(proto::ListUpcomingRecyclesRequest {
            pool_id: pool_id.into(),
            owner_id: owner_id.into(),
            until: ts(until),
            page_size: 2,
            page_token: token.into(),
        });
        async move {
            client
                .list_upcoming_recycles(request)
                .await
                .map(|r| r.into_inner())
        }
    };
    let page = list(user("alice"), "", "", start_time() + Duration::days(30), "")
        .await
        .expect("own leads");
    let ids: Vec<_> = page.recycles.iter().map(|r| r.lead_id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str(), second.id.as_str()]);
    let warned = &page.recycles[0];
    assert!(warned.warned && warned.warn_at.is_none());
    assert_eq!(warned.deadline, ts(start_time() + Duration::days(7)));
    assert_eq!(warned.recycle_at, warned.deadline);
    assert_eq!(warned.reason(), proto::RecycleReason::FollowUpOverdue);
    let next = &page.recycles[1];
    assert!(!next.warned);
    assert_eq!(next.warn_at, ts(start_time() + Duration::days(7)));
    assert_eq!(next.recycle_at, ts(start_time() + Duration::days(8)));
    assert!(page.next_page_token.is_empty());

    // The pool's view, paged; `until` cuts off what comes later.
    let page = list(
        user("bob"),
        &pool.id,
        "",
        start_time() + Duration::days(30),
        "",
    )
    .await
    .expect("pool page");
    assert_eq!(page.recycles.len(), 2);
    let rest = list(
        user("bob"),
        &pool.id,
        "",
        start_time() + Duration::days(30),
        &page.next_page_token,
    )
    .await
    .expect("next page");
    assert_eq!(rest.recycles.len(), 1);
    assert_eq!(rest.recycles[0].lead_id, bobs.id);
    let soon = list(
        user("mia"),
        &pool.id,
        "",
        start_time() + Duration::days(6) + Duration::hours(1),
        "",
    )
    .await
    .expect("until");
    assert_eq!(soon.recycles.len(), 0, "next steps on day 7");
    let changed_filter = list(
        user("bob"),
        &pool.id,
        "bob",
        start_time() + Duration::days(30),
        &page.next_page_token,
    )
    .await;
    assert_error(changed_filter, "BAD_PAGE_TOKEN");
    let others = list(user("alice"), "", "bob", start_time(), "").await;
    assert_eq!(bad_fields(others), ["pool_id"]);
    let outsider = list(user("zoe"), &pool.id, "", start_time(), "").await;
    assert_error(outsider, "NOT_POOL_MEMBER");
}

#[tokio::test]
async fn recycled_leads_are_listed_newest_first() {
    let app = TestApp::spawn().await;
    let pool = pool_with(
        &app,
        "Strict",
        proto::CreatePoolRequest {
            follow_up_timeout: secs(DAY),
            ..Default::default()
        },
    )
    .await;
    let older = owned_lead(&app, &pool.id, "alice", "B").await;
    assert_eq!(sweep_at(&app, Duration::days(1)).await, (0, 1));
    let alices = owned_lead(&app, &pool.id, "alice", "C").await;
    let bobs = owned_lead(&app, &pool.id, "bob", "C").await;
    assert_eq!(sweep_at(&app, Duration::days(2)).await, (0, 2));

    let list = |owner: &str, token: &str| {
        let mut client = app.recycles();
        let request = user("bob").req(proto::ListRecycledRequest {
            pool_id: pool.id.clone(),
            previous_owner_id: owner.into(),
            page_size: 2,
            page_token: token.into(),
        });
        async move {
            client
                .list_recycled(request)
                .await
                .expect("list")
                .into_inner()
        }
    };
    let page = list("", "").await;
    let mut ids: Vec<_> = page.recycled.iter().map(|r| r.lead_id.clone()).collect();
    ids.sort();
    let mut newest = vec![alices.id.clone(), bobs.id.clone()];
    newest.sort();
    assert_eq!(ids, newest, "the two of the last sweep first");
    let last = list("", &page.next_page_token).await;
    assert_eq!(last.recycled.len(), 1);
    let first = &last.recycled[0];
    assert_eq!(
        (
            first.lead_id.as_str(),
            first.previous_owner_id.as_str(),
            first.actor.as_str()
        ),
        (older.id.as_str(), "alice", "root-admin")
    );
    assert_eq!(first.reason(), proto::RecycleReason::FollowUpOverdue);
    assert_eq!(first.recycled_at, ts(start_time() + Duration::days(1)));
    let bobs_only = list("me", "").await;
    assert_eq!(bobs_only.recycled.len(), 1);
    assert_eq!(bobs_only.recycled[0].lead_id, bobs.id);
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Weekly", weekly_rules()).await;
    let lead = owned_lead(&app, &pool.id, "alice", "B").await;
    let before = app.fingerprint().await;
    let mut recycles = app.recycles();

    let upcoming = recycles
        .list_upcoming_recycles(admin().req(proto::ListUpcomingRecyclesRequest {
            pool_id: "nope".into(),
            owner_id: "x".repeat(129),
            page_size: -1,
            ..Default::default()
        }))
        .await;
    assert_eq!(
        bad_fields(upcoming),
        ["pool_id", "owner_id", "until", "page_size"]
    );
    let token = recycles
        .list_upcoming_recycles(admin().req(proto::ListUpcomingRecyclesRequest {
            pool_id: pool.id.clone(),
            until: ts(start_time()),
            page_token: "garbage".into(),
            ..Default::default()
        }))
        .await;
    assert_error(token, "BAD_PAGE_TOKEN");

    let run = recycles
        .run_recycle(admin().req(proto::RunRecycleRequest {
            pool_id: "nope".into(),
            request_id: "not-a-uuid".into(),
            ..Default::default()
        }))
        .await;
    assert_eq!(bad_fields(run), ["pool_id", "request_id"]);
    let unknown_pool = recycles
        .run_recycle(admin().req(proto::RunRecycleRequest {
            pool_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        }))
        .await;
    assert_error(unknown_pool, "POOL_NOT_FOUND");

    let recycled = recycles
        .list_recycled(admin().req(proto::ListRecycledRequest {
            page_size: -5,
            ..Default::default()
        }))
        .await;
    assert_eq!(bad_fields(recycled), ["pool_id", "page_size"]);

    let extend = recycles
        .extend_deadline(user("mia").req(proto::ExtendDeadlineRequest {
            lead_id: String::new(),
            deadline: 7,
            until: ts(start_time() - Duration::hours(1)),
            reason: " ".into(),
            note: "n".repeat(2_001),
            request_id: "x".into(),
        }))
        .await;
    assert_eq!(
        bad_fields(extend),
        [
            "lead_id",
            "deadline",
            "until",
            "reason",
            "note",
            "request_id"
        ]
    );
    let missing_until = recycles
        .extend_deadline(user("mia").req(proto::ExtendDeadlineRequest {
            lead_id: lead.id.clone(),
            deadline: proto::DeadlineKind::Close.into(),
            reason: "r".repeat(129),
            ..Default::default()
        }))
        .await;
    assert_eq!(bad_fields(missing_until), ["until", "reason"]);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn an_until_that_is_no_valid_time_is_named_once() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Weekly", weekly_rules()).await;
    let lead = owned_lead(&app, &pool.id, "alice", "B").await;
    let mia = app.as_member("mia");
    // 10000-01-01 and 0000-12-31: not valid times, so not "in the past" either.
    for seconds in [253_402_300_800, -62_135_596_801] {
        let request = proto::ExtendDeadlineRequest {
            lead_id: lead.id.clone(),
            deadline: proto::DeadlineKind::FollowUp.into(),
            until: Some(Timestamp { seconds, nanos: 0 }),
            reason: "BIG_DEAL".into(),
            ..Default::default()
        };
        let fields = app.invalid_fields(mia.try_extend_deadline(request)).await;
        assert_eq!(fields, ["until"], "{seconds}");
    }
    let past = proto::ExtendDeadlineRequest {
        lead_id: lead.id.clone(),
        deadline: proto::DeadlineKind::FollowUp.into(),
        until: ts(start_time() - Duration::seconds(1)),
        reason: "BIG_DEAL".into(),
        ..Default::default()
    };
    let fields = app.invalid_fields(mia.try_extend_deadline(past)).await;
    assert_eq!(fields, ["until"], "a valid time in the past");
}

#[tokio::test]
async fn only_admins_sweep_and_only_managers_extend_deadlines() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Weekly", weekly_rules()).await;
    let lead = owned_lead(&app, &pool.id, "alice", "B").await;
    app.clock.set(start_time() + Duration::days(8));
    let before = app.fingerprint().await;
    for who in [user("mia"), user("alice"), service()] {
        let refused = app
            .recycles()
            .run_recycle(who.req(proto::RunRecycleRequest::default()))
            .await;
        assert_error(refused, "ADMIN_REQUIRED");
    }
    let later = start_time() + Duration::days(20);
    let owner = extend(&app, &user("alice"), &lead.id, later).await;
    assert_error(owner, "MANAGER_REQUIRED");
    let outsider = extend(&app, &user("zoe"), &lead.id, later).await;
    assert_error(outsider, "NOT_POOL_MEMBER");
    let foreign = extend(&app, &Caller::admin("globex"), &lead.id, later).await;
    assert_error(foreign, "LEAD_NOT_FOUND");
    let other_tenant = app
        .recycles()
        .run_recycle(Caller::admin("globex").req(proto::RunRecycleRequest::default()))
        .await
        .expect("another tenant's sweep")
        .into_inner();
    assert_eq!(
        (other_tenant.warned, other_tenant.recycled),
        (0, 0),
        "tenants stay apart"
    );
    assert_eq!(app.fingerprint().await, before);

    let pool_lead = fixtures::lead(&app, &pool.id, "Li Na").await;
    let not_owned = extend(&app, &user("mia"), &pool_lead.id, later).await;
    assert_error(not_owned, "LEAD_NOT_OWNED");
    let by_admin = extend(&app, &admin(), &lead.id, later)
        .await
        .expect("admin extends");
    assert_eq!(by_admin.follow_up_deadline, ts(later));
}

#[tokio::test]
async fn run_recycle_replays_its_response_for_a_retried_request_id() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Weekly", weekly_rules()).await;
    owned_lead(&app, &pool.id, "alice", "B").await;
    app.clock.set(start_time() + Duration::days(6));
    let request_id = uuid::Uuid::now_v7().to_string();
    let call = |pool_id: &str| {
        let mut client = app.recycles();
        let request = admin().req(proto::RunRecycleRequest {
            pool_id: pool_id.into(),
            request_id: request_id.clone(),
            ..Default::default()
        });
        async move { client.run_recycle(request).await.map(|r| r.into_inner()) }
    };
    let first = call(&pool.id).await.expect("sweep");
    assert_eq!(first.warned, 1);
    let events = app.fingerprint().await;
    let retried = call(&pool.id).await.expect("retry");
    assert_eq!(retried, first);
    assert_eq!(app.fingerprint().await, events, "nothing ran again");
    let reused = call("").await;
    assert_error(reused, "REQUEST_ID_REUSED");
    let stamped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lead_events WHERE request_id = $1::uuid AND kind = 'RECYCLE_WARNING'",
    )
    .bind(&request_id)
    .fetch_one(&app.db)
    .await
    .expect("events");
    assert_eq!(stamped, 1, "the sweep's events carry its request_id");
}

/// A sweep cut off by the caller's deadline answers `DEADLINE_EXCEEDED` with what its committed
/// batches did, not "nothing was changed": here the warning batch committed, and the recycle
/// batch waited (on the recycle pool's row, which a transaction of the test holds) until the
/// deadline cut it off and rolled it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_cut_off_by_its_deadline_says_what_its_committed_batches_did() {
    let app = TestApp::spawn().await;
    let (pool, bin) = weekly_pool_recycling_to_a_bin(&app).await;
    let due = owned_lead(&app, &pool.id, "alice", "B").await;
    app.clock.set(start_time() + Duration::days(1));
    let warned = owned_lead(&app, &pool.id, "bob", "B").await;
    assert_eq!(sweep_at(&app, Duration::days(6)).await, (1, 0));
    // On day 7 `due` is to be recycled (warned on day 6) and `warned` to be warned.
    app.clock.set(start_time() + Duration::days(7));

    // A recycle into the recycle pool checks that pool's row; this transaction holds it.
    let holder = app
        .holding(
            "SELECT 1 FROM pools WHERE id = $1::uuid FOR UPDATE",
            &bin.id,
        )
        .await;
    let mut request = admin().req(proto::RunRecycleRequest {
        pool_id: pool.id.clone(),
        ..Default::default()
    });
    request.set_timeout(std::time::Duration::from_secs(1));
    let answered = app.recycles().run_recycle(request).await;
    let message = answered
        .as_ref()
        .map_or_else(|s| s.message().to_owned(), |_| String::new());
    let metadata = assert_error(answered, "DEADLINE_EXCEEDED");
    assert_eq!(
        (metadata["warned"].as_str(), metadata["recycled"].as_str()),
        ("1", "0")
    );
    assert!(
        message.contains("0 leads recycled and 1 warned"),
        "{message}"
    );
    holder.rollback().await.expect("release the pool");

    // A recycle statement still waiting would be granted the lead before this read.
    let mut check = app.db.begin().await.expect("begin");
    let state: String =
        sqlx::query_scalar("SELECT state FROM leads WHERE id = $1::uuid FOR UPDATE")
            .bind(&due.id)
            .fetch_one(&mut *check)
            .await
            .expect("state");
    check.rollback().await.expect("rollback");
    assert_eq!(state, "OWNED", "the cut-off batch rolled back");
    assert_eq!(
        recycle_events(&app, &warned.id).await,
        [warning("FOLLOW_UP_OVERDUE")],
        "the committed batch stays"
    );
    assert_eq!(
        run(&app, false).await.recycled,
        1,
        "run again, it sweeps the rest"
    );
    fixtures::assert_consistent(&app).await;
}
