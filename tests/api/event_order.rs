//! A lead's events reach followers in the order they happened. Followers read in (xid, seq)
//! order, and a transaction takes its xid at its first write, which can come long before it
//! reaches the lead: such a change must not slip in front of a younger one it saw committed.

use leadpool::proto;

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

/// Distribute locks its distribution state (its xid), then waits for the first member's row
/// (alice's); meanwhile bob releases the lead and commits. Distribute then hands the lead on: its event must come
/// after the release's, or a follower replaying the stream leaves the lead in the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distribution_that_began_before_a_release_follows_it_in_the_stream() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    let bob = app.as_member("bob");
    bob.claim(&lead.id).await;

    let mut alices_row = app.db.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM members WHERE pool_id = $1::uuid AND user_id = 'alice' FOR UPDATE")
        .bind(&team.pool.id)
        .execute(&mut *alices_row)
        .await
        .expect("lock alice's row");
    let distribute = tokio::spawn({
        let (admin, pool_id, lead_id) = (app.as_admin(), team.pool.id.clone(), lead.id.clone());
        async move {
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
        }
    });
    app.until_a_statement_waits_on_a_lock().await;
    bob.release(&lead.id, "NO_BUDGET").await;
    alices_row.commit().await.expect("commit");
    let plan = distribute.await.expect("task");
    assert_eq!(
        plan.assignments.len(),
        1,
        "the released lead is distributed"
    );

    use proto::EventKind as K;
    let events = followed(&app, &lead.id).await;
    let kinds: Vec<_> = events.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds, [K::Created, K::Claimed, K::Released, K::Distributed]);
    let owner = app.as_admin().get_lead(&lead.id).await.owner_id;
    assert_eq!(events[3].to_owner, owner, "the stream ends with the owner");
    fixtures::assert_consistent(&app).await;
}
