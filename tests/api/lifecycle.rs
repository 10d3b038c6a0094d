//! LockLead, UnlockLead, ConvertLead, DiscardLead, ReopenLead, MoveLead.

use leadpool::proto;

use crate::fixtures;
use crate::harness::{TestApp, assert_error};
use crate::streams;

#[tokio::test]
async fn locked_leads_refuse_claim_and_release_until_unlocked() {
    let (app, team) = fixtures::app_with_team(None).await;
    let pooled = fixtures::lead(&app, &team.pool.id, "Pooled").await;
    let owned = fixtures::lead(&app, &team.pool.id, "Owned").await;
    app.as_member("bob").claim(&owned.id).await;

    assert_error(
        app.as_member("alice").try_lock(&pooled.id).await,
        "MANAGER_REQUIRED",
    );
    let locked = app.as_member("mia").lock(&pooled.id).await;
    assert!(locked.locked);
    app.as_admin().lock(&owned.id).await;
    let before = app.fingerprint().await;
    let again = app.as_member("mia").lock(&pooled.id).await;
    assert_eq!(again, locked);
    assert_eq!(app.fingerprint().await, before, "no second event");

    assert_error(
        app.as_member("alice").try_claim(&pooled.id).await,
        "LEAD_LOCKED",
    );
    assert_error(
        app.as_member("bob")
            .try_release(&owned.id, "NO_BUDGET")
            .await,
        "LEAD_LOCKED",
    );
    assert_eq!(app.fingerprint().await, before);

    let unlocked = app.as_member("mia").unlock(&pooled.id).await;
    assert!(!unlocked.locked);
    app.as_member("alice").claim(&pooled.id).await;
    assert_eq!(
        fixtures::event_kinds(&app, &pooled.id).await,
        ["CREATED", "LOCKED", "UNLOCKED", "CLAIMED"]
    );
}

