//! `leadpool.v1.LeadService`: create, read, list, edit, claim, release, close, follow up,
//! import and history of leads. Each RPC parses its request (`convert::lead`, `follow_up`,
//! `import`), runs one use case of `service::leads` and maps the result back.

mod stream;

use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::{self, acceptance, follow_up, import, lead};
use super::{Context, auth, page_token};
use crate::api::Reply;
use crate::domain::page::PageSize;
use crate::domain::validate::Validator;
use crate::proto::lead_service_server::LeadService;
use crate::proto::{
    AcceptLeadRequest, AcceptLeadResponse, ClaimLeadRequest, ClaimLeadResponse, ClaimLeadsRequest,
    ClaimLeadsResponse, ClaimNextRequest, ClaimNextResponse, ConvertLeadRequest,
    ConvertLeadResponse, CreateLeadRequest, CreateLeadResponse, DeclineLeadRequest,
    DeclineLeadResponse, DiscardLeadRequest, DiscardLeadResponse, GetLeadHistoryRequest,
    GetLeadHistoryResponse, GetLeadRequest, GetLeadResponse, ImportLeadsRequest,
    ImportLeadsResponse, ImportLeadsStreamRequest, ImportLeadsStreamResponse, ListFollowUpsRequest,
    ListFollowUpsResponse, ListLeadsRequest, ListLeadsResponse, ListPendingAcceptanceRequest,
    ListPendingAcceptanceResponse, LockLeadRequest, LockLeadResponse, MoveLeadRequest,
    MoveLeadResponse, RecordFollowUpRequest, RecordFollowUpResponse, ReleaseLeadRequest,
    ReleaseLeadResponse, ReopenLeadRequest, ReopenLeadResponse, UnlockLeadRequest,
    UnlockLeadResponse, UpdateLeadRequest, UpdateLeadResponse,
};
use crate::service::{self, leads};

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
    async fn create_lead(&self, request: Request<CreateLeadRequest>) -> Reply<CreateLeadResponse> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_create(request.into_inner())?;
        let view = leads::create(&self.ctx, &actor, command).await?;
        Ok(Response::new(CreateLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetLead"))]
    async fn get_lead(&self, request: Request<GetLeadRequest>) -> Reply<GetLeadResponse> {
        let actor = auth::actor(&request)?;
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &request.get_ref().lead_id);
        v.finish(())?;
        let view = leads::get(&self.ctx, &actor, lead_id).await?;
        Ok(Response::new(GetLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListLeads"))]
    async fn list_leads(&self, request: Request<ListLeadsRequest>) -> Reply<ListLeadsResponse> {
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
        Ok(Response::new(ListLeadsResponse {
            leads: views
                .into_iter()
                .map(|view| lead_message(&actor, view))
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ClaimLead"))]
    async fn claim_lead(&self, request: Request<ClaimLeadRequest>) -> Reply<ClaimLeadResponse> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_claim(request.get_ref())?;
        let view = leads::claim(&self.ctx, &actor, command).await?;
        Ok(Response::new(ClaimLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ClaimNext"))]
    async fn claim_next(&self, request: Request<ClaimNextRequest>) -> Reply<ClaimNextResponse> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_claim_next(request.get_ref())?;
        let view = leads::claim_next(&self.ctx, &actor, command).await?;
        Ok(Response::new(ClaimNextResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "AcceptLead"))]
    async fn accept_lead(&self, request: Request<AcceptLeadRequest>) -> Reply<AcceptLeadResponse> {
        let actor = auth::actor(&request)?;
        let command = acceptance::parse_accept(request.get_ref())?;
        let view = service::acceptance::accept_lead(&self.ctx, &actor, command).await?;
        Ok(Response::new(AcceptLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeclineLead"))]
    async fn decline_lead(
        &self,
        request: Request<DeclineLeadRequest>,
    ) -> Reply<DeclineLeadResponse> {
        let actor = auth::actor(&request)?;
        let command = acceptance::parse_decline(request.get_ref())?;
        let outcome = service::acceptance::decline_lead(&self.ctx, &actor, command).await?;
        Ok(Response::new(acceptance::declined(outcome)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListPendingAcceptance"))]
    async fn list_pending_acceptance(
        &self,
        request: Request<ListPendingAcceptanceRequest>,
    ) -> Reply<ListPendingAcceptanceResponse> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let (filter, page) = acceptance::pending_filter(&actor, req)?;
        let after: Option<(DateTime<Utc>, Uuid)> = page_token::decode(&req.page_token, &filter)?;
        let views = service::acceptance::pending_acceptance(
            &self.ctx,
            &actor,
            &filter,
            after,
            page.fetch_limit(),
        )
        .await?;
        // Every listed lead is pending, so it has its deadline.
        let (views, next_page_token) = page_token::paginate(views, page.get(), &filter, |v| {
            (v.lead.accept_deadline.unwrap_or_default(), v.lead.id)
        });
        Ok(Response::new(ListPendingAcceptanceResponse {
            leads: views.into_iter().map(|v| lead_message(&actor, v)).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ClaimLeads"))]
    async fn claim_leads(&self, request: Request<ClaimLeadsRequest>) -> Reply<ClaimLeadsResponse> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_claim_many(request.get_ref())?;
        let results = leads::claim_many(&self.ctx, &actor, command).await?;
        Ok(Response::new(lead::claim_leads_response(&actor, results)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReleaseLead"))]
    async fn release_lead(
        &self,
        request: Request<ReleaseLeadRequest>,
    ) -> Reply<ReleaseLeadResponse> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_release(request.get_ref())?;
        let view = leads::release(&self.ctx, &actor, command).await?;
        Ok(Response::new(ReleaseLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetLeadHistory"))]
    async fn get_lead_history(
        &self,
        request: Request<GetLeadHistoryRequest>,
    ) -> Reply<GetLeadHistoryResponse> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let (lead_id, page) = lead_page(&req.lead_id, req.page_size)?;
        let after_seq: Option<i64> = page_token::decode(&req.page_token, &lead_id)?;
        let limit = page.fetch_limit();
        let events = leads::history(&self.ctx, &actor, lead_id, after_seq, limit).await?;
        let (events, next_page_token) =
            page_token::paginate(events, page.get(), &lead_id, |e| e.seq);
        Ok(Response::new(GetLeadHistoryResponse {
            events: events.into_iter().map(convert::event).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "LockLead"))]
    async fn lock_lead(&self, request: Request<LockLeadRequest>) -> Reply<LockLeadResponse> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let command = lead::parse_transition(&req.lead_id, &req.note, &req.request_id)?;
        let view = leads::lock(&self.ctx, &actor, command).await?;
        Ok(Response::new(LockLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UnlockLead"))]
    async fn unlock_lead(&self, request: Request<UnlockLeadRequest>) -> Reply<UnlockLeadResponse> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let command = lead::parse_transition(&req.lead_id, &req.note, &req.request_id)?;
        let view = leads::unlock(&self.ctx, &actor, command).await?;
        Ok(Response::new(UnlockLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ConvertLead"))]
    async fn convert_lead(
        &self,
        request: Request<ConvertLeadRequest>,
    ) -> Reply<ConvertLeadResponse> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let command = lead::parse_transition(&req.lead_id, &req.note, &req.request_id)?;
        let view = leads::convert(&self.ctx, &actor, command).await?;
        Ok(Response::new(ConvertLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "DiscardLead"))]
    async fn discard_lead(
        &self,
        request: Request<DiscardLeadRequest>,
    ) -> Reply<DiscardLeadResponse> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_discard(request.get_ref())?;
        let view = leads::discard(&self.ctx, &actor, command).await?;
        Ok(Response::new(DiscardLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReopenLead"))]
    async fn reopen_lead(&self, request: Request<ReopenLeadRequest>) -> Reply<ReopenLeadResponse> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let command = lead::parse_transition(&req.lead_id, &req.note, &req.request_id)?;
        let view = leads::reopen(&self.ctx, &actor, command).await?;
        Ok(Response::new(ReopenLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "MoveLead"))]
    async fn move_lead(&self, request: Request<MoveLeadRequest>) -> Reply<MoveLeadResponse> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_move(request.get_ref())?;
        let view = leads::move_to_pool(&self.ctx, &actor, command).await?;
        Ok(Response::new(MoveLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateLead"))]
    async fn update_lead(&self, request: Request<UpdateLeadRequest>) -> Reply<UpdateLeadResponse> {
        let actor = auth::actor(&request)?;
        let command = lead::parse_update(request.into_inner())?;
        let view = leads::update(&self.ctx, &actor, command).await?;
        Ok(Response::new(UpdateLeadResponse {
            lead: Some(lead_message(&actor, view)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "RecordFollowUp"))]
    async fn record_follow_up(
        &self,
        request: Request<RecordFollowUpRequest>,
    ) -> Reply<RecordFollowUpResponse> {
        let actor = auth::actor(&request)?;
        let command = follow_up::parse_record(request.get_ref(), self.ctx.clock.now())?;
        let recorded = leads::record_follow_up(&self.ctx, &actor, command).await?;
        Ok(Response::new(RecordFollowUpResponse {
            follow_up: Some(follow_up::follow_up(recorded.follow_up)),
            lead: Some(lead_message(&actor, recorded.lead)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListFollowUps"))]
    async fn list_follow_ups(
        &self,
        request: Request<ListFollowUpsRequest>,
    ) -> Reply<ListFollowUpsResponse> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let (lead_id, page) = lead_page(&req.lead_id, req.page_size)?;
        let after = page_token::decode(&req.page_token, &lead_id)?;
        let limit = page.fetch_limit();
        let follow_ups = leads::follow_ups(&self.ctx, &actor, lead_id, after, limit).await?;
        let (follow_ups, next_page_token) =
            page_token::paginate(follow_ups, page.get(), &lead_id, |f| (f.occurred_at, f.id));
        Ok(Response::new(ListFollowUpsResponse {
            follow_ups: follow_ups.into_iter().map(follow_up::follow_up).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ImportLeads"))]
    async fn import_leads(
        &self,
        request: Request<ImportLeadsRequest>,
    ) -> Reply<ImportLeadsResponse> {
        let actor = auth::actor(&request)?;
        let command = import::parse_import(request.into_inner())?;
        let outcomes = leads::import(&self.ctx, &actor, command).await?;
        Ok(Response::new(import::import_response(outcomes)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ImportLeadsStream"))]
    async fn import_leads_stream(
        &self,
        request: Request<tonic::Streaming<ImportLeadsStreamRequest>>,
    ) -> Reply<ImportLeadsStreamResponse> {
        let actor = auth::actor(&request)?;
        let mut messages = request.into_inner();
        let first = messages.message().await?;
        let import = import::parse_stream_import(first.as_ref())?;
        let rows = stream::rows(first, messages);
        let summary = leads::import_stream(&self.ctx, &actor, import, rows).await?;
        Ok(Response::new(import::import_stream_response(summary)))
    }
}
