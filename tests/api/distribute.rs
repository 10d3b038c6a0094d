//! Distribute and PreviewDistribution through the API: each strategy, the pool's rule and a
//! call's own, caps, cooldowns, inactive members, and what a lead nobody can take reports.

use leadpool::proto;
use leadpool::proto::DistributionStrategy as S;

use crate::caller::Services;
use crate::distribution_fixtures::{
    self as df, all_leads, join, leads, pool_with, rep, rule, tally, undistributed,
};
use crate::fixtures::{self, user};
use crate::harness::{TestApp, assert_error};

#[tokio::test]
async fn round_robin_takes_turns_in_join_order_and_continues_after_the_last_recipient() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "RR", None, rule(S::RoundRobin)).await;
    for who in ["alice", "bob", "carl"] {
        join(&app, &pool.id, rep(who)).await;
    }
    leads(&app, &pool.id, 5, "east").await;
    let first = app
        .as_admin()
        .distribute(proto::DistributeRequest {
            limit: 2,
            ..all_leads(&pool.id)
        })
        .await;
    assert_eq!(df::recipients(&first), ["alice", "bob"]);
    assert_eq!(first.strategy(), S::RoundRobin);
    let rest = app.as_admin().distribute(all_leads(&pool.id)).await;
    assert_eq!(df::recipients(&rest), ["carl", "alice", "bob"]);
    assert!(rest.undistributed.is_empty());

    let lead = df::lead(&app, &rest.assignments[0].lead_id).await;
    assert_eq!(lead.owner_id, "carl");
    assert_eq!(lead.acquired_via(), proto::AcquisitionChannel::Distribute);
    assert_eq!(
        fixtures::event_kinds(&app, &lead.id).await,
        ["CREATED", "DISTRIBUTED"]
    );
    assert_eq!(df::count_events(&app, "DISTRIBUTED").await, 5);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn weighted_follows_nginxs_sequence_each_member_within_one_lead_of_its_share() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Weighted", None, rule(S::Weighted)).await;
    for (who, weight) in [("alice", 1), ("bob", 2), ("carl", 3)] {
        join(&app, &pool.id, df::Rep { weight, ..rep(who) }).await;
    }
    leads(&app, &pool.id, 30, "east").await;
    let plan = app.as_admin().distribute(all_leads(&pool.id)).await;
    // nginx's smooth weighted round-robin, current weights (alice, bob, carl), W = 6:
    // +w (1,2,3) carl → (1,2,-3); (2,4,0) bob → (2,-2,0); (3,0,3) alice, the earlier of the tie,
    // → (-3,0,3); (-2,2,6) carl → (-2,2,0); (-1,4,3) bob → (-1,-2,3); (0,0,6) carl → (0,0,0),
    // back to zero: the six repeat.
    let cycle = ["carl", "bob", "alice", "carl", "bob", "carl"];
    assert_eq!(df::recipients(&plan), cycle.repeat(5));
    let weights = [("alice", 1.0), ("bob", 2.0), ("carl", 3.0)];
    let mut got = std::collections::BTreeMap::<&str, f64>::new();
    for (n, who) in df::recipients(&plan).into_iter().enumerate() {
        *got.entry(who).or_default() += 1.0;
        for (member, weight) in weights {
            let share = (n + 1) as f64 * weight / 6.0;
            let has = got.get(member).copied().unwrap_or_default();
            assert!(
                (has - share).abs() <= 1.0,
                "after {} leads {member} has {has}, share {share}",
                n + 1
            );
        }
    }
    assert_eq!(
        tally(&plan),
        [("alice".into(), 5), ("bob".into(), 10), ("carl".into(), 15)].into()
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn least_loaded_fills_the_emptiest_member_first() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Least", Some(10), rule(S::LeastLoaded)).await;
    for who in ["alice", "bob", "carl"] {
        join(&app, &pool.id, rep(who)).await;
    }
    // alice already holds 3, bob 1, carl none.
    let held = leads(&app, &pool.id, 4, "east").await;
    for (lead, who) in held.iter().zip(["alice", "alice", "alice", "bob"]) {
        app.as_member(who).claim(lead).await;
    }
    leads(&app, &pool.id, 5, "east").await;
    let plan = app.as_admin().distribute(all_leads(&pool.id)).await;
    // carl is emptiest; then carl and bob tie at 1 and the turn after carl wraps to bob; and
    // so on until all three hold 3.
    assert_eq!(
        df::recipients(&plan),
        ["carl", "bob", "carl", "bob", "carl"]
    );
    assert_eq!(
        df::held(&app).await,
        [("alice".into(), 3), ("bob".into(), 3), ("carl".into(), 3)].into()
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn rule_match_gives_leads_to_matching_members_and_leaves_unmatched_ones_with_counts() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Regions", None, rule(S::RuleMatch)).await;
    for (who, region) in [("alice", "east"), ("bob", "west")] {
        join(
            &app,
            &pool.id,
            df::Rep {
                regions: vec![region.into()],
                ..rep(who)
            },
        )
        .await;
    }
    let east = leads(&app, &pool.id, 2, "east").await;
    let west = leads(&app, &pool.id, 1, "west").await;
    let north = leads(&app, &pool.id, 1, "north").await;
    let plan = app.as_admin().distribute(all_leads(&pool.id)).await;
    for a in &plan.assignments {
        let expected = if east.contains(&a.lead_id) {
            "alice"
        } else {
            assert!(west.contains(&a.lead_id));
            "bob"
        };
        assert_eq!(a.user_id, expected);
    }
    assert_eq!(plan.assignments.len(), 3);
    let stuck = &plan.undistributed[0];
    assert_eq!(stuck.lead_id, north[0]);
    assert_eq!(stuck.reason(), proto::UndistributedReason::NoEligibleMember);
    assert_eq!((stuck.members, stuck.not_matching), (2, 2));
    assert_eq!(
        df::lead(&app, &north[0]).await.state(),
        proto::LeadState::InPool
    );

    // The pool's rule may send unmatched leads to anyone, by its fallback.
    let update = proto::Pool {
        id: pool.id.clone(),
        distribution: Some(proto::DistributionRule {
            assign_unmatched: true,
            fallback: S::LeastLoaded.into(),
            ..rule(S::RuleMatch)
        }),
        ..Default::default()
    };
    app.as_admin().update_pool(update, &["distribution"]).await;
    let plan = app.as_admin().distribute(all_leads(&pool.id)).await;
    // alice holds 2, bob 1: least loaded takes the unmatched lead.
    assert_eq!(df::recipients(&plan), ["bob"]);
    assert_eq!(plan.fallback(), S::LeastLoaded);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn a_strategy_given_in_the_call_replaces_the_pools_for_that_call_only() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Override", None, rule(S::RoundRobin)).await;
    join(
        &app,
        &pool.id,
        df::Rep {
            weight: 3,
            ..rep("alice")
        },
    )
    .await;
    join(&app, &pool.id, rep("bob")).await;
    leads(&app, &pool.id, 4, "east").await;
    let plan = app
        .as_admin()
        .distribute(proto::DistributeRequest {
            strategy: S::Weighted.into(),
            ..all_leads(&pool.id)
        })
        .await;
    assert_eq!(plan.strategy(), S::Weighted);
    assert_eq!(
        tally(&plan),
        [("alice".into(), 3), ("bob".into(), 1)].into()
    );
    let pool_now = app.as_admin().get_pool(&pool.id).await;
    assert_eq!(
        pool_now.distribution.expect("rule").strategy(),
        S::RoundRobin
    );
}

#[tokio::test]
async fn preview_is_exactly_the_plan_distribute_then_applies_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Preview", Some(3), rule(S::Weighted)).await;
    for (who, weight) in [("alice", 5), ("bob", 2), ("carl", 1)] {
        join(&app, &pool.id, df::Rep { weight, ..rep(who) }).await;
    }
    leads(&app, &pool.id, 12, "east").await;
    let before = app.fingerprint().await;
    let preview = app.as_admin().preview_distribution(&pool.id).await;
    assert_eq!(app.fingerprint().await, before, "a preview changes nothing");
    let applied = app.as_admin().distribute(all_leads(&pool.id)).await;
    assert_eq!(applied, preview);
    // Caps of 3: nine leads go, three stay with the reason.
    assert_eq!(applied.assignments.len(), 9);
    assert!(
        applied
            .undistributed
            .iter()
            .all(|u| (u.members, u.at_cap) == (3, 3))
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn the_previous_owner_in_cooldown_and_inactive_members_receive_nothing() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Cooling", Some(5), rule(S::RoundRobin)).await;
    for who in ["alice", "bob", "carl"] {
        join(&app, &pool.id, rep(who)).await;
    }
    df::deactivate(&app, &pool.id, "carl").await;
    let lead = fixtures::lead(&app, &pool.id, "Returned").await;
    app.as_member("alice").claim(&lead.id).await;
    app.as_member("alice").release(&lead.id, "NO_BUDGET").await;
    let plan = app.as_admin().distribute(all_leads(&pool.id)).await;
    assert_eq!(
        df::recipients(&plan),
        ["bob"],
        "not alice (cooldown), not carl (inactive)"
    );

    // bob at his cap too: now nobody may take it, and the counts say why.
    let pool_cap = proto::Pool {
        id: pool.id.clone(),
        max_held_per_member: Some(0),
        ..Default::default()
    };
    app.as_admin()
        .update_pool(pool_cap, &["max_held_per_member"])
        .await;
    let fresh = fixtures::lead(&app, &pool.id, "Fresh").await;
    let plan = app.as_admin().distribute(all_leads(&pool.id)).await;
    assert!(plan.assignments.is_empty());
    assert_eq!(plan.undistributed[0].lead_id, fresh.id);
    assert_eq!(
        (plan.undistributed[0].members, plan.undistributed[0].at_cap),
        (2, 2)
    );
    fixtures::assert_consistent(&app).await;
}

#[tokio::test]
async fn named_leads_that_are_locked_or_owned_are_reported_not_available() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Named", None, rule(S::RoundRobin)).await;
    join(&app, &pool.id, rep("alice")).await;
    let ids = leads(&app, &pool.id, 3, "east").await;
    app.as_admin().lock(&ids[0]).await;
    app.as_member("alice").claim(&ids[1]).await;
    let plan = app
        .as_admin()
        .distribute(proto::DistributeRequest {
            filter: Some(proto::DistributionFilter {
                lead_ids: ids.clone(),
                ..Default::default()
            }),
            ..all_leads(&pool.id)
        })
        .await;
    assert_eq!(plan.assignments.len(), 1);
    assert_eq!(plan.assignments[0].lead_id, ids[2]);
    assert_eq!(
        undistributed(&plan),
        [
            (ids[0].as_str(), proto::UndistributedReason::NotAvailable),
            (ids[1].as_str(), proto::UndistributedReason::NotAvailable)
        ]
    );
}

