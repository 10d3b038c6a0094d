//! The append-only history: one event per change of owner, state, lock or deadline.

use chrono::{DateTime, Utc};
use uuid::Uuid;

macro_rules! event_kinds {
    ($($kind:ident => $name:literal),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum EventKind { $($kind),* }

        stored_names!(EventKind, "event kind" { $($kind => $name),* });
    };
}

event_kinds! {
    Created => "CREATED",
    Claimed => "CLAIMED",
    Released => "RELEASED",
    Assigned => "ASSIGNED",
    Transferred => "TRANSFERRED",
    Distributed => "DISTRIBUTED",
    RecycleWarning => "RECYCLE_WARNING",
    Recycled => "RECYCLED",
    Offboarded => "OFFBOARDED",
    Moved => "MOVED",
    FollowedUp => "FOLLOWED_UP",
    Converted => "CONVERTED",
    Discarded => "DISCARDED",
    Reopened => "REOPENED",
    Locked => "LOCKED",
    Unlocked => "UNLOCKED",
    Updated => "UPDATED",
    AwayStarted => "AWAY_STARTED",
    AwayEnded => "AWAY_ENDED",
    CoverStarted => "COVER_STARTED",
    CoverEnded => "COVER_ENDED",
    PoolAging => "POOL_AGING",
    Rerouted => "REROUTED",
    Escalated => "ESCALATED",
    Accepted => "ACCEPTED",
}

/// Where an event sits in its tenant's stream: the writing transaction (`xid8`), then `seq`.
/// Sequence values commit out of order, transactions below the snapshot horizon do not, so
/// followers read in this order and only below the horizon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventPosition {
    pub xid: i64,
    pub seq: i64,
}

impl EventPosition {
    /// Before every event: where a follower without a cursor starts.
    pub const START: Self = Self { xid: 0, seq: 0 };

    /// Before every event a transaction at or above `horizon` writes (seq starts at 1).
    pub fn at_horizon(horizon: i64) -> Self {
        Self {
            xid: horizon,
            seq: 0,
        }
    }

    /// Where the read after this one starts, given the page read after `self` below
    /// `horizon`: after its last event when the page was full, else at the horizon, since
    /// every event below it was on this page or does not match the filter.
    pub fn after_page(self, last: Option<Self>, page_full: bool, horizon: i64) -> Self {
        let last = last.map_or(self, |last| last.max(self));
        if page_full {
            last
        } else {
            last.max(Self::at_horizon(horizon))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadEvent {
    pub position: EventPosition,
    pub seq: i64,
    /// `None` for the events about a user (AWAY_STARTED, AWAY_ENDED).
    pub lead_id: Option<Uuid>,
    /// The user an AWAY_STARTED or AWAY_ENDED event is about.
    pub user_id: Option<String>,
    pub pool_id: Uuid,
    pub to_pool_id: Option<Uuid>,
    pub kind: EventKind,
    pub from_owner: Option<String>,
    pub to_owner: Option<String>,
    pub actor: String,
    pub reason: Option<String>,
    pub note: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub request_id: Option<Uuid>,
}

/// Which of a tenant's events a follower wants, and may read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamFilter {
    pub pool_id: Option<Uuid>,
    /// Empty: every kind.
    pub kinds: Vec<EventKind>,
    /// Only the events of leads whose history this user may read at the time of the read
    /// (`reads_lead_notes`, as `GetLeadHistory`), and those about no lead: a pool's plain
    /// member's feed ([`Actor::feed_notes_reader`](super::access::Actor::feed_notes_reader)).
    pub notes_reader: Option<String>,
}

/// A page of the stream and the horizon it was read below.
#[derive(Debug, Clone)]
pub struct StreamPage {
    pub events: Vec<LeadEvent>,
    /// Every transaction below this `xid8` had finished when the page was read.
    pub horizon: i64,
    /// No transaction was running when the page was read: nothing can still appear before the
    /// horizon moves. When false, events may be held back by a writer about to commit.
    pub settled: bool,
}

impl StreamPage {
    /// Where the read after this page starts.
    pub fn next_position(&self, after: EventPosition, limit: usize) -> EventPosition {
        let last = self.events.last().map(|e| e.position);
        after.after_page(last, self.events.len() >= limit, self.horizon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip() {
        for kind in [
            EventKind::Created,
            EventKind::RecycleWarning,
            EventKind::Updated,
        ] {
            assert_eq!(EventKind::try_from(kind.as_str()).ok(), Some(kind));
        }
        assert!(EventKind::try_from("NOPE").is_err());
    }

    #[test]
    fn positions_order_by_transaction_then_seq() {
        let early_tx_late_seq = EventPosition { xid: 10, seq: 9 };
        let late_tx_early_seq = EventPosition { xid: 11, seq: 2 };
        assert!(early_tx_late_seq < late_tx_early_seq);
        assert!(EventPosition::START < early_tx_late_seq);
    }

    #[test]
    fn a_full_page_resumes_after_its_last_event_a_short_one_at_the_horizon() {
        let cursor = EventPosition { xid: 5, seq: 3 };
        let last = EventPosition { xid: 8, seq: 20 };
        assert_eq!(cursor.after_page(Some(last), true, 12), last);
        assert_eq!(
            cursor.after_page(Some(last), false, 12),
            EventPosition::at_horizon(12)
        );
        assert_eq!(
            cursor.after_page(None, false, 12),
            EventPosition::at_horizon(12)
        );
        // Never backwards, not even for a cursor from a later horizon.
        let ahead = EventPosition { xid: 40, seq: 1 };
        assert_eq!(ahead.after_page(None, false, 12), ahead);
    }
}