#[tokio::test]
async fn owners_and_managers_convert_owned_leads() {
    let (app, team) = fixtures::app_with_team(None).await;
    let held = fixtures::held_leads(&app, &team.pool.id, "alice", 2).await;
    let (l1, l2) = (&held[0], &held[1]);

    assert_error(app.as_member("bob").try_convert(l1).await, "NOT_LEAD_OWNER");
    let converted = app.as_member("alice").convert(l1).await;
    assert_eq!(converted.state(), proto::LeadState::Converted);
    assert_eq!(converted.owner_id, "");
    assert_eq!(converted.previous_owner_id, "alice");
    let before = app.fingerprint().await;
    app.as_member("alice").convert(l1).await;
    assert_eq!(app.fingerprint().await, before);
    app.as_member("mia").convert(l2).await;
    let held = app
        .as_member("alice")
        .member_stats(&team.pool.id, "me")
        .await;
    assert_eq!(
        held.held_count, 0,
        "converted leads leave the owner's holdings"
    );
    assert_error(app.as_member("bob").try_claim(l1).await, "LEAD_CLOSED");
    // A repeat is a retry only for someone who could have closed it: bob never held it.
    let closed = app.fingerprint().await;
    assert_error(app.as_member("bob").try_convert(l1).await, "LEAD_CLOSED");
    assert_error(
        app.as_member("bob").try_discard(l1, "WRONG_NUMBER").await,
        "LEAD_CLOSED",
    );
    assert_eq!(app.fingerprint().await, closed, "refusals change nothing");

    let pooled = fixtures::lead(&app, &team.pool.id, "L3").await;
    assert_error(
        app.as_member("mia").try_convert(&pooled.id).await,
        "LEAD_NOT_OWNED",
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn discard_needs_a_reason_and_reopen_needs_a_manager() {
    let (app, team) = fixtures::app_with_team(None).await;
    let owned = fixtures::lead(&app, &team.pool.id, "Owned").await;
    let pooled = fixtures::lead(&app, &team.pool.id, "Pooled").await;
    app.as_member("alice").claim(&owned.id).await;
    assert_eq!(
        app.invalid_fields(app.as_member("alice").try_discard(&owned.id, ""))
            .await,
        ["reason"]
    );
    app.assert_refused(
        app.as_member("alice").try_discard(&pooled.id, "SPAM"),
        "MANAGER_REQUIRED",
    )
    .await;
    app.assert_refused(
        app.as_member("bob").try_discard(&owned.id, "SPAM"),
        "NOT_LEAD_OWNER",
    )
    .await;

    let discarded = app.as_member("alice").discard(&owned.id, "SPAM").await;
    assert_eq!(discarded.state(), proto::LeadState::Discarded);
    app.as_member("mia").discard(&pooled.id, "DUPLICATE").await;
    assert_error(
        app.as_member("bob").try_claim(&pooled.id).await,
        "LEAD_CLOSED",
    );

    assert_error(
        app.as_member("alice").try_reopen(&owned.id).await,
        "MANAGER_REQUIRED",
    );
    let reopened = app.as_member("mia").reopen(&owned.id).await;
    assert_eq!(reopened.state(), proto::LeadState::InPool);
    assert_eq!(
        fixtures::seconds(reopened.pool_entered_at),
        Some(app.clock_now().timestamp())
    );
    app.as_member("bob").claim(&owned.id).await;
    assert_eq!(
        fixtures::event_kinds(&app, &owned.id).await,
        ["CREATED", "CLAIMED", "DISCARDED", "REOPENED", "CLAIMED"]
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn discard_respects_reason_codes_and_locks() {
    let app = TestApp::spawn().await;
    let rules = proto::CreatePoolRequest {
        release_reasons: vec!["NO_BUDGET".into()],
        ..Default::default()
    };
    let pool = fixtures::pool_with(&app, "Coded", rules).await;
    let lead = fixtures::lead(&app, &pool.id, "L1").await;
    app.as_member("alice").claim(&lead.id).await;
    let before = app.fingerprint().await;
    assert_error(
        app.as_member("alice").try_discard(&lead.id, "SPAM").await,
        "UNKNOWN_RELEASE_REASON",
    );
    app.as_member("mia").lock(&lead.id).await;
    let locked = app.fingerprint().await;
    assert_error(
        app.as_member("alice")
            .try_discard(&lead.id, "NO_BUDGET")
            .await,
        "LEAD_LOCKED",
    );
    assert_eq!(app.fingerprint().await, locked);
    assert_ne!(before, locked);
    app.as_member("mia").discard(&lead.id, "NO_BUDGET").await;
}

#[tokio::test]
async fn move_needs_both_pools_managed_and_a_pool_lead() {
    let (app, team) = fixtures::app_with_team(None).await;
    let west = fixtures::pool(&app, "West", None).await;
    let lead = fixtures::lead(&app, &team.pool.id, "Mover").await;
    app.assert_refused(
        app.as_member("mia").try_move_to(&lead.id, &west.id),
        "MANAGER_REQUIRED",
    )
    .await;
    app.assert_refused(
        app.as_admin()
            .try_move_to(&lead.id, &uuid::Uuid::now_v7().to_string()),
        "POOL_NOT_FOUND",
    )
    .await;

    fixtures::member(&app, &west.id, "mia", proto::MemberRole::Manager).await;
    let moved = app.as_member("mia").move_to(&lead.id, &west.id).await;
    assert_eq!(moved.pool_id, west.id);
    let again = app.as_member("mia").move_to(&lead.id, &west.id).await;
    assert_eq!(again.version, moved.version, "no second change");
    // A follower of the pool the lead went to sees it arrive: its first event.
    let mut west_events = app
        .as_member("mia")
        .watch(proto::WatchEventsRequest {
            pool_id: west.id.clone(),
            ..Default::default()
        })
        .await;
    let arrival = streams::next_event(&mut west_events).await;
    assert_eq!(
        (arrival.kind(), &*arrival.pool_id, &*arrival.to_pool_id),
        (proto::EventKind::Moved, &*team.pool.id, &*west.id)
    );

    let owned = fixtures::lead(&app, &team.pool.id, "Owned").await;
    app.as_member("alice").claim(&owned.id).await;
    assert_error(
        app.as_admin().try_move_to(&owned.id, &west.id).await,
        "LEAD_NOT_IN_POOL",
    );
    fixtures::assert_consistent(&app).await;
}
