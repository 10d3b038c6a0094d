//! Imports: a batch of rows written by one statement (`UNNEST`), each row's duplicate and
//! external_ref checks inside it, one `CREATED` event per created lead.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::import::Written;
use crate::domain::lead::{NewLead, normalize_email, normalize_phone};
use crate::store::db_error;

/// One valid row to write: its new id, its fields, and the earlier row of the batch with the
/// same contact, if any.
#[derive(Debug, Clone)]
pub struct ImportRow<'a> {
    pub id: Uuid,
    pub lead: &'a NewLead,
    pub repeats: Option<Uuid>,
}

/// The batch's shared settings.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    pub pool_id: Uuid,
    pub allow_duplicates: bool,
    pub request_id: Option<Uuid>,
    pub now: DateTime<Utc>,
}

/// Writes the rows that are neither duplicates (unless allowed) nor taken external_refs, in one
/// statement, and says for every row what happened, in row order.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, pool_id = %batch.pool_id, rows = rows.len()))]
pub async fn import(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    batch: Batch,
    rows: &[ImportRow<'_>],
) -> Result<Vec<Written>> {
    let column = |f: fn(&NewLead) -> &str| -> Vec<String> {
        rows.iter().map(|r| f(r.lead).to_owned()).collect()
    };
    let tags: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::json!(r.lead.tags))
        .collect();
    let attributes: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::json!(r.lead.attributes))
        .collect();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let repeats: Vec<Option<Uuid>> = rows.iter().map(|r| r.repeats).collect();
    let ords: Vec<i32> = (0..).take(rows.len()).collect();
    let written = sqlx::query!(
        r#"WITH input AS (
               SELECT * FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                                    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                                    $12::jsonb[], $13::jsonb[], $14::uuid[], $15::int[],
                                    $16::text[], $17::text[])
                   AS i(id, external_ref, name, company, phone, email, source, region,
                        industry, grade, tags, attributes, repeats, ord, phone_n, email_n)
           ),
           checked AS (
               SELECT i.*,
                      live_lead_with_contact($1, i.phone_n, i.email_n) AS existing,
                      (SELECT r.id FROM leads r
                       WHERE r.tenant_id = $1 AND r.external_ref = NULLIF(i.external_ref, '')) AS ref_owner
               FROM input i
           ),
           inserted AS (
               INSERT INTO leads (tenant_id, id, pool_id, external_ref, name, company, phone, email,
                                  source, region, industry, grade, tags, attributes, state,
                                  pool_entered_at, phone_normalized, email_normalized,
                                  duplicate_of, created_at, updated_at)
               SELECT $1, c.id, $18, NULLIF(c.external_ref, ''), c.name, c.company, c.phone,
                      c.email, c.source, c.region, c.industry, c.grade,
                      ARRAY(SELECT jsonb_array_elements_text(c.tags)), c.attributes, 'IN_POOL',
                      $19, c.phone_n, c.email_n,
                      COALESCE(c.existing, c.repeats), $19, $19
               FROM checked c
               WHERE c.ref_owner IS NULL
                 AND ($20 OR (c.existing IS NULL AND c.repeats IS NULL))
               ORDER BY c.ord
               ON CONFLICT DO NOTHING
               RETURNING id
           ),
           events AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, actor, occurred_at,
                                        request_id)
               SELECT $1, n.id, $18, 'CREATED', $21, $19, $22 FROM inserted n
           )
           SELECT c.id AS "id!", c.existing, c.ref_owner,
                  EXISTS (SELECT 1 FROM inserted n WHERE n.id = c.id) AS "created!"
           FROM checked c
           ORDER BY c.ord"#,
        actor.tenant_id,
        &ids,
        &column(|l| l.external_ref.as_deref().unwrap_or_default()),
        &column(|l| &l.name),
        &column(|l| &l.company),
        &column(|l| &l.phone),
        &column(|l| &l.email),
        &column(|l| &l.source),
        &column(|l| &l.region),
        &column(|l| &l.industry),
        &column(|l| &l.grade),
        &tags,
        &attributes,
        &repeats as &[Option<Uuid>],
        &ords,
        &rows.iter().map(|r| normalize_phone(&r.lead.phone)).collect::<Vec<_>>(),
        &rows.iter().map(|r| normalize_email(&r.lead.email)).collect::<Vec<_>>(),
        batch.pool_id,
        batch.now,
        batch.allow_duplicates,
        actor.user_id,
        batch.request_id,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(written
        .into_iter()
        .map(|w| Written {
            id: w.id,
            created: w.created,
            existing: w.existing,
            ref_owner: w.ref_owner,
        })
        .collect())
}
