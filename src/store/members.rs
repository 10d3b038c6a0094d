//! Pool memberships.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::db_error;
use crate::domain::DomainError;
use crate::domain::member::{Member, MemberRole, NewMember};

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
}

impl From<MemberRow> for Member {
    fn from(row: MemberRow) -> Self {
        Self {
            pool_id: row.pool_id,
            user_id: row.user_id,
            role: MemberRole::from_db(&row.role),
            active: row.active,
            weight: row.weight,
            max_held: row.max_held,
            regions: row.regions,
            industries: row.industries,
            grades: row.grades,
            held_count: row.held_count,
            joined_at: row.joined_at,
        }
    }
}

/// Adds the membership; `MEMBER_EXISTS` when the user already belongs to the pool.
#[tracing::instrument(skip_all, fields(tenant_id, pool_id = %member.pool_id, user_id = %member.user_id), err(Debug))]
pub async fn add(
    db: &PgPool,
    tenant_id: &str,
    member: &NewMember,
    now: DateTime<Utc>,
) -> Result<Member, DomainError> {
    sqlx::query_as!(
        MemberRow,
        r#"INSERT INTO members (tenant_id, pool_id, user_id, role, active, weight, max_held,
                                regions, industries, grades, joined_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
           ON CONFLICT (tenant_id, pool_id, user_id) DO NOTHING
           RETURNING pool_id, user_id, role, active, weight, max_held, regions, industries,
                     grades, held_count, joined_at"#,
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
    .await
    .map_err(db_error)?
    .map(Member::from)
    .ok_or_else(|| DomainError::MemberExists {
        pool_id: member.pool_id,
        user_id: member.user_id.clone(),
    })
}

/// Members in the order they joined (the stable order distribution also uses).
#[tracing::instrument(skip_all, fields(tenant_id, %pool_id), err(Debug))]
pub async fn list(
    db: &PgPool,
    tenant_id: &str,
    pool_id: Uuid,
    after: Option<(DateTime<Utc>, &str)>,
    limit: i64,
) -> Result<Vec<Member>, DomainError> {
    let (after_joined, after_user) = after.unzip();
    sqlx::query_as!(
        MemberRow,
        r#"SELECT pool_id, user_id, role, active, weight, max_held, regions, industries,
                  grades, held_count, joined_at
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
    )
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(Member::from).collect())
    .map_err(db_error)
}
