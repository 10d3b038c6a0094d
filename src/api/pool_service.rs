//! `leadpool.v1.PoolService`: pools and their members.

use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Context, convert, identity, page_token};
use crate::domain::member::{MemberDraft, MemberRole, NewMember};
use crate::domain::page::PageSize;
use crate::domain::pool::{NewPool, RulesDraft};
use crate::domain::validate::Validator;
use crate::proto;
use crate::proto::pool_service_server::PoolService;
use crate::store;

#[derive(Debug, Clone)]
pub struct PoolApi {
    ctx: Context,
}

impl PoolApi {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }
}

/// The rule fields of a message that carries them (`CreatePoolRequest`, `Pool`), as a draft.
macro_rules! rules_draft {
    ($msg:expr) => {
        RulesDraft {
            max_held_per_member: $msg.max_held_per_member,
            daily_claim_limit: $msg.daily_claim_limit,
            reclaim_cooldown: convert::raw_duration($msg.reclaim_cooldown.as_ref()),
            mask_contacts: $msg.mask_contacts,
            release_reasons: &$msg.release_reasons,
            exempt_grades: &$msg.exempt_grades,
            follow_up_timeout: convert::raw_duration($msg.follow_up_timeout.as_ref()),
            close_timeout: convert::raw_duration($msg.close_timeout.as_ref()),
            warn_before: convert::raw_duration($msg.warn_before.as_ref()),
            grade_overrides: $msg
                .grade_overrides
                .iter()
                .map(|(grade, d)| {
                    (
                        grade.clone(),
                        convert::raw_duration(d.follow_up_timeout.as_ref()),
                        convert::raw_duration(d.close_timeout.as_ref()),
                    )
                })
                .collect(),
            recycle_to_pool_id: &$msg.recycle_to_pool_id,
        }
    };
}

/// The requested role; an unknown enum number is a violation.
fn member_role(v: &mut Validator, role: i32) -> Option<MemberRole> {
    match proto::MemberRole::try_from(role) {
        Ok(proto::MemberRole::Unspecified) => None,
        Ok(proto::MemberRole::Member) => Some(MemberRole::Member),
        Ok(proto::MemberRole::Manager) => Some(MemberRole::Manager),
        Err(_) => {
            v.violation("role", format!("unknown role {role}"));
            None
        }
    }
}

#[tonic::async_trait]
impl PoolService for PoolApi {
    #[tracing::instrument(skip_all, fields(rpc = "CreatePool"))]
    async fn create_pool(
        &self,
        request: Request<proto::CreatePoolRequest>,
    ) -> Result<Response<proto::CreatePoolResponse>, Status> {
        let actor = identity::actor(request.metadata())?;
        let req = request.into_inner();
        actor.require_admin()?;
        let mut v = Validator::new();
        let new_pool = NewPool::parse(&mut v, &req.name, &req.timezone, &rules_draft!(req));
        v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let pool = store::pools::create(
            &self.ctx.db,
            &actor.tenant_id,
            &new_pool,
            self.ctx.clock.now(),
        )
        .await?;
        Ok(Response::new(proto::CreatePoolResponse {
            pool: Some(convert::pool(pool)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetPool"))]
    async fn get_pool(
        &self,
        request: Request<proto::GetPoolRequest>,
    ) -> Result<Response<proto::GetPoolResponse>, Status> {
        let actor = identity::actor(request.metadata())?;
        let mut v = Validator::new();
        let pool_id = v.uuid("pool_id", &request.get_ref().pool_id);
        v.finish(())?;
        let access =
            store::pools::access(&self.ctx.db, &actor.tenant_id, pool_id, &actor.user_id).await?;
        actor.require_pool_reader(pool_id, access.membership)?;
        Ok(Response::new(proto::GetPoolResponse {
            pool: Some(convert::pool(access.pool)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListPools"))]
    async fn list_pools(
        &self,
        request: Request<proto::ListPoolsRequest>,
    ) -> Result<Response<proto::ListPoolsResponse>, Status> {
        let actor = identity::actor(request.metadata())?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let page = PageSize::parse(&mut v, req.page_size);
        v.finish(())?;
        // Admins and services list every pool; others the pools they belong to.
        let member = (!actor.reads_everything()).then(|| actor.user_id.clone());
        let after: Option<(String, Uuid)> = page_token::decode(&req.page_token, &member)?;
        let pools = store::pools::list(
            &self.ctx.db,
            &actor.tenant_id,
            member.as_deref(),
            after.as_ref().map(|(name, id)| (name.as_str(), *id)),
            page.fetch_limit(),
        )
        .await?;
        let (pools, next_page_token) =
            page_token::paginate(pools, page.get(), &member, |p| (p.name.clone(), p.id));
        Ok(Response::new(proto::ListPoolsResponse {
            pools: pools.into_iter().map(convert::pool).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "AddMember"))]
    async fn add_member(
        &self,
        request: Request<proto::AddMemberRequest>,
    ) -> Result<Response<proto::AddMemberResponse>, Status> {
        let actor = identity::actor(request.metadata())?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let role = member_role(&mut v, req.role);
        let new_member = NewMember::parse(
            &mut v,
            MemberDraft {
                pool_id: &req.pool_id,
                user_id: &req.user_id,
                role,
                active: req.active,
                weight: req.weight,
                max_held: req.max_held,
                regions: &req.regions,
                industries: &req.industries,
                grades: &req.grades,
            },
        );
        v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let access = store::pools::access(
            &self.ctx.db,
            &actor.tenant_id,
            new_member.pool_id,
            &actor.user_id,
        )
        .await?;
        actor.require_manager(new_member.pool_id, access.membership)?;
        let member = store::members::add(
            &self.ctx.db,
            &actor.tenant_id,
            &new_member,
            self.ctx.clock.now(),
        )
        .await?;
        Ok(Response::new(proto::AddMemberResponse {
            member: Some(convert::member(member)),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListMembers"))]
    async fn list_members(
        &self,
        request: Request<proto::ListMembersRequest>,
    ) -> Result<Response<proto::ListMembersResponse>, Status> {
        let actor = identity::actor(request.metadata())?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let pool_id = v.uuid("pool_id", &req.pool_id);
        let page = PageSize::parse(&mut v, req.page_size);
        v.finish(())?;
        let after: Option<(DateTime<Utc>, String)> = page_token::decode(&req.page_token, &pool_id)?;
        let access =
            store::pools::access(&self.ctx.db, &actor.tenant_id, pool_id, &actor.user_id).await?;
        actor.require_pool_reader(pool_id, access.membership)?;
        let members = store::members::list(
            &self.ctx.db,
            &actor.tenant_id,
            pool_id,
            after.as_ref().map(|(at, user)| (*at, user.as_str())),
            page.fetch_limit(),
        )
        .await?;
        let (members, next_page_token) = page_token::paginate(members, page.get(), &pool_id, |m| {
            (m.joined_at, m.user_id.clone())
        });
        Ok(Response::new(proto::ListMembersResponse {
            members: members.into_iter().map(convert::member).collect(),
            next_page_token,
        }))
    }
}
