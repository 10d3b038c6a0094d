//! Absences: planning, listing, and the locks and state changes that start and end them (what
//! they do to leads is in [`effects`]). Each change of an absence's `state` is made on a row
//! locked first, the scheduler's with SKIP LOCKED, so of several replicas only one applies it.

pub mod effects;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::db_error;
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::absence::{Absence, AbsenceState, AwayMode, AwayPlan};

struct AbsenceRow {
    id: Uuid,
    user_id: String,
    away_from: DateTime<Utc>,
    away_until: DateTime<Utc>,
    mode: String,
    cover_user_id: Option<String>,
    reason: String,
    state: String,
    created_by: String,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
}

impl TryFrom<AbsenceRow> for Absence {
    type Error = DomainError;

    fn try_from(row: AbsenceRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            user_id: row.user_id,
            away_from: row.away_from,
            away_until: row.away_until,
            mode: AwayMode::from_stored(&row.mode, row.cover_user_id)?,
            reason: row.reason,
            state: AbsenceState::try_from(row.state.as_str())?,
            created_by: row.created_by,
            created_at: row.created_at,
            started_at: row.started_at,
            ended_at: row.ended_at,
        })
    }
}

fn absences(rows: Vec<AbsenceRow>) -> Result<Vec<Absence>> {
    rows.into_iter().map(Absence::try_from).collect()
}

/// Plans the absence unless another of the user's open absences overlaps it: `MEMBER_AWAY`
/// (`AbsenceOverlaps`) with when that one ends (the exclusion constraint catches a concurrent plan).
#[tracing::instrument(skip_all, fields(tenant_id, user_id = %plan.user_id))]
pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: &str,
    plan: &AwayPlan,
    created_by: &str,
    now: DateTime<Utc>,
) -> Result<Absence> {
    let (mode, colleague) = plan.mode.stored();
    let row = sqlx::query_as!(
        AbsenceRow,
        r#"INSERT INTO absences (tenant_id, id, user_id, away_from, away_until, mode,
                                 cover_user_id, reason, created_by, created_at)
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
           WHERE NOT EXISTS (
               SELECT 1 FROM absences a
               WHERE a.tenant_id = $1 AND a.user_id = $3 AND a.state IN ('SCHEDULED', 'ACTIVE')
                 AND tstzrange(a.away_from, a.away_until) && tstzrange($4, $5))
           RETURNING id, user_id, away_from, away_until, mode, cover_user_id, reason, state,
                     created_by, created_at, started_at, ended_at"#,
        tenant_id,
        Uuid::now_v7(),
        plan.user_id,
        plan.away_from,
        plan.away_until,
        mode,
        colleague,
        plan.reason,
        created_by,
        now,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(|err| overlap(err, &plan.user_id))?;
    match row {
        Some(row) => Absence::try_from(row),
        None => Err(DomainError::AbsenceOverlaps {
            user_id: plan.user_id.clone(),
            away_until: overlapping_until(conn, tenant_id, plan).await?,
        }),
    }
}

/// A concurrent overlapping plan, caught by `absences_no_overlap`.
fn overlap(err: sqlx::Error, user_id: &str) -> DomainError {
    let constraint = err.as_database_error().and_then(|db| db.constraint());
    if constraint == Some("absences_no_overlap") {
        DomainError::AbsenceOverlaps {
            user_id: user_id.to_owned(),
            away_until: None,
        }
    } else {
        db_error(err)
    }
}

/// When the open absence overlapping `plan` ends.
async fn overlapping_until(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    plan: &AwayPlan,
) -> Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        r#"SELECT max(away_until) FROM absences
           WHERE tenant_id = $1 AND user_id = $2 AND state IN ('SCHEDULED', 'ACTIVE')
             AND tstzrange(away_from, away_until) && tstzrange($3, $4)"#,
        tenant_id,
        plan.user_id,
        plan.away_from,
        plan.away_until,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}

/// The absence, its row locked until the transaction ends; `ABSENCE_NOT_FOUND` when unknown.
#[tracing::instrument(skip_all, fields(tenant_id, %absence_id))]
pub async fn lock(conn: &mut PgConnection, tenant_id: &str, absence_id: Uuid) -> Result<Absence> {
    sqlx::query_as!(
        AbsenceRow,
        r#"SELECT id, user_id, away_from, away_until, mode, cover_user_id, reason, state,
                  created_by, created_at, started_at, ended_at
           FROM absences WHERE tenant_id = $1 AND id = $2
           FOR UPDATE"#,
        tenant_id,
        absence_id,
    )
    .fetch_optional(conn)
    .await
    .map_err(db_error)?
    .ok_or(DomainError::AbsenceNotFound(absence_id))
    .and_then(Absence::try_from)
}

