//! Pool rules: daily quota, reclaim cooldown, masking, release reasons, deadlines, recycle pool.

use std::collections::BTreeMap;

use chrono::Duration;
use leadpool::proto;
use prost_types::Duration as PbDuration;
use tonic::Code;

use crate::fixtures::{self, pool_with};
use crate::harness::{TestApp, assert_error};

fn secs(seconds: i64) -> Option<PbDuration> {
    Some(PbDuration { seconds, nanos: 0 })
}

/// Grade A's own deadlines: 30 days to follow up, no close deadline.
fn a_leads_get_30_days() -> BTreeMap<String, proto::GradeDeadlines> {
    let a = proto::GradeDeadlines {
        follow_up_timeout: secs(30 * 86_400),
        ..Default::default()
    };
    [("A".to_owned(), a)].into()
}

/// A pool named "Rules" with the usual members, one rule set by `rule`, and `n` pool leads.
async fn rules_pool(
    app: &TestApp,
    rule: impl FnOnce(&mut proto::CreatePoolRequest),
    n: usize,
) -> (proto::Pool, Vec<String>) {
    let mut rules = proto::CreatePoolRequest::default();
    rule(&mut rules);
    let pool = pool_with(app, "Rules", rules).await;
    let ids = fixtures::leads(app, &pool.id, n).await;
    (pool, ids)
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
            grade_overrides: a_leads_get_30_days(),
            recycle_to_pool_id: other.id.clone(),
            ..Default::default()
        },
    )
    .await;
    let read = app.as_member("alice").get_pool(&pool.id).await;
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
        .as_admin()
        .try_create_pool(proto::CreatePoolRequest {
            name: "Bad target".into(),
            recycle_to_pool_id: unknown.clone(),
            ..Default::default()
        })
        .await;
    let md = assert_error(bad_target, "POOL_NOT_FOUND");
    assert_eq!(md["pool_id"], unknown);
}

#[tokio::test]
async fn daily_quota_stops_the_next_claim_and_resets_at_local_midnight() {
    let app = TestApp::spawn().await;
    let (_, ids) = rules_pool(&app, |r| r.daily_claim_limit = Some(2), 4).await;
    // 09:00 UTC is 17:00 in Shanghai.
    app.as_member("alice").claim(&ids[0]).await;
    app.as_member("alice").claim(&ids[1]).await;
    // Releasing does not give the claim back (no hoard-and-swap).
    app.as_member("alice").release(&ids[1], "NO_BUDGET").await;
    let md = app
        .assert_refused(
            app.as_member("alice").try_claim(&ids[2]),
            "DAILY_CLAIM_LIMIT_REACHED",
        )
        .await;
    assert_eq!(md["limit"], "2");
    assert_eq!(
        md["resets_at"], "2026-03-02T16:00:00Z",
        "midnight in Shanghai"
    );
    // The quota is per member: bob still has his.
    app.as_member("bob").claim(&ids[3]).await;

    // 23:59:59 in Shanghai: still the same day.
    app.clock.set("2026-03-02T15:59:59Z".parse().unwrap());
    assert_error(
        app.as_member("alice").try_claim(&ids[2]).await,
        "DAILY_CLAIM_LIMIT_REACHED",
    );
    // Midnight in Shanghai, still 16:00 of the same UTC day: a new quota.
    app.clock.set("2026-03-02T16:00:00Z".parse().unwrap());
    app.as_member("alice").claim(&ids[2]).await;
}

