//! Pull: ClaimNext hands out the pool's best claimable lead by `pull_order`, and
//! `new_lead_embargo` keeps a lead that just entered the pool from every kind of claim (not from
//! a manager's assignment); 64 callers at once never get the same lead.

use std::collections::{HashMap, HashSet};

use chrono::Duration;
use futures::future::join_all;
use leadpool::proto;
use prost_types::Duration as WireDuration;
use tonic::Status;
use tonic_types::StatusExt;

use crate::caller::{Client, Services};
use crate::fixtures;
use crate::harness::{TestApp, assert_error};

fn next(pool_id: &str) -> proto::ClaimNextRequest {
    proto::ClaimNextRequest {
        pool_id: pool_id.into(),
        ..Default::default()
    }
}

async fn claim_next(who: &Client, request: proto::ClaimNextRequest) -> Result<proto::Lead, Status> {
    who.leads()
        .claim_next(who.req(request))
        .await
        .map(|r| r.into_inner().lead.expect("the claimed lead"))
}

/// A lead of `grade` created now, then a minute passes (so entry order is creation order).
async fn graded(app: &TestApp, pool_id: &str, name: &str, grade: &str) -> String {
    let lead = proto::NewLead {
        grade: grade.into(),
        ..fixtures::new_lead(name)
    };
    let id = app.as_service().create_in(pool_id, lead).await.id;
    app.clock.advance(Duration::minutes(1));
    id
}

