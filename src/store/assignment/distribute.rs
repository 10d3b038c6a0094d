//! The statements of a distribution (`service::assignment::distribute` runs them in one
//! transaction): lock the pool's distribution state (so distributors of one pool, on any replica,
//! run one after the other), take the leads (`FOR UPDATE SKIP LOCKED`, oldest in the pool
//! first), lock its active members and save the advanced state; and the pools due for automatic
//! distribution.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::distribution::{
    Candidate, Cursor, DistributionState, Method, Recipient, Selection, Strategy,
};
use crate::store::db_error;

/// Whether to wait for another distributor of the same pool, or give up at once (the scheduler
/// leaves the pool to the replica already on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Block,
    Skip,
}

/// A pool's distribution state with the pool's own method, locked for this transaction.
pub struct LockedState {
    pub state: DistributionState,
    pub method: Method,
    pub archived: bool,
}

/// Locks the pool's state row (creating it on first use); `None` when another transaction holds
/// it and `wait` is `Skip`.
pub async fn lock_state(
    conn: &mut PgConnection,
    tenant_id: &str,
    pool_id: Uuid,
    now: DateTime<Utc>,
    wait: Wait,
) -> Result<Option<LockedState>> {
    sqlx::query!(
        r#"INSERT INTO distribution_state (tenant_id, pool_id, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id, pool_id) DO NOTHING"#,
        tenant_id,
        pool_id,
        now,
    )
    .execute(&mut *conn)
    .await
    .map_err(|err| match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            DomainError::PoolNotFound(pool_id)
        }
        _ => db_error(err),
    })?;
    let row = match wait {
        Wait::Block => sqlx::query_as!(
            StateRow,
            r#"SELECT s.cursor_joined_at, s.cursor_user_id, s.current_weights, s.group_cursors,
                      s.group_weights, p.distribution_strategy, p.distribution_fallback, p.assign_unmatched,
                      p.archived_at IS NOT NULL AS "archived!"
               FROM distribution_state s
               JOIN pools p ON p.tenant_id = s.tenant_id AND p.id = s.pool_id
               WHERE s.tenant_id = $1 AND s.pool_id = $2
               FOR UPDATE OF s"#,
            tenant_id,
            pool_id,
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?,
        Wait::Skip => sqlx::query_as!(
            StateRow,
            r#"SELECT s.cursor_joined_at, s.cursor_user_id, s.current_weights, s.group_cursors,
                      s.group_weights, p.distribution_strategy, p.distribution_fallback, p.assign_unmatched,
                      p.archived_at IS NOT NULL AS "archived!"
               FROM distribution_state s
               JOIN pools p ON p.tenant_id = s.tenant_id AND p.id = s.pool_id
               WHERE s.tenant_id = $1 AND s.pool_id = $2
               FOR UPDATE OF s SKIP LOCKED"#,
            tenant_id,
            pool_id,
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?,
    };
    row.map(LockedState::try_from).transpose()
}

struct StateRow {
    cursor_joined_at: Option<DateTime<Utc>>,
    cursor_user_id: Option<String>,
    current_weights: serde_json::Value,
    group_cursors: serde_json::Value,
    group_weights: serde_json::Value,
    distribution_strategy: String,
    distribution_fallback: String,
    assign_unmatched: bool,
    archived: bool,
}

impl TryFrom<StateRow> for LockedState {
    type Error = DomainError;

    fn try_from(row: StateRow) -> Result<Self> {
        let cursor = row
            .cursor_joined_at
            .zip(row.cursor_user_id)
            .map(|(joined_at, user_id)| Cursor { joined_at, user_id });
        let current_weights: BTreeMap<String, i64> =
            serde_json::from_value(row.current_weights).map_err(DomainError::internal_from)?;
        let group_cursors: BTreeMap<String, Cursor> =
            serde_json::from_value(row.group_cursors).map_err(DomainError::internal_from)?;
        let group_weights: BTreeMap<String, BTreeMap<String, i64>> =
            serde_json::from_value(row.group_weights).map_err(DomainError::internal_from)?;
        Ok(Self {
            state: DistributionState {
                cursor,
                current_weights,
                group_cursors,
                group_weights,
            },
            method: Method {
                strategy: Strategy::try_from(row.distribution_strategy.as_str())?,
                fallback: Strategy::try_from(row.distribution_fallback.as_str())?,
                assign_unmatched: row.assign_unmatched,
            },
            archived: row.archived,
        })
    }
}

pub async fn save_state(
    conn: &mut PgConnection,
    tenant_id: &str,
    pool_id: Uuid,
    state: &DistributionState,
    now: DateTime<Utc>,
) -> Result<()> {
    let weights =
        serde_json::to_value(&state.current_weights).map_err(DomainError::internal_from)?;
    let groups = serde_json::to_value(&state.group_cursors).map_err(DomainError::internal_from)?;
    let group_weights =
        serde_json::to_value(&state.group_weights).map_err(DomainError::internal_from)?;
    let (joined_at, user_id) = state
        .cursor
        .as_ref()
        .map(|c| (c.joined_at, c.user_id.as_str()))
        .unzip();
    sqlx::query!(
        r#"UPDATE distribution_state
           SET cursor_joined_at = $3, cursor_user_id = $4, current_weights = $5,
               group_cursors = $7, group_weights = $8, updated_at = $6
           WHERE tenant_id = $1 AND pool_id = $2"#,
        tenant_id,
        pool_id,
        joined_at,
        user_id,
        weights,
        now,
        groups,
        group_weights,
    )
    .execute(&mut *conn)
    .await
    .map(drop)
    .map_err(db_error)
}

/// The pool's active members not away at `now`, in join order, locked so their held counts
/// stay as planned.
pub async fn recipients(
    conn: &mut PgConnection,
    tenant_id: &str,
    pool_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Recipient>> {
    let rows = sqlx::query!(
        r#"SELECT m.user_id, m.joined_at, m.weight, m.held_count,
                  COALESCE(m.max_held, p.max_held_per_member) AS cap,
                  m.regions, m.industries, m.grades
           FROM members m JOIN pools p ON p.tenant_id = m.tenant_id AND p.id = m.pool_id
           WHERE m.tenant_id = $1 AND m.pool_id = $2 AND m.active
             AND away_until(m.tenant_id, m.user_id, $3) IS NULL
           ORDER BY m.joined_at, m.user_id
           FOR UPDATE OF m"#,
        tenant_id,
        pool_id,
        now,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|r| Recipient {
            user_id: r.user_id,
            joined_at: r.joined_at,
            weight: r.weight,
            held: r.held_count,
            cap: r.cap,
            regions: r.regions,
            industries: r.industries,
            grades: r.grades,
        })
        .collect())
}

/// The selected unlocked pool leads, oldest in the pool first, each with when it entered the
/// pool; leads another transaction holds are skipped, not waited for.
pub async fn candidates(
    conn: &mut PgConnection,
    tenant_id: &str,
    pool_id: Uuid,
    selection: &Selection,
) -> Result<Vec<(Candidate, DateTime<Utc>)>> {
    let (after_entered, after_id) = selection.after.unzip();
    let rows = sqlx::query!(
        r#"SELECT l.id, l.region, l.industry, l.grade, l.previous_owner_id, l.cooldown_until,
                  l.pool_entered_at AS "pool_entered_at!"
           FROM leads l
           WHERE l.tenant_id = $1 AND l.pool_id = $2 AND l.state = 'IN_POOL' AND NOT l.locked
             AND l.pool_entered_at IS NOT NULL
             AND (cardinality($3::uuid[]) = 0 OR l.id = ANY ($3))
             AND ($4::text IS NULL OR l.region = $4)
             AND ($5::text IS NULL OR l.industry = $5)
             AND ($6::text IS NULL OR l.grade = $6)
             AND ($7::timestamptz IS NULL OR l.pool_entered_at <= $7)
             AND ($8::timestamptz IS NULL OR (l.pool_entered_at, l.id) > ($8, $9))
           ORDER BY l.pool_entered_at, l.id
           LIMIT $10
           FOR UPDATE SKIP LOCKED"#,
        tenant_id,
        pool_id,
        &selection.lead_ids,
        selection.region,
        selection.industry,
        selection.grade,
        selection.entered_before,
        after_entered,
        after_id,
        selection.limit,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let candidate = Candidate {
                lead_id: r.id,
                region: r.region,
                industry: r.industry,
                grade: r.grade,
                previous_owner_id: r.previous_owner_id,
                cooldown_until: r.cooldown_until,
                chain: Vec::new(),
            };
            (candidate, r.pool_entered_at)
        })
        .collect())
}

