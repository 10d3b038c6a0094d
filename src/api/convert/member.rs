//! Members of a pool.

use super::timestamp;
use crate::domain::member::{Member, MemberRole};
use crate::proto;

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
    }
}
