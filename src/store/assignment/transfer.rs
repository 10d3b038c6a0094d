//! AssignLead and TransferLeads: lock the leads, check them (`domain::assignment`), lock the
//! receiving member's rows and check their room, then apply every move in one statement.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::moves::{self, Changes, Move};
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::assignment::{self, HeldLead, Step};
use crate::domain::event::EventKind;
use crate::domain::lead::{AcquiredVia, ClaimantStanding, LeadState};
use crate::store::db_error;

/// What an assignment or transfer records with its events.
#[derive(Debug, Clone, Copy)]
pub struct Handover<'a> {
    pub to_user: &'a str,
    pub note: Option<&'a str>,
    pub request_id: Option<Uuid>,
    pub now: DateTime<Utc>,
}

/// Assigns a pool lead to `handover.to_user`. `Ok(false)`: the member already owned it.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, %lead_id))]
pub async fn assign(
    conn: &mut PgConnection,
    actor: &Actor,
    lead_id: Uuid,
    override_cooldown: bool,
    handover: Handover<'_>,
) -> Result<bool, DomainError> {
    let mut tx = conn.begin().await.map_err(db_error)?;
    let lead = held_leads(&mut tx, actor, &[lead_id])
        .await?
        .pop()
        .ok_or(DomainError::LeadNotFound(lead_id))?;
    if assignment::check_assign(&lead, handover.to_user, override_cooldown, handover.now)?
        == Step::AlreadyDone
    {
        return Ok(false);
    }
    let standing = standings(&mut tx, &actor.tenant_id, handover.to_user, &[lead.pool_id])
        .await?
        .remove(&lead.pool_id);
    assignment::check_recipient(lead.pool_id, handover.to_user, standing, 1)?;
    // The audit trail says when a manager overrode the previous owner's cooldown.
    let overridden = lead.previous_owner_id.as_deref() == Some(handover.to_user)
        && lead
            .cooldown_until
            .is_some_and(|until| until > handover.now);
    let moves = [Move {
        lead_id,
        from_owner: None,
        to_owner: Some(handover.to_user.to_owned()),
    }];
    let changes = Changes {
        reason: overridden.then_some("COOLDOWN_OVERRIDDEN"),
        ..changes(actor, EventKind::Assigned, AcquiredVia::Assign, handover)
    };
    moves::apply(&mut tx, &moves, changes).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(true)
}

/// Transfers owned leads to `handover.to_user`, all or none. Returns how many changed owner
/// (the others were already moved by this caller's earlier transfer).
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, leads = lead_ids.len()))]
pub async fn transfer(
    conn: &mut PgConnection,
    actor: &Actor,
    lead_ids: &[Uuid],
    handover: Handover<'_>,
) -> Result<usize, DomainError> {
    let mut tx = conn.begin().await.map_err(db_error)?;
    let held: BTreeMap<Uuid, HeldLead> = held_leads(&mut tx, actor, lead_ids)
        .await?
        .into_iter()
        .map(|lead| (lead.lead_id, lead))
        .collect();
    let mut moves = Vec::new();
    let mut incoming: BTreeMap<Uuid, i32> = BTreeMap::new();
    for id in lead_ids {
        let lead = held.get(id).ok_or(DomainError::LeadNotFound(*id))?;
        if assignment::check_transfer(lead, &actor.user_id, handover.to_user)? == Step::Move {
            *incoming.entry(lead.pool_id).or_default() += 1;
            moves.push(Move {
                lead_id: *id,
                from_owner: lead.owner_id.clone(),
                to_owner: Some(handover.to_user.to_owned()),
            });
        }
    }
    let pools: Vec<Uuid> = incoming.keys().copied().collect();
    let mut standings = standings(&mut tx, &actor.tenant_id, handover.to_user, &pools).await?;
    for (pool_id, count) in incoming {
        let standing = standings.remove(&pool_id);
        assignment::check_recipient(pool_id, handover.to_user, standing, count)?;
    }
    let changes = changes(
        actor,
        EventKind::Transferred,
        AcquiredVia::Transfer,
        handover,
    );
    moves::apply(&mut tx, &moves, changes).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(moves.len())
}

fn changes<'a>(
    actor: &'a Actor,
    kind: EventKind,
    acquired_via: AcquiredVia,
    handover: Handover<'a>,
) -> Changes<'a> {
    Changes {
        tenant_id: &actor.tenant_id,
        actor: &actor.user_id,
        kind,
        acquired_via,
        reason: None,
        note: handover.note,
        move_locked: false,
        request_id: handover.request_id,
        now: handover.now,
    }
}

/// The leads (of those asked for that exist in the tenant), locked in id order, with the actor's
/// standing in their pools and each lead's latest event.
pub(super) async fn held_leads(
    conn: &mut PgConnection,
    actor: &Actor,
    lead_ids: &[Uuid],
) -> Result<Vec<HeldLead>, DomainError> {
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

/// A user's standing in each of `pools` they belong to, their member rows locked (in pool order)
/// so the room checked is the room the moves find.
pub(super) async fn standings(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    pools: &[Uuid],
) -> Result<BTreeMap<Uuid, ClaimantStanding>, DomainError> {
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
