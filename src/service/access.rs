//! What a use case checks of a pool before it acts: one read of the pool with the actor's
//! membership in it, then the rule.

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::pool::Pool;
use crate::store;
use crate::store::pools::PoolAccess;

/// The pool of the actor's tenant and the actor's membership in it; `POOL_NOT_FOUND` for
/// unknown or foreign ids.
pub(crate) async fn pool(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    pool_id: Uuid,
) -> Result<PoolAccess> {
    store::pools::access(db, &actor.tenant_id, pool_id, &actor.user_id).await
}

/// The pool, if the actor may read it (its members, admins and services).
pub(crate) async fn readable_pool(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    pool_id: Uuid,
) -> Result<Pool> {
    let access = pool(db, actor, pool_id).await?;
    actor.require_pool_reader(pool_id, access.membership)?;
    Ok(access.pool)
}

/// The pool, if the actor manages it (its managers and admins).
pub(crate) async fn managed_pool(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    pool_id: Uuid,
) -> Result<Pool> {
    let access = pool(db, actor, pool_id).await?;
    actor.require_manager(pool_id, access.membership)?;
    Ok(access.pool)
}

/// `POOL_ARCHIVED` for an archived pool: nothing goes into it.
pub(crate) fn require_open(pool: &Pool) -> Result<()> {
    match pool.archived_at {
        Some(_) => Err(DomainError::PoolArchived(pool.id)),
        None => Ok(()),
    }
}
