//! UpdatePool, ArchivePool, UpdateMember, RemoveMember, GetMemberStats.

use chrono::Duration;
use leadpool::proto;
use prost_types::{Duration as PbDuration, FieldMask};
use tonic::Code;

use crate::fixtures::{self, admin, user};
use crate::harness::{Caller, TestApp, assert_error, bad_fields};

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

fn days(n: i64) -> Option<PbDuration> {
    Some(PbDuration {
        seconds: n * 86_400,
        nanos: 0,
    })
}

async fn update_pool(
    app: &TestApp,
    who: &Caller,
    pool: proto::Pool,
    paths: &[&str],
    reschedule_owned: bool,
) -> Result<proto::UpdatePoolResponse, tonic::Status> {
    app.pools()
        .update_pool(who.req(proto::UpdatePoolRequest {
            pool: Some(pool),
            update_mask: mask(paths),
            reschedule_owned,
            ..Default::default()
        }))
        .await
        .map(tonic::Response::into_inner)
}

async fn try_claim(app: &TestApp, who: &str, lead_id: &str) -> Result<proto::Lead, tonic::Status> {
    app.leads()
        .claim_lead(user(who).req(proto::ClaimLeadRequest {
            lead_id: lead_id.into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

#[tokio::test]
async fn update_pool_changes_only_the_masked_fields() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(10)).await;
    let patch = proto::Pool {
        id: team.pool.id.clone(),
        daily_claim_limit: Some(3),
        mask_contacts: true,
        // Not in the mask: ignored, even though an empty name would be invalid.
        name: String::new(),
        ..Default::default()
    };
    let updated = update_pool(
        &app,
        &admin(),
        patch,
        &["daily_claim_limit", "mask_contacts"],
        false,
    )
    .await
    .expect("update")
    .pool
    .expect("pool");
    assert_eq!(updated.daily_claim_limit, Some(3));
    assert!(updated.mask_contacts);
    assert_eq!(updated.name, team.pool.name);
    assert_eq!(updated.max_held_per_member, Some(10));
    assert_eq!(updated.timezone, "Asia/Shanghai");

    let cleared = update_pool(
        &app,
        &admin(),
        proto::Pool {
            id: team.pool.id.clone(),
            ..Default::default()
        },
        &["daily_claim_limit"],
        false,
    )
    .await
    .expect("clear")
    .pool
    .expect("pool");
    assert_eq!(cleared.daily_claim_limit, None, "unset means no limit");
}

#[tokio::test]
async fn update_pool_refuses_bad_masks_values_and_callers() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    fixtures::pool(&app, "Taken", None).await;
    let before = app.fingerprint().await;
    let id_only = proto::Pool {
        id: team.pool.id.clone(),
        ..Default::default()
    };
    let empty = update_pool(&app, &admin(), id_only.clone(), &[], false).await;
    assert_eq!(bad_fields(empty), ["update_mask"]);
    let unknown = update_pool(&app, &admin(), id_only.clone(), &["owner"], false).await;
    assert_eq!(bad_fields(unknown), ["update_mask"]);
    let negative = proto::Pool {
        daily_claim_limit: Some(-1),
        timezone: "Nowhere/Land".into(),
        ..id_only.clone()
    };
    let bad = update_pool(
        &app,
        &admin(),
        negative,
        &["daily_claim_limit", "timezone"],
        false,
    )
    .await;
    assert_eq!(bad_fields(bad), ["timezone", "daily_claim_limit"]);
    let taken = proto::Pool {
        name: "TAKEN".into(),
        ..id_only.clone()
    };
    assert_error(
        update_pool(&app, &admin(), taken, &["name"], false).await,
        Code::AlreadyExists,
        "POOL_NAME_TAKEN",
    );
    assert_error(
        update_pool(
            &app,
            &user("mia"),
            id_only.clone(),
            &["mask_contacts"],
            false,
        )
        .await,
        Code::PermissionDenied,
        "ADMIN_REQUIRED",
    );
    let missing = proto::Pool {
        id: uuid::Uuid::now_v7().to_string(),
        ..Default::default()
    };
    assert_error(
        update_pool(&app, &admin(), missing, &["mask_contacts"], false).await,
        Code::NotFound,
        "POOL_NOT_FOUND",
    );
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn reschedule_owned_recomputes_deadlines_with_one_event_each() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let rules = proto::Pool {
        id: team.pool.id.clone(),
        follow_up_timeout: days(3),
        ..Default::default()
    };
    update_pool(&app, &admin(), rules, &["follow_up_timeout"], false)
        .await
        .expect("set timeout");
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let claimed = try_claim(&app, "alice", &lead.id).await.expect("claim");
    let acquired = claimed.acquired_at.expect("acquired").seconds;
    assert_eq!(
        claimed.follow_up_deadline.map(|t| t.seconds),
        Some(acquired + 3 * 86_400)
    );

    let longer = proto::Pool {
        id: team.pool.id.clone(),
        follow_up_timeout: days(10),
        close_timeout: days(20),
        ..Default::default()
    };
    let kept = update_pool(
        &app,
        &admin(),
        longer.clone(),
        &["follow_up_timeout"],
        false,
    )
    .await
    .expect("update without reschedule");
    assert_eq!(kept.rescheduled_leads, 0);
    let read = |app: &TestApp| {
        let mut client = app.leads();
        let lead_id = lead.id.clone();
        async move {
            client
                .get_lead(user("alice").req(proto::GetLeadRequest { lead_id }))
                .await
                .expect("get")
                .into_inner()
                .lead
                .expect("lead")
        }
    };
    assert_eq!(
        read(&app).await.follow_up_deadline.map(|t| t.seconds),
        Some(acquired + 3 * 86_400),
        "future acquisitions only"
    );

    let rescheduled = update_pool(
        &app,
        &admin(),
        longer,
        &["follow_up_timeout", "close_timeout"],
        true,
    )
    .await
    .expect("reschedule");
    assert_eq!(rescheduled.rescheduled_leads, 1);
    let now = read(&app).await;
    assert_eq!(
        now.follow_up_deadline.map(|t| t.seconds),
        Some(acquired + 10 * 86_400)
    );
    assert_eq!(
        now.close_deadline.map(|t| t.seconds),
        Some(acquired + 20 * 86_400)
    );
    assert_eq!(
        fixtures::event_kinds(&app, &lead.id).await,
        ["CREATED", "CLAIMED", "UPDATED"]
    );
}

#[tokio::test]
async fn archived_pools_refuse_claims_and_new_leads() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let archive = |who: Caller| {
        let mut pools = app.pools();
        let pool_id = team.pool.id.clone();
        async move {
            pools
                .archive_pool(who.req(proto::ArchivePoolRequest {
                    pool_id,
                    ..Default::default()
                }))
                .await
        }
    };
    assert_error(
        archive(user("mia")).await,
        Code::PermissionDenied,
        "ADMIN_REQUIRED",
    );
    let archived = archive(admin())
        .await
        .expect("archive")
        .into_inner()
        .pool
        .expect("pool");
    assert!(archived.archived);
    let again = archive(admin())
        .await
        .expect("archive again")
        .into_inner()
        .pool;
    assert_eq!(again, Some(archived), "archiving twice changes nothing");

    let before = app.fingerprint().await;
    assert_error(
        try_claim(&app, "alice", &lead.id).await,
        Code::FailedPrecondition,
        "POOL_ARCHIVED",
    );
    let create = app
        .leads()
        .create_lead(fixtures::service().req(proto::CreateLeadRequest {
            pool_id: team.pool.id.clone(),
            lead: Some(fixtures::new_lead("Late")),
            ..Default::default()
        }))
        .await;
    assert_error(create, Code::FailedPrecondition, "POOL_ARCHIVED");
    assert_eq!(app.fingerprint().await, before);
}

