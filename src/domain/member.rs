//! Pool membership: who belongs to a pool, in which role, with which weight and cap.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::stored::UnknownStoredValue;

use super::validate::{MAX_CODE_CHARS, Validator};

pub const DEFAULT_WEIGHT: i32 = 1;
pub const MAX_WEIGHT: i32 = 1_000;
const MAX_ATTRIBUTE_CODES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberRole {
    Member,
    Manager,
}

stored_names!(MemberRole, "member role" {
    Member => "MEMBER",
    Manager => "MANAGER",
});

/// The actor's own membership of a pool, as far as access decisions need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub role: MemberRole,
    pub active: bool,
}

impl Membership {
    /// A membership read back from its stored role and active flag.
    pub fn stored(role: &str, active: bool) -> Result<Self, UnknownStoredValue> {
        Ok(Self {
            role: MemberRole::try_from(role)?,
            active,
        })
    }
}

/// A membership as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub pool_id: Uuid,
    pub user_id: String,
    pub role: MemberRole,
    pub active: bool,
    pub weight: i32,
    pub max_held: Option<i32>,
    pub regions: Vec<String>,
    pub industries: Vec<String>,
    pub grades: Vec<String>,
    pub held_count: i32,
    pub joined_at: chrono::DateTime<chrono::Utc>,
    /// While the user is away: when they are back.
    #[serde(default)]
    pub away_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// A validated request to add a user to a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewMember {
    pub pool_id: Uuid,
    pub user_id: String,
    pub role: MemberRole,
    pub active: bool,
    pub weight: i32,
    pub max_held: Option<i32>,
    pub regions: Vec<String>,
    pub industries: Vec<String>,
    pub grades: Vec<String>,
}

/// The raw fields of an add-member request, before validation.
#[derive(Debug, Clone, Default)]
pub struct MemberDraft<'a> {
    pub pool_id: &'a str,
    pub user_id: &'a str,
    pub role: Option<MemberRole>,
    pub active: Option<bool>,
    pub weight: i32,
    pub max_held: Option<i32>,
    pub regions: &'a [String],
    pub industries: &'a [String],
    pub grades: &'a [String],
}

impl NewMember {
    pub fn parse(v: &mut Validator, draft: MemberDraft<'_>) -> Self {
        let pool_id = v.uuid("pool_id", draft.pool_id);
        let user_id = v.user_id("user_id", draft.user_id);
        let weight = match draft.weight {
            0 => DEFAULT_WEIGHT,
            w if (1..=MAX_WEIGHT).contains(&w) => w,
            w => {
                v.violation("weight", format!("must be 1 to {MAX_WEIGHT}, got {w}"));
                w
            }
        };
        let max_held = v.non_negative("max_held", draft.max_held);
        let regions = v.codes(
            "regions",
            draft.regions,
            MAX_ATTRIBUTE_CODES,
            MAX_CODE_CHARS,
        );
        let industries = v.codes(
            "industries",
            draft.industries,
            MAX_ATTRIBUTE_CODES,
            MAX_CODE_CHARS,
        );
        let grades = v.codes("grades", draft.grades, MAX_ATTRIBUTE_CODES, MAX_CODE_CHARS);
        Self {
            pool_id,
            user_id,
            role: draft.role.unwrap_or(MemberRole::Member),
            active: draft.active.unwrap_or(true),
            weight,
            max_held,
            regions,
            industries,
            grades,
        }
    }
}

/// Which fields of a membership an update changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MemberMask {
    pub role: bool,
    pub active: bool,
    pub weight: bool,
    pub max_held: bool,
    pub regions: bool,
    pub industries: bool,
    pub grades: bool,
}

/// A member's figures in a pool, as `GetMemberStats` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStats {
    pub held_count: i32,
    pub cap: Option<i32>,
    pub claims_today: i32,
    pub daily_claim_limit: Option<i32>,
    pub timezone: String,
    pub next_follow_up_deadline: Option<chrono::DateTime<chrono::Utc>>,
    pub next_close_deadline: Option<chrono::DateTime<chrono::Utc>>,
    /// While the member is away: when they are back.
    pub away_until: Option<chrono::DateTime<chrono::Utc>>,
}

impl MemberStats {
    /// Claims left today; `None` without a daily limit.
    pub fn quota_left(&self) -> Option<i32> {
        self.daily_claim_limit
            .map(|limit| (limit - self.claims_today).max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_active_member_with_weight_one() {
        let pool_id = Uuid::now_v7().to_string();
        let mut v = Validator::new();
        let member = NewMember::parse(
            &mut v,
            MemberDraft {
                pool_id: &pool_id,
                user_id: "alice",
                ..Default::default()
            },
        );
        assert!(v.finish(()).is_ok());
        assert_eq!(member.role, MemberRole::Member);
        assert!(member.active);
        assert_eq!(member.weight, DEFAULT_WEIGHT);
    }

    #[test]
    fn rejects_weight_out_of_range_and_negative_cap() {
        let pool_id = Uuid::now_v7().to_string();
        let mut v = Validator::new();
        NewMember::parse(
            &mut v,
            MemberDraft {
                pool_id: &pool_id,
                user_id: "alice",
                weight: 1_001,
                max_held: Some(-1),
                ..Default::default()
            },
        );
        let fields = v.rejected_fields();
        assert_eq!(fields, ["weight", "max_held"]);
    }
}
