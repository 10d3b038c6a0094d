//! The report aggregator's statements: a tenant's checkpoint (locked for the batch), the facts
//! of the batch's leads, and the rollups it adds to; the reads of the reports are in `read`.

mod read;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::db_error;
use crate::domain::Result;
use crate::domain::event::EventPosition;
use crate::domain::report::{
    Absence, Eligibility, EligibleMember, FactState, LeadFacts, Metric, Tally, month_start,
};

pub use read::{
    held_before, member_bins, member_ids, member_totals, pool_bins, pool_counts, pool_sizes_before,
    pool_total,
};

/// Every tenant with a pool: the background aggregator's round.
pub async fn tenants(db: &PgPool) -> Result<Vec<String>> {
    sqlx::query_scalar!("SELECT DISTINCT tenant_id AS \"tenant_id!\" FROM pools ORDER BY 1")
        .fetch_all(db)
        .await
        .map_err(db_error)
}

/// Where the tenant's aggregator is, read without a lock (`START` before its first batch).
pub async fn checkpoint(db: impl PgExecutor<'_>, tenant_id: &str) -> Result<EventPosition> {
    let row = sqlx::query!(
        "SELECT xid, seq FROM report_checkpoints WHERE tenant_id = $1",
        tenant_id
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)?;
    Ok(row.map_or(EventPosition::START, |r| EventPosition {
        xid: r.xid,
        seq: r.seq,
    }))
}

/// The tenant's checkpoint, locked until the transaction ends; `None` when `wait` is false and
/// another aggregator holds it.
pub async fn lock_checkpoint(
    tx: &mut sqlx::PgConnection,
    tenant_id: &str,
    wait: bool,
) -> Result<Option<EventPosition>> {
    sqlx::query!(
        "INSERT INTO report_checkpoints (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING",
        tenant_id
    )
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    let row = if wait {
        sqlx::query!(
            "SELECT xid, seq FROM report_checkpoints WHERE tenant_id = $1 FOR UPDATE",
            tenant_id
        )
        .fetch_optional(&mut *tx)
        .await
        .map(|r| r.map(|r| (r.xid, r.seq)))
    } else {
        sqlx::query!(
            "SELECT xid, seq FROM report_checkpoints WHERE tenant_id = $1 FOR UPDATE SKIP LOCKED",
            tenant_id
        )
        .fetch_optional(&mut *tx)
        .await
        .map(|r| r.map(|r| (r.xid, r.seq)))
    };
    Ok(row
        .map_err(db_error)?
        .map(|(xid, seq)| EventPosition { xid, seq }))
}

