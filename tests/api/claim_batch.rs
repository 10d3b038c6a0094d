//! ClaimLeads: several claims in one call, best-effort or all-or-nothing.

use leadpool::proto;
use leadpool::proto::claim_leads_result::Outcome;
use tonic::Code;

use crate::fixtures::{self, admin, user};
use crate::harness::{Caller, TestApp, assert_error, bad_fields};

async fn leads(app: &TestApp, pool_id: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(fixtures::lead(app, pool_id, &format!("Batch {i}")).await.id);
    }
    ids
}

async fn claim_leads(
    app: &TestApp,
    who: &Caller,
    lead_ids: &[String],
    all_or_nothing: bool,
) -> Result<proto::ClaimLeadsResponse, tonic::Status> {
    app.leads()
        .claim_leads(who.req(proto::ClaimLeadsRequest {
            lead_ids: lead_ids.to_vec(),
            all_or_nothing,
            ..Default::default()
        }))
        .await
        .map(tonic::Response::into_inner)
}

/// Each result as `Ok(owner)` or `Err(reason)`, in request order.
fn outcomes(response: &proto::ClaimLeadsResponse) -> Vec<Result<String, String>> {
    response
        .results
        .iter()
        .map(|r| match r.outcome.as_ref().expect("an outcome") {
            Outcome::Lead(lead) => Ok(lead.owner_id.clone()),
            Outcome::Refusal(refusal) => Err(refusal.reason.clone()),
        })
        .collect()
}

#[tokio::test]
async fn claims_every_lead_in_one_call_with_one_event_each() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let ids = leads(&app, &team.pool.id, 5).await;
    let response = claim_leads(&app, &user("alice"), &ids, true)
        .await
        .expect("claim all");
    assert_eq!(response.claimed_count, 5);
    assert_eq!(outcomes(&response), vec![Ok("alice".to_owned()); 5]);
    let ids_back: Vec<_> = response.results.iter().map(|r| &r.lead_id).collect();
    assert_eq!(ids_back, ids.iter().collect::<Vec<_>>(), "request order");
    for id in &ids {
        assert_eq!(
            fixtures::event_kinds(&app, id).await,
            ["CREATED", "CLAIMED"]
        );
    }
    let held: i32 = sqlx::query_scalar("SELECT held_count FROM members WHERE user_id = 'alice'")
        .fetch_one(&app.db)
        .await
        .expect("held");
    assert_eq!(held, 5);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn best_effort_claims_what_it_can_and_says_why_not_for_the_rest() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(3)).await;
    let ids = leads(&app, &team.pool.id, 5).await;
    // ids[0]: alice already owns it (a retry succeeds); ids[1]: bob owns it; ids[2]: locked.
    fixtures::claim(&app, &user("alice"), &ids[0]).await;
    fixtures::claim(&app, &user("bob"), &ids[1]).await;
    app.leads()
        .lock_lead(user("mia").req(proto::LockLeadRequest {
            lead_id: ids[2].clone(),
            ..Default::default()
        }))
        .await
        .expect("lock");
    let unknown = uuid::Uuid::now_v7().to_string();
    let mut requested = ids.clone();
    requested.push(unknown);

    let response = claim_leads(&app, &user("alice"), &requested, false)
        .await
        .expect("best effort");
    // Cap 3: alice holds ids[0], so ids[3] and ids[4] fit, nothing more.
    assert_eq!(
        outcomes(&response),
        vec![
            Ok("alice".to_owned()),
            Err("LEAD_NOT_IN_POOL".to_owned()),
            Err("LEAD_LOCKED".to_owned()),
            Ok("alice".to_owned()),
            Ok("alice".to_owned()),
            Err("LEAD_NOT_FOUND".to_owned()),
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
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(2)).await;
    let ids = leads(&app, &team.pool.id, 4).await;
    let reversed: Vec<String> = ids.iter().rev().cloned().collect();
    let response = claim_leads(&app, &user("alice"), &reversed, false)
        .await
        .expect("best effort");
    assert_eq!(
        outcomes(&response),
        vec![
            Ok("alice".to_owned()),
            Ok("alice".to_owned()),
            Err("HELD_LIMIT_REACHED".to_owned()),
            Err("HELD_LIMIT_REACHED".to_owned()),
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
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(2)).await;
    let ids = leads(&app, &team.pool.id, 3).await;
    let before = app.fingerprint().await;
    let result = claim_leads(&app, &user("alice"), &ids, true).await;
    let metadata = assert_error(result, Code::FailedPrecondition, "HELD_LIMIT_REACHED");
    assert_eq!(metadata["limit"], "2");
    assert_eq!(
        app.fingerprint().await,
        before,
        "no claim, no event, no count"
    );
}

#[tokio::test]
async fn daily_quota_bounds_a_batch_and_counts_each_claim() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    app.pools()
        .update_pool(admin().req(proto::UpdatePoolRequest {
            pool: Some(proto::Pool {
                id: team.pool.id.clone(),
                daily_claim_limit: Some(2),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["daily_claim_limit".into()],
            }),
            ..Default::default()
        }))
        .await
        .expect("set quota");
    let ids = leads(&app, &team.pool.id, 3).await;
    let response = claim_leads(&app, &user("alice"), &ids, false)
        .await
        .expect("best effort");
    assert_eq!(
        outcomes(&response),
        vec![
            Ok("alice".to_owned()),
            Ok("alice".to_owned()),
            Err("DAILY_CLAIM_LIMIT_REACHED".to_owned()),
        ]
    );
    let Some(Outcome::Refusal(refusal)) = &response.results[2].outcome else {
        panic!("a refusal");
    };
    assert_eq!(refusal.code, Code::ResourceExhausted as i32);
    assert!(refusal.metadata.contains_key("resets_at"));
    // Releasing does not give the quota back.
    app.leads()
        .release_lead(user("alice").req(proto::ReleaseLeadRequest {
            lead_id: ids[0].clone(),
            reason: "not interested".into(),
            ..Default::default()
        }))
        .await
        .expect("release");
    let result = claim_leads(&app, &user("alice"), &ids[2..], true).await;
    assert_error(result, Code::ResourceExhausted, "DAILY_CLAIM_LIMIT_REACHED");
}

