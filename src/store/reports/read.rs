//! The reads of the reports. A pool's own rows (`member_id = ''`) come by day, for its buckets;
//! its members' come summed over the range, whole months from the month rollups, so a report
//! over months reads a few rows per member and month and ships a few per member.
//! The pool's and the members' rows are separate statements: one statement for both would be
//! planned once for either and lose the index to a generic plan.

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::db_error;
use crate::domain::Result;
use crate::domain::report::{
    CountRow, HistogramRow, MemberBin, MemberTotal, Metric, Period, month_start,
};

/// The pool's counts of the range's days.
pub async fn pool_counts(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    period: Period,
) -> Result<Vec<CountRow>> {
    let found = sqlx::query!(
        "SELECT day, metric, reason, value FROM report_counts
         WHERE tenant_id = $1 AND pool_id = $2 AND member_id = '' AND day >= $3 AND day < $4",
        tenant_id,
        pool_id,
        period.from,
        period.to,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    found
        .into_iter()
        .map(|r| {
            Ok(CountRow {
                day: r.day,
                metric: Metric::try_from(r.metric.as_str())?,
                reason: r.reason,
                value: r.value,
            })
        })
        .collect()
}

/// The pool's histogram bins of the range's days.
pub async fn pool_bins(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    period: Period,
) -> Result<Vec<HistogramRow>> {
    let found = sqlx::query!(
        "SELECT day, metric, bin, count FROM report_histograms
         WHERE tenant_id = $1 AND pool_id = $2 AND member_id = '' AND day >= $3 AND day < $4",
        tenant_id,
        pool_id,
        period.from,
        period.to,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    found
        .into_iter()
        .map(|r| {
            Ok(HistogramRow {
                day: r.day,
                metric: Metric::try_from(r.metric.as_str())?,
                bin: r.bin,
                count: r.count,
            })
        })
        .collect()
}

/// The pool's size when `before` began: (leads in the pool, leads owned). Whole months before
/// it come from the month rows.
pub async fn pool_sizes_before(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    before: NaiveDate,
) -> Result<(i64, i64)> {
    let row = sqlx::query!(
        r#"SELECT coalesce(sum(value) FILTER (WHERE metric = 'in_pool_delta'), 0)::bigint AS "in_pool!",
                  coalesce(sum(value) FILTER (WHERE metric = 'owned_delta'), 0)::bigint AS "owned!"
           FROM (SELECT metric, value FROM report_month_counts
                 WHERE tenant_id = $1 AND pool_id = $2 AND member_id = '' AND month < $3
                   AND metric IN ('in_pool_delta', 'owned_delta')
                 UNION ALL
                 SELECT metric, value FROM report_counts
                 WHERE tenant_id = $1 AND pool_id = $2 AND member_id = '' AND day >= $3
                   AND day < $4 AND metric IN ('in_pool_delta', 'owned_delta')) d"#,
        tenant_id,
        pool_id,
        month_start(before),
        before,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)?;
    Ok((row.in_pool, row.owned))
}

/// The pool's total of `metric` over the range.
pub async fn pool_total(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    period: Period,
    metric: Metric,
) -> Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT coalesce(sum(value), 0)::bigint AS "total!" FROM report_counts
           WHERE tenant_id = $1 AND pool_id = $2 AND member_id = '' AND day >= $3 AND day < $4
             AND metric = $5"#,
        tenant_id,
        pool_id,
        period.from,
        period.to,
        metric.as_str(),
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}

/// Each member's totals over the range (every member, or the one given): whole months from the
/// month rows, the days around them from the day rows. A holding change on a day counts on the
/// `to - day` days of the range from it on.
pub async fn member_totals(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    period: Period,
    member: Option<&str>,
) -> Result<Vec<MemberTotal>> {
    let (first_month, end_month) = period.whole_months();
    let found = sqlx::query!(
        r#"SELECT member_id AS "member_id!", metric AS "metric!", sum(value)::bigint AS "total!",
                  coalesce(sum(held_days) FILTER (WHERE metric = 'held_delta'), 0)::bigint
                    AS "held_days!",
                  out_of AS "out_of!", sum(weight)::bigint AS "weight!"
           FROM (SELECT member_id, metric, value, value * ($4 - day) AS held_days, reason, weight
                 FROM report_counts
                 WHERE tenant_id = $1 AND pool_id = $2 AND member_id <> ''
                   AND ($7::text IS NULL OR member_id = $7)
                   AND ((day >= $3 AND day < $5) OR (day >= $6 AND day < $4))
                 UNION ALL
                 SELECT member_id, metric, value, value * ($4 - month) - day_weighted, reason,
                        weight
                 FROM report_month_counts
                 WHERE tenant_id = $1 AND pool_id = $2 AND member_id <> ''
                   AND ($7::text IS NULL OR member_id = $7) AND month >= $5 AND month < $6) r
           -- Entitlements stay apart per eligible weights' total (their reason; '' before
           -- shares were kept exactly): a share is weight ÷ that total.
           CROSS JOIN LATERAL (
             SELECT CASE WHEN metric = 'entitled_micro' AND reason <> '' THEN reason::bigint
                         ELSE 0 END AS out_of
           ) o
           GROUP BY member_id, metric, out_of"#,
        tenant_id,
        pool_id,
        period.from,
        period.to,
        first_month,
        end_month,
        member,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    found
        .into_iter()
        .map(|r| {
            Ok(MemberTotal {
                member_id: r.member_id,
                metric: Metric::try_from(r.metric.as_str())?,
                total: r.total,
                held_days: r.held_days,
                out_of: r.out_of,
                weight: r.weight,
            })
        })
        .collect()
}

/// Each member's histogram bins summed over the range (every member, or the one given), read
/// as [`member_totals`] reads.
pub async fn member_bins(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    period: Period,
    member: Option<&str>,
) -> Result<Vec<MemberBin>> {
    let (first_month, end_month) = period.whole_months();
    let found = sqlx::query!(
        r#"SELECT member_id AS "member_id!", metric AS "metric!", bin AS "bin!",
                  sum(count)::bigint AS "count!"
           FROM (SELECT member_id, metric, bin, count FROM report_histograms
                 WHERE tenant_id = $1 AND pool_id = $2 AND member_id <> ''
                   AND ($7::text IS NULL OR member_id = $7)
                   AND ((day >= $3 AND day < $5) OR (day >= $6 AND day < $4))
                 UNION ALL
                 SELECT member_id, metric, bin, count FROM report_month_histograms
                 WHERE tenant_id = $1 AND pool_id = $2 AND member_id <> ''
                   AND ($7::text IS NULL OR member_id = $7) AND month >= $5 AND month < $6) b
           GROUP BY member_id, metric, bin"#,
        tenant_id,
        pool_id,
        period.from,
        period.to,
        first_month,
        end_month,
        member,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    found
        .into_iter()
        .map(|r| {
            Ok(MemberBin {
                member_id: r.member_id,
                metric: Metric::try_from(r.metric.as_str())?,
                bin: r.bin,
                count: r.count,
            })
        })
        .collect()
}

/// What each member held when `before` began (every member, or the one given): whole months
/// before it from the month rows.
pub async fn held_before(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    before: NaiveDate,
    member: Option<&str>,
) -> Result<HashMap<String, i64>> {
    let found = sqlx::query!(
        r#"SELECT member_id AS "member_id!", sum(value)::bigint AS "held!"
           FROM (SELECT member_id, value FROM report_month_counts
                 WHERE tenant_id = $1 AND pool_id = $2 AND metric = 'held_delta' AND month < $3
                   AND member_id <> '' AND ($5::text IS NULL OR member_id = $5)
                 UNION ALL
                 SELECT member_id, value FROM report_counts
                 WHERE tenant_id = $1 AND pool_id = $2 AND metric = 'held_delta' AND day >= $3
                   AND day < $4 AND member_id <> '' AND ($5::text IS NULL OR member_id = $5)) h
           GROUP BY member_id"#,
        tenant_id,
        pool_id,
        month_start(before),
        before,
        member,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(found.into_iter().map(|r| (r.member_id, r.held)).collect())
}

/// The pool's members, active or not (every one, or the one given), by user id.
pub async fn member_ids(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    member: Option<&str>,
) -> Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT user_id FROM members
         WHERE tenant_id = $1 AND pool_id = $2 AND ($3::text IS NULL OR user_id = $3)
         ORDER BY user_id",
        tenant_id,
        pool_id,
        member,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)
}