#[tokio::test]
async fn filters_pick_which_pool_leads_are_distributed() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Filtered", None, rule(S::RoundRobin)).await;
    join(&app, &pool.id, rep("alice")).await;
    leads(&app, &pool.id, 2, "east").await;
    let west = leads(&app, &pool.id, 2, "west").await;
    let plan = app
        .as_admin()
        .distribute(proto::DistributeRequest {
            filter: Some(proto::DistributionFilter {
                region: "west".into(),
                ..Default::default()
            }),
            ..all_leads(&pool.id)
        })
        .await;
    let got: Vec<_> = plan.assignments.iter().map(|a| a.lead_id.clone()).collect();
    assert_eq!(got, west);
}

#[tokio::test]
async fn bad_distribution_requests_name_every_bad_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Bad", None, rule(S::RoundRobin)).await;
    join(&app, &pool.id, rep("alice")).await;
    leads(&app, &pool.id, 2, "east").await;
    assert_eq!(
        app.invalid_fields(app.as_admin().try_distribute(proto::DistributeRequest {
            limit: 1_001,
            strategy: 99,
            fallback: S::RuleMatch.into(),
            request_id: "nope".into(),
            ..all_leads(&pool.id)
        }))
        .await,
        ["limit", "strategy", "fallback", "request_id"]
    );
    assert_eq!(
        app.invalid_fields(app.as_admin().try_distribute(proto::DistributeRequest {
            limit: 5,
            filter: Some(proto::DistributionFilter {
                lead_ids: vec!["not-a-uuid".into()],
                ..Default::default()
            }),
            ..all_leads(&pool.id)
        }))
        .await,
        ["filter.lead_ids[0]", "limit"]
    );
    app.assert_refused(
        app.as_admin()
            .try_distribute(all_leads(&uuid::Uuid::now_v7().to_string())),
        "POOL_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn only_managers_and_admins_distribute_or_preview() {
    let (app, team) = fixtures::app_with_team(None).await;
    leads(&app, &team.pool.id, 2, "east").await;
    let before = app.fingerprint().await;
    let refused = app
        .as_member("alice")
        .try_distribute(all_leads(&team.pool.id))
        .await;
    assert_error(refused, "MANAGER_REQUIRED");
    let preview = app
        .assignments()
        .preview_distribution(user("alice").req(proto::PreviewDistributionRequest {
            pool_id: team.pool.id.clone(),
            ..Default::default()
        }))
        .await;
    assert_error(preview, "MANAGER_REQUIRED");
    let foreign = app.as_caller(crate::harness::Caller::admin("globex"));
    let other_tenant = foreign.try_distribute(all_leads(&team.pool.id)).await;
    assert_error(other_tenant, "POOL_NOT_FOUND");
    assert_eq!(app.fingerprint().await, before);
    let plan = app
        .as_member("mia")
        .distribute(all_leads(&team.pool.id))
        .await;
    assert_eq!(plan.assignments.len(), 2);
}

