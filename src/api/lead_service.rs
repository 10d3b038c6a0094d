//! `leadpool.v1.LeadService`: create, read, list, claim, release and history of leads.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Context, auth, convert, idempotency, page_token, status};
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::error::FieldViolation;
use crate::domain::follow_up::{self, Channel, FollowUp};
use crate::domain::import::{self, RowCheck, RowOutcome};
use crate::domain::lead::{self, Lead, LeadDraft, LeadState, NewLead, ReleaseReason};
use crate::domain::lifecycle as rules;
use crate::domain::listing::{LeadFilter, LeadOrder};
use crate::domain::masking;
use crate::domain::page::PageSize;
use crate::domain::validate::{
    MAX_CODE_CHARS, MAX_NAME_CHARS, MAX_NOTE_CHARS, MAX_TAG_CHARS, Validator,
};
use crate::proto;
use crate::proto::lead_service_server::LeadService;
use crate::service::collision::{self, Contact};
use crate::store;
use crate::store::db_error;
use crate::store::leads::edit::LeadEdit;
use crate::store::leads::import::{Batch, ImportRow};
use crate::store::leads::lifecycle::{self, Change};
use crate::store::leads::{CreateLead, LeadView, Release};

/// `owner_id` value that means the caller.
const OWNER_ME: &str = "me";

#[derive(Debug, Clone)]
pub struct LeadApi {
    ctx: Context,
}

impl LeadApi {
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// The lead after a lifecycle change: the changed lead, or, when the statement changed
    /// nothing, the lead as it is if `explain` finds the wanted state already there (a retry).
    async fn settle(
        db: impl sqlx::PgExecutor<'_>,
        actor: &Actor,
        lead_id: Uuid,
        changed: Option<LeadView>,
        explain: impl FnOnce(&Lead) -> Result<(), DomainError>,
    ) -> Result<LeadView, DomainError> {
        match changed {
            Some(view) => Ok(view),
            None => {
                let current = store::leads::get(db, actor, lead_id).await?;
                explain(&current.lead)?;
                Ok(current)
            }
        }
    }

    /// Locks or unlocks a lead of a pool the actor manages.
    async fn set_lock(
        &self,
        actor: Actor,
        request: &impl prost::Message,
        call: LockCall<'_>,
    ) -> Result<proto::Lead, DomainError> {
        let LockCall {
            method,
            lead_id,
            note,
            request_id,
            locked,
        } = call;
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", lead_id);
        let note = v.optional_text("note", note, MAX_NOTE_CHARS);
        let request_id = v.optional_uuid("request_id", request_id);
        v.finish(())?;
        idempotency::once(
            &self.ctx,
            &actor,
            method,
            request_id,
            request,
            async |conn| {
                let view = Self::readable_lead(&mut *conn, &actor, lead_id).await?;
                actor.require_manager(view.lead.pool_id, view.viewer)?;
                let change = change(lead_id, &note, request_id, self.ctx.clock.now());
                let changed = lifecycle::set_lock(&mut *conn, &actor, change, locked).await?;
                let view = Self::settle(&mut *conn, &actor, lead_id, changed, |lead| {
                    rules::explain_lock_refusal(lead, locked)
                })
                .await?;
                Ok(lead_message(&actor, view))
            },
        )
        .await
    }

    /// Creates the lead, or says which rule refused it: a duplicate (named), or the owner.
    async fn create(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        create: &CreateLead<'_>,
    ) -> Result<LeadView, DomainError> {
        let now = self.ctx.clock.now();
        let contact = Contact::of_new(&actor.tenant_id, create.lead);
        let created = collision::naming_collisions(conn, contact, async |conn| {
            store::leads::create(conn, actor, create, now).await
        })
        .await?;
        if let Some(view) = created {
            return Ok(view);
        }
        // Refused: a duplicate, or the owner cannot take it.
        let (phone, email) = (&create.lead.phone, &create.lead.email);
        let existing =
            store::leads::find_duplicate(&mut *conn, &actor.tenant_id, phone, email).await?;
        if existing.is_some() && !create.allow_duplicate {
            return Err(DomainError::DuplicateLead {
                existing_lead_id: existing,
            });
        }
        let owner = create.owner_id.ok_or(DomainError::ConcurrentModification)?;
        let standing =
            store::leads::standing(&mut *conn, &actor.tenant_id, create.pool_id, owner).await?;
        Err(lead::explain_owner_refusal(create.pool_id, owner, standing))
    }

