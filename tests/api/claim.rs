//! ClaimLead: 领取 from the public pool into the private pool.

use leadpool::proto;

use crate::caller::Services;
use crate::fixtures;
use crate::harness::{TestApp, assert_error};

#[tokio::test]
async fn claim_makes_the_member_owner_with_one_event() {
    let (app, team, lead) = fixtures::app_with_lead(Some(5)).await;
    app.clock.advance(chrono::Duration::minutes(5));
    let alice = app.as_member("alice");
    let claimed = alice.claim(&lead.id).await;
    assert_eq!(claimed.state(), proto::LeadState::Owned);
    assert_eq!(claimed.owner_id, "alice");
    assert_eq!(claimed.acquired_via(), proto::AcquisitionChannel::Claim);
    assert_eq!(
        fixtures::seconds(claimed.acquired_at),
        Some(app.clock_now().timestamp())
    );
    assert_eq!(claimed.version, lead.version + 1);
    assert_eq!(alice.member_stats(&team.pool.id, "me").await.held_count, 1);
    assert_eq!(
        fixtures::event_kinds(&app, &lead.id).await,
        ["CREATED", "CLAIMED"]
    );
}

#[tokio::test]
async fn retried_claim_of_own_lead_succeeds_without_second_event() {
    let (app, _, lead) = fixtures::app_with_lead(Some(5)).await;
    let alice = app.as_member("alice");
    let first = alice.claim(&lead.id).await;
    let before = app.fingerprint().await;
    let again = alice.claim(&lead.id).await;
    assert_eq!(again, first);
    assert_eq!(app.fingerprint().await, before, "no second event, no count");
}

#[tokio::test]
async fn claim_of_a_lead_someone_owns_fails_and_changes_nothing() {
    let (app, _, lead) = fixtures::app_with_lead(Some(5)).await;
    app.as_member("alice").claim(&lead.id).await;
    let md = app
        .assert_refused(app.as_member("bob").try_claim(&lead.id), "LEAD_NOT_IN_POOL")
        .await;
    assert_eq!(md["lead_id"], lead.id);
}

#[tokio::test]
async fn claim_by_a_non_member_is_denied() {
    let (app, _, lead) = fixtures::app_with_lead(None).await;
    let before = app.fingerprint().await;
    // Tenant admins manage pools but do not hold leads without a membership.
    for stranger in [app.as_member("zoe"), app.as_admin()] {
        assert_error(stranger.try_claim(&lead.id).await, "NOT_POOL_MEMBER");
    }
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn claim_over_the_cap_is_refused_with_limit_and_held() {
    let (app, team) = fixtures::app_with_team(Some(2)).await;
    let leads = fixtures::leads(&app, &team.pool.id, 3).await;
    let alice = app.as_member("alice");
    alice.claim(&leads[0]).await;
    alice.claim(&leads[1]).await;
    let md = app
        .assert_refused(alice.try_claim(&leads[2]), "HELD_LIMIT_REACHED")
        .await;
    assert_eq!(md["limit"], "2");
    assert_eq!(md["held"], "2");
    // bob is under his own cap and may take it.
    app.as_member("bob").claim(&leads[2]).await;
}

/// A pool with a cap of 10 and one member with these settings, and two pool leads.
async fn pool_with_one_member(app: &TestApp, member: proto::AddMemberRequest) -> Vec<String> {
    let pool = fixtures::pool(app, "East", Some(10)).await;
    app.as_admin()
        .add_member(proto::AddMemberRequest {
            pool_id: pool.id.clone(),
            ..member
        })
        .await;
    fixtures::leads(app, &pool.id, 2).await
}

#[tokio::test]
async fn member_cap_overrides_the_pool_cap() {
    let app = TestApp::spawn().await;
    let leads = pool_with_one_member(
        &app,
        proto::AddMemberRequest {
            user_id: "trainee".into(),
            max_held: Some(1),
            ..Default::default()
        },
    )
    .await;
    let trainee = app.as_member("trainee");
    trainee.claim(&leads[0]).await;
    let md = assert_error(trainee.try_claim(&leads[1]).await, "HELD_LIMIT_REACHED");
    assert_eq!(md["limit"], "1");
}

#[tokio::test]
async fn inactive_members_cannot_claim() {
    let app = TestApp::spawn().await;
    let leads = pool_with_one_member(
        &app,
        proto::AddMemberRequest {
            user_id: "on-leave".into(),
            active: Some(false),
            ..Default::default()
        },
    )
    .await;
    app.assert_refused(
        app.as_member("on-leave").try_claim(&leads[0]),
        "MEMBER_INACTIVE",
    )
    .await;
}

#[tokio::test]
async fn locked_leads_cannot_be_claimed() {
    let (app, team) = fixtures::app_with_team(None).await;
    let lead = fixtures::lead(&app, &team.pool.id, "L1").await;
    app.as_member("mia").lock(&lead.id).await;
    app.assert_refused(app.as_member("alice").try_claim(&lead.id), "LEAD_LOCKED")
        .await;
}

#[tokio::test]
async fn claim_refuses_unknown_and_malformed_ids() {
    let app = TestApp::spawn().await;
    fixtures::team(&app, None).await;
    let alice = app.as_member("alice");
    app.assert_refused(
        alice.try_claim(&uuid::Uuid::now_v7().to_string()),
        "LEAD_NOT_FOUND",
    )
    .await;
    assert_eq!(app.invalid_fields(alice.try_claim("")).await, ["lead_id"]);
    assert_eq!(
        app.invalid_fields(alice.leads().claim_lead(alice.req(proto::ClaimLeadRequest {
            lead_id: "zzz".into(),
            request_id: "123".into(),
        })))
        .await,
        ["lead_id", "request_id"]
    );
}
