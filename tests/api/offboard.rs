//! OffboardMember in each mode, across pools, with locked leads and a colleague at cap.

use leadpool::proto;
use leadpool::proto::DistributionStrategy as S;
use leadpool::proto::OffboardMode as M;

use crate::absences::pause;
use crate::caller::Services;
use crate::distribution_fixtures::{self as df, join, leads, pool_with, rep, rule};
use crate::fixtures;
use crate::harness::{TestApp, assert_error, bad_fields};

/// Two pools; in each, alice owns `owned` leads (the first of them locked), bob and carl are
/// colleagues, mia manages the first pool only.
struct Office {
    east: proto::Pool,
    west: proto::Pool,
    locked: Vec<String>,
}

async fn office(app: &TestApp, cap: Option<i32>, owned: usize) -> Office {
    let east = pool_with(app, "East", cap, rule(S::RoundRobin)).await;
    let west = pool_with(app, "West", cap, rule(S::RoundRobin)).await;
    let mut locked = Vec::new();
    for pool in [&east, &west] {
        for who in ["alice", "bob", "carl"] {
            join(app, &pool.id, rep(who)).await;
        }
        for (i, id) in leads(app, &pool.id, owned, "east").await.iter().enumerate() {
            app.as_member("alice").claim(id).await;
            if i == 0 {
                app.as_admin().lock(id).await;
                locked.push(id.clone());
            }
        }
    }
    join(
        app,
        &east.id,
        df::Rep {
            role: proto::MemberRole::Manager,
            ..rep("mia")
        },
    )
    .await;
    Office { east, west, locked }
}

async fn active_memberships(app: &TestApp, who: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM members WHERE user_id = $1 AND active")
        .bind(who)
        .fetch_one(&app.db)
        .await
        .expect("members")
}

async fn offboarded_events(app: &TestApp) -> Vec<(Option<String>, Option<String>)> {
    sqlx::query_as(
        "SELECT reason, to_owner FROM lead_events WHERE kind = 'OFFBOARDED' ORDER BY seq",
    )
    .fetch_all(&app.db)
    .await
    .expect("events")
}

