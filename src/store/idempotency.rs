//! Idempotency keys: claimed at the start of a mutation's transaction, completed with its
//! response before the commit. A concurrent retry waits on the key's row until the first call
//! commits (then replays it) or rolls back (then runs itself).

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::db_error;
use crate::domain::Result;

/// How long a response is kept for retries.
pub const RETENTION: Duration = Duration::hours(24);

/// One call's identity: who, which method, which request id.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub tenant_id: &'a str,
    pub actor: &'a str,
    pub method: &'a str,
    pub request_id: Uuid,
}

/// What a key says about the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// First time (or the old response expired): run the call.
    Fresh,
    /// Done before with the same request: return this response.
    Replay(Vec<u8>),
    /// Done before with a different request under the same id.
    Mismatch,
}

/// Claims the key inside the caller's transaction. The insert waits for a concurrent call with
/// the same key; the stored row is then read by a second statement, whose snapshot sees it.
pub async fn claim(
    conn: &mut PgConnection,
    key: Key<'_>,
    request_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Claimed> {
    let fresh = sqlx::query_scalar!(
        r#"INSERT INTO idempotency_keys (tenant_id, actor, method, request_id, request_hash,
                                         created_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id, actor, method, request_id) DO UPDATE
               SET request_hash = EXCLUDED.request_hash, response = NULL,
                   created_at = EXCLUDED.created_at
               WHERE idempotency_keys.created_at <= $7
           RETURNING true AS "fresh!""#,
        key.tenant_id,
        key.actor,
        key.method,
        key.request_id,
        request_hash,
        now,
        now - RETENTION,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    if fresh.is_some() {
        return Ok(Claimed::Fresh);
    }
    let stored = sqlx::query!(
        r#"SELECT request_hash, response FROM idempotency_keys
           WHERE tenant_id = $1 AND actor = $2 AND method = $3 AND request_id = $4"#,
        key.tenant_id,
        key.actor,
        key.method,
        key.request_id,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(match stored.response {
        Some(response) if stored.request_hash == request_hash => Claimed::Replay(response),
        _ => Claimed::Mismatch,
    })
}

/// Stores the response of a fresh call, in its transaction.
pub async fn complete(conn: &mut PgConnection, key: Key<'_>, response: &[u8]) -> Result<()> {
    sqlx::query!(
        r#"UPDATE idempotency_keys SET response = $5
           WHERE tenant_id = $1 AND actor = $2 AND method = $3 AND request_id = $4"#,
        key.tenant_id,
        key.actor,
        key.method,
        key.request_id,
        response,
    )
    .execute(&mut *conn)
    .await
    .map(drop)
    .map_err(db_error)
}

/// Forgets responses past their retention, a batch at a time.
pub async fn purge_expired(db: &sqlx::PgPool, now: DateTime<Utc>, batch: i64) -> Result<u64> {
    sqlx::query!(
        r#"DELETE FROM idempotency_keys
           WHERE ctid = ANY (ARRAY(SELECT ctid FROM idempotency_keys
                                   WHERE created_at <= $1 LIMIT $2))"#,
        now - RETENTION,
        batch,
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
    .map_err(db_error)
}
