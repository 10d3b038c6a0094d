//! Importing leads in bulk: every row is checked and written on its own terms, so one bad row
//! costs only itself.

use std::pin::pin;

use futures_util::{Stream, StreamExt};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::require_lead_creator;
use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::committed::Committed;
use crate::domain::import::{self, MAX_BATCH_ROWS, RowCheck, RowOutcome};
use crate::domain::lead::LeadFields;
use crate::service::idempotency::{self, Run};
use crate::service::{Context, deadline};
use crate::store;
use crate::store::leads::import::{Batch, ImportRow};

/// The first problems of a streamed import are reported; the rest only counted.
const MAX_REPORTED_PROBLEMS: usize = 1_000;

/// What applies to every row of an import: the pool the rows go to, and whether a row whose
/// phone or e-mail a live lead has is kept (as a duplicate of it).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ImportTarget {
    pub pool_id: Uuid,
    pub allow_duplicates: bool,
}

/// A streamed import: its target, and the caller's `request_id` for the whole stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamImport {
    pub target: ImportTarget,
    pub request_id: Option<Uuid>,
}

/// One chunk of a streamed import, as the idempotency record knows it.
#[derive(Serialize)]
struct Chunk<'a> {
    target: ImportTarget,
    index: usize,
    rows: &'a [LeadFields],
}

/// One batch of rows, as sent, to import at once.
#[derive(Debug, Clone, Serialize)]
pub struct Import {
    pub target: ImportTarget,
    pub rows: Vec<LeadFields>,
    pub request_id: Option<Uuid>,
}

/// The tally of a streamed import: how many rows did what, and the first rows that were not
/// created, by their index in the stream.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub created: i64,
    pub duplicates: i64,
    pub invalid: i64,
    pub problems: Vec<(usize, RowOutcome)>,
    pub problems_truncated: bool,
    /// The chunks an earlier call with the stream's `request_id` committed: not written again,
    /// their rows counted as that call found them.
    pub replayed_chunks: Vec<usize>,
}

impl ImportSummary {
    /// Counts one row and keeps it if it is among the first problems.
    fn tally(&mut self, index: usize, outcome: RowOutcome) {
        match &outcome {
            RowOutcome::Created(_) => {
                self.created += 1;
                return;
            }
            RowOutcome::Duplicate(_) => self.duplicates += 1,
            RowOutcome::Invalid { .. } => self.invalid += 1,
        }
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push((index, outcome));
        } else {
            self.problems_truncated = true;
        }
    }
}

/// Imports one batch of rows into a pool the actor may create leads in, in one transaction;
/// the outcome of every row, in order: created, a duplicate (of the lead named), or invalid.
pub async fn import(ctx: &Context, actor: &Actor, command: Import) -> Result<Vec<RowOutcome>> {
    let Import {
        target,
        ref rows,
        request_id,
    } = command;
    let key = ("lead.import", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        require_lead_creator(conn, actor, target.pool_id).await?;
        write(ctx, conn, actor, target, request_id, rows).await
    })
    .await
}

/// Imports the chunks of rows of `chunks`, to its end, into a pool the actor may create leads
/// in; each chunk is committed on its own, at most once per `(request_id, chunk index)`, so a
/// stream retried from the start after a cut skips what was committed. Only the tally is
/// returned; a deadline that passes after a chunk committed is answered with how many did
/// ([`deadline::committed`]).
pub async fn import_stream<E: From<DomainError>>(
    ctx: &Context,
    actor: &Actor,
    import: StreamImport,
    chunks: impl Stream<Item = Result<Vec<LeadFields>, E>>,
) -> Result<ImportSummary, E> {
    require_lead_creator(&mut *ctx.acquire().await?, actor, import.target.pool_id).await?;
    let mut summary = ImportSummary::default();
    let mut offset = 0;
    // One chunk in memory at a time: the next is asked for only after this one is written, so
    // a fast sender is held back (over gRPC, by HTTP/2 flow control).
    let mut chunks = pin!(chunks);
    let mut index = 0;
    while let Some(rows) = chunks.next().await.transpose()? {
        let chunk = Chunk {
            target: import.target,
            index,
            rows: &rows,
        };
        let (outcomes, run) = import_chunk(ctx, actor, import.request_id, chunk).await?;
        deadline::committed(Committed::ImportedMessages {
            messages: index + 1,
        });
        if run == Run::Replayed {
            summary.replayed_chunks.push(index);
        }
        for (row, outcome) in outcomes.into_iter().enumerate() {
            summary.tally(offset + row, outcome);
        }
        offset += rows.len();
        index += 1;
    }
    Ok(summary)
}

/// Writes one chunk of a stream in one transaction, at most once per the key derived from the
/// stream's `request_id` and the chunk's index.
async fn import_chunk(
    ctx: &Context,
    actor: &Actor,
    stream_request_id: Option<Uuid>,
    chunk: Chunk<'_>,
) -> Result<(Vec<RowOutcome>, Run)> {
    let index = u64::try_from(chunk.index).unwrap_or(u64::MAX);
    let request_id = stream_request_id.map(|id| Uuid::new_v5(&id, &index.to_be_bytes()));
    let key = ("lead.import_stream", request_id);
    idempotency::once_telling(ctx, actor, key, &chunk, async |conn| {
        let mut outcomes = Vec::with_capacity(chunk.rows.len());
        for rows in chunk.rows.chunks(MAX_BATCH_ROWS) {
            outcomes.extend(write(ctx, conn, actor, chunk.target, request_id, rows).await?);
        }
        Ok(outcomes)
    })
    .await
}

/// Checks and writes one batch of rows; the outcome of every row, in order.
async fn write(
    ctx: &Context,
    conn: &mut PgConnection,
    actor: &Actor,
    target: ImportTarget,
    request_id: Option<Uuid>,
    rows: &[LeadFields],
) -> Result<Vec<RowOutcome>> {
    let checks = import::check_rows(rows);
    let ids: Vec<Uuid> = checks.iter().map(|_| Uuid::now_v7()).collect();
    let rows: Vec<ImportRow<'_>> = checks
        .iter()
        .zip(&ids)
        .filter_map(|(check, id)| match check {
            RowCheck::Valid { lead, repeats } => Some(ImportRow {
                id: *id,
                lead: lead.as_ref(),
                repeats: repeats.map(|earlier| ids[earlier]),
            }),
            RowCheck::Invalid { .. } => None,
        })
        .collect();
    let batch = Batch {
        pool_id: target.pool_id,
        allow_duplicates: target.allow_duplicates,
        request_id,
        now: ctx.clock.now(),
    };
    let written = store::leads::import::import(&mut *conn, actor, batch, &rows).await?;
    Ok(import::outcomes(checks, &written))
}
