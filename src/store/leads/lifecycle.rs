//! Lock, unlock, convert, discard, reopen and move. Each is one statement: a `target` CTE locks
//! the lead only if its precondition holds, the event is written from that row, and the lead
//! update returns the new state. `None`: the precondition did not hold and nothing changed.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{LeadRow, LeadView, view_of};
use crate::domain::Result;
use crate::domain::access::Actor;

/// What every lifecycle change records with its event.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub lead_id: Uuid,
    pub note: Option<&'a str>,
    pub request_id: Option<Uuid>,
    pub now: DateTime<Utc>,
}

/// Sets the lock flag of a live lead; `LOCKED`/`UNLOCKED` event.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, lead_id = %change.lead_id, locked))]
pub async fn set_lock(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    change: Change<'_>,
    locked: bool,
) -> Result<Option<LeadView>> {
    let row = sqlx::query_as!(
        LeadRow,
        r#"WITH target AS (
               SELECT l.id, l.pool_id, l.owner_id FROM leads l
               WHERE l.tenant_id = $1 AND l.id = $2 AND l.state IN ('IN_POOL', 'OWNED')
                 AND l.locked <> $3
               FOR UPDATE
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner,
                                        actor, note, occurred_at, request_id)
               SELECT $1, t.id, t.pool_id, CASE WHEN $3 THEN 'LOCKED' ELSE 'UNLOCKED' END,
                      t.owner_id, t.owner_id, $4, $5, $6, $7
               FROM target t
           )
           UPDATE leads l SET locked = $3, version = l.version + 1, updated_at = $6
           FROM target t
           JOIN pools p ON p.tenant_id = $1 AND p.id = t.pool_id
           LEFT JOIN members v ON v.tenant_id = $1 AND v.pool_id = t.pool_id AND v.user_id = $4
           WHERE l.tenant_id = $1 AND l.id = t.id
           RETURNING v.role AS "viewer_role?", v.active AS "viewer_active?",
                     p.mask_contacts AS pool_masks_contacts, l.*"#,
        actor.tenant_id,
        change.lead_id,
        locked,
        actor.user_id,
        change.note,
        change.now,
        change.request_id,
    )
    .fetch_optional(db)
    .await;
    view_of(row)
}

/// Converts an owned lead (by its owner, or anyone when `manages`); the owner's held count drops.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, lead_id = %change.lead_id))]
pub async fn convert(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    change: Change<'_>,
    manages: bool,
) -> Result<Option<LeadView>> {
    let row = sqlx::query_as!(
        LeadRow,
        r#"WITH target AS (
               SELECT l.id, l.pool_id, l.owner_id FROM leads l
               WHERE l.tenant_id = $1 AND l.id = $2 AND l.state = 'OWNED'
                 AND (l.owner_id = $3 OR $4::boolean)
               FOR UPDATE
           ),
           uncounted AS (
               UPDATE members m SET held_count = m.held_count - 1, updated_at = $6
               FROM target t
               WHERE m.tenant_id = $1 AND m.pool_id = t.pool_id AND m.user_id = t.owner_id
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, actor,
                                        note, occurred_at, request_id)
               SELECT $1, t.id, t.pool_id, 'CONVERTED', t.owner_id, $3, $5, $6, $7
               FROM target t
           )
           UPDATE leads l
           SET state = 'CONVERTED', owner_id = NULL, previous_owner_id = t.owner_id,
               acquired_at = NULL, acquired_via = NULL, follow_up_deadline = NULL,
               close_deadline = NULL, version = l.version + 1, updated_at = $6
           FROM target t
           JOIN pools p ON p.tenant_id = $1 AND p.id = t.pool_id
           LEFT JOIN members v ON v.tenant_id = $1 AND v.pool_id = t.pool_id AND v.user_id = $3
           WHERE l.tenant_id = $1 AND l.id = t.id
           RETURNING v.role AS "viewer_role?", v.active AS "viewer_active?",
                     p.mask_contacts AS pool_masks_contacts, l.*"#,
        actor.tenant_id,
        change.lead_id,
        actor.user_id,
        manages,
        change.note,
        change.now,
        change.request_id,
    )
    .fetch_optional(db)
    .await;
    view_of(row)
}

