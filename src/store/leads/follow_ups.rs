//! Follow-ups: recorded by the owner together with the lead's new follow-up deadline, and
//! listed for the users who may read a lead's notes.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{LeadRow, LeadView, view_of};
use crate::domain::access::{Actor, NotesAccess};
use crate::domain::follow_up::{Channel, FollowUp};
use crate::domain::member::Membership;
use crate::domain::{DomainError, Result};
use crate::store::db_error;

/// Records the follow-up if the actor owns the lead, in one statement with the lead's
/// `last_follow_up_at`, its reset follow-up deadline and a `FOLLOWED_UP` event (the channel as
/// its reason, the note as its note). A follow-up accepts a lead pushed to the owner. The lead row is locked first, so a recycle sweep either
/// sees the new deadline or recycles before it.
/// `None`: the actor does not own the lead (any more).
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, lead_id = %follow_up.lead_id))]
pub async fn record(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    follow_up: &FollowUp,
    request_id: Option<Uuid>,
) -> Result<Option<LeadView>> {
    let row = sqlx::query_as!(
        LeadRow,
        r#"WITH target AS (
               SELECT l.id, l.pool_id FROM leads l
               WHERE l.tenant_id = $1 AND l.id = $2 AND l.state = 'OWNED' AND l.owner_id = $3
               FOR UPDATE
           ),
           recorded AS (
               INSERT INTO follow_ups (tenant_id, id, lead_id, author, channel, note,
                                       occurred_at, recorded_at)
               SELECT $1, $4, t.id, $3, $5, $6, $7, $8 FROM target t
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner,
                                        actor, reason, note, occurred_at, request_id)
               SELECT $1, t.id, t.pool_id, 'FOLLOWED_UP', $3, $3, $3, $5, NULLIF($6, ''), $8, $9
               FROM target t
           )
           UPDATE leads l
           SET last_follow_up_at = GREATEST(l.last_follow_up_at, $7),
               follow_up_deadline = follow_up_deadline(
                   p, l.grade, GREATEST(l.acquired_at, l.last_follow_up_at, $7)),
               accept_deadline = NULL, accept_chain = '{}',
               version = l.version + 1, updated_at = $8
           FROM target t
           JOIN pools p ON p.tenant_id = $1 AND p.id = t.pool_id
           WHERE l.tenant_id = $1 AND l.id = t.id
           RETURNING NULL::text AS "viewer_role?", NULL::boolean AS "viewer_active?",
                     p.mask_contacts AS pool_masks_contacts, l.*"#,
        actor.tenant_id,
        follow_up.lead_id,
        actor.user_id,
        follow_up.id,
        follow_up.channel.as_str(),
        follow_up.note,
        follow_up.occurred_at,
        follow_up.recorded_at,
        request_id,
    )
    .fetch_optional(db)
    .await;
    view_of(row)
}

/// A lead's follow-ups, oldest first, after the keyset cursor.
#[tracing::instrument(skip_all, fields(tenant_id, %lead_id))]
pub async fn list(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    lead_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<FollowUp>> {
    let (after_at, after_id) = after.unzip();
    let rows = sqlx::query!(
        r#"SELECT id, lead_id, author, channel, note, occurred_at, recorded_at
           FROM follow_ups
           WHERE tenant_id = $1 AND lead_id = $2
             AND ($3::timestamptz IS NULL OR (occurred_at, id) > ($3, $4))
           ORDER BY occurred_at, id
           LIMIT $5"#,
        tenant_id,
        lead_id,
        after_at,
        after_id,
        limit,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|r| {
            Ok(FollowUp {
                id: r.id,
                lead_id: r.lead_id,
                author: r.author,
                channel: Channel::try_from(r.channel.as_str())?,
                note: r.note,
                occurred_at: r.occurred_at,
                recorded_at: r.recorded_at,
            })
        })
        .collect()
}

/// What decides whether the actor reads the lead's notes and history
/// ([`Actor::require_notes_reader`]), `reads_lead_notes` included; `LEAD_NOT_FOUND` for unknown
/// or foreign ids.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, %lead_id))]
pub async fn notes_access(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    lead_id: Uuid,
) -> Result<NotesAccess> {
    let row = sqlx::query!(
        r#"SELECT l.pool_id, l.owner_id, m.role AS "role?", m.active AS "active?",
                  reads_lead_notes(l, $3) AS "member_reads!"
           FROM leads l
           LEFT JOIN members m
             ON m.tenant_id = l.tenant_id AND m.pool_id = l.pool_id AND m.user_id = $3
           WHERE l.tenant_id = $1 AND l.id = $2"#,
        actor.tenant_id,
        lead_id,
        actor.user_id,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)?
    .ok_or(DomainError::LeadNotFound(lead_id))?;
    let membership = row
        .role
        .zip(row.active)
        .map(|(role, active)| Membership::stored(&role, active))
        .transpose()?;
    Ok(NotesAccess {
        lead_id,
        pool_id: row.pool_id,
        owner_id: row.owner_id,
        membership,
        member_reads: row.member_reads,
    })
}
