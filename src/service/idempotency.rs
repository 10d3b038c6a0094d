//! `request_id` on mutating calls (AIP-155): the first completed response is stored with the
//! change, in its transaction, and replayed to retries; the same id with another request is
//! `REQUEST_ID_REUSED`. Calls without a `request_id` run once, as sent. Either way, once the
//! change is committed, event followers are woken.
//!
//! A use case's command (its validated input) is what identifies the request: its JSON is
//! hashed. Its result is what is stored, as JSON, and replayed.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Context;
use super::retry::with_retries;
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::store::db_error;
use crate::store::idempotency::{self, Claimed, Key};

/// Whether a call ran its work, or answered with the stored response of an earlier call with
/// its `request_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    Fresh,
    Replayed,
}

/// How the statements of a call without a `request_id` and without a deadline run (with either,
/// they share the call's transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Statements {
    /// Each commits as it runs: one round trip for a one-statement change.
    AsSent,
    /// In one transaction, so that a mutation that fails leaves nothing of its statements.
    Together,
}

/// Runs `mutation` on one connection, at most once per `(tenant, actor, method, request_id)`:
/// `method` names the use case, `"<resource>.<use_case>"` (e.g. `"lead.claim"`).
pub async fn once<Out>(
    ctx: &Context,
    actor: &Actor,
    key: (&str, Option<Uuid>),
    command: &impl Serialize,
    mutation: impl AsyncFnOnce(&mut PgConnection) -> Result<Out> + Clone,
) -> Result<Out>
where
    Out: Serialize + DeserializeOwned,
{
    let run = run(ctx, actor, key, command, Statements::AsSent, mutation);
    Ok(run.await?.0)
}

/// [`once`], with `mutation`'s statements always in one transaction (committed only while the
/// call's deadline allows): a mutation that fails leaves nothing of its statements.
pub async fn once_atomic<Out>(
    ctx: &Context,
    actor: &Actor,
    key: (&str, Option<Uuid>),
    command: &impl Serialize,
    mutation: impl AsyncFnOnce(&mut PgConnection) -> Result<Out> + Clone,
) -> Result<Out>
where
    Out: Serialize + DeserializeOwned,
{
    let run = run(ctx, actor, key, command, Statements::Together, mutation);
    Ok(run.await?.0)
}

/// [`once`], telling whether the response was replayed (a streamed import reports the chunks
/// an earlier, cut-off call committed).
pub async fn once_telling<Out>(
    ctx: &Context,
    actor: &Actor,
    key: (&str, Option<Uuid>),
    command: &impl Serialize,
    mutation: impl AsyncFnOnce(&mut PgConnection) -> Result<Out> + Clone,
) -> Result<(Out, Run)>
where
    Out: Serialize + DeserializeOwned,
{
    run(ctx, actor, key, command, Statements::AsSent, mutation).await
}

/// Runs the call, and runs it again after a conflict with a concurrent change
/// ([`with_retries`]).
async fn run<Out>(
    ctx: &Context,
    actor: &Actor,
    (method, request_id): (&str, Option<Uuid>),
    command: &impl Serialize,
    statements: Statements,
    mutation: impl AsyncFnOnce(&mut PgConnection) -> Result<Out> + Clone,
) -> Result<(Out, Run)>
where
    Out: Serialize + DeserializeOwned,
{
    let keyed = request_id
        .map(|id| key(actor, method, id, command))
        .transpose()?;
    let keyed = &keyed;
    with_retries(&ctx.metrics.conflict_retries, || {
        let mutation = mutation.clone();
        async move {
            match keyed {
                Some((key, hash)) => once_keyed(ctx, *key, hash, mutation).await,
                None => once_as_sent(ctx, statements, mutation)
                    .await
                    .map(|response| (response, Run::Fresh)),
            }
        }
    })
    .await
}

