//! Pool memberships.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::db_error;
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::member::{Member, MemberMask, MemberRole, MemberStats, NewMember};

struct MemberRow {
    pool_id: Uuid,
    user_id: String,
    role: String,
    active: bool,
    weight: i32,
    max_held: Option<i32>,
    regions: Vec<String>,
    industries: Vec<String>,
    grades: Vec<String>,
    held_count: i32,
    joined_at: DateTime<Utc>,
    away_until: Option<DateTime<Utc>>,
}

impl TryFrom<MemberRow> for Member {
    type Error = DomainError;

    fn try_from(row: MemberRow) -> Result<Self> {
        Ok(Self {
            pool_id: row.pool_id,
            user_id: row.user_id,
            role: MemberRole::try_from(row.role.as_str())?,
            active: row.active,
            weight: row.weight,
            max_held: row.max_held,
            regions: row.regions,
            industries: row.industries,
            grades: row.grades,
            held_count: row.held_count,
            joined_at: row.joined_at,
            away_until: row.away_until,
        })
    }
}

/// The membership a single-row statement returned; `None` when no row matched.
fn member_of(row: Result<Option<MemberRow>, sqlx::Error>) -> Result<Option<Member>> {
    row.map_err(db_error)?.map(Member::try_from).transpose()
}

/// Adds the membership; `MEMBER_EXISTS` when the user already belongs to the pool.
#[tracing::instrument(skip_all, fields(tenant_id, pool_id = %member.pool_id, user_id = %member.user_id))]
pub async fn add(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    member: &NewMember,
    now: DateTime<Utc>,
) -> Result<Member> {
    let row = sqlx::query_as!(
        MemberRow,
        r#"INSERT INTO members (tenant_id, pool_id, user_id, role, active, weight, max_held,
                                regions, industries, grades, joined_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
           ON CONFLICT (tenant_id, pool_id, user_id) DO NOTHING
           RETURNING pool_id, user_id, role, active, weight, max_held, regions, industries,
                     grades, held_count, joined_at, away_until(tenant_id, user_id, $11)"#,
        tenant_id,
        member.pool_id,
        member.user_id,
        member.role.as_str(),
        member.active,
        member.weight,
        member.max_held,
        &member.regions,
        &member.industries,
        &member.grades,
        now,
    )
    .fetch_optional(db)
    .await;
    member_of(row)?.ok_or_else(|| DomainError::MemberExists {
        pool_id: member.pool_id,
        user_id: member.user_id.clone(),
    })
}

