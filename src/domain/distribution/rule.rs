//! The `distribution` rule and a call's strategy choice, validated from what a caller sent.

use serde::Serialize;

use super::super::pool::{RawDuration, duration};
use super::super::validate::Validator;
use super::{DistributionRule, Method, Strategy};

/// A strategy as sent: unset, a known one, or a number this service does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Choice {
    #[default]
    Unset,
    Known(Strategy),
    Unknown(i32),
}

/// The `distribution` rule as sent, before validation.
#[derive(Debug, Clone, Copy, Default)]
pub struct DistributionDraft {
    pub strategy: Choice,
    pub fallback: Choice,
    pub assign_unmatched: bool,
    pub auto_distribute: bool,
    pub auto_distribute_after: Option<RawDuration>,
}

impl DistributionRule {
    /// Validates the rule; unset strategies mean round-robin.
    pub fn parse(v: &mut Validator, draft: &DistributionDraft) -> Self {
        let method = Method {
            strategy: strategy(v, "distribution.strategy", draft.strategy).unwrap_or_default(),
            fallback: fallback(v, "distribution.fallback", draft.fallback).unwrap_or_default(),
            assign_unmatched: draft.assign_unmatched,
        };
        Self {
            method,
            auto_distribute: draft.auto_distribute,
            auto_distribute_after_seconds: duration(
                v,
                "distribution.auto_distribute_after",
                draft.auto_distribute_after,
            ),
        }
    }
}

/// The strategy a call names instead of the pool's, validated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MethodOverride {
    pub strategy: Option<Strategy>,
    pub fallback: Option<Strategy>,
}

impl MethodOverride {
    pub fn parse(v: &mut Validator, strategy_sent: Choice, fallback_sent: Choice) -> Self {
        Self {
            strategy: strategy(v, "strategy", strategy_sent),
            fallback: fallback(v, "fallback", fallback_sent),
        }
    }

    /// The pool's method with what the call names in its place.
    pub fn over(self, pool: Method) -> Method {
        Method {
            strategy: self.strategy.unwrap_or(pool.strategy),
            fallback: self.fallback.unwrap_or(pool.fallback),
            assign_unmatched: pool.assign_unmatched,
        }
    }
}

fn strategy(v: &mut Validator, field: &str, choice: Choice) -> Option<Strategy> {
    match choice {
        Choice::Unset => None,
        Choice::Known(strategy) => Some(strategy),
        Choice::Unknown(n) => {
            v.violation(
                field,
                format!(
                    "unknown strategy {n}; use ROUND_ROBIN, WEIGHTED, LEAST_LOADED or RULE_MATCH"
                ),
            );
            None
        }
    }
}

/// What picks among rule matches: any strategy but `RULE_MATCH` itself.
fn fallback(v: &mut Validator, field: &str, choice: Choice) -> Option<Strategy> {
    match strategy(v, field, choice) {
        Some(Strategy::RuleMatch) => {
            v.violation(field, "must be ROUND_ROBIN, WEIGHTED or LEAST_LOADED");
            None
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_rule_is_round_robin_without_automatic_distribution() {
        let mut v = Validator::new();
        let rule = DistributionRule::parse(&mut v, &DistributionDraft::default());
        assert!(v.finish(()).is_ok());
        assert_eq!(rule, DistributionRule::default());
        assert_eq!(rule.method.strategy, Strategy::RoundRobin);
    }

    #[test]
    fn unknown_strategy_rule_match_fallback_and_negative_wait_are_all_named() {
        let mut v = Validator::new();
        let draft = DistributionDraft {
            strategy: Choice::Unknown(9),
            fallback: Choice::Known(Strategy::RuleMatch),
            auto_distribute_after: Some(RawDuration {
                seconds: -5,
                nanos: 0,
            }),
            ..DistributionDraft::default()
        };
        DistributionRule::parse(&mut v, &draft);
        let fields = v.rejected_fields();
        assert_eq!(
            fields,
            [
                "distribution.strategy",
                "distribution.fallback",
                "distribution.auto_distribute_after"
            ]
        );
    }
}
