//! The statements of AssignLead and TransferLeads (`service::assignment` runs them in one
//! transaction): lock the leads with what the checks of `domain::assignment` need, and lock the
//! receiving member's rows with their room.

use std::collections::BTreeMap;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::assignment::HeldLead;
use crate::domain::event::EventKind;
use crate::domain::lead::{ClaimantStanding, LeadState};
use crate::store::db_error;

/// The leads (of those asked for that exist in the tenant), locked in id order, with the actor's
/// standing in their pools and each lead's latest event.
pub async fn held_leads(
    conn: &mut PgConnection,
    actor: &Actor,
    lead_ids: &[Uuid],
) -> Result<Vec<HeldLead>> {
    let rows = sqlx::query!(
        r#"SELECT l.id, l.pool_id, l.state, l.owner_id, l.locked, l.previous_owner_id,
                  l.cooldown_until, p.archived_at IS NOT NULL AS "archived!",
                  ($4::boolean OR COALESCE(a.role = 'MANAGER' AND a.active, false)) AS "manages!",
                  a.user_id IS NOT NULL AS "member!",
                  last.kind AS "last_kind?", last.actor AS "last_actor?",
                  last.to_owner AS last_to_owner
           FROM leads l
           JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
           LEFT JOIN members a
             ON a.tenant_id = l.tenant_id AND a.pool_id = l.pool_id AND a.user_id = $3
           LEFT JOIN LATERAL (
               SELECT e.kind, e.actor, e.to_owner FROM lead_events e
               WHERE e.tenant_id = l.tenant_id AND e.lead_id = l.id
               ORDER BY e.seq DESC LIMIT 1
           ) last ON true
           WHERE l.tenant_id = $1 AND l.id = ANY ($2)
           ORDER BY l.id
           FOR UPDATE OF l"#,
        actor.tenant_id,
        lead_ids,
        actor.user_id,
        actor.roles.admin,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|r| {
            Ok(HeldLead {
                lead_id: r.id,
                pool_id: r.pool_id,
                state: LeadState::try_from(r.state.as_str())?,
                owner_id: r.owner_id,
                locked: r.locked,
                previous_owner_id: r.previous_owner_id,
                cooldown_until: r.cooldown_until,
                pool_archived: r.archived,
                actor_manages: r.manages,
                actor_is_member: r.member,
                last_event: r
                    .last_kind
                    .zip(r.last_actor)
                    .map(|(kind, by)| {
                        Ok::<_, DomainError>((
                            EventKind::try_from(kind.as_str())?,
                            by,
                            r.last_to_owner,
                        ))
                    })
                    .transpose()?,
            })
        })
        .collect()
}

/// Locks the member rows of `users` in `pools`, in (pool, user) order. A transfer changes the
/// held counts of the giving and the receiving members; two transfers between the same two
/// members in opposite directions, each locking its receiver first, waited on each other until
/// PostgreSQL broke the deadlock a second later.
pub async fn lock_members(
    conn: &mut PgConnection,
    tenant_id: &str,
    pools: &[Uuid],
    users: &[String],
) -> Result<()> {
    sqlx::query!(
        r#"SELECT 1 AS "locked!" FROM members
           WHERE tenant_id = $1 AND pool_id = ANY ($2) AND user_id = ANY ($3)
           ORDER BY pool_id, user_id
           FOR UPDATE"#,
        tenant_id,
        pools,
        users,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// A user's standing in each of `pools` they belong to, their member rows locked (in pool order)
/// so the room checked is the room the moves find.
pub async fn standings(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    pools: &[Uuid],
) -> Result<BTreeMap<Uuid, ClaimantStanding>> {
    let rows = sqlx::query!(
        r#"SELECT m.pool_id, m.active, m.held_count,
                  COALESCE(m.max_held, p.max_held_per_member) AS cap
           FROM members m JOIN pools p ON p.tenant_id = m.tenant_id AND p.id = m.pool_id
           WHERE m.tenant_id = $1 AND m.user_id = $2 AND m.pool_id = ANY ($3)
           ORDER BY m.pool_id
           FOR UPDATE OF m"#,
        tenant_id,
        user_id,
        pools,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let standing = ClaimantStanding {
                active: r.active,
                held_count: r.held_count,
                cap: r.cap,
                claims_today: 0,
            };
            (r.pool_id, standing)
        })
        .collect())
}