#[tokio::test]
async fn a_non_member_claims_nothing() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let ids = leads(&app, &team.pool.id, 2).await;
    let before = app.fingerprint().await;
    let response = claim_leads(&app, &user("zoe"), &ids, false)
        .await
        .expect("best effort answers per lead");
    assert_eq!(
        outcomes(&response),
        vec![Err("NOT_POOL_MEMBER".to_owned()); 2]
    );
    assert_eq!(response.claimed_count, 0);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn bad_batches_are_refused_naming_every_bad_id() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let ids = leads(&app, &team.pool.id, 1).await;
    let before = app.fingerprint().await;

    let empty = claim_leads(&app, &user("alice"), &[], false).await;
    assert_eq!(bad_fields(empty), ["lead_ids"]);

    let mixed = vec![
        ids[0].clone(),
        "not-a-uuid".to_owned(),
        ids[0].clone(),
        String::new(),
    ];
    let result = claim_leads(&app, &user("alice"), &mixed, false).await;
    assert_eq!(
        bad_fields(result),
        ["lead_ids[1]", "lead_ids[2]", "lead_ids[3]"]
    );

    let too_many: Vec<String> = (0..1_001)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let result = claim_leads(&app, &user("alice"), &too_many, false).await;
    assert_eq!(bad_fields(result), ["lead_ids"]);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn replayed_request_id_returns_the_first_response() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let ids = leads(&app, &team.pool.id, 2).await;
    let request = proto::ClaimLeadsRequest {
        lead_ids: ids.clone(),
        all_or_nothing: false,
        request_id: uuid::Uuid::now_v7().to_string(),
    };
    let first = app
        .leads()
        .claim_leads(user("alice").req(request.clone()))
        .await
        .expect("first")
        .into_inner();
    let again = app
        .leads()
        .claim_leads(user("alice").req(request.clone()))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(first, again);
    let other = proto::ClaimLeadsRequest {
        all_or_nothing: true,
        ..request
    };
    let result = app.leads().claim_leads(user("alice").req(other)).await;
    assert_error(result, Code::InvalidArgument, "REQUEST_ID_REUSED");
    for id in &ids {
        assert_eq!(
            fixtures::event_kinds(&app, id).await,
            ["CREATED", "CLAIMED"]
        );
    }
}

/// Members racing with overlapping batches (in different orders) and single claims: every lead
/// has one owner, nobody exceeds the cap, and the events replay to the owners.
#[tokio::test]
async fn overlapping_batches_race_without_double_claims_or_deadlocks() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(15)).await;
    let reps: Vec<String> = (0..6).map(|i| format!("rep{i}")).collect();
    for rep in &reps {
        fixtures::member(&app, &team.pool.id, rep, proto::MemberRole::Member).await;
    }
    let ids = leads(&app, &team.pool.id, 60).await;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, rep) in reps.iter().enumerate() {
        let mut batch = ids.clone();
        batch.rotate_left(i * 10);
        if i % 2 == 1 {
            batch.reverse();
        }
        let (client, who) = (app.leads(), user(rep));
        tasks.spawn(async move {
            let mut client = client;
            let response = client
                .claim_leads(who.req(proto::ClaimLeadsRequest {
                    lead_ids: batch,
                    ..Default::default()
                }))
                .await
                .expect("best effort never fails as a whole")
                .into_inner();
            response.claimed_count
        });
    }
    for id in ids.iter().step_by(7) {
        let (client, id) = (app.leads(), id.clone());
        tasks.spawn(async move {
            let mut client = client;
            let claimed = client
                .claim_lead(user("alice").req(proto::ClaimLeadRequest {
                    lead_id: id,
                    ..Default::default()
                }))
                .await;
            i32::from(claimed.is_ok())
        });
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
    let claimed_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lead_events WHERE kind = 'CLAIMED'")
            .fetch_one(&app.db)
            .await
            .expect("events");
    assert_eq!(claimed_events, 60, "one CLAIMED event per owned lead");
    fixtures::assert_consistent(&app).await;
}
