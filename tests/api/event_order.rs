//! A lead's events reach followers in the order they happened. Followers read in (xid, seq)
//! order, and a transaction takes its xid at its first write, which can come long before it
//! reaches the lead: such a change must not slip in front of a younger one it saw committed.

use leadpool::proto;

use crate::distribution_fixtures::undistributed;
use crate::fixtures;
use crate::harness::TestApp;
use crate::streams::{next_event, watch};

/// The lead's events as a follower reads them, from the start: watched until every one written
/// has come (the read horizon is server-wide, so another test's open transaction can hold it
/// back for a moment).
async fn followed(app: &TestApp, lead_id: &str) -> Vec<proto::LeadEvent> {
    let written: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lead_events WHERE lead_id = $1::uuid")
            .bind(lead_id)
            .fetch_one(&app.db)
            .await
            .expect("count");
    let mut stream = watch(&app.as_service(), "").await;
    let mut events = Vec::new();
    while events.len() < written as usize {
        let event = next_event(&mut stream).await;
        if event.lead_id == lead_id {
            events.push(event);
        }
    }
    events
}

/// The named lead, distributed by the admin.
fn distribute_one(
    app: &TestApp,
    pool_id: &str,
    lead_id: &str,
) -> tokio::task::JoinHandle<proto::DistributionPlan> {
    let (admin, pool_id, lead_id) = (app.as_admin(), pool_id.to_owned(), lead_id.to_owned());
    tokio::spawn(async move {
        admin
            .distribute(proto::DistributeRequest {
                pool_id,
                filter: Some(proto::DistributionFilter {
                    lead_ids: vec![lead_id],
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
    })
}

/// Distribute locks its distribution state (which gives it its xid) and takes its leads at
/// once, then waits for the first member's row (alice's, held here); meanwhile bob releases the
/// lead and commits. Taken before, that release is not in this distribution: had the leads been
/// read after the wait, the older distribution would have handed the lead on with an event
/// that precedes the release in the stream, and been run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_committed_while_a_distribution_waits_is_left_to_the_next() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    let bob = app.as_member("bob");
    bob.claim(&lead.id).await;

    let alices_row = app
        .holding(
            "SELECT 1 FROM members WHERE pool_id = $1::uuid AND user_id = 'alice' FOR UPDATE",
            &team.pool.id,
        )
        .await;
    let distribute = distribute_one(&app, &team.pool.id, &lead.id);
    app.until_a_statement_waits_on_a_lock().await;
    bob.release(&lead.id, "NO_BUDGET").await;
    alices_row.commit().await.expect("commit");
    let plan = distribute.await.expect("task");
    assert!(plan.assignments.is_empty(), "{plan:?}");
    assert_eq!(
        undistributed(&plan),
        [(lead.id.as_str(), proto::UndistributedReason::NotAvailable)]
    );
    assert_eq!(app.conflict_retries().await, 0);

    let plan = distribute_one(&app, &team.pool.id, &lead.id)
        .await
        .expect("task");
    assert_eq!(plan.assignments.len(), 1, "the next distribution takes it");
    use proto::EventKind as K;
    let events = followed(&app, &lead.id).await;
    let kinds: Vec<_> = events.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds, [K::Created, K::Claimed, K::Released, K::Distributed]);
    fixtures::assert_consistent(&app).await;
}

/// A transfer of three of bob's leads locks them in id order: the first (which gives it its
/// xid), then it waits for the second (held here); meanwhile bob follows the third up and
/// commits, a younger change. Written under the transfer's older xid, its TRANSFERRED event
/// would come before that FOLLOWED_UP in the stream; the database refuses it and the service
/// runs the transfer again, now the younger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_that_began_before_a_follow_up_follows_it_in_the_stream() {
    let (app, team) = fixtures::app_with_team(None).await;
    let bob = app.as_member("bob");
    let mut leads = Vec::new();
    for name in ["王伟", "李娜", "Zhang Min"] {
        let lead = fixtures::lead(&app, &team.pool.id, name).await;
        bob.claim(&lead.id).await;
        leads.push(lead.id);
    }
    leads.sort_by_key(|id| uuid::Uuid::parse_str(id).expect("uuid"));
    let (second, third) = (leads[1].clone(), leads[2].clone());

    let seconds_row = app
        .holding(
            "SELECT 1 FROM leads WHERE id = $1::uuid FOR UPDATE",
            &second,
        )
        .await;
    let transfer = tokio::spawn({
        let (mia, leads) = (app.as_member("mia"), leads.clone());
        async move {
            let ids: Vec<&str> = leads.iter().map(String::as_str).collect();
            mia.transfer(&ids, "alice").await
        }
    });
    app.until_a_statement_waits_on_a_lock().await;
    bob.follow_up(&third).await;
    seconds_row.commit().await.expect("commit");
    transfer.await.expect("task");
    assert_eq!(app.conflict_retries().await, 1);

    use proto::EventKind as K;
    let events = followed(&app, &third).await;
    let kinds: Vec<_> = events.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        [K::Created, K::Claimed, K::FollowedUp, K::Transferred]
    );
    assert_eq!(
        events[3].to_owner, "alice",
        "the stream ends with the owner"
    );
    fixtures::assert_consistent(&app).await;
}
