//! The append-only history: one event per change of owner, state, lock or deadline.

use chrono::{DateTime, Utc};
use uuid::Uuid;

macro_rules! event_kinds {
    ($($kind:ident => $name:literal),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum EventKind { $($kind),* }

        impl EventKind {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$kind => $name),* }
            }

            pub fn from_db(value: &str) -> Option<Self> {
                match value { $($name => Some(Self::$kind),)* _ => None }
            }
        }
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadEvent {
    pub seq: i64,
    pub lead_id: Uuid,
    pub pool_id: Uuid,
    pub to_pool_id: Option<Uuid>,
    pub kind: Option<EventKind>,
    pub from_owner: Option<String>,
    pub to_owner: Option<String>,
    pub actor: String,
    pub reason: Option<String>,
    pub note: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub request_id: Option<Uuid>,
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
            assert_eq!(EventKind::from_db(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::from_db("NOPE"), None);
    }
}