async fn update_member(
    app: &TestApp,
    who: &Caller,
    member: proto::Member,
    paths: &[&str],
) -> Result<proto::Member, tonic::Status> {
    app.pools()
        .update_member(who.req(proto::UpdateMemberRequest {
            member: Some(member),
            update_mask: mask(paths),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().member.expect("member"))
}

#[tokio::test]
async fn managers_update_memberships_field_by_field() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let alice = proto::Member {
        pool_id: team.pool.id.clone(),
        user_id: "alice".into(),
        ..Default::default()
    };
    let on_leave = update_member(&app, &user("mia"), alice.clone(), &["active"])
        .await
        .expect("deactivate");
    assert!(!on_leave.active);
    assert_eq!(on_leave.weight, 1, "unmasked fields keep their values");
    assert_error(
        try_claim(&app, "alice", &lead.id).await,
        Code::FailedPrecondition,
        "MEMBER_INACTIVE",
    );
    let back = proto::Member {
        active: true,
        weight: 7,
        max_held: Some(2),
        regions: vec!["east".into()],
        ..alice.clone()
    };
    let back = update_member(
        &app,
        &admin(),
        back,
        &["active", "weight", "max_held", "regions"],
    )
    .await
    .expect("reactivate");
    assert_eq!(
        (
            back.active,
            back.weight,
            back.max_held,
            back.regions.clone()
        ),
        (true, 7, Some(2), vec!["east".to_owned()])
    );
    try_claim(&app, "alice", &lead.id)
        .await
        .expect("active again");

    let promote = proto::Member {
        role: proto::MemberRole::Manager.into(),
        ..alice.clone()
    };
    let promoted = update_member(&app, &user("mia"), promote, &["role"])
        .await
        .expect("promote");
    assert_eq!(promoted.role(), proto::MemberRole::Manager);
}

#[tokio::test]
async fn update_member_refuses_bad_input_and_plain_members() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let before = app.fingerprint().await;
    let bob = proto::Member {
        pool_id: team.pool.id.clone(),
        user_id: "bob".into(),
        weight: 5000,
        ..Default::default()
    };
    assert_eq!(
        bad_fields(update_member(&app, &user("mia"), bob.clone(), &["weight", "role"]).await),
        ["role", "weight"]
    );
    assert_eq!(
        bad_fields(update_member(&app, &user("mia"), bob.clone(), &["held_count"]).await),
        ["update_mask"]
    );
    assert_error(
        update_member(&app, &user("alice"), bob.clone(), &["active"]).await,
        Code::PermissionDenied,
        "MANAGER_REQUIRED",
    );
    let ghost = proto::Member {
        user_id: "ghost".into(),
        ..bob
    };
    assert_error(
        update_member(&app, &user("mia"), ghost, &["active"]).await,
        Code::NotFound,
        "MEMBER_NOT_FOUND",
    );
    assert_eq!(app.fingerprint().await, before);
}

