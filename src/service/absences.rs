//! Leave and cover: planning, clearing and listing absences, and starting and ending them on
//! time (the scheduler's part, run before each recycle sweep so a paused owner's leads are never
//! recycled for a deadline the absence stopped).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Context;
use super::idempotency;
use crate::domain::absence::{self, Absence, AbsenceState, AwayMode, AwayPlan};
use crate::domain::access::Actor;
use crate::domain::event::EventKind;
use crate::domain::page::PageSize;
use crate::domain::recycle::SCHEDULER_ACTOR;
use crate::domain::validate::Validator;
use crate::domain::{DomainError, Result};
use crate::store;
use crate::store::absences::effects;

/// A validated `SetAway`; `away_from` unset means when the call runs.
#[derive(Debug, Clone, Serialize)]
pub struct SetAway {
    pub user_id: String,
    pub away_from: Option<DateTime<Utc>>,
    pub away_until: DateTime<Utc>,
    pub mode: AwayMode,
    pub reason: String,
    pub request_id: Option<Uuid>,
}

/// A validated `ClearAway`.
#[derive(Debug, Clone, Serialize)]
pub struct ClearAway {
    pub absence_id: Uuid,
    pub request_id: Option<Uuid>,
}

/// A validated `ListAway`.
#[derive(Debug, Clone)]
pub struct ListAway {
    pub user_id: Option<String>,
    pub include_ended: bool,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub page: PageSize,
}

/// What ending an absence did to the user's leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    pub absence: Absence,
    /// Leads that came back from the covering colleague.
    pub returned: i64,
    /// Leads whose deadlines moved by the time away.
    pub resumed: i64,
}

/// Plans an absence of the caller, or (as their manager or an admin) of another user.
pub async fn set_away(ctx: &Context, actor: &Actor, command: SetAway) -> Result<Absence> {
    let key = ("away.set", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        let now = ctx.clock.now();
        let plan = AwayPlan {
            user_id: command.user_id.clone(),
            away_from: command.away_from.unwrap_or(now),
            away_until: command.away_until,
            mode: command.mode.clone(),
            reason: command.reason.clone(),
        };
        let mut v = Validator::new();
        plan.check(&mut v, now);
        v.finish(())?;
        require_manager_of(conn, actor, &plan.user_id).await?;
        require_active_member(conn, &actor.tenant_id, &plan.user_id).await?;
        if let AwayMode::Cover { colleague } = &plan.mode {
            require_active_member(conn, &actor.tenant_id, colleague).await?;
        }
        store::absences::insert(conn, &actor.tenant_id, &plan, &actor.user_id, now).await
    })
    .await
}

/// Cancels an absence not yet begun, or ends one under way now.
pub async fn clear_away(ctx: &Context, actor: &Actor, command: ClearAway) -> Result<Ended> {
    let key = ("away.clear", command.request_id);
    idempotency::once_atomic(ctx, actor, key, &command, async |tx| {
        let tenant_id = &actor.tenant_id;
        let absence = store::absences::lock(tx, tenant_id, command.absence_id).await?;
        require_manager_of(tx, actor, &absence.user_id).await?;
        let now = ctx.clock.now();
        let ended = match absence.state {
            AbsenceState::Scheduled => {
                let cancelled = AbsenceState::Cancelled;
                let absence =
                    store::absences::set_state(&mut *tx, tenant_id, absence.id, cancelled, now)
                        .await?;
                Ended {
                    absence,
                    returned: 0,
                    resumed: 0,
                }
            }
            AbsenceState::Active => {
                let by = (actor.user_id.as_str(), command.request_id);
                end(tx, tenant_id, &absence, by, now).await?
            }
            AbsenceState::Ended | AbsenceState::Cancelled => {
                return Err(DomainError::AbsenceEnded(absence.id));
            }
        };
        Ok(ended)
    })
    .await
}

/// The caller's absences, or (for managers and admins) everyone's or one user's; one more than
/// a page, so the caller learns whether another page follows.
pub async fn list_away(ctx: &Context, actor: &Actor, query: ListAway) -> Result<Vec<Absence>> {
    let mut conn = ctx.acquire().await?;
    let user_id = match query.user_id {
        Some(user_id) => {
            if !actor.reads_everything() {
                require_manager_of(&mut conn, actor, &user_id).await?;
            }
            Some(user_id)
        }
        None if actor.reads_everything() => None,
        None => {
            let tenant_id = &actor.tenant_id;
            let manager = store::absences::manages_anyone(&mut *conn, tenant_id, &actor.user_id);
            (!manager.await?).then(|| actor.user_id.clone())
        }
    };
    let limit = query.page.fetch_limit();
    let (tenant_id, include_ended) = (&actor.tenant_id, query.include_ended);
    store::absences::list(
        &mut *conn,
        tenant_id,
        user_id.as_deref(),
        include_ended,
        query.after,
        limit,
    )
    .await
}

