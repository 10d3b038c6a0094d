//! UpdateLead: the caller's fields, if the lead is still at the version they read.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{LeadRow, LeadView, view_of};
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::lead::{NewLead, normalize_email, normalize_phone};

/// An update: the lead, the version it was read at, the new values and which of them apply.
#[derive(Debug, Clone)]
pub struct LeadEdit<'a> {
    pub lead_id: Uuid,
    pub expected_version: i64,
    pub values: &'a NewLead,
    pub mask: &'a [String],
    pub request_id: Option<Uuid>,
    pub now: DateTime<Utc>,
}

impl LeadEdit<'_> {
    fn masks(&self, field: &str) -> bool {
        self.mask.iter().any(|path| path == field)
    }
}

/// Writes the masked fields in one statement, only at `expected_version`, with an `UPDATED`
/// event naming the changed fields. `None`: the version moved on (or the lead is gone).
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, lead_id = %edit.lead_id))]
pub async fn update(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    edit: &LeadEdit<'_>,
) -> Result<Option<LeadView>> {
    let v = edit.values;
    let attributes = serde_json::to_value(&v.attributes).map_err(DomainError::internal_from)?;
    let row = sqlx::query_as!(
        LeadRow,
        r#"WITH target AS (
               SELECT l.id, l.pool_id, l.owner_id FROM leads l
               WHERE l.tenant_id = $1 AND l.id = $2 AND l.version = $3
               FOR UPDATE
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner,
                                        actor, note, occurred_at, request_id)
               SELECT $1, t.id, t.pool_id, 'UPDATED', t.owner_id, t.owner_id, $4,
                      array_to_string($5::text[], ', '), $6, $7
               FROM target t
           )
           UPDATE leads l
           SET external_ref = CASE WHEN $8 THEN $9 ELSE l.external_ref END,
               name = CASE WHEN $10 THEN $11 ELSE l.name END,
               company = CASE WHEN $12 THEN $13 ELSE l.company END,
               phone = CASE WHEN $14 THEN $15 ELSE l.phone END,
               phone_normalized = CASE WHEN $14 THEN $16 ELSE l.phone_normalized END,
               email = CASE WHEN $17 THEN $18 ELSE l.email END,
               email_normalized = CASE WHEN $17 THEN $19 ELSE l.email_normalized END,
               source = CASE WHEN $20 THEN $21 ELSE l.source END,
               region = CASE WHEN $22 THEN $23 ELSE l.region END,
               industry = CASE WHEN $24 THEN $25 ELSE l.industry END,
               grade = CASE WHEN $26 THEN $27 ELSE l.grade END,
               tags = CASE WHEN $28 THEN $29 ELSE l.tags END,
               attributes = CASE WHEN $30 THEN $31 ELSE l.attributes END,
               version = l.version + 1, updated_at = $6
           FROM target t
           JOIN pools p ON p.tenant_id = $1 AND p.id = t.pool_id
           LEFT JOIN members v ON v.tenant_id = $1 AND v.pool_id = t.pool_id AND v.user_id = $4
           WHERE l.tenant_id = $1 AND l.id = t.id
           RETURNING v.role AS "viewer_role?", v.active AS "viewer_active?",
                     p.mask_contacts AS pool_masks_contacts, l.*"#,
        actor.tenant_id,
        edit.lead_id,
        edit.expected_version,
        actor.user_id,
        edit.mask,
        edit.now,
        edit.request_id,
        edit.masks("external_ref"),
        v.external_ref,
        edit.masks("name"),
        v.name,
        edit.masks("company"),
        v.company,
        edit.masks("phone"),
        v.phone,
        normalize_phone(&v.phone),
        edit.masks("email"),
        v.email,
        normalize_email(&v.email),
        edit.masks("source"),
        v.source,
        edit.masks("region"),
        v.region,
        edit.masks("industry"),
        v.industry,
        edit.masks("grade"),
        v.grade,
        edit.masks("tags"),
        &v.tags,
        edit.masks("attributes"),
        attributes,
    )
    .fetch_optional(db)
    .await;
    view_of(row)
}
