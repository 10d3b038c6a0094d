//! ReportService: pool health, each member's results, the fairness ledger.

use tonic::{Request, Response};

use crate::api::Reply;
use crate::api::auth;
use crate::api::convert::report as convert;
use crate::proto::report_service_server::ReportService;
use crate::proto::{
    GetDistributionFairnessRequest, GetDistributionFairnessResponse, GetMemberReportRequest,
    GetMemberReportResponse, GetPoolReportRequest, GetPoolReportResponse,
};
use crate::service::Context;
use crate::service::reports;

pub struct ReportApi {
    ctx: Context,
}

impl ReportApi {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl ReportService for ReportApi {
    #[tracing::instrument(skip_all, fields(rpc = "GetPoolReport"))]
    async fn get_pool_report(
        &self,
        request: Request<GetPoolReportRequest>,
    ) -> Reply<GetPoolReportResponse> {
        let actor = auth::actor(&request)?;
        let (scope, bucket) = convert::pool_report_query(request.get_ref())?;
        let (pool, buckets) =
            reports::pool_report(&self.ctx, &actor, scope.pool_id, scope.period, bucket).await?;
        Ok(Response::new(GetPoolReportResponse {
            buckets: buckets.into_iter().map(convert::pool_bucket).collect(),
            timezone: pool.timezone,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetMemberReport"))]
    async fn get_member_report(
        &self,
        request: Request<GetMemberReportRequest>,
    ) -> Reply<GetMemberReportResponse> {
        let actor = auth::actor(&request)?;
        let (scope, user) = convert::member_report_query(request.get_ref(), &actor)?;
        let rows = reports::member_report(
            &self.ctx,
            &actor,
            scope.pool_id,
            scope.period,
            user.as_deref(),
        )
        .await?;
        Ok(Response::new(GetMemberReportResponse {
            members: rows.into_iter().map(convert::member_row).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetDistributionFairness"))]
    async fn get_distribution_fairness(
        &self,
        request: Request<GetDistributionFairnessRequest>,
    ) -> Reply<GetDistributionFairnessResponse> {
        let actor = auth::actor(&request)?;
        let scope = convert::fairness_query(request.get_ref())?;
        let ledger = reports::fairness(&self.ctx, &actor, scope.pool_id, scope.period).await?;
        Ok(Response::new(convert::fairness_response(ledger)))
    }
}
