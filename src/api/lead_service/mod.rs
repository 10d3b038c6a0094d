//! `leadpool.v1.LeadService`: create, read, list, edit, claim, release, close, follow up,
//! import and history of leads. Each RPC parses its request (`convert::lead`, `follow_up`,
//! `import`), runs one use case of `service::leads` and maps the result back.

mod stream;

use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::lead::lead_message;
use super::convert::{self, acceptance, follow_up, import, lead};
use super::{Context, auth, page_token, unary};
use crate::api::Reply;
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::listing::SortValue;
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
        let parse = |r: &GetLeadRequest| convert::id("lead_id", &r.lead_id);
        let respond = lead::with_lead(|lead| GetLeadResponse { lead });
        unary(&self.ctx, request, parse, leads::get, respond).await
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
        let after: Option<(SortValue, Uuid)> = page_token::decode(&req.page_token, &scope)?;
        if after.as_ref().is_some_and(|(value, _)| !order.fits(value)) {
            return Err(DomainError::BadPageToken.into());
        }
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
        let respond = lead::with_lead(|lead| ClaimLeadResponse { lead });
        unary(&self.ctx, request, lead::parse_claim, leads::claim, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ClaimNext"))]
    async fn claim_next(&self, request: Request<ClaimNextRequest>) -> Reply<ClaimNextResponse> {
        let parse = lead::parse_claim_next;
        let respond = lead::with_lead(|lead| ClaimNextResponse { lead });
        unary(&self.ctx, request, parse, leads::claim_next, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "AcceptLead"))]
    async fn accept_lead(&self, request: Request<AcceptLeadRequest>) -> Reply<AcceptLeadResponse> {
        let parse = acceptance::parse_accept;
        let respond = lead::with_lead(|lead| AcceptLeadResponse { lead });
        unary(
            &self.ctx,
            request,
            parse,
            service::acceptance::accept_lead,
            respond,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeclineLead"))]
    async fn decline_lead(
        &self,
        request: Request<DeclineLeadRequest>,
    ) -> Reply<DeclineLeadResponse> {
        let parse = acceptance::parse_decline;
        let respond = |_: &Actor, outcome| acceptance::declined(outcome);
        unary(
            &self.ctx,
            request,
            parse,
            service::acceptance::decline_lead,
            respond,
        )
        .await
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
        let parse = lead::parse_claim_many;
        let respond = lead::claim_leads_response;
        unary(&self.ctx, request, parse, leads::claim_many, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReleaseLead"))]
    async fn release_lead(
        &self,
        request: Request<ReleaseLeadRequest>,
    ) -> Reply<ReleaseLeadResponse> {
        let parse = lead::parse_release;
        let respond = lead::with_lead(|lead| ReleaseLeadResponse { lead });
        unary(&self.ctx, request, parse, leads::release, respond).await
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
        let parse =
            |r: &LockLeadRequest| lead::parse_transition(&r.lead_id, &r.note, &r.request_id);
        let respond = lead::with_lead(|lead| LockLeadResponse { lead });
        unary(&self.ctx, request, parse, leads::lock, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "UnlockLead"))]
    async fn unlock_lead(&self, request: Request<UnlockLeadRequest>) -> Reply<UnlockLeadResponse> {
        let parse =
            |r: &UnlockLeadRequest| lead::parse_transition(&r.lead_id, &r.note, &r.request_id);
        let respond = lead::with_lead(|lead| UnlockLeadResponse { lead });
        unary(&self.ctx, request, parse, leads::unlock, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ConvertLead"))]
    async fn convert_lead(
        &self,
        request: Request<ConvertLeadRequest>,
    ) -> Reply<ConvertLeadResponse> {
        let parse =
            |r: &ConvertLeadRequest| lead::parse_transition(&r.lead_id, &r.note, &r.request_id);
        let respond = lead::with_lead(|lead| ConvertLeadResponse { lead });
        unary(&self.ctx, request, parse, leads::convert, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "DiscardLead"))]
    async fn discard_lead(
        &self,
        request: Request<DiscardLeadRequest>,
    ) -> Reply<DiscardLeadResponse> {
        let parse = lead::parse_discard;
        let respond = lead::with_lead(|lead| DiscardLeadResponse { lead });
        unary(&self.ctx, request, parse, leads::discard, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReopenLead"))]
    async fn reopen_lead(&self, request: Request<ReopenLeadRequest>) -> Reply<ReopenLeadResponse> {
        let parse =
            |r: &ReopenLeadRequest| lead::parse_transition(&r.lead_id, &r.note, &r.request_id);
        let respond = lead::with_lead(|lead| ReopenLeadResponse { lead });
        unary(&self.ctx, request, parse, leads::reopen, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "MoveLead"))]
    async fn move_lead(&self, request: Request<MoveLeadRequest>) -> Reply<MoveLeadResponse> {
        let parse = lead::parse_move;
        let respond = lead::with_lead(|lead| MoveLeadResponse { lead });
        unary(&self.ctx, request, parse, leads::move_to_pool, respond).await
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
        let parse = |r: &RecordFollowUpRequest| follow_up::parse_record(r, self.ctx.clock.now());
        let respond = |actor: &Actor, recorded: leads::FollowUpRecorded| RecordFollowUpResponse {
            follow_up: Some(follow_up::follow_up(recorded.follow_up)),
            lead: Some(lead_message(actor, recorded.lead)),
        };
        unary(&self.ctx, request, parse, leads::record_follow_up, respond).await
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
