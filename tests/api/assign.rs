//! AssignLead and TransferLeads: rights, caps, cooldowns, locks, retries, bad input.

use leadpool::proto;

use crate::caller::Services;
use crate::distribution_fixtures::{self as df, join, pool_with, rep, rule};
use crate::fixtures;
use crate::harness::{Caller, TestApp, assert_error, bad_fields};

#[tokio::test]
async fn a_manager_assigns_a_pool_lead_and_a_repeat_adds_no_event() {
    let (app, team, lead) = fixtures::app_with_lead(Some(2)).await;
    let assigned = app.as_member("mia").assign(&lead.id, "alice", false).await;
    assert_eq!(assigned.owner_id, "alice");
    assert_eq!(assigned.acquired_via(), proto::AcquisitionChannel::Assign);
    assert_eq!(fixtures::held_count(&app, &team.pool.id, "alice").await, 1);
    app.as_member("mia").assign(&lead.id, "alice", false).await;
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
    app.as_member("alice").claim(&lead.id).await;
    app.as_member("alice").release(&lead.id, "NO_BUDGET").await;
    let before = app.fingerprint().await;
    let refused = app.as_admin().try_assign(&lead.id, "alice", false).await;
    let md = assert_error(refused, "RECLAIM_COOLDOWN");
    assert!(md.contains_key("cooldown_until"));
    assert_eq!(app.fingerprint().await, before);
    app.as_admin().assign(&lead.id, "alice", true).await;
    let reason: Option<String> = sqlx::query_scalar(
        "SELECT reason FROM lead_events WHERE lead_id = $1::uuid AND kind = 'ASSIGNED'",
    )
    .bind(&lead.id)
    .fetch_one(&app.db)
    .await
    .expect("event");
    assert_eq!(reason.as_deref(), Some("COOLDOWN_OVERRIDDEN"));

    let second = fixtures::lead(&app, &pool.id, "Zhao Lei").await;
    let md = app
        .assert_refused(
            app.as_admin().try_assign(&second.id, "alice", true),
            "HELD_LIMIT_REACHED",
        )
        .await;
    assert_eq!((md["limit"].as_str(), md["held"].as_str()), ("1", "1"));
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn assign_refuses_unknown_inactive_locked_owned_and_unauthorised_and_changes_nothing() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    let owned = fixtures::lead(&app, &team.pool.id, "Owned").await;
    app.as_member("bob").claim(&owned.id).await;
    let locked = fixtures::lead(&app, &team.pool.id, "Locked").await;
    app.as_admin().lock(&locked.id).await;
    fixtures::member(&app, &team.pool.id, "olga", proto::MemberRole::Member).await;
    df::deactivate(&app, &team.pool.id, "olga").await;
    let before = app.fingerprint().await;
    let mia = app.as_member("mia");
    let md = assert_error(
        mia.try_assign(&lead.id, "nobody", false).await,
        "MEMBER_NOT_FOUND",
    );
    assert_eq!(md["user_id"], "nobody");
    assert_error(
        mia.try_assign(&lead.id, "olga", false).await,
        "MEMBER_INACTIVE",
    );
    assert_error(
        mia.try_assign(&locked.id, "alice", false).await,
        "LEAD_LOCKED",
    );
    assert_error(
        mia.try_assign(&owned.id, "alice", false).await,
        "LEAD_NOT_IN_POOL",
    );
    assert_error(
        app.as_member("alice")
            .try_assign(&lead.id, "alice", false)
            .await,
        "MANAGER_REQUIRED",
    );
    assert_error(
        app.as_member("stranger")
            .try_assign(&lead.id, "alice", false)
            .await,
        "NOT_POOL_MEMBER",
    );
    assert_error(
        app.as_caller(Caller::admin("globex"))
            .try_assign(&lead.id, "alice", false)
            .await,
        "LEAD_NOT_FOUND",
    );
    let bad = mia.try_assign("not-a-uuid", "", false).await;
    assert_eq!(bad_fields(bad), ["lead_id", "user_id"]);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn the_owner_transfers_their_leads_to_a_colleague_all_at_once() {
    let (app, team) = fixtures::app_with_team(Some(5)).await;
    let mut ids = Vec::new();
    for name in ["A", "B", "C"] {
        let lead = fixtures::lead(&app, &team.pool.id, name).await;
        app.as_member("alice").claim(&lead.id).await;
        ids.push(lead.id);
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let done = app.as_member("alice").transfer(&refs, "bob").await;
    assert_eq!((done.transferred, done.lead_ids.len()), (3, 3));
    assert_eq!(
        (
            fixtures::held_count(&app, &team.pool.id, "alice").await,
            fixtures::held_count(&app, &team.pool.id, "bob").await
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
    let again = app.as_member("alice").transfer(&refs, "bob").await;
    assert_eq!(again.transferred, 0);
    assert_eq!(
        app.invalid_fields(app.as_member("bob").try_transfer(&refs[..1], "bob"))
            .await,
        ["to_user_id"]
    );
    // A manager moves anyone's leads.
    app.as_member("mia").transfer(&refs[..1], "alice").await;
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn transfer_is_all_or_nothing_and_says_which_lead_or_member_stops_it() {
    let (app, team) = fixtures::app_with_team(Some(3)).await;
    let mut alices = Vec::new();
    for name in ["A", "B", "C"] {
        let lead = fixtures::lead(&app, &team.pool.id, name).await;
        app.as_member("alice").claim(&lead.id).await;
        alices.push(lead.id);
    }
    let bobs = fixtures::lead(&app, &team.pool.id, "Bob's").await;
    app.as_member("bob").claim(&bobs.id).await;
    let bobs_other = fixtures::lead(&app, &team.pool.id, "Bob's other").await;
    app.as_member("bob").claim(&bobs_other.id).await;
    let free = fixtures::lead(&app, &team.pool.id, "Free").await;
    app.as_admin().lock(&alices[2]).await;
    let before = app.fingerprint().await;
    let a = app.as_member("alice");
    // mia has room for both; the locked one stops them.
    let md = assert_error(
        a.try_transfer(&[&alices[0], &alices[2]], "mia").await,
        "LEAD_LOCKED",
    );
    assert_eq!(md["lead_id"], alices[2]);
    // bob holds 2 of 3: two more do not fit.
    let md = assert_error(
        a.try_transfer(&[&alices[0], &alices[1]], "bob").await,
        "HELD_LIMIT_REACHED",
    );
    assert_eq!((md["limit"].as_str(), md["held"].as_str()), ("3", "2"));
    assert_error(
        a.try_transfer(&[&alices[0], &bobs.id], "mia").await,
        "NOT_LEAD_OWNER",
    );
    assert_error(a.try_transfer(&[&free.id], "bob").await, "LEAD_NOT_OWNED");
    assert_error(
        a.try_transfer(&[&alices[0]], "nobody").await,
        "MEMBER_NOT_FOUND",
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_error(
        a.try_transfer(&[&alices[0], &unknown], "bob").await,
        "LEAD_NOT_FOUND",
    );
    let bad = a.try_transfer(&["x"], "").await;
    assert_eq!(bad_fields(bad), ["lead_ids[0]", "to_user_id"]);
    let none = a.try_transfer(&[], "bob").await;
    assert_eq!(bad_fields(none), ["lead_ids"]);
    assert_eq!(app.fingerprint().await, before);
}

/// shared/domain.md orders a transfer's checks "b active member, b's cap, not locked": a locked
/// lead sent to someone who may not take it hears about the recipient. It heard `LEAD_LOCKED`
/// whoever the recipient was (audit distrib, bug 3).
#[tokio::test]
async fn transfer_judges_the_recipient_before_the_lock() {
    let (app, team) = fixtures::app_with_team(Some(2)).await;
    let pool_id = &team.pool.id;
    let locked = fixtures::held_leads(&app, pool_id, "alice", 1).await;
    app.as_admin().lock(&locked[0]).await;
    fixtures::held_leads(&app, pool_id, "bob", 2).await;
    join(&app, pool_id, rep("carl")).await;
    df::deactivate(&app, pool_id, "carl").await;
    let before = app.fingerprint().await;
    let mia = app.as_member("mia");
    for (to, reason) in [
        ("carl", "MEMBER_INACTIVE"),
        ("nobody", "MEMBER_NOT_FOUND"),
        ("bob", "HELD_LIMIT_REACHED"),
        ("mia", "LEAD_LOCKED"),
    ] {
        assert_error(mia.try_transfer(&[&locked[0]], to).await, reason);
    }
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn a_retried_assignment_with_the_same_request_id_replays_without_acting_again() {
    let (app, _, lead) = fixtures::app_with_lead(None).await;
    let request = proto::AssignLeadRequest {
        lead_id: lead.id.clone(),
        user_id: "alice".into(),
        request_id: uuid::Uuid::now_v7().to_string(),
        ..Default::default()
    };
    let admin = app.as_admin();
    let assign = |request| {
        let mut assignments = admin.assignments();
        let request = admin.req(request);
        async move {
            assignments
                .assign_lead(request)
                .await
                .map(|r| r.into_inner())
        }
    };
    let first = assign(request.clone()).await.expect("assign");
    let again = assign(request.clone()).await.expect("replay");
    assert_eq!(first, again);
    let reused = assign(proto::AssignLeadRequest {
        user_id: "bob".into(),
        ..request
    })
    .await;
    assert_error(reused, "REQUEST_ID_REUSED");
    assert_eq!(df::count_events(&app, "ASSIGNED").await, 1);
}
