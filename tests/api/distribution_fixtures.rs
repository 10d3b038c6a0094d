//! Builders for the assignment and distribution tests: pools with a distribution rule, members
//! with weights, caps and attributes, many leads at once, and reading who owns what.

use std::collections::BTreeMap;

use leadpool::proto;

use crate::fixtures::{self};
use crate::harness::TestApp;

pub fn rule(strategy: proto::DistributionStrategy) -> proto::DistributionRule {
    proto::DistributionRule {
        strategy: strategy.into(),
        ..Default::default()
    }
}

pub async fn pool_with(
    app: &TestApp,
    name: &str,
    cap: Option<i32>,
    distribution: proto::DistributionRule,
) -> proto::Pool {
    app.as_admin()
        .create_pool(proto::CreatePoolRequest {
            name: name.into(),
            max_held_per_member: cap,
            reclaim_cooldown: Some(prost_types::Duration {
                seconds: 3_600,
                nanos: 0,
            }),
            distribution: Some(distribution),
            ..Default::default()
        })
        .await
}

/// A member as the tests want them; `rep(..)` then adjust fields.
#[derive(Debug, Clone, Default)]
pub struct Rep {
    pub user: String,
    pub weight: i32,
    pub max_held: Option<i32>,
    pub regions: Vec<String>,
    pub role: proto::MemberRole,
}

pub fn rep(user: &str) -> Rep {
    Rep {
        user: user.into(),
        ..Default::default()
    }
}

pub async fn join(app: &TestApp, pool_id: &str, rep: Rep) {
    app.as_admin()
        .add_member(proto::AddMemberRequest {
            pool_id: pool_id.into(),
            user_id: rep.user,
            role: rep.role.into(),
            weight: rep.weight,
            max_held: rep.max_held,
            regions: rep.regions,
            ..Default::default()
        })
        .await;
}

/// Puts a member on leave (inactive).
pub async fn deactivate(app: &TestApp, pool_id: &str, user_id: &str) {
    app.as_admin()
        .update_member(
            proto::Member {
                pool_id: pool_id.into(),
                user_id: user_id.into(),
                active: false,
                ..Default::default()
            },
            &["active"],
        )
        .await;
}

/// `n` pool leads created in order (so their ids are in creation order), with `region`.
pub async fn leads(app: &TestApp, pool_id: &str, n: usize, region: &str) -> Vec<String> {
    let rows: Vec<proto::NewLead> = (0..n)
        .map(|i| proto::NewLead {
            region: region.into(),
            ..fixtures::new_lead(&format!("Lead {i}"))
        })
        .collect();
    fixtures::import_all(app, pool_id, rows).await
}

pub fn all_leads(pool_id: &str) -> proto::DistributeRequest {
    proto::DistributeRequest {
        pool_id: pool_id.into(),
        ..Default::default()
    }
}

/// Who got how many leads in a plan.
pub fn tally(plan: &proto::DistributionPlan) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for a in &plan.assignments {
        *counts.entry(a.user_id.clone()).or_default() += 1;
    }
    counts
}

/// The plan's leads left undistributed, with why.
pub fn undistributed(plan: &proto::DistributionPlan) -> Vec<(&str, proto::UndistributedReason)> {
    plan.undistributed
        .iter()
        .map(|u| (u.lead_id.as_str(), u.reason()))
        .collect()
}

pub fn recipients(plan: &proto::DistributionPlan) -> Vec<&str> {
    plan.assignments
        .iter()
        .map(|a| a.user_id.as_str())
        .collect()
}

/// Owned leads per owner, straight from the table.
pub async fn held(app: &TestApp) -> BTreeMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "SELECT owner_id, count(*) FROM leads WHERE owner_id IS NOT NULL GROUP BY owner_id",
    )
    .fetch_all(&app.db)
    .await
    .expect("owners")
    .into_iter()
    .collect()
}

pub async fn count_events(app: &TestApp, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM lead_events WHERE kind = $1")
        .bind(kind)
        .fetch_one(&app.db)
        .await
        .expect("events")
}

pub async fn lead(app: &TestApp, lead_id: &str) -> proto::Lead {
    app.as_admin().get_lead(lead_id).await
}
