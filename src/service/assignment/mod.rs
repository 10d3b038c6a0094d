//! Assign (分配), transfer (转移), distribute (自动分配) and offboard (离职交接): the use cases
//! that move leads between the pool and members. Each locks what it decides from (distribution
//! state, then member rows, then leads, the order every mover takes them in), decides with
//! `domain::assignment` / `domain::distribution`, and applies every move of the batch with one
//! statement (`store::assignment::moves::apply`) that keeps held counts and events in step.

pub mod assign;
pub mod distribute;
pub mod offboard;
pub mod transfer;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::Result;
use crate::domain::acceptance::Acceptance;
use crate::domain::access::Actor;
use crate::domain::assignment;
use crate::domain::event::EventKind;
use crate::domain::lead::AcquiredVia;
use crate::store::assignment::moves::Changes;
use crate::store::assignment::transfer::standings;

pub use assign::{Assign, assign};
pub use distribute::{Distribute, auto_distribute, distribute, preview_distribution};
pub use offboard::{Offboard, OffboardReport, offboard};
pub use transfer::{Transfer, Transferred, transfer};

/// Checks `user_id` has room for `incoming` more leads in each pool, their member rows locked
/// (in pool order) so the room checked is the room the moves find.
async fn require_room(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    incoming: BTreeMap<Uuid, i32>,
) -> Result<()> {
    let pools: Vec<Uuid> = incoming.keys().copied().collect();
    let mut room = standings(conn, tenant_id, user_id, &pools).await?;
    for (pool_id, count) in incoming {
        assignment::check_recipient(pool_id, user_id, room.remove(&pool_id), count)?;
    }
    Ok(())
}

/// What a manager's handover (an assignment or a transfer) records with its events.
fn handover<'a>(
    actor: &'a Actor,
    kind: EventKind,
    acquired_via: AcquiredVia,
    note: Option<&'a str>,
    request_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Changes<'a> {
    Changes {
        tenant_id: &actor.tenant_id,
        actor: &actor.user_id,
        kind,
        acquired_via,
        reason: None,
        note,
        move_locked: false,
        acceptance: Acceptance::NotAsked,
        request_id,
        now,
    }
}
