//! `leadpool.v1.PoolService`: pools and their members.

use tonic::{Request, Response};

use super::Reply;
use super::{Context, auth, convert, unary};
use crate::domain::access::Actor;
use crate::proto::pool_service_server::PoolService;
use crate::proto::{
    AddMemberRequest, AddMemberResponse, ArchivePoolRequest, ArchivePoolResponse,
    CreatePoolRequest, CreatePoolResponse, GetMemberStatsRequest, GetMemberStatsResponse,
    GetPoolRequest, GetPoolResponse, ListMembersRequest, ListMembersResponse, ListPoolsRequest,
    ListPoolsResponse, RemoveMemberRequest, RemoveMemberResponse, UpdateMemberRequest,
    UpdateMemberResponse, UpdatePoolRequest, UpdatePoolResponse,
};
use crate::service::{members, pools};

#[derive(Debug, Clone)]
pub struct PoolApi {
    ctx: Context,
}

impl PoolApi {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl PoolService for PoolApi {
    #[tracing::instrument(skip_all, fields(rpc = "CreatePool"))]
    async fn create_pool(&self, request: Request<CreatePoolRequest>) -> Reply<CreatePoolResponse> {
        let actor = auth::actor(&request)?;
        let command = convert::create_pool_command(request.into_inner())?;
        let pool = pools::create(&self.ctx, &actor, command).await?;
        Ok(Response::new(CreatePoolResponse {
            pool: Some(convert::pool(pool)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetPool"))]
    async fn get_pool(&self, request: Request<GetPoolRequest>) -> Reply<GetPoolResponse> {
        let parse = |r: &GetPoolRequest| convert::id("pool_id", &r.pool_id);
        let respond = |_: &Actor, pool| GetPoolResponse {
            pool: Some(convert::pool(pool)),
        };
        unary(&self.ctx, request, parse, pools::get, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListPools"))]
    async fn list_pools(&self, request: Request<ListPoolsRequest>) -> Reply<ListPoolsResponse> {
        let actor = auth::actor(&request)?;
        let (after, page) = convert::list_pools_query(request.get_ref(), &actor)?;
        let pools = pools::list(&self.ctx, &actor, after, page).await?;
        Ok(Response::new(convert::list_pools_response(
            pools, page, &actor,
        )))
    }

    #[tracing::instrument(skip_all, fields(rpc = "AddMember"))]
    async fn add_member(&self, request: Request<AddMemberRequest>) -> Reply<AddMemberResponse> {
        let parse = convert::add_member_command;
        let respond = |_: &Actor, member| AddMemberResponse {
            member: Some(convert::member(member)),
        };
        unary(&self.ctx, request, parse, members::add, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListMembers"))]
    async fn list_members(
        &self,
        request: Request<ListMembersRequest>,
    ) -> Reply<ListMembersResponse> {
        let actor = auth::actor(&request)?;
        let (pool_id, after, page) = convert::list_members_query(request.get_ref())?;
        let members = members::list(&self.ctx, &actor, pool_id, after, page).await?;
        Ok(Response::new(convert::list_members_response(
            members, page, pool_id,
        )))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdatePool"))]
    async fn update_pool(&self, request: Request<UpdatePoolRequest>) -> Reply<UpdatePoolResponse> {
        let parse = convert::update_pool_command;
        let respond = |_: &Actor, updated| convert::update_pool_response(updated);
        unary(&self.ctx, request, parse, pools::update, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "ArchivePool"))]
    async fn archive_pool(
        &self,
        request: Request<ArchivePoolRequest>,
    ) -> Reply<ArchivePoolResponse> {
        let parse = convert::archive_pool_command;
        let respond = |_: &Actor, pool| ArchivePoolResponse {
            pool: Some(convert::pool(pool)),
        };
        unary(&self.ctx, request, parse, pools::archive, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateMember"))]
    async fn update_member(
        &self,
        request: Request<UpdateMemberRequest>,
    ) -> Reply<UpdateMemberResponse> {
        let parse = convert::update_member_command;
        let respond = |_: &Actor, member| UpdateMemberResponse {
            member: Some(convert::member(member)),
        };
        unary(&self.ctx, request, parse, members::update, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "RemoveMember"))]
    async fn remove_member(
        &self,
        request: Request<RemoveMemberRequest>,
    ) -> Reply<RemoveMemberResponse> {
        let parse = convert::remove_member_command;
        let respond = |_: &Actor, released| convert::remove_member_response(released);
        unary(&self.ctx, request, parse, members::remove, respond).await
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetMemberStats"))]
    async fn get_member_stats(
        &self,
        request: Request<GetMemberStatsRequest>,
    ) -> Reply<GetMemberStatsResponse> {
        let actor = auth::actor(&request)?;
        let (pool_id, user_id) = convert::member_stats_query(request.get_ref())?;
        let standing = members::stats(&self.ctx, &actor, pool_id, user_id).await?;
        Ok(Response::new(convert::member_stats_response(standing)))
    }
}
