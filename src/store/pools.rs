//! Pools.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::db_error;
use crate::domain::DomainError;
use crate::domain::member::{MemberRole, Membership};
use crate::domain::pool::{NewPool, Pool};

struct PoolRow {
    id: Uuid,
    name: String,
    timezone: String,
    max_held_per_member: Option<i32>,
    archived_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<PoolRow> for Pool {
    fn from(row: PoolRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            timezone: row.timezone,
            max_held_per_member: row.max_held_per_member,
            archived_at: row.archived_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A pool together with the actor's membership of it, for access decisions.
#[derive(Debug, Clone)]
pub struct PoolAccess {
    pub pool: Pool,
    pub membership: Option<Membership>,
}

#[tracing::instrument(skip_all, fields(tenant_id), err(Debug))]
pub async fn create(
    db: &PgPool,
    tenant_id: &str,
    pool: &NewPool,
    now: DateTime<Utc>,
) -> Result<Pool, DomainError> {
    sqlx::query_as!(
        PoolRow,
        r#"INSERT INTO pools (tenant_id, id, name, timezone, max_held_per_member, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $6)
           RETURNING id, name, timezone, max_held_per_member, archived_at, created_at, updated_at"#,
        tenant_id,
        Uuid::now_v7(),
        pool.name,
        pool.timezone,
        pool.max_held_per_member,
        now,
    )
    .fetch_one(db)
    .await
    .map(Pool::from)
    .map_err(db_error)
}

/// The pool and the actor's membership in one read; `POOL_NOT_FOUND` for unknown or foreign ids.
#[tracing::instrument(skip_all, fields(tenant_id, %pool_id), err(Debug))]
pub async fn access(
    db: &PgPool,
    tenant_id: &str,
    pool_id: Uuid,
    actor: &str,
) -> Result<PoolAccess, DomainError> {
    let row = sqlx::query!(
        r#"SELECT p.id, p.name, p.timezone, p.max_held_per_member, p.archived_at,
                  p.created_at, p.updated_at,
                  m.role AS "member_role?", m.active AS "member_active?"
           FROM pools p
           LEFT JOIN members m ON m.tenant_id = p.tenant_id AND m.pool_id = p.id AND m.user_id = $3
           WHERE p.tenant_id = $1 AND p.id = $2"#,
        tenant_id,
        pool_id,
        actor,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)?
    .ok_or(DomainError::PoolNotFound(pool_id))?;
    let membership = row
        .member_role
        .zip(row.member_active)
        .map(|(role, active)| Membership {
            role: MemberRole::from_db(&role),
            active,
        });
    let pool = Pool::from(PoolRow {
        id: row.id,
        name: row.name,
        timezone: row.timezone,
        max_held_per_member: row.max_held_per_member,
        archived_at: row.archived_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    });
    Ok(PoolAccess { pool, membership })
}

/// Pools by name then id. `member` limits the list to the pools that user belongs to.
#[tracing::instrument(skip_all, fields(tenant_id), err(Debug))]
pub async fn list(
    db: &PgPool,
    tenant_id: &str,
    member: Option<&str>,
    after: Option<(&str, Uuid)>,
    limit: i64,
) -> Result<Vec<Pool>, DomainError> {
    let (after_name, after_id) = after.unzip();
    sqlx::query_as!(
        PoolRow,
        r#"SELECT p.id, p.name, p.timezone, p.max_held_per_member, p.archived_at,
                  p.created_at, p.updated_at
           FROM pools p
           WHERE p.tenant_id = $1
             AND ($2::text IS NULL OR EXISTS (
                   SELECT 1 FROM members m
                   WHERE m.tenant_id = p.tenant_id AND m.pool_id = p.id AND m.user_id = $2))
             AND ($3::text IS NULL OR (p.name, p.id) > ($3, $4))
           ORDER BY p.name, p.id
           LIMIT $5"#,
        tenant_id,
        member,
        after_name,
        after_id,
        limit,
    )
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(Pool::from).collect())
    .map_err(db_error)
}
