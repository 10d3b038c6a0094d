//! One owner per lead and caps, under many concurrent clients; afterwards the database is
//! checked directly, including that the events replay to the current owners.

use futures::future::join_all;
use leadpool::proto;
use tonic::Code;

use crate::fixtures::{self, user};
use crate::harness::TestApp;

#[tokio::test]
async fn many_members_racing_for_the_same_leads_never_break_one_owner_or_caps() {
    let app = TestApp::spawn().await;
    let cap = 3;
    let pool = fixtures::pool(&app, "Race", Some(cap)).await;
    let members: Vec<String> = (0..16).map(|i| format!("rep{i:02}")).collect();
    for m in &members {
        fixtures::member(&app, &pool.id, m, proto::MemberRole::Member).await;
    }
    let mut leads = Vec::new();
    for i in 0..30 {
        leads.push(fixtures::lead(&app, &pool.id, &format!("L{i}")).await.id);
    }

    // Every member tries every lead, each in a different order.
    let tasks = members.iter().enumerate().map(|(i, m)| {
        let mut client = app.leads();
        let caller = user(m);
        let mut order = leads.clone();
        order.rotate_left(i * 7 % leads.len());
        tokio::spawn(async move {
            let mut codes = Vec::new();
            for lead_id in order {
                let result = client
                    .claim_lead(caller.req(proto::ClaimLeadRequest {
                        lead_id,
                        ..Default::default()
                    }))
                    .await;
                codes.push(result.map(|_| ()).map_err(|s| s.code()));
            }
            codes
        })
    });
    let results: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .flat_map(|r| r.expect("task"))
        .collect();
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(Code::FailedPrecondition))),
        "every loser gets a clean FAILED_PRECONDITION: {results:?}"
    );

    let owned: i64 = sqlx::query_scalar("SELECT count(*) FROM leads WHERE owner_id IS NOT NULL")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(wins as i64, owned, "one success per owned lead");
    assert_eq!(owned, 30, "16 reps × cap 3 ≥ 30 leads: every lead is taken");
    let over_cap: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT owner_id FROM leads WHERE owner_id IS NOT NULL
                               GROUP BY owner_id HAVING count(*) > $1) o",
    )
    .bind(i64::from(cap))
    .fetch_one(&app.db)
    .await
    .expect("caps");
    assert_eq!(over_cap, 0, "nobody over the cap");
    let claimed_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lead_events WHERE kind = 'CLAIMED'")
            .fetch_one(&app.db)
            .await
            .expect("events");
    assert_eq!(claimed_events, owned, "one CLAIMED event per owned lead");
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn one_member_claiming_in_parallel_stops_exactly_at_the_cap() {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool(&app, "Solo", Some(5)).await;
    fixtures::member(&app, &pool.id, "alice", proto::MemberRole::Member).await;
    let mut leads = Vec::new();
    for i in 0..32 {
        leads.push(fixtures::lead(&app, &pool.id, &format!("L{i}")).await.id);
    }
    let tasks = leads.into_iter().map(|lead_id| {
        let mut client = app.leads();
        tokio::spawn(async move {
            client
                .claim_lead(user("alice").req(proto::ClaimLeadRequest {
                    lead_id,
                    ..Default::default()
                }))
                .await
                .map(|_| ())
                .map_err(|s| s.code())
        })
    });
    let results: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(Code::FailedPrecondition)))
    );
    let held: i32 = sqlx::query_scalar("SELECT held_count FROM members WHERE user_id = 'alice'")
        .fetch_one(&app.db)
        .await
        .expect("held");
    assert_eq!(held, 5);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn concurrent_claims_and_releases_keep_counts_and_history_consistent() {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool(&app, "Churn", Some(4)).await;
    let members: Vec<String> = (0..8).map(|i| format!("rep{i}")).collect();
    for m in &members {
        fixtures::member(&app, &pool.id, m, proto::MemberRole::Member).await;
    }
    let mut leads = Vec::new();
    for i in 0..12 {
        leads.push(fixtures::lead(&app, &pool.id, &format!("L{i}")).await.id);
    }
    let tasks = members.iter().enumerate().map(|(i, m)| {
        let mut client = app.leads();
        let caller = user(m);
        let leads = leads.clone();
        tokio::spawn(async move {
            for round in 0..6 {
                let lead_id = leads[(i * 5 + round * 3) % leads.len()].clone();
                let claimed = client
                    .claim_lead(caller.req(proto::ClaimLeadRequest {
                        lead_id: lead_id.clone(),
                        ..Default::default()
                    }))
                    .await;
                if claimed.is_ok() && round % 2 == 0 {
                    client
                        .release_lead(caller.req(proto::ReleaseLeadRequest {
                            lead_id,
                            reason: "CHURN".into(),
                            ..Default::default()
                        }))
                        .await
                        .expect("owner releases");
                }
            }
        })
    });
    for task in join_all(tasks).await {
        task.expect("task");
    }
    fixtures::assert_consistent(&app).await;
}