#[tokio::test]
async fn claim_next_hands_out_grades_in_pull_order_then_the_longest_in_the_pool() {
    let app = TestApp::spawn().await;
    let rules = proto::CreatePoolRequest {
        pull_order: vec!["A".into(), "B".into()],
        ..Default::default()
    };
    let pool = fixtures::pool_with(&app, "East China", rules).await;
    let c1 = graded(&app, &pool.id, "陈静", "C").await;
    let b1 = graded(&app, &pool.id, "李娜", "B").await;
    let a1 = graded(&app, &pool.id, "王伟", "A").await;
    let a2 = graded(&app, &pool.id, "Anna Schmidt", "A").await;
    let b2 = graded(&app, &pool.id, "刘洋", "B").await;
    let locked = graded(&app, &pool.id, "张敏", "A").await;
    app.as_member("mia").lock(&locked).await;

    let alice = app.as_member("alice");
    let mut order = Vec::new();
    for _ in 0..5 {
        order.push(claim_next(&alice, next(&pool.id)).await.expect("a lead").id);
    }
    assert_eq!(
        order,
        [a1, a2, b1, b2, c1],
        "A, then B, then the rest; oldest first"
    );
    let refused = claim_next(&alice, next(&pool.id)).await;
    let metadata = app
        .assert_refused(async { refused }, "NO_CLAIMABLE_LEAD")
        .await;
    assert_eq!(metadata["pool_id"], pool.id);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn claim_next_passes_over_the_callers_cooldown_and_filters_by_region() {
    let app = TestApp::spawn().await;
    let rules = proto::CreatePoolRequest {
        reclaim_cooldown: Some(WireDuration {
            seconds: 3600,
            nanos: 0,
        }),
        ..Default::default()
    };
    let pool = fixtures::pool_with(&app, "East China", rules).await;
    let first = graded(&app, &pool.id, "王伟", "B").await;
    let west = app
        .as_service()
        .create_in(
            &pool.id,
            proto::NewLead {
                region: "west".into(),
                ..fixtures::new_lead("Li Lei")
            },
        )
        .await
        .id;
    let alice = app.as_member("alice");
    alice.claim(&first).await;
    alice.release(&first, "NO_INTENT").await;
    // The released lead is the oldest in the pool, but alice is in its cooldown: she gets the
    // next, and bob, who is not, gets the released one.
    let east_only = proto::ClaimNextRequest {
        region: "east".into(),
        ..next(&pool.id)
    };
    let refused = claim_next(&alice, east_only.clone()).await;
    assert_error(refused, "NO_CLAIMABLE_LEAD");
    assert_eq!(
        claim_next(&alice, next(&pool.id)).await.expect("a lead").id,
        west
    );
    let bobs = claim_next(&app.as_member("bob"), east_only)
        .await
        .expect("a lead");
    assert_eq!(bobs.id, first);
    let outsider = claim_next(&app.as_member("zoe"), next(&pool.id)).await;
    assert_error(outsider, "NOT_POOL_MEMBER");
}

#[tokio::test]
async fn an_embargo_keeps_a_new_lead_from_claims_but_not_from_a_manager() {
    let app = TestApp::spawn().await;
    let rules = proto::CreatePoolRequest {
        new_lead_embargo: Some(WireDuration {
            seconds: 600,
            nanos: 0,
        }),
        ..Default::default()
    };
    let pool = fixtures::pool_with(&app, "East China", rules).await;
    let entered = app.clock_now();
    let lead = fixtures::lead(&app, &pool.id, "王伟").await;
    let assigned = fixtures::lead(&app, &pool.id, "李娜").await;
    let alice = app.as_member("alice");

    let refused = alice.try_claim(&lead.id).await;
    let metadata = app
        .assert_refused(async { refused }, "LEAD_EMBARGOED")
        .await;
    let claimable_at = entered + Duration::minutes(10);
    let rfc3339 = claimable_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(metadata["claimable_at"], rfc3339);
    // ClaimNext names the lead it would give once the embargo ends, and when; with a filter
    // no lead matches, embargoed or not, no lead fits.
    let refused = claim_next(&alice, next(&pool.id)).await;
    let metadata = app
        .assert_refused(async { refused }, "LEAD_EMBARGOED")
        .await;
    assert_eq!(metadata["lead_id"], lead.id);
    assert_eq!(metadata["claimable_at"], rfc3339);
    let north = proto::ClaimNextRequest {
        region: "north".into(),
        ..next(&pool.id)
    };
    let refused = claim_next(&alice, north).await;
    app.assert_refused(async { refused }, "NO_CLAIMABLE_LEAD")
        .await;
    let batch = alice
        .leads()
        .claim_leads(alice.req(proto::ClaimLeadsRequest {
            lead_ids: vec![lead.id.clone()],
            ..Default::default()
        }))
        .await
        .expect("a best-effort batch")
        .into_inner();
    let reasons: Vec<&str> = batch
        .results
        .iter()
        .filter_map(|r| match &r.outcome {
            Some(proto::claim_leads_result::Outcome::Refusal(refusal)) => {
                Some(refusal.reason.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["LEAD_EMBARGOED"]);
    let by_manager = app
        .as_member("mia")
        .assign(&assigned.id, "bob", false)
        .await;
    assert_eq!(by_manager.owner_id, "bob");

    app.clock.set(claimable_at);
    assert_eq!(alice.claim(&lead.id).await.owner_id, "alice");
    // Released, it has just entered the pool again.
    alice.release(&lead.id, "NO_INTENT").await;
    assert_error(
        app.as_member("bob").try_claim(&lead.id).await,
        "LEAD_EMBARGOED",
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sixty_four_callers_claim_next_at_once_and_no_lead_goes_twice() {
    const CAP: i32 = 20;
    let app = TestApp::spawn().await;
    let (reps, leads) = fixtures::crowd(&app, Some(CAP), 64, 1_000).await;
    let pool_id = app.as_admin().get_lead(&leads[0]).await.pool_id;
    let runs = reps.iter().map(|rep| {
        let request = next(&pool_id);
        async move {
            let mut won = Vec::new();
            loop {
                match claim_next(rep, request.clone()).await {
                    Ok(lead) => won.push(lead.id),
                    Err(status) => return (won, status),
                }
            }
        }
    });
    let outcomes = join_all(runs).await;
    let mut owner_of: HashMap<String, usize> = HashMap::new();
    let mut endings = HashSet::new();
    for (rep, (won, status)) in outcomes.iter().enumerate() {
        assert!(
            won.len() <= CAP as usize,
            "rep {rep} won {} leads",
            won.len()
        );
        for lead in won {
            assert!(
                owner_of.insert(lead.clone(), rep).is_none(),
                "{lead} won twice"
            );
        }
        let reason = status
            .get_error_details()
            .error_info()
            .map(|i| i.reason.clone());
        endings.insert(reason.unwrap_or_else(|| format!("{status:?}")));
    }
    assert_eq!(owner_of.len(), leads.len(), "every lead claimed once");
    assert!(
        endings.is_subset(&HashSet::from([
            "NO_CLAIMABLE_LEAD".to_owned(),
            "HELD_LIMIT_REACHED".to_owned()
        ])),
        "callers stopped only for an empty pool or their cap: {endings:?}"
    );
    fixtures::assert_one_claim_event_per_owned_lead(&app).await;
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn a_caller_who_may_claim_nothing_hears_why_before_any_lead_is_picked() {
    let (app, team) = fixtures::app_with_team(Some(1)).await;
    let pool_id = team.pool.id.clone();
    let leads = fixtures::leads(&app, &pool_id, 2).await;
    let alice = app.as_member("alice");
    alice.claim(&leads[0]).await;
    let refused = claim_next(&alice, next(&pool_id)).await;
    let metadata = app
        .assert_refused(async { refused }, "HELD_LIMIT_REACHED")
        .await;
    assert_eq!(
        (metadata["limit"].as_str(), metadata["held"].as_str()),
        ("1", "1")
    );
    let admin = claim_next(&app.as_admin(), next(&pool_id)).await;
    app.assert_refused(async { admin }, "NOT_POOL_MEMBER").await;
    // bob, with room, still gets the lead alice was refused.
    let bobs = claim_next(&app.as_member("bob"), next(&pool_id)).await;
    assert_eq!(bobs.expect("a lead").id, leads[1]);
}
