//! Follow-ups.

use chrono::{DateTime, Utc};

use super::{optional_time, timestamp};
use crate::domain::DomainError;
use crate::domain::follow_up::{Channel, FollowUp};
use crate::domain::validate::{MAX_NOTE_CHARS, Validator};
use crate::proto;
use crate::service::leads::RecordFollowUp;

/// A `RecordFollowUp` request; `now` is the latest time a follow-up may have occurred at.
pub fn parse_record(
    req: &proto::RecordFollowUpRequest,
    now: DateTime<Utc>,
) -> Result<RecordFollowUp, DomainError> {
    let mut v = Validator::new();
    let lead_id = v.uuid("lead_id", &req.lead_id);
    let channel = channel_choice(&mut v, req.channel);
    let note = v.optional_text("note", &req.note, MAX_NOTE_CHARS);
    let occurred_at = occurred_at(&mut v, req.occurred_at.as_ref(), now);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(RecordFollowUp {
        lead_id,
        channel,
        note,
        occurred_at,
        request_id,
    })
}

fn channel_choice(v: &mut Validator, channel: i32) -> Channel {
    match proto::FollowUpChannel::try_from(channel) {
        Ok(proto::FollowUpChannel::Call) => Channel::Call,
        Ok(proto::FollowUpChannel::Email) => Channel::Email,
        Ok(proto::FollowUpChannel::Visit) => Channel::Visit,
        Ok(proto::FollowUpChannel::Message) => Channel::Message,
        Ok(proto::FollowUpChannel::Other) => Channel::Other,
        _ => {
            v.violation(
                "channel",
                "is required: CALL, EMAIL, VISIT, MESSAGE or OTHER",
            );
            Channel::Other
        }
    }
}

/// A follow-up's time, never in the future; unset stays unset (it means now).
fn occurred_at(
    v: &mut Validator,
    at: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let at = optional_time(v, "occurred_at", at)?;
    if at > now {
        v.violation("occurred_at", "must not be in the future");
    }
    Some(at)
}

fn channel(channel: Channel) -> proto::FollowUpChannel {
    match channel {
        Channel::Call => proto::FollowUpChannel::Call,
        Channel::Email => proto::FollowUpChannel::Email,
        Channel::Visit => proto::FollowUpChannel::Visit,
        Channel::Message => proto::FollowUpChannel::Message,
        Channel::Other => proto::FollowUpChannel::Other,
    }
}

pub fn follow_up(follow_up: FollowUp) -> proto::FollowUp {
    proto::FollowUp {
        id: follow_up.id.to_string(),
        lead_id: follow_up.lead_id.to_string(),
        author: follow_up.author,
        channel: channel(follow_up.channel).into(),
        note: follow_up.note,
        occurred_at: Some(timestamp(follow_up.occurred_at)),
        recorded_at: Some(timestamp(follow_up.recorded_at)),
    }
}
