//! AvailabilityService: leave and cover.

use tonic::{Request, Response};

use crate::api::Reply;
use crate::api::convert::absence as convert;
use crate::api::{auth, unary};
use crate::domain::access::Actor;
use crate::proto::availability_service_server::AvailabilityService;
use crate::proto::{
    ClearAwayRequest, ClearAwayResponse, ListAwayRequest, ListAwayResponse, SetAwayRequest,
    SetAwayResponse,
};
use crate::service::Context;
use crate::service::absences;

pub struct AvailabilityApi {
    ctx: Context,
}

impl AvailabilityApi {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl AvailabilityService for AvailabilityApi {
    #[tracing::instrument(skip_all, fields(rpc = "SetAway"))]
    async fn set_away(&self, request: Request<SetAwayRequest>) -> Reply<SetAwayResponse> {
        let actor = auth::actor(&request)?;
        let now = self.ctx.clock.now();
        let command = convert::parse_set_away(request.get_ref(), &actor, now)?;
        let absence = absences::set_away(&self.ctx, &actor, command).await?;
        let absence = Some(convert::absence(absence));
        Ok(Response::new(SetAwayResponse { absence }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ClearAway"))]
    async fn clear_away(&self, request: Request<ClearAwayRequest>) -> Reply<ClearAwayResponse> {
        let parse = convert::parse_clear_away;
        let respond = |_: &Actor, ended| convert::clear_away_response(ended);
        unary(&self.ctx, request, parse, absences::clear_away, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListAway"))]
    async fn list_away(&self, request: Request<ListAwayRequest>) -> Reply<ListAwayResponse> {
        let actor = auth::actor(&request)?;
        let query = convert::parse_list_away(request.get_ref(), &actor)?;
        let listed = absences::list_away(&self.ctx, &actor, query.clone()).await?;
        Ok(Response::new(convert::list_away_response(
            listed, &query, &actor,
        )))
    }
}
