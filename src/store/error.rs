//! The one place where database failures become domain errors: constraint names map to the
//! reason a caller can act on, lost connections to `DATABASE_UNAVAILABLE`.

use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;

use crate::domain::DomainError;

/// Unique constraints whose violation is the caller's doing, by the reason they mean.
fn unique_violation(constraint: &str) -> Option<DomainError> {
    match constraint {
        "pools_tenant_name_key" => Some(DomainError::PoolNameTaken),
        "calendars_tenant_name_key" => Some(DomainError::CalendarNameTaken),
        // Which lead holds the value is looked up by `api::collision`, after rolling back:
        // the violation aborted the transaction this statement ran in.
        "leads_tenant_external_ref_key" => Some(DomainError::ExternalRefTaken {
            existing_lead_id: None,
        }),
        "leads_live_phone_key" | "leads_live_email_key" => Some(DomainError::DuplicateLead {
            existing_lead_id: None,
        }),
        _ => None,
    }
}

/// PostgreSQL's refusal of a cached statement whose result a schema change altered ("cached
/// plan must not change result type", in the server's language): known by the routine that
/// raises it, since `feature_not_supported` has other causes.
fn is_stale_plan(db: &dyn DatabaseError) -> bool {
    let pg = db.try_downcast_ref::<PgDatabaseError>();
    pg.and_then(PgDatabaseError::routine) == Some("RevalidateCachedQuery")
}

pub fn db_error(err: sqlx::Error) -> DomainError {
    match &err {
        sqlx::Error::Database(db) => {
            if let Some(mapped) = db.constraint().and_then(unique_violation) {
                return mapped;
            }
            // PostgreSQL checks a new row's CHECK constraints before it finds that the row was
            // changed by a transaction that committed while the statement waited for a lead's
            // lock (it would then recompute from the new row). A held count lowered from the
            // value read at the start (0, where the row now holds more) so fails `held_count >=
            // 0` in a race that changed nothing: the caller re-reads and retries.
            if db.constraint() == Some("members_held_count_check") {
                return DomainError::ConcurrentModification;
            }
            match db.code().as_deref() {
                // serialization_failure, deadlock_detected
                Some("40001" | "40P01") => DomainError::ConcurrentModification,
                // query_canceled: our statement_timeout or the caller's deadline
                Some("57014") => DomainError::DeadlineExceeded,
                // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
                Some("57P01" | "57P02" | "57P03" | "53300") => DomainError::DatabaseUnavailable,
                // feature_not_supported, for a cached statement whose table a migration changed
                // (a rolling update): nothing ran, and a retry gets a fresh connection.
                Some("0A000") if is_stale_plan(db.as_ref()) => {
                    super::stale_plans::seen();
                    DomainError::DatabaseUnavailable
                }
                _ => internal(err),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => {
            tracing::warn!(error = %err, "database unavailable");
            DomainError::DatabaseUnavailable
        }
        _ => internal(err),
    }
}

/// Not the caller's doing: the cause goes with the error, to be logged where it becomes a status.
fn internal(err: sqlx::Error) -> DomainError {
    DomainError::internal_from(err)
}
