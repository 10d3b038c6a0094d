//! The reads of the reports: a pool's rollup rows over a range of days, and the sums of the
//! size and holding deltas before it.

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::db_error;
use crate::domain::Result;
use crate::domain::report::{CountRow, HistogramRow, Metric, Period};

/// Whose rows a read takes: the pool's own, or its members' (all, or one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows<'a> {
    Pool,
    Members(Option<&'a str>),
}

impl<'a> Rows<'a> {
    /// The statements' parameters: the pool's rows only, and one member or all.
    fn params(self) -> (bool, Option<&'a str>) {
        match self {
            Self::Pool => (true, None),
            Self::Members(member) => (false, member),
        }
    }
}

/// The counts of the range's days.
pub async fn counts(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    period: Period,
    rows: Rows<'_>,
) -> Result<Vec<CountRow>> {
    let (pool_only, member) = rows.params();
    let found = sqlx::query!(
        r#"SELECT day, member_id, metric, reason, value FROM report_counts
           WHERE tenant_id = $1 AND pool_id = $2 AND day >= $3 AND day < $4
             AND CASE WHEN $5 THEN member_id = ''
                      ELSE member_id <> '' AND ($6::text IS NULL OR member_id = $6) END"#,
        tenant_id,
        pool_id,
        period.from,
        period.to,
        pool_only,
        member
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    found
        .into_iter()
        .map(|r| {
            Ok(CountRow {
                day: r.day,
                member_id: r.member_id,
                metric: Metric::try_from(r.metric.as_str())?,
                reason: r.reason,
                value: r.value,
            })
        })
        .collect()
}

/// The histogram bins of the range's days.
pub async fn histogram_rows(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    period: Period,
    rows: Rows<'_>,
) -> Result<Vec<HistogramRow>> {
    let (pool_only, member) = rows.params();
    let found = sqlx::query!(
        r#"SELECT day, member_id, metric, bin, count FROM report_histograms
           WHERE tenant_id = $1 AND pool_id = $2 AND day >= $3 AND day < $4
             AND CASE WHEN $5 THEN member_id = ''
                      ELSE member_id <> '' AND ($6::text IS NULL OR member_id = $6) END"#,
        tenant_id,
        pool_id,
        period.from,
        period.to,
        pool_only,
        member
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    found
        .into_iter()
        .map(|r| {
            Ok(HistogramRow {
                day: r.day,
                member_id: r.member_id,
                metric: Metric::try_from(r.metric.as_str())?,
                bin: r.bin,
                count: r.count,
            })
        })
        .collect()
}

/// The sums of the size and holding deltas (`in_pool_delta`, `owned_delta`, `held_delta`)
/// of every day before `before`, by member ('' for the pool) and metric.
pub async fn deltas_before(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    before: NaiveDate,
    rows: Rows<'_>,
) -> Result<HashMap<(String, Metric), i64>> {
    let (pool_only, member) = rows.params();
    let found = sqlx::query!(
        r#"SELECT member_id, metric, sum(value)::bigint AS "total!" FROM report_counts
           WHERE tenant_id = $1 AND pool_id = $2 AND day < $3
             AND metric IN ('in_pool_delta', 'owned_delta', 'held_delta')
             AND CASE WHEN $4 THEN member_id = ''
                      ELSE member_id <> '' AND ($5::text IS NULL OR member_id = $5) END
           GROUP BY member_id, metric"#,
        tenant_id,
        pool_id,
        before,
        pool_only,
        member
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    found
        .into_iter()
        .map(|r| Ok(((r.member_id, Metric::try_from(r.metric.as_str())?), r.total)))
        .collect()
}

/// The pool's members, by user id.
pub async fn member_ids(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
) -> Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT user_id FROM members WHERE tenant_id = $1 AND pool_id = $2 ORDER BY user_id",
        tenant_id,
        pool_id
    )
    .fetch_all(db)
    .await
    .map_err(db_error)
}
