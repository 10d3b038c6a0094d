//! LockLead, UnlockLead, ConvertLead, DiscardLead, ReopenLead, MoveLead.

use leadpool::proto;
use tonic::Code;

use crate::fixtures::{self, admin, user};
use crate::harness::{Caller, TestApp, assert_error, bad_fields};

type Reply = Result<proto::Lead, tonic::Status>;

async fn lock(app: &TestApp, who: &Caller, lead_id: &str, locked: bool) -> Reply {
    let mut leads = app.leads();
    if locked {
        leads
            .lock_lead(who.req(proto::LockLeadRequest {
                lead_id: lead_id.into(),
                note: "contract pending".into(),
                ..Default::default()
            }))
            .await
            .map(|r| r.into_inner().lead.expect("lead"))
    } else {
        leads
            .unlock_lead(who.req(proto::UnlockLeadRequest {
                lead_id: lead_id.into(),
                ..Default::default()
            }))
            .await
            .map(|r| r.into_inner().lead.expect("lead"))
    }
}

async fn claim(app: &TestApp, who: &str, lead_id: &str) -> Reply {
    app.leads()
        .claim_lead(user(who).req(proto::ClaimLeadRequest {
            lead_id: lead_id.into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

async fn release(app: &TestApp, who: &str, lead_id: &str) -> Reply {
    app.leads()
        .release_lead(user(who).req(proto::ReleaseLeadRequest {
            lead_id: lead_id.into(),
            reason: "NO_BUDGET".into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

async fn convert(app: &TestApp, who: &Caller, lead_id: &str) -> Reply {
    app.leads()
        .convert_lead(who.req(proto::ConvertLeadRequest {
            lead_id: lead_id.into(),
            note: "order 42".into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

async fn discard(app: &TestApp, who: &Caller, lead_id: &str, reason: &str) -> Reply {
    app.leads()
        .discard_lead(who.req(proto::DiscardLeadRequest {
            lead_id: lead_id.into(),
            reason: reason.into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

async fn reopen(app: &TestApp, who: &Caller, lead_id: &str) -> Reply {
    app.leads()
        .reopen_lead(who.req(proto::ReopenLeadRequest {
            lead_id: lead_id.into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

async fn move_lead(app: &TestApp, who: &Caller, lead_id: &str, target: &str) -> Reply {
    app.leads()
        .move_lead(who.req(proto::MoveLeadRequest {
            lead_id: lead_id.into(),
            target_pool_id: target.into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

#[tokio::test]
async fn locked_leads_refuse_claim_and_release_until_unlocked() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let pooled = fixtures::lead(&app, &team.pool.id, "Pooled").await;
    let owned = fixtures::lead(&app, &team.pool.id, "Owned").await;
    claim(&app, "bob", &owned.id).await.expect("claim");

    assert_error(
        lock(&app, &user("alice"), &pooled.id, true).await,
        Code::PermissionDenied,
        "MANAGER_REQUIRED",
    );
    let locked = lock(&app, &user("mia"), &pooled.id, true)
        .await
        .expect("lock");
    assert!(locked.locked);
    lock(&app, &admin(), &owned.id, true)
        .await
        .expect("admin locks");
    let before = app.fingerprint().await;
    let again = lock(&app, &user("mia"), &pooled.id, true)
        .await
        .expect("lock again");
    assert_eq!(again, locked);
    assert_eq!(app.fingerprint().await, before, "no second event");

    assert_error(
        claim(&app, "alice", &pooled.id).await,
        Code::FailedPrecondition,
        "LEAD_LOCKED",
    );
    assert_error(
        release(&app, "bob", &owned.id).await,
        Code::FailedPrecondition,
        "LEAD_LOCKED",
    );
    assert_eq!(app.fingerprint().await, before);

    let unlocked = lock(&app, &user("mia"), &pooled.id, false)
        .await
        .expect("unlock");
    assert!(!unlocked.locked);
    claim(&app, "alice", &pooled.id)
        .await
        .expect("claim after unlock");
    assert_eq!(
        fixtures::event_kinds(&app, &pooled.id).await,
        ["CREATED", "LOCKED", "UNLOCKED", "CLAIMED"]
    );
}

#[tokio::test]
async fn owners_and_managers_convert_owned_leads() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let l1 = fixtures::lead(&app, &team.pool.id, "L1").await;
    let l2 = fixtures::lead(&app, &team.pool.id, "L2").await;
    claim(&app, "alice", &l1.id).await.expect("claim");
    claim(&app, "alice", &l2.id).await.expect("claim");

    assert_error(
        convert(&app, &user("bob"), &l1.id).await,
        Code::PermissionDenied,
        "NOT_LEAD_OWNER",
    );
    let converted = convert(&app, &user("alice"), &l1.id)
        .await
        .expect("convert");
    assert_eq!(converted.state(), proto::LeadState::Converted);
    assert_eq!(converted.owner_id, "");
    assert_eq!(converted.previous_owner_id, "alice");
    let before = app.fingerprint().await;
    convert(&app, &user("alice"), &l1.id)
        .await
        .expect("retried convert");
    assert_eq!(app.fingerprint().await, before);
    convert(&app, &user("mia"), &l2.id)
        .await
        .expect("manager converts");
    let held: i32 = sqlx::query_scalar("SELECT held_count FROM members WHERE user_id = 'alice'")
        .fetch_one(&app.db)
        .await
        .expect("held");
    assert_eq!(held, 0, "converted leads leave the owner's holdings");
    assert_error(
        claim(&app, "bob", &l1.id).await,
        Code::FailedPrecondition,
        "LEAD_CLOSED",
    );

    let pooled = fixtures::lead(&app, &team.pool.id, "L3").await;
    assert_error(
        convert(&app, &user("mia"), &pooled.id).await,
        Code::FailedPrecondition,
        "LEAD_NOT_OWNED",
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn discard_needs_a_reason_and_reopen_needs_a_manager() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let owned = fixtures::lead(&app, &team.pool.id, "Owned").await;
    let pooled = fixtures::lead(&app, &team.pool.id, "Pooled").await;
    claim(&app, "alice", &owned.id).await.expect("claim");
    let before = app.fingerprint().await;
    assert_eq!(
        bad_fields(discard(&app, &user("alice"), &owned.id, "").await),
        ["reason"]
    );
    assert_error(
        discard(&app, &user("alice"), &pooled.id, "SPAM").await,
        Code::PermissionDenied,
        "MANAGER_REQUIRED",
    );
    assert_error(
        discard(&app, &user("bob"), &owned.id, "SPAM").await,
        Code::PermissionDenied,
        "NOT_LEAD_OWNER",
    );
    assert_eq!(app.fingerprint().await, before);

    let discarded = discard(&app, &user("alice"), &owned.id, "SPAM")
        .await
        .expect("owner discards");
    assert_eq!(discarded.state(), proto::LeadState::Discarded);
    discard(&app, &user("mia"), &pooled.id, "DUPLICATE")
        .await
        .expect("manager discards");
    assert_error(
        claim(&app, "bob", &pooled.id).await,
        Code::FailedPrecondition,
        "LEAD_CLOSED",
    );

    assert_error(
        reopen(&app, &user("alice"), &owned.id).await,
        Code::PermissionDenied,
        "MANAGER_REQUIRED",
    );
    let reopened = reopen(&app, &user("mia"), &owned.id).await.expect("reopen");
    assert_eq!(reopened.state(), proto::LeadState::InPool);
    assert_eq!(
        reopened.pool_entered_at.map(|t| t.seconds),
        Some(app.clock_now().timestamp())
    );
    claim(&app, "bob", &owned.id)
        .await
        .expect("claimable again");
    assert_eq!(
        fixtures::event_kinds(&app, &owned.id).await,
        ["CREATED", "CLAIMED", "DISCARDED", "REOPENED", "CLAIMED"]
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn discard_respects_reason_codes_and_locks() {
    let app = TestApp::spawn().await;
    let pool = app
        .pools()
        .create_pool(admin().req(proto::CreatePoolRequest {
            name: "Coded".into(),
            release_reasons: vec!["NO_BUDGET".into()],
            ..Default::default()
        }))
        .await
        .expect("pool")
        .into_inner()
        .pool
        .expect("pool");
    fixtures::member(&app, &pool.id, "alice", proto::MemberRole::Member).await;
    fixtures::member(&app, &pool.id, "mia", proto::MemberRole::Manager).await;
    let lead = fixtures::lead(&app, &pool.id, "L1").await;
    claim(&app, "alice", &lead.id).await.expect("claim");
    let before = app.fingerprint().await;
    assert_error(
        discard(&app, &user("alice"), &lead.id, "SPAM").await,
        Code::InvalidArgument,
        "UNKNOWN_RELEASE_REASON",
    );
    lock(&app, &user("mia"), &lead.id, true)
        .await
        .expect("lock");
    let locked = app.fingerprint().await;
    assert_error(
        discard(&app, &user("alice"), &lead.id, "NO_BUDGET").await,
        Code::FailedPrecondition,
        "LEAD_LOCKED",
    );
    assert_eq!(app.fingerprint().await, locked);
    assert_ne!(before, locked);
    discard(&app, &user("mia"), &lead.id, "NO_BUDGET")
        .await
        .expect("managers may");
}

#[tokio::test]
async fn move_needs_both_pools_managed_and_a_pool_lead() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let west = fixtures::pool(&app, "West", None).await;
    let lead = fixtures::lead(&app, &team.pool.id, "Mover").await;
    let before = app.fingerprint().await;
    assert_error(
        move_lead(&app, &user("mia"), &lead.id, &west.id).await,
        Code::PermissionDenied,
        "MANAGER_REQUIRED",
    );
    assert_error(
        move_lead(&app, &admin(), &lead.id, &uuid::Uuid::now_v7().to_string()).await,
        Code::NotFound,
        "POOL_NOT_FOUND",
    );
    assert_eq!(app.fingerprint().await, before);

    fixtures::member(&app, &west.id, "mia", proto::MemberRole::Manager).await;
    let moved = move_lead(&app, &user("mia"), &lead.id, &west.id)
        .await
        .expect("move");
    assert_eq!(moved.pool_id, west.id);
    let again = move_lead(&app, &user("mia"), &lead.id, &west.id)
        .await
        .expect("retried move");
    assert_eq!(again.version, moved.version, "no second change");
    let (pool_id, to_pool_id): (String, Option<String>) = sqlx::query_as(
        "SELECT pool_id::text, to_pool_id::text FROM lead_events WHERE kind = 'MOVED'",
    )
    .fetch_one(&app.db)
    .await
    .expect("event");
    assert_eq!(
        (pool_id, to_pool_id),
        (team.pool.id.clone(), Some(west.id.clone()))
    );

    let owned = fixtures::lead(&app, &team.pool.id, "Owned").await;
    claim(&app, "alice", &owned.id).await.expect("claim");
    assert_error(
        move_lead(&app, &admin(), &owned.id, &west.id).await,
        Code::FailedPrecondition,
        "LEAD_NOT_IN_POOL",
    );
    fixtures::assert_consistent(&app).await;
}
