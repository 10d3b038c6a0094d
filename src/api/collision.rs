//! Writes that may collide with another lead on a unique index (a live lead's phone or e-mail,
//! the tenant's `external_ref`). The collision aborts the statement and the transaction around
//! it, and inside an idempotent call that transaction is the whole call. So the write runs in a
//! savepoint, which is rolled back before the lead it collided with is looked up and named.

use sqlx::{Connection, PgConnection};

use crate::domain::DomainError;
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

/// Runs `write` in a savepoint; a collision comes back naming the lead it collided with.
pub async fn naming_collisions<T>(
    conn: &mut PgConnection,
    contact: Contact<'_>,
    write: impl AsyncFnOnce(&mut PgConnection) -> Result<T, DomainError>,
) -> Result<T, DomainError> {
    let mut savepoint = conn.begin().await.map_err(db_error)?;
    match write(&mut savepoint).await {
        Ok(done) => {
            savepoint.commit().await.map_err(db_error)?;
            Ok(done)
        }
        Err(DomainError::DuplicateLead { .. }) => {
            savepoint.rollback().await.map_err(db_error)?;
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
            savepoint.rollback().await.map_err(db_error)?;
            let existing_lead_id = match contact.external_ref {
                Some(external_ref) => {
                    store::leads::find_by_external_ref(&mut *conn, contact.tenant_id, external_ref)
                        .await?
                }
                None => None,
            };
            Err(DomainError::ExternalRefTaken { existing_lead_id })
        }
        // Dropping the savepoint rolls it back.
        Err(err) => Err(err),
    }
}
