//! What the store reads after a claim or a release changed nothing, so the service can say why.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::lead::{ClaimSnapshot, Claimant, ClaimantStanding, LeadState, ReleaseSnapshot};
use crate::store::db_error;

/// The lead and the actor's standing in its pool, read after a claim changed nothing.
pub async fn claim_snapshot(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    lead_id: Uuid,
    now: DateTime<Utc>,
) -> Result<ClaimSnapshot> {
    claim_snapshots(db, actor, &[lead_id], now)
        .await?
        .pop()
        .ok_or(DomainError::LeadNotFound(lead_id))
}

/// [`claim_snapshot`] of several leads in one read; unknown and foreign ids are left out.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, leads = lead_ids.len()))]
pub async fn claim_snapshots(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    lead_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<ClaimSnapshot>> {
    let rows = sqlx::query!(
        r#"SELECT l.id, l.pool_id, l.state, l.owner_id, l.locked, l.previous_owner_id,
                  l.cooldown_until, embargo_ends(p, l.pool_entered_at) AS claimable_at,
                  p.archived_at IS NOT NULL AS "pool_archived!", p.daily_claim_limit, p.timezone,
                  m.active AS "member_active?", m.held_count AS "held_count?",
                  COALESCE(m.max_held, p.max_held_per_member) AS cap,
                  CASE WHEN m.claims_day = ($4::timestamptz AT TIME ZONE p.timezone)::date
                       THEN m.claims_today ELSE 0 END AS "claims_today!"
           FROM leads l
           JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
           LEFT JOIN members m
             ON m.tenant_id = l.tenant_id AND m.pool_id = l.pool_id AND m.user_id = $3
           WHERE l.tenant_id = $1 AND l.id = ANY($2)"#,
        actor.tenant_id,
        lead_ids,
        actor.user_id,
        now,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|row| {
            let standing = (row.member_active, row.held_count, row.cap, row.claims_today);
            Ok(ClaimSnapshot {
                lead_id: row.id,
                state: LeadState::try_from(row.state.as_str())?,
                owner_id: row.owner_id,
                locked: row.locked,
                previous_owner_id: row.previous_owner_id,
                cooldown_until: row.cooldown_until,
                claimable_at: row.claimable_at,
                claimant: Claimant {
                    pool_id: row.pool_id,
                    pool_archived: row.pool_archived,
                    daily_claim_limit: row.daily_claim_limit,
                    timezone: row.timezone,
                    member: member_standing(standing),
                },
            })
        })
        .collect()
}

/// The actor's standing in the pool, as a claim of any of its leads sees it; `POOL_NOT_FOUND`
/// for unknown and foreign pools.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, %pool_id))]
pub async fn claimant(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    pool_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Claimant> {
    let row = sqlx::query!(
        r#"SELECT p.archived_at IS NOT NULL AS "pool_archived!", p.daily_claim_limit, p.timezone,
                  m.active AS "member_active?", m.held_count AS "held_count?",
                  COALESCE(m.max_held, p.max_held_per_member) AS cap,
                  CASE WHEN m.claims_day = ($4::timestamptz AT TIME ZONE p.timezone)::date
                       THEN m.claims_today ELSE 0 END AS "claims_today!"
           FROM pools p
           LEFT JOIN members m
             ON m.tenant_id = p.tenant_id AND m.pool_id = p.id AND m.user_id = $3
           WHERE p.tenant_id = $1 AND p.id = $2"#,
        actor.tenant_id,
        pool_id,
        actor.user_id,
        now,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)?
    .ok_or(DomainError::PoolNotFound(pool_id))?;
    let standing = (row.member_active, row.held_count, row.cap, row.claims_today);
    Ok(Claimant {
        pool_id,
        pool_archived: row.pool_archived,
        daily_claim_limit: row.daily_claim_limit,
        timezone: row.timezone,
        member: member_standing(standing),
    })
}

/// A membership's standing from its nullable columns (a LEFT JOIN): `None` when not a member.
fn member_standing(
    (active, held_count, cap, claims_today): (Option<bool>, Option<i32>, Option<i32>, i32),
) -> Option<ClaimantStanding> {
    active
        .zip(held_count)
        .map(|(active, held_count)| ClaimantStanding {
            active,
            held_count,
            cap,
            claims_today,
        })
}

/// A member's standing in a pool (active, held, cap), to explain a refused initial owner.
#[tracing::instrument(skip_all, fields(tenant_id, %pool_id))]
pub async fn standing(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    user_id: &str,
) -> Result<Option<ClaimantStanding>> {
    let row = sqlx::query!(
        r#"SELECT m.active, m.held_count, COALESCE(m.max_held, p.max_held_per_member) AS cap
           FROM members m JOIN pools p ON p.tenant_id = m.tenant_id AND p.id = m.pool_id
           WHERE m.tenant_id = $1 AND m.pool_id = $2 AND m.user_id = $3"#,
        tenant_id,
        pool_id,
        user_id,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)?;
    Ok(row.map(|r| ClaimantStanding {
        active: r.active,
        held_count: r.held_count,
        cap: r.cap,
        claims_today: 0,
    }))
}

/// The lead, whether the actor manages its pool, and who released it last, read after a
/// release changed nothing.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, %lead_id))]
pub async fn release_snapshot(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    lead_id: Uuid,
    to_pool_id: Option<Uuid>,
) -> Result<ReleaseSnapshot> {
    let row = sqlx::query!(
        r#"SELECT l.state, l.owner_id, l.locked,
                  owner_may_use(l.tenant_id, l.pool_id, l.owner_id, $5) AS "owner_may_use!",
                  ($4::boolean OR EXISTS (
                      SELECT 1 FROM members m
                      WHERE m.tenant_id = l.tenant_id AND m.pool_id = l.pool_id
                        AND m.user_id = $3 AND m.role = 'MANAGER' AND m.active)) AS "manages!",
                  (SELECT CASE WHEN e.kind = 'RELEASED' THEN e.actor END
                   FROM lead_events e
                   WHERE e.tenant_id = l.tenant_id AND e.lead_id = l.id
                   ORDER BY e.seq DESC LIMIT 1) AS last_released_by,
                  p.release_reasons
           FROM leads l
           JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
           WHERE l.tenant_id = $1 AND l.id = $2"#,
        actor.tenant_id,
        lead_id,
        actor.user_id,
        actor.roles.admin,
        to_pool_id,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)?
    .ok_or(DomainError::LeadNotFound(lead_id))?;
    Ok(ReleaseSnapshot {
        lead_id,
        to_pool_id,
        owner_may_use: row.owner_may_use,
        state: LeadState::try_from(row.state.as_str())?,
        owner_id: row.owner_id,
        locked: row.locked,
        actor_manages_pool: row.manages,
        last_released_by: row.last_released_by,
        release_reasons: row.release_reasons,
    })
}

/// When `ClaimNext` found nothing: the lead the caller could claim first once its embargo ends
/// (in the pool, unlocked, out of the caller's cooldown, of the wanted region and industry), and
/// when. Only leads still under embargo are read, through the pool's queue index.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, %pool_id))]
pub async fn first_embargoed(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    pool_id: Uuid,
    wanted: (Option<&str>, Option<&str>),
    now: DateTime<Utc>,
) -> Result<Option<(Uuid, DateTime<Utc>)>> {
    let (region, industry) = wanted;
    let row = sqlx::query!(
        r#"SELECT l.id, embargo_ends(p, l.pool_entered_at) AS "claimable_at!"
           FROM pools p
           JOIN leads l ON l.tenant_id = p.tenant_id AND l.pool_id = p.id
           WHERE p.tenant_id = $1 AND p.id = $2 AND p.new_lead_embargo_seconds IS NOT NULL
             AND l.state = 'IN_POOL' AND NOT l.locked
             AND l.pool_entered_at > $4::timestamptz - make_interval(secs => p.new_lead_embargo_seconds)
             AND (l.cooldown_until IS NULL OR l.cooldown_until <= $4
                  OR l.previous_owner_id IS DISTINCT FROM $3)
             AND ($5::text IS NULL OR l.region = $5)
             AND ($6::text IS NULL OR l.industry = $6)
           ORDER BY l.pool_entered_at, l.id
           LIMIT 1"#,
        actor.tenant_id,
        pool_id,
        actor.user_id,
        now,
        region,
        industry,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)?;
    Ok(row.map(|r| (r.id, r.claimable_at)))
}
