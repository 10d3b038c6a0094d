//! The one statement every assignment path ends in: a batch of lead moves (pool → member,
//! member → member, member → pool) applied from an UNNEST of the plan. It re-checks each lead's
//! state and owner, and each receiving member's activity and cap, moves the leads, adjusts every
//! member's held count and appends one event per lead, all together. A plan the statement cannot
//! apply in full is refused, and the caller's transaction rolls back.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::acceptance::Acceptance;
use crate::domain::assignment::Moved;
use crate::domain::event::EventKind;
use crate::domain::lead::AcquiredVia;
use crate::store::db_error;

/// One lead's move: from its current owner (`None`: the pool) to a member (`None`: the pool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub lead_id: Uuid,
    pub from_owner: Option<String>,
    pub to_owner: Option<String>,
}

/// What a batch of moves records: its event and, for leads that gain an owner, how.
#[derive(Debug, Clone, Copy)]
pub struct Changes<'a> {
    pub tenant_id: &'a str,
    pub actor: &'a str,
    pub kind: EventKind,
    pub acquired_via: AcquiredVia,
    pub reason: Option<&'a str>,
    pub note: Option<&'a str>,
    /// Locked leads move too (offboarding hands them to a colleague).
    pub move_locked: bool,
    /// Whether the receiving members must accept the leads by a deadline.
    pub acceptance: Acceptance,
    pub request_id: Option<Uuid>,
    pub now: DateTime<Utc>,
}

