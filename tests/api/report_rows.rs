//! Which rows the member report and the fairness ledger give, and how exact they are: a user
//! who never was in the pool has no row (a typo is no rep with a quiet month), and entitlements
//! add up exactly to the leads distributed (a report equals a recount).

use leadpool::proto;

use crate::fixtures;
use crate::harness::TestApp;

/// A pool with these reps and weights.
async fn pool(app: &TestApp, name: &str, reps: &[(&str, i32)]) -> proto::Pool {
    let pool = fixtures::pool(app, name, None).await;
    for (user_id, weight) in reps {
        let member = proto::AddMemberRequest {
            pool_id: pool.id.clone(),
            user_id: (*user_id).into(),
            weight: *weight,
            ..Default::default()
        };
        app.as_admin().add_member(member).await;
    }
    pool
}

/// Creates `n` leads and distributes them round-robin.
async fn distribute(app: &TestApp, pool_id: &str, n: usize) {
    fixtures::leads(app, pool_id, n).await;
    let request = proto::DistributeRequest {
        pool_id: pool_id.into(),
        strategy: proto::DistributionStrategy::RoundRobin.into(),
        ..Default::default()
    };
    app.as_admin().distribute(request).await;
}

async fn ledger(app: &TestApp, pool_id: &str) -> proto::GetDistributionFairnessResponse {
    let request = proto::GetDistributionFairnessRequest {
        pool_id: pool_id.into(),
        from_date: "2026-03-01".into(),
        to_date: "2026-04-01".into(),
    };
    app.as_admin().fairness(request).await
}

type Row<'a> = (&'a str, i64, f64, f64);

fn rows(ledger: &proto::GetDistributionFairnessResponse) -> Vec<Row<'_>> {
    ledger
        .members
        .iter()
        .map(|r| (r.user_id.as_str(), r.received, r.entitled, r.deviation))
        .collect()
}

#[tokio::test]
async fn entitlements_add_up_to_the_leads_distributed_without_a_rounding_deviation() {
    let app = TestApp::spawn().await;
    // A third of a lead each, three times: in millionths 0.999999 each.
    let thirds = pool(&app, "华南", &[("ana", 1), ("ben", 1), ("cai", 1)]).await;
    distribute(&app, &thirds.id, 3).await;
    let even = ledger(&app, &thirds.id).await;
    let exact = [
        ("ana", 1, 1.0, 0.0),
        ("ben", 1, 1.0, 0.0),
        ("cai", 1, 1.0, 0.0),
    ];
    assert_eq!(rows(&even), exact);
    assert_eq!(even.distributed, 3);
    // No deviation: nobody's.
    assert_eq!(
        (
            even.largest_deviation,
            even.largest_deviation_user_id.as_str()
        ),
        (0.0, "")
    );

    // Sevenths, fourteen leads: two each, whole in exact arithmetic (1.999998 in millionths).
    let reps: Vec<String> = (1..=7).map(|i| format!("rep{i}")).collect();
    let sevenths: Vec<(&str, i32)> = reps.iter().map(|r| (r.as_str(), 1)).collect();
    let sevenths = pool(&app, "华北", &sevenths).await;
    distribute(&app, &sevenths.id, 14).await;
    let sevenths = ledger(&app, &sevenths.id).await;
    assert!(
        rows(&sevenths)
            .iter()
            .all(|r| (r.1, r.2, r.3) == (2, 2.0, 0.0)),
        "{sevenths:?}"
    );

    // Weights 1 and 2 over three leads: entitled exactly 1 and 2 (0.999999 and 2.000001 in
    // millionths); round-robin gives 2 and 1. Equal deviations: the first by user id.
    let weighted = pool(&app, "西南", &[("dai", 1), ("eli", 2)]).await;
    distribute(&app, &weighted.id, 3).await;
    let weighted = ledger(&app, &weighted.id).await;
    assert_eq!(
        rows(&weighted),
        [("dai", 2, 1.0, 1.0), ("eli", 1, 2.0, -1.0)]
    );
    let largest = (
        weighted.largest_deviation,
        weighted.largest_deviation_user_id.as_str(),
    );
    assert_eq!(largest, (1.0, "dai"));
}

#[tokio::test]
async fn a_member_report_for_a_user_never_in_the_pool_is_member_not_found() {
    let (app, team) = fixtures::app_with_team(None).await;
    let ask = |user_id: &str| proto::GetMemberReportRequest {
        pool_id: team.pool.id.clone(),
        from_date: "2026-03-01".into(),
        to_date: "2026-03-08".into(),
        user_id: user_id.into(),
    };
    let admin = app.as_admin();
    let typo = app
        .assert_refused(admin.try_member_report(ask("alicee")), "MEMBER_NOT_FOUND")
        .await;
    assert_eq!(typo["user_id"], "alicee");
    // As GetMemberStats answers for the same user.
    let stats = admin.try_member_stats(&team.pool.id, "alicee");
    app.assert_refused(stats, "MEMBER_NOT_FOUND").await;

    // A member with nothing in the range has their (empty) row, inactive or not; "me" is the
    // caller, as in GetMemberStats.
    let alice = admin.member_report(ask("alice")).await;
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].user_id, "alice");
    let mine = app.as_member("alice").member_report(ask("me")).await;
    assert_eq!(mine, alice);
    let inactive = proto::Member {
        pool_id: team.pool.id.clone(),
        user_id: "alice".into(),
        active: false,
        ..Default::default()
    };
    admin.update_member(inactive, &["active"]).await;
    assert_eq!(admin.member_report(ask("alice")).await.len(), 1);

    // A former holder active in the range keeps theirs.
    let lead = fixtures::lead(&app, &team.pool.id, "Lin Tao").await;
    app.as_member("bob").claim(&lead.id).await;
    admin.remove_member(&team.pool.id, "bob").await;
    let bob = admin.member_report(ask("bob")).await;
    let acquired = bob
        .iter()
        .map(|r| (r.user_id.as_str(), r.acquired.as_ref().map(|a| a.claim)));
    assert_eq!(acquired.collect::<Vec<_>>(), [("bob", Some(1))]);
}
