//! The tenant's ownership history for other services: pages of it, and the reads behind a
//! live stream, both resumable from a position.

use super::{Context, access};
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

/// A follower as it starts: where it reads from, and what it reads once its access is settled.
#[derive(Debug, Clone)]
pub struct Feed {
    pub position: EventPosition,
    pub filter: StreamFilter,
}

/// Where a follower starts and what it reads: checks the actor may follow the filter's pool (any
/// pool needs the admin or service role, which the request's validation asks for), bounds a plain
/// member's events by their right to read each lead's history
/// ([`Actor::feed_notes_reader`]), and resolves "now" to the present position of the stream.
pub async fn start(ctx: &Context, actor: &Actor, following: &Following) -> Result<Feed> {
    let mut filter = following.filter.clone();
    if let Some(pool_id) = filter.pool_id {
        let access = access::pool(&mut *ctx.acquire().await?, actor, pool_id).await?;
        actor.require_pool_reader(pool_id, access.membership)?;
        filter.notes_reader = actor
            .feed_notes_reader(access.membership)
            .map(str::to_owned);
    }
    let position = match following.start {
        Some(position) => position,
        None => store::events::horizon(&ctx.db).await?,
    };
    Ok(Feed { position, filter })
}

/// One page of events from where `following` starts; starting from now, the page is empty and
/// only says where the present is.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    following: &Following,
    page: PageSize,
) -> Result<EventPage> {
    let feed = start(ctx, actor, following).await?;
    if following.start.is_none() {
        return Ok(EventPage {
            events: Vec::new(),
            next: feed.position,
        });
    }
    let events = page_after(ctx, actor, feed.position, &feed.filter, page.get()).await?;
    Ok(EventPage {
        next: events.next_position(feed.position, page.get()),
        events: events.events,
    })
}

/// Up to `limit` of the tenant's events after `position` that `filter` keeps, read below the
/// horizon so none can still appear before them. The actor's access to the filter was checked,
/// and the filter bound to it, by [`start`].
pub async fn page_after(
    ctx: &Context,
    actor: &Actor,
    position: EventPosition,
    filter: &StreamFilter,
    limit: usize,
) -> Result<StreamPage> {
    store::events::stream_page(&ctx.db, &actor.tenant_id, filter, position, limit).await
}