/// Discards a live lead: any one when `manages`, else only the actor's own unlocked lead; the
/// reason must be one of the pool's codes when it has any. An owner's held count drops.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, lead_id = %change.lead_id))]
pub async fn discard(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    change: Change<'_>,
    manages: bool,
    reason: &str,
) -> Result<Option<LeadView>> {
    let row = sqlx::query_as!(
        LeadRow,
        r#"WITH target AS (
               SELECT l.id, l.pool_id, l.owner_id FROM leads l
               JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
               WHERE l.tenant_id = $1 AND l.id = $2 AND l.state IN ('IN_POOL', 'OWNED')
                 AND ($4::boolean OR (l.owner_id = $3 AND NOT l.locked))
                 AND (cardinality(p.release_reasons) = 0 OR $8 = ANY (p.release_reasons))
               FOR UPDATE OF l
           ),
           uncounted AS (
               UPDATE members m SET held_count = m.held_count - 1, updated_at = $6
               FROM target t
               WHERE m.tenant_id = $1 AND m.pool_id = t.pool_id AND m.user_id = t.owner_id
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, actor,
                                        reason, note, occurred_at, request_id)
               SELECT $1, t.id, t.pool_id, 'DISCARDED', t.owner_id, $3, $8, $5, $6, $7
               FROM target t
           )
           UPDATE leads l
           SET state = 'DISCARDED', owner_id = NULL,
               previous_owner_id = COALESCE(t.owner_id, l.previous_owner_id),
               acquired_at = NULL, acquired_via = NULL, follow_up_deadline = NULL,
               close_deadline = NULL, version = l.version + 1, updated_at = $6
           FROM target t
           JOIN pools p ON p.tenant_id = $1 AND p.id = t.pool_id
           LEFT JOIN members v ON v.tenant_id = $1 AND v.pool_id = t.pool_id AND v.user_id = $3
           WHERE l.tenant_id = $1 AND l.id = t.id
           RETURNING v.role AS "viewer_role?", v.active AS "viewer_active?",
                     p.mask_contacts AS pool_masks_contacts, l.*"#,
        actor.tenant_id,
        change.lead_id,
        actor.user_id,
        manages,
        change.note,
        change.now,
        change.request_id,
        reason,
    )
    .fetch_optional(db)
    .await;
    view_of(row)
}

/// Puts a discarded lead back into its pool.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, lead_id = %change.lead_id))]
pub async fn reopen(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    change: Change<'_>,
) -> Result<Option<LeadView>> {
    let row = sqlx::query_as!(
        LeadRow,
        r#"WITH target AS (
               SELECT l.id, l.pool_id FROM leads l
               WHERE l.tenant_id = $1 AND l.id = $2 AND l.state = 'DISCARDED'
               FOR UPDATE
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, actor, note,
                                        occurred_at, request_id)
               SELECT $1, t.id, t.pool_id, 'REOPENED', $3, $4, $5, $6 FROM target t
           )
           UPDATE leads l
           SET state = 'IN_POOL', pool_entered_at = $5, version = l.version + 1, updated_at = $5
           FROM target t
           JOIN pools p ON p.tenant_id = $1 AND p.id = t.pool_id
           LEFT JOIN members v ON v.tenant_id = $1 AND v.pool_id = t.pool_id AND v.user_id = $3
           WHERE l.tenant_id = $1 AND l.id = t.id
           RETURNING v.role AS "viewer_role?", v.active AS "viewer_active?",
                     p.mask_contacts AS pool_masks_contacts, l.*"#,
        actor.tenant_id,
        change.lead_id,
        actor.user_id,
        change.note,
        change.now,
        change.request_id,
    )
    .fetch_optional(db)
    .await;
    view_of(row)
}

/// Moves a pool lead to `target_pool` (same tenant: the foreign key says so).
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, lead_id = %change.lead_id, %target_pool))]
pub async fn move_to_pool(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    change: Change<'_>,
    target_pool: Uuid,
) -> Result<Option<LeadView>> {
    let row = sqlx::query_as!(
        LeadRow,
        r#"WITH target AS (
               SELECT l.id, l.pool_id FROM leads l
               WHERE l.tenant_id = $1 AND l.id = $2 AND l.state = 'IN_POOL' AND l.pool_id <> $7
               FOR UPDATE
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, to_pool_id, kind, actor,
                                        note, occurred_at, request_id)
               SELECT $1, t.id, t.pool_id, $7, 'MOVED', $3, $4, $5, $6 FROM target t
           )
           UPDATE leads l
           SET pool_id = $7, pool_entered_at = $5, version = l.version + 1, updated_at = $5
           FROM target t
           JOIN pools p ON p.tenant_id = $1 AND p.id = $7
           LEFT JOIN members v ON v.tenant_id = $1 AND v.pool_id = $7 AND v.user_id = $3
           WHERE l.tenant_id = $1 AND l.id = t.id
           RETURNING v.role AS "viewer_role?", v.active AS "viewer_active?",
                     p.mask_contacts AS pool_masks_contacts, l.*"#,
        actor.tenant_id,
        change.lead_id,
        actor.user_id,
        change.note,
        change.now,
        change.request_id,
        target_pool,
    )
    .fetch_optional(db)
    .await;
    view_of(row)
}
