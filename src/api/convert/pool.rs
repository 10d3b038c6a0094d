//! Pools and their rules.

use uuid::Uuid;

use super::{duration, raw_duration, timestamp};
use crate::api::page_token;
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::business_time::{BusinessSpan, RawBusinessTime};
use crate::domain::distribution::{Choice, DistributionDraft, DistributionRule, Strategy};
use crate::domain::page::PageSize;
use crate::domain::pool::{self, GradeDraft, NewPool, Pool, RawDuration, RulesDraft};
use crate::domain::validate::Validator;
use crate::proto;
use crate::service::pools::{ArchivePool, CreatePool, PoolUpdated, UpdatePool};

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
                    follow_up_business_time: d.follow_up_business.map(business_time),
                    close_business_time: d.close_business.map(business_time),
                };
                (grade, deadlines)
            })
            .collect(),
        recycle_to_pool_id: rules
            .recycle_to_pool_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        distribution: Some(distribution_rule(rules.distribution)),
        calendar_id: rules
            .calendar_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        follow_up_business_time: rules.follow_up_business.map(business_time),
        close_business_time: rules.close_business.map(business_time),
        warn_before_business_time: rules.warn_before_business.map(business_time),
        pull_order: rules.pull_order,
        new_lead_embargo: duration(rules.new_lead_embargo_seconds),
        unclaimed_alert_after: duration(rules.unclaimed_alert_after_seconds),
        accept_within: duration(rules.accept_within_seconds),
        accept_within_business_time: rules.accept_within_business.map(business_time),
        max_reroutes: rules.max_reroutes,
        sla_on_assign: rules.sla_on_assign,
    }
}

fn business_time(span: BusinessSpan) -> proto::BusinessTime {
    let span = match span {
        BusinessSpan::Workdays(n) => proto::business_time::Span::Workdays(n),
        BusinessSpan::OpenSeconds(seconds) => {
            proto::business_time::Span::OpenTime(prost_types::Duration {
                seconds: seconds.into(),
                nanos: 0,
            })
        }
    };
    proto::BusinessTime { span: Some(span) }
}

