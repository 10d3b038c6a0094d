//! Domain values to their proto messages and back, one module per resource; wire times and
//! durations here.

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use prost_types::Timestamp;
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::pool::RawDuration;
use crate::domain::validate::Validator;

/// The word a caller uses for themselves where a user id goes (`owner_id`, `user_id`).
const OWNER_ME: &str = "me";

pub mod absence;
pub mod acceptance;
pub mod assignment;
pub mod calendar;
mod event;
pub mod follow_up;
pub mod import;
pub mod lead;
mod member;
mod pool;
pub mod recycle;
pub mod report;

pub use event::{
    event, heartbeat, list_events_query, list_events_response, watch_events_query, watched_event,
};
pub use lead::{lead, lead_state};
pub use member::{
    add_member_command, list_members_query, list_members_response, member, member_role,
    member_stats_query, member_stats_response, remove_member_command, remove_member_response,
    update_member_command,
};
pub use pool::{
    archive_pool_command, create_pool_command, distribution_draft, list_pools_query,
    list_pools_response, pool, strategy, strategy_choice, update_pool_command,
    update_pool_response,
};

/// A request's one id, validated; `field` names it in the violation.
pub fn id(field: &str, value: &str) -> Result<Uuid, DomainError> {
    let mut v = Validator::new();
    let id = v.uuid(field, value);
    v.finish(id)
}

pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        // Always below 2e9, so the cast cannot truncate.
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// A wire time, if set; one out of range is a violation of `field`.
pub fn optional_time(
    v: &mut Validator,
    field: &str,
    at: Option<&Timestamp>,
) -> Option<DateTime<Utc>> {
    let at = at?;
    // PostgreSQL's timestamps end where RFC 3339's do: years 0001 to 9999.
    let time = u32::try_from(at.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(at.seconds, nanos))
        .filter(|time| (1..=9999).contains(&time.year()));
    if time.is_none() {
        v.violation(field, "is not a valid time between years 0001 and 9999");
    }
    time
}

/// A bound on stored times, rounded up to PostgreSQL's microseconds. Stored times are whole
/// microseconds, so one is at or after `at` (or before it) exactly when it is at or after (or
/// before) the rounded bound; sent as it is, the bound is cut to its microsecond, and a time T
/// counted as at or after T + 1 ns and not as before T + 999 ns.
pub(super) fn round_up_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    match at.nanosecond() % 1_000 {
        0 => at,
        part => at + TimeDelta::nanoseconds(i64::from(1_000 - part)),
    }
}

pub(super) fn optional_timestamp(at: Option<DateTime<Utc>>) -> Option<Timestamp> {
    at.map(timestamp)
}

pub(super) fn duration(seconds: Option<i32>) -> Option<prost_types::Duration> {
    seconds.map(|s| prost_types::Duration {
        seconds: i64::from(s),
        nanos: 0,
    })
}

/// A wire duration as the domain validates it.
pub fn raw_duration(duration: Option<&prost_types::Duration>) -> Option<RawDuration> {
    duration.map(|d| RawDuration {
        seconds: d.seconds,
        nanos: d.nanos,
    })
}
