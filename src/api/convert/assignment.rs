//! Assignment, transfer, distribution and offboarding.

use std::collections::{BTreeMap, HashSet};

use uuid::Uuid;

use super::{optional_time, strategy, strategy_choice};
use crate::domain::DomainError;
use crate::domain::assignment::OffboardMode;
use crate::domain::distribution::{MethodOverride, Plan, Selection, Skip};
use crate::domain::validate::{MAX_BATCH_ITEMS, MAX_CODE_CHARS, MAX_NOTE_CHARS, Validator};
use crate::proto;
use crate::service::assignment::{Assign, Distribute, Offboard, OffboardReport, Transfer};

pub fn assign(req: &proto::AssignLeadRequest) -> Result<Assign, DomainError> {
    let mut v = Validator::new();
    let command = Assign {
        lead_id: v.uuid("lead_id", &req.lead_id),
        user_id: v.required_text("user_id", &req.user_id, MAX_CODE_CHARS),
        override_cooldown: req.override_cooldown,
        override_away: req.override_away,
        note: note(&mut v, &req.note),
        request_id: v.optional_uuid("request_id", &req.request_id),
    };
    v.finish(command)
}

pub fn transfer(req: &proto::TransferLeadsRequest) -> Result<Transfer, DomainError> {
    let mut v = Validator::new();
    let command = Transfer {
        lead_ids: lead_ids(&mut v, &req.lead_ids, true),
        to_user_id: v.required_text("to_user_id", &req.to_user_id, MAX_CODE_CHARS),
        override_away: req.override_away,
        note: note(&mut v, &req.note),
        request_id: v.optional_uuid("request_id", &req.request_id),
    };
    v.finish(command)
}

pub fn distribute(req: &proto::DistributeRequest) -> Result<Distribute, DomainError> {
    let mut v = Validator::new();
    let mut command = distribution(
        &mut v,
        &req.pool_id,
        req.limit,
        req.filter.as_ref(),
        (req.strategy, req.fallback),
    );
    command.request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(command)
}

pub fn preview_distribution(
    req: &proto::PreviewDistributionRequest,
) -> Result<Distribute, DomainError> {
    let mut v = Validator::new();
    let command = distribution(
        &mut v,
        &req.pool_id,
        req.limit,
        req.filter.as_ref(),
        (req.strategy, req.fallback),
    );
    v.finish(command)
}

pub fn offboard(req: &proto::OffboardMemberRequest) -> Result<Offboard, DomainError> {
    let mut v = Validator::new();
    let user_id = v.required_text("user_id", &req.user_id, MAX_CODE_CHARS);
    let command = Offboard {
        mode: offboard_mode(&mut v, req, &user_id),
        user_id,
        note: note(&mut v, &req.note),
        request_id: v.optional_uuid("request_id", &req.request_id),
        override_away: req.override_away,
    };
    v.finish(command)
}

fn note(v: &mut Validator, note: &str) -> Option<String> {
    Some(v.optional_text("note", note, MAX_NOTE_CHARS)).filter(|n| !n.is_empty())
}

/// Lead ids of a batch: UUIDs, at most [`MAX_BATCH_ITEMS`], repeats dropped (first kept).
fn lead_ids(v: &mut Validator, ids: &[String], required: bool) -> Vec<Uuid> {
    if required && ids.is_empty() {
        v.violation("lead_ids", "is required: name 1 to 1,000 leads");
    }
    if ids.len() > MAX_BATCH_ITEMS {
        v.violation(
            "lead_ids",
            format!(
                "must have at most {MAX_BATCH_ITEMS} leads, got {}",
                ids.len()
            ),
        );
    }
    let mut seen = HashSet::new();
    ids.iter()
        .enumerate()
        .map(|(i, id)| v.uuid(&format!("lead_ids[{i}]"), id))
        .filter(|id| seen.insert(*id))
        .collect()
}

/// The fields `DistributeRequest` and `PreviewDistributionRequest` share, validated; no
/// `request_id` yet.
fn distribution(
    v: &mut Validator,
    pool_id: &str,
    limit: i32,
    filter: Option<&proto::DistributionFilter>,
    (strategy, fallback): (i32, i32),
) -> Distribute {
    let pool_id = v.uuid("pool_id", pool_id);
    let filter = filter.cloned().unwrap_or_default();
    let lead_ids = v.nested("filter.", |v| lead_ids(v, &filter.lead_ids, false));
    let limit = selection_limit(v, limit, lead_ids.len());
    let mut code = |field: &str, value: &str| {
        Some(v.optional_text(field, value, MAX_CODE_CHARS)).filter(|c| !c.is_empty())
    };
    let region = code("filter.region", &filter.region);
    let industry = code("filter.industry", &filter.industry);
    let grade = code("filter.grade", &filter.grade);
    let entered_before = optional_time(v, "filter.entered_before", filter.entered_before.as_ref());
    let method = MethodOverride::parse(v, strategy_choice(strategy), strategy_choice(fallback));
    Distribute {
        pool_id,
        selection: Selection {
            lead_ids,
            region,
            industry,
            grade,
            entered_before,
            after: None,
            limit,
        },
        method,
        request_id: None,
    }
}