/// `MEMBER_AWAY` when the user is away now, unless overridden (by a manager of the leads' pools or
/// an admin: [`crate::domain::assignment::away_overridden`]).
pub(crate) async fn require_present(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    override_away: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    if override_away {
        return Ok(());
    }
    match store::absences::away_until(conn, tenant_id, user_id, now).await? {
        None => Ok(()),
        away_until => Err(DomainError::MemberAway {
            user_id: user_id.to_owned(),
            away_until,
        }),
    }
}

/// Starts and ends, one per transaction, the absences due at `now` (of one tenant, or all),
/// until none is left or `stop` is cancelled; how many steps it took. Each absence is locked
/// and moved on by a conditional update, so concurrent sweeps never apply one twice. `now` is
/// the recycle sweep's moment: the events it writes then never read earlier than these.
pub async fn apply_due(
    ctx: &Context,
    tenant_id: Option<&str>,
    now: DateTime<Utc>,
    stop: &CancellationToken,
) -> Result<u64> {
    let mut steps = 0;
    while !stop.is_cancelled() {
        let mut tx = ctx.begin().await?;
        let Some((tenant, due)) = store::absences::lock_next_due(&mut tx, tenant_id, now).await?
        else {
            break;
        };
        if due.state == AbsenceState::Scheduled {
            start(&mut tx, &tenant, &due, now).await?;
        } else {
            end(
                &mut tx,
                &tenant,
                &due,
                (SCHEDULER_ACTOR, None),
                due.away_until,
            )
            .await?;
        }
        ctx.commit(tx).await?;
        ctx.wakeups.written();
        steps += 1;
    }
    Ok(steps)
}

/// Starts the absence: AWAY_STARTED in each of the user's pools, and with COVER their leads to
/// the colleague (as many as fit).
async fn start(
    conn: &mut PgConnection,
    tenant_id: &str,
    absence: &Absence,
    now: DateTime<Utc>,
) -> Result<()> {
    let active = AbsenceState::Active;
    let absence =
        store::absences::set_state(&mut *conn, tenant_id, absence.id, active, now).await?;
    let kind = EventKind::AwayStarted;
    effects::announce(
        &mut *conn,
        tenant_id,
        &absence,
        kind,
        SCHEDULER_ACTOR,
        None,
        now,
    )
    .await?;
    if let AwayMode::Cover { colleague } = &absence.mode {
        let user = absence.user_id.as_str();
        let moved = effects::cover(&mut *conn, tenant_id, user, colleague, now).await?;
        tracing::info!(absence_id = %absence.id, moved, "cover started");
    }
    Ok(())
}

/// Ends the absence at `at` (its planned end, or earlier when cleared): the paused deadlines
/// move by the time away, then covered leads come back, then AWAY_ENDED in each pool. `by` is
/// who ended it and their `request_id`.
async fn end(
    conn: &mut PgConnection,
    tenant_id: &str,
    absence: &Absence,
    (actor, request_id): (&str, Option<Uuid>),
    at: DateTime<Utc>,
) -> Result<Ended> {
    let ended = AbsenceState::Ended;
    let absence = store::absences::set_state(&mut *conn, tenant_id, absence.id, ended, at).await?;
    // Paused leads first: the covered ones coming back were held by the colleague, not paused.
    let resumed = effects::resume(&mut *conn, tenant_id, &absence, actor, request_id, at).await?;
    let user = absence.user_id.as_str();
    let returned = effects::end_cover(&mut *conn, tenant_id, user, actor, request_id, at).await?;
    let kind = EventKind::AwayEnded;
    effects::announce(&mut *conn, tenant_id, &absence, kind, actor, request_id, at).await?;
    Ok(Ended {
        absence,
        returned,
        resumed,
    })
}

/// The actor may act on the user's absences (see [`absence::require_absence_manager`]).
async fn require_manager_of(conn: &mut PgConnection, actor: &Actor, user_id: &str) -> Result<()> {
    let own_or_admin = actor.user_id == user_id || actor.roles.admin;
    let manages = !own_or_admin
        && store::absences::manages(&mut *conn, &actor.tenant_id, &actor.user_id, user_id).await?;
    absence::require_absence_manager(actor, user_id, manages)
}

/// `MEMBER_NOT_FOUND` unless the user is an active member of a pool of the tenant.
async fn require_active_member(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<()> {
    if store::absences::is_active_member(&mut *conn, tenant_id, user_id).await? {
        Ok(())
    } else {
        Err(DomainError::UserNotActiveMember {
            user_id: user_id.to_owned(),
        })
    }
}
