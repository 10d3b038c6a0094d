//! Accept or reroute: a lead pushed to a member waits for their acceptance until
//! `accept_within` passes; a miss or a decline passes it on by the pool's strategy, never to
//! someone who had it in the chain, and after `max_reroutes` (or when nobody is eligible) it
//! returns to the pool. Driven by the manual clock and the reroute sweep run by hand.

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use leadpool::proto;
use leadpool::proto::DistributionStrategy as S;
use prost_types::{Duration as WireDuration, Timestamp};

use crate::business_deadlines::shanghai;
use crate::caller::{Client, Services};
use crate::distribution_fixtures::{self as df, join, rep, rule};
use crate::fixtures;
use crate::harness::{SCHEDULER_ACTOR, TestApp, assert_error};

const HOUR: i64 = 3_600;

/// A round-robin pool whose pushed leads must be accepted within an hour, passed on at most
/// `max_reroutes` times, with `reps` (in join order) and mia, its manager.
async fn sla_pool(app: &TestApp, reps: &[&str], max_reroutes: Option<i32>) -> proto::Pool {
    let rules = proto::CreatePoolRequest {
        accept_within: Some(WireDuration {
            seconds: HOUR,
            nanos: 0,
        }),
        max_reroutes,
        ..Default::default()
    };
    pool_of(app, reps, rules).await
}

/// A round-robin pool with `rules`, `reps` (in join order) and mia, its manager.
async fn pool_of(app: &TestApp, reps: &[&str], rules: proto::CreatePoolRequest) -> proto::Pool {
    let pool = app
        .as_admin()
        .create_pool(proto::CreatePoolRequest {
            name: "华东 SLA".into(),
            distribution: Some(rule(S::RoundRobin)),
            ..rules
        })
        .await;
    for user in reps {
        join(app, &pool.id, rep(user)).await;
    }
    let manager = df::Rep {
        role: proto::MemberRole::Manager,
        max_held: Some(0),
        ..rep("mia")
    };
    join(app, &pool.id, manager).await;
    pool
}

/// Creates a lead in the pool and has mia distribute the pool (the lead its only one); who got
/// it.
async fn push(app: &TestApp, pool_id: &str, name: &str) -> (String, String) {
    let lead = app
        .as_service()
        .create_in(pool_id, fixtures::new_lead(name))
        .await;
    let plan = app
        .as_member("mia")
        .distribute(df::all_leads(pool_id))
        .await;
    let to = df::recipients(&plan)[0].to_owned();
    (lead.id, to)
}

fn time(at: Option<Timestamp>) -> Option<DateTime<Utc>> {
    at.and_then(|t| DateTime::from_timestamp(t.seconds, 0))
}

async fn owner(app: &TestApp, lead_id: &str) -> Option<String> {
    let lead = df::lead(app, lead_id).await;
    (!lead.owner_id.is_empty()).then_some(lead.owner_id)
}

/// `(kind, from, to, reason)` of the lead's events after its creation.
async fn trail(app: &TestApp, lead_id: &str) -> Vec<(String, String, String, String)> {
    sqlx::query_as(
        "SELECT kind, coalesce(from_owner, ''), coalesce(to_owner, ''), coalesce(reason, '')
         FROM lead_events WHERE lead_id = $1::uuid AND kind <> 'CREATED' ORDER BY seq",
    )
    .bind(lead_id)
    .fetch_all(&app.db)
    .await
    .expect("events")
}

fn step(kind: &str, from: &str, to: &str, reason: &str) -> (String, String, String, String) {
    (kind.into(), from.into(), to.into(), reason.into())
}