/// A pool that moves to another time zone keeps the claims of the day: at 20:00 UTC it is
/// already tomorrow in Shanghai and still today in London, and the claim made a moment ago falls
/// on today in both.
#[tokio::test]
async fn a_new_time_zone_keeps_the_claims_already_made_today() {
    let app = TestApp::spawn().await;
    let (mut pool, ids) = rules_pool(&app, |r| r.daily_claim_limit = Some(1), 2).await;
    app.clock.set("2026-03-02T20:00:00Z".parse().unwrap());
    app.as_member("alice").claim(&ids[0]).await;

    pool.timezone = "Europe/London".into();
    app.as_admin()
        .update_pool(pool.clone(), &["timezone"])
        .await;
    let stats = app.as_member("alice").member_stats(&pool.id, "me").await;
    assert_eq!((stats.claims_today, stats.quota_left), (1, Some(0)));
    let md = app
        .assert_refused(
            app.as_member("alice").try_claim(&ids[1]),
            "DAILY_CLAIM_LIMIT_REACHED",
        )
        .await;
    assert_eq!(
        md["resets_at"], "2026-03-03T00:00:00Z",
        "midnight in London"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_holds_under_32_parallel_claims() {
    let app = TestApp::spawn().await;
    let (_, ids) = rules_pool(&app, |r| r.daily_claim_limit = Some(10), 32).await;
    let results = fixtures::claim_at_once(&app.as_member("alice"), ids).await;
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
    let (_, ids) = rules_pool(&app, |r| r.reclaim_cooldown = secs(3_600), 1).await;
    app.as_member("alice").claim(&ids[0]).await;
    let released = app.as_member("alice").release(&ids[0], "NO_BUDGET").await;
    let until = app.clock_now() + Duration::hours(1);
    assert_eq!(
        fixtures::seconds(released.cooldown_until),
        Some(until.timestamp())
    );
    let md = app
        .assert_refused(
            app.as_member("alice").try_claim(&ids[0]),
            "RECLAIM_COOLDOWN",
        )
        .await;
    assert_eq!(md["cooldown_until"], "2026-03-02T10:00:00Z");

    app.clock.advance(Duration::minutes(59));
    assert_error(
        app.as_member("alice").try_claim(&ids[0]).await,
        "RECLAIM_COOLDOWN",
    );
    // Others are not bound by alice's cooldown.
    app.as_member("bob").claim(&ids[0]).await;
    app.as_member("bob").release(&ids[0], "NO_BUDGET").await;
    // bob's release makes bob the one cooling down; alice is free again.
    app.as_member("alice").claim(&ids[0]).await;
}

#[tokio::test]
async fn cooldown_ends_exactly_at_cooldown_until() {
    let app = TestApp::spawn().await;
    let (_, ids) = rules_pool(&app, |r| r.reclaim_cooldown = secs(600), 1).await;
    app.as_member("alice").claim(&ids[0]).await;
    app.as_member("alice").release(&ids[0], "NO_BUDGET").await;
    app.clock.advance(Duration::seconds(600));
    app.as_member("alice").claim(&ids[0]).await;
}

#[tokio::test]
async fn masked_pool_hides_contacts_from_plain_members_only() {
    let app = TestApp::spawn().await;
    let (pool, _) = rules_pool(&app, |r| r.mask_contacts = true, 0).await;
    let mut fields = fixtures::new_lead("Jane Doe");
    fields.phone = "+86 138-1234-5678".into();
    fields.email = "jane@example.com".into();
    let lead = app.as_service().create_in(&pool.id, fields).await;
    assert!(!lead.contact_masked, "the creating service sees contacts");

    let get = |who: &str| {
        let (who, lead_id) = (app.as_member(who), lead.id.clone());
        async move { who.get_lead(&lead_id).await }
    };
    let masked = get("bob").await;
    assert!(masked.contact_masked);
    assert_eq!(masked.phone, "138****5678");
    assert_eq!(masked.email, "j***@example.com");
    let listed = app
        .as_member("bob")
        .list_leads(fixtures::scoped(&pool.id))
        .await
        .leads;
    assert_eq!(
        listed,
        std::slice::from_ref(&masked),
        "lists mask the same way"
    );

    let managed = get("mia").await;
    assert!(!managed.contact_masked);
    assert_eq!(managed.phone, "+86 138-1234-5678");

    let owned = app.as_member("alice").claim(&lead.id).await;
    assert!(!owned.contact_masked, "the owner sees contacts");
    assert_eq!(get("alice").await.email, "jane@example.com");
    assert!(get("bob").await.contact_masked);
    // Once released, the ex-owner is a plain member again.
    let released = app.as_member("alice").release(&lead.id, "NO_BUDGET").await;
    assert!(released.contact_masked);
    assert_eq!(released.phone, "138****5678");
}

/// The manager who creates a lead reads it as every other read shows it to them: unmasked,
/// whether it goes to the pool or straight to a rep.
#[tokio::test]
async fn masked_pool_shows_contacts_to_the_manager_who_creates_a_lead() {
    let app = TestApp::spawn().await;
    let (pool, _) = rules_pool(&app, |r| r.mask_contacts = true, 0).await;
    let mia = app.as_member("mia");
    for (name, owner, phone) in [
        ("Jane Doe", "", "+86 139-8765-7100"),
        ("Zhao Min", "alice", "+86 139-8765-7101"),
    ] {
        let mut fields = fixtures::new_lead(name);
        fields.phone = phone.into();
        fields.email = format!("{}@example.cn", name.to_lowercase().replace(' ', "."));
        let created = mia.create_owned(&pool.id, fields.clone(), owner).await;
        assert!(!created.contact_masked, "owner {owner:?}");
        assert_eq!(
            (created.phone.as_str(), created.email.as_str()),
            (fields.phone.as_str(), fields.email.as_str())
        );
        assert_eq!(created, mia.get_lead(&created.id).await);
    }
}

#[tokio::test]
async fn release_reason_must_be_one_of_the_pools_codes() {
    let app = TestApp::spawn().await;
    let (_, ids) = rules_pool(
        &app,
        |r| r.release_reasons = vec!["NO_BUDGET".into(), "WRONG_CONTACT".into()],
        1,
    )
    .await;
    app.as_member("alice").claim(&ids[0]).await;
    let md = app
        .assert_refused(
            app.as_member("alice").try_release(&ids[0], "BORED"),
            "UNKNOWN_RELEASE_REASON",
        )
        .await;
    assert_eq!(md["reason"], "BORED");
    assert_eq!(md["allowed"], "NO_BUDGET, WRONG_CONTACT");
    app.as_member("alice")
        .release(&ids[0], "WRONG_CONTACT")
        .await;
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
            grade_overrides: a_leads_get_30_days(),
            ..Default::default()
        },
    )
    .await;
    let plain = fixtures::lead(&app, &pool.id, "B lead").await;
    let mut a_fields = fixtures::new_lead("A lead");
    a_fields.grade = "A".into();
    a_fields.email = "a@example.com".into();
    let graded = app
        .as_member("mia")
        .create_owned(&pool.id, a_fields, "bob")
        .await;
    let now = app.clock_now().timestamp();
    assert_eq!(
        fixtures::seconds(graded.follow_up_deadline),
        Some(now + 30 * 86_400)
    );
    assert_eq!(graded.close_deadline, None, "grade A has no close deadline");

    app.clock.advance(Duration::hours(1));
    let claimed = app.as_member("alice").claim(&plain.id).await;
    let now = app.clock_now().timestamp();
    assert_eq!(
        fixtures::seconds(claimed.follow_up_deadline),
        Some(now + 3 * 86_400)
    );
    assert_eq!(
        fixtures::seconds(claimed.close_deadline),
        Some(now + 14 * 86_400)
    );
    let released = app.as_member("alice").release(&plain.id, "NO_BUDGET").await;
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
    let ids = fixtures::leads(&app, &pool.id, 1).await;
    app.as_member("alice").claim(&ids[0]).await;
    let released = app.as_member("alice").release(&ids[0], "NO_BUDGET").await;
    assert_eq!(released.pool_id, recycled.id);
    assert_eq!(released.state(), proto::LeadState::InPool);
    let stats = app.as_member("alice").member_stats(&pool.id, "me").await;
    assert_eq!(
        stats.held_count, 0,
        "the held count of the pool it left drops"
    );
}