/// How many leads to take: the named ones, else `limit` (unset: [`MAX_BATCH_ITEMS`]).
fn selection_limit(v: &mut Validator, limit: i32, named: usize) -> i64 {
    let limit = match limit {
        0 if named == 0 => MAX_BATCH_ITEMS,
        0 => named,
        _ if named > 0 => {
            v.violation("limit", "leave it unset when naming filter.lead_ids");
            named
        }
        n => usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_BATCH_ITEMS)
            .unwrap_or_else(|| {
                v.violation("limit", format!("must be 1 to {MAX_BATCH_ITEMS}, got {n}"));
                MAX_BATCH_ITEMS
            }),
    };
    i64::try_from(limit).unwrap_or(i64::MAX)
}

pub fn plan(plan: Plan) -> proto::DistributionPlan {
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    proto::DistributionPlan {
        strategy: strategy(plan.method.strategy).into(),
        fallback: strategy(plan.method.fallback).into(),
        assignments: plan
            .assignments
            .into_iter()
            .map(|a| proto::DistributionAssignment {
                lead_id: a.lead_id.to_string(),
                user_id: a.user_id,
            })
            .collect(),
        undistributed: plan
            .undistributed
            .into_iter()
            .map(|u| match u.skip {
                Skip::NoEligibleMember(why) => proto::UndistributedLead {
                    lead_id: u.lead_id.to_string(),
                    reason: proto::UndistributedReason::NoEligibleMember.into(),
                    members: count(why.members),
                    not_matching: count(why.not_matching),
                    at_cap: count(why.at_cap),
                    in_cooldown: count(why.in_cooldown),
                },
                Skip::NotAvailable => proto::UndistributedLead {
                    lead_id: u.lead_id.to_string(),
                    reason: proto::UndistributedReason::NotAvailable.into(),
                    ..Default::default()
                },
            })
            .collect(),
    }
}

/// The mode and its colleague; `to_user_id` belongs to `TRANSFER_TO` only and is never the
/// departing user.
fn offboard_mode(
    v: &mut Validator,
    req: &proto::OffboardMemberRequest,
    user_id: &str,
) -> OffboardMode {
    let to_user = v.optional_text("to_user_id", &req.to_user_id, MAX_CODE_CHARS);
    let mode = match proto::OffboardMode::try_from(req.mode) {
        Ok(proto::OffboardMode::ReturnToPool) => OffboardMode::ReturnToPool,
        Ok(proto::OffboardMode::TransferTo) => OffboardMode::TransferTo(to_user.clone()),
        Ok(proto::OffboardMode::Redistribute) => OffboardMode::Redistribute,
        _ => {
            v.violation(
                "mode",
                "is required: RETURN_TO_POOL, TRANSFER_TO or REDISTRIBUTE",
            );
            OffboardMode::ReturnToPool
        }
    };
    match &mode {
        OffboardMode::TransferTo(to) if to.is_empty() => {
            v.violation("to_user_id", "is required with OFFBOARD_MODE_TRANSFER_TO")
        }
        OffboardMode::TransferTo(to) if to == user_id => {
            v.violation("to_user_id", "must be a colleague, not the departing user")
        }
        OffboardMode::TransferTo(_) => {}
        _ if !to_user.is_empty() => v.violation(
            "to_user_id",
            "is only for OFFBOARD_MODE_TRANSFER_TO; leave it empty",
        ),
        _ => {}
    }
    if req.override_away && !matches!(mode, OffboardMode::TransferTo(_)) {
        v.violation(
            "override_away",
            "is only for OFFBOARD_MODE_TRANSFER_TO: the other modes give nobody away a lead",
        );
    }
    mode
}

pub fn offboard_response(
    mode: &OffboardMode,
    report: OffboardReport,
) -> proto::OffboardMemberResponse {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let returned = report.moved.iter().filter(|m| m.to_owner.is_none()).count();
    let handed = report.moved.len() - returned;
    let mut moves: BTreeMap<(Uuid, Option<String>, Option<Uuid>), usize> = BTreeMap::new();
    for m in &report.moved {
        let elsewhere = Some(m.destination).filter(|d| *d != m.pool_id);
        *moves
            .entry((m.pool_id, m.to_owner.clone(), elsewhere))
            .or_default() += 1;
    }
    let transfer = matches!(mode, OffboardMode::TransferTo(_));
    proto::OffboardMemberResponse {
        memberships_deactivated: i32::try_from(report.deactivated).unwrap_or(i32::MAX),
        returned_to_pool: count(returned),
        transferred: count(if transfer { handed } else { 0 }),
        redistributed: count(if transfer { 0 } else { handed }),
        kept_locked_lead_ids: report.kept_locked.iter().map(Uuid::to_string).collect(),
        moves: moves
            .into_iter()
            .map(|((pool_id, to_user, to_pool), n)| proto::OffboardMove {
                pool_id: pool_id.to_string(),
                to_user_id: to_user.unwrap_or_default(),
                to_pool_id: to_pool.map(|p| p.to_string()).unwrap_or_default(),
                lead_count: count(n),
            })
            .collect(),
    }
}
