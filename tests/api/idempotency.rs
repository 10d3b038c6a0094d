//! `request_id`: retries replay the first completed response; a reused id with another request
//! is refused; failed calls are not remembered.

use chrono::Duration;
use futures::future::join_all;
use leadpool::proto;
use tonic::Code;

use crate::fixtures::{self, service, user};
use crate::harness::{TestApp, assert_error};

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
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let request = create_request(&team.pool.id, "Wang Wei");
    let first = app
        .leads()
        .create_lead(service().req(request.clone()))
        .await
        .expect("first")
        .into_inner();
    let before = app.fingerprint().await;
    app.clock.advance(Duration::hours(23));
    let retry = app
        .leads()
        .create_lead(service().req(request.clone()))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retry, first);
    assert_eq!(app.fingerprint().await, before, "nothing acted twice");

    let mut other = request.clone();
    other.lead.as_mut().expect("lead").name = "Someone Else".into();
    let md = assert_error(
        app.leads().create_lead(service().req(other)).await,
        Code::InvalidArgument,
        "REQUEST_ID_REUSED",
    );
    assert!(md.is_empty());
    assert_eq!(app.fingerprint().await, before);

    // Keys are per caller: the same id from another caller is another request.
    let mut mia_request = create_request(&team.pool.id, "Mia's lead");
    mia_request.request_id = ID.into();
    app.leads()
        .create_lead(user("mia").req(mia_request))
        .await
        .expect("another caller's key");
}

#[tokio::test]
async fn keys_expire_after_24_hours() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    app.leads()
        .create_lead(service().req(create_request(&team.pool.id, "First")))
        .await
        .expect("first");
    app.clock.advance(Duration::hours(24));
    let later = app
        .leads()
        .create_lead(service().req(create_request(&team.pool.id, "Second")))
        .await
        .expect("an expired key is free again")
        .into_inner();
    assert_eq!(later.lead.expect("lead").name, "Second");
}

#[tokio::test]
async fn retried_claim_replays_without_a_second_event_and_failures_are_not_kept() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(1)).await;
    let l1 = fixtures::lead(&app, &team.pool.id, "L1").await;
    let l2 = fixtures::lead(&app, &team.pool.id, "L2").await;
    let claim = |lead_id: &str, request_id: &str| {
        let mut leads = app.leads();
        let request = proto::ClaimLeadRequest {
            lead_id: lead_id.into(),
            request_id: request_id.into(),
        };
        async move { leads.claim_lead(user("alice").req(request)).await }
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
    assert_error(
        claim(&l2.id, other_id).await,
        Code::FailedPrecondition,
        "HELD_LIMIT_REACHED",
    );
    app.leads()
        .release_lead(user("alice").req(proto::ReleaseLeadRequest {
            lead_id: l1.id.clone(),
            reason: "NO_BUDGET".into(),
            ..Default::default()
        }))
        .await
        .expect("release");
    let claimed = claim(&l2.id, other_id).await.expect("now within the cap");
    assert_eq!(claimed.into_inner().lead.expect("lead").owner_id, "alice");
}

#[tokio::test]
async fn concurrent_retries_of_one_request_act_once() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let request = create_request(&team.pool.id, "Racer");
    let tasks = (0..8).map(|_| {
        let mut leads = app.leads();
        let request = request.clone();
        tokio::spawn(async move { leads.create_lead(service().req(request)).await })
    });
    let responses: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("every retry succeeds").into_inner())
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
