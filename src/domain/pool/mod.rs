//! Pools and their rules (shared/domain.md "Pool rules").

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainError;
use super::business_time::{self, BusinessSpan, RawBusinessTime};
use super::distribution::{DistributionDraft, DistributionRule};
use super::validate::{MAX_CODE_CHARS, MAX_NAME_CHARS, Validator, field_root, is_clean, quoted};

pub const DEFAULT_TIMEZONE: &str = "UTC";
const MAX_RULE_CODES: usize = 100;
/// The most hops `max_reroutes` may allow (the database's CHECK says the same).
pub const MAX_REROUTES: i32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
    pub rules: PoolRules,
    pub archived_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Deadlines of one grade; `None` means that grade has no such deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradeDeadlines {
    pub follow_up_timeout_seconds: Option<i32>,
    pub close_timeout_seconds: Option<i32>,
    /// In business time, instead of the wall-time twin (overrides stored before these existed
    /// have neither).
    #[serde(default)]
    pub follow_up_business: Option<BusinessSpan>,
    #[serde(default)]
    pub close_business: Option<BusinessSpan>,
}

/// A grade override as sent, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradeDraft {
    pub grade: String,
    pub follow_up: Option<RawDuration>,
    pub close: Option<RawDuration>,
    pub follow_up_business: Option<RawBusinessTime>,
    pub close_business: Option<RawBusinessTime>,
}

/// Every rule of a pool. `None` means "no limit" / "no deadline"; durations are whole seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRules {
    pub max_held_per_member: Option<i32>,
    pub daily_claim_limit: Option<i32>,
    pub reclaim_cooldown_seconds: Option<i32>,
    pub mask_contacts: bool,
    pub release_reasons: Vec<String>,
    pub exempt_grades: Vec<String>,
    pub follow_up_timeout_seconds: Option<i32>,
    pub close_timeout_seconds: Option<i32>,
    pub warn_before_seconds: Option<i32>,
    pub grade_overrides: BTreeMap<String, GradeDeadlines>,
    pub recycle_to_pool_id: Option<Uuid>,
    pub distribution: DistributionRule,
    /// The tenant calendar business-time rules count in; `None`: the wall clock.
    pub calendar_id: Option<Uuid>,
    /// `follow_up_timeout`, `close_timeout` and `warn_before` in business time, when set (each
    /// in place of its wall-time twin).
    pub follow_up_business: Option<BusinessSpan>,
    pub close_business: Option<BusinessSpan>,
    pub warn_before_business: Option<BusinessSpan>,
    /// The grades `ClaimNext` hands out first, in this order.
    #[serde(default)]
    pub pull_order: Vec<String>,
    /// How long a lead that entered the pool cannot be claimed.
    #[serde(default)]
    pub new_lead_embargo_seconds: Option<i32>,
    /// How long a lead may wait in the pool before a `POOL_AGING` alert.
    #[serde(default)]
    pub unclaimed_alert_after_seconds: Option<i32>,
    /// How long a member has to accept a lead pushed to them (wall time), or
    /// `accept_within_business` in business time; neither: pushed leads need no acceptance.
    #[serde(default)]
    pub accept_within_seconds: Option<i32>,
    #[serde(default)]
    pub accept_within_business: Option<BusinessSpan>,
    /// How many times a missed or declined lead is passed on before it returns to the pool;
    /// `None`: until nobody is left to try.
    #[serde(default)]
    pub max_reroutes: Option<i32>,
    /// Whether a manager's assignment waits for acceptance like a distribution.
    #[serde(default)]
    pub sla_on_assign: bool,
}

/// A duration as a caller sent it: seconds and nanoseconds, as `google.protobuf.Duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawDuration {
    pub seconds: i64,
    pub nanos: i32,
}

/// Rules as sent, before validation.
#[derive(Debug, Clone, Default)]
pub struct RulesDraft<'a> {
    pub max_held_per_member: Option<i32>,
    pub daily_claim_limit: Option<i32>,
    pub reclaim_cooldown: Option<RawDuration>,
    pub mask_contacts: bool,
    pub release_reasons: &'a [String],
    pub exempt_grades: &'a [String],
    pub follow_up_timeout: Option<RawDuration>,
    pub close_timeout: Option<RawDuration>,
    pub warn_before: Option<RawDuration>,
    pub grade_overrides: Vec<GradeDraft>,
    pub recycle_to_pool_id: &'a str,
    pub distribution: DistributionDraft,
    pub calendar_id: &'a str,
    pub follow_up_business: Option<RawBusinessTime>,
    pub close_business: Option<RawBusinessTime>,
    pub warn_before_business: Option<RawBusinessTime>,
    pub pull_order: &'a [String],
    pub new_lead_embargo: Option<RawDuration>,
    pub unclaimed_alert_after: Option<RawDuration>,
    pub accept_within: Option<RawDuration>,
    pub accept_within_business: Option<RawBusinessTime>,
    pub max_reroutes: Option<i32>,
    pub sla_on_assign: bool,
}

