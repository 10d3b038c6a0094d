//! `leadpool.v1.RecycleService`: what will be recycled, sweeping on demand, what was recycled,
//! and moving a deadline.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::lead_service::lead_message;
use super::{Context, auth, convert, idempotency, page_token};
use crate::config::RecycleSettings;
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::page::PageSize;
use crate::domain::recycle::{
    self, Action, DeadlineKind, RecycleReason, Step, SweepReport, Upcoming,
};
use crate::domain::validate::{MAX_CODE_CHARS, MAX_NOTE_CHARS, Validator};
use crate::proto;
use crate::proto::recycle_service_server::RecycleService;
use crate::scheduler::recycle as scheduler;
use crate::store;
use crate::store::recycle::{Extension, Recycled, Sweep, UpcomingFilter};

/// `owner_id` value that means the caller.
const OWNER_ME: &str = "me";

#[derive(Debug, Clone)]
pub struct RecycleApi {
    ctx: Context,
    settings: RecycleSettings,
}

impl RecycleApi {
    pub fn new(ctx: Context, settings: RecycleSettings) -> Self {
        Self { ctx, settings }
    }

    /// Sweeps (or plans a sweep of) the actor's tenant, or one pool of it, as of now.
    async fn sweep(
        &self,
        actor: &Actor,
        pool_id: Option<Uuid>,
        dry_run: bool,
        request_id: Option<Uuid>,
    ) -> Result<proto::RunRecycleResponse, DomainError> {
        let scope = Sweep {
            now: self.ctx.clock.now(),
            tenant_id: Some(&actor.tenant_id),
            pool_id,
            actor: &actor.user_id,
            request_id,
            batch: self.settings.batch(),
        };
        let report = if dry_run {
            scheduler::dry_run(&self.ctx, &scope).await?
        } else {
            // On demand, the sweep runs to its end like any call in flight at shutdown.
            scheduler::sweep(&self.ctx, &scope, &CancellationToken::new()).await?
        };
        Ok(sweep_response(report, dry_run, scope.now))
    }

    /// Checks the actor may read `pool_id` (when given).
    async fn require_reader(
        &self,
        actor: &Actor,
        pool_id: Option<Uuid>,
    ) -> Result<(), DomainError> {
        if let Some(pool_id) = pool_id {
            let access =
                store::pools::access(&self.ctx.db, &actor.tenant_id, pool_id, &actor.user_id)
                    .await?;
            actor.require_pool_reader(pool_id, access.membership)?;
        }
        Ok(())
    }
}

/// A time the caller must send, at PostgreSQL's microsecond resolution (so a retry compares
/// equal to what was stored). When absent or invalid the violation is recorded.
fn required_time(v: &mut Validator, field: &str, at: Option<&Timestamp>) -> DateTime<Utc> {
    let Some(at) = at else {
        v.violation(field, "is required");
        return DateTime::UNIX_EPOCH;
    };
    let micros = u32::try_from(at.nanos).ok().map(|n| n - n % 1_000);
    match micros.and_then(|nanos| DateTime::from_timestamp(at.seconds, nanos)) {
        Some(at) => at,
        None => {
            v.violation(field, "is not a valid time");
            DateTime::UNIX_EPOCH
        }
    }
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
        deadline: Some(convert::timestamp(step.deadline)),
        recycle_at: Some(convert::timestamp(step.recycle_at)),
    }
}

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn sweep_response(
    report: SweepReport,
    dry_run: bool,
    swept_at: DateTime<Utc>,
) -> proto::RunRecycleResponse {
    proto::RunRecycleResponse {
        dry_run,
        swept_at: Some(convert::timestamp(swept_at)),
        warned: count(report.warned),
        recycled: count(report.recycled),
        steps: report.steps.into_iter().map(step).collect(),
        steps_truncated: report.truncated,
    }
}

fn upcoming(upcoming: Upcoming) -> proto::UpcomingRecycle {
    proto::UpcomingRecycle {
        lead_id: upcoming.lead_id.to_string(),
        pool_id: upcoming.pool_id.to_string(),
        owner_id: upcoming.owner_id,
        deadline: Some(convert::timestamp(upcoming.deadline)),
        reason: reason(upcoming.reason).into(),
        warned: upcoming.warned,
        warn_at: upcoming.warn_at.map(convert::timestamp),
        recycle_at: Some(convert::timestamp(upcoming.recycle_at)),
    }
}

fn recycled(recycled: Recycled) -> proto::RecycledLead {
    proto::RecycledLead {
        lead_id: recycled.lead_id.to_string(),
        pool_id: recycled.pool_id.to_string(),
        to_pool_id: recycled
            .to_pool_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        previous_owner_id: recycled.previous_owner_id,
        reason: reason(recycled.reason).into(),
        recycled_at: Some(convert::timestamp(recycled.recycled_at)),
        actor: recycled.actor,
    }
}

