//! Leads: requests to the commands of `service::leads`, and leads to messages (masked for
//! the reader).

use super::OWNER_ME;
use super::{optional_time, optional_timestamp, round_up_to_micros, timestamp};
use crate::api::status;
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::lead::{
    self, AcquiredVia, Lead, LeadFields, LeadState, LeadView, NewLead, ReleaseReason,
};
use crate::domain::listing::{LeadFilter, LeadOrder};
use crate::domain::masking;
use crate::domain::page::PageSize;
use crate::domain::validate::{
    MAX_CODE_CHARS, MAX_NAME_CHARS, MAX_NOTE_CHARS, MAX_TAG_CHARS, Validator, field_root,
};
use crate::proto;
use crate::service::leads::{
    Claim, ClaimMany, ClaimNext, ClaimResult, Create, Discard, Move, Release, Transition, Update,
};

pub fn lead_state(state: LeadState) -> proto::LeadState {
    match state {
        LeadState::InPool => proto::LeadState::InPool,
        LeadState::Owned => proto::LeadState::Owned,
        LeadState::Converted => proto::LeadState::Converted,
        LeadState::Discarded => proto::LeadState::Discarded,
    }
}

fn acquired_via(via: Option<AcquiredVia>) -> proto::AcquisitionChannel {
    match via {
        None => proto::AcquisitionChannel::Unspecified,
        Some(AcquiredVia::Claim) => proto::AcquisitionChannel::Claim,
        Some(AcquiredVia::Create) => proto::AcquisitionChannel::Create,
        Some(AcquiredVia::Assign) => proto::AcquisitionChannel::Assign,
        Some(AcquiredVia::Transfer) => proto::AcquisitionChannel::Transfer,
        Some(AcquiredVia::Distribute) => proto::AcquisitionChannel::Distribute,
    }
}

pub fn lead(lead: Lead) -> proto::Lead {
    proto::Lead {
        id: lead.id.to_string(),
        pool_id: lead.pool_id.to_string(),
        external_ref: lead.external_ref.unwrap_or_default(),
        name: lead.name,
        company: lead.company,
        phone: lead.phone,
        email: lead.email,
        source: lead.source,
        region: lead.region,
        industry: lead.industry,
        grade: lead.grade,
        tags: lead.tags,
        attributes: lead.attributes.into_iter().collect(),
        state: lead_state(lead.state).into(),
        owner_id: lead.owner_id.unwrap_or_default(),
        acquired_at: optional_timestamp(lead.acquired_at),
        acquired_via: acquired_via(lead.acquired_via).into(),
        last_follow_up_at: optional_timestamp(lead.last_follow_up_at),
        follow_up_deadline: optional_timestamp(lead.follow_up_deadline),
        close_deadline: optional_timestamp(lead.close_deadline),
        locked: lead.locked,
        previous_owner_id: lead.previous_owner_id.unwrap_or_default(),
        cooldown_until: optional_timestamp(lead.cooldown_until),
        pool_entered_at: optional_timestamp(lead.pool_entered_at),
        version: lead.version,
        created_at: Some(timestamp(lead.created_at)),
        updated_at: Some(timestamp(lead.updated_at)),
        contact_masked: false,
        duplicate_of: lead
            .duplicate_of
            .map(|id| id.to_string())
            .unwrap_or_default(),
        covered_owner_id: lead.covered_owner_id.unwrap_or_default(),
        accept_deadline: lead.accept_deadline.map(timestamp),
    }
}

/// The lead as this actor may see it: contacts masked unless they own it, manage its pool,
/// or the pool does not mask.
pub(crate) fn lead_message(actor: &Actor, view: LeadView) -> proto::Lead {
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
        ..self::lead(lead)
    }
}

/// The response of a call that answers with one lead: `wrap` puts the lead, as the caller may
/// see it, into the response message.
pub fn with_lead<R>(
    wrap: impl FnOnce(Option<proto::Lead>) -> R,
) -> impl FnOnce(&Actor, LeadView) -> R {
    move |actor, view| wrap(Some(lead_message(actor, view)))
}

