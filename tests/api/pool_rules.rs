//! Pool rules: daily quota, reclaim cooldown, masking, release reasons, deadlines, recycle pool.

use chrono::Duration;
use futures::future::join_all;
use leadpool::proto;
use prost_types::Duration as PbDuration;
use tonic::Code;

use crate::fixtures::{self, admin, pool_with, user};
use crate::harness::{Caller, TestApp, assert_error};

fn secs(seconds: i64) -> Option<PbDuration> {
    Some(PbDuration { seconds, nanos: 0 })
}

async fn try_claim(
    app: &TestApp,
    who: &Caller,
    lead_id: &str,
) -> Result<proto::Lead, tonic::Status> {
    app.leads()
        .claim_lead(who.req(proto::ClaimLeadRequest {
            lead_id: lead_id.into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

async fn release(
    app: &TestApp,
    who: &Caller,
    lead_id: &str,
    reason: &str,
) -> Result<proto::Lead, tonic::Status> {
    app.leads()
        .release_lead(who.req(proto::ReleaseLeadRequest {
            lead_id: lead_id.into(),
            reason: reason.into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

async fn leads(app: &TestApp, pool_id: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(fixtures::lead(app, pool_id, &format!("L{i}")).await.id);
    }
    ids
}

#[tokio::test]
async fn every_rule_is_stored_and_read_back() {
    let app = TestApp::spawn().await;
    let other = fixtures::pool(&app, "Recycled", None).await;
    let pool = pool_with(
        &app,
        "Rules",
        proto::CreatePoolRequest {
            max_held_per_member: Some(30),
            daily_claim_limit: Some(5),
            reclaim_cooldown: secs(3_600),
            mask_contacts: true,
            release_reasons: vec!["NO_BUDGET".into(), "WRONG_CONTACT".into()],
            exempt_grades: vec!["A".into()],
            follow_up_timeout: secs(7 * 86_400),
            close_timeout: secs(30 * 86_400),
            warn_before: secs(86_400),
            grade_overrides: [(
                "A".to_owned(),
                proto::GradeDeadlines {
                    follow_up_timeout: secs(30 * 86_400),
                    close_timeout: None,
                },
            )]
            .into(),
            recycle_to_pool_id: other.id.clone(),
            ..Default::default()
        },
    )
    .await;
    let read = app
        .pools()
        .get_pool(user("alice").req(proto::GetPoolRequest {
            pool_id: pool.id.clone(),
        }))
        .await
        .expect("get")
        .into_inner()
        .pool
        .expect("pool");
    assert_eq!(read, pool);
    assert_eq!(read.daily_claim_limit, Some(5));
    assert_eq!(read.reclaim_cooldown, secs(3_600));
    assert!(read.mask_contacts);
    assert_eq!(read.release_reasons, ["NO_BUDGET", "WRONG_CONTACT"]);
    assert_eq!(read.exempt_grades, ["A"]);
    assert_eq!(read.warn_before, secs(86_400));
    assert_eq!(
        read.grade_overrides["A"].follow_up_timeout,
        secs(30 * 86_400)
    );
    assert_eq!(read.grade_overrides["A"].close_timeout, None);
    assert_eq!(read.recycle_to_pool_id, other.id);

    let unknown = uuid::Uuid::now_v7().to_string();
    let bad_target = app
        .pools()
        .create_pool(admin().req(proto::CreatePoolRequest {
            name: "Bad target".into(),
            recycle_to_pool_id: unknown.clone(),
            ..Default::default()
        }))
        .await;
    let md = assert_error(bad_target, Code::NotFound, "POOL_NOT_FOUND");
    assert_eq!(md["pool_id"], unknown);
}

#[tokio::test]
async fn daily_quota_stops_the_next_claim_and_resets_at_local_midnight() {
    let app = TestApp::spawn().await;
    let pool = pool_with(
        &app,
        "Rules",
        proto::CreatePoolRequest {
            daily_claim_limit: Some(2),
            ..Default::default()
        },
    )
    .await;
    let ids = leads(&app, &pool.id, 4).await;
    // 09:00 UTC is 17:00 in Shanghai.
    try_claim(&app, &user("alice"), &ids[0]).await.expect("1st");
    try_claim(&app, &user("alice"), &ids[1]).await.expect("2nd");
    // Releasing does not give the claim back (no hoard-and-swap).
    release(&app, &user("alice"), &ids[1], "NO_BUDGET")
        .await
        .expect("release");
    let before = app.fingerprint().await;
    let md = assert_error(
        try_claim(&app, &user("alice"), &ids[2]).await,
        Code::ResourceExhausted,
        "DAILY_CLAIM_LIMIT_REACHED",
    );
    assert_eq!(md["limit"], "2");
    assert_eq!(
        md["resets_at"], "2026-03-02T16:00:00Z",
        "midnight in Shanghai"
    );
    assert_eq!(
        app.fingerprint().await,
        before,
        "a refused claim spends nothing"
    );
    // The quota is per member: bob still has his.
    try_claim(&app, &user("bob"), &ids[3])
        .await
        .expect("bob's own quota");

    // 23:59:59 in Shanghai: still the same day.
    app.clock.set("2026-03-02T15:59:59Z".parse().unwrap());
    assert_error(
        try_claim(&app, &user("alice"), &ids[2]).await,
        Code::ResourceExhausted,
        "DAILY_CLAIM_LIMIT_REACHED",
    );
    // Midnight in Shanghai, still 16:00 of the same UTC day: a new quota.
    app.clock.set("2026-03-02T16:00:00Z".parse().unwrap());
    try_claim(&app, &user("alice"), &ids[2])
        .await
        .expect("new day");
}

#[tokio::test]
async fn quota_holds_under_32_parallel_claims() {
    let app = TestApp::spawn().await;
    let pool = pool_with(
        &app,
        "Rules",
        proto::CreatePoolRequest {
            daily_claim_limit: Some(10),
            ..Default::default()
        },
    )
    .await;
    let ids = leads(&app, &pool.id, 32).await;
    let tasks = ids.into_iter().map(|lead_id| {
        let mut client = app.leads();
        tokio::spawn(async move {
            client
                .claim_lead(user("alice").req(proto::ClaimLeadRequest {
                    lead_id,
                    ..Default::default()
                }))
                .await
                .map(|_| ())
                .map_err(|s| s.code())
        })
    });
    let results: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(Code::ResourceExhausted)))
    );
    let (owned, claimed, claims_today): (i64, i64, i32) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM leads WHERE owner_id = 'alice'),
                (SELECT count(*) FROM lead_events WHERE kind = 'CLAIMED'),
                (SELECT claims_today FROM members WHERE user_id = 'alice')",
    )
    .fetch_one(&app.db)
    .await
    .expect("counts");
    assert_eq!((owned, claimed, claims_today), (10, 10, 10));
}

#[tokio::test]
async fn cooldown_refuses_the_ex_owner_until_it_ends_but_not_others() {
    let app = TestApp::spawn().await;
    let pool = pool_with(
        &app,
        "Rules",
        proto::CreatePoolRequest {
            reclaim_cooldown: secs(3_600),
            ..Default::default()
        },
    )
    .await;
    let ids = leads(&app, &pool.id, 1).await;
    try_claim(&app, &user("alice"), &ids[0])
        .await
        .expect("claim");
    let released = release(&app, &user("alice"), &ids[0], "NO_BUDGET")
        .await
        .expect("release");
    let until = app.clock_now() + Duration::hours(1);
    assert_eq!(
        released.cooldown_until.map(|t| t.seconds),
        Some(until.timestamp())
    );
    let before = app.fingerprint().await;
    let md = assert_error(
        try_claim(&app, &user("alice"), &ids[0]).await,
        Code::FailedPrecondition,
        "RECLAIM_COOLDOWN",
    );
    assert_eq!(md["cooldown_until"], "2026-03-02T10:00:00Z");
    assert_eq!(app.fingerprint().await, before);

    app.clock.advance(Duration::minutes(59));
    assert_error(
        try_claim(&app, &user("alice"), &ids[0]).await,
        Code::FailedPrecondition,
        "RECLAIM_COOLDOWN",
    );
    // Others are not bound by alice's cooldown.
    try_claim(&app, &user("bob"), &ids[0])
        .await
        .expect("bob claims");
    release(&app, &user("bob"), &ids[0], "NO_BUDGET")
        .await
        .expect("bob releases");
    // bob's release makes bob the one cooling down; alice is free again.
    try_claim(&app, &user("alice"), &ids[0])
        .await
        .expect("alice after bob");
}

#[tokio::test]
async fn cooldown_ends_exactly_at_cooldown_until() {
    let app = TestApp::spawn().await;
    let pool = pool_with(
        &app,
        "Rules",
        proto::CreatePoolRequest {
            reclaim_cooldown: secs(600),
            ..Default::default()
        },
    )
    .await;
    let ids = leads(&app, &pool.id, 1).await;
    try_claim(&app, &user("alice"), &ids[0])
        .await
        .expect("claim");
    release(&app, &user("alice"), &ids[0], "NO_BUDGET")
        .await
        .expect("release");
    app.clock.advance(Duration::seconds(600));
    try_claim(&app, &user("alice"), &ids[0])
        .await
        .expect("cooldown over");
}

#[tokio::test]
async fn masked_pool_hides_contacts_from_plain_members_only() {
    let app = TestApp::spawn().await;
    let pool = pool_with(
        &app,
        "Rules",
        proto::CreatePoolRequest {
            mask_contacts: true,
            ..Default::default()
        },
    )
    .await;
    let mut fields = fixtures::new_lead("Jane Doe");
    fields.phone = "+86 138-1234-5678".into();
    fields.email = "jane@example.com".into();
    let lead = app
        .leads()
        .create_lead(fixtures::service().req(proto::CreateLeadRequest {
            pool_id: pool.id.clone(),
            lead: Some(fields),
            ..Default::default()
        }))
        .await
        .expect("create")
        .into_inner()
        .lead
        .expect("lead");
    assert!(!lead.contact_masked, "the creating service sees contacts");

    let get = |who: Caller| {
        let mut client = app.leads();
        let lead_id = lead.id.clone();
        async move {
            client
                .get_lead(who.req(proto::GetLeadRequest { lead_id }))
                .await
                .expect("get")
                .into_inner()
                .lead
                .expect("lead")
        }
    };
    let masked = get(user("bob")).await;
    assert!(masked.contact_masked);
    assert_eq!(masked.phone, "138****5678");
    assert_eq!(masked.email, "j***@example.com");
    let listed = app
        .leads()
        .list_leads(user("bob").req(proto::ListLeadsRequest {
            pool_id: pool.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("list")
        .into_inner()
        .leads;
    assert_eq!(
        listed,
        std::slice::from_ref(&masked),
        "lists mask the same way"
    );

    let managed = get(user("mia")).await;
    assert!(!managed.contact_masked);
    assert_eq!(managed.phone, "+86 138-1234-5678");

    let owned = try_claim(&app, &user("alice"), &lead.id)
        .await
        .expect("claim");
    assert!(!owned.contact_masked, "the owner sees contacts");
    assert_eq!(get(user("alice")).await.email, "jane@example.com");
    assert!(get(user("bob")).await.contact_masked);
    // Once released, the ex-owner is a plain member again.
    let released = release(&app, &user("alice"), &lead.id, "NO_BUDGET")
        .await
        .expect("release");
    assert!(released.contact_masked);
    assert_eq!(released.phone, "138****5678");
}

#[tokio::test]
async fn release_reason_must_be_one_of_the_pools_codes() {
    let app = TestApp::spawn().await;
    let pool = pool_with(
        &app,
        "Rules",
        proto::CreatePoolRequest {
            release_reasons: vec!["NO_BUDGET".into(), "WRONG_CONTACT".into()],
            ..Default::default()
        },
    )
    .await;
    let ids = leads(&app, &pool.id, 1).await;
    try_claim(&app, &user("alice"), &ids[0])
        .await
        .expect("claim");
    let before = app.fingerprint().await;
    let md = assert_error(
        release(&app, &user("alice"), &ids[0], "BORED").await,
        Code::InvalidArgument,
        "UNKNOWN_RELEASE_REASON",
    );
    assert_eq!(md["reason"], "BORED");
    assert_eq!(md["allowed"], "NO_BUDGET, WRONG_CONTACT");
    assert_eq!(app.fingerprint().await, before);
    release(&app, &user("alice"), &ids[0], "WRONG_CONTACT")
        .await
        .expect("known reason");
}

#[tokio::test]
async fn deadlines_are_set_on_acquisition_with_grade_overrides() {
    let app = TestApp::spawn().await;
    let pool = pool_with(
        &app,
        "Rules",
        proto::CreatePoolRequest {
            follow_up_timeout: secs(3 * 86_400),
            close_timeout: secs(14 * 86_400),
            grade_overrides: [(
                "A".to_owned(),
                proto::GradeDeadlines {
                    follow_up_timeout: secs(30 * 86_400),
                    close_timeout: None,
                },
            )]
            .into(),
            ..Default::default()
        },
    )
    .await;
    let plain = fixtures::lead(&app, &pool.id, "B lead").await;
    let mut a_fields = fixtures::new_lead("A lead");
    a_fields.grade = "A".into();
    a_fields.email = "a@example.com".into();
    let graded = app
        .leads()
        .create_lead(user("mia").req(proto::CreateLeadRequest {
            pool_id: pool.id.clone(),
            lead: Some(a_fields),
            owner_id: "bob".into(),
            ..Default::default()
        }))
        .await
        .expect("create owned")
        .into_inner()
        .lead
        .expect("lead");
    let now = app.clock_now().timestamp();
    assert_eq!(
        graded.follow_up_deadline.map(|t| t.seconds),
        Some(now + 30 * 86_400)
    );
    assert_eq!(graded.close_deadline, None, "grade A has no close deadline");

    app.clock.advance(Duration::hours(1));
    let claimed = try_claim(&app, &user("alice"), &plain.id)
        .await
        .expect("claim");
    let now = app.clock_now().timestamp();
    assert_eq!(
        claimed.follow_up_deadline.map(|t| t.seconds),
        Some(now + 3 * 86_400)
    );
    assert_eq!(
        claimed.close_deadline.map(|t| t.seconds),
        Some(now + 14 * 86_400)
    );
    let released = release(&app, &user("alice"), &plain.id, "NO_BUDGET")
        .await
        .expect("release");
    assert_eq!(released.follow_up_deadline, None);
    assert_eq!(released.close_deadline, None);
}

/// A pool with the usual members whose released and recycled leads go to a second pool.
async fn pool_recycling_elsewhere(app: &TestApp) -> (proto::Pool, proto::Pool) {
    let recycled = fixtures::pool(app, "Recycled", None).await;
    let rules = proto::CreatePoolRequest {
        recycle_to_pool_id: recycled.id.clone(),
        ..Default::default()
    };
    (pool_with(app, "Rules", rules).await, recycled)
}

#[tokio::test]
async fn released_leads_go_to_the_recycle_pool() {
    let app = TestApp::spawn().await;
    let (pool, recycled) = pool_recycling_elsewhere(&app).await;
    let ids = leads(&app, &pool.id, 1).await;
    try_claim(&app, &user("alice"), &ids[0])
        .await
        .expect("claim");
    let released = app
        .leads()
        .release_lead(user("alice").req(proto::ReleaseLeadRequest {
            lead_id: ids[0].clone(),
            reason: "NO_BUDGET".into(),
            ..Default::default()
        }))
        .await
        .expect("release")
        .into_inner()
        .lead
        .expect("lead");
    assert_eq!(released.pool_id, recycled.id);
    assert_eq!(released.state(), proto::LeadState::InPool);
    let held: i32 = sqlx::query_scalar("SELECT held_count FROM members WHERE user_id = 'alice'")
        .fetch_one(&app.db)
        .await
        .expect("held");
    assert_eq!(held, 0, "the held count of the pool it left drops");
}

async fn release_to(
    app: &TestApp,
    who: &Caller,
    lead_id: &str,
    to_pool_id: &str,
) -> Result<proto::Lead, tonic::Status> {
    app.leads()
        .release_lead(who.req(proto::ReleaseLeadRequest {
            lead_id: lead_id.into(),
            reason: "WRONG_REGION".into(),
            to_pool_id: to_pool_id.into(),
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

#[tokio::test]
async fn a_release_may_name_a_pool_its_owner_may_use() {
    let app = TestApp::spawn().await;
    let (pool, _recycled) = pool_recycling_elsewhere(&app).await;
    let north = fixtures::pool(&app, "North", None).await;
    fixtures::member(&app, &north.id, "alice", proto::MemberRole::Member).await;
    let south = fixtures::pool(&app, "South", None).await;
    let west = fixtures::pool(&app, "West", None).await;
    fixtures::member(&app, &west.id, "alice", proto::MemberRole::Member).await;
    app.pools()
        .archive_pool(admin().req(proto::ArchivePoolRequest {
            pool_id: west.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("archive");
    let ids = leads(&app, &pool.id, 2).await;
    for id in &ids {
        try_claim(&app, &user("alice"), id).await.expect("claim");
    }
    let before = app.fingerprint().await;

    let stranger = release_to(&app, &user("alice"), &ids[0], &south.id).await;
    let md = assert_error(stranger, Code::PermissionDenied, "NOT_POOL_MEMBER");
    assert_eq!(md["pool_id"], south.id);
    let unknown = uuid::Uuid::now_v7().to_string();
    let md = assert_error(
        release_to(&app, &user("alice"), &ids[0], &unknown).await,
        Code::NotFound,
        "POOL_NOT_FOUND",
    );
    assert_eq!(md["pool_id"], unknown);
    assert_error(
        release_to(&app, &user("alice"), &ids[0], &west.id).await,
        Code::FailedPrecondition,
        "POOL_ARCHIVED",
    );
    let malformed = release_to(&app, &user("alice"), &ids[0], "north").await;
    assert_eq!(crate::harness::bad_fields(malformed), ["to_pool_id"]);
    assert_eq!(
        app.fingerprint().await,
        before,
        "refused releases change nothing"
    );

    let released = release_to(&app, &user("alice"), &ids[0], &north.id)
        .await
        .expect("release to a pool alice belongs to");
    assert_eq!(
        released.pool_id, north.id,
        "the named pool, not the recycle pool"
    );
    assert_eq!(released.state(), proto::LeadState::InPool);
    let (from, to): (String, String) = sqlx::query_as(
        "SELECT pool_id::text, to_pool_id::text FROM lead_events
         WHERE lead_id = $1::uuid AND kind = 'RELEASED'",
    )
    .bind(&ids[0])
    .fetch_one(&app.db)
    .await
    .expect("one RELEASED event");
    assert_eq!((from, to), (pool.id.clone(), north.id.clone()));

    // A manager releasing alice's lead may name a pool alice may use, whatever their own pools.
    let by_manager = release_to(&app, &user("mia"), &ids[1], &north.id)
        .await
        .expect("manager releases into the owner's pool");
    assert_eq!(by_manager.pool_id, north.id);
    fixtures::assert_consistent(&app).await;
}
