//! OffboardMember in one transaction: deactivate every membership of the user, lock their
//! owned leads, plan where each goes (the pool, a colleague, or the pool's distribution), and
//! apply it all with one statement, each move an `OFFBOARDED` event with reason `OFFBOARDING`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, PgExecutor};
use uuid::Uuid;

use super::distribute::{lock_state, recipients, save_state};
use super::moves::{self, Changes, Move, Moved};
use super::transfer::standings;
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::assignment::{self, OffboardMode};
use crate::domain::distribution::{self, Candidate};
use crate::domain::event::EventKind;
use crate::domain::lead::AcquiredVia;
use crate::domain::member::Membership;
use crate::store::db_error;

pub const REASON: &str = "OFFBOARDING";

/// One offboarding, validated.
#[derive(Debug, Clone)]
pub struct Offboarding<'a> {
    pub user_id: &'a str,
    pub mode: &'a OffboardMode,
    pub note: Option<&'a str>,
    pub request_id: Option<Uuid>,
    pub now: DateTime<Utc>,
}

/// What moved where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffboardReport {
    pub deactivated: u64,
    pub moved: Vec<Moved>,
    pub kept_locked: Vec<Uuid>,
}

/// The user's pools, each with the actor's membership there, for the rights check.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, user_id))]
pub async fn memberships(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    user_id: &str,
) -> Result<Vec<(Uuid, Option<Membership>)>, DomainError> {
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
struct Owned {
    pool_id: Uuid,
    locked: bool,
    candidate: Candidate,
}

#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, user_id = offboarding.user_id))]
pub async fn offboard(
    conn: &mut PgConnection,
    actor: &Actor,
    offboarding: &Offboarding<'_>,
) -> Result<OffboardReport, DomainError> {
    let tenant_id = actor.tenant_id.as_str();
    let mut tx = conn.begin().await.map_err(db_error)?;
    // Distribution states before member rows, the order every distributor locks them in.
    let mut states = BTreeMap::new();
    if *offboarding.mode == OffboardMode::Redistribute {
        for pool_id in pools_of(&mut tx, tenant_id, offboarding.user_id).await? {
            let locked = lock_state(
                &mut tx,
                tenant_id,
                pool_id,
                offboarding.now,
                super::Wait::Block,
            )
            .await?
            .ok_or(DomainError::ConcurrentModification)?;
            states.insert(pool_id, locked);
        }
    }
    let deactivated = deactivate(&mut tx, tenant_id, offboarding.user_id, offboarding.now).await?;
    let owned = owned_leads(&mut tx, tenant_id, offboarding.user_id).await?;
    let from = Some(offboarding.user_id.to_owned());
    let (movable, locked): (Vec<Owned>, Vec<Owned>) = match offboarding.mode {
        OffboardMode::TransferTo(_) => (owned, Vec::new()),
        _ => owned.into_iter().partition(|o| !o.locked),
    };
    let mut moves = Vec::new();
    match offboarding.mode {
        OffboardMode::ReturnToPool => {
            moves.extend(movable.iter().map(|o| to(o, &from, None)));
        }
        OffboardMode::TransferTo(colleague) => {
            let mut incoming: BTreeMap<Uuid, i32> = BTreeMap::new();
            for o in &movable {
                *incoming.entry(o.pool_id).or_default() += 1;
                moves.push(to(o, &from, Some(colleague.clone())));
            }
            let pools: Vec<Uuid> = incoming.keys().copied().collect();
            let mut room = standings(&mut tx, tenant_id, colleague, &pools).await?;
            for (pool_id, count) in incoming {
                assignment::check_recipient(pool_id, colleague, room.remove(&pool_id), count)?;
            }
        }
        OffboardMode::Redistribute => {
            // Leads of a pool the user has no membership in (none, while held counts hold)
            // still leave them: back to the pool.
            moves.extend(
                movable
                    .iter()
                    .filter(|o| !states.contains_key(&o.pool_id))
                    .map(|o| to(o, &from, None)),
            );
            for (pool_id, locked_state) in &mut states {
                let leads: Vec<&Owned> = movable.iter().filter(|o| o.pool_id == *pool_id).collect();
                let candidates: Vec<Candidate> =
                    leads.iter().map(|o| o.candidate.clone()).collect();
                let mut members = recipients(&mut tx, tenant_id, *pool_id).await?;
                let plan = distribution::plan(
                    locked_state.method,
                    &mut locked_state.state,
                    &mut members,
                    &candidates,
                    offboarding.now,
                );
                moves.extend(plan.assignments.into_iter().map(|a| Move {
                    lead_id: a.lead_id,
                    from_owner: from.clone(),
                    to_owner: Some(a.user_id),
                }));
                moves.extend(plan.undistributed.iter().map(|u| Move {
                    lead_id: u.lead_id,
                    from_owner: from.clone(),
                    to_owner: None,
                }));
                save_state(
                    &mut tx,
                    tenant_id,
                    *pool_id,
                    &locked_state.state,
                    offboarding.now,
                )
                .await?;
            }
        }
    }
    let changes = Changes {
        tenant_id,
        actor: &actor.user_id,
        kind: EventKind::Offboarded,
        acquired_via: match offboarding.mode {
            OffboardMode::Redistribute => AcquiredVia::Distribute,
            _ => AcquiredVia::Transfer,
        },
        reason: Some(REASON),
        note: offboarding.note,
        move_locked: matches!(offboarding.mode, OffboardMode::TransferTo(_)),
        request_id: offboarding.request_id,
        now: offboarding.now,
    };
    let moved = moves::apply(&mut tx, &moves, changes).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(OffboardReport {
        deactivated,
        moved,
        kept_locked: locked.iter().map(|o| o.candidate.lead_id).collect(),
    })
}

fn to(lead: &Owned, from: &Option<String>, to_owner: Option<String>) -> Move {
    Move {
        lead_id: lead.candidate.lead_id,
        from_owner: from.clone(),
        to_owner,
    }
}

async fn pools_of(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<Uuid>, DomainError> {
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
async fn deactivate(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
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
async fn owned_leads(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<Owned>, DomainError> {
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
            },
        })
        .collect())
}
