//! ReleaseLead: 退回公海, with a reason.

use leadpool::proto;
use tonic::Code;

use crate::fixtures::{self, user};
use crate::harness::{Caller, TestApp, assert_error, bad_fields};

async fn release(
    app: &TestApp,
    who: &Caller,
    lead_id: &str,
    reason: &str,
) -> Result<tonic::Response<proto::ReleaseLeadResponse>, tonic::Status> {
    app.leads()
        .release_lead(who.req(proto::ReleaseLeadRequest {
            lead_id: lead_id.into(),
            reason: reason.into(),
            note: "customer went quiet".into(),
            ..Default::default()
        }))
        .await
}

async fn owned_lead(app: &TestApp) -> proto::Lead {
    let team = fixtures::team(app, Some(3)).await;
    let lead = fixtures::lead(app, &team.pool.id, "Wang Wei").await;
    fixtures::claim(app, &user("alice"), &lead.id).await
}

#[tokio::test]
async fn owner_releases_with_reason_back_to_the_pool() {
    let app = TestApp::spawn().await;
    let lead = owned_lead(&app).await;
    app.clock.advance(chrono::Duration::hours(2));
    let released = release(&app, &user("alice"), &lead.id, "NO_BUDGET")
        .await
        .expect("release")
        .into_inner()
        .lead
        .expect("lead");
    assert_eq!(released.state(), proto::LeadState::InPool);
    assert_eq!(released.owner_id, "");
    assert_eq!(released.previous_owner_id, "alice");
    assert_eq!(released.acquired_at, None);
    assert_eq!(
        released.pool_entered_at.map(|t| t.seconds),
        Some(app.clock_now().timestamp())
    );
    let held: i32 = sqlx::query_scalar("SELECT held_count FROM members WHERE user_id = 'alice'")
        .fetch_one(&app.db)
        .await
        .expect("held");
    assert_eq!(held, 0);
    let (kind, from, reason, note): (String, Option<String>, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT kind, from_owner, reason, note FROM lead_events
             WHERE lead_id = $1::uuid ORDER BY seq DESC LIMIT 1",
        )
        .bind(&lead.id)
        .fetch_one(&app.db)
        .await
        .expect("event");
    assert_eq!(kind, "RELEASED");
    assert_eq!(from.as_deref(), Some("alice"));
    assert_eq!(reason.as_deref(), Some("NO_BUDGET"));
    assert_eq!(note.as_deref(), Some("customer went quiet"));
}

#[tokio::test]
async fn release_without_reason_is_invalid_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let lead = owned_lead(&app).await;
    let before = app.fingerprint().await;
    assert_eq!(
        bad_fields(release(&app, &user("alice"), &lead.id, "  ").await),
        ["reason"]
    );
    let long_note = app
        .leads()
        .release_lead(user("alice").req(proto::ReleaseLeadRequest {
            lead_id: lead.id.clone(),
            reason: "r".repeat(129),
            note: "n".repeat(2_001),
            ..Default::default()
        }))
        .await;
    assert_eq!(bad_fields(long_note), ["reason", "note"]);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn repeated_release_succeeds_without_second_event() {
    let app = TestApp::spawn().await;
    let lead = owned_lead(&app).await;
    let first = release(&app, &user("alice"), &lead.id, "NO_BUDGET")
        .await
        .expect("release")
        .into_inner();
    let before = app.fingerprint().await;
    let again = release(&app, &user("alice"), &lead.id, "NO_BUDGET")
        .await
        .expect("repeat")
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(app.fingerprint().await, before);
    // Someone else releasing the pool lead is told it is not owned.
    assert_error(
        release(&app, &user("bob"), &lead.id, "NO_BUDGET").await,
        Code::FailedPrecondition,
        "LEAD_NOT_OWNED",
    );
}

#[tokio::test]
async fn only_the_owner_or_a_manager_releases() {
    let app = TestApp::spawn().await;
    let lead = owned_lead(&app).await;
    let before = app.fingerprint().await;
    assert_error(
        release(&app, &user("bob"), &lead.id, "MINE_NOW").await,
        Code::PermissionDenied,
        "NOT_LEAD_OWNER",
    );
    assert_eq!(app.fingerprint().await, before);
    let released = release(&app, &user("mia"), &lead.id, "REBALANCE")
        .await
        .expect("manager releases")
        .into_inner()
        .lead
        .expect("lead");
    assert_eq!(released.previous_owner_id, "alice");
    let actor: String = sqlx::query_scalar(
        "SELECT actor FROM lead_events WHERE lead_id = $1::uuid ORDER BY seq DESC LIMIT 1",
    )
    .bind(&lead.id)
    .fetch_one(&app.db)
    .await
    .expect("actor");
    assert_eq!(actor, "mia");
}

#[tokio::test]
async fn locked_leads_cannot_be_released() {
    let app = TestApp::spawn().await;
    let lead = owned_lead(&app).await;
    sqlx::query("UPDATE leads SET locked = true WHERE id = $1::uuid")
        .bind(&lead.id)
        .execute(&app.db)
        .await
        .expect("lock");
    let before = app.fingerprint().await;
    assert_error(
        release(&app, &user("alice"), &lead.id, "NO_BUDGET").await,
        Code::FailedPrecondition,
        "LEAD_LOCKED",
    );
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn release_of_unknown_or_pool_lead_fails() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let before = app.fingerprint().await;
    assert_error(
        release(&app, &user("alice"), &lead.id, "NO_BUDGET").await,
        Code::FailedPrecondition,
        "LEAD_NOT_OWNED",
    );
    assert_error(
        release(
            &app,
            &user("alice"),
            &uuid::Uuid::now_v7().to_string(),
            "NO_BUDGET",
        )
        .await,
        Code::NotFound,
        "LEAD_NOT_FOUND",
    );
    assert_eq!(app.fingerprint().await, before);
}
