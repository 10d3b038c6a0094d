//! `leadpool.v1.AssignmentService`: assign, transfer, distribute (and preview) and offboard.

use tonic::{Request, Response, Status};

use super::convert::assignment as convert;
use super::{Context, auth};
use crate::proto;
use crate::proto::assignment_service_server::AssignmentService;
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
    async fn assign_lead(
        &self,
        request: Request<proto::AssignLeadRequest>,
    ) -> Result<Response<proto::AssignLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = convert::assign(request.get_ref())?;
        let view = assignment::assign(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::AssignLeadResponse {
            lead: convert::shown_lead(&actor, view),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "TransferLeads"))]
    async fn transfer_leads(
        &self,
        request: Request<proto::TransferLeadsRequest>,
    ) -> Result<Response<proto::TransferLeadsResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = convert::transfer(request.get_ref())?;
        let done = assignment::transfer(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::TransferLeadsResponse {
            lead_ids: done.lead_ids.iter().map(ToString::to_string).collect(),
            transferred: i32::try_from(done.transferred).unwrap_or(i32::MAX),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "Distribute"))]
    async fn distribute(
        &self,
        request: Request<proto::DistributeRequest>,
    ) -> Result<Response<proto::DistributeResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = convert::distribute(request.get_ref())?;
        let plan = assignment::distribute(&self.ctx, &actor, command).await?;
        Ok(Response::new(proto::DistributeResponse {
            plan: Some(convert::plan(plan)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "PreviewDistribution"))]
    async fn preview_distribution(
        &self,
        request: Request<proto::PreviewDistributionRequest>,
    ) -> Result<Response<proto::PreviewDistributionResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = convert::preview_distribution(request.get_ref())?;
        let plan = assignment::preview_distribution(&self.ctx, &actor, &command).await?;
        Ok(Response::new(proto::PreviewDistributionResponse {
            plan: Some(convert::plan(plan)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "OffboardMember"))]
    async fn offboard_member(
        &self,
        request: Request<proto::OffboardMemberRequest>,
    ) -> Result<Response<proto::OffboardMemberResponse>, Status> {
        let actor = auth::actor(&request)?;
        let command = convert::offboard(request.get_ref())?;
        let mode = command.mode.clone();
        let report = assignment::offboard(&self.ctx, &actor, command).await?;
        Ok(Response::new(convert::offboard_response(&mode, report)))
    }
}