    /// Checks and writes one batch of import rows; the outcome of every row, in order.
    async fn import_batch(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        settings: ImportSettings,
        leads: &[proto::NewLead],
    ) -> Result<Vec<RowOutcome>, DomainError> {
        let drafts: Vec<LeadDraft<'_>> = leads.iter().map(lead_draft).collect();
        let checks = import::check_rows(&drafts);
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
            pool_id: settings.pool_id,
            allow_duplicates: settings.allow_duplicates,
            request_id: settings.request_id,
            now: self.ctx.clock.now(),
        };
        let written = store::leads::import::import(&mut *conn, actor, batch, &rows).await?;
        Ok(import::outcomes(checks, &written))
    }

    /// The pool an import writes to, if the actor may create leads in it.
    async fn import_target(
        conn: &mut PgConnection,
        actor: &Actor,
        pool_id: Uuid,
    ) -> Result<(), DomainError> {
        let access =
            store::pools::access(&mut *conn, &actor.tenant_id, pool_id, &actor.user_id).await?;
        actor.require_lead_creator(pool_id, access.membership)?;
        if access.pool.archived_at.is_some() {
            return Err(DomainError::PoolArchived(pool_id));
        }
        Ok(())
    }

    /// A lead the actor may read, or the reason they may not.
    async fn readable_lead(
        db: impl sqlx::PgExecutor<'_>,
        actor: &Actor,
        lead_id: Uuid,
    ) -> Result<LeadView, DomainError> {
        let view = store::leads::get(db, actor, lead_id).await?;
        actor.require_lead_reader(
            view.lead.pool_id,
            view.lead.owner_id.as_deref(),
            view.viewer,
        )?;
        Ok(view)
    }
}

/// The lead as this actor may see it: contacts masked unless they own it, manage its pool,
/// or the pool does not mask.
/// What applies to every row of an import.
#[derive(Debug, Clone, Copy)]
struct ImportSettings {
    pool_id: Uuid,
    allow_duplicates: bool,
    request_id: Option<Uuid>,
}

/// The first problems of a streamed import are reported; the rest only counted.
const MAX_REPORTED_PROBLEMS: usize = 1_000;

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

/// The fields `LockLead` and `UnlockLead` share.
struct LockCall<'a> {
    method: &'static str,
    lead_id: &'a str,
    note: &'a str,
    request_id: &'a str,
    locked: bool,
}

fn change(lead_id: Uuid, note: &str, request_id: Option<Uuid>, now: DateTime<Utc>) -> Change<'_> {
    Change {
        lead_id,
        note: Some(note).filter(|n| !n.is_empty()),
        request_id,
        now,
    }
}

fn lead_response(actor: &Actor, view: LeadView) -> Option<proto::Lead> {
    Some(lead_message(actor, view))
}

pub(super) fn lead_message(actor: &Actor, view: LeadView) -> proto::Lead {
    let visible = masking::sees_contacts(
        actor,
        view.lead.owner_id.as_deref(),
        view.viewer,
        view.pool_masks_contacts,
    );
    let mut lead = view.lead;
    if !visible {
        lead.phone = masking::mask_phone(&lead.phone);
        lead.email = masking::mask_email(&lead.email);
    }
    proto::Lead {
        contact_masked: !visible,
        ..convert::lead(lead)
    }
}

/// A state filter; unspecified means any state, an unknown number is a violation.
fn state_filter(v: &mut Validator, state: i32) -> Option<LeadState> {
    match proto::LeadState::try_from(state) {
        Ok(proto::LeadState::Unspecified) => None,
        Ok(proto::LeadState::InPool) => Some(LeadState::InPool),
        Ok(proto::LeadState::Owned) => Some(LeadState::Owned),
        Ok(proto::LeadState::Converted) => Some(LeadState::Converted),
        Ok(proto::LeadState::Discarded) => Some(LeadState::Discarded),
        Err(_) => {
            v.violation("state", format!("unknown state {state}"));
            None
        }
    }
}

/// The result of each requested lead of a batch claim, in request order: the lead if the
/// actor owns it now (claimed by this call or before), else why it was refused.
async fn claim_outcomes(
    conn: &mut PgConnection,
    actor: &Actor,
    lead_ids: &[Uuid],
    claimed: Vec<LeadView>,
    now: DateTime<Utc>,
) -> Result<Vec<Result<LeadView, DomainError>>, DomainError> {
    let mut owned: HashMap<Uuid, LeadView> = claimed
        .into_iter()
        .map(|view| (view.lead.id, view))
        .collect();
    let unclaimed: Vec<Uuid> = lead_ids
        .iter()
        .filter(|id| !owned.contains_key(id))
        .copied()
        .collect();
    let mut refused = HashMap::new();
    let mut owned_before = Vec::new();
    if !unclaimed.is_empty() {
        for snapshot in store::leads::claim_snapshots(&mut *conn, actor, &unclaimed, now).await? {
            match lead::explain_claim_refusal(&snapshot, &actor.user_id, now) {
                Ok(()) => owned_before.push(snapshot.lead_id),
                Err(refusal) => {
                    refused.insert(snapshot.lead_id, refusal);
                }
            }
        }
    }
    if !owned_before.is_empty() {
        for view in store::leads::get_many(&mut *conn, actor, &owned_before).await? {
            owned.insert(view.lead.id, view);
        }
    }
    Ok(lead_ids
        .iter()
        .map(|id| match owned.remove(id) {
            Some(view) => Ok(view),
            None => Err(refused.remove(id).unwrap_or(DomainError::LeadNotFound(*id))),
        })
        .collect())
}