impl PoolRules {
    pub fn parse(v: &mut Validator, draft: &RulesDraft<'_>) -> Self {
        let grade_overrides = grade_overrides(v, draft);
        let business = |v: &mut Validator, field, raw| BusinessSpan::parse(v, field, raw, 0);
        Self {
            max_held_per_member: v.non_negative("max_held_per_member", draft.max_held_per_member),
            daily_claim_limit: v.non_negative("daily_claim_limit", draft.daily_claim_limit),
            reclaim_cooldown_seconds: duration(v, "reclaim_cooldown", draft.reclaim_cooldown),
            mask_contacts: draft.mask_contacts,
            release_reasons: v.codes(
                "release_reasons",
                draft.release_reasons,
                MAX_RULE_CODES,
                MAX_CODE_CHARS,
            ),
            exempt_grades: v.codes(
                "exempt_grades",
                draft.exempt_grades,
                MAX_RULE_CODES,
                MAX_CODE_CHARS,
            ),
            follow_up_timeout_seconds: timeout(v, "follow_up_timeout", draft.follow_up_timeout),
            close_timeout_seconds: timeout(v, "close_timeout", draft.close_timeout),
            warn_before_seconds: duration(v, "warn_before", draft.warn_before),
            grade_overrides,
            recycle_to_pool_id: v.optional_uuid("recycle_to_pool_id", draft.recycle_to_pool_id),
            distribution: DistributionRule::parse(v, &draft.distribution),
            calendar_id: v.optional_uuid("calendar_id", draft.calendar_id),
            follow_up_business: business(v, "follow_up_business_time", draft.follow_up_business),
            close_business: business(v, "close_business_time", draft.close_business),
            warn_before_business: BusinessSpan::parse(
                v,
                "warn_before_business_time",
                draft.warn_before_business,
                1,
            ),
            pull_order: v.codes(
                "pull_order",
                draft.pull_order,
                MAX_RULE_CODES,
                MAX_CODE_CHARS,
            ),
            new_lead_embargo_seconds: timeout(v, "new_lead_embargo", draft.new_lead_embargo),
            unclaimed_alert_after_seconds: timeout(
                v,
                "unclaimed_alert_after",
                draft.unclaimed_alert_after,
            ),
            accept_within_seconds: timeout(v, "accept_within", draft.accept_within),
            accept_within_business: business(
                v,
                "accept_within_business_time",
                draft.accept_within_business,
            ),
            max_reroutes: max_reroutes(v, draft.max_reroutes),
            sla_on_assign: draft.sla_on_assign,
        }
    }

    /// Checks what the rules must satisfy together (see [`business_time::check_rules`]), the
    /// pool's and each grade override's.
    pub fn check(&self, v: &mut Validator) {
        let rule = |wall: &str, wall_set: bool, field: &str, business| {
            (wall.to_owned(), wall_set, field.to_owned(), business)
        };
        let mut rules = vec![
            rule(
                "follow_up_timeout",
                self.follow_up_timeout_seconds.is_some(),
                "follow_up_business_time",
                self.follow_up_business,
            ),
            rule(
                "close_timeout",
                self.close_timeout_seconds.is_some(),
                "close_business_time",
                self.close_business,
            ),
            rule(
                "warn_before",
                self.warn_before_seconds.is_some_and(|s| s > 0),
                "warn_before_business_time",
                self.warn_before_business,
            ),
            rule(
                "accept_within",
                self.accept_within_seconds.is_some(),
                "accept_within_business_time",
                self.accept_within_business,
            ),
        ];
        for (grade, d) in &self.grade_overrides {
            let at = |name: &str| format!("grade_overrides[{grade}].{name}");
            rules.push((
                at("follow_up_timeout"),
                d.follow_up_timeout_seconds.is_some(),
                at("follow_up_business_time"),
                d.follow_up_business,
            ));
            rules.push((
                at("close_timeout"),
                d.close_timeout_seconds.is_some(),
                at("close_business_time"),
                d.close_business,
            ));
        }
        business_time::check_rules(v, self.calendar_id.is_some(), &rules);
    }