/// A pool whose leads the scheduler distributes, and how long they first sit in the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoPool {
    pub tenant_id: String,
    pub pool_id: Uuid,
    pub wait_seconds: i32,
}

/// The pools (of every tenant: the scheduler serves them all) with `auto_distribute` that have
/// unlocked leads due for distribution at `now`.
#[tracing::instrument(skip_all)]
pub async fn due_pools(db: impl PgExecutor<'_>, now: DateTime<Utc>) -> Result<Vec<AutoPool>> {
    let rows = sqlx::query!(
        r#"SELECT p.tenant_id, p.id, COALESCE(p.auto_distribute_after_seconds, 0) AS "wait!"
           FROM pools p
           WHERE p.auto_distribute AND p.archived_at IS NULL
             AND EXISTS (
                 SELECT 1 FROM leads l
                 WHERE l.tenant_id = p.tenant_id AND l.pool_id = p.id AND l.state = 'IN_POOL'
                   AND NOT l.locked
                   AND l.pool_entered_at
                       <= $1::timestamptz - make_interval(secs => COALESCE(p.auto_distribute_after_seconds, 0)))
           ORDER BY p.tenant_id, p.id"#,
        now,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|r| AutoPool {
            tenant_id: r.tenant_id,
            pool_id: r.id,
            wait_seconds: r.wait,
        })
        .collect())
}
