//! Imports: rows as sent, and what became of them.

use super::lead::fields;
use crate::domain::DomainError;
use crate::domain::error::FieldViolation;
use crate::domain::import::{MAX_BATCH_ROWS, RowOutcome};
use crate::domain::lead::LeadFields;
use crate::domain::validate::Validator;
use crate::proto;
use crate::service::leads::{Import, ImportSummary, ImportTarget, StreamImport};

pub fn parse_import(req: proto::ImportLeadsRequest) -> Result<Import, DomainError> {
    let mut v = Validator::new();
    let pool_id = v.uuid("pool_id", &req.pool_id);
    if req.leads.is_empty() || req.leads.len() > MAX_BATCH_ROWS {
        v.violation(
            "leads",
            format!(
                "must have 1 to {MAX_BATCH_ROWS} rows, got {}",
                req.leads.len()
            ),
        );
    }
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(Import {
        target: ImportTarget {
            pool_id,
            allow_duplicates: req.allow_duplicates,
        },
        rows: rows(req.leads),
        request_id,
    })
}

/// A streamed import, from its first message (`None`: the stream was empty).
pub fn parse_stream_import(
    first: Option<&proto::ImportLeadsStreamRequest>,
) -> Result<StreamImport, DomainError> {
    let Some(first) = first else {
        return Err(DomainError::ValidationFailed(vec![FieldViolation::new(
            "pool_id",
            "the stream was empty: send pool_id and rows",
        )]));
    };
    let mut v = Validator::new();
    let pool_id = v.uuid("pool_id", &first.pool_id);
    let request_id = v.optional_uuid("request_id", &first.request_id);
    v.finish(StreamImport {
        target: ImportTarget {
            pool_id,
            allow_duplicates: first.allow_duplicates,
        },
        request_id,
    })
}

/// The rows of message `index` (0-based) of a streamed import: at most [`MAX_BATCH_ROWS`], as
/// `ImportLeads` takes. The messages before it are committed, so the refusal says where to
/// resume (the same `request_id` skips them).
pub fn chunk_rows(
    index: usize,
    message: proto::ImportLeadsStreamRequest,
) -> Result<Vec<LeadFields>, DomainError> {
    let rows = message.leads.len();
    if rows > MAX_BATCH_ROWS {
        return Err(DomainError::ValidationFailed(vec![FieldViolation::new(
            "leads",
            format!(
                "must have at most {MAX_BATCH_ROWS} rows a message, got {rows} in message \
                 {index} (0-based); the messages before it were imported: send the stream \
                 again with that message split and the same request_id, which skips them"
            ),
        )]));
    }
    Ok(self::rows(message.leads))
}

pub fn rows(leads: Vec<proto::NewLead>) -> Vec<LeadFields> {
    leads.into_iter().map(fields).collect()
}

fn row_result(index: usize, outcome: RowOutcome) -> proto::ImportRowResult {
    let index = i32::try_from(index).unwrap_or(i32::MAX);
    let (outcome, lead_id, field, message) = match outcome {
        RowOutcome::Created(id) => (
            proto::ImportOutcome::Created,
            Some(id),
            String::new(),
            String::new(),
        ),
        RowOutcome::Duplicate(id) => (
            proto::ImportOutcome::Duplicate,
            id,
            String::new(),
            "a live lead has this phone or e-mail".to_owned(),
        ),
        RowOutcome::Invalid { field, message } => {
            (proto::ImportOutcome::Invalid, None, field, message)
        }
    };
    proto::ImportRowResult {
        index,
        outcome: outcome.into(),
        lead_id: lead_id.map(|id| id.to_string()).unwrap_or_default(),
        field,
        message,
    }
}

pub fn import_response(outcomes: Vec<RowOutcome>) -> proto::ImportLeadsResponse {
    let count = |f: fn(&RowOutcome) -> bool| {
        i32::try_from(outcomes.iter().filter(|o| f(o)).count()).unwrap_or(i32::MAX)
    };
    proto::ImportLeadsResponse {
        created: count(|o| matches!(o, RowOutcome::Created(_))),
        duplicates: count(|o| matches!(o, RowOutcome::Duplicate(_))),
        invalid: count(|o| matches!(o, RowOutcome::Invalid { .. })),
        results: outcomes
            .into_iter()
            .enumerate()
            .map(|(index, outcome)| row_result(index, outcome))
            .collect(),
    }
}

pub fn import_stream_response(summary: ImportSummary) -> proto::ImportLeadsStreamResponse {
    proto::ImportLeadsStreamResponse {
        created: summary.created,
        duplicates: summary.duplicates,
        invalid: summary.invalid,
        problems: summary
            .problems
            .into_iter()
            .map(|(index, outcome)| row_result(index, outcome))
            .collect(),
        problems_truncated: summary.problems_truncated,
        replayed_chunks: summary
            .replayed_chunks
            .into_iter()
            .map(|index| i32::try_from(index).unwrap_or(i32::MAX))
            .collect(),
    }
}