/// One run of a call with a `request_id`: the key is claimed in the change's transaction.
async fn once_keyed<Out>(
    ctx: &Context,
    key: Key<'_>,
    hash: &[u8],
    mutation: impl AsyncFnOnce(&mut PgConnection) -> Result<Out>,
) -> Result<(Out, Run)>
where
    Out: Serialize + DeserializeOwned,
{
    let mut tx = ctx.begin().await?;
    let claimed = idempotency::claim(&mut tx, key, hash, ctx.clock.now()).await?;
    if let Some(response) = replay(claimed)? {
        return Ok((response, Run::Replayed));
    }
    // On an error the transaction rolls back with the key: a retry runs again.
    let response = mutation(&mut tx).await?;
    idempotency::complete(&mut tx, key, &encode(&response)?).await?;
    ctx.commit(tx).await?;
    ctx.wakeups.written();
    Ok((response, Run::Fresh))
}

/// One run of a call without a `request_id`. With a deadline, its statements run in a
/// transaction that is not committed once the deadline has passed, so a call that timed out
/// changed nothing; without one, as `statements` says.
async fn once_as_sent<Out>(
    ctx: &Context,
    statements: Statements,
    mutation: impl AsyncFnOnce(&mut PgConnection) -> Result<Out>,
) -> Result<Out> {
    let response = match statements {
        Statements::Together => ctx.transaction(mutation).await?,
        Statements::AsSent => ctx.as_sent(mutation).await?,
    };
    ctx.wakeups.written();
    Ok(response)
}

/// The key of one call, and the hash that tells its request from another under the same key.
fn key<'a>(
    actor: &'a Actor,
    method: &'a str,
    request_id: Uuid,
    command: &impl Serialize,
) -> Result<(Key<'a>, Vec<u8>)> {
    let key = Key {
        tenant_id: &actor.tenant_id,
        actor: &actor.user_id,
        method,
        request_id,
    };
    // Commands hold ordered maps only, so equal commands encode to equal bytes.
    Ok((key, Sha256::digest(encode(command)?).to_vec()))
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(DomainError::internal_from)
}

/// Like [`once`], for work that commits in batches of its own (a recycle sweep), so its response
/// cannot be stored in the change's transaction: a stored response is replayed; otherwise the
/// work runs and its response is stored afterwards, unless a concurrent call with the same key
/// stored one first, which is then returned. Work cut off midway runs again on retry, so it must
/// be safe to repeat; a sweep is, it acts only on what is still due.
pub async fn once_after<Out>(
    ctx: &Context,
    actor: &Actor,
    (method, request_id): (&str, Option<Uuid>),
    command: &impl Serialize,
    work: impl AsyncFnOnce() -> Result<Out>,
) -> Result<Out>
where
    Out: Serialize + DeserializeOwned,
{
    let Some(request_id) = request_id else {
        return work().await;
    };
    let (key, hash) = key(actor, method, request_id, command)?;
    // Only a look: the key is not held while the work runs, which would keep a transaction open.
    let mut look = ctx.begin().await?;
    let claimed = idempotency::claim(&mut look, key, &hash, ctx.clock.now()).await?;
    if let Some(response) = replay(claimed)? {
        return Ok(response);
    }
    look.rollback().await.map_err(db_error)?;
    let response = work().await?;
    let mut tx = ctx.begin().await?;
    let claimed = idempotency::claim(&mut tx, key, &hash, ctx.clock.now()).await?;
    if let Some(first) = replay(claimed)? {
        return Ok(first);
    }
    idempotency::complete(&mut tx, key, &encode(&response)?).await?;
    ctx.commit(tx).await?;
    Ok(response)
}

/// The response stored under a claimed key, if any; `REQUEST_ID_REUSED` when the key holds
/// another request.
fn replay<Out: DeserializeOwned>(claimed: Claimed) -> Result<Option<Out>> {
    match claimed {
        Claimed::Fresh => Ok(None),
        Claimed::Replay(response) => serde_json::from_slice(&response)
            .map(Some)
            .map_err(DomainError::internal_from),
        Claimed::Mismatch => Err(DomainError::RequestIdReused),
    }
}
