//! GetLeadHistory: the lead's append-only events.

use leadpool::proto;

use crate::caller::Services;
use crate::fixtures::{self, user};
use crate::harness::{assert_error, bad_fields};

#[tokio::test]
async fn history_lists_every_change_in_order_page_by_page() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    app.as_member("alice").claim(&lead.id).await;
    app.leads()
        .release_lead(user("alice").req(proto::ReleaseLeadRequest {
            lead_id: lead.id.clone(),
            reason: "NO_BUDGET".into(),
            request_id: "0195f3a2-7c1e-7000-8000-000000000001".into(),
            ..Default::default()
        }))
        .await
        .expect("release");
    app.as_member("bob").claim(&lead.id).await;

    let bob = &app.as_member("bob");
    let events = fixtures::all_pages(|page_token| {
        let request = proto::GetLeadHistoryRequest {
            page_size: 3,
            page_token,
            ..fixtures::scoped(&lead.id)
        };
        async move {
            let page = bob.lead_history(request).await;
            (page.events, page.next_page_token)
        }
    })
    .await;
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.kind(), e.from_owner.as_str(), e.to_owner.as_str()))
        .collect();
    use proto::EventKind as K;
    assert_eq!(
        summary,
        [
            (K::Created, "", ""),
            (K::Claimed, "", "alice"),
            (K::Released, "alice", ""),
            (K::Claimed, "", "bob"),
        ]
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(
        events
            .iter()
            .all(|e| e.lead_id == lead.id && e.pool_id == team.pool.id)
    );
    assert_eq!(events[2].reason, "NO_BUDGET");
    assert_eq!(events[2].request_id, "0195f3a2-7c1e-7000-8000-000000000001");
    assert_eq!(events[0].actor, "crm-importer");
}

#[tokio::test]
async fn history_is_for_readers_of_the_lead_only() {
    let (app, _, lead) = fixtures::app_with_lead(None).await;
    let outsider = app
        .as_member("zoe")
        .try_lead_history(fixtures::scoped(&lead.id))
        .await;
    assert_error(outsider, "NOT_POOL_MEMBER");
    let bad = app
        .as_member("alice")
        .try_lead_history(proto::GetLeadHistoryRequest {
            lead_id: "nope".into(),
            page_size: -1,
            ..Default::default()
        })
        .await;
    assert_eq!(bad_fields(bad), ["lead_id", "page_size"]);
    let bad_token = app
        .as_member("alice")
        .try_lead_history(proto::GetLeadHistoryRequest {
            lead_id: lead.id.clone(),
            page_token: "x".into(),
            ..Default::default()
        })
        .await;
    assert_error(bad_token, "BAD_PAGE_TOKEN");
}

#[tokio::test]
async fn events_cannot_be_rewritten() {
    let (app, team) = fixtures::app_with_team(None).await;
    fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let update = sqlx::query("UPDATE lead_events SET actor = 'forged'")
        .execute(&app.db)
        .await;
    assert!(update.is_err(), "updates are refused");
    let delete = sqlx::query("DELETE FROM lead_events")
        .execute(&app.db)
        .await;
    assert!(delete.is_err(), "deletes are refused");
}
