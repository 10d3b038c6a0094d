//! Domain values to their proto messages.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::domain::distribution::{Choice, DistributionDraft, DistributionRule, Strategy};
use crate::domain::event::{EventKind, LeadEvent};
use crate::domain::lead::{AcquiredVia, Lead, LeadState};
use crate::domain::member::{Member, MemberRole};
use crate::domain::pool::{Pool, RawDuration};
use crate::domain::validate::Validator;
use crate::proto;

use super::event_cursor;

pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        // Always below 2e9, so the cast cannot truncate.
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// A wire time, if set; one out of range is a violation of `field`.
pub fn optional_time(
    v: &mut Validator,
    field: &str,
    at: Option<&Timestamp>,
) -> Option<DateTime<Utc>> {
    let at = at?;
    let time = u32::try_from(at.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(at.seconds, nanos));
    if time.is_none() {
        v.violation(field, "is not a valid time");
    }
    time
}

fn optional_timestamp(at: Option<DateTime<Utc>>) -> Option<Timestamp> {
    at.map(timestamp)
}

fn duration(seconds: Option<i32>) -> Option<prost_types::Duration> {
    seconds.map(|s| prost_types::Duration {
        seconds: i64::from(s),
        nanos: 0,
    })
}

/// A wire duration as the domain validates it.
pub fn raw_duration(duration: Option<&prost_types::Duration>) -> Option<RawDuration> {
    duration.map(|d| RawDuration {
        seconds: d.seconds,
        nanos: d.nanos,
    })
}

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

pub fn member_role(role: MemberRole) -> proto::MemberRole {
    match role {
        MemberRole::Member => proto::MemberRole::Member,
        MemberRole::Manager => proto::MemberRole::Manager,
    }
}

pub fn member(member: Member) -> proto::Member {
    proto::Member {
        pool_id: member.pool_id.to_string(),
        user_id: member.user_id,
        role: member_role(member.role).into(),
        active: member.active,
        weight: member.weight,
        max_held: member.max_held,
        regions: member.regions,
        industries: member.industries,
        grades: member.grades,
        held_count: member.held_count,
        joined_at: Some(timestamp(member.joined_at)),
    }
}

pub fn lead_state(state: LeadState) -> proto::LeadState {
    match state {
        LeadState::InPool => proto::LeadState::InPool,
        LeadState::Owned => proto::LeadState::Owned,
        LeadState::Converted => proto::LeadState::Converted,
        LeadState::Discarded => proto::LeadState::Discarded,
    }
}

fn acquired_via(via: Option<AcquiredVia>) -> proto::AcquisitionChannel {
    match via {
        None => proto::AcquisitionChannel::Unspecified,
        Some(AcquiredVia::Claim) => proto::AcquisitionChannel::Claim,
        Some(AcquiredVia::Create) => proto::AcquisitionChannel::Create,
        Some(AcquiredVia::Assign) => proto::AcquisitionChannel::Assign,
        Some(AcquiredVia::Transfer) => proto::AcquisitionChannel::Transfer,
        Some(AcquiredVia::Distribute) => proto::AcquisitionChannel::Distribute,
    }
}

pub fn lead(lead: Lead) -> proto::Lead {
    proto::Lead {
        id: lead.id.to_string(),
        pool_id: lead.pool_id.to_string(),
        external_ref: lead.external_ref.unwrap_or_default(),
        name: lead.name,
        company: lead.company,
        phone: lead.phone,
        email: lead.email,
        source: lead.source,
        region: lead.region,
        industry: lead.industry,
        grade: lead.grade,
        tags: lead.tags,
        attributes: lead.attributes.into_iter().collect(),
        state: lead_state(lead.state).into(),
        owner_id: lead.owner_id.unwrap_or_default(),
        acquired_at: optional_timestamp(lead.acquired_at),
        acquired_via: acquired_via(lead.acquired_via).into(),
        last_follow_up_at: optional_timestamp(lead.last_follow_up_at),
        follow_up_deadline: optional_timestamp(lead.follow_up_deadline),
        close_deadline: optional_timestamp(lead.close_deadline),
        locked: lead.locked,
        previous_owner_id: lead.previous_owner_id.unwrap_or_default(),
        cooldown_until: optional_timestamp(lead.cooldown_until),
        pool_entered_at: optional_timestamp(lead.pool_entered_at),
        version: lead.version,
        created_at: Some(timestamp(lead.created_at)),
        updated_at: Some(timestamp(lead.updated_at)),
        contact_masked: false,
        duplicate_of: lead
            .duplicate_of
            .map(|id| id.to_string())
            .unwrap_or_default(),
    }
}

fn event_kind(kind: Option<EventKind>) -> proto::EventKind {
    use proto::EventKind as P;
    match kind {
        None => P::Unspecified,
        Some(kind) => match kind {
            EventKind::Created => P::Created,
            EventKind::Claimed => P::Claimed,
            EventKind::Released => P::Released,
            EventKind::Assigned => P::Assigned,
            EventKind::Transferred => P::Transferred,
            EventKind::Distributed => P::Distributed,
            EventKind::RecycleWarning => P::RecycleWarning,
            EventKind::Recycled => P::Recycled,
            EventKind::Offboarded => P::Offboarded,
            EventKind::Moved => P::Moved,
            EventKind::FollowedUp => P::FollowedUp,
            EventKind::Converted => P::Converted,
            EventKind::Discarded => P::Discarded,
            EventKind::Reopened => P::Reopened,
            EventKind::Locked => P::Locked,
            EventKind::Unlocked => P::Unlocked,
            EventKind::Updated => P::Updated,
        },
    }
}

pub fn event(event: LeadEvent) -> proto::LeadEvent {
    proto::LeadEvent {
        cursor: event_cursor::encode(event.position),
        seq: event.seq,
        lead_id: event.lead_id.to_string(),
        pool_id: event.pool_id.to_string(),
        kind: event_kind(event.kind).into(),
        from_owner: event.from_owner.unwrap_or_default(),
        to_owner: event.to_owner.unwrap_or_default(),
        actor: event.actor,
        reason: event.reason.unwrap_or_default(),
        note: event.note.unwrap_or_default(),
        occurred_at: Some(timestamp(event.occurred_at)),
        request_id: event
            .request_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        to_pool_id: event
            .to_pool_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
    }
}