fn claim_leads_response(
    actor: &Actor,
    lead_ids: &[Uuid],
    outcomes: Vec<Result<LeadView, DomainError>>,
) -> proto::ClaimLeadsResponse {
    use proto::claim_leads_result::Outcome;
    let mut claimed_count = 0;
    let results = lead_ids
        .iter()
        .zip(outcomes)
        .map(|(id, outcome)| proto::ClaimLeadsResult {
            lead_id: id.to_string(),
            outcome: Some(match outcome {
                Ok(view) => {
                    claimed_count += 1;
                    Outcome::Lead(lead_message(actor, view))
                }
                Err(refusal) => Outcome::Refusal(status::refusal(refusal)),
            }),
        })
        .collect();
    proto::ClaimLeadsResponse {
        results,
        claimed_count,
    }
}

/// The filters of a `ListLeads` request; empty fields filter nothing.
fn list_filter(v: &mut Validator, req: &proto::ListLeadsRequest, actor: &Actor) -> LeadFilter {
    fn text(v: &mut Validator, field: &str, value: &str, max: usize) -> Option<String> {
        Some(v.optional_text(field, value, max)).filter(|t| !t.is_empty())
    }
    let owner_id = text(v, "owner_id", &req.owner_id, MAX_CODE_CHARS).map(|owner| {
        if owner == OWNER_ME {
            actor.user_id.clone()
        } else {
            owner
        }
    });
    let filter = LeadFilter {
        pool_id: v.optional_uuid("pool_id", &req.pool_id),
        owner_id,
        grade: text(v, "grade", &req.grade, MAX_CODE_CHARS),
        region: text(v, "region", &req.region, MAX_CODE_CHARS),
        industry: text(v, "industry", &req.industry, MAX_CODE_CHARS),
        tag: text(v, "tag", &req.tag, MAX_TAG_CHARS),
        query: text(v, "query", &req.query, MAX_NAME_CHARS),
        state: state_filter(v, req.state),
        deadline_before: convert::optional_time(v, "deadline_before", req.deadline_before.as_ref()),
        created_after: convert::optional_time(v, "created_after", req.created_after.as_ref()),
        created_before: convert::optional_time(v, "created_before", req.created_before.as_ref()),
    };
    if let Some((after, before)) = filter.created_after.zip(filter.created_before)
        && after >= before
    {
        v.violation("created_before", "must be later than created_after");
    }
    filter
}

/// The caller's lead fields of a message that carries them (`NewLead`, `Lead`), as a draft.
macro_rules! lead_draft {
    ($lead:expr) => {
        LeadDraft {
            external_ref: &$lead.external_ref,
            name: &$lead.name,
            company: &$lead.company,
            phone: &$lead.phone,
            email: &$lead.email,
            source: &$lead.source,
            region: &$lead.region,
            industry: &$lead.industry,
            grade: &$lead.grade,
            tags: &$lead.tags,
            attributes: Some(&$lead.attributes),
        }
    };
}

fn lead_draft(lead: &proto::NewLead) -> LeadDraft<'_> {
    lead_draft!(lead)
}

fn follow_up_channel(v: &mut Validator, channel: i32) -> Channel {
    match proto::FollowUpChannel::try_from(channel) {
        Ok(proto::FollowUpChannel::Call) => Channel::Call,
        Ok(proto::FollowUpChannel::Email) => Channel::Email,
        Ok(proto::FollowUpChannel::Visit) => Channel::Visit,
        Ok(proto::FollowUpChannel::Message) => Channel::Message,
        Ok(proto::FollowUpChannel::Other) => Channel::Other,
        _ => {
            v.violation(
                "channel",
                "is required: CALL, EMAIL, VISIT, MESSAGE or OTHER",
            );
            Channel::Other
        }
    }
}

/// A follow-up's time: now when unset, never in the future.
fn occurred_at(
    v: &mut Validator,
    at: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    match convert::optional_time(v, "occurred_at", at) {
        Some(at) if at > now => {
            v.violation("occurred_at", "must not be in the future");
            now
        }
        at => at.unwrap_or(now),
    }
}

