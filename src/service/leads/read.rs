//! Reading leads: one, a filtered page, the history of one.

use uuid::Uuid;

use super::{notes_readable, readable};
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::event::LeadEvent;
use crate::domain::lead::LeadView;
use crate::domain::listing::{LeadFilter, LeadOrder, SortValue};
use crate::service::Context;
use crate::service::access;
use crate::store;

/// A lead the actor may read.
pub async fn get(ctx: &Context, actor: &Actor, lead_id: Uuid) -> Result<LeadView> {
    readable(&mut *ctx.acquire().await?, actor, lead_id).await
}

/// The leads matching `filter` that the actor may read, in `order`, after the position
/// `after` (the last lead of the previous page), at most `limit`.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    filter: &LeadFilter,
    order: LeadOrder,
    after: Option<(SortValue, Uuid)>,
    limit: i64,
) -> Result<Vec<LeadView>> {
    // One connection for the check and the page: each lending pings the server.
    let mut conn = ctx.acquire().await?;
    if let Some(pool_id) = filter.pool_id {
        let access = access::pool(&mut *conn, actor, pool_id).await?;
        // Without access to the pool, a member may still list the leads they own in it.
        if filter.owner_id.as_deref() != Some(actor.user_id.as_str()) {
            actor.require_pool_reader(pool_id, access.membership)?;
        }
    }
    let page = store::leads::list::Page {
        order,
        after,
        limit,
    };
    let estimate = match &filter.query {
        Some(text) => Some(
            ctx.search_estimates
                .of(&mut conn, &actor.tenant_id, text)
                .await?,
        ),
        None => None,
    };
    store::leads::list::list(&mut conn, actor, filter, &page, estimate).await
}

/// The ownership history of a lead whose notes the actor may read, oldest first, after the event
/// `after_seq`, at most `limit` events.
pub async fn history(
    ctx: &Context,
    actor: &Actor,
    lead_id: Uuid,
    after_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<LeadEvent>> {
    let mut conn = ctx.acquire().await?;
    notes_readable(&mut *conn, actor, lead_id).await?;
    store::events::lead_history(&mut *conn, &actor.tenant_id, lead_id, after_seq, limit).await
}
