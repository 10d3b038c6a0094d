//! The statements of OffboardMember (`service::assignment::offboard` runs them in one
//! transaction): who may offboard, deactivating the user's memberships and locking their leads.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::distribution::Candidate;
use crate::domain::member::Membership;
use crate::store::db_error;

/// The user's pools, each with the actor's membership there, for the rights check.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, user_id))]
pub async fn memberships(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    user_id: &str,
) -> Result<Vec<(Uuid, Option<Membership>)>> {
    let rows = sqlx::query!(
        r#"SELECT m.pool_id, a.role AS "role?", a.active AS "active?"
           FROM members m
           LEFT JOIN members a
             ON a.tenant_id = m.tenant_id AND a.pool_id = m.pool_id AND a.user_id = $3
           WHERE m.tenant_id = $1 AND m.user_id = $2
           ORDER BY m.pool_id"#,
        actor.tenant_id,
        user_id,
        actor.user_id,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|r| {
            let membership = r
                .role
                .zip(r.active)
                .map(|(role, active)| Membership::stored(&role, active))
                .transpose()?;
            Ok((r.pool_id, membership))
        })
        .collect()
}

/// An owned lead of the departing user, locked.
pub struct Owned {
    pub pool_id: Uuid,
    pub locked: bool,
    pub candidate: Candidate,
}

/// The pools the user belongs to, in any state.
pub async fn pools_of(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"SELECT pool_id FROM members WHERE tenant_id = $1 AND user_id = $2 ORDER BY pool_id"#,
        tenant_id,
        user_id,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)
}

/// Deactivates the user's active memberships, locking all of them; how many were active.
pub async fn deactivate(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    sqlx::query!(
        r#"UPDATE members SET active = false, updated_at = $3
           WHERE tenant_id = $1 AND user_id = $2 AND active"#,
        tenant_id,
        user_id,
        now,
    )
    .execute(&mut *conn)
    .await
    .map(|done| done.rows_affected())
    .map_err(db_error)
}

/// Every lead the user owns, in any pool, locked; by pool, then in the order they got them.
pub async fn owned_leads(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<Owned>> {
    let rows = sqlx::query!(
        r#"SELECT l.id, l.pool_id, l.locked, l.region, l.industry, l.grade,
                  l.previous_owner_id, l.cooldown_until
           FROM leads l
           WHERE l.tenant_id = $1 AND l.owner_id = $2 AND l.state = 'OWNED'
           ORDER BY l.pool_id, l.acquired_at, l.id
           FOR UPDATE"#,
        tenant_id,
        user_id,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|r| Owned {
            pool_id: r.pool_id,
            locked: r.locked,
            candidate: Candidate {
                lead_id: r.id,
                region: r.region,
                industry: r.industry,
                grade: r.grade,
                previous_owner_id: r.previous_owner_id,
                cooldown_until: r.cooldown_until,
                chain: Vec::new(),
            },
        })
        .collect())
}
