//! UpdatePool, ArchivePool, UpdateMember, RemoveMember, GetMemberStats.

use chrono::Duration;
use leadpool::proto;
use prost_types::Duration as PbDuration;

use crate::fixtures::{self};
use crate::harness::{assert_error, bad_fields};

fn days(n: i64) -> Option<PbDuration> {
    Some(PbDuration {
        seconds: n * 86_400,
        nanos: 0,
    })
}

#[tokio::test]
async fn update_pool_changes_only_the_masked_fields() {
    let (app, team) = fixtures::app_with_team(Some(10)).await;
    let patch = proto::Pool {
        id: team.pool.id.clone(),
        daily_claim_limit: Some(3),
        mask_contacts: true,
        // Not in the mask: ignored, even though an empty name would be invalid.
        name: String::new(),
        ..Default::default()
    };
    let updated = app
        .as_admin()
        .update_pool(patch, &["daily_claim_limit", "mask_contacts"])
        .await
        .pool
        .expect("pool");
    assert_eq!(updated.daily_claim_limit, Some(3));
    assert!(updated.mask_contacts);
    assert_eq!(updated.name, team.pool.name);
    assert_eq!(updated.max_held_per_member, Some(10));
    assert_eq!(updated.timezone, "Asia/Shanghai");

    let cleared = app
        .as_admin()
        .update_pool(
            proto::Pool {
                id: team.pool.id.clone(),
                ..Default::default()
            },
            &["daily_claim_limit"],
        )
        .await
        .pool
        .expect("pool");
    assert_eq!(cleared.daily_claim_limit, None, "unset means no limit");
}

#[tokio::test]
async fn update_pool_refuses_bad_masks_values_and_callers() {
    let (app, team) = fixtures::app_with_team(None).await;
    fixtures::pool(&app, "Taken", None).await;
    let before = app.fingerprint().await;
    let id_only = proto::Pool {
        id: team.pool.id.clone(),
        ..Default::default()
    };
    let empty = app.as_admin().try_update_pool(id_only.clone(), &[]).await;
    assert_eq!(bad_fields(empty), ["update_mask"]);
    let unknown = app
        .as_admin()
        .try_update_pool(id_only.clone(), &["owner"])
        .await;
    assert_eq!(bad_fields(unknown), ["update_mask"]);
    let negative = proto::Pool {
        daily_claim_limit: Some(-1),
        timezone: "Nowhere/Land".into(),
        ..id_only.clone()
    };
    let bad = app
        .as_admin()
        .try_update_pool(negative, &["daily_claim_limit", "timezone"])
        .await;
    assert_eq!(bad_fields(bad), ["pool.timezone", "pool.daily_claim_limit"]);
    // A bad item of a list is named by its index; a list outside the mask is not checked.
    let bad_items = proto::Pool {
        release_reasons: vec!["NO_BUDGET".into(), "原".repeat(129)],
        pull_order: vec![String::new()],
        exempt_grades: vec!["A\0".into()],
        ..id_only.clone()
    };
    let bad = app
        .as_admin()
        .try_update_pool(bad_items, &["release_reasons", "pull_order"])
        .await;
    assert_eq!(
        bad_fields(bad),
        ["pool.release_reasons[1]", "pool.pull_order[0]"]
    );
    let taken = proto::Pool {
        name: "TAKEN".into(),
        ..id_only.clone()
    };
    assert_error(
        app.as_admin().try_update_pool(taken, &["name"]).await,
        "POOL_NAME_TAKEN",
    );
    assert_error(
        app.as_member("mia")
            .try_update_pool(id_only.clone(), &["mask_contacts"])
            .await,
        "ADMIN_REQUIRED",
    );
    let missing = proto::Pool {
        id: uuid::Uuid::now_v7().to_string(),
        ..Default::default()
    };
    assert_error(
        app.as_admin()
            .try_update_pool(missing, &["mask_contacts"])
            .await,
        "POOL_NOT_FOUND",
    );
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn reschedule_owned_recomputes_deadlines_with_one_event_each() {
    let (app, team) = fixtures::app_with_team(None).await;
    let rules = proto::Pool {
        id: team.pool.id.clone(),
        follow_up_timeout: days(3),
        ..Default::default()
    };
    app.as_admin()
        .update_pool(rules, &["follow_up_timeout"])
        .await;
    let lead = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let claimed = app.as_member("alice").claim(&lead.id).await;
    let acquired = claimed.acquired_at.expect("acquired").seconds;
    assert_eq!(
        fixtures::seconds(claimed.follow_up_deadline),
        Some(acquired + 3 * 86_400)
    );

    let longer = proto::Pool {
        id: team.pool.id.clone(),
        follow_up_timeout: days(10),
        close_timeout: days(20),
        ..Default::default()
    };
    let kept = app
        .as_admin()
        .update_pool(longer.clone(), &["follow_up_timeout"])
        .await;
    assert_eq!(kept.rescheduled_leads, 0);
    let alice = app.as_member("alice");
    assert_eq!(
        fixtures::seconds(alice.get_lead(&lead.id).await.follow_up_deadline),
        Some(acquired + 3 * 86_400),
        "future acquisitions only"
    );

    let rescheduled = app
        .as_admin()
        .reschedule(longer, &["follow_up_timeout", "close_timeout"])
        .await;
    assert_eq!(rescheduled.rescheduled_leads, 1);
    let now = alice.get_lead(&lead.id).await;
    assert_eq!(
        fixtures::seconds(now.follow_up_deadline),
        Some(acquired + 10 * 86_400)
    );
    assert_eq!(
        fixtures::seconds(now.close_deadline),
        Some(acquired + 20 * 86_400)
    );
    assert_eq!(
        fixtures::event_kinds(&app, &lead.id).await,
        ["CREATED", "CLAIMED", "UPDATED"]
    );
}

#[tokio::test]
async fn archived_pools_refuse_claims_and_new_leads() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    assert_error(
        app.as_member("mia").try_archive_pool(&team.pool.id).await,
        "ADMIN_REQUIRED",
    );
    let archived = app.as_admin().archive_pool(&team.pool.id).await;
    assert!(archived.archived);
    let again = app.as_admin().archive_pool(&team.pool.id).await;
    assert_eq!(again, archived, "archiving twice changes nothing");

    app.assert_refused(app.as_member("alice").try_claim(&lead.id), "POOL_ARCHIVED")
        .await;
    app.assert_refused(
        app.as_service()
            .try_create_in(&team.pool.id, fixtures::new_lead("Late")),
        "POOL_ARCHIVED",
    )
    .await;
}

