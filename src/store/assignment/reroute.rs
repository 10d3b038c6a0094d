//! The statements of accept-or-reroute (`service::acceptance` runs them after locking the pool's
//! distribution state): the pools with missed leads, the missed leads themselves (locked, with
//! their `ESCALATED` events) and a lead its owner declines (locked).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::Result;
use crate::domain::acceptance::{ESCALATION_REASON, PendingLead};
use crate::domain::distribution::Candidate;
use crate::store::db_error;

/// A pending lead as the reroute statements return it.
struct PendingRow {
    id: Uuid,
    region: String,
    industry: String,
    grade: String,
    previous_owner_id: Option<String>,
    cooldown_until: Option<DateTime<Utc>>,
    accept_chain: Vec<String>,
    owner_id: String,
    accept_deadline: DateTime<Utc>,
    max_reroutes: Option<i32>,
}

impl From<PendingRow> for PendingLead {
    fn from(r: PendingRow) -> Self {
        Self {
            candidate: Candidate {
                lead_id: r.id,
                region: r.region,
                industry: r.industry,
                grade: r.grade,
                previous_owner_id: r.previous_owner_id,
                cooldown_until: r.cooldown_until,
                chain: r.accept_chain,
            },
            owner_id: r.owner_id,
            accept_deadline: r.accept_deadline,
            max_reroutes: r.max_reroutes,
        }
    }
}

/// The pools (of every tenant: the scheduler serves them all) with leads whose accept deadline
/// passed by `now`.
#[tracing::instrument(skip_all)]
pub async fn due_pools(db: impl PgExecutor<'_>, now: DateTime<Utc>) -> Result<Vec<(String, Uuid)>> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT tenant_id, pool_id FROM leads
           WHERE accept_deadline <= $1 AND NOT locked
           ORDER BY tenant_id, pool_id"#,
        now,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(rows.into_iter().map(|r| (r.tenant_id, r.pool_id)).collect())
}

/// Locks up to `limit` of the pool's unlocked leads (a manager's lock freezes a lead, as for
/// recycling) whose accept deadline passed by `now`, soonest first
/// (leads another transaction holds are skipped, not waited for: a concurrent accept wins or
/// loses by the row lock), and writes each one's `ESCALATED` event, in one statement.
#[tracing::instrument(skip_all, fields(tenant_id, %pool_id, limit))]
pub async fn take_missed(
    conn: &mut PgConnection,
    tenant_id: &str,
    pool_id: Uuid,
    actor: &str,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<PendingLead>> {
    let rows = sqlx::query_as!(
        PendingRow,
        r#"WITH missed AS (
               SELECT l.id, l.pool_id, l.region, l.industry, l.grade, l.previous_owner_id,
                      l.cooldown_until, l.accept_chain, l.owner_id, l.accept_deadline
               FROM leads l
               WHERE l.tenant_id = $1 AND l.pool_id = $2 AND l.accept_deadline <= $3
                 AND NOT l.locked
               ORDER BY l.accept_deadline, l.id
               LIMIT $4
               FOR UPDATE SKIP LOCKED
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner,
                                        actor, reason, occurred_at)
               SELECT $1, m.id, m.pool_id, 'ESCALATED', m.owner_id, m.owner_id, $5, $6, $3
               FROM missed m
           )
           SELECT m.id, m.region, m.industry, m.grade, m.previous_owner_id, m.cooldown_until,
                  m.accept_chain, m.owner_id AS "owner_id!",
                  m.accept_deadline AS "accept_deadline!", p.max_reroutes
           FROM missed m JOIN pools p ON p.tenant_id = $1 AND p.id = $2
           ORDER BY m.accept_deadline, m.id"#,
        tenant_id,
        pool_id,
        now,
        limit,
        actor,
        ESCALATION_REASON,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(rows.into_iter().map(PendingLead::from).collect())
}

/// Locks the lead the actor declines, if it is theirs and waiting for their acceptance.
#[tracing::instrument(skip_all, fields(tenant_id, %lead_id))]
pub async fn take_declined(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    lead_id: Uuid,
) -> Result<Option<PendingLead>> {
    let row = sqlx::query_as!(
        PendingRow,
        r#"SELECT l.id, l.region, l.industry, l.grade, l.previous_owner_id, l.cooldown_until,
                  l.accept_chain, l.owner_id AS "owner_id!",
                  l.accept_deadline AS "accept_deadline!", p.max_reroutes
           FROM leads l JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
           WHERE l.tenant_id = $1 AND l.id = $2 AND l.owner_id = $3
             AND l.accept_deadline IS NOT NULL AND NOT l.locked
           FOR UPDATE OF l"#,
        tenant_id,
        lead_id,
        user_id,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(row.map(PendingLead::from))
}