/// A `BusinessTime` as sent; one without its oneof set is none.
fn raw_business_time(sent: Option<&proto::BusinessTime>) -> Option<RawBusinessTime> {
    match sent?.span.as_ref()? {
        proto::business_time::Span::Workdays(n) => Some(RawBusinessTime::Workdays(*n)),
        proto::business_time::Span::OpenTime(d) => Some(RawBusinessTime::Open(RawDuration {
            seconds: d.seconds,
            nanos: d.nanos,
        })),
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

/// The rule fields of a pool message, as a draft for validation.
fn rules_draft(pool: &proto::Pool) -> RulesDraft<'_> {
    RulesDraft {
        max_held_per_member: pool.max_held_per_member,
        daily_claim_limit: pool.daily_claim_limit,
        reclaim_cooldown: raw_duration(pool.reclaim_cooldown.as_ref()),
        mask_contacts: pool.mask_contacts,
        release_reasons: &pool.release_reasons,
        exempt_grades: &pool.exempt_grades,
        follow_up_timeout: raw_duration(pool.follow_up_timeout.as_ref()),
        close_timeout: raw_duration(pool.close_timeout.as_ref()),
        warn_before: raw_duration(pool.warn_before.as_ref()),
        grade_overrides: pool
            .grade_overrides
            .iter()
            .map(|(grade, d)| GradeDraft {
                grade: grade.clone(),
                follow_up: raw_duration(d.follow_up_timeout.as_ref()),
                close: raw_duration(d.close_timeout.as_ref()),
                follow_up_business: raw_business_time(d.follow_up_business_time.as_ref()),
                close_business: raw_business_time(d.close_business_time.as_ref()),
            })
            .collect(),
        recycle_to_pool_id: &pool.recycle_to_pool_id,
        distribution: distribution_draft(pool.distribution.as_ref()),
        calendar_id: &pool.calendar_id,
        follow_up_business: raw_business_time(pool.follow_up_business_time.as_ref()),
        close_business: raw_business_time(pool.close_business_time.as_ref()),
        warn_before_business: raw_business_time(pool.warn_before_business_time.as_ref()),
        pull_order: &pool.pull_order,
        new_lead_embargo: raw_duration(pool.new_lead_embargo.as_ref()),
        unclaimed_alert_after: raw_duration(pool.unclaimed_alert_after.as_ref()),
        accept_within: raw_duration(pool.accept_within.as_ref()),
        accept_within_business: raw_business_time(pool.accept_within_business_time.as_ref()),
        max_reroutes: pool.max_reroutes,
        sla_on_assign: pool.sla_on_assign,
    }
}

/// The pool a `CreatePool` request describes, as a pool message whose server-set fields stay
/// unset.
fn requested_pool(req: proto::CreatePoolRequest) -> proto::Pool {
    proto::Pool {
        name: req.name,
        timezone: req.timezone,
        max_held_per_member: req.max_held_per_member,
        daily_claim_limit: req.daily_claim_limit,
        reclaim_cooldown: req.reclaim_cooldown,
        mask_contacts: req.mask_contacts,
        release_reasons: req.release_reasons,
        exempt_grades: req.exempt_grades,
        follow_up_timeout: req.follow_up_timeout,
        close_timeout: req.close_timeout,
        warn_before: req.warn_before,
        grade_overrides: req.grade_overrides,
        recycle_to_pool_id: req.recycle_to_pool_id,
        distribution: req.distribution,
        calendar_id: req.calendar_id,
        follow_up_business_time: req.follow_up_business_time,
        close_business_time: req.close_business_time,
        warn_before_business_time: req.warn_before_business_time,
        pull_order: req.pull_order,
        new_lead_embargo: req.new_lead_embargo,
        unclaimed_alert_after: req.unclaimed_alert_after,
        accept_within: req.accept_within,
        accept_within_business_time: req.accept_within_business_time,
        max_reroutes: req.max_reroutes,
        sla_on_assign: req.sla_on_assign,
        ..Default::default()
    }
}

/// A `CreatePool` request, validated.
pub fn create_pool_command(req: proto::CreatePoolRequest) -> Result<CreatePool, DomainError> {
    let mut v = Validator::new();
    let request_id = req.request_id.clone();
    let sent = requested_pool(req);
    let pool = NewPool::parse(&mut v, &sent.name, &sent.timezone, &rules_draft(&sent));
    pool.rules.check(&mut v);
    let request_id = v.optional_uuid("request_id", &request_id);
    v.finish(CreatePool { pool, request_id })
}

/// An `UpdatePool` request, validated for the masked fields only.
pub fn update_pool_command(req: &proto::UpdatePoolRequest) -> Result<UpdatePool, DomainError> {
    let mut v = Validator::new();
    let sent = req.pool.clone().unwrap_or_default();
    let paths = req
        .update_mask
        .as_ref()
        .map(|m| m.paths.as_slice())
        .unwrap_or_default();
    let patch = v.nested("pool.", |v| {
        NewPool::parse(v, &sent.name, &sent.timezone, &rules_draft(&sent))
    });
    v.retain_fields(|field| pool::in_mask(paths, field.trim_start_matches("pool.")));
    let pool_id = v.uuid("pool.id", &sent.id);
    let mask = v.field_mask(paths, pool::UPDATABLE_FIELDS);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(UpdatePool {
        pool_id,
        patch,
        mask,
        reschedule_owned: req.reschedule_owned,
        request_id,
    })
}

pub fn update_pool_response(updated: PoolUpdated) -> proto::UpdatePoolResponse {
    proto::UpdatePoolResponse {
        pool: Some(pool(updated.pool)),
        rescheduled_leads: i32::try_from(updated.rescheduled_leads).unwrap_or(i32::MAX),
    }
}

/// An `ArchivePool` request, validated.
pub fn archive_pool_command(req: &proto::ArchivePoolRequest) -> Result<ArchivePool, DomainError> {
    let mut v = Validator::new();
    let pool_id = v.uuid("pool_id", &req.pool_id);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(ArchivePool {
        pool_id,
        request_id,
    })
}

/// Pool listings are keyed by name and id; a token is bound to whose pools were listed.
type PoolKey = (String, Uuid);

/// A `ListPools` request: where the page starts and its size.
pub fn list_pools_query(
    req: &proto::ListPoolsRequest,
    actor: &Actor,
) -> Result<(Option<PoolKey>, PageSize), DomainError> {
    let mut v = Validator::new();
    let page = PageSize::parse(&mut v, req.page_size);
    v.finish(())?;
    let member = actor.listed_member().map(str::to_owned);
    let after = page_token::decode(&req.page_token, &member)?;
    Ok((after, page))
}

/// One page of pools, with the token of the next page when another follows.
pub fn list_pools_response(
    pools: Vec<Pool>,
    page: PageSize,
    actor: &Actor,
) -> proto::ListPoolsResponse {
    let (pools, next_page_token) =
        page_token::paginate(pools, page.get(), &actor.listed_member(), |p| {
            (p.name.clone(), p.id)
        });
    proto::ListPoolsResponse {
        pools: pools.into_iter().map(pool).collect(),
        next_page_token,
    }
}
