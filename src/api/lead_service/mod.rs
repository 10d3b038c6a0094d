//! `leadpool.v1.LeadService`: create, read, list, edit, claim, release, close, follow up,
//! import and history of leads. Each RPC parses its request (`convert::lead`, `follow_up`,
//! `import`), runs one use case of `service::leads` and maps the result back.

mod stream;

use tonic::{Request, Response, Status};

use super::convert::{self, follow_up, import, lead};
use super::{Context, auth, page_token};
use crate::domain::page::PageSize;
use crate::domain::validate::Validator;
use crate::proto;
use crate::proto::lead_service_server::LeadService;
use crate::service::leads;

// Other services show leads as this one does.
pub(super) use super::convert::lead::lead_message;

#[derive(Debug, Clone)]
pub struct LeadApi {
    ctx: Context,
}

impl LeadApi {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }
}

/// The `(lead_id, page_size, page_token)` of a paged read of one lead's records.
fn lead_page(lead_id: &str, page_size: i32) -> Result<(uuid::Uuid, PageSize), Status> {
    let mut v = Validator::new();
    let lead_id = v.uuid("lead_id", lead_id);
    let page = PageSize::parse(&mut v, page_size);
    Ok(v.finish((lead_id, page))?)
}

#[tonic::async_trait]
impl LeadService for LeadApi {
    #[tracing::instrument(skip_all, fields(rpc = "CreateLead"))]
    async fn create_lead(
        &self,
        request: Request<proto::CreateLeadRequest>,
    ) -> Result<Response<proto::CreateLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_create(request.into_inner())?;
        let view = leads::create(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::CreateLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetLead"))]
    async fn get_lead(
        &self,
        request: Request<proto::GetLeadRequest>,
    ) -> Result<Response<proto::GetLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &request.get_ref().lead_id);
        v.finish(())?;
        let view = leads::get(&self.ctx, &actor, lead_id).await?;
        Ok(Response::new(proto::GetLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListLeads"))]
    async fn list_leads(
        &self,
        request: Request<proto::ListLeadsRequest>,
    ) -> Result<Response<proto::ListLeadsResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let lead::Listing {
            filter,
            order,
            page,
        } = lead::parse_listing(&req, &actor)?;
        let scope = (filter, order);
        let after = page_token::decode(&req.page_token, &scope)?;
        let limit = page.fetch_limit();
        let views = leads::list(&self.ctx, &actor, &scope.0, order, after, limit).await?;
        let (views, next_page_token) =
            page_token::paginate(views, page.get(), &scope, |l| order.position_after(&l.lead));
        Ok(Response::new(proto::ListLeadsResponse {
            leads: views
                .into_iter()
                .map(|view| lead_message(&actor, view))
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ClaimLead"))]
    async fn claim_lead(
        &self,
        request: Request<proto::ClaimLeadRequest>,
    ) -> Result<Response<proto::ClaimLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_claim(request.get_ref())?;
        let view = leads::claim(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::ClaimLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ClaimLeads"))]
    async fn claim_leads(
        &self,
        request: Request<proto::ClaimLeadsRequest>,
    ) -> Result<Response<proto::ClaimLeadsResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_claim_many(request.get_ref())?;
        let results = leads::claim_many(&self.ctx, &actor, command).await?;
        Ok(Response::new(lead::claim_leads_response(&actor, results)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReleaseLead"))]
    async fn release_lead(
        &self,
        request: Request<proto::ReleaseLeadRequest>,
    ) -> Result<Response<proto::ReleaseLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_release(request.get_ref())?;
        let view = leads::release(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::ReleaseLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetLeadHistory"))]
    async fn get_lead_history(
        &self,
        request: Request<proto::GetLeadHistoryRequest>,
    ) -> Result<Response<proto::GetLeadHistoryResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let (lead_id, page) = lead_page(&req.lead_id, req.page_size)?;
        let after_seq: Option<i64> = page_token::decode(&req.page_token, &lead_id)?;
        let limit = page.fetch_limit();
        let events = leads::history(&self.ctx, &actor, lead_id, after_seq, limit).await?;
        let (events, next_page_token) =
            page_token::paginate(events, page.get(), &lead_id, |e| e.seq);
        Ok(Response::new(proto::GetLeadHistoryResponse {
            events: events.into_iter().map(convert::event).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "LockLead"))]
    async fn lock_lead(
        &self,
        request: Request<proto::LockLeadRequest>,
    ) -> Result<Response<proto::LockLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let command = lead::parse_transition(&req.lead_id, &req.note, &req.request_id)?;
        let view = leads::lock(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::LockLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UnlockLead"))]
    async fn unlock_lead(
        &self,
        request: Request<proto::UnlockLeadRequest>,
    ) -> Result<Response<proto::UnlockLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let command = lead::parse_transition(&req.lead_id, &req.note, &req.request_id)?;
        let view = leads::unlock(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::UnlockLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ConvertLead"))]
    async fn convert_lead(
        &self,
        request: Request<proto::ConvertLeadRequest>,
    ) -> Result<Response<proto::ConvertLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let command = lead::parse_transition(&req.lead_id, &req.note, &req.request_id)?;
        let view = leads::convert(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::ConvertLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "DiscardLead"))]
    async fn discard_lead(
        &self,
        request: Request<proto::DiscardLeadRequest>,
    ) -> Result<Response<proto::DiscardLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_discard(request.get_ref())?;
        let view = leads::discard(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::DiscardLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReopenLead"))]
    async fn reopen_lead(
        &self,
        request: Request<proto::ReopenLeadRequest>,
    ) -> Result<Response<proto::ReopenLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let command = lead::parse_transition(&req.lead_id, &req.note, &req.request_id)?;
        let view = leads::reopen(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::ReopenLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "MoveLead"))]
    async fn move_lead(
        &self,
        request: Request<proto::MoveLeadRequest>,
    ) -> Result<Response<proto::MoveLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_move(request.get_ref())?;
        let view = leads::move_to_pool(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::MoveLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateLead"))]
    async fn update_lead(
        &self,
        request: Request<proto::UpdateLeadRequest>,
    ) -> Result<Response<proto::UpdateLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_update(request.into_inner())?;
        let view = leads::update(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::UpdateLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "RecordFollowUp"))]
    async fn record_follow_up(
        &self,
        request: Request<proto::RecordFollowUpRequest>,
    ) -> Result<Response<proto::RecordFollowUpResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = follow_up::parse_record(request.get_ref(), self.ctx.clock.now())?;
        let recorded = leads::record_follow_up(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::RecordFollowUpResponse {
            follow_up: Some(follow_up::follow_up(recorded.follow_up)),
            lead: Some(lead_message(&actor, recorded.lead)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListFollowUps"))]
    async fn list_follow_ups(
        &self,
        request: Request<proto::ListFollowUpsRequest>,
    ) -> Result<Response<proto::ListFollowUpsResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let (lead_id, page) = lead_page(&req.lead_id, req.page_size)?;
        let after = page_token::decode(&req.page_token, &lead_id)?;
        let limit = page.fetch_limit();
        let follow_ups = leads::follow_ups(&self.ctx, &actor, lead_id, after, limit).await?;
        let (follow_ups, next_page_token) =
            page_token::paginate(follow_ups, page.get(), &lead_id, |f| (f.occurred_at, f.id));
        Ok(Response::new(proto::ListFollowUpsResponse {
            follow_ups: follow_ups.into_iter().map(follow_up::follow_up).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ImportLeads"))]
    async fn import_leads(
        &self,
        request: Request<proto::ImportLeadsRequest>,
    ) -> Result<Response<proto::ImportLeadsResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = import::parse_import(request.into_inner())?;
        let outcomes = leads::import(&self.ctx, &actor, command).await?;
        Ok(Response::new(import::import_response(outcomes)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ImportLeadsStream"))]
    async fn import_leads_stream(
        &self,
        request: Request<tonic::Streaming<proto::ImportLeadsStreamRequest>>,
    ) -> Result<Response<proto::ImportLeadsStreamResponse>, Status> {
        let actor = auth::actor(&request)?;
        let mut messages = request.into_inner();
        let first = messages.message().await?;
        let target = import::parse_stream_target(first.as_ref())?;
        let rows = stream::rows(first, messages);
        let summary = leads::import_stream(&self.ctx, &actor, target, rows).await?;
        Ok(Response::new(import::import_stream_response(summary)))
    }
}
