//! Writes that may collide with another lead on a unique index (a live lead's phone or e-mail,
//! the tenant's `external_ref`). The collision aborts the statement and the transaction around
//! it, and inside an idempotent call that transaction is the whole call. So there the write runs
//! in a savepoint, which is rolled back before the lead it collided with is looked up and named.

use sqlx::postgres::PgTransactionManager;
use sqlx::{Connection, PgConnection, TransactionManager};

use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::lead::{Lead, NewLead};
use crate::store::{self, db_error};

/// What a write may collide on.
#[derive(Debug, Clone, Copy)]
pub struct Contact<'a> {
    pub tenant_id: &'a str,
    pub phone: &'a str,
    pub email: &'a str,
    pub external_ref: Option<&'a str>,
}

impl<'a> Contact<'a> {
    /// The contact a new or edited lead would have.
    pub fn of_new(tenant_id: &'a str, lead: &'a NewLead) -> Self {
        Self {
            tenant_id,
            phone: &lead.phone,
            email: &lead.email,
            external_ref: lead.external_ref.as_deref(),
        }
    }

    /// The contact a stored lead has.
    pub fn of(tenant_id: &'a str, lead: &'a Lead) -> Self {
        Self {
            tenant_id,
            phone: &lead.phone,
            email: &lead.email,
            external_ref: lead.external_ref.as_deref(),
        }
    }
}

/// Runs `write`; a collision comes back naming the lead it collided with. Inside a transaction
/// (an idempotent call) `write` runs in a savepoint, rolled back on failure so the lookup can
/// run; outside one its statement is its own transaction and needs no extra round trips.
pub async fn naming_collisions<T>(
    conn: &mut PgConnection,
    contact: Contact<'_>,
    write: impl AsyncFnOnce(&mut PgConnection) -> Result<T>,
) -> Result<T> {
    let written = if PgTransactionManager::get_transaction_depth(conn) > 0 {
        let mut savepoint = conn.begin().await.map_err(db_error)?;
        let written = write(&mut savepoint).await;
        match written {
            Ok(_) => savepoint.commit().await,
            Err(_) => savepoint.rollback().await,
        }
        .map_err(db_error)?;
        written
    } else {
        write(&mut *conn).await
    };
    match written {
        Err(DomainError::DuplicateLead { .. }) => {
            let existing_lead_id = store::leads::find_duplicate(
                &mut *conn,
                contact.tenant_id,
                contact.phone,
                contact.email,
            )
            .await?;
            Err(DomainError::DuplicateLead { existing_lead_id })
        }
        Err(DomainError::ExternalRefTaken { .. }) => {
            let existing_lead_id = match contact.external_ref {
                Some(external_ref) => {
                    store::leads::find_by_external_ref(&mut *conn, contact.tenant_id, external_ref)
                        .await?
                }
                None => None,
            };
            Err(DomainError::ExternalRefTaken { existing_lead_id })
        }
        other => other,
    }
}
