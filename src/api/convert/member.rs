//! Members of a pool.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::OWNER_ME;
use super::{optional_timestamp, timestamp};
use crate::api::page_token;
use crate::domain::DomainError;
use crate::domain::member::{Member, MemberDraft, MemberMask, MemberRole, NewMember};
use crate::domain::page::PageSize;
use crate::domain::validate::{MAX_CODE_CHARS, Validator, field_root};
use crate::proto;
use crate::service::members::{AddMember, RemoveMember, Standing, UpdateMember};

pub fn member_role(role: MemberRole) -> proto::MemberRole {
    match role {
        MemberRole::Member => proto::MemberRole::Member,
        MemberRole::Manager => proto::MemberRole::Manager,
    }
}

pub fn member(member: Member) -> proto::Member {
    proto::Member {
        pool_id: member.pool_id.to_string(),
        user_id: member.user_id,
        role: member_role(member.role).into(),
        active: member.active,
        weight: member.weight,
        max_held: member.max_held,
        regions: member.regions,
        industries: member.industries,
        grades: member.grades,
        held_count: member.held_count,
        joined_at: Some(timestamp(member.joined_at)),
        away_until: optional_timestamp(member.away_until),
    }
}

/// The requested role; an unknown enum number is a violation.
fn requested_role(v: &mut Validator, role: i32) -> Option<MemberRole> {
    match proto::MemberRole::try_from(role) {
        Ok(proto::MemberRole::Unspecified) => None,
        Ok(proto::MemberRole::Member) => Some(MemberRole::Member),
        Ok(proto::MemberRole::Manager) => Some(MemberRole::Manager),
        Err(_) => {
            v.violation("role", format!("unknown role {role}"));
            None
        }
    }
}

/// An `AddMember` request, validated.
pub fn add_member_command(req: &proto::AddMemberRequest) -> Result<AddMember, DomainError> {
    let mut v = Validator::new();
    let role = requested_role(&mut v, req.role);
    let member = NewMember::parse(
        &mut v,
        MemberDraft {
            pool_id: &req.pool_id,
            user_id: &req.user_id,
            role,
            active: req.active,
            weight: req.weight,
            max_held: req.max_held,
            regions: &req.regions,
            industries: &req.industries,
            grades: &req.grades,
        },
    );
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(AddMember { member, request_id })
}

/// The fields `UpdateMember` may change, as field-mask paths.
const MEMBER_FIELDS: &[&str] = &[
    "role",
    "active",
    "weight",
    "max_held",
    "regions",
    "industries",
    "grades",
];

/// An `UpdateMember` request, validated for the masked fields (and the member's ids) only.
pub fn update_member_command(
    req: &proto::UpdateMemberRequest,
) -> Result<UpdateMember, DomainError> {
    let mut v = Validator::new();
    let member = req.member.clone().unwrap_or_default();
    let paths = req
        .update_mask
        .as_ref()
        .map(|m| m.paths.as_slice())
        .unwrap_or_default();
    let masked = |path: &str| paths.iter().any(|p| p == path);
    let role = v.nested("member.", |v| requested_role(v, member.role));
    if masked("role") && role.is_none() {
        v.violation(
            "member.role",
            "must be MEMBER_ROLE_MEMBER or MEMBER_ROLE_MANAGER",
        );
    }
    let patch = v.nested("member.", |v| {
        NewMember::parse(
            v,
            MemberDraft {
                pool_id: &member.pool_id,
                user_id: &member.user_id,
                role,
                active: Some(member.active),
                weight: member.weight,
                max_held: member.max_held,
                regions: &member.regions,
                industries: &member.industries,
                grades: &member.grades,
            },
        )
    });
    v.retain_fields(|field| {
        let field = field.trim_start_matches("member.");
        masked(field_root(field)) || field == "pool_id" || field == "user_id"
    });
    v.field_mask(paths, MEMBER_FIELDS);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    let mask = MemberMask {
        role: masked("role"),
        active: masked("active"),
        weight: masked("weight"),
        max_held: masked("max_held"),
        regions: masked("regions"),
        industries: masked("industries"),
        grades: masked("grades"),
    };
    v.finish(UpdateMember {
        patch,
        mask,
        request_id,
    })
}

/// A `RemoveMember` request, validated.
pub fn remove_member_command(
    req: &proto::RemoveMemberRequest,
) -> Result<RemoveMember, DomainError> {
    let mut v = Validator::new();
    let pool_id = v.uuid("pool_id", &req.pool_id);
    let user_id = v.required_text("user_id", &req.user_id, MAX_CODE_CHARS);
    let request_id = v.optional_uuid("request_id", &req.request_id);
    v.finish(RemoveMember {
        pool_id,
        user_id,
        request_id,
    })
}

pub fn remove_member_response(released: i64) -> proto::RemoveMemberResponse {
    proto::RemoveMemberResponse {
        released_leads: i32::try_from(released).unwrap_or(i32::MAX),
    }
}

/// Member listings are keyed by join time and user; a token is bound to its pool.
type MemberKey = (DateTime<Utc>, String);

/// A `ListMembers` request: the pool, where the page starts and its size.
pub fn list_members_query(
    req: &proto::ListMembersRequest,
) -> Result<(Uuid, Option<MemberKey>, PageSize), DomainError> {
    let mut v = Validator::new();
    let pool_id = v.uuid("pool_id", &req.pool_id);
    let page = PageSize::parse(&mut v, req.page_size);
    v.finish(())?;
    let after = page_token::decode(&req.page_token, &pool_id)?;
    Ok((pool_id, after, page))
}

/// One page of members, with the token of the next page when another follows.
pub fn list_members_response(
    members: Vec<Member>,
    page: PageSize,
    pool_id: Uuid,
) -> proto::ListMembersResponse {
    let (members, next_page_token) = page_token::paginate(members, page.get(), &pool_id, |m| {
        (m.joined_at, m.user_id.clone())
    });
    proto::ListMembersResponse {
        members: members.into_iter().map(member).collect(),
        next_page_token,
    }
}

/// A `GetMemberStats` request: the pool and the member (`None`: the caller, also for "me").
pub fn member_stats_query(
    req: &proto::GetMemberStatsRequest,
) -> Result<(Uuid, Option<String>), DomainError> {
    let mut v = Validator::new();
    let pool_id = v.uuid("pool_id", &req.pool_id);
    let user_id = match v.optional_text("user_id", &req.user_id, MAX_CODE_CHARS) {
        user if user.is_empty() || user == OWNER_ME => None,
        user => Some(user),
    };
    v.finish((pool_id, user_id))
}

pub fn member_stats_response(standing: Standing) -> proto::GetMemberStatsResponse {
    let stats = standing.stats;
    proto::GetMemberStatsResponse {
        pool_id: standing.pool_id.to_string(),
        user_id: standing.user_id,
        held_count: stats.held_count,
        cap: stats.cap,
        claims_today: stats.claims_today,
        daily_claim_limit: stats.daily_claim_limit,
        quota_left: stats.quota_left(),
        resets_at: Some(timestamp(standing.resets_at)),
        next_follow_up_deadline: stats.next_follow_up_deadline.map(timestamp),
        next_close_deadline: stats.next_close_deadline.map(timestamp),
        away_until: stats.away_until.map(timestamp),
    }
}