/// Absences by `away_from` after the keyset `after`, of one user or everyone, open ones only
/// unless `include_ended`; `limit` rows.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn list(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    user_id: Option<&str>,
    include_ended: bool,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Absence>> {
    let (after_from, after_id) = after.unzip();
    let rows = sqlx::query_as!(
        AbsenceRow,
        r#"SELECT id, user_id, away_from, away_until, mode, cover_user_id, reason, state,
                  created_by, created_at, started_at, ended_at
           FROM absences
           WHERE tenant_id = $1 AND ($2::text IS NULL OR user_id = $2)
             AND ($3 OR state IN ('SCHEDULED', 'ACTIVE'))
             AND ($4::timestamptz IS NULL OR (away_from, id) > ($4, $5::uuid))
           ORDER BY away_from, id
           LIMIT $6"#,
        tenant_id,
        user_id,
        include_ended,
        after_from,
        after_id,
        limit,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    absences(rows)
}

/// Whether the user manages a pool the other user is a member of.
pub async fn manages(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    manager: &str,
    user_id: &str,
) -> Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (
               SELECT 1 FROM members mine JOIN members theirs
                 ON theirs.tenant_id = mine.tenant_id AND theirs.pool_id = mine.pool_id
               WHERE mine.tenant_id = $1 AND mine.user_id = $2 AND mine.role = 'MANAGER'
                 AND mine.active AND theirs.user_id = $3) AS "manages!""#,
        tenant_id,
        manager,
        user_id,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}

/// Whether the user manages any pool of the tenant.
pub async fn manages_anyone(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    user_id: &str,
) -> Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM members
                          WHERE tenant_id = $1 AND user_id = $2 AND role = 'MANAGER' AND active)
               AS "manages!""#,
        tenant_id,
        user_id,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}

/// Whether the user is an active member of a pool of the tenant.
pub async fn is_active_member(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    user_id: &str,
) -> Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM members WHERE tenant_id = $1 AND user_id = $2 AND active)
               AS "member!""#,
        tenant_id,
        user_id,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}

/// When the user's absence covering `at` ends; `None` when they are not away then.
pub async fn away_until(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    user_id: &str,
    at: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!("SELECT away_until($1, $2, $3)", tenant_id, user_id, at,)
        .fetch_one(db)
        .await
        .map_err(db_error)
}

/// The next absence due to start or end at `now` (of one tenant, or all), locked; absences
/// another replica holds are skipped, not waited for. Ends come before starts: of back-to-back
/// absences (one ends when the next begins, the same user's or a colleague's), the first must
/// hand the leads back before the next moves them on. A start waits, too, while an end due in its
/// tenant is still being applied by another replica (the row still reads ACTIVE).
#[tracing::instrument(skip_all)]
pub async fn lock_next_due(
    conn: &mut PgConnection,
    tenant_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<(String, Absence)>> {
    let row = sqlx::query!(
        r#"SELECT tenant_id, id, user_id, away_from, away_until, mode, cover_user_id, reason,
                  state, created_by, created_at, started_at, ended_at
           FROM absences
           WHERE ($1::text IS NULL OR tenant_id = $1)
             AND ((state = 'SCHEDULED' AND away_from <= $2
                   AND NOT EXISTS (SELECT 1 FROM absences ending
                                   WHERE ending.tenant_id = absences.tenant_id
                                     AND ending.state = 'ACTIVE' AND ending.away_until <= $2))
                  OR (state = 'ACTIVE' AND away_until <= $2))
           ORDER BY state = 'SCHEDULED',
                    CASE WHEN state = 'SCHEDULED' THEN away_from ELSE away_until END
           LIMIT 1
           FOR UPDATE SKIP LOCKED"#,
        tenant_id,
        now,
    )
    .fetch_optional(conn)
    .await
    .map_err(db_error)?;
    row.map(|r| {
        let absence = Absence::try_from(AbsenceRow {
            id: r.id,
            user_id: r.user_id,
            away_from: r.away_from,
            away_until: r.away_until,
            mode: r.mode,
            cover_user_id: r.cover_user_id,
            reason: r.reason,
            state: r.state,
            created_by: r.created_by,
            created_at: r.created_at,
            started_at: r.started_at,
            ended_at: r.ended_at,
        })?;
        Ok((r.tenant_id, absence))
    })
    .transpose()
}

/// Moves the locked absence to `state` at `now`: ACTIVE starts it, ENDED ends it (early, when
/// `now` is before its planned end), CANCELLED drops it.
pub async fn set_state(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    absence_id: Uuid,
    state: AbsenceState,
    now: DateTime<Utc>,
) -> Result<Absence> {
    sqlx::query_as!(
        AbsenceRow,
        r#"UPDATE absences
           SET state = $3,
               started_at = CASE WHEN $3 = 'ACTIVE' THEN $4 ELSE started_at END,
               ended_at = CASE WHEN $3 IN ('ENDED', 'CANCELLED') THEN $4 ELSE ended_at END,
               away_until = CASE WHEN $3 = 'ENDED' THEN LEAST(away_until, $4)
                                 ELSE away_until END
           WHERE tenant_id = $1 AND id = $2
           RETURNING id, user_id, away_from, away_until, mode, cover_user_id, reason, state,
                     created_by, created_at, started_at, ended_at"#,
        tenant_id,
        absence_id,
        state.as_str(),
        now,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
    .and_then(Absence::try_from)
}
