//! TRANSITIONAL: the proto-response idempotency of the old handlers; handlers move to
//! `service::idempotency` one service at a time, and this file goes with the last.

//! `request_id` on mutating calls (AIP-155): the first completed response is stored with the
//! change, in its transaction, and replayed to retries; the same id with another request is
//! `REQUEST_ID_REUSED`. Calls without a `request_id` run once, as sent. Either way, once the
//! change is committed, event followers are woken.

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::service::Context;
use crate::store::db_error;
use crate::store::idempotency::{self, Claimed, Key};

/// Runs `mutation` on one connection, at most once per `(tenant, actor, method, request_id)`.
pub async fn once<Req, Resp>(
    ctx: &Context,
    actor: &Actor,
    method: &str,
    request_id: Option<Uuid>,
    request: &Req,
    mutation: impl AsyncFnOnce(&mut PgConnection) -> Result<Resp, DomainError>,
) -> Result<Resp, DomainError>
where
    Req: Message,
    Resp: Message + Default,
{
    let Some(request_id) = request_id else {
        let mut conn = ctx.db.acquire().await.map_err(db_error)?;
        let response = mutation(&mut conn).await?;
        ctx.wakeups.written();
        return Ok(response);
    };
    let (key, hash) = key(actor, method, request_id, request);
    let mut tx = ctx.db.begin().await.map_err(db_error)?;
    let claimed = idempotency::claim(&mut tx, key, &hash, ctx.clock.now()).await?;
    if let Some(response) = replay(claimed)? {
        return Ok(response);
    }
    // On an error the transaction rolls back with the key: a retry runs again.
    let response = mutation(&mut tx).await?;
    idempotency::complete(&mut tx, key, &response.encode_to_vec()).await?;
    tx.commit().await.map_err(db_error)?;
    ctx.wakeups.written();
    Ok(response)
}

/// The key of one call, and the hash that tells its request from another under the same key.
fn key<'a>(
    actor: &'a Actor,
    method: &'a str,
    request_id: Uuid,
    request: &impl Message,
) -> (Key<'a>, Vec<u8>) {
    let key = Key {
        tenant_id: &actor.tenant_id,
        actor: &actor.user_id,
        method,
        request_id,
    };
    // Map fields are ordered (build.rs), so equal requests encode to equal bytes.
    (key, Sha256::digest(request.encode_to_vec()).to_vec())
}

/// The response stored under a claimed key, if any; `REQUEST_ID_REUSED` when the key holds
/// another request.
fn replay<Resp: Message + Default>(claimed: Claimed) -> Result<Option<Resp>, DomainError> {
    match claimed {
        Claimed::Fresh => Ok(None),
        Claimed::Replay(response) => Resp::decode(response.as_slice())
            .map(Some)
            .map_err(DomainError::internal_from),
        Claimed::Mismatch => Err(DomainError::RequestIdReused),
    }
}
