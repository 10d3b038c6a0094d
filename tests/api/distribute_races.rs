//! Distributors running at once, on two servers over one database: every lead is assigned at
//! most once, caps hold, one event per assignment, and the weighted spread stays within one.

use std::collections::BTreeMap;

use leadpool::proto;
use leadpool::proto::DistributionStrategy as S;

use crate::caller::Client;
use crate::distribution_fixtures::{self as df, all_leads, join, leads, pool_with, rep, rule};
use crate::fixtures;
use crate::harness::{TestApp, test_settings};

/// Calls Distribute in batches of `limit` until a call assigns nothing; the plans it got.
async fn drain(admin: Client, pool_id: String, limit: i32) -> Vec<proto::DistributionPlan> {
    let mut plans = Vec::new();
    loop {
        let request = proto::DistributeRequest {
            limit,
            ..all_leads(&pool_id)
        };
        let plan = admin.distribute(request).await;
        if plan.assignments.is_empty() {
            return plans;
        }
        plans.push(plan);
    }
}

/// Runs two drains at once, one through each server.
async fn race(app: &TestApp, pool_id: &str, limit: i32) -> Vec<proto::DistributionPlan> {
    let replica = app.spawn_replica(test_settings()).await;
    let admins = [app.as_admin(), app.as_admin().on(replica.channel.clone())];
    let tasks = admins
        .into_iter()
        .map(|admin| tokio::spawn(drain(admin, pool_id.to_owned(), limit)));
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .flat_map(|plans| plans.expect("task"))
        .collect()
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.expect(sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_distributing_2000_leads_at_once_assign_each_once_within_one_of_the_weights() {
    let app = TestApp::spawn().await;
    let weights = [
        ("alice", 1),
        ("bob", 2),
        ("carl", 3),
        ("dora", 4),
        ("emil", 5),
    ];
    // Caps above each share (2,000 × 5/15 ≈ 667), so they bind nobody but are checked.
    let pool = pool_with(&app, "Race", Some(700), rule(S::Weighted)).await;
    for (who, weight) in weights {
        join(&app, &pool.id, df::Rep { weight, ..rep(who) }).await;
    }
    leads(&app, &pool.id, 2_000, "east").await;
    let plans = race(&app, &pool.id, 250).await;

    let assigned: usize = plans.iter().map(|p| p.assignments.len()).sum();
    assert_eq!(
        assigned, 2_000,
        "every lead assigned once across both servers"
    );
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM leads WHERE state = 'OWNED'").await,
        2_000
    );
    assert_eq!(df::count_events(&app, "DISTRIBUTED").await, 2_000);
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM (SELECT lead_id FROM lead_events WHERE kind = 'DISTRIBUTED'
                                   GROUP BY lead_id HAVING count(*) > 1) twice"
        )
        .await,
        0
    );
    let held = df::held(&app).await;
    let total: i32 = weights.iter().map(|(_, w)| w).sum();
    for (who, weight) in weights {
        let share = 2_000.0 * weight as f64 / total as f64;
        let got = held[who] as f64;
        assert!(
            (got - share).abs() <= 1.0,
            "{who}: {got} for a share of {share:.1}"
        );
        assert!(got <= 700.0);
    }
    fixtures::assert_consistent(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_distributions_fill_exactly_up_to_the_caps() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Capped", Some(50), rule(S::RoundRobin)).await;
    for who in ["alice", "bob", "carl", "dora"] {
        join(&app, &pool.id, rep(who)).await;
    }
    leads(&app, &pool.id, 300, "east").await;
    race(&app, &pool.id, 40).await;
    let held = df::held(&app).await;
    assert_eq!(
        held,
        BTreeMap::from([
            ("alice".to_owned(), 50),
            ("bob".to_owned(), 50),
            ("carl".to_owned(), 50),
            ("dora".to_owned(), 50)
        ])
    );
    assert_eq!(df::count_events(&app, "DISTRIBUTED").await, 200);
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM leads WHERE state = 'IN_POOL'").await,
        100
    );
    fixtures::assert_consistent(&app).await;
}
