//! Pools and their rules.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::db_error;
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::business_time::BusinessSpan;
use crate::domain::distribution::{DistributionRule, Method, Strategy};
use crate::domain::member::Membership;
use crate::domain::pool::{GradeDeadlines, NewPool, Pool, PoolRules};

/// Every column of `pools`, plus the reading actor's membership (NULL where not asked for).
struct PoolRow {
    #[allow(dead_code)] // selected by `*`; tenant scoping happens in the WHERE clauses
    tenant_id: String,
    id: Uuid,
    name: String,
    timezone: String,
    max_held_per_member: Option<i32>,
    archived_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    daily_claim_limit: Option<i32>,
    reclaim_cooldown_seconds: Option<i32>,
    mask_contacts: bool,
    release_reasons: Vec<String>,
    exempt_grades: Vec<String>,
    follow_up_timeout_seconds: Option<i32>,
    close_timeout_seconds: Option<i32>,
    warn_before_seconds: Option<i32>,
    grade_overrides: serde_json::Value,
    recycle_to_pool_id: Option<Uuid>,
    version: i64,
    distribution_strategy: String,
    distribution_fallback: String,
    assign_unmatched: bool,
    auto_distribute: bool,
    auto_distribute_after_seconds: Option<i32>,
    calendar_id: Option<Uuid>,
    follow_up_workdays: Option<i32>,
    follow_up_open_seconds: Option<i32>,
    close_workdays: Option<i32>,
    close_open_seconds: Option<i32>,
    warn_before_workdays: Option<i32>,
    warn_before_open_seconds: Option<i32>,
    pull_order: Vec<String>,
    new_lead_embargo_seconds: Option<i32>,
    unclaimed_alert_after_seconds: Option<i32>,
    accept_within_seconds: Option<i32>,
    accept_within_workdays: Option<i32>,
    accept_within_open_seconds: Option<i32>,
    max_reroutes: Option<i32>,
    sla_on_assign: bool,
    member_role: Option<String>,
    member_active: Option<bool>,
}

/// A pool together with the actor's membership of it, for access decisions.
#[derive(Debug, Clone)]
pub struct PoolAccess {
    pub pool: Pool,
    pub membership: Option<Membership>,
}

impl TryFrom<PoolRow> for PoolAccess {
    type Error = DomainError;

    fn try_from(row: PoolRow) -> Result<Self> {
        let membership = row
            .member_role
            .zip(row.member_active)
            .map(|(role, active)| Membership::stored(&role, active))
            .transpose()?;
        let grade_overrides: BTreeMap<String, GradeDeadlines> =
            serde_json::from_value(row.grade_overrides).map_err(DomainError::internal_from)?;
        let span = BusinessSpan::from_columns;
        let rules = PoolRules {
            max_held_per_member: row.max_held_per_member,
            daily_claim_limit: row.daily_claim_limit,
            reclaim_cooldown_seconds: row.reclaim_cooldown_seconds,
            mask_contacts: row.mask_contacts,
            release_reasons: row.release_reasons,
            exempt_grades: row.exempt_grades,
            follow_up_timeout_seconds: row.follow_up_timeout_seconds,
            close_timeout_seconds: row.close_timeout_seconds,
            warn_before_seconds: row.warn_before_seconds,
            grade_overrides,
            recycle_to_pool_id: row.recycle_to_pool_id,
            distribution: DistributionRule {
                method: Method {
                    strategy: Strategy::try_from(row.distribution_strategy.as_str())?,
                    fallback: Strategy::try_from(row.distribution_fallback.as_str())?,
                    assign_unmatched: row.assign_unmatched,
                },
                auto_distribute: row.auto_distribute,
                auto_distribute_after_seconds: row.auto_distribute_after_seconds,
            },
            calendar_id: row.calendar_id,
            follow_up_business: span(row.follow_up_workdays, row.follow_up_open_seconds),
            close_business: span(row.close_workdays, row.close_open_seconds),
            warn_before_business: span(row.warn_before_workdays, row.warn_before_open_seconds),
            pull_order: row.pull_order,
            new_lead_embargo_seconds: row.new_lead_embargo_seconds,
            unclaimed_alert_after_seconds: row.unclaimed_alert_after_seconds,
            accept_within_seconds: row.accept_within_seconds,
            accept_within_business: span(
                row.accept_within_workdays,
                row.accept_within_open_seconds,
            ),
            max_reroutes: row.max_reroutes,
            sla_on_assign: row.sla_on_assign,
        };
        let pool = Pool {
            id: row.id,
            name: row.name,
            timezone: row.timezone,
            rules,
            archived_at: row.archived_at,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        };
        Ok(Self { pool, membership })
    }
}

