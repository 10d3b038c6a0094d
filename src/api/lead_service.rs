//! `leadpool.v1.LeadService`: create, read, list, claim, release and history of leads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Context, convert, identity, page_token};
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::lead::{self, LeadDraft, LeadState, NewLead, ReleaseReason};
use crate::domain::masking;
use crate::domain::page::PageSize;
use crate::domain::validate::{MAX_CODE_CHARS, Validator};
use crate::proto;
use crate::proto::lead_service_server::LeadService;
use crate::store;
use crate::store::leads::{CreateLead, LeadFilter, LeadView};

/// `owner_id` value that means the caller.
const OWNER_ME: &str = "me";

#[derive(Debug, Clone)]
pub struct LeadApi {
    ctx: Context,
}

impl LeadApi {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// A lead the actor may read, or the reason they may not.
    async fn readable_lead(&self, actor: &Actor, lead_id: Uuid) -> Result<LeadView, DomainError> {
        let view = store::leads::get(&self.ctx.db, actor, lead_id).await?;
        actor.require_lead_reader(
            view.lead.pool_id,
            view.lead.owner_id.as_deref(),
            view.viewer,
        )?;
        Ok(view)
    }
}

/// The lead as this actor may see it: contacts masked unless they own it, manage its pool,
/// or the pool does not mask.
fn lead_response(actor: &Actor, view: LeadView) -> Option<proto::Lead> {
    let visible = masking::sees_contacts(
        actor,
        view.lead.owner_id.as_deref(),
        view.viewer,
        view.pool_masks_contacts,
    );
    let mut lead = view.lead;
    if !visible {
        lead.phone = masking::mask_phone(&lead.phone);
        lead.email = masking::mask_email(&lead.email);
    }
    Some(proto::Lead {
        contact_masked: !visible,
        ..convert::lead(lead)
    })
}

/// A state filter; unspecified means any state, an unknown number is a violation.
fn state_filter(v: &mut Validator, state: i32) -> Option<LeadState> {
    match proto::LeadState::try_from(state) {
        Ok(proto::LeadState::Unspecified) => None,
        Ok(proto::LeadState::InPool) => Some(LeadState::InPool),
        Ok(proto::LeadState::Owned) => Some(LeadState::Owned),
        Ok(proto::LeadState::Converted) => Some(LeadState::Converted),
        Ok(proto::LeadState::Discarded) => Some(LeadState::Discarded),
        Err(_) => {
            v.violation("state", format!("unknown state {state}"));
            None
        }
    }
}

fn lead_draft(lead: &proto::NewLead) -> LeadDraft<'_> {
    LeadDraft {
        external_ref: &lead.external_ref,
        name: &lead.name,
        company: &lead.company,
        phone: &lead.phone,
        email: &lead.email,
        source: &lead.source,
        region: &lead.region,
        industry: &lead.industry,
        grade: &lead.grade,
        tags: &lead.tags,
        attributes: Some(&lead.attributes),
    }
}

/// The scope a `ListLeads` page token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ListScope {
    pool_id: Option<Uuid>,
    owner_id: Option<String>,
    state: Option<String>,
}

