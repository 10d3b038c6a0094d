//! Automatic distribution: the scheduler's sweep, driven by the manual clock, and its loop.

use std::time::Duration;

use chrono::Duration as Span;
use leadpool::proto;
use leadpool::proto::DistributionStrategy as S;

use crate::distribution_fixtures::{self as df, join, leads, pool_with, rep, rule};
use crate::fixtures;
use crate::harness::{SCHEDULER_ACTOR, TestApp, distributing_settings};
use crate::streams::{next_event, watch_from_now};

fn auto(after_seconds: i64) -> proto::DistributionRule {
    proto::DistributionRule {
        auto_distribute: true,
        auto_distribute_after: Some(prost_types::Duration {
            seconds: after_seconds,
            nanos: 0,
        }),
        ..rule(S::RoundRobin)
    }
}

#[tokio::test]
async fn leads_are_distributed_once_they_sat_in_the_pool_longer_than_the_rule_says() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Auto", None, auto(600)).await;
    let manual = pool_with(&app, "Manual", None, rule(S::RoundRobin)).await;
    for p in [&pool.id, &manual.id] {
        join(&app, p, rep("alice")).await;
        join(&app, p, rep("bob")).await;
    }
    let early = leads(&app, &pool.id, 3, "east").await;
    leads(&app, &manual.id, 2, "east").await;
    app.clock.advance(Span::seconds(300));
    let late = leads(&app, &pool.id, 2, "east").await;
    let scheduler = app.scheduler();

    app.clock.advance(Span::seconds(299));
    assert_eq!(scheduler.distribute(2).await, 0);
    app.clock.advance(Span::seconds(1));
    // Batches of 2 walk the three due leads; the later two are not due yet.
    assert_eq!(scheduler.distribute(2).await, 3);
    for id in &early {
        let lead = df::lead(&app, id).await;
        assert_eq!(lead.state(), proto::LeadState::Owned, "{id}");
    }
    for id in &late {
        assert_eq!(df::lead(&app, id).await.state(), proto::LeadState::InPool);
    }
    let actors: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT actor FROM lead_events WHERE kind = 'DISTRIBUTED'")
            .fetch_all(&app.db)
            .await
            .expect("actors");
    assert_eq!(actors, [SCHEDULER_ACTOR]);
    app.clock.advance(Span::seconds(300));
    assert_eq!(scheduler.distribute(2).await, 2);
    assert_eq!(
        df::count_events(&app, "DISTRIBUTED").await,
        5,
        "the manual pool's leads stay in it"
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn a_sweep_passes_over_leads_nobody_can_take_and_reaches_the_ones_behind_them() {
    let app = TestApp::spawn().await;
    let pool = pool_with(
        &app,
        "Blocked",
        None,
        proto::DistributionRule {
            strategy: S::RuleMatch.into(),
            ..auto(0)
        },
    )
    .await;
    join(
        &app,
        &pool.id,
        df::Rep {
            regions: vec!["west".into()],
            ..rep("alice")
        },
    )
    .await;
    leads(&app, &pool.id, 3, "north").await;
    let west = leads(&app, &pool.id, 2, "west").await;
    assert_eq!(app.scheduler().distribute(2).await, 2);
    for id in &west {
        assert_eq!(df::lead(&app, id).await.owner_id, "alice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_sweeping_at_once_never_assign_a_lead_twice() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Shared", None, auto(0)).await;
    for who in ["alice", "bob", "carl"] {
        join(&app, &pool.id, rep(who)).await;
    }
    leads(&app, &pool.id, 600, "east").await;
    let sweeps = (0..2).map(|_| {
        let scheduler = app.scheduler();
        tokio::spawn(async move { scheduler.distribute(50).await })
    });
    for sweep in futures::future::join_all(sweeps).await {
        sweep.expect("task");
    }
    // A sweep that found the pool busy left the rest to the other; a last one finds nothing left.
    app.scheduler().distribute(50).await;
    let owned: i64 = sqlx::query_scalar("SELECT count(*) FROM leads WHERE state = 'OWNED'")
        .fetch_one(&app.db)
        .await
        .expect("owned");
    assert_eq!(owned, 600);
    assert_eq!(df::count_events(&app, "DISTRIBUTED").await, 600);
    assert_eq!(
        df::held(&app).await,
        [
            ("alice".into(), 200),
            ("bob".into(), 200),
            ("carl".into(), 200)
        ]
        .into()
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn the_scheduler_loop_distributes_on_its_own_and_followers_see_it() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Looping", None, auto(0)).await;
    join(&app, &pool.id, rep("alice")).await;
    let mut follower = watch_from_now(&app.as_service(), proto::EventKind::Distributed).await;
    let ids = leads(&app, &pool.id, 3, "east").await;
    // A second server on the same database with the loop on, as a replica would run it.
    let settings = distributing_settings(Duration::from_millis(50));
    let _replica = app.spawn_replica(settings).await;
    let mut seen = Vec::new();
    while seen.len() < ids.len() {
        let event = next_event(&mut follower).await;
        assert_eq!(event.to_owner, "alice");
        assert_eq!(event.actor, SCHEDULER_ACTOR);
        seen.push(event.lead_id);
    }
    seen.sort();
    let mut expected = ids;
    expected.sort();
    assert_eq!(seen, expected);
}
