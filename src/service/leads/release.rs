//! Releasing an owned lead back to a pool.

use serde::Serialize;
use uuid::Uuid;

use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::lead::{self, LeadView, ReleaseReason};
use crate::service::Context;
use crate::service::access;
use crate::service::idempotency;
use crate::store;

/// A lead to give back, why, and optionally the pool it goes to instead of its own.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub lead_id: Uuid,
    pub reason: ReleaseReason,
    pub to_pool_id: Option<Uuid>,
    pub request_id: Option<Uuid>,
}

/// Gives an owned lead back to a pool (its own, `to_pool_id`, or the recycle pool its pool
/// names). The actor's own release repeated returns the lead as it is (a retry); any other
/// refusal says which rule stood in the way.
pub async fn release(ctx: &Context, actor: &Actor, command: Release) -> Result<LeadView> {
    let Release {
        lead_id,
        ref reason,
        to_pool_id,
        request_id,
    } = command;
    let key = ("lead.release", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        if let Some(pool_id) = to_pool_id {
            let target = access::pool(&mut *conn, actor, pool_id).await?;
            access::require_open(&target.pool)?;
        }
        let release = store::leads::Release {
            lead_id,
            reason,
            to_pool_id,
            request_id,
            now: ctx.clock.now(),
        };
        if let Some(view) = store::leads::release(&mut *conn, actor, &release).await? {
            ctx.metrics.releases.inc();
            return Ok(view);
        }
        let snapshot =
            store::leads::release_snapshot(&mut *conn, actor, lead_id, to_pool_id).await?;
        lead::explain_release_refusal(&snapshot, &actor.user_id, &reason.reason)?;
        store::leads::get(&mut *conn, actor, lead_id).await
    })
    .await
}
