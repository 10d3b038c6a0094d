//! ClaimLead: 领取 from the public pool into the private pool.

use leadpool::proto;
use tonic::Code;

use crate::fixtures::{self, admin, user};
use crate::harness::{TestApp, assert_error, bad_fields};

async fn held_count(app: &TestApp, user_id: &str) -> i32 {
    sqlx::query_scalar("SELECT held_count FROM members WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&app.db)
        .await
        .expect("held_count")
}

async fn try_claim(
    app: &TestApp,
    who: &crate::harness::Caller,
    lead_id: &str,
) -> Result<tonic::Response<proto::ClaimLeadResponse>, tonic::Status> {
    app.leads()
        .claim_lead(who.req(proto::ClaimLeadRequest {
            lead_id: lead_id.into(),
            ..Default::default()
        }))
        .await
}

#[tokio::test]
async fn claim_makes_the_member_owner_with_one_event() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(5)).await;
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    app.clock.advance(chrono::Duration::minutes(5));
    let claimed = fixtures::claim(&app, &user("alice"), &lead.id).await;
    assert_eq!(claimed.state(), proto::LeadState::Owned);
    assert_eq!(claimed.owner_id, "alice");
    assert_eq!(claimed.acquired_via(), proto::AcquisitionChannel::Claim);
    assert_eq!(
        claimed.acquired_at.map(|t| t.seconds),
        Some(app.clock_now().timestamp())
    );
    assert_eq!(claimed.version, lead.version + 1);
    assert_eq!(held_count(&app, "alice").await, 1);
    assert_eq!(
        fixtures::event_kinds(&app, &lead.id).await,
        ["CREATED", "CLAIMED"]
    );
}

#[tokio::test]
async fn retried_claim_of_own_lead_succeeds_without_second_event() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(5)).await;
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let first = fixtures::claim(&app, &user("alice"), &lead.id).await;
    let before = app.fingerprint().await;
    let again = fixtures::claim(&app, &user("alice"), &lead.id).await;
    assert_eq!(again, first);
    assert_eq!(app.fingerprint().await, before, "no second event, no count");
}

#[tokio::test]
async fn claim_of_a_lead_someone_owns_fails_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(5)).await;
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    fixtures::claim(&app, &user("alice"), &lead.id).await;
    let before = app.fingerprint().await;
    let md = assert_error(
        try_claim(&app, &user("bob"), &lead.id).await,
        Code::FailedPrecondition,
        "LEAD_NOT_IN_POOL",
    );
    assert_eq!(md["lead_id"], lead.id);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn claim_by_a_non_member_is_denied() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let before = app.fingerprint().await;
    assert_error(
        try_claim(&app, &user("zoe"), &lead.id).await,
        Code::PermissionDenied,
        "NOT_POOL_MEMBER",
    );
    // Tenant admins manage pools but do not hold leads without a membership.
    assert_error(
        try_claim(&app, &admin(), &lead.id).await,
        Code::PermissionDenied,
        "NOT_POOL_MEMBER",
    );
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn claim_over_the_cap_is_refused_with_limit_and_held() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(2)).await;
    let mut leads = Vec::new();
    for name in ["L1", "L2", "L3"] {
        leads.push(fixtures::lead(&app, &team.pool.id, name).await);
    }
    fixtures::claim(&app, &user("alice"), &leads[0].id).await;
    fixtures::claim(&app, &user("alice"), &leads[1].id).await;
    let before = app.fingerprint().await;
    let md = assert_error(
        try_claim(&app, &user("alice"), &leads[2].id).await,
        Code::FailedPrecondition,
        "HELD_LIMIT_REACHED",
    );
    assert_eq!(md["limit"], "2");
    assert_eq!(md["held"], "2");
    assert_eq!(app.fingerprint().await, before);
    // bob is under his own cap and may take it.
    fixtures::claim(&app, &user("bob"), &leads[2].id).await;
}

#[tokio::test]
async fn member_cap_overrides_the_pool_cap() {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool(&app, "East", Some(10)).await;
    app.pools()
        .add_member(admin().req(proto::AddMemberRequest {
            pool_id: pool.id.clone(),
            user_id: "trainee".into(),
            max_held: Some(1),
            ..Default::default()
        }))
        .await
        .expect("add");
    let l1 = fixtures::lead(&app, &pool.id, "L1").await;
    let l2 = fixtures::lead(&app, &pool.id, "L2").await;
    fixtures::claim(&app, &user("trainee"), &l1.id).await;
    let md = assert_error(
        try_claim(&app, &user("trainee"), &l2.id).await,
        Code::FailedPrecondition,
        "HELD_LIMIT_REACHED",
    );
    assert_eq!(md["limit"], "1");
}

#[tokio::test]
async fn inactive_members_cannot_claim() {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool(&app, "East", None).await;
    app.pools()
        .add_member(admin().req(proto::AddMemberRequest {
            pool_id: pool.id.clone(),
            user_id: "on-leave".into(),
            active: Some(false),
            ..Default::default()
        }))
        .await
        .expect("add");
    let lead = fixtures::lead(&app, &pool.id, "L1").await;
    let before = app.fingerprint().await;
    assert_error(
        try_claim(&app, &user("on-leave"), &lead.id).await,
        Code::FailedPrecondition,
        "MEMBER_INACTIVE",
    );
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn locked_leads_cannot_be_claimed() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let lead = fixtures::lead(&app, &team.pool.id, "L1").await;
    // LockLead arrives with the lifecycle issue; the claim must already respect the flag.
    sqlx::query("UPDATE leads SET locked = true WHERE id = $1::uuid")
        .bind(&lead.id)
        .execute(&app.db)
        .await
        .expect("lock");
    let before = app.fingerprint().await;
    assert_error(
        try_claim(&app, &user("alice"), &lead.id).await,
        Code::FailedPrecondition,
        "LEAD_LOCKED",
    );
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn claim_refuses_unknown_and_malformed_ids() {
    let app = TestApp::spawn().await;
    fixtures::team(&app, None).await;
    let before = app.fingerprint().await;
    assert_error(
        try_claim(&app, &user("alice"), &uuid::Uuid::now_v7().to_string()).await,
        Code::NotFound,
        "LEAD_NOT_FOUND",
    );
    assert_eq!(
        bad_fields(try_claim(&app, &user("alice"), "").await),
        ["lead_id"]
    );
    let bad_request_id = app
        .leads()
        .claim_lead(user("alice").req(proto::ClaimLeadRequest {
            lead_id: "zzz".into(),
            request_id: "123".into(),
        }))
        .await;
    assert_eq!(bad_fields(bad_request_id), ["lead_id", "request_id"]);
    assert_eq!(app.fingerprint().await, before);
}
