//! Leads: creating, reading, editing, claiming, releasing, following up, closing and
//! importing them. One use case per function; the checks shared by several live here.

mod claim;
mod create;
mod edit;
mod follow_ups;
mod import;
mod lifecycle;
mod read;
mod release;

pub use claim::{Claim, ClaimMany, ClaimNext, ClaimResult, claim, claim_many, claim_next};
pub use create::{Create, create};
pub use edit::{Update, update};
pub use follow_ups::{FollowUpRecorded, RecordFollowUp, follow_ups, record_follow_up};
pub use import::{Import, ImportSummary, ImportTarget, StreamImport, import, import_stream};
pub use lifecycle::{
    Discard, Move, Transition, convert, discard, lock, move_to_pool, reopen, unlock,
};
pub use read::{get, history, list};
pub use release::{Release, release};

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::lead::{Lead, LeadView};
use crate::service::access;
use crate::store;

/// A lead the actor may read, or the reason they may not.
async fn readable(db: impl PgExecutor<'_>, actor: &Actor, lead_id: Uuid) -> Result<LeadView> {
    let view = store::leads::get(db, actor, lead_id).await?;
    actor.require_lead_reader(
        view.lead.pool_id,
        view.lead.owner_id.as_deref(),
        view.viewer,
    )?;
    Ok(view)
}

/// A lead whose follow-up notes and history the actor may read (see
/// [`Actor::require_notes_reader`]).
async fn notes_readable(db: impl PgExecutor<'_>, actor: &Actor, lead_id: Uuid) -> Result<()> {
    let access = store::leads::follow_ups::notes_access(db, actor, lead_id).await?;
    actor.require_notes_reader(&access)
}

/// The lead after a change: the changed lead, or, when the statement changed nothing, the
/// lead as it is if `explain` finds the wanted state already there (a retry).
async fn settle(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    lead_id: Uuid,
    changed: Option<LeadView>,
    explain: impl FnOnce(&Lead) -> Result<()>,
) -> Result<LeadView> {
    match changed {
        Some(view) => Ok(view),
        None => {
            let current = store::leads::get(db, actor, lead_id).await?;
            explain(&current.lead)?;
            Ok(current)
        }
    }
}

/// Checks that the actor may create leads in the pool and that it is not archived.
async fn require_lead_creator(conn: &mut PgConnection, actor: &Actor, pool_id: Uuid) -> Result<()> {
    let access = access::pool(&mut *conn, actor, pool_id).await?;
    actor.require_lead_creator(pool_id, access.membership)?;
    access::require_open(&access.pool)?;
    Ok(())
}
