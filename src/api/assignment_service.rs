//! `leadpool.v1.AssignmentService`: assign, transfer, distribute (and preview) and offboard.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::lead_service::lead_message;
use super::{Context, auth, convert, idempotency};
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::assignment::{self, OffboardMode};
use crate::domain::distribution::{MethodOverride, Plan, Skip};
use crate::domain::validate::{MAX_CODE_CHARS, MAX_NOTE_CHARS, Validator};
use crate::proto;
use crate::proto::assignment_service_server::AssignmentService;
use crate::store;
use crate::store::assignment::offboard::{OffboardReport, Offboarding};
use crate::store::assignment::transfer::Handover;
use crate::store::assignment::{DistributeCall, Mode, Selection, Wait};
use crate::store::db_error;

/// Batch calls take at most this many leads (shared/api.md "Limits").
const MAX_BATCH: usize = 1_000;

#[derive(Debug, Clone)]
pub struct AssignmentApi {
    ctx: Context,
}

impl AssignmentApi {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Distributes or previews on `conn` once the actor is found to manage the pool.
    async fn run_distribution(
        &self,
        conn: &mut sqlx::PgConnection,
        actor: &Actor,
        args: &DistributeArgs,
        mode: Mode,
        request_id: Option<Uuid>,
    ) -> Result<proto::DistributionPlan, DomainError> {
        let access =
            store::pools::access(&mut *conn, &actor.tenant_id, args.pool_id, &actor.user_id)
                .await?;
        actor.require_manager(args.pool_id, access.membership)?;
        let call = DistributeCall {
            tenant_id: &actor.tenant_id,
            pool_id: args.pool_id,
            actor: &actor.user_id,
            method: args.method,
            selection: &args.selection,
            request_id,
            now: self.ctx.clock.now(),
        };
        let distribution = store::assignment::distribute(conn, call, mode, Wait::Block)
            .await?
            .ok_or(DomainError::ConcurrentModification)?;
        if mode == Mode::Apply {
            let assigned = distribution.plan.assignments.len() as u64;
            self.ctx.metrics.distributions.inc_by(assigned);
        }
        Ok(plan_message(distribution.plan))
    }
}

#[tonic::async_trait]
impl AssignmentService for AssignmentApi {
    #[tracing::instrument(skip_all, fields(rpc = "AssignLead"))]
    async fn assign_lead(
        &self,
        request: Request<proto::AssignLeadRequest>,
    ) -> Result<Response<proto::AssignLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let user_id = v.required_text("user_id", &req.user_id, MAX_CODE_CHARS);
        let note = note(&mut v, &req.note);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "AssignLead",
            request_id,
            &req,
            async |conn| {
                let handover = Handover {
                    to_user: &user_id,
                    note: note.as_deref(),
                    request_id,
                    now: self.ctx.clock.now(),
                };
                store::assignment::transfer::assign(
                    &mut *conn,
                    &actor,
                    lead_id,
                    req.override_cooldown,
                    handover,
                )
                .await?;
                let view = store::leads::get(&mut *conn, &actor, lead_id).await?;
                Ok(proto::AssignLeadResponse {
                    lead: Some(lead_message(&actor, view)),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "TransferLeads"))]
    async fn transfer_leads(
        &self,
        request: Request<proto::TransferLeadsRequest>,
    ) -> Result<Response<proto::TransferLeadsResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_ids = lead_ids(&mut v, &req.lead_ids, true);
        let to_user = v.required_text("to_user_id", &req.to_user_id, MAX_CODE_CHARS);
        let note = note(&mut v, &req.note);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "TransferLeads",
            request_id,
            &req,
            async |conn| {
                let handover = Handover {
                    to_user: &to_user,
                    note: note.as_deref(),
                    request_id,
                    now: self.ctx.clock.now(),
                };
                let transferred =
                    store::assignment::transfer::transfer(&mut *conn, &actor, &lead_ids, handover)
                        .await?;
                Ok(proto::TransferLeadsResponse {
                    lead_ids: lead_ids.iter().map(Uuid::to_string).collect(),
                    transferred: i32::try_from(transferred).unwrap_or(i32::MAX),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "Distribute"))]
    async fn distribute(
        &self,
        request: Request<proto::DistributeRequest>,
    ) -> Result<Response<proto::DistributeResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let args = DistributeArgs::parse(&mut v, distribute_fields!(req));
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "Distribute",
            request_id,
            &req,
            async |conn| {
                let plan = self
                    .run_distribution(conn, &actor, &args, Mode::Apply, request_id)
                    .await?;
                Ok(proto::DistributeResponse { plan: Some(plan) })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "PreviewDistribution"))]
    async fn preview_distribution(
        &self,
        request: Request<proto::PreviewDistributionRequest>,
    ) -> Result<Response<proto::PreviewDistributionResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let args = DistributeArgs::parse(&mut v, distribute_fields!(req));
        v.finish(())?;
        let mut conn = self.ctx.db.acquire().await.map_err(db_error)?;
        let plan = self
            .run_distribution(&mut conn, &actor, &args, Mode::Preview, None)
            .await?;
        Ok(Response::new(proto::PreviewDistributionResponse {
            plan: Some(plan),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "OffboardMember"))]
    async fn offboard_member(
        &self,
        request: Request<proto::OffboardMemberRequest>,
    ) -> Result<Response<proto::OffboardMemberResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let user_id = v.required_text("user_id", &req.user_id, MAX_CODE_CHARS);
        let mode = offboard_mode(&mut v, &req, &user_id);
        let note = note(&mut v, &req.note);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "OffboardMember",
            request_id,
            &req,
            async |conn| {
                let memberships =
                    store::assignment::offboard::memberships(&mut *conn, &actor, &user_id).await?;
                assignment::check_offboarder(&actor, &user_id, &memberships)?;
                let offboarding = Offboarding {
                    user_id: &user_id,
                    mode: &mode,
                    note: note.as_deref(),
                    request_id,
                    now: self.ctx.clock.now(),
                };
                let report =
                    store::assignment::offboard::offboard(&mut *conn, &actor, &offboarding).await?;
                Ok(offboard_response(&mode, report))
            },
        )
        .await?;
        Ok(Response::new(response))
    }
}

