//! What starting and ending an absence does to the user's leads: the AWAY_* events, cover
//! moves and their return, and paused deadlines moved by the time away. Each is one statement
//! that keeps held counts and events in step with the leads.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::Result;
use crate::domain::absence::Absence;
use crate::domain::event::EventKind;
use crate::store::db_error;

/// One AWAY_STARTED event for each pool the user is an active member of; one AWAY_ENDED for
/// each pool whose latest AWAY event of theirs is an AWAY_STARTED, so every start a follower saw
/// ends, even in a pool the user has left meanwhile.
pub async fn announce(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    absence: &Absence,
    kind: EventKind,
    actor: &str,
    request_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        r#"INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, user_id, actor, reason,
                                    occurred_at, request_id)
           SELECT $1, NULL, p.pool_id, $3, $2, $4, NULLIF($5, ''), $6, $7
           FROM (SELECT m.pool_id FROM members m
                 WHERE $3 = 'AWAY_STARTED' AND m.tenant_id = $1 AND m.user_id = $2 AND m.active
                 UNION ALL
                 SELECT latest.pool_id
                 FROM (SELECT DISTINCT ON (e.pool_id) e.pool_id, e.kind FROM lead_events e
                       WHERE $3 = 'AWAY_ENDED' AND e.tenant_id = $1 AND e.user_id = $2
                       ORDER BY e.pool_id, e.seq DESC) latest
                 WHERE latest.kind = 'AWAY_STARTED') p
           ORDER BY p.pool_id"#,
        tenant_id,
        absence.user_id,
        kind.as_str(),
        actor,
        absence.reason,
        now,
        request_id,
    )
    .execute(db)
    .await
    .map(drop)
    .map_err(db_error)
}

/// Hands the owner's unlocked leads to the colleague, in each pool the colleague is an active
/// member of, as many as the colleague's cap leaves room for (soonest deadline first): one
/// COVER_STARTED each, held counts moved, `covered_owner_id` kept. The colleague's member rows
/// are locked first, so their room is the room the statement fills. How many moved.
pub async fn cover(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    owner: &str,
    colleague: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    sqlx::query_scalar!(
        r#"WITH colleague AS (
               SELECT m.pool_id,
                      GREATEST(COALESCE(m.max_held, p.max_held_per_member, 2147483647)
                               - m.held_count, 0) AS room
               FROM members m JOIN pools p ON p.tenant_id = m.tenant_id AND p.id = m.pool_id
               WHERE m.tenant_id = $1 AND m.user_id = $3 AND m.active
               ORDER BY m.pool_id
               FOR UPDATE OF m
           ),
           held AS (
               SELECT l.id, l.pool_id, LEAST(l.follow_up_deadline, l.close_deadline) AS due
               FROM leads l
               WHERE l.tenant_id = $1 AND l.owner_id = $2 AND l.state = 'OWNED' AND NOT l.locked
                 -- A lead the owner covers for someone else is not passed on: it stays theirs
                 -- (paused here) until their own absence ends and it returns to them.
                 AND l.covered_owner_id IS NULL
                 AND l.pool_id IN (SELECT pool_id FROM colleague)
               ORDER BY l.id
               FOR UPDATE OF l
           ),
           chosen AS (
               SELECT r.id FROM (
                   SELECT h.id, h.pool_id,
                          row_number() OVER (PARTITION BY h.pool_id ORDER BY h.due NULLS LAST, h.id)
                              AS n
                   FROM held h) r
               JOIN colleague c ON c.pool_id = r.pool_id
               WHERE r.n <= c.room
           ),
           moved AS (
               UPDATE leads l
               SET owner_id = $3, covered_owner_id = $2, version = l.version + 1, updated_at = $4
               FROM chosen c
               WHERE l.tenant_id = $1 AND l.id = c.id
               RETURNING l.id, l.pool_id
           ),
           counted AS (
               UPDATE members m SET held_count = m.held_count + d.delta, updated_at = $4
               FROM (SELECT pool_id, $3::text AS user_id, count(*)::integer AS delta
                     FROM moved GROUP BY pool_id
                     UNION ALL
                     SELECT pool_id, $2::text, -count(*)::integer FROM moved GROUP BY pool_id) d
               WHERE m.tenant_id = $1 AND m.pool_id = d.pool_id AND m.user_id = d.user_id
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner,
                                        actor, occurred_at)
               SELECT $1, m.id, m.pool_id, 'COVER_STARTED', $2, $3, 'scheduler', $4
               FROM moved m ORDER BY m.id
           )
           SELECT count(*) AS "moved!" FROM moved"#,
        tenant_id,
        owner,
        colleague,
        now,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}

