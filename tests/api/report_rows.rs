//! Which rows the member report gives: a user who never was in the pool has no row (a typo is
//! no rep with a quiet month).

use leadpool::proto;

use crate::fixtures;
use crate::harness::TestApp;

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

    // A member with nothing in the range has their (empty) row, inactive or not.
    let alice = admin.member_report(ask("alice")).await;
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].user_id, "alice");
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