fn pending(owner: &str) -> proto::ListPendingAcceptanceRequest {
    proto::ListPendingAcceptanceRequest {
        owner_id: owner.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_missed_then_declined_then_missed_lead_walks_the_chain_and_returns_to_the_pool() {
    let app = TestApp::spawn().await;
    let pool = sla_pool(&app, &["rep1", "rep2", "rep3", "rep4"], Some(2)).await;
    let scheduler = app.scheduler();
    let (lead, first) = push(&app, &pool.id, "王伟").await;
    assert_eq!(first, "rep1");
    let pushed = app.as_member("rep1").get_lead(&lead).await;
    assert_eq!(
        time(pushed.accept_deadline),
        Some(app.clock_now() + Duration::hours(1))
    );
    let mine = app
        .as_member("rep1")
        .pending_acceptance(pending("me"))
        .await;
    assert_eq!(mine.leads.len(), 1);
    assert!(
        app.as_member("rep2")
            .pending_acceptance(pending(""))
            .await
            .leads
            .is_empty()
    );

    // rep1 misses the hour: the sweep passes the lead to rep2, with a fresh hour.
    app.clock.advance(Duration::minutes(59));
    assert_eq!(scheduler.reroute(10).await, 0, "not due yet");
    app.clock.advance(Duration::minutes(1));
    assert_eq!(scheduler.reroute(10).await, 1);
    assert_eq!(owner(&app, &lead).await.as_deref(), Some("rep2"));
    let with_rep2 = df::lead(&app, &lead).await;
    assert_eq!(
        time(with_rep2.accept_deadline),
        Some(app.clock_now() + Duration::hours(1))
    );
    // rep2 declines: at once to rep3.
    let outcome = app.as_member("rep2").decline(&lead, "不是我的区域").await;
    assert_eq!(outcome, proto::DeclineOutcome::Rerouted);
    assert_eq!(owner(&app, &lead).await.as_deref(), Some("rep3"));
    // rep3 misses too: two passes made, so back to the pool although rep4 was never tried.
    app.clock.advance(Duration::hours(1));
    assert_eq!(scheduler.reroute(10).await, 1);
    let back = df::lead(&app, &lead).await;
    assert_eq!(back.state(), proto::LeadState::InPool);
    assert_eq!(back.accept_deadline, None);

    assert_eq!(
        trail(&app, &lead).await,
        [
            step("DISTRIBUTED", "", "rep1", "ROUND_ROBIN"),
            step("ESCALATED", "rep1", "rep1", "ACCEPT_MISSED"),
            step("REROUTED", "rep1", "rep2", "MISSED"),
            step("REROUTED", "rep2", "rep3", "DECLINED"),
            step("ESCALATED", "rep3", "rep3", "ACCEPT_MISSED"),
            step("RECYCLED", "rep3", "", "ACCEPT_TIMEOUT"),
        ]
    );
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT actor FROM lead_events WHERE kind IN ('ESCALATED', 'RECYCLED')",
    )
    .fetch_all(&app.db)
    .await
    .expect("actors");
    assert_eq!(actors, [SCHEDULER_ACTOR]);
    let recycled = app
        .recycles()
        .list_recycled(app.as_member("mia").req(proto::ListRecycledRequest {
            pool_id: pool.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("recycled")
        .into_inner()
        .recycled;
    assert_eq!(recycled.len(), 1);
    assert_eq!(recycled[0].reason(), proto::RecycleReason::AcceptTimeout);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn a_reroute_skips_away_and_capped_members_and_returns_when_nobody_is_left() {
    let app = TestApp::spawn().await;
    let pool = sla_pool(&app, &["rep1", "rep2", "rep3", "rep4"], None).await;
    let scheduler = app.scheduler();
    // rep2 is at their cap of one, rep3 is away.
    app.as_admin()
        .update_member(
            proto::Member {
                pool_id: pool.id.clone(),
                user_id: "rep2".into(),
                max_held: Some(1),
                active: true,
                ..Default::default()
            },
            &["max_held"],
        )
        .await;
    let held = app
        .as_service()
        .create_in(&pool.id, fixtures::new_lead("李娜"))
        .await;
    app.as_member("rep2").claim(&held.id).await;
    let now = app.clock_now();
    app.as_member("rep3")
        .set_away(proto::SetAwayRequest {
            user_id: "rep3".into(),
            away_from: Some(Timestamp {
                seconds: now.timestamp(),
                nanos: 0,
            }),
            away_until: Some(Timestamp {
                seconds: (now + Duration::days(7)).timestamp(),
                nanos: 0,
            }),
            mode: proto::AwayMode::Pause.into(),
            reason: "年假".into(),
            ..Default::default()
        })
        .await;

    let (lead, first) = push(&app, &pool.id, "Anna Schmidt").await;
    assert_eq!(first, "rep1");
    app.clock.advance(Duration::hours(1));
    assert_eq!(scheduler.reroute(10).await, 1);
    assert_eq!(
        owner(&app, &lead).await.as_deref(),
        Some("rep4"),
        "rep2 is full and rep3 away"
    );
    // rep4 declines: rep1 had it, rep2 is full, rep3 away: nobody is left.
    let outcome = app.as_member("rep4").decline(&lead, "too far").await;
    assert_eq!(outcome, proto::DeclineOutcome::ReturnedToPool);
    assert_eq!(owner(&app, &lead).await, None);
    assert_eq!(fixtures::held_count(&app, &pool.id, "rep2").await, 1);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn accepting_or_following_up_keeps_the_lead_and_the_sweep_leaves_it() {
    let app = TestApp::spawn().await;
    let pool = sla_pool(&app, &["rep1"], Some(2)).await;
    let rep1 = app.as_member("rep1");
    let (accepted, _) = push(&app, &pool.id, "张敏").await;
    let (followed, _) = push(&app, &pool.id, "Jean Dupont").await;

    let lead = rep1.accept(&accepted).await;
    assert_eq!(lead.accept_deadline, None);
    assert_eq!(lead.owner_id, "rep1");
    // Accepting again answers with the lead as it is, without a second event.
    rep1.accept(&accepted).await;
    rep1.follow_up(&followed).await;
    assert!(
        rep1.pending_acceptance(pending("me"))
            .await
            .leads
            .is_empty()
    );

    app.clock.advance(Duration::hours(2));
    assert_eq!(app.scheduler().reroute(10).await, 0);
    assert_eq!(owner(&app, &accepted).await.as_deref(), Some("rep1"));
    assert_eq!(owner(&app, &followed).await.as_deref(), Some("rep1"));
    assert_eq!(
        trail(&app, &accepted).await,
        [
            step("DISTRIBUTED", "", "rep1", "ROUND_ROBIN"),
            step("ACCEPTED", "rep1", "rep1", ""),
        ]
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn refused_accepts_and_declines_say_why_and_change_nothing() {
    let app = TestApp::spawn().await;
    let pool = sla_pool(&app, &["rep1", "rep2"], None).await;
    let (lead, _) = push(&app, &pool.id, "刘洋").await;
    let (rep1, rep2) = (app.as_member("rep1"), app.as_member("rep2"));

    let metadata = app
        .assert_refused(rep2.try_accept(&lead), "NOT_LEAD_OWNER")
        .await;
    assert_eq!(metadata["lead_id"], lead);
    // Not even an admin accepts for rep1, and the refusal does not say otherwise.
    let by_admin = app.as_admin().try_accept(&lead).await;
    let message = by_admin.as_ref().map_err(|s| s.message().to_owned());
    assert!(
        message.is_err_and(|m| m.contains("pushed to")),
        "{by_admin:?}"
    );
    assert_error(by_admin, "NOT_LEAD_OWNER");
    // Not waiting for rep2: whoever holds it, rep2 may not decline it.
    app.assert_refused(rep2.try_decline(&lead, "no"), "NOT_PENDING_ACCEPTANCE")
        .await;
    let fields = app.invalid_fields(rep1.try_decline(&lead, "  ")).await;
    assert_eq!(fields, ["reason"]);
    let fields = app
        .invalid_fields(rep1.try_decline("not-a-uuid", "no"))
        .await;
    assert_eq!(fields, ["lead_id"]);
    let fields = app
        .invalid_fields(
            rep1.try_pending_acceptance(proto::ListPendingAcceptanceRequest {
                owner_id: "rep2".into(),
                ..Default::default()
            }),
        )
        .await;
    assert_eq!(fields, ["pool_id"]);
    let others = proto::ListPendingAcceptanceRequest {
        pool_id: pool.id.clone(),
        all_owners: true,
        ..Default::default()
    };
    app.assert_refused(
        rep2.try_pending_acceptance(others.clone()),
        "MANAGER_REQUIRED",
    )
    .await;
    let listed = app.as_member("mia").pending_acceptance(others).await.leads;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].owner_id, "rep1");

    // A lead a manager locked is neither rerouted nor recycled: declining it is refused.
    let mia = app.as_member("mia");
    mia.lock(&lead).await;
    let metadata = app
        .assert_refused(rep1.try_decline(&lead, "不是我的客户"), "LEAD_LOCKED")
        .await;
    assert_eq!(metadata["lead_id"], lead);
    mia.unlock(&lead).await;

    rep1.accept(&lead).await;
    let metadata = app
        .assert_refused(
            rep1.try_decline(&lead, "changed my mind"),
            "NOT_PENDING_ACCEPTANCE",
        )
        .await;
    assert_eq!(metadata["lead_id"], lead);
    let pooled = app
        .as_service()
        .create_in(&pool.id, fixtures::new_lead("赵磊"))
        .await;
    app.assert_refused(rep1.try_accept(&pooled.id), "LEAD_NOT_OWNED")
        .await;
    app.assert_refused(rep1.try_decline(&pooled.id, "no"), "NOT_PENDING_ACCEPTANCE")
        .await;
}

#[tokio::test]
async fn only_distribution_and_assignment_under_sla_on_assign_wait_for_acceptance() {
    let app = TestApp::spawn().await;
    let pool = sla_pool(&app, &["rep1"], None).await;
    let mia = app.as_member("mia");
    let assigned = app
        .as_service()
        .create_in(&pool.id, fixtures::new_lead("周杰"))
        .await;
    let lead = mia.assign(&assigned.id, "rep1", false).await;
    assert_eq!(lead.accept_deadline, None, "sla_on_assign is off");
    let claimed = app
        .as_service()
        .create_in(&pool.id, fixtures::new_lead("吴芳"))
        .await;
    let lead = app.as_member("rep1").claim(&claimed.id).await;
    assert_eq!(
        lead.accept_deadline, None,
        "a claim is accepted by definition"
    );

    let mut rules = app.as_admin().get_pool(&pool.id).await;
    rules.sla_on_assign = true;
    app.as_admin().update_pool(rules, &["sla_on_assign"]).await;
    let assigned = app
        .as_service()
        .create_in(&pool.id, fixtures::new_lead("孙丽"))
        .await;
    let lead = mia.assign(&assigned.id, "rep1", false).await;
    assert_eq!(
        time(lead.accept_deadline),
        Some(app.clock_now() + Duration::hours(1))
    );
    // Released while pending: it waits for nobody any more.
    let lead = app.as_member("rep1").release(&assigned.id, "重复").await;
    assert_eq!(lead.accept_deadline, None);
    app.clock.advance(Duration::hours(2));
    assert_eq!(app.scheduler().reroute(10).await, 0);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn an_accept_window_in_business_time_waits_over_the_weekend() {
    let app = TestApp::spawn().await;
    let calendar = app
        .as_admin()
        .create_calendar(fixtures::spring_festival())
        .await;
    let rules = proto::CreatePoolRequest {
        timezone: "Asia/Shanghai".into(),
        calendar_id: calendar.id,
        accept_within_business_time: Some(proto::BusinessTime {
            span: Some(proto::business_time::Span::OpenTime(WireDuration {
                seconds: 2 * HOUR,
                nanos: 0,
            })),
        }),
        ..Default::default()
    };
    let pool = pool_of(&app, &["rep1", "rep2"], rules).await;
    // Friday 17:00 before the Spring Festival week: one open hour that day, the second on the
    // first workday after the holiday, Monday the 15th.
    app.clock.set(shanghai(2027, 2, 5, 17, 0));
    let (lead, first) = push(&app, &pool.id, "王伟").await;
    assert_eq!(first, "rep1");
    let deadline = time(df::lead(&app, &lead).await.accept_deadline);
    assert_eq!(deadline, Some(shanghai(2027, 2, 15, 10, 0)));

    app.clock.set(shanghai(2027, 2, 15, 9, 59));
    assert_eq!(
        app.scheduler().reroute(10).await,
        0,
        "still within the window"
    );
    app.clock.set(shanghai(2027, 2, 15, 10, 0));
    assert_eq!(app.scheduler().reroute(10).await, 1);
    let rerouted = df::lead(&app, &lead).await;
    assert_eq!(rerouted.owner_id, "rep2");
    assert_eq!(
        time(rerouted.accept_deadline),
        Some(shanghai(2027, 2, 15, 12, 0))
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn accept_rules_are_validated_and_shown() {
    let app = TestApp::spawn().await;
    let admin = app.as_admin();
    let business = proto::CreatePoolRequest {
        name: "No calendar".into(),
        accept_within_business_time: Some(proto::BusinessTime {
            span: Some(proto::business_time::Span::Workdays(1)),
        }),
        ..Default::default()
    };
    let fields = app.invalid_fields(admin.try_create_pool(business)).await;
    assert_eq!(fields, ["accept_within_business_time"]);
    let negative = proto::CreatePoolRequest {
        name: "Negative".into(),
        max_reroutes: Some(-1),
        ..Default::default()
    };
    assert_eq!(
        app.invalid_fields(admin.try_create_pool(negative)).await,
        ["max_reroutes"]
    );
    let pool = sla_pool(&app, &[], Some(3)).await;
    let shown = admin.get_pool(&pool.id).await;
    assert_eq!(shown.accept_within.map(|d| d.seconds), Some(HOUR));
    assert_eq!(shown.max_reroutes, Some(3));
}

/// Pushes `n` leads to rep1 and rep2 in turn.
async fn pushed(app: &TestApp, pool_id: &str, n: usize) -> Vec<String> {
    let ids = df::leads(app, pool_id, n, "east").await;
    app.as_member("mia")
        .distribute(df::all_leads(pool_id))
        .await;
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn sweeps_on_two_replicas_reroute_each_missed_lead_once() {
    let app = TestApp::spawn().await;
    let pool = sla_pool(&app, &["rep1", "rep2", "rep3"], Some(1)).await;
    let ids = pushed(&app, &pool.id, 60).await;
    app.clock.advance(Duration::hours(1));
    let (a, b) = (app.scheduler(), app.scheduler());
    let swept = join_all([a.reroute(7), b.reroute(7)]).await;
    assert_eq!(
        swept.iter().sum::<u64>(),
        60,
        "every missed lead handled once"
    );
    let rerouted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lead_events WHERE kind = 'REROUTED'")
            .fetch_one(&app.db)
            .await
            .expect("count");
    assert_eq!(rerouted, 60);
    let escalated: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT lead_id) FROM lead_events WHERE kind = 'ESCALATED'",
    )
    .fetch_one(&app.db)
    .await
    .expect("count");
    assert_eq!(escalated, 60);
    // One pass allowed: the next miss returns every lead to the pool.
    app.clock.advance(Duration::hours(1));
    assert_eq!(
        join_all([a.reroute(7), b.reroute(7)])
            .await
            .iter()
            .sum::<u64>(),
        60
    );
    for id in &ids {
        assert_eq!(owner(&app, id).await, None, "{id}");
    }
    fixtures::assert_consistent(&app).await;
}

/// The members' pending leads, listed page by page.
async fn pending_ids(who: &Client, pool_id: &str) -> Vec<String> {
    fixtures::all_pages(|token| async move {
        let page = who
            .pending_acceptance(proto::ListPendingAcceptanceRequest {
                pool_id: pool_id.into(),
                all_owners: true,
                page_size: 4,
                page_token: token,
                ..Default::default()
            })
            .await;
        (
            page.leads.into_iter().map(|l| l.id).collect(),
            page.next_page_token,
        )
    })
    .await
}

#[tokio::test]
async fn pending_leads_are_listed_soonest_deadline_first_page_by_page() {
    let app = TestApp::spawn().await;
    let pool = sla_pool(&app, &["rep1", "rep2"], None).await;
    let first = pushed(&app, &pool.id, 5).await;
    app.clock.advance(Duration::minutes(5));
    let later = pushed(&app, &pool.id, 5).await;
    let listed = pending_ids(&app.as_member("mia"), &pool.id).await;
    let mut early = first.clone();
    early.sort();
    let mut head = listed[..5].to_vec();
    head.sort();
    assert_eq!(head, early, "the earlier deadlines first");
    let mut all: Vec<String> = first.into_iter().chain(later).collect();
    all.sort();
    let mut listed = listed;
    listed.sort();
    assert_eq!(listed, all);
}

/// A reroute passes over a member still in their cooldown for the lead, as a distribution does:
/// the cooldown a release started outlives the pushes after it.
#[tokio::test]
async fn a_reroute_passes_over_a_member_in_their_cooldown() {
    let app = TestApp::spawn().await;
    let hour = Some(WireDuration {
        seconds: HOUR,
        nanos: 0,
    });
    let rules = proto::CreatePoolRequest {
        accept_within: hour,
        reclaim_cooldown: hour,
        ..Default::default()
    };
    let pool = pool_of(&app, &["rep1", "rep2"], rules).await;
    let lead = app
        .as_service()
        .create_in(&pool.id, fixtures::new_lead("赵敏"))
        .await;
    let rep1 = app.as_member("rep1");
    rep1.claim(&lead.id).await;
    rep1.release(&lead.id, "预算不足").await;

    let plan = app
        .as_member("mia")
        .distribute(df::all_leads(&pool.id))
        .await;
    assert_eq!(df::recipients(&plan), ["rep2"], "rep1 is in their cooldown");
    let outcome = app
        .as_member("rep2")
        .decline(&lead.id, "不在我的区域")
        .await;
    assert_eq!(outcome, proto::DeclineOutcome::ReturnedToPool);
    assert_eq!(owner(&app, &lead.id).await, None);
    fixtures::assert_consistent(&app).await;
}
