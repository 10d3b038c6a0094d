//! Recycling: sweeps, upcoming and past recycles, deadlines.

use chrono::{DateTime, Timelike, Utc};
use prost_types::Timestamp;

use super::OWNER_ME;
use super::{optional_time, timestamp};
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::page::PageSize;
use crate::domain::recycle::{
    Action, DeadlineKind, RecycleReason, Recycled, Step, Upcoming, UpcomingFilter,
};
use crate::domain::validate::{MAX_CODE_CHARS, MAX_NOTE_CHARS, Validator};
use crate::proto;
use crate::service::recycle::{ExtendDeadline, RunRecycle, Swept};

/// Whose upcoming recycles to list, and one page's size.
pub fn upcoming_filter(
    actor: &Actor,
    req: &proto::ListUpcomingRecyclesRequest,
) -> Result<(UpcomingFilter, PageSize), DomainError> {
    let mut v = Validator::new();
    let pool_id = v.optional_uuid("pool_id", &req.pool_id);
    let mut owner_id = user_filter(&mut v, actor, "owner_id", &req.owner_id);
    if pool_id.is_none() {
        // Without a pool, the caller's own leads, unless they read everything.
        let owner = owner_id.get_or_insert_with(|| actor.user_id.clone());
        if *owner != actor.user_id && !actor.reads_everything() {
            v.violation(
                "pool_id",
                "is required to list another user's leads, unless the caller has the admin or service role",
            );
        }
    }
    let until = required_time(&mut v, "until", req.until.as_ref());
    let page = PageSize::parse(&mut v, req.page_size);
    let filter = UpcomingFilter {
        pool_id,
        owner_id,
        until: until.unwrap_or(DateTime::UNIX_EPOCH),
    };
    v.finish((filter, page))
}

pub fn run_recycle(req: &proto::RunRecycleRequest) -> Result<RunRecycle, DomainError> {
    let mut v = Validator::new();
    let command = RunRecycle {
        pool_id: v.optional_uuid("pool_id", &req.pool_id),
        dry_run: req.dry_run,
        request_id: v.optional_uuid("request_id", &req.request_id),
    };
    v.finish(command)
}

/// Which pool's recycles to list, of whom (`None`: everyone's), and one page's size.
pub fn recycled_scope(
    actor: &Actor,
    req: &proto::ListRecycledRequest,
) -> Result<(uuid::Uuid, Option<String>, PageSize), DomainError> {
    let mut v = Validator::new();
    let pool_id = v.uuid("pool_id", &req.pool_id);
    let previous_owner_id = user_filter(&mut v, actor, "previous_owner_id", &req.previous_owner_id);
    let page = PageSize::parse(&mut v, req.page_size);
    v.finish((pool_id, previous_owner_id, page))
}

/// A deadline move; `until` must be after `now`.
pub fn extend_deadline(
    req: &proto::ExtendDeadlineRequest,
    now: DateTime<Utc>,
) -> Result<ExtendDeadline, DomainError> {
    let mut v = Validator::new();
    let lead_id = v.uuid("lead_id", &req.lead_id);
    let kind = deadline_kind(&mut v, req.deadline);
    let until = required_time(&mut v, "until", req.until.as_ref());
    // Only a valid time can be in the past: an invalid one has its violation already.
    if until.is_some_and(|until| until <= now) {
        v.violation("until", "must be in the future");
    }
    let command = ExtendDeadline {
        lead_id,
        kind,
        until: until.unwrap_or(DateTime::UNIX_EPOCH),
        reason: v.required_text("reason", &req.reason, MAX_CODE_CHARS),
        note: Some(v.optional_text("note", &req.note, MAX_NOTE_CHARS)).filter(|n| !n.is_empty()),
        request_id: v.optional_uuid("request_id", &req.request_id),
    };
    v.finish(command)
}

/// A time the caller must send, at PostgreSQL's microsecond resolution (so a retry compares
/// equal to what was stored). When absent or invalid the violation is recorded and `None`
/// returned, so no further rule judges a time that is not one.
fn required_time(v: &mut Validator, field: &str, at: Option<&Timestamp>) -> Option<DateTime<Utc>> {
    if at.is_none() {
        v.violation(field, "is required");
    }
    optional_time(v, field, at)
        .and_then(|at| at.with_nanosecond(at.nanosecond() - at.nanosecond() % 1_000))
}

/// A user filter: empty means none, `me` the caller.
fn user_filter(v: &mut Validator, actor: &Actor, field: &str, value: &str) -> Option<String> {
    match v.optional_text(field, value, MAX_CODE_CHARS).as_str() {
        "" => None,
        OWNER_ME => Some(actor.user_id.clone()),
        other => Some(other.to_owned()),
    }
}

fn deadline_kind(v: &mut Validator, kind: i32) -> DeadlineKind {
    match proto::DeadlineKind::try_from(kind) {
        Ok(proto::DeadlineKind::FollowUp) => DeadlineKind::FollowUp,
        Ok(proto::DeadlineKind::Close) => DeadlineKind::Close,
        _ => {
            v.violation("deadline", "is required: FOLLOW_UP or CLOSE");
            DeadlineKind::FollowUp
        }
    }
}

fn reason(reason: RecycleReason) -> proto::RecycleReason {
    match reason {
        RecycleReason::FollowUpOverdue => proto::RecycleReason::FollowUpOverdue,
        RecycleReason::CloseOverdue => proto::RecycleReason::CloseOverdue,
        RecycleReason::AcceptTimeout => proto::RecycleReason::AcceptTimeout,
    }
}

fn step(step: Step) -> proto::RecycleStep {
    let action = match step.action {
        Action::Warn => proto::RecycleAction::Warn,
        Action::Recycle => proto::RecycleAction::Recycle,
    };
    proto::RecycleStep {
        lead_id: step.lead_id.to_string(),
        pool_id: step.pool_id.to_string(),
        owner_id: step.owner_id,
        action: action.into(),
        reason: reason(step.reason).into(),
        deadline: Some(timestamp(step.deadline)),
        recycle_at: Some(timestamp(step.recycle_at)),
    }
}

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

pub fn swept(swept: Swept, dry_run: bool) -> proto::RunRecycleResponse {
    let report = swept.report;
    proto::RunRecycleResponse {
        dry_run,
        swept_at: Some(timestamp(swept.swept_at)),
        warned: count(report.warned),
        recycled: count(report.recycled),
        steps: report.steps.into_iter().map(step).collect(),
        steps_truncated: report.truncated,
    }
}

pub fn upcoming(upcoming: Upcoming) -> proto::UpcomingRecycle {
    proto::UpcomingRecycle {
        lead_id: upcoming.lead_id.to_string(),
        pool_id: upcoming.pool_id.to_string(),
        owner_id: upcoming.owner_id,
        deadline: Some(timestamp(upcoming.deadline)),
        reason: reason(upcoming.reason).into(),
        warned: upcoming.warned,
        warn_at: upcoming.warn_at.map(timestamp),
        recycle_at: Some(timestamp(upcoming.recycle_at)),
    }
}

pub fn recycled(recycled: Recycled) -> proto::RecycledLead {
    proto::RecycledLead {
        lead_id: recycled.lead_id.to_string(),
        pool_id: recycled.pool_id.to_string(),
        to_pool_id: recycled
            .to_pool_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        previous_owner_id: recycled.previous_owner_id,
        reason: reason(recycled.reason).into(),
        recycled_at: Some(timestamp(recycled.recycled_at)),
        actor: recycled.actor,
    }
}
