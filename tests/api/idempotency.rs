//! `request_id`: retries replay the first completed response; a reused id with another request
//! is refused; failed calls are not remembered.

use chrono::Duration;
use futures::future::join_all;
use leadpool::proto;

use crate::caller::Services;
use crate::fixtures;
use crate::harness::assert_error;

const ID: &str = "0195f3a2-7c1e-7000-8000-00000000abcd";

fn create_request(pool_id: &str, name: &str) -> proto::CreateLeadRequest {
    proto::CreateLeadRequest {
        pool_id: pool_id.into(),
        lead: Some(fixtures::new_lead(name)),
        request_id: ID.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn retried_create_returns_the_first_lead_and_creates_one() {
    let (app, team) = fixtures::app_with_team(None).await;
    let request = create_request(&team.pool.id, "Wang Wei");
    let first = app.as_service().create_lead(request.clone()).await;
    let before = app.fingerprint().await;
    app.clock.advance(Duration::hours(23));
    let retry = app.as_service().create_lead(request.clone()).await;
    assert_eq!(retry, first);
    assert_eq!(app.fingerprint().await, before, "nothing acted twice");

    let mut other = request.clone();
    other.lead.as_mut().expect("lead").name = "Someone Else".into();
    let md = assert_error(
        app.as_service().try_create_lead(other).await,
        "REQUEST_ID_REUSED",
    );
    assert!(md.is_empty());
    assert_eq!(app.fingerprint().await, before);

    // Keys are per caller: the same id from another caller is another request.
    let mut mia_request = create_request(&team.pool.id, "Mia's lead");
    mia_request.request_id = ID.into();
    app.as_member("mia").create_lead(mia_request).await;
}

#[tokio::test]
async fn keys_expire_after_24_hours() {
    let (app, team) = fixtures::app_with_team(None).await;
    app.as_service()
        .create_lead(create_request(&team.pool.id, "First"))
        .await;
    app.clock.advance(Duration::hours(24));
    let later = app
        .as_service()
        .create_lead(create_request(&team.pool.id, "Second"))
        .await;
    assert_eq!(later.name, "Second");
}

#[tokio::test]
async fn retried_claim_replays_without_a_second_event_and_failures_are_not_kept() {
    let (app, team) = fixtures::app_with_team(Some(1)).await;
    let l1 = fixtures::lead(&app, &team.pool.id, "L1").await;
    let l2 = fixtures::lead(&app, &team.pool.id, "L2").await;
    let alice = app.as_member("alice");
    let claim = |lead_id: &str, request_id: &str| {
        let mut leads = alice.leads();
        let request = alice.req(proto::ClaimLeadRequest {
            lead_id: lead_id.into(),
            request_id: request_id.into(),
        });
        async move { leads.claim_lead(request).await }
    };
    let first = claim(&l1.id, ID).await.expect("claim").into_inner();
    let again = claim(&l1.id, ID).await.expect("retry").into_inner();
    assert_eq!(again, first);
    assert_eq!(
        fixtures::event_kinds(&app, &l1.id).await,
        ["CREATED", "CLAIMED"]
    );

    // A refused call stores nothing: once the cause is gone, the same id runs for real.
    let other_id = "0195f3a2-7c1e-7000-8000-00000000beef";
    assert_error(claim(&l2.id, other_id).await, "HELD_LIMIT_REACHED");
    app.as_member("alice").release(&l1.id, "NO_BUDGET").await;
    let claimed = claim(&l2.id, other_id).await.expect("now within the cap");
    assert_eq!(claimed.into_inner().lead.expect("lead").owner_id, "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_one_request_act_once() {
    let (app, team) = fixtures::app_with_team(None).await;
    let request = create_request(&team.pool.id, "Racer");
    let tasks = (0..8).map(|_| {
        let (service, request) = (app.as_service(), request.clone());
        tokio::spawn(async move { service.try_create_lead(request).await })
    });
    let responses: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("every retry succeeds"))
        .collect();
    assert!(
        responses.windows(2).all(|w| w[0] == w[1]),
        "one answer for all"
    );
    let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(leads, 1);
}
