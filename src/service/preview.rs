//! PreviewDeadlines: how a pool's owned leads would fall due under a proposed rule or calendar
//! change. The change runs, with the rescheduling it implies, in a transaction that is rolled
//! back: the figures are what applying it would do, and nothing is kept.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Context;
use super::access;
use super::calendars::{self, UpdateCalendar};
use super::pools::{self, UpdatePool};
use super::retry::with_retries;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::due::{self, DEFAULT_PREVIEW_DAYS, DueDay};
use crate::domain::validate::Validator;
use crate::store::{self, db_error};

/// A proposed change: new rules for the pool, or a calendar changed.
#[derive(Debug, Clone, Serialize)]
pub enum ProposedChange {
    Pool(UpdatePool),
    Calendar(UpdateCalendar),
}

/// A validated `PreviewDeadlines`.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewDeadlines {
    pub pool_id: Uuid,
    pub change: ProposedChange,
    /// Count leads due before then; `None`: [`DEFAULT_PREVIEW_DAYS`] from now.
    pub due_before: Option<DateTime<Utc>>,
}

/// The pool's owned leads due per owner and day, now and with the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlinePreview {
    pub days: Vec<DueDay>,
    /// Owned leads whose deadlines the change moves.
    pub changed_leads: i64,
    /// The zone the days are in: the pool's, after the change.
    pub timezone: String,
}

/// For managers of the pool and admins. A preview that meets a concurrent change of the pool or
/// calendar (it applies the change, as an update would) runs again, as the update would.
pub async fn preview_deadlines(
    ctx: &Context,
    actor: &Actor,
    command: PreviewDeadlines,
) -> Result<DeadlinePreview> {
    let retried = &ctx.metrics.conflict_retries;
    with_retries(retried, || preview_once(ctx, actor, &command)).await
}

/// One run of [`preview_deadlines`], in a transaction it rolls back.
async fn preview_once(
    ctx: &Context,
    actor: &Actor,
    command: &PreviewDeadlines,
) -> Result<DeadlinePreview> {
    let now = ctx.clock.now();
    let before = command
        .due_before
        .unwrap_or(now + Duration::days(DEFAULT_PREVIEW_DAYS));
    let (tenant_id, pool_id) = (&actor.tenant_id, command.pool_id);
    let mut tx = ctx.begin().await?;
    let pool = access::managed_pool(&mut *tx, actor, pool_id).await?;
    let timezone = match &command.change {
        ProposedChange::Pool(update) => {
            require_same_pool(update, pool_id)?;
            pool.updated(update.patch.clone(), &update.mask).timezone
        }
        ProposedChange::Calendar(_) => pool.timezone.clone(),
    };
    let due_now = store::due::by_owner_day(&mut *tx, tenant_id, pool_id, &timezone, before);
    let due_now = due_now.await?;
    let changed_leads = apply(&mut tx, actor, command, now).await?;
    let with_change = store::due::by_owner_day(&mut *tx, tenant_id, pool_id, &timezone, before);
    let with_change = with_change.await?;
    // Nothing of the change is kept: it ran only to be counted.
    tx.rollback().await.map_err(db_error)?;
    Ok(DeadlinePreview {
        days: due::compare(due_now, with_change),
        changed_leads,
        timezone,
    })
}

/// Runs the change as applying it with `reschedule_owned` would, for this pool; how many of its
/// owned leads got new deadlines.
async fn apply(
    conn: &mut sqlx::PgConnection,
    actor: &Actor,
    command: &PreviewDeadlines,
    now: DateTime<Utc>,
) -> Result<i64> {
    match &command.change {
        ProposedChange::Pool(update) => {
            let update = UpdatePool {
                reschedule_owned: true,
                ..update.clone()
            };
            let updated = pools::apply_update(conn, actor, &update, now)
                .await
                .map_err(|e| e.nested_in("pool_change."))?;
            Ok(updated.rescheduled_leads)
        }
        ProposedChange::Calendar(update) => {
            let update = UpdateCalendar {
                reschedule_owned: false,
                ..update.clone()
            };
            let updated = calendars::apply_update(conn, actor, &update, now)
                .await
                .map_err(|e| e.nested_in("calendar_change."))?;
            let (tenant_id, calendar_id) = (&actor.tenant_id, updated.calendar.id);
            let naming = store::pools::naming_calendar(&mut *conn, tenant_id, calendar_id).await?;
            if !naming.contains(&command.pool_id) {
                return Ok(0);
            }
            store::pools::reschedule(&mut *conn, actor, command.pool_id, None, now).await
        }
    }
}

/// A pool change must be of the pool previewed.
fn require_same_pool(update: &UpdatePool, pool_id: Uuid) -> Result<()> {
    let mut v = Validator::new();
    if update.pool_id != pool_id {
        v.violation("pool_change.pool.id", "must be the pool_id being previewed");
    }
    v.finish(())
}