async fn remove(
    app: &TestApp,
    who: &Caller,
    pool_id: &str,
    user_id: &str,
) -> Result<i32, tonic::Status> {
    app.pools()
        .remove_member(who.req(proto::RemoveMemberRequest {
            pool_id: pool_id.into(),
            user_id: user_id.into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().released_leads)
}

#[tokio::test]
async fn removing_a_member_returns_their_leads_to_the_pool() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let l1 = fixtures::lead(&app, &team.pool.id, "L1").await;
    let l2 = fixtures::lead(&app, &team.pool.id, "L2").await;
    try_claim(&app, "alice", &l1.id).await.expect("claim");
    try_claim(&app, "alice", &l2.id).await.expect("claim");
    assert_error(
        remove(&app, &user("bob"), &team.pool.id, "alice").await,
        Code::PermissionDenied,
        "MANAGER_REQUIRED",
    );
    assert_eq!(
        remove(&app, &user("mia"), &team.pool.id, "alice")
            .await
            .expect("remove"),
        2
    );
    let (owned, released): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM leads WHERE owner_id = 'alice'),
                (SELECT count(*) FROM lead_events WHERE kind = 'RELEASED' AND reason = 'MEMBER_REMOVED')",
    )
    .fetch_one(&app.db)
    .await
    .expect("counts");
    assert_eq!((owned, released), (0, 2));
    assert_error(
        try_claim(&app, "alice", &l1.id).await,
        Code::PermissionDenied,
        "NOT_POOL_MEMBER",
    );
    try_claim(&app, "bob", &l1.id)
        .await
        .expect("back in the pool");
    assert_error(
        remove(&app, &admin(), &team.pool.id, "alice").await,
        Code::NotFound,
        "MEMBER_NOT_FOUND",
    );
}

