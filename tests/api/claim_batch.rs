//! ClaimLeads: several claims in one call, best-effort or all-or-nothing.

use leadpool::proto;
use leadpool::proto::claim_leads_result::Outcome;
use tonic::Code;

use crate::caller::Services;
use crate::fixtures::{self};
use crate::harness::{TestApp, assert_error, bad_fields};

/// Each result as `Ok(owner)` or `Err(reason)`, in request order.
fn outcomes(response: &proto::ClaimLeadsResponse) -> Vec<Result<&str, &str>> {
    response
        .results
        .iter()
        .map(|r| match r.outcome.as_ref().expect("an outcome") {
            Outcome::Lead(lead) => Ok(lead.owner_id.as_str()),
            Outcome::Refusal(refusal) => Err(refusal.reason.as_str()),
        })
        .collect()
}

#[tokio::test]
async fn claims_every_lead_in_one_call_with_one_event_each() {
    let (app, team) = fixtures::app_with_team(None).await;
    let ids = fixtures::leads(&app, &team.pool.id, 5).await;
    let response = app.as_member("alice").claim_leads(&ids, true).await;
    assert_eq!(response.claimed_count, 5);
    assert_eq!(outcomes(&response), vec![Ok("alice"); 5]);
    let ids_back: Vec<_> = response.results.iter().map(|r| &r.lead_id).collect();
    assert_eq!(ids_back, ids.iter().collect::<Vec<_>>(), "request order");
    for id in &ids {
        assert_eq!(
            fixtures::event_kinds(&app, id).await,
            ["CREATED", "CLAIMED"]
        );
    }
    let held = fixtures::held_count(&app, &team.pool.id, "alice").await;
    assert_eq!(held, 5);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn best_effort_claims_what_it_can_and_says_why_not_for_the_rest() {
    let (app, team) = fixtures::app_with_team(Some(3)).await;
    let ids = fixtures::leads(&app, &team.pool.id, 5).await;
    // ids[0]: alice already owns it (a retry succeeds); ids[1]: bob owns it; ids[2]: locked.
    app.as_member("alice").claim(&ids[0]).await;
    app.as_member("bob").claim(&ids[1]).await;
    app.as_member("mia").lock(&ids[2]).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let mut requested = ids.clone();
    requested.push(unknown);

    let response = app.as_member("alice").claim_leads(&requested, false).await;
    // Cap 3: alice holds ids[0], so ids[3] and ids[4] fit, nothing more.
    assert_eq!(
        outcomes(&response),
        vec![
            Ok("alice"),
            Err("LEAD_NOT_IN_POOL"),
            Err("LEAD_LOCKED"),
            Ok("alice"),
            Ok("alice"),
            Err("LEAD_NOT_FOUND"),
        ]
    );
    assert_eq!(response.claimed_count, 3);
    let Some(Outcome::Refusal(refusal)) = &response.results[2].outcome else {
        panic!("a refusal for the locked lead");
    };
    assert_eq!(refusal.code, Code::FailedPrecondition as i32);
    assert!(!refusal.message.is_empty());
    assert_eq!(
        fixtures::event_kinds(&app, &ids[0]).await,
        ["CREATED", "CLAIMED"]
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn earlier_leads_win_when_the_cap_leaves_room_for_some() {
    let (app, team) = fixtures::app_with_team(Some(2)).await;
    let ids = fixtures::leads(&app, &team.pool.id, 4).await;
    let reversed: Vec<String> = ids.iter().rev().cloned().collect();
    let response = app.as_member("alice").claim_leads(&reversed, false).await;
    assert_eq!(
        outcomes(&response),
        vec![
            Ok("alice"),
            Ok("alice"),
            Err("HELD_LIMIT_REACHED"),
            Err("HELD_LIMIT_REACHED"),
        ]
    );
    let Some(Outcome::Refusal(refusal)) = &response.results[3].outcome else {
        panic!("a refusal");
    };
    assert_eq!(refusal.metadata["limit"], "2");
    assert_eq!(refusal.metadata["held"], "2");
}

#[tokio::test]
async fn all_or_nothing_fails_with_the_first_refusal_and_changes_nothing() {
    let (app, team) = fixtures::app_with_team(Some(2)).await;
    let ids = fixtures::leads(&app, &team.pool.id, 3).await;
    let before = app.fingerprint().await;
    let result = app.as_member("alice").try_claim_leads(&ids, true).await;
    let metadata = assert_error(result, "HELD_LIMIT_REACHED");
    assert_eq!(metadata["limit"], "2");
    // What alice holds once the batch's two claims are undone, not while they stood.
    assert_eq!(metadata["held"], "0");
    assert_eq!(
        app.fingerprint().await,
        before,
        "no claim, no event, no count"
    );
}

#[tokio::test]
async fn daily_quota_bounds_a_batch_and_counts_each_claim() {
    let (app, team) = fixtures::app_with_team(None).await;
    let quota = proto::Pool {
        id: team.pool.id.clone(),
        daily_claim_limit: Some(2),
        ..Default::default()
    };
    app.as_admin()
        .update_pool(quota, &["daily_claim_limit"])
        .await;
    let ids = fixtures::leads(&app, &team.pool.id, 3).await;
    let response = app.as_member("alice").claim_leads(&ids, false).await;
    assert_eq!(
        outcomes(&response),
        vec![Ok("alice"), Ok("alice"), Err("DAILY_CLAIM_LIMIT_REACHED"),]
    );
    let Some(Outcome::Refusal(refusal)) = &response.results[2].outcome else {
        panic!("a refusal");
    };
    assert_eq!(refusal.code, Code::ResourceExhausted as i32);
    assert!(refusal.metadata.contains_key("resets_at"));
    // Releasing does not give the quota back.
    app.as_member("alice")
        .release(&ids[0], "not interested")
        .await;
    let result = app
        .as_member("alice")
        .try_claim_leads(&ids[2..], true)
        .await;
    assert_error(result, "DAILY_CLAIM_LIMIT_REACHED");
}

#[tokio::test]
async fn a_non_member_claims_nothing() {
    let (app, team) = fixtures::app_with_team(None).await;
    let ids = fixtures::leads(&app, &team.pool.id, 2).await;
    let before = app.fingerprint().await;
    let response = app.as_member("zoe").claim_leads(&ids, false).await;
    assert_eq!(outcomes(&response), vec![Err("NOT_POOL_MEMBER"); 2]);
    assert_eq!(response.claimed_count, 0);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn bad_batches_are_refused_naming_every_bad_id() {
    let (app, team) = fixtures::app_with_team(None).await;
    let ids = fixtures::leads(&app, &team.pool.id, 1).await;
    let before = app.fingerprint().await;

    let empty = app.as_member("alice").try_claim_leads(&[], false).await;
    assert_eq!(bad_fields(empty), ["lead_ids"]);

    let mixed = vec![
        ids[0].clone(),
        "not-a-uuid".to_owned(),
        ids[0].clone(),
        String::new(),
    ];
    let result = app.as_member("alice").try_claim_leads(&mixed, false).await;
    assert_eq!(
        bad_fields(result),
        ["lead_ids[1]", "lead_ids[2]", "lead_ids[3]"]
    );

    let too_many: Vec<String> = (0..1_001)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let result = app
        .as_member("alice")
        .try_claim_leads(&too_many, false)
        .await;
    assert_eq!(bad_fields(result), ["lead_ids"]);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn replayed_request_id_returns_the_first_response() {
    let (app, team) = fixtures::app_with_team(None).await;
    let ids = fixtures::leads(&app, &team.pool.id, 2).await;
    let request = proto::ClaimLeadsRequest {
        lead_ids: ids.clone(),
        all_or_nothing: false,
        request_id: uuid::Uuid::now_v7().to_string(),
    };
    let alice = app.as_member("alice");
    let claim_leads = |request| {
        let mut leads = alice.leads();
        let request = alice.req(request);
        async move { leads.claim_leads(request).await.map(|r| r.into_inner()) }
    };
    let first = claim_leads(request.clone()).await.expect("first");
    let again = claim_leads(request.clone()).await.expect("replay");
    assert_eq!(first, again);
    let other = proto::ClaimLeadsRequest {
        all_or_nothing: true,
        ..request
    };
    let result = claim_leads(other).await;
    assert_error(result, "REQUEST_ID_REUSED");
    for id in &ids {
        assert_eq!(
            fixtures::event_kinds(&app, id).await,
            ["CREATED", "CLAIMED"]
        );
    }
}

/// Members racing with overlapping batches (in different orders) and single claims: every lead
/// has one owner, nobody exceeds the cap, and the events replay to the owners.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_batches_race_without_double_claims_or_deadlocks() {
    let app = TestApp::spawn().await;
    let (mut reps, ids) = fixtures::crowd(&app, Some(15), 7, 60).await;
    // The last rep claims single leads while the others claim overlapping batches.
    let single = reps.pop().expect("a rep");
    let mut tasks = tokio::task::JoinSet::new();
    for (i, rep) in reps.into_iter().enumerate() {
        let mut batch = ids.clone();
        batch.rotate_left(i * 10);
        if i % 2 == 1 {
            batch.reverse();
        }
        tasks.spawn(async move {
            let response = rep.try_claim_leads(&batch, false).await;
            response
                .expect("best effort never fails as a whole")
                .claimed_count
        });
    }
    for id in ids.iter().step_by(7) {
        let (single, id) = (single.clone(), id.clone());
        tasks.spawn(async move { i32::from(single.try_claim(&id).await.is_ok()) });
    }
    let claimed: i32 = tasks.join_all().await.into_iter().sum();

    let (owned, max_held): (i64, Option<i32>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM leads WHERE owner_id IS NOT NULL),
                (SELECT max(held_count) FROM members)",
    )
    .fetch_one(&app.db)
    .await
    .expect("counts");
    assert_eq!(owned, 60, "every lead is claimed by someone");
    assert_eq!(i64::from(claimed), owned, "each claim reported once");
    assert!(max_held <= Some(15), "no cap exceeded: {max_held:?}");
    fixtures::assert_one_claim_event_per_owned_lead(&app).await;
    fixtures::assert_consistent(&app).await;
}
