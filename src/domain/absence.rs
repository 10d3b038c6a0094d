//! Leave and cover (shared/domain.md "People's time"): a user away for a time, for every pool of
//! the tenant, and what happens to their leads meanwhile.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainError;
use super::Result;
use super::access::Actor;
use super::validate::Validator;

/// The longest absence one `SetAway` plans.
pub const MAX_AWAY_DAYS: i64 = 366;

/// What happens to an away user's leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AwayMode {
    /// The owner keeps them; their deadlines stop for the time away.
    Pause,
    /// The colleague holds them for the time away; they come back afterwards.
    Cover { colleague: String },
}

impl AwayMode {
    /// The stored mode and covering colleague.
    pub fn stored(&self) -> (&'static str, Option<&str>) {
        match self {
            Self::Pause => ("PAUSE", None),
            Self::Cover { colleague } => ("COVER", Some(colleague)),
        }
    }

    /// The mode from its stored columns.
    pub fn from_stored(mode: &str, colleague: Option<String>) -> Result<Self> {
        match (mode, colleague) {
            ("PAUSE", None) => Ok(Self::Pause),
            ("COVER", Some(colleague)) => Ok(Self::Cover { colleague }),
            (mode, _) => Err(DomainError::internal(format!(
                "stored absence mode {mode:?} does not match its colleague"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AbsenceState {
    Scheduled,
    Active,
    Ended,
    Cancelled,
}

stored_names!(AbsenceState, "absence state" {
    Scheduled => "SCHEDULED",
    Active => "ACTIVE",
    Ended => "ENDED",
    Cancelled => "CANCELLED",
});

/// One absence of one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Absence {
    pub id: Uuid,
    pub user_id: String,
    pub away_from: DateTime<Utc>,
    /// As planned, or when it was cleared early.
    pub away_until: DateTime<Utc>,
    pub mode: AwayMode,
    pub reason: String,
    pub state: AbsenceState,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A planned absence, validated: ending ahead of now, after `away_from`, at most
/// [`MAX_AWAY_DAYS`] after it, and nobody covering for themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AwayPlan {
    pub user_id: String,
    pub away_from: DateTime<Utc>,
    pub away_until: DateTime<Utc>,
    pub mode: AwayMode,
    pub reason: String,
}

impl AwayPlan {
    /// Checks the plan's times (at `now`) and colleague, naming the fields of `SetAwayRequest`.
    pub fn check(&self, v: &mut Validator, now: DateTime<Utc>) {
        check_times(v, self.away_from, self.away_until, now);
        check_colleague(v, &self.user_id, &self.mode);
    }
}

/// Checks an absence's times, naming `away_until`: after `away_from` (now, when the caller left
/// it unset), still ahead of `now` whatever `away_from` is (an absence over before it is planned
/// would start after it ended, its events out of order), and at most [`MAX_AWAY_DAYS`] long.
pub fn check_times(
    v: &mut Validator,
    away_from: DateTime<Utc>,
    away_until: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    if away_until <= away_from {
        v.violation(
            "away_until",
            "must be after away_from (or now, when it is unset)",
        );
    } else if away_until <= now {
        v.violation(
            "away_until",
            "must be in the future: an absence that has already ended cannot be planned",
        );
    } else if away_until - away_from > Duration::days(MAX_AWAY_DAYS) {
        v.violation(
            "away_until",
            format!("must be at most {MAX_AWAY_DAYS} days after away_from"),
        );
    }
}

/// Checks that a covering colleague is someone other than the away user.
pub fn check_colleague(v: &mut Validator, user_id: &str, mode: &AwayMode) {
    if let AwayMode::Cover { colleague } = mode
        && colleague == user_id
    {
        v.violation("cover_user_id", "must be someone other than the away user");
    }
}

/// What a user may do about someone's absences: their own always; anyone's as a tenant admin
/// or as a manager of a pool the user is a member of (`manages_user`).
pub fn require_absence_manager(actor: &Actor, user_id: &str, manages_user: bool) -> Result<()> {
    if actor.user_id == user_id || actor.roles.admin || manages_user {
        Ok(())
    } else {
        Err(DomainError::UserNotManaged {
            user_id: user_id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::TenantRoles;

    fn plan(hours: i64, mode: AwayMode) -> AwayPlan {
        let away_from = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        AwayPlan {
            user_id: "wang".into(),
            away_from,
            away_until: away_from + Duration::hours(hours),
            mode,
            reason: String::new(),
        }
    }

    fn violations(plan: &AwayPlan) -> Vec<String> {
        let mut v = Validator::new();
        plan.check(&mut v, plan.away_from);
        v.rejected_fields()
    }

    #[test]
    fn a_plan_ends_after_it_begins_and_within_a_year() {
        assert!(violations(&plan(8, AwayMode::Pause)).is_empty());
        assert_eq!(violations(&plan(0, AwayMode::Pause)), ["away_until"]);
        assert_eq!(violations(&plan(-1, AwayMode::Pause)), ["away_until"]);
        assert_eq!(violations(&plan(24 * 367, AwayMode::Pause)), ["away_until"]);
    }

    #[test]
    fn a_plan_ends_in_the_future_whenever_it_begins() {
        let past = plan(8, AwayMode::Pause);
        let check = |now| {
            let mut v = Validator::new();
            past.check(&mut v, now);
            v.rejected_fields()
        };
        assert!(check(past.away_until - Duration::seconds(1)).is_empty());
        assert_eq!(check(past.away_until), ["away_until"]);
        assert_eq!(check(past.away_until + Duration::days(300)), ["away_until"]);
    }

    #[test]
    fn every_bad_field_of_a_plan_is_named_once() {
        let mut too_long_and_own_cover = plan(
            24 * 400,
            AwayMode::Cover {
                colleague: "wang".into(),
            },
        );
        assert_eq!(
            violations(&too_long_and_own_cover),
            ["away_until", "cover_user_id"]
        );
        too_long_and_own_cover.away_until = too_long_and_own_cover.away_from;
        assert_eq!(
            violations(&too_long_and_own_cover),
            ["away_until", "cover_user_id"]
        );
    }

    #[test]
    fn nobody_covers_for_themselves() {
        let own = AwayMode::Cover {
            colleague: "wang".into(),
        };
        assert_eq!(violations(&plan(8, own)), ["cover_user_id"]);
        let colleague = AwayMode::Cover {
            colleague: "li".into(),
        };
        assert!(violations(&plan(8, colleague)).is_empty());
    }

    #[test]
    fn users_manage_their_own_absences_and_managers_and_admins_anyones() {
        let actor = |user: &str, admin: bool| Actor {
            tenant_id: "t".into(),
            user_id: user.into(),
            roles: TenantRoles {
                admin,
                service: false,
            },
        };
        assert!(require_absence_manager(&actor("wang", false), "wang", false).is_ok());
        assert!(require_absence_manager(&actor("li", false), "wang", true).is_ok());
        assert!(require_absence_manager(&actor("li", true), "wang", false).is_ok());
        let refused = require_absence_manager(&actor("li", false), "wang", false);
        assert!(matches!(refused, Err(DomainError::UserNotManaged { .. })));
    }

    #[test]
    fn stored_modes_round_trip() {
        for mode in [
            AwayMode::Pause,
            AwayMode::Cover {
                colleague: "li".into(),
            },
        ] {
            let (name, colleague) = mode.stored();
            let back = AwayMode::from_stored(name, colleague.map(str::to_owned)).unwrap();
            assert_eq!(back, mode);
        }
        assert!(AwayMode::from_stored("COVER", None).is_err());
    }
}