#[tokio::test]
async fn removing_a_member_with_a_locked_lead_changes_nothing() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let l1 = fixtures::lead(&app, &team.pool.id, "L1").await;
    let l2 = fixtures::lead(&app, &team.pool.id, "L2").await;
    try_claim(&app, "alice", &l1.id).await.expect("claim");
    try_claim(&app, "alice", &l2.id).await.expect("claim");
    sqlx::query("UPDATE leads SET locked = true WHERE id = $1::uuid")
        .bind(&l2.id)
        .execute(&app.db)
        .await
        .expect("lock");
    let before = app.fingerprint().await;
    let md = assert_error(
        remove(&app, &admin(), &team.pool.id, "alice").await,
        Code::FailedPrecondition,
        "LEAD_LOCKED",
    );
    assert_eq!(md["lead_id"], l2.id);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn member_stats_report_holdings_quota_and_deadlines() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, Some(5)).await;
    let rules = proto::Pool {
        id: team.pool.id.clone(),
        daily_claim_limit: Some(3),
        follow_up_timeout: days(2),
        close_timeout: days(9),
        ..Default::default()
    };
    update_pool(
        &app,
        &admin(),
        rules,
        &["daily_claim_limit", "follow_up_timeout", "close_timeout"],
        false,
    )
    .await
    .expect("rules");
    let l1 = fixtures::lead(&app, &team.pool.id, "L1").await;
    let l2 = fixtures::lead(&app, &team.pool.id, "L2").await;
    try_claim(&app, "alice", &l1.id).await.expect("claim");
    app.clock.advance(Duration::hours(1));
    try_claim(&app, "alice", &l2.id).await.expect("claim");
    let stats = |who: Caller, user_id: &str| {
        let mut pools = app.pools();
        let pool_id = team.pool.id.clone();
        let user_id = user_id.to_owned();
        async move {
            pools
                .get_member_stats(who.req(proto::GetMemberStatsRequest { pool_id, user_id }))
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let mine = stats(user("alice"), "me").await.expect("own stats");
    let start = crate::harness::start_time().timestamp();
    assert_eq!(mine.user_id, "alice");
    assert_eq!((mine.held_count, mine.cap), (2, Some(5)));
    assert_eq!(
        (mine.claims_today, mine.daily_claim_limit, mine.quota_left),
        (2, Some(3), Some(1))
    );
    // 10:00 UTC is 18:00 in Shanghai: the quota resets at 16:00 UTC.
    assert_eq!(mine.resets_at.map(|t| t.seconds), Some(start + 7 * 3_600));
    assert_eq!(
        mine.next_follow_up_deadline.map(|t| t.seconds),
        Some(start + 2 * 86_400)
    );
    assert_eq!(
        mine.next_close_deadline.map(|t| t.seconds),
        Some(start + 9 * 86_400)
    );

    assert_error(
        stats(user("bob"), "alice").await,
        Code::PermissionDenied,
        "MANAGER_REQUIRED",
    );
    assert_eq!(
        stats(user("mia"), "alice")
            .await
            .expect("manager")
            .held_count,
        2
    );
    // The next local day starts a new quota.
    app.clock.set("2026-03-02T16:00:00Z".parse().unwrap());
    let tomorrow = stats(user("alice"), "").await.expect("stats");
    assert_eq!((tomorrow.claims_today, tomorrow.quota_left), (0, Some(3)));
    assert_error(
        stats(user("mia"), "ghost").await,
        Code::NotFound,
        "MEMBER_NOT_FOUND",
    );
}