/// The caller's fields of a `NewLead`, as sent.
pub fn fields(lead: proto::NewLead) -> LeadFields {
    LeadFields {
        external_ref: lead.external_ref,
        name: lead.name,
        company: lead.company,
        phone: lead.phone,
        email: lead.email,
        source: lead.source,
        region: lead.region,
        industry: lead.industry,
        grade: lead.grade,
        tags: lead.tags,
        attributes: lead.attributes,
    }
}

/// The fields of a whole `Lead` (an update sends one) that `paths` names, as sent; the others
/// are left empty: neither checked nor written, so nothing sent there reaches the database.
fn settable_fields(lead: proto::Lead, paths: &[String]) -> LeadFields {
    let masked = |path: &str| paths.iter().any(|p| p == path);
    let take = |path: &str, value: String| if masked(path) { value } else { String::new() };
    fields(proto::NewLead {
        external_ref: take("external_ref", lead.external_ref),
        name: take("name", lead.name),
        company: take("company", lead.company),
        phone: take("phone", lead.phone),
        email: take("email", lead.email),
        source: take("source", lead.source),
        region: take("region", lead.region),
        industry: take("industry", lead.industry),
        grade: take("grade", lead.grade),
        tags: if masked("tags") {
            lead.tags
        } else {
            Vec::new()
        },
        attributes: if masked("attributes") {
            lead.attributes
        } else {
            Default::default()
        },
    })
}

pub fn parse_create(req: proto::CreateLeadRequest) -> Result<Create, DomainError> {
    let mut v = Validator::new();
    let pool_id = v.uuid("pool_id", &req.pool_id);
    if req.lead.is_none() {
        v.violation("lead", "is required");
    }
    let fields = req.lead.map(fields).unwrap_or_default();
    let lead = NewLead::parse(&mut v, "lead.", &fields);
    let owner_id = v.optional_text("owner_id", &req.owner_id, MAX_CODE_CHARS);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(Create {
        pool_id,
        lead,
        owner_id: Some(owner_id).filter(|o| !o.is_empty()),
        allow_duplicate: req.allow_duplicate,
        request_id,
    })
}

/// An `UpdateLead` request, validated for the masked fields (and the lead's id and version).
pub fn parse_update(req: proto::UpdateLeadRequest) -> Result<Update, DomainError> {
    let mut v = Validator::new();
    let lead = req.lead.unwrap_or_default();
    let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
    let (id, version) = (lead.id.clone(), lead.version);
    let values = NewLead::parse(&mut v, "lead.", &settable_fields(lead, &paths));
    v.retain_fields(|field| {
        let name = field_root(field.strip_prefix("lead.").unwrap_or(field));
        paths.iter().any(|path| path == name)
    });
    let lead_id = v.uuid("lead.id", &id);
    if version <= 0 {
        v.violation("lead.version", "is required: send the version you read");
    }
    let mask = v.field_mask(&paths, lead::UPDATABLE_FIELDS);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(Update {
        lead_id,
        version,
        values,
        mask,
        request_id,
    })
}

pub fn parse_claim(req: &proto::ClaimLeadRequest) -> Result<Claim, DomainError> {
    let mut v = Validator::new();
    let lead_id = v.uuid("lead_id", &req.lead_id);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(Claim {
        lead_id,
        request_id,
    })
}

pub fn parse_claim_next(req: &proto::ClaimNextRequest) -> Result<ClaimNext, DomainError> {
    let mut v = Validator::new();
    let mut code = |field: &str, value: &str| {
        let code = v.optional_text(field, value, MAX_CODE_CHARS);
        (!code.is_empty()).then_some(code)
    };
    let (region, industry) = (code("region", &req.region), code("industry", &req.industry));
    let command = ClaimNext {
        pool_id: v.uuid("pool_id", &req.pool_id),
        region,
        industry,
        request_id: v.optional_uuid("request_id", &req.request_id),
    };
    v.finish(command)
}

pub fn parse_claim_many(req: &proto::ClaimLeadsRequest) -> Result<ClaimMany, DomainError> {
    let mut v = Validator::new();
    let lead_ids = v.uuid_batch("lead_ids", &req.lead_ids);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(ClaimMany {
        lead_ids,
        all_or_nothing: req.all_or_nothing,
        request_id,
    })
}

