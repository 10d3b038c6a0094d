//! Pools and their rules: creating, reading, listing, changing and archiving them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Context;
use super::idempotency;
use super::reschedule::{self, Rescheduled};
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::page::PageSize;
use crate::domain::pool::{NewPool, Pool};
use crate::service::access;
use crate::store;

/// A validated `CreatePool`.
#[derive(Debug, Clone, Serialize)]
pub struct CreatePool {
    pub pool: NewPool,
    pub request_id: Option<Uuid>,
}

/// A validated `UpdatePool`: the fields named in `mask` are taken from `patch`.
#[derive(Debug, Clone, Serialize)]
pub struct UpdatePool {
    pub pool_id: Uuid,
    pub patch: NewPool,
    pub mask: Vec<String>,
    /// Recompute the deadlines of the pool's owned leads under the new rules.
    pub reschedule_owned: bool,
    pub request_id: Option<Uuid>,
}

/// A pool after an update, and how many of its owned leads got new deadlines.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolUpdated {
    pub pool: Pool,
    pub rescheduled_leads: i64,
}

/// A validated `ArchivePool`.
#[derive(Debug, Clone, Serialize)]
pub struct ArchivePool {
    pub pool_id: Uuid,
    pub request_id: Option<Uuid>,
}

/// Creates a pool with its rules; only tenant admins may.
pub async fn create(ctx: &Context, actor: &Actor, command: CreatePool) -> Result<Pool> {
    actor.require_admin()?;
    let key = ("pool.create", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        let named = command.pool.rules.recycle_to_pool_id;
        require_open_recycle_pool(&mut *conn, actor, named, None).await?;
        store::pools::create(conn, &actor.tenant_id, &command.pool, ctx.clock.now()).await
    })
    .await
}

/// The pool, for its members, admins and services.
pub async fn get(ctx: &Context, actor: &Actor, pool_id: Uuid) -> Result<Pool> {
    access::readable_pool(&mut *ctx.acquire().await?, actor, pool_id).await
}

/// The pools the actor may see (every pool for admins and services, else the pools they
/// belong to) by name, after `after`; one more than a page, so the caller learns whether
/// another page follows.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    after: Option<(String, Uuid)>,
    page: PageSize,
) -> Result<Vec<Pool>> {
    store::pools::list(
        &mut *ctx.acquire().await?,
        &actor.tenant_id,
        actor.listed_member(),
        after.as_ref().map(|(name, id)| (name.as_str(), *id)),
        page.fetch_limit(),
    )
    .await
}

/// Changes the masked fields of a pool (admins only); with `reschedule_owned`, its owned
/// leads' deadlines follow the new rules in the same transaction. `CONCURRENT_MODIFICATION`
/// when the pool changed between its read and its write.
pub async fn update(ctx: &Context, actor: &Actor, command: UpdatePool) -> Result<PoolUpdated> {
    actor.require_admin()?;
    let key = ("pool.update", command.request_id);
    // One transaction keeps the rules and the deadlines they imply together.
    let updated = idempotency::once_atomic(ctx, actor, key, &command, async |tx| {
        apply_update(tx, actor, &command, ctx.clock.now()).await
    })
    .await?;
    if command.reschedule_owned {
        let scope = Rescheduled::Pool(command.pool_id);
        reschedule::again_after_commit(ctx, actor, scope, command.request_id).await;
    }
    Ok(updated)
}

/// The update's statements, in the caller's transaction (which `PreviewDeadlines` rolls back).
pub(crate) async fn apply_update(
    conn: &mut PgConnection,
    actor: &Actor,
    command: &UpdatePool,
    now: DateTime<Utc>,
) -> Result<PoolUpdated> {
    let current = access::pool(&mut *conn, actor, command.pool_id).await?;
    let next = current.pool.updated(command.patch.clone(), &command.mask);
    next.require_consistent_rules()?;
    let (named, before) = (
        next.rules.recycle_to_pool_id,
        current.pool.rules.recycle_to_pool_id,
    );
    require_open_recycle_pool(&mut *conn, actor, named, before).await?;
    let pool = store::pools::update(&mut *conn, &actor.tenant_id, &next, now)
        .await?
        .ok_or(DomainError::ConcurrentModification)?;
    let rescheduled_leads = if command.reschedule_owned {
        store::pools::reschedule(&mut *conn, actor, pool.id, command.request_id, now).await?
    } else {
        0
    };
    Ok(PoolUpdated {
        pool,
        rescheduled_leads,
    })
}

/// `POOL_ARCHIVED` when the rules newly name an archived pool as the recycle pool: it would take
/// no leads (they stay in their own pool, `recycle_destination`), so naming it is a mistake the
/// admin hears of. A recycle pool archived after it was named does not block other changes.
async fn require_open_recycle_pool(
    conn: &mut PgConnection,
    actor: &Actor,
    named: Option<Uuid>,
    named_before: Option<Uuid>,
) -> Result<()> {
    match named {
        Some(id) if named != named_before => match access::pool(conn, actor, id).await {
            Ok(target) => access::require_open(&target.pool),
            // An unknown id is refused by the write's foreign key, as before.
            Err(DomainError::PoolNotFound(_)) => Ok(()),
            Err(err) => Err(err),
        },
        _ => Ok(()),
    }
}

/// Archives a pool (admins only); archiving an archived pool changes nothing.
pub async fn archive(ctx: &Context, actor: &Actor, command: ArchivePool) -> Result<Pool> {
    actor.require_admin()?;
    let key = ("pool.archive", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        store::pools::archive(conn, &actor.tenant_id, command.pool_id, ctx.clock.now()).await
    })
    .await
}
