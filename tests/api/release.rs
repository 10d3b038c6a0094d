//! ReleaseLead: 退回公海, with a reason.

use leadpool::proto;

use crate::caller::Services;
use crate::fixtures;
use crate::harness::{TestApp, assert_error};

/// A lead alice owns, in a pool with a cap of 3.
async fn owned_lead(app: &TestApp) -> (proto::Pool, proto::Lead) {
    let team = fixtures::team(app, Some(3)).await;
    let lead = fixtures::lead(app, &team.pool.id, "Wang Wei").await;
    (team.pool, app.as_member("alice").claim(&lead.id).await)
}

/// The lead's last event, as its history tells it.
async fn last_event(app: &TestApp, lead_id: &str) -> proto::LeadEvent {
    let history = app.as_admin().history(lead_id).await;
    history.last().cloned().expect("an event")
}

/// A release with a note, as a rep gives it.
async fn release(
    app: &TestApp,
    who: &str,
    lead_id: &str,
    reason: &str,
    note: &str,
) -> Result<proto::Lead, tonic::Status> {
    let caller = app.as_member(who);
    caller
        .leads()
        .release_lead(caller.req(proto::ReleaseLeadRequest {
            lead_id: lead_id.into(),
            reason: reason.into(),
            note: note.into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

#[tokio::test]
async fn owner_releases_with_reason_back_to_the_pool() {
    let app = TestApp::spawn().await;
    let (pool, lead) = owned_lead(&app).await;
    app.clock.advance(chrono::Duration::hours(2));
    let released = release(&app, "alice", &lead.id, "NO_BUDGET", "customer went quiet")
        .await
        .expect("release");
    assert_eq!(released.state(), proto::LeadState::InPool);
    assert_eq!(released.owner_id, "");
    assert_eq!(released.previous_owner_id, "alice");
    assert_eq!(released.acquired_at, None);
    assert_eq!(
        fixtures::seconds(released.pool_entered_at),
        Some(app.clock_now().timestamp())
    );
    let stats = app.as_member("alice").member_stats(&pool.id, "me").await;
    assert_eq!(stats.held_count, 0);
    let event = last_event(&app, &lead.id).await;
    assert_eq!(event.kind(), proto::EventKind::Released);
    assert_eq!(event.from_owner, "alice");
    assert_eq!(event.reason, "NO_BUDGET");
    assert_eq!(event.note, "customer went quiet");
}

#[tokio::test]
async fn release_without_reason_is_invalid_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (_, lead) = owned_lead(&app).await;
    assert_eq!(
        app.invalid_fields(app.as_member("alice").try_release(&lead.id, "  "))
            .await,
        ["reason"]
    );
    assert_eq!(
        app.invalid_fields(release(
            &app,
            "alice",
            &lead.id,
            &"r".repeat(129),
            &"n".repeat(2_001),
        ))
        .await,
        ["reason", "note"]
    );
}

#[tokio::test]
async fn repeated_release_succeeds_without_second_event() {
    let app = TestApp::spawn().await;
    let (_, lead) = owned_lead(&app).await;
    let alice = app.as_member("alice");
    let first = alice.release(&lead.id, "NO_BUDGET").await;
    let before = app.fingerprint().await;
    let again = alice.release(&lead.id, "NO_BUDGET").await;
    assert_eq!(again, first);
    assert_eq!(app.fingerprint().await, before);
    // Someone else releasing the pool lead is told it is not owned.
    assert_error(
        app.as_member("bob")
            .try_release(&lead.id, "NO_BUDGET")
            .await,
        "LEAD_NOT_OWNED",
    );
}

#[tokio::test]
async fn only_the_owner_or_a_manager_releases() {
    let app = TestApp::spawn().await;
    let (_, lead) = owned_lead(&app).await;
    app.assert_refused(
        app.as_member("bob").try_release(&lead.id, "MINE_NOW"),
        "NOT_LEAD_OWNER",
    )
    .await;
    let released = app.as_member("mia").release(&lead.id, "REBALANCE").await;
    assert_eq!(released.previous_owner_id, "alice");
    let event = last_event(&app, &lead.id).await;
    assert_eq!(event.kind(), proto::EventKind::Released);
    assert_eq!(event.actor, "mia");
}

#[tokio::test]
async fn locked_leads_cannot_be_released() {
    let app = TestApp::spawn().await;
    let (_, lead) = owned_lead(&app).await;
    app.as_member("mia").lock(&lead.id).await;
    app.assert_refused(
        app.as_member("alice").try_release(&lead.id, "NO_BUDGET"),
        "LEAD_LOCKED",
    )
    .await;
}

#[tokio::test]
async fn release_of_unknown_or_pool_lead_fails() {
    let (app, _, lead) = fixtures::app_with_lead(None).await;
    let alice = app.as_member("alice");
    app.assert_refused(alice.try_release(&lead.id, "NO_BUDGET"), "LEAD_NOT_OWNED")
        .await;
    let unknown = uuid::Uuid::now_v7().to_string();
    app.assert_refused(alice.try_release(&unknown, "NO_BUDGET"), "LEAD_NOT_FOUND")
        .await;
}
