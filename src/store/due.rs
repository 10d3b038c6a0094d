//! What a proposed rule or calendar change would make due (`PreviewDeadlines`): the owned
//! leads' deadlines counted per owner and day.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::db_error;
use crate::domain::Result;
use crate::domain::due::DueCount;

/// The pool's owned leads due (their earlier deadline) before `before`, counted per owner and
/// day in `timezone`; locked leads and exempt grades are left out, as recycling leaves them.
#[tracing::instrument(skip_all, fields(tenant_id, %pool_id))]
pub async fn by_owner_day(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    timezone: &str,
    before: DateTime<Utc>,
) -> Result<Vec<DueCount>> {
    let rows = sqlx::query!(
        r#"SELECT l.owner_id AS "owner_id!",
                  (LEAST(l.follow_up_deadline, l.close_deadline) AT TIME ZONE $3)::date AS "day!",
                  count(*) AS "due!"
           FROM leads l JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
           WHERE l.tenant_id = $1 AND l.pool_id = $2 AND l.state = 'OWNED' AND NOT l.locked
             AND LEAST(l.follow_up_deadline, l.close_deadline) < $4
             AND NOT (l.grade = ANY (p.exempt_grades))
           GROUP BY 1, 2"#,
        tenant_id,
        pool_id,
        timezone,
        before,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|r| DueCount {
            user_id: r.owner_id,
            day: r.day,
            due: r.due,
        })
        .collect())
}
