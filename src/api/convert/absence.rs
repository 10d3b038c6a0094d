//! Absences (leave and cover).

use chrono::{DateTime, Utc};

use super::{optional_time, optional_timestamp, timestamp};
use crate::api::page_token;
use crate::domain::DomainError;
use crate::domain::absence::{self, Absence, AbsenceState, AwayMode};
use crate::domain::access::Actor;
use crate::domain::page::PageSize;
use crate::domain::validate::{MAX_CODE_CHARS, MAX_NOTE_CHARS, Validator};
use crate::proto;
use crate::service::absences::{ClearAway, Ended, ListAway, SetAway};

/// What a listing's page token is bound to: its user and whether it shows ended absences.
type Listing = (String, Option<String>, bool);

pub fn absence(absence: Absence) -> proto::Absence {
    let (mode, cover_user_id) = match absence.mode {
        AwayMode::Pause => (proto::AwayMode::Pause, String::new()),
        AwayMode::Cover { colleague } => (proto::AwayMode::Cover, colleague),
    };
    let state = match absence.state {
        AbsenceState::Scheduled => proto::AbsenceState::Scheduled,
        AbsenceState::Active => proto::AbsenceState::Active,
        AbsenceState::Ended => proto::AbsenceState::Ended,
        AbsenceState::Cancelled => proto::AbsenceState::Cancelled,
    };
    proto::Absence {
        id: absence.id.to_string(),
        user_id: absence.user_id,
        away_from: Some(timestamp(absence.away_from)),
        away_until: Some(timestamp(absence.away_until)),
        mode: mode.into(),
        cover_user_id,
        reason: absence.reason,
        state: state.into(),
        created_by: absence.created_by,
        created_at: Some(timestamp(absence.created_at)),
        started_at: optional_timestamp(absence.started_at),
        ended_at: optional_timestamp(absence.ended_at),
    }
}

/// A `SetAway`: the user (the caller when empty), the times, the mode with its colleague. Every
/// bad field is named at once, the plan's rules (`absence::check_times`, checked at `now`, and
/// `absence::check_colleague`) included.
pub fn parse_set_away(
    req: &proto::SetAwayRequest,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<SetAway, DomainError> {
    let mut v = Validator::new();
    let user_id = match v.optional_text("user_id", &req.user_id, MAX_CODE_CHARS) {
        user if user.is_empty() => actor.user_id.clone(),
        user => user,
    };
    let away_from = optional_time(&mut v, "away_from", req.away_from.as_ref());
    let away_until = optional_time(&mut v, "away_until", req.away_until.as_ref());
    if req.away_until.is_none() {
        v.violation("away_until", "is required");
    }
    // A malformed away_from is named already; the times are checked against it once it parses.
    if let Some(until) = away_until
        && (req.away_from.is_none() || away_from.is_some())
    {
        absence::check_times(&mut v, away_from.unwrap_or(now), until, now);
    }
    let colleague = v.optional_text("cover_user_id", &req.cover_user_id, MAX_CODE_CHARS);
    let mode = away_mode(&mut v, req.mode, colleague);
    if let Some(mode) = &mode {
        absence::check_colleague(&mut v, &user_id, mode);
    }
    let command = SetAway {
        user_id,
        away_from,
        away_until: away_until.unwrap_or_default(),
        mode: mode.unwrap_or(AwayMode::Pause),
        reason: v.optional_text("reason", &req.reason, MAX_NOTE_CHARS),
        request_id: v.optional_uuid("request_id", &req.request_id),
    };
    v.finish(command)
}

/// The mode, with its colleague exactly when it is COVER.
fn away_mode(v: &mut Validator, mode: i32, colleague: String) -> Option<AwayMode> {
    match (proto::AwayMode::try_from(mode), colleague.is_empty()) {
        (Ok(proto::AwayMode::Pause), true) => Some(AwayMode::Pause),
        (Ok(proto::AwayMode::Pause), false) => {
            v.violation("cover_user_id", "must be empty with AWAY_MODE_PAUSE");
            None
        }
        (Ok(proto::AwayMode::Cover), false) => Some(AwayMode::Cover { colleague }),
        (Ok(proto::AwayMode::Cover), true) => {
            v.violation("cover_user_id", "is required with AWAY_MODE_COVER");
            None
        }
        _ => {
            v.violation("mode", "must be AWAY_MODE_PAUSE or AWAY_MODE_COVER");
            None
        }
    }
}

pub fn parse_clear_away(req: &proto::ClearAwayRequest) -> Result<ClearAway, DomainError> {
    let mut v = Validator::new();
    let command = ClearAway {
        absence_id: v.uuid("absence_id", &req.absence_id),
        request_id: v.optional_uuid("request_id", &req.request_id),
    };
    v.finish(command)
}

pub fn clear_away_response(ended: Ended) -> proto::ClearAwayResponse {
    proto::ClearAwayResponse {
        absence: Some(absence(ended.absence)),
        returned_leads: i32::try_from(ended.returned).unwrap_or(i32::MAX),
        resumed_leads: i32::try_from(ended.resumed).unwrap_or(i32::MAX),
    }
}

pub fn parse_list_away(
    req: &proto::ListAwayRequest,
    actor: &Actor,
) -> Result<ListAway, DomainError> {
    let mut v = Validator::new();
    let user_id = v.optional_text("user_id", &req.user_id, MAX_CODE_CHARS);
    let page = PageSize::parse(&mut v, req.page_size);
    v.finish(())?;
    let user_id = (!user_id.is_empty()).then_some(user_id);
    let after = page_token::decode(
        &req.page_token,
        &listing(actor, &user_id, req.include_ended),
    )?;
    Ok(ListAway {
        user_id,
        include_ended: req.include_ended,
        after,
        page,
    })
}

fn listing(actor: &Actor, user_id: &Option<String>, include_ended: bool) -> Listing {
    (
        format!("absences of {}", actor.user_id),
        user_id.clone(),
        include_ended,
    )
}

/// One page of absences, with the token of the next page when another follows.
pub fn list_away_response(
    absences: Vec<Absence>,
    query: &ListAway,
    actor: &Actor,
) -> proto::ListAwayResponse {
    let listing = listing(actor, &query.user_id, query.include_ended);
    let (absences, next_page_token) =
        page_token::paginate(absences, query.page.get(), &listing, |a| {
            (a.away_from, a.id)
        });
    proto::ListAwayResponse {
        absences: absences.into_iter().map(absence).collect(),
        next_page_token,
    }
}