/// A validated `UpdateLead` request.
struct LeadUpdate {
    lead_id: Uuid,
    version: i64,
    values: NewLead,
    mask: Vec<String>,
    request_id: Option<Uuid>,
}

/// An `UpdateLead` request, validated for the masked fields (and the lead's id and version).
fn parse_lead_update(req: &proto::UpdateLeadRequest) -> Result<LeadUpdate, DomainError> {
    let mut v = Validator::new();
    let lead = req.lead.clone().unwrap_or_default();
    let paths = req
        .update_mask
        .as_ref()
        .map(|m| m.paths.as_slice())
        .unwrap_or_default();
    let values = NewLead::parse(&mut v, "lead.", &lead_draft!(lead));
    v.retain_fields(|field| {
        let name = field.strip_prefix("lead.").unwrap_or(field);
        paths.iter().any(|path| path == name)
    });
    let lead_id = v.uuid("lead.id", &lead.id);
    if lead.version <= 0 {
        v.violation("lead.version", "is required: send the version you read");
    }
    let mask = v.field_mask(paths, lead::UPDATABLE_FIELDS);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(LeadUpdate {
        lead_id,
        version: lead.version,
        values,
        mask,
        request_id,
    })
}

fn follow_up_response(follow_up: FollowUp) -> proto::FollowUp {
    let channel = match follow_up.channel {
        Channel::Call => proto::FollowUpChannel::Call,
        Channel::Email => proto::FollowUpChannel::Email,
        Channel::Visit => proto::FollowUpChannel::Visit,
        Channel::Message => proto::FollowUpChannel::Message,
        Channel::Other => proto::FollowUpChannel::Other,
    };
    proto::FollowUp {
        id: follow_up.id.to_string(),
        lead_id: follow_up.lead_id.to_string(),
        author: follow_up.author,
        channel: channel.into(),
        note: follow_up.note,
        occurred_at: Some(convert::timestamp(follow_up.occurred_at)),
        recorded_at: Some(convert::timestamp(follow_up.recorded_at)),
    }
}