#[tokio::test]
async fn return_to_pool_releases_every_unlocked_lead_and_keeps_the_locked_ones_for_a_manager() {
    let app = TestApp::spawn().await;
    let office = office(&app, None, 3).await;
    let done = app.as_admin().offboard("alice", M::ReturnToPool, "").await;
    assert_eq!(done.memberships_deactivated, 2);
    assert_eq!(
        (done.returned_to_pool, done.transferred, done.redistributed),
        (4, 0, 0)
    );
    let mut kept = done.kept_locked_lead_ids.clone();
    kept.sort();
    let mut locked = office.locked.clone();
    locked.sort();
    assert_eq!(kept, locked);
    assert_eq!(done.moves.len(), 2);
    assert!(
        done.moves
            .iter()
            .all(|m| m.to_user_id.is_empty() && m.lead_count == 2)
    );
    assert_eq!(active_memberships(&app, "alice").await, 0);
    assert_eq!(df::held(&app).await, [("alice".into(), 2)].into());
    let events = offboarded_events(&app).await;
    assert_eq!(events.len(), 4);
    assert!(
        events
            .iter()
            .all(|(reason, to)| reason.as_deref() == Some("OFFBOARDING") && to.is_none())
    );
    // Offboarded again: nothing more moves, the locked leads are still reported.
    let again = app.as_admin().offboard("alice", M::ReturnToPool, "").await;
    assert_eq!(
        (again.memberships_deactivated, again.returned_to_pool),
        (0, 0)
    );
    assert_eq!(again.kept_locked_lead_ids.len(), 2);
    // A manager hands the kept leads over by offboarding her again to a colleague.
    let handed = app.as_admin().offboard("alice", M::TransferTo, "bob").await;
    assert_eq!((handed.transferred, handed.memberships_deactivated), (2, 0));
    assert!(handed.kept_locked_lead_ids.is_empty());
    assert_eq!(df::held(&app).await.get("alice"), None);
    for pool in [&office.east, &office.west] {
        assert_eq!(fixtures::held_count(&app, &pool.id, "alice").await, 0);
    }
    let last = app.as_admin().offboard("alice", M::TransferTo, "bob").await;
    assert_eq!(last.transferred, 0);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn transfer_to_hands_every_lead_locked_ones_too_to_the_colleague() {
    let app = TestApp::spawn().await;
    let office = office(&app, None, 3).await;
    let done = app.as_admin().offboard("alice", M::TransferTo, "bob").await;
    assert_eq!((done.transferred, done.returned_to_pool), (6, 0));
    assert!(done.kept_locked_lead_ids.is_empty());
    assert_eq!(df::held(&app).await, [("bob".into(), 6)].into());
    let locked = df::lead(&app, &office.locked[0]).await;
    assert_eq!((locked.owner_id.as_str(), locked.locked), ("bob", true));
    assert!(
        offboarded_events(&app)
            .await
            .iter()
            .all(|(_, to)| to.as_deref() == Some("bob"))
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn transfer_to_a_colleague_without_room_fails_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let office = office(&app, Some(3), 3).await;
    for id in leads(&app, &office.east.id, 1, "east").await {
        app.as_member("bob").claim(&id).await;
    }
    let md = app
        .assert_refused(
            app.as_admin().try_offboard("alice", M::TransferTo, "bob"),
            "HELD_LIMIT_REACHED",
        )
        .await;
    assert_eq!((md["user_id"].as_str(), md["limit"].as_str()), ("bob", "3"));
    app.assert_refused(
        app.as_admin().try_offboard("alice", M::TransferTo, "mia"),
        "MEMBER_NOT_FOUND",
    )
    .await;
    assert_eq!(active_memberships(&app, "alice").await, 2);
}

#[tokio::test]
async fn transfer_to_an_away_colleague_needs_an_override_and_changes_nothing_without_it() {
    let app = TestApp::spawn().await;
    office(&app, None, 2).await;
    let t0 = app.clock_now();
    let back = t0 + chrono::Duration::days(3);
    app.as_member("bob").set_away(pause("", t0, back)).await;
    let md = app
        .assert_refused(
            app.as_admin().try_offboard("alice", M::TransferTo, "bob"),
            "MEMBER_AWAY",
        )
        .await;
    assert_eq!(md["user_id"], "bob");
    assert_eq!(
        md["away_until"],
        back.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
    assert_eq!(active_memberships(&app, "alice").await, 2);

    let admin = app.as_admin();
    let overridden = |mode: M, to_user_id: &str| {
        let request = admin.req(proto::OffboardMemberRequest {
            user_id: "alice".into(),
            mode: mode.into(),
            to_user_id: to_user_id.into(),
            override_away: true,
            ..Default::default()
        });
        let mut client = admin.assignments();
        async move { client.offboard_member(request).await }
    };
    let fields = app.invalid_fields(overridden(M::ReturnToPool, "")).await;
    assert_eq!(fields, ["override_away"], "only a handover may override");
    let done = overridden(M::TransferTo, "bob")
        .await
        .expect("a handover to an away colleague, overridden")
        .into_inner();
    assert_eq!((done.transferred, done.memberships_deactivated), (4, 2));
    assert_eq!(df::held(&app).await, [("bob".into(), 4)].into());
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn redistribute_spreads_each_pools_leads_skips_a_colleague_at_cap_and_returns_the_rest() {
    let app = TestApp::spawn().await;
    let office = office(&app, Some(4), 4).await;
    // In east, bob is full: east's leads go round carl and mia (a manager holds leads too).
    let filler = leads(&app, &office.east.id, 4, "east").await;
    for id in &filler {
        app.as_member("bob").claim(id).await;
    }
    let done = app
        .as_member("root")
        .try_offboard("alice", M::Redistribute, "")
        .await;
    assert_error(done, "MANAGER_REQUIRED");
    let done = app.as_admin().offboard("alice", M::Redistribute, "").await;
    // 3 unlocked per pool: east → carl, mia, carl; west → bob, carl, bob.
    assert_eq!((done.redistributed, done.returned_to_pool), (6, 0));
    assert_eq!(done.kept_locked_lead_ids.len(), 2);
    let east_moves: Vec<_> = done
        .moves
        .iter()
        .filter(|m| m.pool_id == office.east.id)
        .map(|m| (m.to_user_id.as_str(), m.lead_count))
        .collect();
    assert_eq!(east_moves, [("carl", 2), ("mia", 1)]);
    assert_eq!(
        df::held(&app).await,
        [
            ("alice".into(), 2),
            ("bob".into(), 6),
            ("carl".into(), 3),
            ("mia".into(), 1)
        ]
        .into()
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn redistribute_returns_to_the_pool_what_nobody_can_take() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Tiny", Some(2), rule(S::RoundRobin)).await;
    for who in ["alice", "bob"] {
        join(&app, &pool.id, rep(who)).await;
    }
    for id in leads(&app, &pool.id, 2, "east").await {
        app.as_member("alice").claim(&id).await;
    }
    for id in leads(&app, &pool.id, 1, "east").await {
        app.as_member("bob").claim(&id).await;
    }
    let done = app.as_admin().offboard("alice", M::Redistribute, "").await;
    assert_eq!((done.redistributed, done.returned_to_pool), (1, 1));
    assert_eq!(df::held(&app).await, [("bob".into(), 2)].into());
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn offboarding_needs_an_admin_or_a_manager_of_every_pool_and_valid_input() {
    let app = TestApp::spawn().await;
    office(&app, None, 1).await;
    let before = app.fingerprint().await;
    // mia manages east but not west.
    assert_error(
        app.as_member("mia")
            .try_offboard("alice", M::ReturnToPool, "")
            .await,
        "MANAGER_REQUIRED",
    );
    assert_error(
        app.as_member("bob")
            .try_offboard("alice", M::ReturnToPool, "")
            .await,
        "MANAGER_REQUIRED",
    );
    let unknown = app
        .as_admin()
        .try_offboard("nobody", M::ReturnToPool, "")
        .await;
    let md = assert_error(unknown, "MEMBER_NOT_FOUND");
    assert_eq!(md["user_id"], "nobody");
    let no_mode = app
        .as_admin()
        .try_offboard("alice", M::Unspecified, "")
        .await;
    assert_eq!(bad_fields(no_mode), ["mode"]);
    let to_self = app
        .as_admin()
        .try_offboard("alice", M::TransferTo, "alice")
        .await;
    assert_eq!(bad_fields(to_self), ["to_user_id"]);
    let stray = app
        .as_admin()
        .try_offboard("alice", M::ReturnToPool, "bob")
        .await;
    assert_eq!(bad_fields(stray), ["to_user_id"]);
    assert_eq!(app.fingerprint().await, before);
}

/// A release of one of the departing user's leads locks the lead, then the owner's member row
/// (its held count). Offboarding takes the user's leads before their member rows, so the two meet
/// on the lead, one after the other. It used to deactivate the memberships first and then wait
/// for the lead while holding the member row the release wanted next: a deadlock, which
/// PostgreSQL broke a second later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_waits_for_a_release_of_the_users_lead_without_a_deadlock() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    app.as_member("bob").claim(&lead.id).await;
    // The release's first step, as its statement takes it: the lead's row.
    let mut release = app
        .holding(
            "SELECT 1 FROM leads WHERE id = $1::uuid FOR UPDATE",
            &lead.id,
        )
        .await;
    let offboarding = tokio::spawn({
        let admin = app.as_admin();
        async move { admin.offboard("bob", M::ReturnToPool, "").await }
    });
    app.until_a_statement_waits_on_a_lock().await;
    // Its second: the owner's held count, a row the offboarding must not be holding.
    sqlx::query(
        "UPDATE members SET updated_at = now() WHERE pool_id = $1::uuid AND user_id = 'bob'",
    )
    .bind(&team.pool.id)
    .execute(&mut *release)
    .await
    .expect("the owner's member row");
    release.commit().await.expect("commit");
    let report = offboarding.await.expect("task");
    assert_eq!(
        (report.memberships_deactivated, report.returned_to_pool),
        (1, 1)
    );
    assert_eq!(app.conflict_retries().await, 0);
    assert_eq!(active_memberships(&app, "bob").await, 0);
    fixtures::assert_consistent(&app).await;
}