    /// Whether `reason` is an allowed release (or discard) reason of this pool.
    pub fn allows_reason(&self, reason: &str) -> bool {
        self.release_reasons.is_empty() || self.release_reasons.iter().any(|r| r == reason)
    }
}

/// Each grade's own deadlines, validated.
fn grade_overrides(v: &mut Validator, draft: &RulesDraft<'_>) -> BTreeMap<String, GradeDeadlines> {
    draft
        .grade_overrides
        .iter()
        .map(|sent| {
            let grade = &sent.grade;
            let grade_ok = !grade.trim().is_empty()
                && grade.chars().count() <= MAX_CODE_CHARS
                && is_clean(grade, false);
            // A bad grade is quoted (cut short, escaped), never echoed whole as a path.
            let field = if grade_ok {
                format!("grade_overrides[{grade}]")
            } else {
                v.violation(
                    "grade_overrides",
                    format!(
                        "grades must be 1 to {MAX_CODE_CHARS} characters without control \
                         characters, got {}",
                        quoted(grade)
                    ),
                );
                "grade_overrides".to_owned()
            };
            let business = |v: &mut Validator, name: &str, raw| {
                BusinessSpan::parse(v, &format!("{field}.{name}"), raw, 0)
            };
            let wall =
                |v: &mut Validator, name: &str, raw| timeout(v, &format!("{field}.{name}"), raw);
            let deadlines = GradeDeadlines {
                follow_up_timeout_seconds: wall(v, "follow_up_timeout", sent.follow_up),
                close_timeout_seconds: wall(v, "close_timeout", sent.close),
                follow_up_business: business(v, "follow_up_business_time", sent.follow_up_business),
                close_business: business(v, "close_business_time", sent.close_business),
            };
            (grade.trim().to_owned(), deadlines)
        })
        .collect()
}

/// At most [`MAX_REROUTES`] hops, none below zero.
fn max_reroutes(v: &mut Validator, sent: Option<i32>) -> Option<i32> {
    let hops = sent?;
    if !(0..=MAX_REROUTES).contains(&hops) {
        v.violation(
            "max_reroutes",
            format!("must be 0 to {MAX_REROUTES}, or unset for no limit, got {hops}"),
        );
    }
    Some(hops)
}

/// A non-negative whole-second duration that fits the database's 32-bit seconds.
pub fn duration(v: &mut Validator, field: &str, raw: Option<RawDuration>) -> Option<i32> {
    seconds_from(v, field, raw, 0)
}

/// A rule's length (a deadline, an embargo, an alert): like [`duration`] but positive, since a
/// zero one would act at once; unset is how a caller says "none".
fn timeout(v: &mut Validator, field: &str, raw: Option<RawDuration>) -> Option<i32> {
    seconds_from(v, field, raw, 1)
}

fn seconds_from(v: &mut Validator, field: &str, raw: Option<RawDuration>, min: i32) -> Option<i32> {
    let raw = raw?;
    if raw.nanos != 0 {
        v.violation(field, "must be whole seconds");
    }
    match i32::try_from(raw.seconds) {
        Ok(seconds) if seconds >= min => Some(seconds),
        _ => {
            let unset = if min > 0 { ", or unset for none" } else { "" };
            let (max, got) = (i32::MAX, raw.seconds);
            v.violation(
                field,
                format!("must be {min} to {max} seconds{unset}, got {got}"),
            );
            None
        }
    }
}

/// A validated request to create a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewPool {
    pub name: String,
    pub timezone: String,
    pub rules: PoolRules,
}

impl NewPool {
    pub fn parse(v: &mut Validator, name: &str, timezone: &str, rules: &RulesDraft<'_>) -> Self {
        Self {
            name: v.required_text("name", name, MAX_NAME_CHARS),
            timezone: parse_timezone(v, timezone),
            rules: PoolRules::parse(v, rules),
        }
    }
}

/// The fields `UpdatePool` may change, as field-mask paths.
pub const UPDATABLE_FIELDS: &[&str] = &[
    "name",
    "timezone",
    "max_held_per_member",
    "daily_claim_limit",
    "reclaim_cooldown",
    "mask_contacts",
    "release_reasons",
    "exempt_grades",
    "follow_up_timeout",
    "close_timeout",
    "warn_before",
    "grade_overrides",
    "recycle_to_pool_id",
    "distribution",
    "calendar_id",
    "follow_up_business_time",
    "close_business_time",
    "warn_before_business_time",
    "pull_order",
    "new_lead_embargo",
    "unclaimed_alert_after",
    "accept_within",
    "accept_within_business_time",
    "max_reroutes",
    "sla_on_assign",
];