#[tonic::async_trait]
impl LeadService for LeadApi {
    #[tracing::instrument(skip_all, fields(rpc = "CreateLead"))]
    async fn create_lead(
        &self,
        request: Request<proto::CreateLeadRequest>,
    ) -> Result<Response<proto::CreateLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let pool_id = v.uuid("pool_id", &req.pool_id);
        let draft = req.lead.as_ref().map(lead_draft).unwrap_or_default();
        if req.lead.is_none() {
            v.violation("lead", "is required");
        }
        let new_lead = NewLead::parse(&mut v, "lead.", &draft);
        let owner_id = v.optional_text("owner_id", &req.owner_id, MAX_CODE_CHARS);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "CreateLead",
            request_id,
            &req,
            async |conn| {
                let access =
                    store::pools::access(&mut *conn, &actor.tenant_id, pool_id, &actor.user_id)
                        .await?;
                actor.require_lead_creator(pool_id, access.membership)?;
                if access.pool.archived_at.is_some() {
                    return Err(DomainError::PoolArchived(pool_id));
                }
                let owner_id = Some(owner_id.as_str()).filter(|o| !o.is_empty());
                let create = CreateLead {
                    pool_id,
                    lead: &new_lead,
                    owner_id,
                    request_id,
                    allow_duplicate: req.allow_duplicate,
                };
                let view = self.create(conn, &actor, &create).await?;
                Ok(proto::CreateLeadResponse {
                    lead: lead_response(&actor, view),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetLead"))]
    async fn get_lead(
        &self,
        request: Request<proto::GetLeadRequest>,
    ) -> Result<Response<proto::GetLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &request.get_ref().lead_id);
        v.finish(())?;
        let view = Self::readable_lead(&self.ctx.db, &actor, lead_id).await?;
        Ok(Response::new(proto::GetLeadResponse {
            lead: lead_response(&actor, view),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListLeads"))]
    async fn list_leads(
        &self,
        request: Request<proto::ListLeadsRequest>,
    ) -> Result<Response<proto::ListLeadsResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let filter = list_filter(&mut v, &req, &actor);
        let order = LeadOrder::parse(&mut v, &req.order_by);
        let page = PageSize::parse(&mut v, req.page_size);
        v.finish(())?;

        let scope = (filter.clone(), order);
        let after = page_token::decode(&req.page_token, &scope)?;
        if let Some(pool_id) = filter.pool_id {
            let access =
                store::pools::access(&self.ctx.db, &actor.tenant_id, pool_id, &actor.user_id)
                    .await?;
            // Without access to the pool, a member may still list the leads they own in it.
            if filter.owner_id.as_deref() != Some(actor.user_id.as_str()) {
                actor.require_pool_reader(pool_id, access.membership)?;
            }
        }
        let listing = store::leads::list::Page {
            order,
            after,
            limit: page.fetch_limit(),
        };
        let leads = store::leads::list::list(&self.ctx.db, &actor, &filter, &listing).await?;
        let (leads, next_page_token) =
            page_token::paginate(leads, page.get(), &scope, |l| order.position_after(&l.lead));
        Ok(Response::new(proto::ListLeadsResponse {
            leads: leads
                .into_iter()
                .filter_map(|view| lead_response(&actor, view))
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ClaimLead"))]
    async fn claim_lead(
        &self,
        request: Request<proto::ClaimLeadRequest>,
    ) -> Result<Response<proto::ClaimLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "ClaimLead",
            request_id,
            &req,
            async |conn| {
                let now = self.ctx.clock.now();
                let claimed =
                    store::leads::claim(&mut *conn, &actor, lead_id, request_id, now).await?;
                let view = match claimed {
                    Some(view) => {
                        self.ctx.metrics.claims.inc();
                        view
                    }
                    None => {
                        let snapshot =
                            store::leads::claim_snapshot(&mut *conn, &actor, lead_id, now).await?;
                        lead::explain_claim_refusal(&snapshot, &actor.user_id, now)?;
                        store::leads::get(&mut *conn, &actor, lead_id).await?
                    }
                };
                Ok(proto::ClaimLeadResponse {
                    lead: lead_response(&actor, view),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ClaimLeads"))]
    async fn claim_leads(
        &self,
        request: Request<proto::ClaimLeadsRequest>,
    ) -> Result<Response<proto::ClaimLeadsResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_ids = v.uuid_batch("lead_ids", &req.lead_ids);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "ClaimLeads",
            request_id,
            &req,
            async |conn| {
                let now = self.ctx.clock.now();
                // A savepoint inside the idempotency transaction, else a transaction of its own:
                // an all-or-nothing call that fails must undo the claims it made.
                let mut tx = conn.begin().await.map_err(db_error)?;
                let claimed =
                    store::leads::batch::claim_many(&mut *tx, &actor, &lead_ids, request_id, now)
                        .await?;
                let outcomes = claim_outcomes(&mut tx, &actor, &lead_ids, claimed, now).await?;
                if req.all_or_nothing && outcomes.iter().any(Result::is_err) {
                    let refusal = outcomes.into_iter().find_map(Result::err);
                    return Err(refusal.unwrap_or_else(|| {
                        DomainError::internal("an all-or-nothing claim failed without a refusal")
                    }));
                }
                tx.commit().await.map_err(db_error)?;
                Ok(claim_leads_response(&actor, &lead_ids, outcomes))
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReleaseLead"))]
    async fn release_lead(
        &self,
        request: Request<proto::ReleaseLeadRequest>,
    ) -> Result<Response<proto::ReleaseLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let reason = ReleaseReason::parse(&mut v, &req.reason, &req.note);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        let to_pool_id = v.optional_uuid("to_pool_id", &req.to_pool_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "ReleaseLead",
            request_id,
            &req,
            async |conn| {
                if let Some(pool_id) = to_pool_id {
                    let target =
                        store::pools::access(&mut *conn, &actor.tenant_id, pool_id, &actor.user_id)
                            .await?;
                    if target.pool.archived_at.is_some() {
                        return Err(DomainError::PoolArchived(pool_id));
                    }
                }
                let release = Release {
                    lead_id,
                    reason: &reason,
                    to_pool_id,
                    request_id,
                    now: self.ctx.clock.now(),
                };
                let released = store::leads::release(&mut *conn, &actor, &release).await?;
                let view = match released {
                    Some(view) => {
                        self.ctx.metrics.releases.inc();
                        view
                    }
                    None => {
                        let snapshot =
                            store::leads::release_snapshot(&mut *conn, &actor, lead_id, to_pool_id)
                                .await?;
                        lead::explain_release_refusal(&snapshot, &actor.user_id, &reason.reason)?;
                        store::leads::get(&mut *conn, &actor, lead_id).await?
                    }
                };
                Ok(proto::ReleaseLeadResponse {
                    lead: lead_response(&actor, view),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetLeadHistory"))]
    async fn get_lead_history(
        &self,
        request: Request<proto::GetLeadHistoryRequest>,
    ) -> Result<Response<proto::GetLeadHistoryResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let page = PageSize::parse(&mut v, req.page_size);
        v.finish(())?;
        let after_seq: Option<i64> = page_token::decode(&req.page_token, &lead_id)?;
        Self::readable_lead(&self.ctx.db, &actor, lead_id).await?;
        let events = store::events::lead_history(
            &self.ctx.db,
            &actor.tenant_id,
            lead_id,
            after_seq,
            page.fetch_limit(),
        )
        .await?;
        let (events, next_page_token) =
            page_token::paginate(events, page.get(), &lead_id, |e| e.seq);
        Ok(Response::new(proto::GetLeadHistoryResponse {
            events: events.into_iter().map(convert::event).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "LockLead"))]
    async fn lock_lead(
        &self,
        request: Request<proto::LockLeadRequest>,
    ) -> Result<Response<proto::LockLeadResponse>, Status> {
        let req = request.get_ref();
        let call = LockCall {
            method: "LockLead",
            lead_id: &req.lead_id,
            note: &req.note,
            request_id: &req.request_id,
            locked: true,
        };
        let lead = self.set_lock(auth::actor(&request)?, req, call).await?;
        Ok(Response::new(proto::LockLeadResponse { lead: Some(lead) }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UnlockLead"))]
    async fn unlock_lead(
        &self,
        request: Request<proto::UnlockLeadRequest>,
    ) -> Result<Response<proto::UnlockLeadResponse>, Status> {
        let req = request.get_ref();
        let call = LockCall {
            method: "UnlockLead",
            lead_id: &req.lead_id,
            note: &req.note,
            request_id: &req.request_id,
            locked: false,
        };
        let lead = self.set_lock(auth::actor(&request)?, req, call).await?;
        Ok(Response::new(proto::UnlockLeadResponse {
            lead: Some(lead),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ConvertLead"))]
    async fn convert_lead(
        &self,
        request: Request<proto::ConvertLeadRequest>,
    ) -> Result<Response<proto::ConvertLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let note = v.optional_text("note", &req.note, MAX_NOTE_CHARS);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "ConvertLead",
            request_id,
            &req,
            async |conn| {
                let view = Self::readable_lead(&mut *conn, &actor, lead_id).await?;
                let manages = actor.manages(view.viewer);
                let change = change(lead_id, &note, request_id, self.ctx.clock.now());
                let changed = lifecycle::convert(&mut *conn, &actor, change, manages).await?;
                let view = Self::settle(&mut *conn, &actor, lead_id, changed, |lead| {
                    rules::explain_convert_refusal(lead, &actor.user_id, manages)
                })
                .await?;
                Ok(proto::ConvertLeadResponse {
                    lead: lead_response(&actor, view),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "DiscardLead"))]
    async fn discard_lead(
        &self,
        request: Request<proto::DiscardLeadRequest>,
    ) -> Result<Response<proto::DiscardLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let reason = ReleaseReason::parse(&mut v, &req.reason, &req.note);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "DiscardLead",
            request_id,
            &req,
            async |conn| {
                let view = Self::readable_lead(&mut *conn, &actor, lead_id).await?;
                let manages = actor.manages(view.viewer);
                let note = reason.note.as_deref().unwrap_or_default();
                let change = change(lead_id, note, request_id, self.ctx.clock.now());
                let changed =
                    lifecycle::discard(&mut *conn, &actor, change, manages, &reason.reason).await?;
                let rules = match changed {
                    Some(_) => None,
                    None => Some(
                        store::pools::access(
                            &mut *conn,
                            &actor.tenant_id,
                            view.lead.pool_id,
                            &actor.user_id,
                        )
                        .await?
                        .pool
                        .rules,
                    ),
                };
                let view = Self::settle(&mut *conn, &actor, lead_id, changed, |lead| {
                    let rules = rules.unwrap_or_default();
                    rules::explain_discard_refusal(
                        lead,
                        &rules,
                        &actor.user_id,
                        manages,
                        &reason.reason,
                    )
                })
                .await?;
                Ok(proto::DiscardLeadResponse {
                    lead: lead_response(&actor, view),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ReopenLead"))]
    async fn reopen_lead(
        &self,
        request: Request<proto::ReopenLeadRequest>,
    ) -> Result<Response<proto::ReopenLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let note = v.optional_text("note", &req.note, MAX_NOTE_CHARS);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "ReopenLead",
            request_id,
            &req,
            async |conn| {
                let view = Self::readable_lead(&mut *conn, &actor, lead_id).await?;
                actor.require_manager(view.lead.pool_id, view.viewer)?;
                let change = change(lead_id, &note, request_id, self.ctx.clock.now());
                // A live lead may have taken its phone or e-mail while it was discarded.
                let contact = Contact::of(&actor.tenant_id, &view.lead);
                let changed = collision::naming_collisions(&mut *conn, contact, async |conn| {
                    lifecycle::reopen(conn, &actor, change).await
                })
                .await?;
                let view = Self::settle(
                    &mut *conn,
                    &actor,
                    lead_id,
                    changed,
                    rules::explain_reopen_refusal,
                )
                .await?;
                Ok(proto::ReopenLeadResponse {
                    lead: lead_response(&actor, view),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "MoveLead"))]
    async fn move_lead(
        &self,
        request: Request<proto::MoveLeadRequest>,
    ) -> Result<Response<proto::MoveLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let target = v.uuid("target_pool_id", &req.target_pool_id);
        let note = v.optional_text("note", &req.note, MAX_NOTE_CHARS);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "MoveLead",
            request_id,
            &req,
            async |conn| {
                let view = Self::readable_lead(&mut *conn, &actor, lead_id).await?;
                actor.require_manager(view.lead.pool_id, view.viewer)?;
                let destination =
                    store::pools::access(&mut *conn, &actor.tenant_id, target, &actor.user_id)
                        .await?;
                actor.require_manager(target, destination.membership)?;
                if destination.pool.archived_at.is_some() {
                    return Err(DomainError::PoolArchived(target));
                }
                let change = change(lead_id, &note, request_id, self.ctx.clock.now());
                let changed = lifecycle::move_to_pool(&mut *conn, &actor, change, target).await?;
                let view = Self::settle(&mut *conn, &actor, lead_id, changed, |lead| {
                    rules::explain_move_refusal(lead, target)
                })
                .await?;
                Ok(proto::MoveLeadResponse {
                    lead: lead_response(&actor, view),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateLead"))]
    async fn update_lead(
        &self,
        request: Request<proto::UpdateLeadRequest>,
    ) -> Result<Response<proto::UpdateLeadResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let LeadUpdate {
            lead_id,
            version,
            values,
            mask,
            request_id,
        } = parse_lead_update(&req)?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "UpdateLead",
            request_id,
            &req,
            async |conn| {
                let view = Self::readable_lead(&mut *conn, &actor, lead_id).await?;
                let owns = view.lead.owner_id.as_deref() == Some(actor.user_id.as_str());
                if !owns && !actor.roles.service && !actor.manages(view.viewer) {
                    return Err(DomainError::NotLeadOwner { lead_id });
                }
                let edit = LeadEdit {
                    lead_id,
                    expected_version: version,
                    values: &values,
                    mask: &mask,
                    request_id,
                    now: self.ctx.clock.now(),
                };
                let contact = Contact::of_new(&actor.tenant_id, &values);
                let updated = collision::naming_collisions(&mut *conn, contact, async |conn| {
                    store::leads::edit::update(conn, &actor, &edit).await
                })
                .await?;
                let view = match updated {
                    Some(view) => view,
                    None => {
                        let current = store::leads::get(&mut *conn, &actor, lead_id).await?;
                        return Err(lead::explain_update_refusal(&current.lead, version));
                    }
                };
                Ok(proto::UpdateLeadResponse {
                    lead: lead_response(&actor, view),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "RecordFollowUp"))]
    async fn record_follow_up(
        &self,
        request: Request<proto::RecordFollowUpRequest>,
    ) -> Result<Response<proto::RecordFollowUpResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let now = self.ctx.clock.now();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let channel = follow_up_channel(&mut v, req.channel);
        let note = v.optional_text("note", &req.note, MAX_NOTE_CHARS);
        let occurred_at = occurred_at(&mut v, req.occurred_at.as_ref(), now);
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "RecordFollowUp",
            request_id,
            &req,
            async |conn| {
                let follow_up = FollowUp {
                    id: Uuid::now_v7(),
                    lead_id,
                    author: actor.user_id.clone(),
                    channel,
                    note,
                    occurred_at,
                    recorded_at: now,
                };
                let recorded =
                    store::leads::follow_ups::record(&mut *conn, &actor, &follow_up, request_id)
                        .await?;
                let Some(view) = recorded else {
                    let current = Self::readable_lead(&mut *conn, &actor, lead_id).await?;
                    return Err(follow_up::explain_follow_up_refusal(
                        &current.lead,
                        &actor.user_id,
                    ));
                };
                Ok(proto::RecordFollowUpResponse {
                    follow_up: Some(follow_up_response(follow_up)),
                    lead: lead_response(&actor, view),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListFollowUps"))]
    async fn list_follow_ups(
        &self,
        request: Request<proto::ListFollowUpsRequest>,
    ) -> Result<Response<proto::ListFollowUpsResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let lead_id = v.uuid("lead_id", &req.lead_id);
        let page = PageSize::parse(&mut v, req.page_size);
        v.finish(())?;
        let after: Option<(DateTime<Utc>, Uuid)> = page_token::decode(&req.page_token, &lead_id)?;
        Self::readable_lead(&self.ctx.db, &actor, lead_id).await?;
        let follow_ups = store::leads::follow_ups::list(
            &self.ctx.db,
            &actor.tenant_id,
            lead_id,
            after,
            page.fetch_limit(),
        )
        .await?;
        let (follow_ups, next_page_token) =
            page_token::paginate(follow_ups, page.get(), &lead_id, |f| (f.occurred_at, f.id));
        Ok(Response::new(proto::ListFollowUpsResponse {
            follow_ups: follow_ups.into_iter().map(follow_up_response).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ImportLeads"))]
    async fn import_leads(
        &self,
        request: Request<proto::ImportLeadsRequest>,
    ) -> Result<Response<proto::ImportLeadsResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let pool_id = v.uuid("pool_id", &req.pool_id);
        if req.leads.is_empty() || req.leads.len() > import::MAX_BATCH_ROWS {
            v.violation(
                "leads",
                format!(
                    "must have 1 to {} rows, got {}",
                    import::MAX_BATCH_ROWS,
                    req.leads.len()
                ),
            );
        }
        let request_id = v.optional_uuid("request_id", &req.request_id);
        v.finish(())?;
        let settings = ImportSettings {
            pool_id,
            allow_duplicates: req.allow_duplicates,
            request_id,
        };
        let response = idempotency::once(
            &self.ctx,
            &actor,
            "ImportLeads",
            request_id,
            &req,
            async |conn| {
                Self::import_target(conn, &actor, pool_id).await?;
                let outcomes = self
                    .import_batch(conn, &actor, settings, &req.leads)
                    .await?;
                let count = |f: fn(&RowOutcome) -> bool| {
                    i32::try_from(outcomes.iter().filter(|o| f(o)).count()).unwrap_or(i32::MAX)
                };
                Ok(proto::ImportLeadsResponse {
                    created: count(|o| matches!(o, RowOutcome::Created(_))),
                    duplicates: count(|o| matches!(o, RowOutcome::Duplicate(_))),
                    invalid: count(|o| matches!(o, RowOutcome::Invalid { .. })),
                    results: outcomes
                        .into_iter()
                        .enumerate()
                        .map(|(index, outcome)| row_result(index, outcome))
                        .collect(),
                })
            },
        )
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ImportLeadsStream"))]
    async fn import_leads_stream(
        &self,
        request: Request<tonic::Streaming<proto::ImportLeadsStreamRequest>>,
    ) -> Result<Response<proto::ImportLeadsStreamResponse>, Status> {
        let actor = auth::actor(&request)?;
        let mut chunks = request.into_inner();
        let Some(first) = chunks.message().await? else {
            return Err(DomainError::ValidationFailed(vec![FieldViolation::new(
                "pool_id",
                "the stream was empty: send pool_id and rows",
            )])
            .into());
        };
        let mut v = Validator::new();
        let pool_id = v.uuid("pool_id", &first.pool_id);
        v.finish(())?;
        let settings = ImportSettings {
            pool_id,
            allow_duplicates: first.allow_duplicates,
            request_id: None,
        };
        let mut conn = self.ctx.db.acquire().await.map_err(db_error)?;
        Self::import_target(&mut conn, &actor, pool_id).await?;
        let mut summary = proto::ImportLeadsStreamResponse::default();
        let mut offset = 0;
        let mut chunk = Some(first);
        // One chunk in memory at a time: the client's next chunk is read only after this one is
        // written, so HTTP/2 flow control holds a fast sender back.
        while let Some(current) = chunk {
            for rows in current.leads.chunks(import::MAX_BATCH_ROWS) {
                let outcomes = self.import_batch(&mut conn, &actor, settings, rows).await?;
                self.ctx.wakeups.written();
                for (index, outcome) in outcomes.into_iter().enumerate() {
                    tally(&mut summary, offset + index, outcome);
                }
                offset += rows.len();
            }
            chunk = chunks.message().await?;
        }
        Ok(Response::new(summary))
    }
}

/// Counts one streamed row and keeps it if it is among the first problems.
fn tally(summary: &mut proto::ImportLeadsStreamResponse, index: usize, outcome: RowOutcome) {
    match &outcome {
        RowOutcome::Created(_) => {
            summary.created += 1;
            return;
        }
        RowOutcome::Duplicate(_) => summary.duplicates += 1,
        RowOutcome::Invalid { .. } => summary.invalid += 1,
    }
    if summary.problems.len() < MAX_REPORTED_PROBLEMS {
        summary.problems.push(row_result(index, outcome));
    } else {
        summary.problems_truncated = true;
    }
}
