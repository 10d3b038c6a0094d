//! The tenant's ownership history for other services: pages of it, and the reads behind a
//! live stream, both resumable from a position.

use super::Context;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::event::{EventPosition, LeadEvent, StreamFilter, StreamPage};
use crate::domain::page::PageSize;
use crate::store;

/// What a follower asked for, validated: where to start (`None`: now) and what to see.
#[derive(Debug, Clone)]
pub struct Following {
    pub start: Option<EventPosition>,
    pub filter: StreamFilter,
}

/// Events of one page and where the next read starts.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<LeadEvent>,
    pub next: EventPosition,
}

/// Where a follower starts: checks the actor may follow the filter's pool (any pool needs the
/// admin or service role, which the request's validation asks for) and resolves "now" to the
/// present position of the stream.
pub async fn start(ctx: &Context, actor: &Actor, following: &Following) -> Result<EventPosition> {
    if let Some(pool_id) = following.filter.pool_id {
        super::pools::get(ctx, actor, pool_id).await?;
    }
    match following.start {
        Some(position) => Ok(position),
        None => store::events::horizon(&ctx.db).await,
    }
}

/// One page of events from where `following` starts; starting from now, the page is empty and
/// only says where the present is.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    following: &Following,
    page: PageSize,
) -> Result<EventPage> {
    let start = start(ctx, actor, following).await?;
    if following.start.is_none() {
        return Ok(EventPage {
            events: Vec::new(),
            next: start,
        });
    }
    let events = page_after(ctx, actor, start, &following.filter, page.get()).await?;
    Ok(EventPage {
        next: events.next_position(start, page.get()),
        events: events.events,
    })
}

/// Up to `limit` of the tenant's events after `position` that `filter` keeps, read below the
/// horizon so none can still appear before them. The actor's access to the filter was checked
/// by [`start`].
pub async fn page_after(
    ctx: &Context,
    actor: &Actor,
    position: EventPosition,
    filter: &StreamFilter,
    limit: usize,
) -> Result<StreamPage> {
    store::events::stream_page(&ctx.db, &actor.tenant_id, filter, position, limit).await
}
