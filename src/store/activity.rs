//! What the database server says of the transactions running on it.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::db_error;
use crate::domain::Result;

/// The database server's clock now (what `pg_stat_activity` times transactions by).
pub async fn server_clock(db: impl PgExecutor<'_>) -> Result<DateTime<Utc>> {
    sqlx::query_scalar!(r#"SELECT clock_timestamp() AS "now!""#)
        .fetch_one(db)
        .await
        .map_err(db_error)
}

/// How many transactions of other sessions of this database began before `since` and still run
/// (those of the same role: the service's own connections).
pub async fn transactions_begun_before(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
) -> Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "running!" FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid()
             AND xact_start < $1"#,
        since,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}