#[tokio::test]
async fn managers_update_memberships_field_by_field() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    let alice = proto::Member {
        pool_id: team.pool.id.clone(),
        user_id: "alice".into(),
        ..Default::default()
    };
    let on_leave = app
        .as_member("mia")
        .update_member(alice.clone(), &["active"])
        .await;
    assert!(!on_leave.active);
    assert_eq!(on_leave.weight, 1, "unmasked fields keep their values");
    assert_error(
        app.as_member("alice").try_claim(&lead.id).await,
        "MEMBER_INACTIVE",
    );
    let back = proto::Member {
        active: true,
        weight: 7,
        max_held: Some(2),
        regions: vec!["east".into()],
        ..alice.clone()
    };
    let back = app
        .as_admin()
        .update_member(back, &["active", "weight", "max_held", "regions"])
        .await;
    assert_eq!(
        (
            back.active,
            back.weight,
            back.max_held,
            back.regions.clone()
        ),
        (true, 7, Some(2), vec!["east".to_owned()])
    );
    app.as_member("alice").claim(&lead.id).await;

    let promote = proto::Member {
        role: proto::MemberRole::Manager.into(),
        ..alice.clone()
    };
    let promoted = app.as_member("mia").update_member(promote, &["role"]).await;
    assert_eq!(promoted.role(), proto::MemberRole::Manager);
}