/// The business-time rules as their column pairs `(workdays, open seconds)`.
type SpanColumns = (Option<i32>, Option<i32>);

/// Follow-up, close, warning and accept window.
fn business_columns(rules: &PoolRules) -> [SpanColumns; 4] {
    [
        BusinessSpan::columns(rules.follow_up_business),
        BusinessSpan::columns(rules.close_business),
        BusinessSpan::columns(rules.warn_before_business),
        BusinessSpan::columns(rules.accept_within_business),
    ]
}

fn overrides_json(rules: &PoolRules) -> Result<serde_json::Value> {
    serde_json::to_value(&rules.grade_overrides).map_err(DomainError::internal_from)
}

/// A `recycle_to_pool_id` that is not a pool of the tenant, or a `calendar_id` that is not one
/// of its calendars.
fn reference_error(err: sqlx::Error, rules: &PoolRules) -> DomainError {
    let sqlx::Error::Database(db) = &err else {
        return db_error(err);
    };
    match (db.constraint(), rules.recycle_to_pool_id, rules.calendar_id) {
        (Some("pools_calendar_fkey"), _, Some(id)) => DomainError::CalendarNotFound(id),
        (Some(_), Some(id), _) if db.is_foreign_key_violation() => DomainError::PoolNotFound(id),
        _ => db_error(err),
    }
}

#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn create(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool: &NewPool,
    now: DateTime<Utc>,
) -> Result<Pool> {
    let rules = &pool.rules;
    let [follow_up, close, warn, accept] = business_columns(rules);
    sqlx::query_as!(
        PoolRow,
        r#"INSERT INTO pools (tenant_id, id, name, timezone, max_held_per_member, daily_claim_limit,
                              reclaim_cooldown_seconds, mask_contacts, release_reasons,
                              exempt_grades, follow_up_timeout_seconds, close_timeout_seconds,
                              warn_before_seconds, grade_overrides, recycle_to_pool_id,
                              created_at, updated_at, distribution_strategy,
                              distribution_fallback, assign_unmatched, auto_distribute,
                              auto_distribute_after_seconds, calendar_id, follow_up_workdays,
                              follow_up_open_seconds, close_workdays, close_open_seconds,
                              warn_before_workdays, warn_before_open_seconds, pull_order,
                              new_lead_embargo_seconds, unclaimed_alert_after_seconds,
                              accept_within_seconds, accept_within_workdays,
                              accept_within_open_seconds, max_reroutes, sla_on_assign)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16,
                   $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31,
                   $32, $33, $34, $35, $36)
           RETURNING NULL::text AS "member_role?", NULL::boolean AS "member_active?", *"#,
        tenant_id,
        Uuid::now_v7(),
        pool.name,
        pool.timezone,
        rules.max_held_per_member,
        rules.daily_claim_limit,
        rules.reclaim_cooldown_seconds,
        rules.mask_contacts,
        &rules.release_reasons,
        &rules.exempt_grades,
        rules.follow_up_timeout_seconds,
        rules.close_timeout_seconds,
        rules.warn_before_seconds,
        overrides_json(rules)?,
        rules.recycle_to_pool_id,
        now,
        rules.distribution.method.strategy.as_str(),
        rules.distribution.method.fallback.as_str(),
        rules.distribution.method.assign_unmatched,
        rules.distribution.auto_distribute,
        rules.distribution.auto_distribute_after_seconds,
        rules.calendar_id,
        follow_up.0,
        follow_up.1,
        close.0,
        close.1,
        warn.0,
        warn.1,
        &rules.pull_order,
        rules.new_lead_embargo_seconds,
        rules.unclaimed_alert_after_seconds,
        rules.accept_within_seconds,
        accept.0,
        accept.1,
        rules.max_reroutes,
        rules.sla_on_assign,
    )
    .fetch_one(db)
    .await
    .map_err(|err| reference_error(err, rules))
    .and_then(|row| Ok(PoolAccess::try_from(row)?.pool))
}