#[tonic::async_trait]
impl LeadService for LeadApi {
    #[tracing::instrument(skip_all, fields(rpc = "CreateLead"))]
    async fn create_lead(
        &self,
        request: Request<proto::CreateLeadRequest>,
    ) -> Result<Response<proto::CreateLeadResponse>, Status> {
        let actor = identity::actor(request.metadata())?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let pool_id = v.uuid("pool_id", &req.pool_id);
        let draft = req.lead.as_ref().map(lead_draft).unwrap_or_default();
        if req.lead.is_none() {
            v.violation("lead", "is required");
        }
        let new_lead = NewLead::parse(&mut v, "lead.", &draft);
        let owner_id = v.optional_text("owner_id", &req.owner_id, MAX_CODE_CHARS);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;

        let access =
            store::pools::access(&self.ctx.db, &actor.tenant_id, pool_id, &actor.user_id).await?;
        actor.require_lead_creator(pool_id, access.membership)?;
        if access.pool.archived_at.is_some() {
            return Err(DomainError::PoolArchived(pool_id).into());
        }
        let owner_id = Some(owner_id.as_str()).filter(|o| !o.is_empty());
        let create = CreateLead {
            pool_id,
            lead: &new_lead,
            owner_id,
            request_id,
        };
        let created =
            store::leads::create(&self.ctx.db, &actor, &create, self.ctx.clock.now()).await?;
        let view = match (created, owner_id) {
            (Some(view), _) => view,
            (None, Some(owner)) => {
                let standing =
                    store::leads::standing(&self.ctx.db, &actor.tenant_id, pool_id, owner).await?;
                return Err(lead::explain_owner_refusal(pool_id, owner, standing).into());
            }
            (None, None) => return Err(DomainError::ConcurrentModification.into()),
        };
        Ok(Response::new(proto::CreateLeadResponse {
            lead: lead_response(&actor, view),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetLead"))]
    async fn get_lead(
        &self,
        request: Request<proto::GetLeadRequest>,
    ) -> Result<Response<proto::GetLeadResponse>, Status> {
        let actor = identity::actor(request.metadata())?;
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &request.get_ref().lead_id);
        v.finish(())?;
        let view = self.readable_lead(&actor, lead_id).await?;
        Ok(Response::new(proto::GetLeadResponse {
            lead: lead_response(&actor, view),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListLeads"))]
    async fn list_leads(
        &self,
        request: Request<proto::ListLeadsRequest>,
    ) -> Result<Response<proto::ListLeadsResponse>, Status> {
        let actor = identity::actor(request.metadata())?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let pool_id = v.optional_uuid("pool_id", &req.pool_id);
        let owner = v.optional_text("owner_id", &req.owner_id, MAX_CODE_CHARS);
        let state = state_filter(&mut v, req.state);
        let page = PageSize::parse(&mut v, req.page_size);
        v.finish(())?;

        let filter = LeadFilter {
            pool_id,
            owner_id: match owner.as_str() {
                "" => None,
                OWNER_ME => Some(actor.user_id.clone()),
                other => Some(other.to_owned()),
            },
            state,
        };
        let scope = ListScope {
            pool_id: filter.pool_id,
            owner_id: filter.owner_id.clone(),
            state: filter.state.map(|s| s.as_str().to_owned()),
        };
        let after: Option<(DateTime<Utc>, Uuid)> = page_token::decode(&req.page_token, &scope)?;
        if let Some(pool_id) = pool_id {
            let access =
                store::pools::access(&self.ctx.db, &actor.tenant_id, pool_id, &actor.user_id)
                    .await?;
            // Without access to the pool, a member may still list the leads they own in it.
            if filter.owner_id.as_deref() != Some(actor.user_id.as_str()) {
                actor.require_pool_reader(pool_id, access.membership)?;
            }
        }
        let leads =
            store::leads::list(&self.ctx.db, &actor, &filter, after, page.fetch_limit()).await?;
        let (leads, next_page_token) = page_token::paginate(leads, page.get(), &scope, |l| {
            (l.lead.created_at, l.lead.id)
        });
        Ok(Response::new(proto::ListLeadsResponse {
            leads: leads
                .into_iter()
                .filter_map(|view| lead_response(&actor, view))
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ClaimLead"))]
    async fn claim_lead(
        &self,
        request: Request<proto::ClaimLeadRequest>,
    ) -> Result<Response<proto::ClaimLeadResponse>, Status> {
        let actor = identity::actor(request.metadata())?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;

        let now = self.ctx.clock.now();
        let claimed = store::leads::claim(&self.ctx.db, &actor, lead_id, request_id, now).await?;
        let view = match claimed {
            Some(view) => view,
            None => {
                let snapshot =
                    store::leads::claim_snapshot(&self.ctx.db, &actor, lead_id, now).await?;
                lead::explain_claim_refusal(&snapshot, &actor.user_id, now)?;
                store::leads::get(&self.ctx.db, &actor, lead_id).await?
            }
        };
        Ok(Response::new(proto::ClaimLeadResponse {
            lead: lead_response(&actor, view),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReleaseLead"))]
    async fn release_lead(
        &self,
        request: Request<proto::ReleaseLeadRequest>,
    ) -> Result<Response<proto::ReleaseLeadResponse>, Status> {
        let actor = identity::actor(request.metadata())?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let reason = ReleaseReason::parse(&mut v, &req.reason, &req.note);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;

        let now = self.ctx.clock.now();
        let released =
            store::leads::release(&self.ctx.db, &actor, lead_id, &reason, request_id, now).await?;
        let view = match released {
            Some(view) => view,
            None => {
                let snapshot =
                    store::leads::release_snapshot(&self.ctx.db, &actor, lead_id).await?;
                lead::explain_release_refusal(&snapshot, &actor.user_id, &reason.reason)?;
                store::leads::get(&self.ctx.db, &actor, lead_id).await?
            }
        };
        Ok(Response::new(proto::ReleaseLeadResponse {
            lead: lead_response(&actor, view),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetLeadHistory"))]
    async fn get_lead_history(
        &self,
        request: Request<proto::GetLeadHistoryRequest>,
    ) -> Result<Response<proto::GetLeadHistoryResponse>, Status> {
        let actor = identity::actor(request.metadata())?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let page = PageSize::parse(&mut v, req.page_size);
        v.finish(())?;
        let after_seq: Option<i64> = page_token::decode(&req.page_token, &lead_id)?;
        self.readable_lead(&actor, lead_id).await?;
        let events = store::events::lead_history(
            &self.ctx.db,
            &actor.tenant_id,
            lead_id,
            after_seq,
            page.fetch_limit(),
        )
        .await?;
        let (events, next_page_token) =
            page_token::paginate(events, page.get(), &lead_id, |e| e.seq);
        Ok(Response::new(proto::GetLeadHistoryResponse {
            events: events.into_iter().map(convert::event).collect(),
            next_page_token,
        }))
    }
}