pub fn claim_leads_response(actor: &Actor, results: Vec<ClaimResult>) -> proto::ClaimLeadsResponse {
    use proto::claim_leads_result::Outcome;
    let mut claimed_count = 0;
    let results = results
        .into_iter()
        .map(|result| proto::ClaimLeadsResult {
            lead_id: result.lead_id.to_string(),
            outcome: Some(match result.outcome {
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

pub fn parse_release(req: &proto::ReleaseLeadRequest) -> Result<Release, DomainError> {
    let mut v = Validator::new();
    let lead_id = v.uuid("lead_id", &req.lead_id);
    let reason = ReleaseReason::parse(&mut v, &req.reason, &req.note);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    let to_pool_id = v.optional_uuid("to_pool_id", &req.to_pool_id);
    v.finish(Release {
        lead_id,
        reason,
        to_pool_id,
        request_id,
    })
}

/// The fields of a state change (convert, reopen, lock, unlock): the lead, a note, the
/// request id.
pub fn parse_transition(
    lead_id: &str,
    note: &str,
    request_id: &str,
) -> Result<Transition, DomainError> {
    let mut v = Validator::new();
    let lead_id = v.uuid("lead_id", lead_id);
    let note = v.optional_text("note", note, MAX_NOTE_CHARS);
    let request_id = v.optional_uuid("request_id", request_id);
    v.finish(Transition {
        lead_id,
        note: Some(note).filter(|n| !n.is_empty()),
        request_id,
    })
}

pub fn parse_discard(req: &proto::DiscardLeadRequest) -> Result<Discard, DomainError> {
    let mut v = Validator::new();
    let lead_id = v.uuid("lead_id", &req.lead_id);
    let reason = ReleaseReason::parse(&mut v, &req.reason, &req.note);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(Discard {
        lead_id,
        reason,
        request_id,
    })
}

pub fn parse_move(req: &proto::MoveLeadRequest) -> Result<Move, DomainError> {
    let mut v = Validator::new();
    let lead_id = v.uuid("lead_id", &req.lead_id);
    let target_pool_id = v.uuid("target_pool_id", &req.target_pool_id);
    let note = v.optional_text("note", &req.note, MAX_NOTE_CHARS);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(Move {
        transition: Transition {
            lead_id,
            note: Some(note).filter(|n| !n.is_empty()),
            request_id,
        },
        target_pool_id,
    })
}

/// A validated `ListLeads` request: what to list, in which order, how many per page.
pub struct Listing {
    pub filter: LeadFilter,
    pub order: LeadOrder,
    pub page: PageSize,
}

pub fn parse_listing(req: &proto::ListLeadsRequest, actor: &Actor) -> Result<Listing, DomainError> {
    let mut v = Validator::new();
    let filter = list_filter(&mut v, req, actor);
    let order = LeadOrder::parse(&mut v, &req.order_by);
    let page = PageSize::parse(&mut v, req.page_size);
    v.finish(Listing {
        filter,
        order,
        page,
    })
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
    let mut filter = LeadFilter {
        pool_id: v.optional_uuid("pool_id", &req.pool_id),
        owner_id,
        grade: text(v, "grade", &req.grade, MAX_CODE_CHARS),
        region: text(v, "region", &req.region, MAX_CODE_CHARS),
        industry: text(v, "industry", &req.industry, MAX_CODE_CHARS),
        tag: text(v, "tag", &req.tag, MAX_TAG_CHARS),
        query: text(v, "query", &req.query, MAX_NAME_CHARS),
        state: state_filter(v, req.state),
        deadline_before: optional_time(v, "deadline_before", req.deadline_before.as_ref()),
        created_after: optional_time(v, "created_after", req.created_after.as_ref()),
        created_before: optional_time(v, "created_before", req.created_before.as_ref()),
    };
    if let Some((after, before)) = filter.created_after.zip(filter.created_before)
        && after >= before
    {
        v.violation("created_before", "must be later than created_after");
    }
    // All three are compared with stored times: `created_after` at or after, the others before.
    for bound in [
        &mut filter.deadline_before,
        &mut filter.created_after,
        &mut filter.created_before,
    ] {
        *bound = bound.map(round_up_to_micros);
    }
    filter
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