/// Moves the tenant's checkpoint (locked by [`lock_checkpoint`]).
pub async fn move_checkpoint(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    position: EventPosition,
) -> Result<()> {
    sqlx::query!(
        "UPDATE report_checkpoints SET xid = $2, seq = $3 WHERE tenant_id = $1",
        tenant_id,
        position.xid,
        position.seq
    )
    .execute(db)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// The facts the aggregator keeps of these leads (leads it has not seen are absent).
pub async fn facts(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    lead_ids: &[Uuid],
) -> Result<HashMap<Uuid, LeadFacts>> {
    let rows = sqlx::query!(
        r#"SELECT lead_id, pool_id, state, owner_id, entered_pool_at, acquired_at,
                  awaiting_follow_up, returned, covered_owner_id
           FROM report_lead_facts WHERE tenant_id = $1 AND lead_id = ANY($2)"#,
        tenant_id,
        lead_ids
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|r| {
            let facts = LeadFacts {
                pool_id: r.pool_id,
                state: FactState::try_from(r.state.as_str())?,
                owner_id: r.owner_id,
                entered_pool_at: r.entered_pool_at,
                acquired_at: r.acquired_at,
                awaiting_follow_up: r.awaiting_follow_up,
                returned: r.returned,
                covered_owner: r.covered_owner_id,
            };
            Ok((r.lead_id, facts))
        })
        .collect()
}

/// Writes back the facts of the batch's leads.
pub async fn save_facts(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    facts: &HashMap<Uuid, LeadFacts>,
) -> Result<()> {
    let ids: Vec<Uuid> = facts.keys().copied().collect();
    let column = |id: &Uuid| &facts[id];
    let pools: Vec<Uuid> = ids.iter().map(|id| column(id).pool_id).collect();
    let states: Vec<&str> = ids.iter().map(|id| column(id).state.as_str()).collect();
    let owners: Vec<Option<String>> = ids.iter().map(|id| column(id).owner_id.clone()).collect();
    let entered: Vec<Option<DateTime<Utc>>> =
        ids.iter().map(|id| column(id).entered_pool_at).collect();
    let acquired: Vec<Option<DateTime<Utc>>> =
        ids.iter().map(|id| column(id).acquired_at).collect();
    let awaiting: Vec<bool> = ids.iter().map(|id| column(id).awaiting_follow_up).collect();
    let returned: Vec<bool> = ids.iter().map(|id| column(id).returned).collect();
    let covered: Vec<Option<String>> = ids
        .iter()
        .map(|id| column(id).covered_owner.clone())
        .collect();
    sqlx::query!(
        r#"INSERT INTO report_lead_facts (tenant_id, lead_id, pool_id, state, owner_id,
                                          entered_pool_at, acquired_at, awaiting_follow_up,
                                          returned, covered_owner_id)
           SELECT $1, f.* FROM UNNEST($2::uuid[], $3::uuid[], $4::text[], $5::text[],
                                      $6::timestamptz[], $7::timestamptz[], $8::bool[],
                                      $9::bool[], $10::text[]) AS f
           ON CONFLICT (tenant_id, lead_id) DO UPDATE
           SET pool_id = EXCLUDED.pool_id, state = EXCLUDED.state, owner_id = EXCLUDED.owner_id,
               entered_pool_at = EXCLUDED.entered_pool_at, acquired_at = EXCLUDED.acquired_at,
               awaiting_follow_up = EXCLUDED.awaiting_follow_up, returned = EXCLUDED.returned,
               covered_owner_id = EXCLUDED.covered_owner_id"#,
        tenant_id,
        &ids,
        &pools,
        &states as &[&str],
        &owners as &[Option<String>],
        &entered as &[Option<DateTime<Utc>>],
        &acquired as &[Option<DateTime<Utc>>],
        &awaiting,
        &returned,
        &covered as &[Option<String>],
    )
    .execute(db)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Adds the batch's counts and histogram bins to the rollups (one statement each).
pub async fn add(tx: &mut sqlx::PgConnection, tenant_id: &str, tally: &Tally) -> Result<()> {
    let counts: Vec<_> = tally.counts.iter().collect();
    let pools: Vec<Uuid> = counts.iter().map(|((p, ..), _)| *p).collect();
    let days: Vec<_> = counts.iter().map(|((_, d, ..), _)| *d).collect();
    let months: Vec<_> = days.iter().map(|d| month_start(*d)).collect();
    let members: Vec<&str> = counts.iter().map(|((_, _, m, ..), _)| m.as_str()).collect();
    let metrics: Vec<&str> = counts.iter().map(|((.., m, _), _)| m.as_str()).collect();
    let reasons: Vec<&str> = counts.iter().map(|((.., r), _)| r.as_str()).collect();
    let values: Vec<i64> = counts.iter().map(|(_, v)| **v).collect();
    let weights: Vec<i64> = counts
        .iter()
        .map(|(key, _)| tally.weights.get(*key).copied().unwrap_or(0))
        .collect();
    sqlx::query!(
        r#"WITH c AS (
             SELECT * FROM UNNEST($2::uuid[], $3::date[], $4::date[], $5::text[], $6::text[],
                                  $7::text[], $8::bigint[], $9::bigint[])
                    AS c (pool_id, day, month, member_id, metric, reason, value, weight)
           ), days AS (
             INSERT INTO report_counts
                    (tenant_id, pool_id, day, member_id, metric, reason, value, weight)
             SELECT $1, pool_id, day, member_id, metric, reason, value, weight FROM c
             ON CONFLICT (tenant_id, pool_id, day, member_id, metric, reason) DO UPDATE
             SET value = report_counts.value + EXCLUDED.value,
                 weight = report_counts.weight + EXCLUDED.weight
           )
           INSERT INTO report_month_counts
                  (tenant_id, pool_id, month, member_id, metric, reason, value, day_weighted,
                   weight)
           SELECT $1, pool_id, month, member_id, metric, reason, sum(value),
                  sum(value * (day - month)), sum(weight)
           FROM c GROUP BY pool_id, month, member_id, metric, reason
           ON CONFLICT (tenant_id, pool_id, month, member_id, metric, reason) DO UPDATE
           SET value = report_month_counts.value + EXCLUDED.value,
               day_weighted = report_month_counts.day_weighted + EXCLUDED.day_weighted,
               weight = report_month_counts.weight + EXCLUDED.weight"#,
        tenant_id,
        &pools,
        &days,
        &months,
        &members as &[&str],
        &metrics as &[&str],
        &reasons as &[&str],
        &values,
        &weights,
    )
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    add_bins(tx, tenant_id, tally).await
}

