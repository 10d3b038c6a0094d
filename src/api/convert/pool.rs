//! Pools and their rules.

use super::{duration, raw_duration, timestamp};
use crate::domain::distribution::{Choice, DistributionDraft, DistributionRule, Strategy};
use crate::domain::pool::Pool;
use crate::proto;

pub fn pool(pool: Pool) -> proto::Pool {
    let rules = pool.rules;
    proto::Pool {
        id: pool.id.to_string(),
        name: pool.name,
        timezone: pool.timezone,
        max_held_per_member: rules.max_held_per_member,
        archived: pool.archived_at.is_some(),
        created_at: Some(timestamp(pool.created_at)),
        updated_at: Some(timestamp(pool.updated_at)),
        daily_claim_limit: rules.daily_claim_limit,
        reclaim_cooldown: duration(rules.reclaim_cooldown_seconds),
        mask_contacts: rules.mask_contacts,
        release_reasons: rules.release_reasons,
        exempt_grades: rules.exempt_grades,
        follow_up_timeout: duration(rules.follow_up_timeout_seconds),
        close_timeout: duration(rules.close_timeout_seconds),
        warn_before: duration(rules.warn_before_seconds),
        grade_overrides: rules
            .grade_overrides
            .into_iter()
            .map(|(grade, d)| {
                let deadlines = proto::GradeDeadlines {
                    follow_up_timeout: duration(d.follow_up_timeout_seconds),
                    close_timeout: duration(d.close_timeout_seconds),
                };
                (grade, deadlines)
            })
            .collect(),
        recycle_to_pool_id: rules
            .recycle_to_pool_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        distribution: Some(distribution_rule(rules.distribution)),
    }
}

fn distribution_rule(rule: DistributionRule) -> proto::DistributionRule {
    proto::DistributionRule {
        strategy: strategy(rule.method.strategy).into(),
        fallback: strategy(rule.method.fallback).into(),
        assign_unmatched: rule.method.assign_unmatched,
        auto_distribute: rule.auto_distribute,
        auto_distribute_after: duration(rule.auto_distribute_after_seconds),
    }
}

/// The `distribution` rule of a message, for validation; unset means the defaults.
pub fn distribution_draft(rule: Option<&proto::DistributionRule>) -> DistributionDraft {
    rule.map(|r| DistributionDraft {
        strategy: strategy_choice(r.strategy),
        fallback: strategy_choice(r.fallback),
        assign_unmatched: r.assign_unmatched,
        auto_distribute: r.auto_distribute,
        auto_distribute_after: raw_duration(r.auto_distribute_after.as_ref()),
    })
    .unwrap_or_default()
}

pub fn strategy(strategy: Strategy) -> proto::DistributionStrategy {
    match strategy {
        Strategy::RoundRobin => proto::DistributionStrategy::RoundRobin,
        Strategy::Weighted => proto::DistributionStrategy::Weighted,
        Strategy::LeastLoaded => proto::DistributionStrategy::LeastLoaded,
        Strategy::RuleMatch => proto::DistributionStrategy::RuleMatch,
    }
}

/// A strategy number as sent; the domain reports unknown ones.
pub fn strategy_choice(number: i32) -> Choice {
    match proto::DistributionStrategy::try_from(number) {
        Ok(proto::DistributionStrategy::Unspecified) => Choice::Unset,
        Ok(proto::DistributionStrategy::RoundRobin) => Choice::Known(Strategy::RoundRobin),
        Ok(proto::DistributionStrategy::Weighted) => Choice::Known(Strategy::Weighted),
        Ok(proto::DistributionStrategy::LeastLoaded) => Choice::Known(Strategy::LeastLoaded),
        Ok(proto::DistributionStrategy::RuleMatch) => Choice::Known(Strategy::RuleMatch),
        Err(_) => Choice::Unknown(number),
    }
}
