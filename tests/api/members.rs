//! AddMember and ListMembers.

use leadpool::proto;

use crate::fixtures::{self};
use crate::harness::{TestApp, assert_error};

#[tokio::test]
async fn admin_adds_member_with_defaults() {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool(&app, "East", None).await;
    let member = fixtures::member(&app, &pool.id, "alice", proto::MemberRole::Unspecified).await;
    assert_eq!(member.role(), proto::MemberRole::Member);
    assert!(member.active);
    assert_eq!(member.weight, 1);
    assert_eq!(member.max_held, None);
    assert_eq!(member.held_count, 0);
}

#[tokio::test]
async fn pool_manager_adds_members_but_plain_members_cannot() {
    let (app, team) = fixtures::app_with_team(None).await;
    let added = app
        .as_member("mia")
        .add_member(proto::AddMemberRequest {
            pool_id: team.pool.id.clone(),
            user_id: "carl".into(),
            weight: 5,
            max_held: Some(3),
            active: Some(false),
            regions: vec!["east".into()],
            ..Default::default()
        })
        .await;
    assert_eq!(
        (added.weight, added.max_held, added.active),
        (5, Some(3), false)
    );
    assert_eq!(added.regions, ["east"]);

    let md = app
        .assert_refused(
            app.as_member("alice")
                .try_add_member(proto::AddMemberRequest {
                    pool_id: team.pool.id.clone(),
                    user_id: "dave".into(),
                    ..Default::default()
                }),
            "MANAGER_REQUIRED",
        )
        .await;
    assert_eq!(md["pool_id"], team.pool.id);
}

#[tokio::test]
async fn adding_an_existing_member_is_already_exists() {
    let (app, team) = fixtures::app_with_team(None).await;
    let md = app
        .assert_refused(
            app.as_admin().try_add_member(proto::AddMemberRequest {
                pool_id: team.pool.id.clone(),
                user_id: "alice".into(),
                role: proto::MemberRole::Manager.into(),
                ..Default::default()
            }),
            "MEMBER_EXISTS",
        )
        .await;
    assert_eq!(md["user_id"], "alice");
}

#[tokio::test]
async fn add_member_refuses_bad_fields_and_unknown_pool() {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool(&app, "East", None).await;
    assert_eq!(
        app.invalid_fields(app.as_admin().try_add_member(proto::AddMemberRequest {
            pool_id: pool.id.clone(),
            user_id: String::new(),
            role: 9,
            weight: 1001,
            max_held: Some(-2),
            ..Default::default()
        }))
        .await,
        ["role", "user_id", "weight", "max_held"]
    );
    // A user id no caller could present (x-actor-id, a token's sub) would hold leads nobody
    // can work.
    for user_id in [
        "u".repeat(129),
        "张三".into(),
        "a b".into(),
        " alice".into(),
    ] {
        let admin = app.as_admin();
        let added = admin.try_add_member(proto::AddMemberRequest {
            pool_id: pool.id.clone(),
            user_id: user_id.clone(),
            ..Default::default()
        });
        assert_eq!(app.invalid_fields(added).await, ["user_id"], "{user_id}");
    }
    app.assert_refused(
        app.as_admin().try_add_member(proto::AddMemberRequest {
            pool_id: uuid::Uuid::now_v7().to_string(),
            user_id: "alice".into(),
            ..Default::default()
        }),
        "POOL_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn members_are_listed_in_join_order_page_by_page() {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool(&app, "East", None).await;
    let users = ["u3", "u1", "u4", "u2", "u5"];
    for (i, u) in users.iter().enumerate() {
        app.clock.advance(chrono::Duration::seconds(i as i64 + 1));
        fixtures::member(&app, &pool.id, u, proto::MemberRole::Member).await;
    }
    let u1 = &app.as_member("u1");
    let seen = fixtures::all_pages(|page_token| {
        let request = proto::ListMembersRequest {
            page_size: 2,
            page_token,
            ..fixtures::scoped(&pool.id)
        };
        async move {
            let page = u1.list_members(request).await;
            (page.members, page.next_page_token)
        }
    })
    .await;
    let seen: Vec<_> = seen.iter().map(|m| m.user_id.as_str()).collect();
    assert_eq!(seen, users);

    let outsider = app
        .as_member("zoe")
        .try_list_members(fixtures::scoped(&pool.id))
        .await;
    assert_error(outsider, "NOT_POOL_MEMBER");
}
