//! `reschedule_owned` once more, after its transaction: the leads acquired while it ran.
//!
//! A rules or calendar change recomputes the owned leads' deadlines in its own transaction, but
//! under READ COMMITTED a claim (or any acquisition) can overlap it both ways: the claim's
//! statement read the rules before the change committed, and the change's reschedule read the
//! leads before the claim committed. Such a lead kept the old rules' deadline for good (an audit
//! saw 19 to 68 of 400 leads claimed during a change). So once the change has committed and
//! every transaction that began before that has ended (as `CREATE INDEX CONCURRENTLY` waits for
//! older snapshots), the same reschedule runs again: it sees those claims, and the new rules.
//! Recomputing is idempotent: a lead whose deadlines already follow the rules is not touched.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Context;
use super::deadline;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::store;

/// Whose owned leads a change rescheduled.
#[derive(Debug, Clone, Copy)]
pub enum Rescheduled {
    Pool(Uuid),
    /// Every pool counting in the calendar.
    Calendar(Uuid),
}

/// The longest wait for the transactions older than the change (a claim takes milliseconds;
/// the sessions' `statement_timeout` ends any in 10 s).
const OLDER_TRANSACTIONS_WAIT: Duration = Duration::from_secs(5);

/// Runs the second pass in a task of its own and waits for it while the caller's deadline
/// allows: the change has committed, so the call must answer in time whatever the pass does;
/// a pass the call stops waiting for finishes by itself.
pub async fn again_after_commit(
    ctx: &Context,
    actor: &Actor,
    scope: Rescheduled,
    request_id: Option<Uuid>,
) {
    let (ctx, actor) = (ctx.clone(), actor.clone());
    let pass = tokio::spawn(async move {
        if let Err(err) = second_pass(&ctx, &actor, scope, request_id).await {
            tracing::warn!(?scope, error = %err, "the second reschedule pass failed");
        }
    });
    let patience = match deadline::remaining() {
        Some(left) => left.saturating_sub(deadline::COMMIT_RESERVE),
        None => OLDER_TRANSACTIONS_WAIT * 2,
    };
    let _ = tokio::time::timeout(patience, pass).await;
}

async fn second_pass(
    ctx: &Context,
    actor: &Actor,
    scope: Rescheduled,
    request_id: Option<Uuid>,
) -> Result<i64> {
    let mut conn = ctx.acquire().await?;
    let committed = store::activity::server_clock(&mut *conn).await?;
    wait_for_transactions_begun_before(&mut conn, committed).await?;
    drop(conn);
    let mut tx = ctx.begin().await?;
    let pools = match scope {
        Rescheduled::Pool(pool_id) => vec![pool_id],
        Rescheduled::Calendar(calendar_id) => {
            store::pools::naming_calendar(&mut *tx, &actor.tenant_id, calendar_id).await?
        }
    };
    let now = ctx.clock.now();
    let mut changed = 0;
    for pool_id in pools {
        changed += store::pools::reschedule(&mut *tx, actor, pool_id, request_id, now).await?;
    }
    tx.commit().await.map_err(store::db_error)?;
    Ok(changed)
}

async fn wait_for_transactions_begun_before(
    conn: &mut sqlx::PgConnection,
    since: DateTime<Utc>,
) -> Result<()> {
    let give_up = tokio::time::Instant::now() + OLDER_TRANSACTIONS_WAIT;
    while store::activity::transactions_begun_before(&mut *conn, since).await? > 0
        && tokio::time::Instant::now() < give_up
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}
