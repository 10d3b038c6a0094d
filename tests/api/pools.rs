//! CreatePool, GetPool, ListPools.

use leadpool::proto;

use crate::caller::Services;
use crate::fixtures::{self};
use crate::harness::{TestApp, assert_error, bad_fields};

#[tokio::test]
async fn created_pool_can_be_read_back() {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool(&app, "East China", Some(30)).await;
    assert_eq!(pool.name, "East China");
    assert_eq!(pool.timezone, "Asia/Shanghai");
    assert_eq!(pool.max_held_per_member, Some(30));
    assert!(!pool.archived);

    let read = Some(app.as_admin().get_pool(&pool.id).await);
    assert_eq!(read, Some(pool));
}

#[tokio::test]
async fn pool_without_timezone_or_cap_is_utc_and_unlimited() {
    let app = TestApp::spawn().await;
    let pool = app
        .as_admin()
        .create_pool(proto::CreatePoolRequest {
            name: "West".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(pool.timezone, "UTC");
    assert_eq!(pool.max_held_per_member, None);
}

#[tokio::test]
async fn only_admins_create_pools() {
    let app = TestApp::spawn().await;
    app.assert_refused(
        app.as_service().try_create_pool(proto::CreatePoolRequest {
            name: "East".into(),
            ..Default::default()
        }),
        "ADMIN_REQUIRED",
    )
    .await;
}

#[tokio::test]
async fn pool_names_are_unique_per_tenant_ignoring_case() {
    let app = TestApp::spawn().await;
    fixtures::pool(&app, "East China", None).await;
    app.assert_refused(
        app.as_admin().try_create_pool(proto::CreatePoolRequest {
            name: "east CHINA".into(),
            ..Default::default()
        }),
        "POOL_NAME_TAKEN",
    )
    .await;

    // Another tenant may use the same name.
    let other = crate::harness::Caller::admin("globex");
    app.pools()
        .create_pool(other.req(proto::CreatePoolRequest {
            name: "East China".into(),
            ..Default::default()
        }))
        .await
        .expect("same name in another tenant");
}

#[tokio::test]
async fn create_pool_names_every_bad_field() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.invalid_fields(app.as_admin().try_create_pool(proto::CreatePoolRequest {
            name: "   ".into(),
            timezone: "Mars/Olympus".into(),
            max_held_per_member: Some(-1),
            request_id: "not-a-uuid".into(),
            daily_claim_limit: Some(-2),
            follow_up_timeout: Some(prost_types::Duration {
                seconds: 0,
                nanos: 0,
            }),
            recycle_to_pool_id: "elsewhere".into(),
            ..Default::default()
        }))
        .await,
        [
            "name",
            "timezone",
            "max_held_per_member",
            "daily_claim_limit",
            "follow_up_timeout",
            "recycle_to_pool_id",
            "request_id"
        ]
    );
    assert_eq!(
        app.invalid_fields(app.as_admin().try_create_pool(proto::CreatePoolRequest {
            name: "x".repeat(201),
            ..Default::default()
        }))
        .await,
        ["name"]
    );
}

#[tokio::test]
async fn get_pool_refuses_malformed_unknown_and_non_member() {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool(&app, "East", None).await;

    let malformed = app.as_admin().try_get_pool("12345").await;
    assert_eq!(bad_fields(malformed), ["pool_id"]);

    let unknown_id = uuid::Uuid::now_v7().to_string();
    let unknown = app.as_admin().try_get_pool(&unknown_id).await;
    let md = assert_error(unknown, "POOL_NOT_FOUND");
    assert_eq!(md["pool_id"], unknown_id);

    let outsider = app.as_member("zoe").try_get_pool(&pool.id).await;
    assert_error(outsider, "NOT_POOL_MEMBER");
}

#[tokio::test]
async fn list_pools_pages_by_name_and_members_see_their_own() {
    let app = TestApp::spawn().await;
    for name in ["Delta", "Alpha", "Echo", "Bravo", "Charlie"] {
        fixtures::pool(&app, name, None).await;
    }
    let admin = &app.as_admin();
    let pools = fixtures::all_pages(|page_token| async move {
        let request = proto::ListPoolsRequest {
            page_size: 2,
            page_token,
        };
        let page = admin.list_pools(request).await;
        assert!(page.pools.len() <= 2);
        (page.pools, page.next_page_token)
    })
    .await;
    let names: Vec<_> = pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]);

    let echo = app
        .as_admin()
        .list_pools(proto::ListPoolsRequest::default())
        .await
        .pools
        .into_iter()
        .find(|p| p.name == "Echo")
        .expect("Echo");
    fixtures::member(&app, &echo.id, "alice", proto::MemberRole::Member).await;
    let mine = app
        .as_member("alice")
        .list_pools(proto::ListPoolsRequest::default())
        .await;
    assert_eq!(
        mine.pools
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["Echo"]
    );
}

#[tokio::test]
async fn list_pools_refuses_bad_tokens_and_negative_page_size() {
    let app = TestApp::spawn().await;
    for name in ["A", "B", "C"] {
        fixtures::pool(&app, name, None).await;
    }
    let garbage = app
        .as_admin()
        .try_list_pools(proto::ListPoolsRequest {
            page_token: "garbage!".into(),
            ..Default::default()
        })
        .await;
    assert_error(garbage, "BAD_PAGE_TOKEN");

    let negative = app
        .as_admin()
        .try_list_pools(proto::ListPoolsRequest {
            page_size: -5,
            ..Default::default()
        })
        .await;
    assert_eq!(bad_fields(negative), ["page_size"]);

    // A token issued for the admin's view is not valid for a member's.
    let token = app
        .as_admin()
        .list_pools(proto::ListPoolsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .next_page_token;
    assert!(!token.is_empty());
    let reused = app
        .as_member("alice")
        .try_list_pools(proto::ListPoolsRequest {
            page_size: 1,
            page_token: token,
        })
        .await;
    assert_error(reused, "BAD_PAGE_TOKEN");
}
