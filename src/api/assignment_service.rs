//! `leadpool.v1.AssignmentService`: assign, transfer, distribute (and preview) and offboard.

use tonic::{Request, Response};

use super::Reply;
use super::convert::assignment as convert;
use super::convert::lead::with_lead;
use super::{Context, auth, unary};
use crate::domain::access::Actor;
use crate::proto::assignment_service_server::AssignmentService;
use crate::proto::{
    AssignLeadRequest, AssignLeadResponse, DistributeRequest, DistributeResponse,
    OffboardMemberRequest, OffboardMemberResponse, PreviewDistributionRequest,
    PreviewDistributionResponse, TransferLeadsRequest, TransferLeadsResponse,
};
use crate::service::assignment::{self, Transferred};

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
        let parse = convert::assign;
        let respond = with_lead(|lead| AssignLeadResponse { lead });
        unary(&self.ctx, request, parse, assignment::assign, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "TransferLeads"))]
    async fn transfer_leads(
        &self,
        request: Request<TransferLeadsRequest>,
    ) -> Reply<TransferLeadsResponse> {
        let parse = convert::transfer;
        let respond = |_: &Actor, done: Transferred| TransferLeadsResponse {
            lead_ids: done.lead_ids.iter().map(ToString::to_string).collect(),
            transferred: i32::try_from(done.transferred).unwrap_or(i32::MAX),
        };
        unary(&self.ctx, request, parse, assignment::transfer, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "Distribute"))]
    async fn distribute(&self, request: Request<DistributeRequest>) -> Reply<DistributeResponse> {
        let parse = convert::distribute;
        let respond = |_: &Actor, plan| DistributeResponse {
            plan: Some(convert::plan(plan)),
        };
        unary(&self.ctx, request, parse, assignment::distribute, respond).await
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
