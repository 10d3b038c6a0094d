//! `leadpool.v1.RecycleService`: what will be recycled, sweeping on demand, what was recycled,
//! and moving a deadline.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tonic::{Request, Response};
use uuid::Uuid;

use super::Reply;
use super::convert::lead::with_lead;
use super::convert::recycle as convert;
use super::{Context, auth, page_token, unary};
use crate::config::RecycleSettings;
use crate::proto::recycle_service_server::RecycleService;
use crate::proto::{
    ExtendDeadlineRequest, ExtendDeadlineResponse, ListRecycledRequest, ListRecycledResponse,
    ListUpcomingRecyclesRequest, ListUpcomingRecyclesResponse, RunRecycleRequest,
    RunRecycleResponse,
};
use crate::service::recycle;

#[derive(Debug, Clone)]
pub struct RecycleApi {
    ctx: Context,
    settings: RecycleSettings,
}

impl RecycleApi {
    pub fn new(ctx: Context, settings: RecycleSettings) -> Self {
        Self { ctx, settings }
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
        request: Request<ListUpcomingRecyclesRequest>,
    ) -> Reply<ListUpcomingRecyclesResponse> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let (filter, page) = convert::upcoming_filter(&actor, req)?;
        let after: Option<(DateTime<Utc>, Uuid)> = page_token::decode(&req.page_token, &filter)?;
        let rows = recycle::upcoming(&self.ctx, &actor, &filter, after, page.fetch_limit()).await?;
        let (rows, next_page_token) =
            page_token::paginate(rows, page.get(), &filter, |u| (u.next_at(), u.lead_id));
        Ok(Response::new(ListUpcomingRecyclesResponse {
            recycles: rows.into_iter().map(convert::upcoming).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "RunRecycle"))]
    async fn run_recycle(&self, request: Request<RunRecycleRequest>) -> Reply<RunRecycleResponse> {
        let actor = auth::actor(&request)?;
        let command = convert::run_recycle(request.get_ref())?;
        let dry_run = command.dry_run;
        let batch = self.settings.batch();
        let swept = recycle::run_recycle(&self.ctx, &actor, batch, command).await?;
        Ok(Response::new(convert::swept(swept, dry_run)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListRecycled"))]
    async fn list_recycled(
        &self,
        request: Request<ListRecycledRequest>,
    ) -> Reply<ListRecycledResponse> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let (pool_id, previous_owner_id, page) = convert::recycled_scope(&actor, req)?;
        let scope = RecycledScope {
            pool_id,
            previous_owner_id,
        };
        let before_seq: Option<i64> = page_token::decode(&req.page_token, &scope)?;
        let owner = scope.previous_owner_id.as_deref();
        let limit = page.fetch_limit();
        let rows = recycle::recycled(&self.ctx, &actor, pool_id, owner, before_seq, limit).await?;
        let (rows, next_page_token) = page_token::paginate(rows, page.get(), &scope, |r| r.seq);
        Ok(Response::new(ListRecycledResponse {
            recycled: rows.into_iter().map(convert::recycled).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ExtendDeadline"))]
    async fn extend_deadline(
        &self,
        request: Request<ExtendDeadlineRequest>,
    ) -> Reply<ExtendDeadlineResponse> {
        let parse = |r: &ExtendDeadlineRequest| convert::extend_deadline(r, self.ctx.clock.now());
        let respond = with_lead(|lead| ExtendDeadlineResponse { lead });
        unary(&self.ctx, request, parse, recycle::extend_deadline, respond).await
    }
}