async fn add_bins(tx: &mut sqlx::PgConnection, tenant_id: &str, tally: &Tally) -> Result<()> {
    let bins: Vec<_> = tally.bins.iter().collect();
    let pools: Vec<Uuid> = bins.iter().map(|((p, ..), _)| *p).collect();
    let days: Vec<_> = bins.iter().map(|((_, d, ..), _)| *d).collect();
    let months: Vec<_> = days.iter().map(|d| month_start(*d)).collect();
    let members: Vec<&str> = bins.iter().map(|((_, _, m, ..), _)| m.as_str()).collect();
    let metrics: Vec<&str> = bins
        .iter()
        .map(|((.., m, _), _)| Metric::as_str(*m))
        .collect();
    let numbers: Vec<i32> = bins.iter().map(|((.., b), _)| *b).collect();
    let counts: Vec<i64> = bins.iter().map(|(_, c)| **c).collect();
    sqlx::query!(
        r#"WITH b AS (
             SELECT * FROM UNNEST($2::uuid[], $3::date[], $4::date[], $5::text[], $6::text[],
                                  $7::int[], $8::bigint[])
                    AS b (pool_id, day, month, member_id, metric, bin, count)
           ), days AS (
             INSERT INTO report_histograms (tenant_id, pool_id, day, member_id, metric, bin, count)
             SELECT $1, pool_id, day, member_id, metric, bin, count FROM b
             ON CONFLICT (tenant_id, pool_id, day, member_id, metric, bin) DO UPDATE
             SET count = report_histograms.count + EXCLUDED.count
           )
           INSERT INTO report_month_histograms (tenant_id, pool_id, month, member_id, metric, bin, count)
           SELECT $1, pool_id, month, member_id, metric, bin, sum(count)
           FROM b GROUP BY pool_id, month, member_id, metric, bin
           ON CONFLICT (tenant_id, pool_id, month, member_id, metric, bin) DO UPDATE
           SET count = report_month_histograms.count + EXCLUDED.count"#,
        tenant_id,
        &pools,
        &days,
        &months,
        &members as &[&str],
        &metrics as &[&str],
        &numbers,
        &counts,
    )
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// The time zones of these pools (an unknown zone reads as UTC, as everywhere).
pub async fn zones(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_ids: &[Uuid],
) -> Result<HashMap<Uuid, Tz>> {
    let rows = sqlx::query!(
        "SELECT id, timezone FROM pools WHERE tenant_id = $1 AND id = ANY($2)",
        tenant_id,
        pool_ids
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.timezone.parse().unwrap_or(Tz::UTC)))
        .collect())
}

/// The members of these pools and their absences overlapping `from`..=`until`.
pub async fn eligibility(
    db: &mut sqlx::PgConnection,
    tenant_id: &str,
    pool_ids: &[Uuid],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Eligibility> {
    let members = sqlx::query!(
        r#"SELECT pool_id, user_id, weight, active, joined_at FROM members
           WHERE tenant_id = $1 AND pool_id = ANY($2)"#,
        tenant_id,
        pool_ids
    )
    .fetch_all(&mut *db)
    .await
    .map_err(db_error)?;
    let absences = sqlx::query!(
        r#"SELECT a.user_id, a.away_from, a.away_until FROM absences a
           WHERE a.tenant_id = $1 AND a.state <> 'CANCELLED'
             AND a.away_from <= $4 AND a.away_until > $3
             AND a.user_id IN (SELECT m.user_id FROM members m
                               WHERE m.tenant_id = $1 AND m.pool_id = ANY($2))"#,
        tenant_id,
        pool_ids,
        from,
        until
    )
    .fetch_all(&mut *db)
    .await
    .map_err(db_error)?;
    let mut who = Eligibility::default();
    for m in members {
        who.members
            .entry(m.pool_id)
            .or_default()
            .push(EligibleMember {
                user_id: m.user_id,
                weight: m.weight,
                active: m.active,
                joined_at: m.joined_at,
            });
    }
    for a in absences {
        let span = Absence {
            from: a.away_from,
            until: a.away_until,
        };
        who.absences.entry(a.user_id).or_default().push(span);
    }
    Ok(who)
}