/// Members in the order they joined (the stable order distribution also uses).
#[tracing::instrument(skip_all, fields(tenant_id, %pool_id))]
pub async fn list(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    after: Option<(DateTime<Utc>, &str)>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Member>> {
    let (after_joined, after_user) = after.unzip();
    sqlx::query_as!(
        MemberRow,
        r#"SELECT pool_id, user_id, role, active, weight, max_held, regions, industries,
                  grades, held_count, joined_at, away_until(tenant_id, user_id, $6)
           FROM members
           WHERE tenant_id = $1 AND pool_id = $2
             AND ($3::timestamptz IS NULL OR (joined_at, user_id) > ($3, $4))
           ORDER BY joined_at, user_id
           LIMIT $5"#,
        tenant_id,
        pool_id,
        after_joined,
        after_user,
        limit,
        now,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?
    .into_iter()
    .map(Member::try_from)
    .collect()
}

/// Changes the masked fields in one statement, so concurrent updates of other fields are kept.
#[tracing::instrument(skip_all, fields(tenant_id, pool_id = %patch.pool_id, user_id = %patch.user_id))]
pub async fn update(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    patch: &NewMember,
    mask: MemberMask,
    now: DateTime<Utc>,
) -> Result<Member> {
    let row = sqlx::query_as!(
        MemberRow,
        r#"UPDATE members
           SET role = CASE WHEN $4 THEN $5 ELSE role END,
               active = CASE WHEN $6 THEN $7 ELSE active END,
               weight = CASE WHEN $8 THEN $9 ELSE weight END,
               max_held = CASE WHEN $10 THEN $11 ELSE max_held END,
               regions = CASE WHEN $12 THEN $13 ELSE regions END,
               industries = CASE WHEN $14 THEN $15 ELSE industries END,
               grades = CASE WHEN $16 THEN $17 ELSE grades END,
               updated_at = $18
           WHERE tenant_id = $1 AND pool_id = $2 AND user_id = $3
           RETURNING pool_id, user_id, role, active, weight, max_held, regions, industries,
                     grades, held_count, joined_at, away_until(tenant_id, user_id, $18)"#,
        tenant_id,
        patch.pool_id,
        patch.user_id,
        mask.role,
        patch.role.as_str(),
        mask.active,
        patch.active,
        mask.weight,
        patch.weight,
        mask.max_held,
        patch.max_held,
        mask.regions,
        &patch.regions,
        mask.industries,
        &patch.industries,
        mask.grades,
        &patch.grades,
        now,
    )
    .fetch_optional(db)
    .await;
    member_of(row)?.ok_or_else(|| DomainError::MemberNotFound {
        pool_id: patch.pool_id,
        user_id: patch.user_id.clone(),
    })
}

/// Locks the membership row until the transaction ends; `MEMBER_NOT_FOUND` when there is none.
/// Taken before a removal reads the member's leads, so a claim racing with the removal either
/// lands first (and its lead is returned) or finds no member.
#[tracing::instrument(skip_all, fields(tenant_id, %pool_id, user_id))]
pub async fn lock(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    user_id: &str,
) -> Result<()> {
    let exists = sqlx::query_scalar!(
        r#"SELECT 1 AS "one!" FROM members
           WHERE tenant_id = $1 AND pool_id = $2 AND user_id = $3 FOR UPDATE"#,
        tenant_id,
        pool_id,
        user_id,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)?;
    match exists {
        Some(_) => Ok(()),
        None => Err(DomainError::MemberNotFound {
            pool_id,
            user_id: user_id.to_owned(),
        }),
    }
}

/// Removes a membership, returning the member's leads of the pool to it first, in one
/// statement; the number of leads returned. A locked lead stops everything (`LEAD_LOCKED`).
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, %pool_id, user_id))]
pub async fn remove(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    pool_id: Uuid,
    user_id: &str,
    request_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let outcome = sqlx::query!(
        r#"WITH locked AS (
               SELECT id FROM leads
               WHERE tenant_id = $1 AND pool_id = $2 AND owner_id = $3 AND locked
               LIMIT 1
           ),
           released AS (
               UPDATE leads l
               SET state = 'IN_POOL', owner_id = NULL, previous_owner_id = l.owner_id,
                   acquired_at = NULL, acquired_via = NULL, follow_up_deadline = NULL,
                   close_deadline = NULL, pool_entered_at = $5, version = l.version + 1,
                   updated_at = $5
               WHERE l.tenant_id = $1 AND l.pool_id = $2 AND l.owner_id = $3
                 AND NOT EXISTS (SELECT 1 FROM locked)
               RETURNING l.id
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, actor,
                                        reason, occurred_at, request_id)
               SELECT $1, r.id, $2, 'RELEASED', $3, $4, 'MEMBER_REMOVED', $5, $6 FROM released r
           ),
           removed AS (
               DELETE FROM members
               WHERE tenant_id = $1 AND pool_id = $2 AND user_id = $3
                 AND NOT EXISTS (SELECT 1 FROM locked)
           )
           SELECT (SELECT id FROM locked) AS locked_lead,
                  (SELECT count(*) FROM released) AS "released!""#,
        actor.tenant_id,
        pool_id,
        user_id,
        actor.user_id,
        now,
        request_id,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)?;
    match outcome.locked_lead {
        Some(lead_id) => Err(DomainError::LeadLocked(lead_id)),
        None => Ok(outcome.released),
    }
}

/// A member's figures in a pool; `MEMBER_NOT_FOUND` when the user does not belong to it.
#[tracing::instrument(skip_all, fields(tenant_id, %pool_id, user_id))]
pub async fn stats(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<MemberStats> {
    let row = sqlx::query!(
        r#"SELECT m.held_count, COALESCE(m.max_held, p.max_held_per_member) AS cap,
                  CASE WHEN m.claims_day = ($4::timestamptz AT TIME ZONE p.timezone)::date
                       THEN m.claims_today ELSE 0 END AS "claims_today!",
                  p.daily_claim_limit, p.timezone,
                  d.next_follow_up_deadline, d.next_close_deadline,
                  away_until(m.tenant_id, m.user_id, $4)
           FROM members m
           JOIN pools p ON p.tenant_id = m.tenant_id AND p.id = m.pool_id
           CROSS JOIN LATERAL (
               SELECT min(l.follow_up_deadline) AS next_follow_up_deadline,
                      min(l.close_deadline) AS next_close_deadline
               FROM leads l
               WHERE l.tenant_id = m.tenant_id AND l.owner_id = m.user_id
                 AND l.pool_id = m.pool_id AND l.state = 'OWNED'
           ) d
           WHERE m.tenant_id = $1 AND m.pool_id = $2 AND m.user_id = $3"#,
        tenant_id,
        pool_id,
        user_id,
        now,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)?
    .ok_or_else(|| DomainError::MemberNotFound {
        pool_id,
        user_id: user_id.to_owned(),
    })?;
    Ok(MemberStats {
        held_count: row.held_count,
        cap: row.cap,
        claims_today: row.claims_today,
        daily_claim_limit: row.daily_claim_limit,
        timezone: row.timezone,
        next_follow_up_deadline: row.next_follow_up_deadline,
        next_close_deadline: row.next_close_deadline,
        away_until: row.away_until,
    })
}
