//! Events of the ownership history.

use chrono::{DateTime, Utc};

use super::timestamp;
use crate::api::event_cursor;
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::event::{EventKind, EventPosition, LeadEvent, StreamFilter};
use crate::domain::page::PageSize;
use crate::domain::validate::Validator;
use crate::proto;
use crate::proto::watch_events_response::Item;
use crate::service::events::{EventPage, Following};

fn event_kind(kind: EventKind) -> proto::EventKind {
    use proto::EventKind as P;
    match kind {
        EventKind::Created => P::Created,
        EventKind::Claimed => P::Claimed,
        EventKind::Released => P::Released,
        EventKind::Assigned => P::Assigned,
        EventKind::Transferred => P::Transferred,
        EventKind::Distributed => P::Distributed,
        EventKind::RecycleWarning => P::RecycleWarning,
        EventKind::Recycled => P::Recycled,
        EventKind::Offboarded => P::Offboarded,
        EventKind::Moved => P::Moved,
        EventKind::FollowedUp => P::FollowedUp,
        EventKind::Converted => P::Converted,
        EventKind::Discarded => P::Discarded,
        EventKind::Reopened => P::Reopened,
        EventKind::Locked => P::Locked,
        EventKind::Unlocked => P::Unlocked,
        EventKind::Updated => P::Updated,
        EventKind::AwayStarted => P::AwayStarted,
        EventKind::AwayEnded => P::AwayEnded,
        EventKind::CoverStarted => P::CoverStarted,
        EventKind::CoverEnded => P::CoverEnded,
        EventKind::PoolAging => P::PoolAging,
        EventKind::Rerouted => P::Rerouted,
        EventKind::Escalated => P::Escalated,
        EventKind::Accepted => P::Accepted,
    }
}

pub fn event(event: LeadEvent) -> proto::LeadEvent {
    proto::LeadEvent {
        cursor: event_cursor::encode(event.position),
        seq: event.seq,
        lead_id: event.lead_id.map(|id| id.to_string()).unwrap_or_default(),
        user_id: event.user_id.unwrap_or_default(),
        pool_id: event.pool_id.to_string(),
        kind: event_kind(event.kind).into(),
        from_owner: event.from_owner.unwrap_or_default(),
        to_owner: event.to_owner.unwrap_or_default(),
        actor: event.actor,
        reason: event.reason.unwrap_or_default(),
        note: event.note.unwrap_or_default(),
        occurred_at: Some(timestamp(event.occurred_at)),
        request_id: event
            .request_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        to_pool_id: event
            .to_pool_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
    }
}

/// The cursor, filters and page size of either call. Without the `admin` or `service` role
/// the caller follows one pool, so `pool_id` is required.
fn following(
    actor: &Actor,
    (cursor, from_now): (&str, bool),
    pool_id: &str,
    kinds: &[i32],
    page_size: i32,
) -> Result<(Following, PageSize), DomainError> {
    let mut v = Validator::new();
    let start = event_cursor::parse(&mut v, "cursor", cursor, from_now);
    let pool_id = v.optional_uuid("pool_id", pool_id);
    if pool_id.is_none() && !actor.reads_everything() {
        v.violation(
            "pool_id",
            "is required unless the caller has the admin or service role",
        );
    }
    let kinds = kind_filter(&mut v, kinds);
    let page = PageSize::parse(&mut v, page_size);
    let following = Following {
        start,
        // Whose notes bound the feed is settled when it starts (`service::events::start`).
        filter: StreamFilter {
            pool_id,
            kinds,
            notes_reader: None,
        },
    };
    v.finish((following, page))
}

/// Event kinds to keep; each must be a known kind other than unspecified.
fn kind_filter(v: &mut Validator, kinds: &[i32]) -> Vec<EventKind> {
    let mut parsed: Vec<EventKind> = Vec::new();
    for &number in kinds {
        let kind = proto::EventKind::try_from(number).ok().and_then(|k| {
            k.as_str_name()
                .strip_prefix("EVENT_KIND_")
                .and_then(|name| EventKind::try_from(name).ok())
        });
        match kind {
            Some(kind) if !parsed.contains(&kind) => parsed.push(kind),
            Some(_) => {}
            None => v.violation(
                "kinds",
                format!("{number} is not an event kind; list known kinds, or none for all"),
            ),
        }
    }
    parsed
}

/// A `ListEvents` request: what to read and the page size.
pub fn list_events_query(
    req: &proto::ListEventsRequest,
    actor: &Actor,
) -> Result<(Following, PageSize), DomainError> {
    let start = (req.cursor.as_str(), req.from_now);
    following(actor, start, &req.pool_id, &req.kinds, req.page_size)
}

pub fn list_events_response(page: EventPage) -> proto::ListEventsResponse {
    proto::ListEventsResponse {
        events: page.events.into_iter().map(event).collect(),
        next_cursor: event_cursor::encode(page.next),
    }
}

/// A `WatchEvents` request: what to follow (a stream has no pages).
pub fn watch_events_query(
    req: &proto::WatchEventsRequest,
    actor: &Actor,
) -> Result<Following, DomainError> {
    let start = (req.cursor.as_str(), req.from_now);
    let (following, _) = following(actor, start, &req.pool_id, &req.kinds, 0)?;
    Ok(following)
}

/// One event of a stream, with the cursor to resume after it.
pub fn watched_event(event: LeadEvent) -> proto::WatchEventsResponse {
    proto::WatchEventsResponse {
        cursor: event_cursor::encode(event.position),
        item: Some(Item::Event(self::event(event))),
    }
}

/// A heartbeat of a stream at `position`, sent at `at`.
pub fn heartbeat(position: EventPosition, at: DateTime<Utc>) -> proto::WatchEventsResponse {
    proto::WatchEventsResponse {
        cursor: event_cursor::encode(position),
        item: Some(Item::Heartbeat(proto::Heartbeat {
            sent_at: Some(timestamp(at)),
        })),
    }
}
