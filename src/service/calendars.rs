//! A tenant's business calendars: creating, reading, listing, changing and deleting them.
//! Anyone of the tenant reads them; only tenant admins change them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Context;
use super::idempotency;
use super::reschedule::{self, Rescheduled};
use crate::domain::access::Actor;
use crate::domain::calendar::{Calendar, CalendarDraft, NamedCalendar};
use crate::domain::page::PageSize;
use crate::domain::{DomainError, Result};
use crate::store;

/// A validated `CreateCalendar`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateCalendar {
    pub name: String,
    pub calendar: Calendar,
    pub request_id: Option<Uuid>,
}

/// A validated `UpdateCalendar`: the fields named in `mask` are taken from `name` and `patch`.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateCalendar {
    pub calendar_id: Uuid,
    pub name: String,
    pub patch: CalendarDraft,
    pub mask: Vec<String>,
    /// Recompute the owned leads' deadlines of every pool naming the calendar.
    pub reschedule_owned: bool,
    pub request_id: Option<Uuid>,
}

/// A calendar after an update, and how many owned leads got new deadlines.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalendarUpdated {
    pub calendar: NamedCalendar,
    pub rescheduled_leads: i64,
}

/// A validated `DeleteCalendar`.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteCalendar {
    pub calendar_id: Uuid,
    pub request_id: Option<Uuid>,
}

pub async fn create(
    ctx: &Context,
    actor: &Actor,
    command: CreateCalendar,
) -> Result<NamedCalendar> {
    actor.require_admin()?;
    let key = ("calendar.create", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        let (name, calendar) = (&command.name, &command.calendar);
        store::calendars::create(conn, &actor.tenant_id, name, calendar, ctx.clock.now()).await
    })
    .await
}

pub async fn get(ctx: &Context, actor: &Actor, calendar_id: Uuid) -> Result<NamedCalendar> {
    store::calendars::get(&mut *ctx.acquire().await?, &actor.tenant_id, calendar_id).await
}

/// The tenant's calendars by name, after `after`; one more than a page, so the caller learns
/// whether another page follows.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    after: Option<(String, Uuid)>,
    page: PageSize,
) -> Result<Vec<NamedCalendar>> {
    let after = after.as_ref().map(|(name, id)| (name.as_str(), *id));
    let mut conn = ctx.acquire().await?;
    store::calendars::list(&mut *conn, &actor.tenant_id, after, page.fetch_limit()).await
}

/// Changes the masked fields; with `reschedule_owned`, the owned leads of every pool naming
/// the calendar get the deadlines it now implies, in the same transaction.
/// `CONCURRENT_MODIFICATION` when the calendar changed between its read and its write.
pub async fn update(
    ctx: &Context,
    actor: &Actor,
    command: UpdateCalendar,
) -> Result<CalendarUpdated> {
    actor.require_admin()?;
    let key = ("calendar.update", command.request_id);
    // One transaction keeps the calendar and the deadlines it implies together.
    let updated = idempotency::once_atomic(ctx, actor, key, &command, async |tx| {
        apply_update(tx, actor, &command, ctx.clock.now()).await
    })
    .await?;
    if command.reschedule_owned {
        let scope = Rescheduled::Calendar(command.calendar_id);
        reschedule::again_after_commit(ctx, actor, scope, command.request_id).await;
    }
    Ok(updated)
}

/// The update's statements, in the caller's transaction (which `PreviewDeadlines` rolls back).
pub(crate) async fn apply_update(
    conn: &mut PgConnection,
    actor: &Actor,
    command: &UpdateCalendar,
    now: DateTime<Utc>,
) -> Result<CalendarUpdated> {
    let tenant_id = &actor.tenant_id;
    let current = store::calendars::get(&mut *conn, tenant_id, command.calendar_id).await?;
    let next = current.updated(&command.name, &command.patch, &command.mask)?;
    let calendar = store::calendars::update(&mut *conn, tenant_id, &next, now)
        .await?
        .ok_or(DomainError::ConcurrentModification)?;
    let mut rescheduled_leads = 0;
    if command.reschedule_owned {
        let pools = store::pools::naming_calendar(&mut *conn, tenant_id, calendar.id).await?;
        for pool_id in pools {
            let request_id = command.request_id;
            rescheduled_leads +=
                store::pools::reschedule(&mut *conn, actor, pool_id, request_id, now).await?;
        }
    }
    Ok(CalendarUpdated {
        calendar,
        rescheduled_leads,
    })
}

/// Deletes a calendar no pool names.
pub async fn delete(ctx: &Context, actor: &Actor, command: DeleteCalendar) -> Result<()> {
    actor.require_admin()?;
    let key = ("calendar.delete", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        store::calendars::delete(conn, &actor.tenant_id, command.calendar_id).await
    })
    .await
}
