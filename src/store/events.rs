//! The append-only lead history. Rows are only ever inserted, by the statements that change
//! leads (`store::leads`); this module reads them, for one lead or as a tenant's stream.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::db_error;
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::event::{EventKind, EventPosition, LeadEvent, StreamFilter, StreamPage};

/// The channel on which replicas announce that they wrote events.
const NOTIFY_CHANNEL: &str = "lead_events";

/// One lead's events in the order they were written, after `after_seq`.
#[tracing::instrument(skip_all, fields(tenant_id, %lead_id))]
pub async fn lead_history(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    lead_id: Uuid,
    after_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<LeadEvent>> {
    let rows = sqlx::query!(
        r#"SELECT xid::text::bigint AS "xid!", seq, lead_id, user_id, pool_id, to_pool_id, kind,
                  from_owner, to_owner, actor, reason, note, occurred_at, request_id
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
    rows.into_iter()
        .map(|r| {
            Ok(LeadEvent {
                position: EventPosition {
                    xid: r.xid,
                    seq: r.seq,
                },
                seq: r.seq,
                lead_id: r.lead_id,
                user_id: r.user_id,
                pool_id: r.pool_id,
                to_pool_id: r.to_pool_id,
                kind: EventKind::try_from(r.kind.as_str())?,
                from_owner: r.from_owner,
                to_owner: r.to_owner,
                actor: r.actor,
                reason: r.reason,
                note: r.note,
                occurred_at: r.occurred_at,
                request_id: r.request_id,
            })
        })
        .collect()
}

/// The horizon of a stream read, and one event of it unless the read found none (every event
/// column NULL).
struct StreamRow {
    horizon: i64,
    settled: bool,
    xid: Option<i64>,
    seq: Option<i64>,
    lead_id: Option<Uuid>,
    user_id: Option<String>,
    pool_id: Option<Uuid>,
    to_pool_id: Option<Uuid>,
    kind: Option<String>,
    from_owner: Option<String>,
    to_owner: Option<String>,
    actor: Option<String>,
    reason: Option<String>,
    note: Option<String>,
    occurred_at: Option<DateTime<Utc>>,
    request_id: Option<Uuid>,
}

impl StreamRow {
    fn event(self) -> Option<Result<LeadEvent>> {
        let kind = match EventKind::try_from(self.kind.as_deref()?) {
            Ok(kind) => kind,
            Err(unknown) => return Some(Err(DomainError::from(unknown))),
        };
        Some(Ok(LeadEvent {
            position: EventPosition {
                xid: self.xid?,
                seq: self.seq?,
            },
            seq: self.seq?,
            lead_id: self.lead_id,
            user_id: self.user_id,
            pool_id: self.pool_id?,
            to_pool_id: self.to_pool_id,
            kind,
            from_owner: self.from_owner,
            to_owner: self.to_owner,
            actor: self.actor?,
            reason: self.reason,
            note: self.note,
            occurred_at: self.occurred_at?,
            request_id: self.request_id,
        }))
    }
}

/// The tenant's events after `after` in (xid, seq) order, only those written by transactions
/// below the snapshot's xmin: all of those have finished, so no row can still appear before
/// the last one returned. The horizon comes from the same snapshot as the rows. The filter,
/// a plain member's right to read each lead's history included, applies before the limit, so
/// a page is short only when nothing else below the horizon matches.
#[tracing::instrument(skip_all, fields(tenant_id, xid = after.xid, seq = after.seq))]
pub async fn stream_page(
    db: &PgPool,
    tenant_id: &str,
    filter: &StreamFilter,
    after: EventPosition,
    limit: usize,
) -> Result<StreamPage> {
    let kinds: Vec<&str> = filter.kinds.iter().map(|k| k.as_str()).collect();
    let rows = sqlx::query_as!(
        StreamRow,
        r#"SELECT h.xmin::text::bigint AS "horizon!", h.xmin = h.xmax AS "settled!",
                  e.xid AS "xid?", e.seq AS "seq?", e.lead_id, e.user_id,
                  e.pool_id AS "pool_id?", e.to_pool_id, e.kind AS "kind?", e.from_owner,
                  e.to_owner,
                  e.actor AS "actor?", e.reason, e.note, e.occurred_at AS "occurred_at?",
                  e.request_id
           FROM (SELECT pg_snapshot_xmin(s) AS xmin, pg_snapshot_xmax(s) AS xmax
                 FROM pg_current_snapshot() s) h
           LEFT JOIN LATERAL (
               SELECT ev.xid::text::bigint AS xid, ev.seq, ev.lead_id, ev.user_id, ev.pool_id,
                      ev.to_pool_id,
                      ev.kind,
                      ev.from_owner, ev.to_owner, ev.actor, ev.reason, ev.note,
                      ev.occurred_at, ev.request_id
               FROM lead_events ev
               WHERE ev.tenant_id = $1
                 AND ev.xid < h.xmin
                 AND (ev.xid, ev.seq) > ($2::bigint::text::xid8, $3::bigint)
                 AND ($4::uuid IS NULL OR ev.pool_id = $4 OR ev.to_pool_id = $4)
                 AND (cardinality($5::text[]) = 0 OR ev.kind = ANY($5))
                 AND ($7::text IS NULL OR ev.lead_id IS NULL OR EXISTS (
                       SELECT 1 FROM leads l
                       WHERE l.tenant_id = ev.tenant_id AND l.id = ev.lead_id
                         AND reads_lead_notes(l, $7)))
               ORDER BY ev.xid, ev.seq
               LIMIT $6
           ) e ON true
           ORDER BY e.xid, e.seq"#,
        tenant_id,
        after.xid,
        after.seq,
        filter.pool_id,
        &kinds as &[&str],
        i64::try_from(limit).unwrap_or(i64::MAX),
        filter.notes_reader,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    let horizon = rows.first().map_or(0, |r| r.horizon);
    let settled = rows.first().is_none_or(|r| r.settled);
    let events = rows
        .into_iter()
        .filter_map(StreamRow::event)
        .collect::<Result<_, _>>()?;
    Ok(StreamPage {
        events,
        horizon,
        settled,
    })
}

/// A connection of its own (not one of `db`'s, which serve calls) that receives the
/// trigger's notifications; it reconnects by itself on the next `recv` after a lost
/// connection, and notifications sent meanwhile are lost.
pub async fn listen(db: &PgPool) -> Result<PgListener> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(db.connect_options().as_ref().clone());
    let mut listener = PgListener::connect_with(&own).await.map_err(db_error)?;
    listener.listen(NOTIFY_CHANNEL).await.map_err(db_error)?;
    Ok(listener)
}

/// Tells every replica's listener that events were written (outside any writing transaction).
pub async fn announce(db: &PgPool) -> Result<()> {
    sqlx::query_scalar!(r#"SELECT pg_notify($1, '') AS "sent!""#, NOTIFY_CHANNEL)
        .fetch_one(db)
        .await
        .map(drop)
        .map_err(db_error)
}

/// The first transaction id not yet started: every transaction that has committed by now has
/// a smaller one, so the stream has all of their events once its horizon reaches this.
pub async fn next_transaction(db: &PgPool) -> Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS "xmax!""#
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}

/// The present position of the stream: before every event not yet readable.
#[tracing::instrument(skip_all)]
pub async fn horizon(db: &PgPool) -> Result<EventPosition> {
    let horizon = sqlx::query_scalar!(
        r#"SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS "horizon!""#
    )
    .fetch_one(db)
    .await
    .map_err(db_error)?;
    Ok(EventPosition::at_horizon(horizon))
}
