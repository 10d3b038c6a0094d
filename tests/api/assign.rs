//! AssignLead and TransferLeads: rights, caps, cooldowns, locks, retries, bad input.

use leadpool::proto;
use tonic::Code;

use crate::distribution_fixtures::{self as df, join, pool_with, rep, rule};
use crate::fixtures::{self, admin, user};
use crate::harness::{Caller, TestApp, assert_error, bad_fields};

async fn assign(
    app: &TestApp,
    who: &Caller,
    lead_id: &str,
    to: &str,
    override_cooldown: bool,
) -> Result<proto::Lead, tonic::Status> {
    app.assignments()
        .assign_lead(who.req(proto::AssignLeadRequest {
            lead_id: lead_id.into(),
            user_id: to.into(),
            override_cooldown,
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

async fn transfer(
    app: &TestApp,
    who: &Caller,
    lead_ids: &[&str],
    to: &str,
) -> Result<proto::TransferLeadsResponse, tonic::Status> {
    app.assignments()
        .transfer_leads(who.req(proto::TransferLeadsRequest {
            lead_ids: lead_ids.iter().map(|id| id.to_string()).collect(),
            to_user_id: to.into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner())
}

async fn held_count(app: &TestApp, who: &str) -> i32 {
    sqlx::query_scalar("SELECT held_count FROM members WHERE user_id = $1")
        .bind(who)
        .fetch_one(&app.db)
        .await
        .expect("held")
}

#[tokio::test]
async fn a_manager_assigns_a_pool_lead_and_a_repeat_adds_no_event() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(2)).await;
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let assigned = assign(&app, &user("mia"), &lead.id, "alice", false)
        .await
        .expect("assign");
    assert_eq!(assigned.owner_id, "alice");
    assert_eq!(assigned.acquired_via(), proto::AcquisitionChannel::Assign);
    assert_eq!(held_count(&app, "alice").await, 1);
    assign(&app, &user("mia"), &lead.id, "alice", false)
        .await
        .expect("assigning again succeeds");
    assert_eq!(
        fixtures::event_kinds(&app, &lead.id).await,
        ["CREATED", "ASSIGNED"]
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn assign_refuses_the_previous_owner_in_cooldown_unless_overridden_and_never_the_cap() {
    let app = TestApp::spawn().await;
    let pool = pool_with(
        &app,
        "Cooling",
        Some(1),
        rule(proto::DistributionStrategy::RoundRobin),
    )
    .await;
    join(&app, &pool.id, rep("alice")).await;
    let lead = fixtures::lead(&app, &pool.id, "Li Na").await;
    fixtures::claim(&app, &user("alice"), &lead.id).await;
    app.leads()
        .release_lead(user("alice").req(proto::ReleaseLeadRequest {
            lead_id: lead.id.clone(),
            reason: "NO_BUDGET".into(),
            ..Default::default()
        }))
        .await
        .expect("release");
    let before = app.fingerprint().await;
    let refused = assign(&app, &admin(), &lead.id, "alice", false).await;
    let md = assert_error(refused, Code::FailedPrecondition, "RECLAIM_COOLDOWN");
    assert!(md.contains_key("cooldown_until"));
    assert_eq!(app.fingerprint().await, before);
    assign(&app, &admin(), &lead.id, "alice", true)
        .await
        .expect("an explicit override");
    let reason: Option<String> = sqlx::query_scalar(
        "SELECT reason FROM lead_events WHERE lead_id = $1::uuid AND kind = 'ASSIGNED'",
    )
    .bind(&lead.id)
    .fetch_one(&app.db)
    .await
    .expect("event");
    assert_eq!(reason.as_deref(), Some("COOLDOWN_OVERRIDDEN"));

    let second = fixtures::lead(&app, &pool.id, "Zhao Lei").await;
    let before = app.fingerprint().await;
    let capped = assign(&app, &admin(), &second.id, "alice", true).await;
    let md = assert_error(capped, Code::FailedPrecondition, "HELD_LIMIT_REACHED");
    assert_eq!((md["limit"].as_str(), md["held"].as_str()), ("1", "1"));
    assert_eq!(app.fingerprint().await, before);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn assign_refuses_unknown_inactive_locked_owned_and_unauthorised_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let owned = fixtures::lead(&app, &team.pool.id, "Owned").await;
    fixtures::claim(&app, &user("bob"), &owned.id).await;
    let locked = fixtures::lead(&app, &team.pool.id, "Locked").await;
    app.leads()
        .lock_lead(admin().req(proto::LockLeadRequest {
            lead_id: locked.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("lock");
    fixtures::member(&app, &team.pool.id, "olga", proto::MemberRole::Member).await;
    df::deactivate(&app, &team.pool.id, "olga").await;
    let before = app.fingerprint().await;
    let mia = user("mia");
    let md = assert_error(
        assign(&app, &mia, &lead.id, "nobody", false).await,
        Code::NotFound,
        "MEMBER_NOT_FOUND",
    );
    assert_eq!(md["user_id"], "nobody");
    assert_error(
        assign(&app, &mia, &lead.id, "olga", false).await,
        Code::FailedPrecondition,
        "MEMBER_INACTIVE",
    );
    assert_error(
        assign(&app, &mia, &locked.id, "alice", false).await,
        Code::FailedPrecondition,
        "LEAD_LOCKED",
    );
    assert_error(
        assign(&app, &mia, &owned.id, "alice", false).await,
        Code::FailedPrecondition,
        "LEAD_NOT_IN_POOL",
    );
    assert_error(
        assign(&app, &user("alice"), &lead.id, "alice", false).await,
        Code::PermissionDenied,
        "MANAGER_REQUIRED",
    );
    assert_error(
        assign(&app, &user("stranger"), &lead.id, "alice", false).await,
        Code::PermissionDenied,
        "NOT_POOL_MEMBER",
    );
    assert_error(
        assign(&app, &Caller::admin("globex"), &lead.id, "alice", false).await,
        Code::NotFound,
        "LEAD_NOT_FOUND",
    );
    let bad = assign(&app, &mia, "not-a-uuid", "", false).await;
    assert_eq!(bad_fields(bad), ["lead_id", "user_id"]);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn the_owner_transfers_their_leads_to_a_colleague_all_at_once() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(5)).await;
    let mut ids = Vec::new();
    for name in ["A", "B", "C"] {
        let lead = fixtures::lead(&app, &team.pool.id, name).await;
        fixtures::claim(&app, &user("alice"), &lead.id).await;
        ids.push(lead.id);
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let done = transfer(&app, &user("alice"), &refs, "bob")
        .await
        .expect("transfer");
    assert_eq!((done.transferred, done.lead_ids.len()), (3, 3));
    assert_eq!(
        (
            held_count(&app, "alice").await,
            held_count(&app, "bob").await
        ),
        (0, 3)
    );
    let lead = df::lead(&app, &ids[0]).await;
    assert_eq!(lead.owner_id, "bob");
    assert_eq!(lead.acquired_via(), proto::AcquisitionChannel::Transfer);
    assert_eq!(
        fixtures::event_kinds(&app, &ids[0]).await,
        ["CREATED", "CLAIMED", "TRANSFERRED"]
    );
    // The same caller's retry finds it done; anyone else's "transfer to the owner" is refused.
    let again = transfer(&app, &user("alice"), &refs, "bob")
        .await
        .expect("a retried transfer succeeds");
    assert_eq!(again.transferred, 0);
    let before = app.fingerprint().await;
    let to_self = transfer(&app, &user("bob"), &refs[..1], "bob").await;
    assert_eq!(bad_fields(to_self), ["to_user_id"]);
    assert_eq!(app.fingerprint().await, before);
    // A manager moves anyone's leads.
    transfer(&app, &user("mia"), &refs[..1], "alice")
        .await
        .expect("manager transfers");
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn transfer_is_all_or_nothing_and_says_which_lead_or_member_stops_it() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(3)).await;
    let mut alices = Vec::new();
    for name in ["A", "B", "C"] {
        let lead = fixtures::lead(&app, &team.pool.id, name).await;
        fixtures::claim(&app, &user("alice"), &lead.id).await;
        alices.push(lead.id);
    }
    let bobs = fixtures::lead(&app, &team.pool.id, "Bob's").await;
    fixtures::claim(&app, &user("bob"), &bobs.id).await;
    let bobs_other = fixtures::lead(&app, &team.pool.id, "Bob's other").await;
    fixtures::claim(&app, &user("bob"), &bobs_other.id).await;
    let free = fixtures::lead(&app, &team.pool.id, "Free").await;
    app.leads()
        .lock_lead(admin().req(proto::LockLeadRequest {
            lead_id: alices[2].clone(),
            ..Default::default()
        }))
        .await
        .expect("lock");
    let before = app.fingerprint().await;
    let a = user("alice");
    let md = assert_error(
        transfer(&app, &a, &[&alices[0], &alices[2]], "bob").await,
        Code::FailedPrecondition,
        "LEAD_LOCKED",
    );
    assert_eq!(md["lead_id"], alices[2]);
    // bob holds 2 of 3: two more do not fit.
    let md = assert_error(
        transfer(&app, &a, &[&alices[0], &alices[1]], "bob").await,
        Code::FailedPrecondition,
        "HELD_LIMIT_REACHED",
    );
    assert_eq!((md["limit"].as_str(), md["held"].as_str()), ("3", "2"));
    assert_error(
        transfer(&app, &a, &[&alices[0], &bobs.id], "mia").await,
        Code::PermissionDenied,
        "NOT_LEAD_OWNER",
    );
    assert_error(
        transfer(&app, &a, &[&free.id], "bob").await,
        Code::FailedPrecondition,
        "LEAD_NOT_OWNED",
    );
    assert_error(
        transfer(&app, &a, &[&alices[0]], "nobody").await,
        Code::NotFound,
        "MEMBER_NOT_FOUND",
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_error(
        transfer(&app, &a, &[&alices[0], &unknown], "bob").await,
        Code::NotFound,
        "LEAD_NOT_FOUND",
    );
    let bad = transfer(&app, &a, &["x"], "").await;
    assert_eq!(bad_fields(bad), ["lead_ids[0]", "to_user_id"]);
    let none = transfer(&app, &a, &[], "bob").await;
    assert_eq!(bad_fields(none), ["lead_ids"]);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn a_retried_assignment_with_the_same_request_id_replays_without_acting_again() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let request = proto::AssignLeadRequest {
        lead_id: lead.id.clone(),
        user_id: "alice".into(),
        request_id: uuid::Uuid::now_v7().to_string(),
        ..Default::default()
    };
    let first = app
        .assignments()
        .assign_lead(admin().req(request.clone()))
        .await
        .expect("assign");
    let again = app
        .assignments()
        .assign_lead(admin().req(request.clone()))
        .await
        .expect("replay");
    assert_eq!(first.into_inner(), again.into_inner());
    let reused = app
        .assignments()
        .assign_lead(admin().req(proto::AssignLeadRequest {
            user_id: "bob".into(),
            ..request
        }))
        .await;
    assert_error(reused, Code::InvalidArgument, "REQUEST_ID_REUSED");
    assert_eq!(df::count_events(&app, "ASSIGNED").await, 1);
}