/// The pool and the actor's membership in one read; `POOL_NOT_FOUND` for unknown or foreign ids.
#[tracing::instrument(skip_all, fields(tenant_id, %pool_id))]
pub async fn access(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    actor: &str,
) -> Result<PoolAccess> {
    sqlx::query_as!(
        PoolRow,
        r#"SELECT m.role AS "member_role?", m.active AS "member_active?", p.*
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
    .map(PoolAccess::try_from)
    .transpose()?
    .ok_or(DomainError::PoolNotFound(pool_id))
}

/// Pools by name then id. `member` limits the list to the pools that user belongs to.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn list(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    member: Option<&str>,
    after: Option<(&str, Uuid)>,
    limit: i64,
) -> Result<Vec<Pool>> {
    let (after_name, after_id) = after.unzip();
    sqlx::query_as!(
        PoolRow,
        r#"SELECT NULL::text AS "member_role?", NULL::boolean AS "member_active?", p.*
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
    .map_err(db_error)?
    .into_iter()
    .map(|r| Ok(PoolAccess::try_from(r)?.pool))
    .collect()
}

/// Writes a pool's new name, zone and rules if it is still at `pool.version`, the version it
/// was read at. `None`: the pool changed since it was read.
#[tracing::instrument(skip_all, fields(tenant_id, pool_id = %pool.id))]
pub async fn update(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool: &Pool,
    now: DateTime<Utc>,
) -> Result<Option<Pool>> {
    let rules = &pool.rules;
    let [follow_up, close, warn, accept] = business_columns(rules);
    sqlx::query_as!(
        PoolRow,
        r#"WITH carried AS (
               -- A new time zone carries the claims of the old zone's day into its own: a
               -- claim counts when made, so none is given back, though a claim made before the
               -- new zone's midnight then counts until it (quotas are an invariant). `old` is
               -- the pool as this statement found it (its snapshot), before the update below;
               -- when the update finds a newer version, the caller's transaction rolls back.
               UPDATE members m SET claims_day = ($16::timestamptz AT TIME ZONE $4)::date
               FROM pools old
               WHERE old.tenant_id = $1 AND old.id = $2 AND old.version = $17
                 AND old.timezone <> $4
                 AND m.tenant_id = $1 AND m.pool_id = $2
                 AND m.claims_day = ($16::timestamptz AT TIME ZONE old.timezone)::date
           )
           UPDATE pools
           SET name = $3, timezone = $4, max_held_per_member = $5, daily_claim_limit = $6,
               reclaim_cooldown_seconds = $7, mask_contacts = $8, release_reasons = $9,
               exempt_grades = $10, follow_up_timeout_seconds = $11, close_timeout_seconds = $12,
               warn_before_seconds = $13, grade_overrides = $14, recycle_to_pool_id = $15,
               distribution_strategy = $18, distribution_fallback = $19, assign_unmatched = $20,
               auto_distribute = $21, auto_distribute_after_seconds = $22, calendar_id = $23,
               follow_up_workdays = $24, follow_up_open_seconds = $25, close_workdays = $26,
               close_open_seconds = $27, warn_before_workdays = $28,
               warn_before_open_seconds = $29, pull_order = $30, new_lead_embargo_seconds = $31,
               unclaimed_alert_after_seconds = $32, accept_within_seconds = $33,
               accept_within_workdays = $34, accept_within_open_seconds = $35,
               max_reroutes = $36, sla_on_assign = $37, version = version + 1, updated_at = $16
           WHERE tenant_id = $1 AND id = $2 AND version = $17
           RETURNING NULL::text AS "member_role?", NULL::boolean AS "member_active?", *"#,
        tenant_id,
        pool.id,
        pool.name,
        pool.timezone,
        rules.max_held_per_member,
        rules.daily_claim_limit,
        rules.reclaim_cooldown_seconds,
        rules.mask_contacts,
        &rules.release_reasons,
        &rules.exempt_grades,
        rules.follow_up_timeout_seconds,
        rules.close_timeout_seconds,
        rules.warn_before_seconds,
        overrides_json(rules)?,
        rules.recycle_to_pool_id,
        now,
        pool.version,
        rules.distribution.method.strategy.as_str(),
        rules.distribution.method.fallback.as_str(),
        rules.distribution.method.assign_unmatched,
        rules.distribution.auto_distribute,
        rules.distribution.auto_distribute_after_seconds,
        rules.calendar_id,
        follow_up.0,
        follow_up.1,
        close.0,
        close.1,
        warn.0,
        warn.1,
        &rules.pull_order,
        rules.new_lead_embargo_seconds,
        rules.unclaimed_alert_after_seconds,
        rules.accept_within_seconds,
        accept.0,
        accept.1,
        rules.max_reroutes,
        rules.sla_on_assign,
    )
    .fetch_optional(db)
    .await
    .map_err(|err| reference_error(err, rules))?
    .map(|row| Ok(PoolAccess::try_from(row)?.pool))
    .transpose()
}

