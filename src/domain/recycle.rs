//! Recycling (自动回收): what a sweep does to a lead whose deadline passed, and how a manager moves
//! a deadline.
//!
//! When a lead is due is decided over many rows at once, so the rule lives in SQL, in one
//! function: `recycle_schedule` (migration `20261123200000_recycle.sql`). Its deadline is the
//! earlier of the follow-up and close deadlines; with `warn_before > 0` a warning goes out once
//! per deadline and owner at `deadline − warn_before` (or at once, when that moment passed
//! unwarned), and the lead is recycled at the deadline but never sooner than `warn_before` after
//! its warning. Locked leads and exempt grades are left alone. This module holds the rest: the
//! words, the report of a sweep, and the rules of `ExtendDeadline`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainError;
use super::lead::{Lead, LeadState};

/// Steps a sweep report lists; the rest are only counted, so a sweep's memory stays constant.
pub const MAX_REPORTED_STEPS: usize = 1_000;

/// Who sweeps on the scheduler's interval, as events record it.
pub const SCHEDULER_ACTOR: &str = "scheduler";

/// What a sweep does to one lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Tells the owner the lead will be recycled (`RECYCLE_WARNING`).
    Warn,
    /// Takes the lead back to the pool (`RECYCLED`).
    Recycle,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warn => "WARN",
            Self::Recycle => "RECYCLE",
        }
    }
}

/// Which deadline passed (or is near); the `reason` of the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecycleReason {
    FollowUpOverdue,
    CloseOverdue,
    /// A pushed lead nobody accepted (shared/domain.md "Accept or reroute").
    AcceptTimeout,
}

stored_names!(RecycleReason, "recycle reason" {
    FollowUpOverdue => "FOLLOW_UP_OVERDUE",
    CloseOverdue => "CLOSE_OVERDUE",
    AcceptTimeout => "ACCEPT_TIMEOUT",
});

/// One change of a sweep (or, in a dry run, one it would make).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub lead_id: Uuid,
    pub pool_id: Uuid,
    pub owner_id: String,
    pub action: Action,
    pub reason: RecycleReason,
    pub deadline: DateTime<Utc>,
    /// For a warning the recycle time it announces; for a recycle, when it happened.
    pub recycle_at: DateTime<Utc>,
}

/// What a sweep did: counts of every step, and the first [`MAX_REPORTED_STEPS`] steps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    pub warned: u64,
    pub recycled: u64,
    pub steps: Vec<Step>,
    pub truncated: bool,
}

impl SweepReport {
    pub fn record(&mut self, step: Step) {
        match step.action {
            Action::Warn => self.warned += 1,
            Action::Recycle => self.recycled += 1,
        }
        if self.steps.len() < MAX_REPORTED_STEPS {
            self.steps.push(step);
        } else {
            self.truncated = true;
        }
    }

    /// Counts `total` steps of one kind of which only `listed` are known (a dry run reads just
    /// the first ones).
    pub fn record_counted(&mut self, action: Action, total: u64, listed: Vec<Step>) {
        let unlisted = total.saturating_sub(listed.len() as u64);
        for step in listed {
            self.record(step);
        }
        match action {
            Action::Warn => self.warned += unlisted,
            Action::Recycle => self.recycled += unlisted,
        }
        self.truncated |= unlisted > 0;
    }
}

/// A lead's deadline that a manager moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DeadlineKind {
    FollowUp,
    Close,
}

impl DeadlineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FollowUp => "FOLLOW_UP",
            Self::Close => "CLOSE",
        }
    }

    fn of(self, lead: &Lead) -> Option<DateTime<Utc>> {
        match self {
            Self::FollowUp => lead.follow_up_deadline,
            Self::Close => lead.close_deadline,
        }
    }
}

/// Explains why `ExtendDeadline` changed nothing: only an owned lead's deadline moves. `Ok` when
/// the deadline already is `until` (a retry).
pub fn explain_extend_refusal(
    lead: &Lead,
    kind: DeadlineKind,
    until: DateTime<Utc>,
) -> Result<(), DomainError> {
    match lead.state {
        LeadState::Converted | LeadState::Discarded => Err(DomainError::LeadClosed(lead.id)),
        LeadState::InPool => Err(DomainError::LeadNotOwned(lead.id)),
        LeadState::Owned if kind.of(lead) == Some(until) => Ok(()),
        LeadState::Owned => Err(DomainError::ConcurrentModification),
    }
}

/// A lead the scheduler will warn about or recycle, as `ListUpcomingRecycles` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upcoming {
    pub lead_id: Uuid,
    pub pool_id: Uuid,
    pub owner_id: String,
    pub deadline: DateTime<Utc>,
    pub reason: RecycleReason,
    pub warned: bool,
    pub warn_at: Option<DateTime<Utc>>,
    pub recycle_at: DateTime<Utc>,
}

impl Upcoming {
    /// When its next step happens: the warning, else the recycle. Listings are in this order.
    pub fn next_at(&self) -> DateTime<Utc> {
        self.warn_at.unwrap_or(self.recycle_at)
    }
}

/// Which owned leads `ListUpcomingRecycles` looks at: a pool's, an owner's, or an owner's in one
/// pool, whose next step comes by `until`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpcomingFilter {
    pub pool_id: Option<Uuid>,
    pub owner_id: Option<String>,
    pub until: DateTime<Utc>,
}

/// One recycle that happened (a `RECYCLED` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recycled {
    pub seq: i64,
    pub lead_id: Uuid,
    pub pool_id: Uuid,
    pub to_pool_id: Option<Uuid>,
    pub previous_owner_id: String,
    pub reason: RecycleReason,
    pub recycled_at: DateTime<Utc>,
    pub actor: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(action: Action) -> Step {
        Step {
            lead_id: Uuid::nil(),
            pool_id: Uuid::nil(),
            owner_id: "alice".into(),
            action,
            reason: RecycleReason::FollowUpOverdue,
            deadline: DateTime::UNIX_EPOCH,
            recycle_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_report_counts_every_step_but_lists_only_the_first() {
        let mut report = SweepReport::default();
        for _ in 0..MAX_REPORTED_STEPS {
            report.record(step(Action::Recycle));
        }
        assert!(!report.truncated);
        report.record(step(Action::Warn));
        assert_eq!((report.warned, report.recycled), (1, 1_000));
        assert_eq!(report.steps.len(), MAX_REPORTED_STEPS);
        assert!(report.truncated);
    }

    #[test]
    fn a_counted_report_adds_the_unlisted_steps() {
        let mut report = SweepReport::default();
        report.record_counted(Action::Warn, 3, vec![step(Action::Warn)]);
        report.record_counted(Action::Recycle, 1, vec![step(Action::Recycle)]);
        assert_eq!((report.warned, report.recycled), (3, 1));
        assert_eq!(report.steps.len(), 2);
        assert!(report.truncated, "two warnings were not listed");
    }
}
