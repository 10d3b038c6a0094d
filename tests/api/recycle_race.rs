//! Recycling under concurrency: several sweeps at once with follow-ups arriving meanwhile, and
//! the background scheduler sweeping by itself.

use std::time::Duration as StdDuration;

use chrono::Duration;
use futures::future::join_all;
use leadpool::proto;
use prost_types::Duration as PbDuration;
use tonic::Code;

use crate::fixtures;
use crate::fixtures::pool_with;
use crate::harness::{TestApp, recycling_settings, start_time};
use crate::streams::{next_event, watch_from_now};

const LEADS: i64 = 5_000;
const REPS: i64 = 20;

/// A pool whose leads must be followed up daily, without warnings, and `LEADS` leads its reps
/// claimed two days ago: all overdue. Seeded in SQL for speed, as claims would leave them:
/// owner, deadlines, held counts and a `CLAIMED` event each.
async fn overdue_pool(app: &TestApp) -> (String, Vec<(String, String)>) {
    let pool = app
        .as_admin()
        .create_pool(proto::CreatePoolRequest {
            name: "Daily".into(),
            follow_up_timeout: Some(PbDuration {
                seconds: 86_400,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await;
    for rep in 0..REPS {
        fixtures::member(
            app,
            &pool.id,
            &format!("rep{rep:02}"),
            proto::MemberRole::Member,
        )
        .await;
    }
    let claimed_at = start_time() - Duration::days(2);
    sqlx::raw_sql(&format!(
        "INSERT INTO leads (tenant_id, id, pool_id, name, state, owner_id, acquired_at,
                            acquired_via, follow_up_deadline, created_at, updated_at)
         SELECT '{tenant}', gen_random_uuid(), '{pool}', 'Lead ' || g, 'OWNED',
                'rep' || lpad((g % {REPS})::text, 2, '0'), '{claimed_at}', 'CLAIM',
                '{deadline}', '{claimed_at}', '{claimed_at}'
         FROM generate_series(1, {LEADS}) AS g;
         INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, to_owner, actor, occurred_at)
         SELECT tenant_id, id, pool_id, 'CLAIMED', owner_id, owner_id, acquired_at FROM leads;
         UPDATE members m SET held_count = o.n
         FROM (SELECT owner_id, count(*) AS n FROM leads GROUP BY owner_id) o
         WHERE m.user_id = o.owner_id;",
        tenant = fixtures::TENANT,
        pool = pool.id,
        claimed_at = claimed_at.to_rfc3339(),
        deadline = (claimed_at + Duration::days(1)).to_rfc3339(),
    ))
    .execute(&app.db)
    .await
    .expect("seed overdue leads");
    let leads: Vec<(String, String)> =
        sqlx::query_as("SELECT id::text, owner_id FROM leads ORDER BY id")
            .fetch_all(&app.db)
            .await
            .expect("leads");
    (pool.id, leads)
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.expect(sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sweeps_and_follow_ups_recycle_each_lead_at_most_once() {
    let app = TestApp::spawn().await;
    let (_pool, leads) = overdue_pool(&app).await;
    // Every tenth lead gets a follow-up from its owner while three sweeps run.
    let followed: Vec<(String, String)> = leads.iter().step_by(10).cloned().collect();
    let sweeps = (0..3).map(|_| {
        let admin = app.as_admin();
        tokio::spawn(async move { admin.run_recycle("", false).await })
    });
    let follow_ups = followed.chunks(followed.len() / 4).map(|chunk| {
        let owners: Vec<_> = chunk
            .iter()
            .map(|(lead_id, owner)| (lead_id.clone(), app.as_member(owner)))
            .collect();
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for (lead_id, owner) in owners {
                let result = owner.try_follow_up(&lead_id).await;
                outcomes.push((lead_id, result.map(drop)));
            }
            outcomes
        })
    });
    let (sweeps, follow_ups) = tokio::join!(join_all(sweeps), join_all(follow_ups));
    let swept: i64 = sweeps
        .into_iter()
        .map(|s| i64::from(s.expect("task").recycled))
        .sum();
    let outcomes: Vec<_> = follow_ups
        .into_iter()
        .flat_map(|f| f.expect("task"))
        .collect();

    let recycled_events = count(
        &app,
        "SELECT count(*) FROM lead_events WHERE kind = 'RECYCLED'",
    )
    .await;
    assert_eq!(
        swept, recycled_events,
        "every recycle reported once, by one sweep"
    );
    let twice = count(
        &app,
        "SELECT count(*) FROM (SELECT lead_id FROM lead_events WHERE kind = 'RECYCLED'
                               GROUP BY lead_id HAVING count(*) > 1) t",
    )
    .await;
    assert_eq!(twice, 0, "no lead recycled twice");
    let in_pool = count(&app, "SELECT count(*) FROM leads WHERE state = 'IN_POOL'").await;
    assert_eq!(
        in_pool, recycled_events,
        "one RECYCLED event per recycled lead"
    );
    let kept = outcomes.iter().filter(|(_, r)| r.is_ok()).count();
    assert!(kept > 0, "some follow-ups came first");
    for (lead_id, outcome) in &outcomes {
        let recycled: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM lead_events WHERE lead_id = $1::uuid AND kind = 'RECYCLED'",
        )
        .bind(lead_id)
        .fetch_one(&app.db)
        .await
        .expect("events");
        match outcome {
            Ok(()) => assert_eq!(recycled, 0, "{lead_id} was followed up, then recycled"),
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert_eq!(
                    recycled, 1,
                    "{lead_id}: follow-up refused, so it was recycled"
                );
            }
        }
    }

    // Whatever the three left (leads another sweep held at the end) the next sweep takes.
    app.as_admin().run_recycle("", false).await;
    let owned = count(&app, "SELECT count(*) FROM leads WHERE state = 'OWNED'").await;
    assert_eq!(
        owned, kept as i64,
        "only the leads followed up in time stay owned"
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM lead_events WHERE kind = 'RECYCLED'"
        )
        .await,
        LEADS - kept as i64
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_background_scheduler_recycles_on_its_own() {
    let app = TestApp::spawn().await;
    let rules = proto::CreatePoolRequest {
        follow_up_timeout: Some(PbDuration {
            seconds: 86_400,
            nanos: 0,
        }),
        ..Default::default()
    };
    let pool = pool_with(&app, "Daily", rules).await;
    let lead = fixtures::lead(&app, &pool.id, "Wang Wei").await;
    app.as_member("alice").claim(&lead.id).await;
    let mut recycled = watch_from_now(&app.as_service(), proto::EventKind::Recycled).await;
    // A replica whose scheduler sweeps every 50 ms, on the test's clock.
    let _replica = app
        .spawn_replica(recycling_settings(StdDuration::from_millis(50), 10))
        .await;
    app.clock.advance(Duration::days(1));
    let event = next_event(&mut recycled).await;
    assert_eq!(
        (
            event.lead_id.as_str(),
            event.from_owner.as_str(),
            event.actor.as_str()
        ),
        (lead.id.as_str(), "alice", "scheduler")
    );
    assert_eq!(event.reason, "FOLLOW_UP_OVERDUE");
    fixtures::assert_consistent(&app).await;
}
