//! `leadpool.v1.AssignmentService`: assign, transfer, distribute (and preview) and offboard.

use tonic::{Request, Response};

use super::Reply;
use super::convert::assignment as convert;
use super::{Context, auth};
use crate::proto::assignment_service_server::AssignmentService;
use crate::proto::{
    AssignLeadRequest, AssignLeadResponse, DistributeRequest, DistributeResponse,
    OffboardMemberRequest, OffboardMemberResponse, PreviewDistributionRequest,
    PreviewDistributionResponse, TransferLeadsRequest, TransferLeadsResponse,
};
use crate::service::assignment;

#[derive(Debug, Clone)]
pub struct AssignmentApi {
    ctx: Context,
}

impl AssignmentApi {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl AssignmentService for AssignmentApi {
    #[tracing::instrument(skip_all, fields(rpc = "AssignLead"))]
    async fn assign_lead(&self, request: Request<AssignLeadRequest>) -> Reply<AssignLeadResponse> {
        let actor = auth::actor(&request)?;
        let command = convert::assign(request.get_ref())?;
        let view = assignment::assign(&self.ctx, &actor, command).await?;
        Ok(Response::new(AssignLeadResponse {
            lead: convert::shown_lead(&actor, view),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "TransferLeads"))]
    async fn transfer_leads(
        &self,
        request: Request<TransferLeadsRequest>,
    ) -> Reply<TransferLeadsResponse> {
        let actor = auth::actor(&request)?;
        let command = convert::transfer(request.get_ref())?;
        let done = assignment::transfer(&self.ctx, &actor, command).await?;
        Ok(Response::new(TransferLeadsResponse {
            lead_ids: done.lead_ids.iter().map(ToString::to_string).collect(),
            transferred: i32::try_from(done.transferred).unwrap_or(i32::MAX),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "Distribute"))]
    async fn distribute(&self, request: Request<DistributeRequest>) -> Reply<DistributeResponse> {
        let actor = auth::actor(&request)?;
        let command = convert::distribute(request.get_ref())?;
        let plan = assignment::distribute(&self.ctx, &actor, command).await?;
        Ok(Response::new(DistributeResponse {
            plan: Some(convert::plan(plan)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "PreviewDistribution"))]
    async fn preview_distribution(
        &self,
        request: Request<PreviewDistributionRequest>,
    ) -> Reply<PreviewDistributionResponse> {
        let actor = auth::actor(&request)?;
        let command = convert::preview_distribution(request.get_ref())?;
        let plan = assignment::preview_distribution(&self.ctx, &actor, &command).await?;
        Ok(Response::new(PreviewDistributionResponse {
            plan: Some(convert::plan(plan)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "OffboardMember"))]
    async fn offboard_member(
        &self,
        request: Request<OffboardMemberRequest>,
    ) -> Reply<OffboardMemberResponse> {
        let actor = auth::actor(&request)?;
        let command = convert::offboard(request.get_ref())?;
        let mode = command.mode.clone();
        let report = assignment::offboard(&self.ctx, &actor, command).await?;
        Ok(Response::new(convert::offboard_response(&mode, report)))
    }
}
