//! `leadpool.v1.PoolService`: pools and their members.

use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Context, auth, convert, idempotency, page_token};
use crate::domain::DomainError;
use crate::domain::member::{MemberDraft, MemberRole, NewMember};
use crate::domain::page::PageSize;
use crate::domain::pool::{self, NewPool, RulesDraft};
use crate::domain::quota;
use crate::domain::validate::{MAX_CODE_CHARS, Validator};
use crate::proto;
use crate::proto::pool_service_server::PoolService;
use crate::store;
use crate::store::members::MemberMask;

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
            distribution: convert::distribution_draft($msg.distribution.as_ref()),
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
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        actor.require_admin()?;
        let mut v = Validator::new();
        let new_pool = NewPool::parse(&mut v, &req.name, &req.timezone, &rules_draft!(req));
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "CreatePool",
            request_id,
            &req,
            async |conn| {
                let pool = store::pools::create(
                    &mut *conn,
                    &actor.tenant_id,
                    &new_pool,
                    self.ctx.clock.now(),
                )
                .await?;
                Ok(proto::CreatePoolResponse {
                    pool: Some(convert::pool(pool)),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetPool"))]
    async fn get_pool(
        &self,
        request: Request<proto::GetPoolRequest>,
    ) -> Result<Response<proto::GetPoolResponse>, Status> {
        let actor = auth::actor(&request)?;
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
        let actor = auth::actor(&request)?;
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
        let actor = auth::actor(&request)?;
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
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "AddMember",
            request_id,
            &req,
            async |conn| {
                let access = store::pools::access(
                    &mut *conn,
                    &actor.tenant_id,
                    new_member.pool_id,
                    &actor.user_id,
                )
                .await?;
                actor.require_manager(new_member.pool_id, access.membership)?;
                let member = store::members::add(
                    &mut *conn,
                    &actor.tenant_id,
                    &new_member,
                    self.ctx.clock.now(),
                )
                .await?;
                Ok(proto::AddMemberResponse {
                    member: Some(convert::member(member)),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListMembers"))]
    async fn list_members(
        &self,
        request: Request<proto::ListMembersRequest>,
    ) -> Result<Response<proto::ListMembersResponse>, Status> {
        let actor = auth::actor(&request)?;
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

    #[tracing::instrument(skip_all, fields(rpc = "UpdatePool"))]
    async fn update_pool(
        &self,
        request: Request<proto::UpdatePoolRequest>,
    ) -> Result<Response<proto::UpdatePoolResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        actor.require_admin()?;
        let (pool_id, patch, mask, request_id) = parse_pool_update(&req)?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "UpdatePool",
            request_id,
            &req,
            async |conn| {
                let current =
                    store::pools::access(&mut *conn, &actor.tenant_id, pool_id, &actor.user_id)
                        .await?;
                let next = current.pool.updated(patch, &mask);
                let now = self.ctx.clock.now();
                let (pool, rescheduled) = store::pools::update(
                    &mut *conn,
                    &actor,
                    &next,
                    req.reschedule_owned,
                    request_id,
                    now,
                )
                .await?
                .ok_or(DomainError::ConcurrentModification)?;
                Ok(proto::UpdatePoolResponse {
                    pool: Some(convert::pool(pool)),
                    rescheduled_leads: i32::try_from(rescheduled).unwrap_or(i32::MAX),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ArchivePool"))]
    async fn archive_pool(
        &self,
        request: Request<proto::ArchivePoolRequest>,
    ) -> Result<Response<proto::ArchivePoolResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        actor.require_admin()?;
        let mut v = Validator::new();
        let pool_id = v.uuid("pool_id", &req.pool_id);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "ArchivePool",
            request_id,
            &req,
            async |conn| {
                let pool = store::pools::archive(
                    &mut *conn,
                    &actor.tenant_id,
                    pool_id,
                    self.ctx.clock.now(),
                )
                .await?;
                Ok(proto::ArchivePoolResponse {
                    pool: Some(convert::pool(pool)),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateMember"))]
    async fn update_member(
        &self,
        request: Request<proto::UpdateMemberRequest>,
    ) -> Result<Response<proto::UpdateMemberResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let (patch, mask, request_id) = parse_member_update(&req)?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "UpdateMember",
            request_id,
            &req,
            async |conn| {
                let access = store::pools::access(
                    &mut *conn,
                    &actor.tenant_id,
                    patch.pool_id,
                    &actor.user_id,
                )
                .await?;
                actor.require_manager(patch.pool_id, access.membership)?;
                let member = store::members::update(
                    &mut *conn,
                    &actor.tenant_id,
                    &patch,
                    mask,
                    self.ctx.clock.now(),
                )
                .await?;
                Ok(proto::UpdateMemberResponse {
                    member: Some(convert::member(member)),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "RemoveMember"))]
    async fn remove_member(
        &self,
        request: Request<proto::RemoveMemberRequest>,
    ) -> Result<Response<proto::RemoveMemberResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let pool_id = v.uuid("pool_id", &req.pool_id);
        let user_id = v.required_text("user_id", &req.user_id, MAX_CODE_CHARS);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "RemoveMember",
            request_id,
            &req,
            async |conn| {
                let access =
                    store::pools::access(&mut *conn, &actor.tenant_id, pool_id, &actor.user_id)
                        .await?;
                actor.require_manager(pool_id, access.membership)?;
                let released = store::members::remove(
                    &mut *conn,
                    &actor,
                    pool_id,
                    &user_id,
                    request_id,
                    self.ctx.clock.now(),
                )
                .await?;
                Ok(proto::RemoveMemberResponse {
                    released_leads: i32::try_from(released).unwrap_or(i32::MAX),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetMemberStats"))]
    async fn get_member_stats(
        &self,
        request: Request<proto::GetMemberStatsRequest>,
    ) -> Result<Response<proto::GetMemberStatsResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let pool_id = v.uuid("pool_id", &req.pool_id);
        let user_id = match v.optional_text("user_id", &req.user_id, MAX_CODE_CHARS) {
            user if user.is_empty() || user == "me" => actor.user_id.clone(),
            user => user,
        };
        v.finish(())?;
        let access =
            store::pools::access(&self.ctx.db, &actor.tenant_id, pool_id, &actor.user_id).await?;
        if user_id != actor.user_id && !actor.roles.service {
            actor.require_manager(pool_id, access.membership)?;
        }
        let now = self.ctx.clock.now();
        let stats =
            store::members::stats(&self.ctx.db, &actor.tenant_id, pool_id, &user_id, now).await?;
        Ok(Response::new(proto::GetMemberStatsResponse {
            pool_id: pool_id.to_string(),
            user_id,
            held_count: stats.held_count,
            cap: stats.cap,
            claims_today: stats.claims_today,
            daily_claim_limit: stats.daily_claim_limit,
            quota_left: stats
                .daily_claim_limit
                .map(|limit| (limit - stats.claims_today).max(0)),
            resets_at: Some(convert::timestamp(quota::resets_at(now, &stats.timezone))),
            next_follow_up_deadline: stats.next_follow_up_deadline.map(convert::timestamp),
            next_close_deadline: stats.next_close_deadline.map(convert::timestamp),
        }))
    }
}

/// An `UpdatePool` request, validated for the masked fields only.
fn parse_pool_update(
    req: &proto::UpdatePoolRequest,
) -> Result<(Uuid, NewPool, Vec<String>, Option<Uuid>), DomainError> {
    let mut v = Validator::new();
    let pool = req.pool.clone().unwrap_or_default();
    let paths = req
        .update_mask
        .as_ref()
        .map(|m| m.paths.as_slice())
        .unwrap_or_default();
    let patch = NewPool::parse(&mut v, &pool.name, &pool.timezone, &rules_draft!(pool));
    v.retain_fields(|field| pool::in_mask(paths, field));
    let pool_id = v.uuid("pool.id", &pool.id);
    let mask = v.field_mask(paths, pool::UPDATABLE_FIELDS);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish((pool_id, patch, mask, request_id))
}

/// The fields `UpdateMember` may change, as field-mask paths.
const MEMBER_FIELDS: &[&str] = &[
    "role",
    "active",
    "weight",
    "max_held",
    "regions",
    "industries",
    "grades",
];

/// An `UpdateMember` request, validated for the masked fields (and the member's ids) only.
fn parse_member_update(
    req: &proto::UpdateMemberRequest,
) -> Result<(NewMember, MemberMask, Option<Uuid>), DomainError> {
    let mut v = Validator::new();
    let member = req.member.clone().unwrap_or_default();
    let paths = req
        .update_mask
        .as_ref()
        .map(|m| m.paths.as_slice())
        .unwrap_or_default();
    let masked = |path: &str| paths.iter().any(|p| p == path);
    let role = member_role(&mut v, member.role);
    if masked("role") && role.is_none() {
        v.violation("role", "must be MEMBER_ROLE_MEMBER or MEMBER_ROLE_MANAGER");
    }
    let patch = NewMember::parse(
        &mut v,
        MemberDraft {
            pool_id: &member.pool_id,
            user_id: &member.user_id,
            role,
            active: Some(member.active),
            weight: member.weight,
            max_held: member.max_held,
            regions: &member.regions,
            industries: &member.industries,
            grades: &member.grades,
        },
    );
    v.retain_fields(|field| masked(field) || field == "pool_id" || field == "user_id");
    v.field_mask(paths, MEMBER_FIELDS);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    let mask = MemberMask {
        role: masked("role"),
        active: masked("active"),
        weight: masked("weight"),
        max_held: masked("max_held"),
        regions: masked("regions"),
        industries: masked("industries"),
        grades: masked("grades"),
    };
    v.finish((patch, mask, request_id))
}
