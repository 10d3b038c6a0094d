//! Follow-ups (跟进): the owner's logged interactions with a lead.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{notes_readable, readable};
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::follow_up::{self, Channel, FollowUp};
use crate::domain::lead::LeadView;
use crate::service::Context;
use crate::service::idempotency;
use crate::store;

/// An interaction with a lead; `occurred_at` unset means now.
#[derive(Debug, Clone, Serialize)]
pub struct RecordFollowUp {
    pub lead_id: Uuid,
    pub channel: Channel,
    pub note: String,
    pub occurred_at: Option<DateTime<Utc>>,
    pub request_id: Option<Uuid>,
}

/// The recorded follow-up and the lead with its new follow-up deadline.
#[derive(Debug, Serialize, Deserialize)]
pub struct FollowUpRecorded {
    pub follow_up: FollowUp,
    pub lead: LeadView,
}

/// Records a follow-up on a lead the actor owns, which moves its follow-up deadline.
pub async fn record_follow_up(
    ctx: &Context,
    actor: &Actor,
    command: RecordFollowUp,
) -> Result<FollowUpRecorded> {
    let now = ctx.clock.now();
    let RecordFollowUp {
        lead_id,
        channel,
        ref note,
        occurred_at,
        request_id,
    } = command;
    let key = ("lead.record_follow_up", command.request_id);
    idempotency::once(ctx, actor, key, &command, async |conn| {
        let follow_up = FollowUp {
            id: Uuid::now_v7(),
            lead_id,
            author: actor.user_id.clone(),
            channel,
            note: note.clone(),
            occurred_at: occurred_at.unwrap_or(now),
            recorded_at: now,
        };
        let recorded =
            store::leads::follow_ups::record(&mut *conn, actor, &follow_up, request_id).await?;
        let Some(lead) = recorded else {
            let current = readable(&mut *conn, actor, lead_id).await?;
            return Err(follow_up::explain_follow_up_refusal(
                &current.lead,
                &actor.user_id,
            ));
        };
        Ok(FollowUpRecorded { follow_up, lead })
    })
    .await
}

/// The follow-ups of a lead whose notes the actor may read, in the order they occurred, after `after`
/// (the last one of the previous page), at most `limit`.
pub async fn follow_ups(
    ctx: &Context,
    actor: &Actor,
    lead_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<FollowUp>> {
    let mut conn = ctx.acquire().await?;
    notes_readable(&mut *conn, actor, lead_id).await?;
    store::leads::follow_ups::list(&mut *conn, &actor.tenant_id, lead_id, after, limit).await
}