impl Pool {
    /// Refuses a pool whose rules do not fit together (after an update merged them), naming the
    /// fields as `UpdatePool` does (`pool.follow_up_business_time`).
    pub fn require_consistent_rules(&self) -> Result<(), DomainError> {
        let mut v = Validator::new();
        v.nested("pool.", |v| self.rules.check(v));
        v.finish(())
    }

    /// This pool with the fields named in `mask` taken from `patch`. The mask's paths must be
    /// [`UPDATABLE_FIELDS`]; `patch` is validated for those fields only.
    pub fn updated(&self, patch: NewPool, mask: &[String]) -> Pool {
        let mut next = self.clone();
        let (rules, patch_rules) = (&mut next.rules, patch.rules);
        for path in mask {
            match path.as_str() {
                "name" => next.name.clone_from(&patch.name),
                "timezone" => next.timezone.clone_from(&patch.timezone),
                "max_held_per_member" => {
                    rules.max_held_per_member = patch_rules.max_held_per_member
                }
                "daily_claim_limit" => rules.daily_claim_limit = patch_rules.daily_claim_limit,
                "reclaim_cooldown" => {
                    rules.reclaim_cooldown_seconds = patch_rules.reclaim_cooldown_seconds;
                }
                "mask_contacts" => rules.mask_contacts = patch_rules.mask_contacts,
                "release_reasons" => rules
                    .release_reasons
                    .clone_from(&patch_rules.release_reasons),
                "exempt_grades" => rules.exempt_grades.clone_from(&patch_rules.exempt_grades),
                "follow_up_timeout" => {
                    rules.follow_up_timeout_seconds = patch_rules.follow_up_timeout_seconds;
                }
                "close_timeout" => rules.close_timeout_seconds = patch_rules.close_timeout_seconds,
                "warn_before" => rules.warn_before_seconds = patch_rules.warn_before_seconds,
                "grade_overrides" => rules
                    .grade_overrides
                    .clone_from(&patch_rules.grade_overrides),
                "recycle_to_pool_id" => rules.recycle_to_pool_id = patch_rules.recycle_to_pool_id,
                "distribution" => rules.distribution = patch_rules.distribution,
                "calendar_id" => rules.calendar_id = patch_rules.calendar_id,
                "follow_up_business_time" => {
                    rules.follow_up_business = patch_rules.follow_up_business;
                }
                "close_business_time" => rules.close_business = patch_rules.close_business,
                "warn_before_business_time" => {
                    rules.warn_before_business = patch_rules.warn_before_business;
                }
                "pull_order" => rules.pull_order.clone_from(&patch_rules.pull_order),
                "new_lead_embargo" => {
                    rules.new_lead_embargo_seconds = patch_rules.new_lead_embargo_seconds;
                }
                "unclaimed_alert_after" => {
                    rules.unclaimed_alert_after_seconds = patch_rules.unclaimed_alert_after_seconds;
                }
                "accept_within" => rules.accept_within_seconds = patch_rules.accept_within_seconds,
                "accept_within_business_time" => {
                    rules.accept_within_business = patch_rules.accept_within_business;
                }
                "max_reroutes" => rules.max_reroutes = patch_rules.max_reroutes,
                "sla_on_assign" => rules.sla_on_assign = patch_rules.sla_on_assign,
                _ => {}
            }
        }
        next
    }
}

/// Whether a violation of `field` concerns one of the masked paths (`grade_overrides[A]`
/// belongs to `grade_overrides`, `distribution.strategy` to `distribution`).
pub fn in_mask(mask: &[String], field: &str) -> bool {
    let root = field_root(field);
    mask.iter().any(|path| path == root)
}

/// An IANA zone name (empty means UTC), checked against the tz database so quota days are real days.
pub fn parse_timezone(v: &mut Validator, timezone: &str) -> String {
    let timezone = timezone.trim();
    if timezone.is_empty() {
        return DEFAULT_TIMEZONE.to_owned();
    }
    match timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => tz.name().to_owned(),
        Err(_) => {
            v.violation(
                "timezone",
                format!(
                    "must be an IANA time zone such as Asia/Shanghai, got {}",
                    quoted(timezone)
                ),
            );
            timezone.to_owned()
        }
    }
}

#[cfg(test)]
mod tests;