/// Applies every move or none: `CONCURRENT_MODIFICATION` when the statement could not apply one
/// of them (the caller locked what it planned from, so that means a bug or a lost lock).
#[tracing::instrument(skip_all, fields(tenant_id = %changes.tenant_id, moves = moves.len(), kind = changes.kind.as_str()))]
pub async fn apply(
    conn: &mut PgConnection,
    moves: &[Move],
    changes: Changes<'_>,
) -> Result<Vec<Moved>> {
    if moves.is_empty() {
        return Ok(Vec::new());
    }
    let lead_ids: Vec<Uuid> = moves.iter().map(|m| m.lead_id).collect();
    let from: Vec<Option<String>> = moves.iter().map(|m| m.from_owner.clone()).collect();
    let to: Vec<Option<String>> = moves.iter().map(|m| m.to_owner.clone()).collect();
    let rows = sqlx::query!(
        r#"WITH plan AS (
               SELECT * FROM UNNEST($2::uuid[], $3::text[], $4::text[])
                   AS p(lead_id, from_owner, to_owner)
           ),
           target AS (
               SELECT l.id, l.pool_id, p.from_owner, p.to_owner,
                      CASE WHEN p.to_owner IS NULL THEN recycle_destination(po)
                           ELSE l.pool_id END AS destination,
                      $10::timestamptz + make_interval(secs => po.reclaim_cooldown_seconds)
                          AS cooldown_until,
                      CASE WHEN p.to_owner IS NOT NULL
                                AND ($13 IN ('PUSH', 'REROUTE') OR ($13 = 'ASSIGN' AND po.sla_on_assign))
                           THEN accept_deadline(po, $10) END AS accept_deadline,
                      CASE WHEN $13 = 'REROUTE' THEN l.accept_chain ELSE '{}' END AS chain
               FROM plan p
               JOIN leads l ON l.tenant_id = $1 AND l.id = p.lead_id
               JOIN pools po ON po.tenant_id = $1 AND po.id = l.pool_id
               WHERE l.owner_id IS NOT DISTINCT FROM p.from_owner
                 AND l.state = CASE WHEN p.from_owner IS NULL THEN 'IN_POOL' ELSE 'OWNED' END
                 AND p.to_owner IS DISTINCT FROM p.from_owner
                 AND (NOT l.locked OR $12)
           ),
           deltas AS (
               SELECT d.pool_id, d.user_id, sum(d.delta)::integer AS delta
               FROM (SELECT pool_id, to_owner AS user_id, 1 AS delta
                     FROM target WHERE to_owner IS NOT NULL
                     UNION ALL
                     SELECT pool_id, from_owner, -1 FROM target WHERE from_owner IS NOT NULL) d
               GROUP BY d.pool_id, d.user_id
           ),
           counted AS (
               UPDATE members m SET held_count = m.held_count + d.delta, updated_at = $10
               FROM deltas d JOIN pools po ON po.tenant_id = $1 AND po.id = d.pool_id
               WHERE m.tenant_id = $1 AND m.pool_id = d.pool_id AND m.user_id = d.user_id
                 AND (d.delta <= 0
                      OR (m.active AND m.held_count + d.delta
                                       <= COALESCE(m.max_held, po.max_held_per_member, 2147483647)))
               RETURNING m.pool_id, m.user_id
           ),
           moved AS (
               UPDATE leads l
               SET state = CASE WHEN t.to_owner IS NULL THEN 'IN_POOL' ELSE 'OWNED' END,
                   owner_id = t.to_owner,
                   pool_id = t.destination,
                   previous_owner_id = CASE WHEN t.to_owner IS NULL THEN t.from_owner
                                            ELSE l.previous_owner_id END,
                   cooldown_until = CASE WHEN t.to_owner IS NULL THEN t.cooldown_until
                                         ELSE l.cooldown_until END,
                   acquired_at = CASE WHEN t.to_owner IS NULL THEN NULL ELSE $10 END,
                   acquired_via = CASE WHEN t.to_owner IS NULL THEN NULL ELSE $6 END,
                   follow_up_deadline = CASE WHEN t.to_owner IS NULL THEN NULL
                                             ELSE follow_up_deadline(po, l.grade, $10) END,
                   close_deadline = CASE WHEN t.to_owner IS NULL THEN NULL
                                         ELSE close_deadline(po, l.grade, $10) END,
                   pool_entered_at = CASE WHEN t.to_owner IS NULL THEN $10
                                          ELSE l.pool_entered_at END,
                   accept_deadline = t.accept_deadline,
                   accept_chain = CASE WHEN t.accept_deadline IS NULL THEN '{}'
                                       ELSE t.chain || t.to_owner END,
                   version = l.version + 1, updated_at = $10
               FROM target t JOIN pools po ON po.tenant_id = $1 AND po.id = t.pool_id
               WHERE l.tenant_id = $1 AND l.id = t.id
                 AND (t.to_owner IS NULL OR EXISTS (
                       SELECT 1 FROM counted c WHERE c.pool_id = t.pool_id AND c.user_id = t.to_owner))
               RETURNING l.id, t.pool_id, t.destination, t.from_owner, t.to_owner
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, to_pool_id, kind, from_owner,
                                        to_owner, actor, reason, note, occurred_at, request_id)
               SELECT $1, m.id, m.pool_id, NULLIF(m.destination, m.pool_id), $5, m.from_owner,
                      m.to_owner, $7, $8, $9, $10, $11
               FROM moved m
           )
           SELECT id AS "lead_id!", pool_id AS "pool_id!", destination AS "destination!",
                  to_owner
           FROM moved"#,
        changes.tenant_id,
        &lead_ids,
        &from as &[Option<String>],
        &to as &[Option<String>],
        changes.kind.as_str(),
        changes.acquired_via.as_str(),
        changes.actor,
        changes.reason,
        changes.note,
        changes.now,
        changes.request_id,
        changes.move_locked,
        changes.acceptance.as_str(),
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    if rows.len() != moves.len() {
        tracing::error!(
            planned = moves.len(),
            applied = rows.len(),
            "a locked plan did not apply in full"
        );
        return Err(DomainError::ConcurrentModification);
    }
    Ok(rows
        .into_iter()
        .map(|r| Moved {
            lead_id: r.lead_id,
            pool_id: r.pool_id,
            destination: r.destination,
            to_owner: r.to_owner,
        })
        .collect())
}