fn note(v: &mut Validator, note: &str) -> Option<String> {
    Some(v.optional_text("note", note, MAX_NOTE_CHARS)).filter(|n| !n.is_empty())
}

/// Lead ids of a batch: UUIDs, at most [`MAX_BATCH`], repeats dropped (first kept).
fn lead_ids(v: &mut Validator, ids: &[String], required: bool) -> Vec<Uuid> {
    if required && ids.is_empty() {
        v.violation("lead_ids", "is required: name 1 to 1,000 leads");
    }
    if ids.len() > MAX_BATCH {
        v.violation(
            "lead_ids",
            format!("must have at most {MAX_BATCH} leads, got {}", ids.len()),
        );
    }
    let mut seen = HashSet::new();
    ids.iter()
        .enumerate()
        .map(|(i, id)| v.uuid(&format!("lead_ids[{i}]"), id))
        .filter(|id| seen.insert(*id))
        .collect()
}

/// The fields `DistributeRequest` and `PreviewDistributionRequest` share.
macro_rules! distribute_fields {
    ($req:expr) => {
        DistributeFields {
            pool_id: &$req.pool_id,
            limit: $req.limit,
            filter: $req.filter.as_ref(),
            strategy: $req.strategy,
            fallback: $req.fallback,
        }
    };
}
use distribute_fields;

struct DistributeFields<'a> {
    pool_id: &'a str,
    limit: i32,
    filter: Option<&'a proto::DistributionFilter>,
    strategy: i32,
    fallback: i32,
}

/// A validated distribution request.
struct DistributeArgs {
    pool_id: Uuid,
    selection: Selection,
    method: MethodOverride,
}

impl DistributeArgs {
    fn parse(v: &mut Validator, fields: DistributeFields<'_>) -> Self {
        let pool_id = v.uuid("pool_id", fields.pool_id);
        let filter = fields.filter.cloned().unwrap_or_default();
        let lead_ids = lead_ids(v, &filter.lead_ids, false);
        let limit = match fields.limit {
            0 if lead_ids.is_empty() => MAX_BATCH,
            0 => lead_ids.len(),
            _ if !lead_ids.is_empty() => {
                v.violation("limit", "leave it unset when naming filter.lead_ids");
                lead_ids.len()
            }
            n => usize::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_BATCH)
                .unwrap_or_else(|| {
                    v.violation("limit", format!("must be 1 to {MAX_BATCH}, got {n}"));
                    MAX_BATCH
                }),
        };
        let mut code = |field: &str, value: &str| {
            Some(v.optional_text(field, value, MAX_CODE_CHARS)).filter(|c| !c.is_empty())
        };
        let region = code("filter.region", &filter.region);
        let industry = code("filter.industry", &filter.industry);
        let grade = code("filter.grade", &filter.grade);
        let entered_before = filter
            .entered_before
            .as_ref()
            .and_then(|at| timestamp(v, "filter.entered_before", at));
        let method = MethodOverride::parse(
            v,
            convert::strategy_choice(fields.strategy),
            convert::strategy_choice(fields.fallback),
        );
        Self {
            pool_id,
            selection: Selection {
                lead_ids,
                region,
                industry,
                grade,
                entered_before,
                after: None,
                limit: i64::try_from(limit).unwrap_or(i64::MAX),
            },
            method,
        }
    }
}

fn timestamp(v: &mut Validator, field: &str, at: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let at = u32::try_from(at.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(at.seconds, nanos));
    if at.is_none() {
        v.violation(field, "is not a valid time");
    }
    at
}

fn plan_message(plan: Plan) -> proto::DistributionPlan {
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    proto::DistributionPlan {
        strategy: convert::strategy(plan.method.strategy).into(),
        fallback: convert::strategy(plan.method.fallback).into(),
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
    mode
}

fn offboard_response(mode: &OffboardMode, report: OffboardReport) -> proto::OffboardMemberResponse {
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
