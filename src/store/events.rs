//! The append-only lead history. Rows are only ever inserted, by the statements that change
//! leads (`store::leads`); this module reads them.

use sqlx::PgExecutor;
use uuid::Uuid;

use super::db_error;
use crate::domain::DomainError;
use crate::domain::event::{EventKind, LeadEvent};

/// One lead's events in the order they were written, after `after_seq`.
#[tracing::instrument(skip_all, fields(tenant_id, %lead_id), err(Debug))]
pub async fn lead_history(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    lead_id: Uuid,
    after_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<LeadEvent>, DomainError> {
    let rows = sqlx::query!(
        r#"SELECT seq, lead_id, pool_id, to_pool_id, kind, from_owner, to_owner, actor, reason, note,
                  occurred_at, request_id
           FROM lead_events
           WHERE tenant_id = $1 AND lead_id = $2 AND seq > COALESCE($3::bigint, 0)
           ORDER BY seq
           LIMIT $4"#,
        tenant_id,
        lead_id,
        after_seq,
        limit,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|r| LeadEvent {
            seq: r.seq,
            lead_id: r.lead_id,
            pool_id: r.pool_id,
            to_pool_id: r.to_pool_id,
            kind: EventKind::from_db(&r.kind),
            from_owner: r.from_owner,
            to_owner: r.to_owner,
            actor: r.actor,
            reason: r.reason,
            note: r.note,
            occurred_at: r.occurred_at,
            request_id: r.request_id,
        })
        .collect())
}