/// The scope a `ListRecycled` page token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RecycledScope {
    pool_id: Uuid,
    previous_owner_id: Option<String>,
}

#[tonic::async_trait]
impl RecycleService for RecycleApi {
    #[tracing::instrument(skip_all, fields(rpc = "ListUpcomingRecycles"))]
    async fn list_upcoming_recycles(
        &self,
        request: Request<proto::ListUpcomingRecyclesRequest>,
    ) -> Result<Response<proto::ListUpcomingRecyclesResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let pool_id = v.optional_uuid("pool_id", &req.pool_id);
        let mut owner_id = user_filter(&mut v, &actor, "owner_id", &req.owner_id);
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
        v.finish(())?;
        let filter = UpcomingFilter {
            pool_id,
            owner_id,
            until,
        };
        let after: Option<(DateTime<Utc>, Uuid)> = page_token::decode(&req.page_token, &filter)?;
        self.require_reader(&actor, pool_id).await?;
        let now = self.ctx.clock.now();
        let rows = store::recycle::upcoming(
            &self.ctx.db,
            &actor.tenant_id,
            &filter,
            now,
            after,
            page.fetch_limit(),
        )
        .await?;
        let (rows, next_page_token) =
            page_token::paginate(rows, page.get(), &filter, |u| (u.next_at(), u.lead_id));
        Ok(Response::new(proto::ListUpcomingRecyclesResponse {
            recycles: rows.into_iter().map(upcoming).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "RunRecycle"))]
    async fn run_recycle(
        &self,
        request: Request<proto::RunRecycleRequest>,
    ) -> Result<Response<proto::RunRecycleResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let pool_id = v.optional_uuid("pool_id", &req.pool_id);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        actor.require_admin()?;
        if let Some(pool_id) = pool_id {
            store::pools::access(&self.ctx.db, &actor.tenant_id, pool_id, &actor.user_id).await?;
        }
        let response = idempotency::once_after(
            &self.ctx,
            &actor,
            "RunRecycle",
            request_id,
            &req,
            async || self.sweep(&actor, pool_id, req.dry_run, request_id).await,
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListRecycled"))]
    async fn list_recycled(
        &self,
        request: Request<proto::ListRecycledRequest>,
    ) -> Result<Response<proto::ListRecycledResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let pool_id = v.uuid("pool_id", &req.pool_id);
        let previous_owner_id =
            user_filter(&mut v, &actor, "previous_owner_id", &req.previous_owner_id);
        let page = PageSize::parse(&mut v, req.page_size);
        v.finish(())?;
        let scope = RecycledScope {
            pool_id,
            previous_owner_id,
        };
        let before_seq: Option<i64> = page_token::decode(&req.page_token, &scope)?;
        self.require_reader(&actor, Some(pool_id)).await?;
        let rows = store::recycle::recycled(
            &self.ctx.db,
            &actor.tenant_id,
            pool_id,
            scope.previous_owner_id.as_deref(),
            before_seq,
            page.fetch_limit(),
        )
        .await?;
        let (rows, next_page_token) = page_token::paginate(rows, page.get(), &scope, |r| r.seq);
        Ok(Response::new(proto::ListRecycledResponse {
            recycled: rows.into_iter().map(recycled).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ExtendDeadline"))]
    async fn extend_deadline(
        &self,
        request: Request<proto::ExtendDeadlineRequest>,
    ) -> Result<Response<proto::ExtendDeadlineResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let now = self.ctx.clock.now();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let kind = deadline_kind(&mut v, req.deadline);
        let until = required_time(&mut v, "until", req.until.as_ref());
        if req.until.is_some() && until <= now {
            v.violation("until", "must be in the future");
        }
        let reason = v.required_text("reason", &req.reason, MAX_CODE_CHARS);
        let note = v.optional_text("note", &req.note, MAX_NOTE_CHARS);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let extension = Extension {
            lead_id,
            kind,
            until,
            reason: &reason,
            note: Some(note.as_str()).filter(|n| !n.is_empty()),
            request_id,
            now,
        };
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "ExtendDeadline",
            request_id,
            &req,
            async |conn| {
                let view = store::leads::get(&mut *conn, &actor, lead_id).await?;
                let (pool_id, owner_id) = (view.lead.pool_id, view.lead.owner_id.as_deref());
                actor.require_lead_reader(pool_id, owner_id, view.viewer)?;
                actor.require_manager(pool_id, view.viewer)?;
                let changed =
                    store::recycle::extend_deadline(&mut *conn, &actor, &extension).await?;
                let view = store::leads::get(&mut *conn, &actor, lead_id).await?;
                if changed.is_none() {
                    recycle::explain_extend_refusal(&view.lead, kind, until)?;
                }
                Ok(proto::ExtendDeadlineResponse {
                    lead: Some(lead_message(&actor, view)),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }
}
