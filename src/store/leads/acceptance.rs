//! Accepting a lead pushed to its owner, and the leads waiting for acceptance.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{LeadRow, LeadView, view_of, views_of};
use crate::domain::Result;
use crate::domain::access::Actor;

/// The actor accepts a lead pushed to them: its accept deadline and chain end, with an
/// `ACCEPTED` event, in one statement on the locked row. A lead the reroute sweep passed on
/// first is no longer theirs. `None`: the actor does not own the lead, or it is not pending.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, %lead_id))]
pub async fn accept(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    lead_id: Uuid,
    request_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Option<LeadView>> {
    let row = sqlx::query_as!(
        LeadRow,
        r#"WITH target AS (
               SELECT l.id, l.pool_id FROM leads l
               WHERE l.tenant_id = $1 AND l.id = $2 AND l.state = 'OWNED' AND l.owner_id = $3
                 AND l.accept_deadline IS NOT NULL
               FOR UPDATE
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner,
                                        actor, occurred_at, request_id)
               SELECT $1, t.id, t.pool_id, 'ACCEPTED', $3, $3, $3, $4, $5 FROM target t
           )
           UPDATE leads l
           SET accept_deadline = NULL, accept_chain = '{}', version = l.version + 1,
               updated_at = $4
           FROM target t
           JOIN pools p ON p.tenant_id = $1 AND p.id = t.pool_id
           LEFT JOIN members v ON v.tenant_id = $1 AND v.pool_id = t.pool_id AND v.user_id = $3
           WHERE l.tenant_id = $1 AND l.id = t.id
           RETURNING v.role AS "viewer_role?", v.active AS "viewer_active?",
                     p.mask_contacts AS pool_masks_contacts, l.*"#,
        actor.tenant_id,
        lead_id,
        actor.user_id,
        now,
        request_id,
    )
    .fetch_optional(db)
    .await;
    view_of(row)
}

/// Which pending leads to list: of a pool (`None`: every pool of the tenant), of one owner
/// (`None`: every owner), after the keyset position `(accept_deadline, id)`.
#[derive(Debug, Clone, Copy)]
pub struct PendingQuery<'a> {
    pub pool_id: Option<Uuid>,
    pub owner_id: Option<&'a str>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// The leads waiting for acceptance, soonest deadline first, as the actor sees them.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id))]
pub async fn pending(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    query: PendingQuery<'_>,
) -> Result<Vec<LeadView>> {
    let (after_deadline, after_id) = query.after.unzip();
    let rows = sqlx::query_as!(
        LeadRow,
        r#"SELECT m.role AS "viewer_role?", m.active AS "viewer_active?",
                  p.mask_contacts AS pool_masks_contacts, l.*
           FROM leads l
           JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
           LEFT JOIN members m
             ON m.tenant_id = l.tenant_id AND m.pool_id = l.pool_id AND m.user_id = $2
           WHERE l.tenant_id = $1 AND l.accept_deadline IS NOT NULL
             AND ($3::uuid IS NULL OR l.pool_id = $3)
             AND ($4::text IS NULL OR l.owner_id = $4)
             AND ($5::timestamptz IS NULL OR (l.accept_deadline, l.id) > ($5, $6))
           ORDER BY l.accept_deadline, l.id
           LIMIT $7"#,
        actor.tenant_id,
        actor.user_id,
        query.pool_id,
        query.owner_id,
        after_deadline,
        after_id,
        query.limit,
    )
    .fetch_all(db)
    .await;
    views_of(rows)
}