#[tokio::test]
async fn the_distribution_rule_is_stored_shown_and_validated_like_other_rules() {
    let app = TestApp::spawn().await;
    let rule = proto::DistributionRule {
        strategy: S::RuleMatch.into(),
        fallback: S::Weighted.into(),
        assign_unmatched: true,
        auto_distribute: true,
        auto_distribute_after: Some(prost_types::Duration {
            seconds: 600,
            nanos: 0,
        }),
    };
    let pool = pool_with(&app, "Rules", None, rule).await;
    assert_eq!(pool.distribution, Some(rule));
    let plain = fixtures::pool(&app, "Plain", None).await;
    let default = plain.distribution.expect("always shown");
    assert_eq!(
        (default.strategy(), default.auto_distribute),
        (S::RoundRobin, false)
    );
    assert_eq!(
        app.invalid_fields(app.as_admin().try_update_pool(
            proto::Pool {
                id: pool.id.clone(),
                distribution: Some(proto::DistributionRule {
                    strategy: 42,
                    fallback: S::RuleMatch.into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &["distribution"],
        ))
        .await,
        ["pool.distribution.strategy", "pool.distribution.fallback"]
    );
}

/// Issue 15: with one pool cursor, a junior matching the B leads put the cursor past the seniors
/// before every A lead, and every A lead went to the first senior. Each matching set now takes
/// turns on its own, across separate Distribute calls.
#[tokio::test]
async fn rule_match_sets_take_turns_however_their_leads_interleave() {
    let app = TestApp::spawn().await;
    let pool = pool_with(&app, "Grades", None, rule(S::RuleMatch)).await;
    for (who, region) in [("senior1", "east"), ("senior2", "east"), ("junior", "west")] {
        let member = df::Rep {
            regions: vec![region.into()],
            ..rep(who)
        };
        join(&app, &pool.id, member).await;
    }
    let mut order = Vec::new();
    for i in 0..8 {
        let region = if i % 2 == 0 { "east" } else { "west" };
        // One new pool lead at a time: each call distributes just that one.
        leads(&app, &pool.id, 1, region).await;
        let plan = app.as_admin().distribute(all_leads(&pool.id)).await;
        order.extend(df::recipients(&plan).into_iter().map(str::to_owned));
    }
    assert_eq!(
        order,
        [
            "senior1", "junior", "senior2", "junior", "senior1", "junior", "senior2", "junior"
        ]
    );
    fixtures::assert_consistent(&app).await;
}

/// Under RULE_MATCH with the WEIGHTED fallback each matching set keeps its own current weights,
/// as each keeps its own round-robin place: with one set of weights for the pool, a member in two
/// sets gained and lost weight in both, and the 华南 set below got li.na 3, maria.garcia 1,
/// wang.fang 0 of its four leads (audit distrib, bug 2). Each set now follows nginx's sequence
/// on its own, across separate Distribute calls, and each preview is the plan then applied.
#[tokio::test]
async fn rule_match_weighted_keeps_current_weights_per_matching_set() {
    let app = TestApp::spawn().await;
    let weighted = proto::DistributionRule {
        fallback: S::Weighted.into(),
        ..rule(S::RuleMatch)
    };
    let pool = pool_with(&app, "Regions", None, weighted).await;
    let members = [
        ("zhang.wei", 3, &["华东"][..]),
        ("li.na", 1, &[][..]),
        ("maria.garcia", 1, &["华南"][..]),
        ("wang.fang", 2, &["华东", "华南"][..]),
    ];
    for (who, weight, regions) in members {
        let member = df::Rep {
            weight,
            regions: regions.iter().map(|r| (*r).to_owned()).collect(),
            ..rep(who)
        };
        join(&app, &pool.id, member).await;
        // Join order is the order above, not the names' order.
        app.clock.advance(chrono::Duration::seconds(1));
    }
    let mut order = Vec::new();
    for region in [
        "华东", "华东", "华东", "华南", "华东", "华南", "华南", "华东", "华南",
    ] {
        leads(&app, &pool.id, 1, region).await;
        let preview = app.as_admin().preview_distribution(&pool.id).await;
        let plan = app.as_admin().distribute(all_leads(&pool.id)).await;
        assert_eq!(plan, preview);
        order.extend(df::recipients(&plan).into_iter().map(str::to_owned));
    }
    // 华东 {zhang.wei 3, li.na 1, wang.fang 2}, current weights after adding the weights:
    // (3,1,2) zhang.wei; (0,2,4) wang.fang; (3,3,0) zhang.wei, the earlier of the tie;
    // (0,4,2) li.na; (3,-1,4) wang.fang.
    // 华南 {li.na 1, maria.garcia 1, wang.fang 2}: (1,1,2) wang.fang; (2,2,0) li.na;
    // (-1,3,2) maria.garcia; (0,0,4) wang.fang.
    assert_eq!(
        order,
        [
            "zhang.wei",
            "wang.fang",
            "zhang.wei",
            "wang.fang",
            "li.na",
            "li.na",
            "maria.garcia",
            "wang.fang",
            "wang.fang"
        ]
    );
    fixtures::assert_consistent(&app).await;
}
