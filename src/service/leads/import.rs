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
use crate::domain::import::{self, MAX_BATCH_ROWS, RowCheck, RowOutcome};
use crate::domain::lead::LeadFields;
use crate::service::Context;
use crate::service::idempotency;
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
/// in; each batch is committed on its own. Only the tally is returned.
pub async fn import_stream<E: From<DomainError>>(
    ctx: &Context,
    actor: &Actor,
    target: ImportTarget,
    chunks: impl Stream<Item = Result<Vec<LeadFields>, E>>,
) -> Result<ImportSummary, E> {
    let mut conn = ctx.acquire().await?;
    require_lead_creator(&mut conn, actor, target.pool_id).await?;
    let mut summary = ImportSummary::default();
    let mut offset = 0;
    // One chunk in memory at a time: the next is asked for only after this one is written, so
    // a fast sender is held back (over gRPC, by HTTP/2 flow control).
    let mut chunks = pin!(chunks);
    while let Some(chunk) = chunks.next().await.transpose()? {
        for rows in chunk.chunks(MAX_BATCH_ROWS) {
            let outcomes = write(ctx, &mut conn, actor, target, None, rows).await?;
            ctx.wakeups.written();
            for (index, outcome) in outcomes.into_iter().enumerate() {
                summary.tally(offset + index, outcome);
            }
            offset += rows.len();
        }
    }
    Ok(summary)
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