#[tokio::test]
async fn a_recycle_pool_archived_later_takes_no_leads() {
    let app = TestApp::spawn().await;
    let (pool, recycled) = pool_recycling_elsewhere(&app).await;
    app.as_admin().archive_pool(&recycled.id).await;
    let ids = fixtures::leads(&app, &pool.id, 1).await;
    app.as_member("alice").claim(&ids[0]).await;
    let released = app.as_member("alice").release(&ids[0], "NO_BUDGET").await;
    assert_eq!(
        (released.pool_id.as_str(), released.state()),
        (pool.id.as_str(), proto::LeadState::InPool),
        "back in its own pool, where it can be claimed again"
    );
    app.as_member("bob").claim(&ids[0]).await;
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn naming_an_archived_pool_as_the_recycle_pool_is_refused() {
    let app = TestApp::spawn().await;
    let (pool, recycled) = pool_recycling_elsewhere(&app).await;
    let closed = fixtures::pool(&app, "Closed", None).await;
    app.as_admin().archive_pool(&closed.id).await;
    let to_closed = proto::Pool {
        id: pool.id.clone(),
        recycle_to_pool_id: closed.id.clone(),
        ..Default::default()
    };
    let md = app
        .assert_refused(
            app.as_admin()
                .try_update_pool(to_closed, &["recycle_to_pool_id"]),
            "POOL_ARCHIVED",
        )
        .await;
    assert_eq!(md["pool_id"], closed.id);
    let create = proto::CreatePoolRequest {
        name: "Into the closed one".into(),
        recycle_to_pool_id: closed.id.clone(),
        ..Default::default()
    };
    let md = app
        .assert_refused(app.as_admin().try_create_pool(create), "POOL_ARCHIVED")
        .await;
    assert_eq!(md["pool_id"], closed.id);
    // A recycle pool archived after it was named does not block changing other rules.
    app.as_admin().archive_pool(&recycled.id).await;
    let quota = proto::Pool {
        id: pool.id.clone(),
        daily_claim_limit: Some(3),
        ..Default::default()
    };
    let updated = app
        .as_admin()
        .update_pool(quota, &["daily_claim_limit"])
        .await
        .pool
        .expect("the updated pool");
    assert_eq!(
        (updated.daily_claim_limit, updated.recycle_to_pool_id),
        (Some(3), recycled.id)
    );
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
    app.as_admin().archive_pool(&west.id).await;
    let ids = fixtures::leads(&app, &pool.id, 2).await;
    for id in &ids {
        app.as_member("alice").claim(id).await;
    }
    let before = app.fingerprint().await;

    let stranger = app
        .as_member("alice")
        .try_release_to(&ids[0], "WRONG_REGION", &south.id)
        .await;
    let md = assert_error(stranger, "NOT_POOL_MEMBER");
    assert_eq!(md["pool_id"], south.id);
    let unknown = uuid::Uuid::now_v7().to_string();
    let md = assert_error(
        app.as_member("alice")
            .try_release_to(&ids[0], "WRONG_REGION", &unknown)
            .await,
        "POOL_NOT_FOUND",
    );
    assert_eq!(md["pool_id"], unknown);
    assert_error(
        app.as_member("alice")
            .try_release_to(&ids[0], "WRONG_REGION", &west.id)
            .await,
        "POOL_ARCHIVED",
    );
    let malformed = app
        .as_member("alice")
        .try_release_to(&ids[0], "WRONG_REGION", "north")
        .await;
    assert_eq!(crate::harness::bad_fields(malformed), ["to_pool_id"]);
    assert_eq!(
        app.fingerprint().await,
        before,
        "refused releases change nothing"
    );

    let released = app
        .as_member("alice")
        .release_to(&ids[0], "WRONG_REGION", &north.id)
        .await;
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
    let by_manager = app
        .as_member("mia")
        .release_to(&ids[1], "WRONG_REGION", &north.id)
        .await;
    assert_eq!(by_manager.pool_id, north.id);
    fixtures::assert_consistent(&app).await;
}
