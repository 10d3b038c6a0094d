//! Events of the ownership history.

use super::timestamp;
use crate::api::event_cursor;
use crate::domain::event::{EventKind, LeadEvent};
use crate::proto;

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
    }
}

pub fn event(event: LeadEvent) -> proto::LeadEvent {
    proto::LeadEvent {
        cursor: event_cursor::encode(event.position),
        seq: event.seq,
        lead_id: event.lead_id.to_string(),
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
