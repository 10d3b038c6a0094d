//! Business calendars.

use uuid::Uuid;

use super::{optional_time, round_up_to_micros, timestamp, update_pool_command};
use crate::api::page_token;
use crate::domain::DomainError;
use crate::domain::calendar::{self, BusinessHoursDraft, Calendar, CalendarDraft, NamedCalendar};
use crate::domain::page::PageSize;
use crate::domain::pool::in_mask;
use crate::domain::validate::{MAX_NAME_CHARS, Validator};
use crate::proto;
use crate::service::calendars::{CalendarUpdated, CreateCalendar, DeleteCalendar, UpdateCalendar};
use crate::service::preview::{DeadlinePreview, PreviewDeadlines, ProposedChange};

/// Where a calendar listing goes on from: the last calendar's name and id.
type CalendarKey = (String, Uuid);

/// What a listing's page token is bound to, so another listing's token is refused.
fn listing() -> String {
    "calendars".to_owned()
}

pub fn calendar(named: NamedCalendar) -> proto::Calendar {
    let draft = CalendarDraft::from(named.calendar);
    proto::Calendar {
        id: named.id.to_string(),
        name: named.name,
        workdays: draft.workdays,
        business_hours: draft.business_hours.map(|hours| proto::BusinessHours {
            start: hours.start,
            end: hours.end,
        }),
        holidays: draft.holidays,
        make_up_workdays: draft.make_up_workdays,
        version: named.version,
        created_at: Some(timestamp(named.created_at)),
        updated_at: Some(timestamp(named.updated_at)),
    }
}

/// The calendar as sent; it has no zone (a pool's applies).
fn draft(sent: &proto::Calendar) -> CalendarDraft {
    CalendarDraft {
        timezone: String::new(),
        workdays: sent.workdays.clone(),
        business_hours: sent
            .business_hours
            .as_ref()
            .map(|hours| BusinessHoursDraft {
                start: hours.start.clone(),
                end: hours.end.clone(),
            }),
        holidays: sent.holidays.clone(),
        make_up_workdays: sent.make_up_workdays.clone(),
    }
}

pub fn parse_create(req: &proto::CreateCalendarRequest) -> Result<CreateCalendar, DomainError> {
    let mut v = Validator::new();
    let sent = req.calendar.clone().unwrap_or_default();
    let name = v.required_text("calendar.name", &sent.name, MAX_NAME_CHARS);
    let calendar = v.nested("calendar.", |v| Calendar::parse(v, &draft(&sent)));
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(CreateCalendar {
        name,
        calendar,
        request_id,
    })
}

/// An `UpdateCalendar`, its masked fields validated each on its own: the rules between
/// fields judge the calendar they make with the stored one (`NamedCalendar::updated`), since
/// the request's other fields were not sent.
pub fn parse_update(req: &proto::UpdateCalendarRequest) -> Result<UpdateCalendar, DomainError> {
    let mut v = Validator::new();
    let sent = req.calendar.clone().unwrap_or_default();
    let paths = req
        .update_mask
        .as_ref()
        .map(|m| m.paths.as_slice())
        .unwrap_or_default();
    let name = v.required_text("calendar.name", &sent.name, MAX_NAME_CHARS);
    let patch = draft(&sent);
    v.nested("calendar.", |v| Calendar::check_fields(v, &patch));
    v.retain_fields(|field| in_mask(paths, field.trim_start_matches("calendar.")));
    let calendar_id = v.uuid("calendar.id", &sent.id);
    let mask = v.field_mask(paths, calendar::UPDATABLE_FIELDS);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(UpdateCalendar {
        calendar_id,
        name,
        patch,
        mask,
        reschedule_owned: req.reschedule_owned,
        request_id,
    })
}

pub fn update_response(updated: CalendarUpdated) -> proto::UpdateCalendarResponse {
    proto::UpdateCalendarResponse {
        calendar: Some(calendar(updated.calendar)),
        rescheduled_leads: i32::try_from(updated.rescheduled_leads).unwrap_or(i32::MAX),
    }
}

pub fn parse_delete(req: &proto::DeleteCalendarRequest) -> Result<DeleteCalendar, DomainError> {
    let mut v = Validator::new();
    let calendar_id = v.uuid("calendar_id", &req.calendar_id);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(DeleteCalendar {
        calendar_id,
        request_id,
    })
}

pub fn list_query(
    req: &proto::ListCalendarsRequest,
) -> Result<(Option<CalendarKey>, PageSize), DomainError> {
    let mut v = Validator::new();
    let page = PageSize::parse(&mut v, req.page_size);
    v.finish(())?;
    let after = page_token::decode(&req.page_token, &listing())?;
    Ok((after, page))
}

/// One page of calendars, with the token of the next page when another follows.
pub fn list_response(
    calendars: Vec<NamedCalendar>,
    page: PageSize,
) -> proto::ListCalendarsResponse {
    let (calendars, next_page_token) =
        page_token::paginate(calendars, page.get(), &listing(), |c| {
            (c.name.clone(), c.id)
        });
    proto::ListCalendarsResponse {
        calendars: calendars.into_iter().map(calendar).collect(),
        next_page_token,
    }
}

/// A `PreviewDeadlines`: the pool, the proposed change validated as its own call validates it
/// (its fields named under `pool_change.` or `calendar_change.`), and the horizon.
pub fn parse_preview(
    req: &proto::PreviewDeadlinesRequest,
) -> Result<PreviewDeadlines, DomainError> {
    use proto::preview_deadlines_request::Change;
    let mut v = Validator::new();
    let pool_id = v.uuid("pool_id", &req.pool_id);
    let due_before =
        optional_time(&mut v, "due_before", req.due_before.as_ref()).map(round_up_to_micros);
    let change = match &req.change {
        Some(Change::PoolChange(update)) => {
            nested(&mut v, "pool_change.", update_pool_command(update)).map(ProposedChange::Pool)
        }
        Some(Change::CalendarChange(update)) => {
            nested(&mut v, "calendar_change.", parse_update(update)).map(ProposedChange::Calendar)
        }
        None => {
            v.violation("change", "is required: a pool_change or a calendar_change");
            None
        }
    };
    v.finish(())?;
    let change = change.ok_or_else(|| DomainError::internal("a valid change was not parsed"))?;
    Ok(PreviewDeadlines {
        pool_id,
        change,
        due_before,
    })
}

/// A nested request's value, its violations moved under `prefix`.
fn nested<T>(v: &mut Validator, prefix: &str, parsed: Result<T, DomainError>) -> Option<T> {
    match parsed {
        Ok(value) => Some(value),
        Err(DomainError::ValidationFailed(violations)) => {
            for violation in violations {
                v.violation(
                    &format!("{prefix}{}", violation.field),
                    violation.description,
                );
            }
            None
        }
        Err(other) => {
            v.violation(prefix.trim_end_matches('.'), other.to_string());
            None
        }
    }
}

pub fn preview_response(preview: DeadlinePreview) -> proto::PreviewDeadlinesResponse {
    let count = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
    proto::PreviewDeadlinesResponse {
        days: preview
            .days
            .into_iter()
            .map(|day| proto::DueDay {
                user_id: day.user_id,
                date: day.day.to_string(),
                due_now: count(day.due_now),
                due_with_change: count(day.due_with_change),
            })
            .collect(),
        changed_leads: count(preview.changed_leads),
        timezone: preview.timezone,
    }
}