/// Recomputes the deadlines of a pool's owned leads from its current rules, in one statement,
/// with one `UPDATED` event per lead whose deadlines changed; how many changed.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, %pool_id))]
pub async fn reschedule(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    pool_id: Uuid,
    request_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<i64> {
    sqlx::query_scalar!(
        r#"WITH changed AS (
               -- The deadlines are computed from the updated row itself, so a follow-up that
               -- commits while this waits for its row is counted from, not overwritten.
               UPDATE leads l
               SET follow_up_deadline = follow_up_deadline(p, l.grade,
                                                           GREATEST(l.acquired_at,
                                                                    l.last_follow_up_at)),
                   close_deadline = close_deadline(p, l.grade, l.acquired_at),
                   version = l.version + 1, updated_at = $4
               FROM pools p
               WHERE l.tenant_id = $1 AND l.pool_id = $2 AND l.state = 'OWNED'
                 AND p.tenant_id = $1 AND p.id = $2
                 AND (l.follow_up_deadline IS DISTINCT FROM
                          follow_up_deadline(p, l.grade,
                                             GREATEST(l.acquired_at, l.last_follow_up_at))
                      OR l.close_deadline IS DISTINCT FROM
                          close_deadline(p, l.grade, l.acquired_at))
               RETURNING l.id, l.owner_id
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner,
                                        actor, reason, occurred_at, request_id)
               SELECT $1, c.id, $2, 'UPDATED', c.owner_id, c.owner_id, $3,
                      'DEADLINES_RESCHEDULED', $4, $5
               FROM changed c
           )
           SELECT count(*) AS "count!" FROM changed"#,
        actor.tenant_id,
        pool_id,
        actor.user_id,
        now,
        request_id,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}

/// The pools that count in the calendar, in id order (the order their rows are locked in).
#[tracing::instrument(skip_all, fields(tenant_id, %calendar_id))]
pub async fn naming_calendar(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    calendar_id: Uuid,
) -> Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT id FROM pools WHERE tenant_id = $1 AND calendar_id = $2 ORDER BY id",
        tenant_id,
        calendar_id,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)
}

/// Archives the pool (keeping the first archive time when it already is).
#[tracing::instrument(skip_all, fields(tenant_id, %pool_id))]
pub async fn archive(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Pool> {
    sqlx::query_as!(
        PoolRow,
        r#"UPDATE pools
           SET archived_at = COALESCE(archived_at, $3),
               version = version + CASE WHEN archived_at IS NULL THEN 1 ELSE 0 END,
               updated_at = CASE WHEN archived_at IS NULL THEN $3 ELSE updated_at END
           WHERE tenant_id = $1 AND id = $2
           RETURNING NULL::text AS "member_role?", NULL::boolean AS "member_active?", *"#,
        tenant_id,
        pool_id,
        now,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)?
    .map(|row| Ok::<_, DomainError>(PoolAccess::try_from(row)?.pool))
    .transpose()?
    .ok_or(DomainError::PoolNotFound(pool_id))
}
