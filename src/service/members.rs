//! Pool membership: adding, changing and removing members, listing them, and a member's figures.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::Context;
use super::idempotency;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::member::{Member, MemberMask, MemberStats, NewMember};
use crate::domain::page::PageSize;
use crate::domain::quota;
use crate::service::access;
use crate::store;

/// A validated `AddMember`.
#[derive(Debug, Clone, Serialize)]
pub struct AddMember {
    pub member: NewMember,
    pub request_id: Option<Uuid>,
}

/// A validated `UpdateMember`: the fields named in `mask` are taken from `patch`.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateMember {
    pub patch: NewMember,
    pub mask: MemberMask,
    pub request_id: Option<Uuid>,
}

/// A validated `RemoveMember`.
#[derive(Debug, Clone, Serialize)]
pub struct RemoveMember {
    pub pool_id: Uuid,
    pub user_id: String,
    pub request_id: Option<Uuid>,
}

/// A member's figures in a pool and when their daily quota starts over.
#[derive(Debug, Clone)]
pub struct Standing {
    pub pool_id: Uuid,
    pub user_id: String,
    pub stats: MemberStats,
    pub resets_at: DateTime<Utc>,
}

/// Adds a user to a pool; managers of the pool (and admins) may.
pub async fn add(ctx: &Context, actor: &Actor, command: AddMember) -> Result<Member> {
    let pool_id = command.member.pool_id;
    let key = ("member.add", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        access::managed_pool(&mut *conn, actor, pool_id).await?;
        store::members::add(conn, &actor.tenant_id, &command.member, ctx.clock.now()).await
    })
    .await
}

/// The pool's members in the order they joined, after `after`; one more than a page, so the
/// caller learns whether another page follows. For readers of the pool.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    pool_id: Uuid,
    after: Option<(DateTime<Utc>, String)>,
    page: PageSize,
) -> Result<Vec<Member>> {
    super::pools::get(ctx, actor, pool_id).await?;
    store::members::list(
        &mut *ctx.acquire().await?,
        &actor.tenant_id,
        pool_id,
        after.as_ref().map(|(at, user)| (*at, user.as_str())),
        page.fetch_limit(),
        ctx.clock.now(),
    )
    .await
}

/// Changes the masked fields of a membership; managers of the pool (and admins) may.
pub async fn update(ctx: &Context, actor: &Actor, command: UpdateMember) -> Result<Member> {
    let pool_id = command.patch.pool_id;
    let key = ("member.update", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        access::managed_pool(&mut *conn, actor, pool_id).await?;
        let now = ctx.clock.now();
        store::members::update(conn, &actor.tenant_id, &command.patch, command.mask, now).await
    })
    .await
}

/// Removes a member from a pool, returning their leads of the pool to it first; how many were
/// returned. Managers of the pool (and admins) may. A locked lead of the member stops the
/// removal (`LEAD_LOCKED`).
pub async fn remove(ctx: &Context, actor: &Actor, command: RemoveMember) -> Result<i64> {
    let RemoveMember {
        pool_id,
        ref user_id,
        request_id,
    } = command;
    let key = ("member.remove", command.request_id);
    idempotency::once_atomic(ctx, actor, key, &command, async |tx| {
        access::managed_pool(&mut *tx, actor, pool_id).await?;
        let now = ctx.clock.now();
        // The member row is locked before their leads are read, so a claim racing with the
        // removal either lands first (and its lead is returned) or finds no member.
        store::members::lock(&mut *tx, &actor.tenant_id, pool_id, user_id).await?;
        let released =
            store::members::remove(&mut *tx, actor, pool_id, user_id, request_id, now).await?;
        Ok(released)
    })
    .await
}

/// A member's figures in a pool: `user_id` `None` means the actor. Members read their own;
/// another member's need the pool's manager (or an admin, or a service).
pub async fn stats(
    ctx: &Context,
    actor: &Actor,
    pool_id: Uuid,
    user_id: Option<String>,
) -> Result<Standing> {
    let user_id = user_id.unwrap_or_else(|| actor.user_id.clone());
    let mut conn = ctx.acquire().await?;
    let access = access::pool(&mut *conn, actor, pool_id).await?;
    if user_id != actor.user_id && !actor.roles.service {
        actor.require_manager(pool_id, access.membership)?;
    }
    let now = ctx.clock.now();
    let stats = store::members::stats(&mut *conn, &actor.tenant_id, pool_id, &user_id, now).await?;
    Ok(Standing {
        pool_id,
        resets_at: quota::resets_at(now, &stats.timezone),
        user_id,
        stats,
    })
}