#[tokio::test]
async fn update_member_refuses_bad_input_and_plain_members() {
    let (app, team) = fixtures::app_with_team(None).await;
    let before = app.fingerprint().await;
    let bob = proto::Member {
        pool_id: team.pool.id.clone(),
        user_id: "bob".into(),
        weight: 5000,
        ..Default::default()
    };
    assert_eq!(
        bad_fields(
            app.as_member("mia")
                .try_update_member(bob.clone(), &["weight", "role"])
                .await
        ),
        ["member.role", "member.weight"]
    );
    let bad_regions = proto::Member {
        regions: vec!["华东".into(), "区".repeat(129)],
        grades: vec!["\u{1b}".into()],
        ..bob.clone()
    };
    assert_eq!(
        bad_fields(
            app.as_member("mia")
                .try_update_member(bad_regions, &["regions", "grades"])
                .await
        ),
        ["member.regions[1]", "member.grades[0]"]
    );
    assert_eq!(
        bad_fields(
            app.as_member("mia")
                .try_update_member(bob.clone(), &["held_count"])
                .await
        ),
        ["update_mask"]
    );
    assert_error(
        app.as_member("alice")
            .try_update_member(bob.clone(), &["active"])
            .await,
        "MANAGER_REQUIRED",
    );
    let ghost = proto::Member {
        user_id: "ghost".into(),
        ..bob
    };
    assert_error(
        app.as_member("mia")
            .try_update_member(ghost, &["active"])
            .await,
        "MEMBER_NOT_FOUND",
    );
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn removing_a_member_returns_their_leads_to_the_pool() {
    let (app, team) = fixtures::app_with_team(None).await;
    let held = fixtures::held_leads(&app, &team.pool.id, "alice", 2).await;
    assert_error(
        app.as_member("bob")
            .try_remove_member(&team.pool.id, "alice")
            .await,
        "MANAGER_REQUIRED",
    );
    assert_eq!(
        app.as_member("mia")
            .remove_member(&team.pool.id, "alice")
            .await,
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
        app.as_member("alice").try_claim(&held[0]).await,
        "NOT_POOL_MEMBER",
    );
    app.as_member("bob").claim(&held[0]).await;
    assert_error(
        app.as_admin()
            .try_remove_member(&team.pool.id, "alice")
            .await,
        "MEMBER_NOT_FOUND",
    );
}

#[tokio::test]
async fn removing_a_member_with_a_locked_lead_changes_nothing() {
    let (app, team) = fixtures::app_with_team(None).await;
    let held = fixtures::held_leads(&app, &team.pool.id, "alice", 2).await;
    let l2 = &held[1];
    app.as_member("mia").lock(l2).await;
    let md = app
        .assert_refused(
            app.as_admin().try_remove_member(&team.pool.id, "alice"),
            "LEAD_LOCKED",
        )
        .await;
    assert_eq!(md["lead_id"], *l2);
}

#[tokio::test]
async fn member_stats_report_holdings_quota_and_deadlines() {
    let (app, team) = fixtures::app_with_team(Some(5)).await;
    let rules = proto::Pool {
        id: team.pool.id.clone(),
        daily_claim_limit: Some(3),
        follow_up_timeout: days(2),
        close_timeout: days(9),
        ..Default::default()
    };
    app.as_admin()
        .update_pool(
            rules,
            &["daily_claim_limit", "follow_up_timeout", "close_timeout"],
        )
        .await;
    let l1 = fixtures::lead(&app, &team.pool.id, "L1").await;
    let l2 = fixtures::lead(&app, &team.pool.id, "L2").await;
    app.as_member("alice").claim(&l1.id).await;
    app.clock.advance(Duration::hours(1));
    app.as_member("alice").claim(&l2.id).await;
    let stats = |who: &str, user_id: &'static str| {
        let who = app.as_member(who);
        let pool_id = team.pool.id.clone();
        async move { who.try_member_stats(&pool_id, user_id).await }
    };
    let mine = stats("alice", "me").await.expect("own stats");
    let start = crate::harness::start_time().timestamp();
    assert_eq!(mine.user_id, "alice");
    assert_eq!((mine.held_count, mine.cap), (2, Some(5)));
    assert_eq!(
        (mine.claims_today, mine.daily_claim_limit, mine.quota_left),
        (2, Some(3), Some(1))
    );
    // 10:00 UTC is 18:00 in Shanghai: the quota resets at 16:00 UTC.
    assert_eq!(fixtures::seconds(mine.resets_at), Some(start + 7 * 3_600));
    assert_eq!(
        fixtures::seconds(mine.next_follow_up_deadline),
        Some(start + 2 * 86_400)
    );
    assert_eq!(
        fixtures::seconds(mine.next_close_deadline),
        Some(start + 9 * 86_400)
    );

    assert_error(stats("bob", "alice").await, "MANAGER_REQUIRED");
    assert_eq!(stats("mia", "alice").await.expect("manager").held_count, 2);
    // The next local day starts a new quota.
    app.clock.set("2026-03-02T16:00:00Z".parse().unwrap());
    let tomorrow = stats("alice", "").await.expect("stats");
    assert_eq!((tomorrow.claims_today, tomorrow.quota_left), (0, Some(3)));
    assert_error(stats("mia", "ghost").await, "MEMBER_NOT_FOUND");
}