/// Gives the owner back the leads a colleague still covers for them (COVER_ENDED each, held
/// counts moved back), in the pools the owner is still an active member of and as many as fit
/// under the owner's cap there (they may have claimed while away); the others stay with the
/// colleague. `actor`/`request_id` say who ended the absence. How many came back.
pub async fn end_cover(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    owner: &str,
    actor: &str,
    request_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<i64> {
    sqlx::query_scalar!(
        r#"WITH room AS (
               SELECT m.pool_id,
                      COALESCE(m.max_held, p.max_held_per_member, 2147483647) - m.held_count
                          AS free
               FROM members m JOIN pools p ON p.tenant_id = m.tenant_id AND p.id = m.pool_id
               WHERE m.tenant_id = $1 AND m.user_id = $2 AND m.active
               FOR UPDATE OF m
           ),
           locked AS (
               SELECT l.id, l.pool_id, l.owner_id AS colleague FROM leads l
               WHERE l.tenant_id = $1 AND l.covered_owner_id = $2 AND l.state = 'OWNED'
               ORDER BY l.id
               FOR UPDATE OF l
           ),
           covered AS (
               SELECT k.id, k.pool_id, k.colleague,
                      COALESCE(row_number() OVER (PARTITION BY k.pool_id ORDER BY k.id)
                                   <= r.free, false) AS returns
               FROM locked k LEFT JOIN room r ON r.pool_id = k.pool_id
           ),
           settled AS (
               UPDATE leads l
               SET owner_id = CASE WHEN c.returns THEN $2 ELSE l.owner_id END,
                   covered_owner_id = NULL,
                   version = l.version + 1, updated_at = $5
               FROM covered c
               WHERE l.tenant_id = $1 AND l.id = c.id
               RETURNING l.id, l.pool_id, c.colleague, c.returns
           ),
           counted AS (
               UPDATE members m SET held_count = m.held_count + d.delta, updated_at = $5
               FROM (SELECT pool_id, $2::text AS user_id, count(*)::integer AS delta
                     FROM settled WHERE returns GROUP BY pool_id
                     UNION ALL
                     SELECT pool_id, colleague, -count(*)::integer
                     FROM settled WHERE returns GROUP BY pool_id, colleague) d
               WHERE m.tenant_id = $1 AND m.pool_id = d.pool_id AND m.user_id = d.user_id
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner,
                                        actor, occurred_at, request_id)
               SELECT $1, s.id, s.pool_id, 'COVER_ENDED', s.colleague, $2, $3, $5, $4
               FROM settled s WHERE s.returns ORDER BY s.id
           )
           SELECT count(*) FILTER (WHERE returns) AS "returned!" FROM settled"#,
        tenant_id,
        owner,
        actor,
        request_id,
        now,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}

/// Restarts the clocks the absence stopped: every deadline of a lead the owner has held since
/// before `away_from` that was still ahead then moves later by the time away
/// (`away_until - away_from`); one UPDATED event (reason `AWAY_PAUSE`) per lead. How many.
pub async fn resume(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    absence: &Absence,
    actor: &str,
    request_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<i64> {
    sqlx::query_scalar!(
        r#"WITH shifted AS (
               UPDATE leads l
               SET follow_up_deadline = CASE WHEN l.follow_up_deadline > $3
                                             THEN l.follow_up_deadline + ($4 - $3)
                                             ELSE l.follow_up_deadline END,
                   close_deadline = CASE WHEN l.close_deadline > $3
                                         THEN l.close_deadline + ($4 - $3)
                                         ELSE l.close_deadline END,
                   version = l.version + 1, updated_at = $7
               WHERE l.tenant_id = $1 AND l.owner_id = $2 AND l.state = 'OWNED'
                 AND l.acquired_at < $3
                 AND (l.follow_up_deadline > $3 OR l.close_deadline > $3)
               RETURNING l.id, l.pool_id
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner,
                                        actor, reason, occurred_at, request_id)
               SELECT $1, s.id, s.pool_id, 'UPDATED', $2, $2, $5, 'AWAY_PAUSE', $7, $6
               FROM shifted s ORDER BY s.id
           )
           SELECT count(*) AS "resumed!" FROM shifted"#,
        tenant_id,
        absence.user_id,
        absence.away_from,
        absence.away_until,
        actor,
        request_id,
        now,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}
