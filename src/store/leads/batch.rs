//! `ClaimLeads`: many claims in one statement, under the same rules as a single claim.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{LeadRow, LeadView, views_of};
use crate::domain::Result;
use crate::domain::access::Actor;

/// Claims for the actor every lead of `lead_ids` that may be claimed, in one statement, and
/// returns the claimed leads.
///
/// The claimable leads are locked first, in id order, and all of them before any member row
/// (a plain aggregate over them must finish before the member rows are read), which is the
/// order a single claim takes its locks in too, so batches and single claims never deadlock.
/// Then the actor's member row of each pool involved is locked and its room computed: the
/// smaller of what the cap and today's quota leave. Leads earlier in `lead_ids` take that room
/// first; the member rows, the events (in request order) and the leads change together.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, leads = lead_ids.len()))]
pub async fn claim_many(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    lead_ids: &[Uuid],
    request_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Vec<LeadView>> {
    let rows = sqlx::query_as!(
        LeadRow,
        r#"WITH requested AS (
               SELECT r.id, r.ord FROM UNNEST($2::uuid[]) WITH ORDINALITY AS r(id, ord)
           ),
           target AS (
               SELECT l.id, l.pool_id, r.ord
               FROM leads l JOIN requested r ON r.id = l.id
               JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
               WHERE l.tenant_id = $1 AND l.state = 'IN_POOL' AND NOT l.locked
                 AND (l.cooldown_until IS NULL OR l.cooldown_until <= $4
                      OR l.previous_owner_id IS DISTINCT FROM $3)
                 AND (p.new_lead_embargo_seconds IS NULL
                      OR embargo_ends(p, l.pool_entered_at) <= $4)
               ORDER BY l.id
               FOR UPDATE OF l
           ),
           involved AS (
               SELECT array_agg(DISTINCT t.pool_id) AS pool_ids FROM target t
           ),
           room AS (
               SELECT m.pool_id,
                      LEAST(COALESCE(m.max_held, p.max_held_per_member, 2147483647) - m.held_count,
                            COALESCE(p.daily_claim_limit
                                     - CASE WHEN m.claims_day = ($4 AT TIME ZONE p.timezone)::date
                                            THEN m.claims_today ELSE 0 END,
                                     2147483647)) AS room
               FROM members m JOIN pools p ON p.tenant_id = m.tenant_id AND p.id = m.pool_id
               WHERE m.tenant_id = $1 AND m.user_id = $3 AND m.active AND p.archived_at IS NULL
                 AND m.pool_id = ANY ((SELECT i.pool_ids FROM involved i)::uuid[])
               ORDER BY m.pool_id
               FOR UPDATE OF m
           ),
           chosen AS (
               SELECT t.id, t.pool_id, t.ord
               FROM (SELECT t.*, row_number() OVER (PARTITION BY t.pool_id ORDER BY t.ord) AS rank
                     FROM target t) t
               JOIN room r ON r.pool_id = t.pool_id
               WHERE t.rank <= r.room
           ),
           counted AS (
               UPDATE members m
               SET held_count = m.held_count + c.n,
                   claims_today = c.n + CASE WHEN m.claims_day = ($4 AT TIME ZONE p.timezone)::date
                                             THEN m.claims_today ELSE 0 END,
                   claims_day = ($4 AT TIME ZONE p.timezone)::date,
                   updated_at = $4
               FROM (SELECT pool_id, count(*)::int AS n FROM chosen GROUP BY pool_id) c
               JOIN pools p ON p.tenant_id = $1 AND p.id = c.pool_id
               WHERE m.tenant_id = $1 AND m.pool_id = c.pool_id AND m.user_id = $3
               RETURNING m.pool_id
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, to_owner, actor,
                                        occurred_at, request_id)
               SELECT $1, c.id, c.pool_id, 'CLAIMED', $3, $3, $4, $5
               FROM chosen c JOIN counted k ON k.pool_id = c.pool_id
               ORDER BY c.ord
           )
           UPDATE leads l
           SET state = 'OWNED', owner_id = $3, acquired_at = $4, acquired_via = 'CLAIM',
               follow_up_deadline = follow_up_deadline(p, l.grade, $4),
               close_deadline = close_deadline(p, l.grade, $4),
               cooldown_until = NULL, version = l.version + 1, updated_at = $4
           FROM chosen c
           JOIN counted k ON k.pool_id = c.pool_id
           JOIN pools p ON p.tenant_id = $1 AND p.id = c.pool_id
           WHERE l.tenant_id = $1 AND l.id = c.id
           RETURNING NULL::text AS "viewer_role?", NULL::boolean AS "viewer_active?",
                     p.mask_contacts AS pool_masks_contacts, l.*"#,
        actor.tenant_id,
        lead_ids,
        actor.user_id,
        now,
        request_id,
    )
    .fetch_all(db)
    .await;
    views_of(rows)
}
