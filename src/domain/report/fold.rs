//! The aggregator's fold: each event, in stream order, moves its lead's facts (in the pool or
//! owned, since when, returned before) and adds to the day's rollups of its pool and members.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::eligibility::Eligibility;
use super::histogram;
use super::{Metric, POOL_ROW};
use crate::domain::event::{EventKind, LeadEvent};

/// Where a lead stands for the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactState {
    InPool,
    Owned,
    /// Converted or discarded.
    Closed,
}

stored_names!(FactState, "report lead state" {
    InPool => "IN_POOL",
    Owned => "OWNED",
    Closed => "CLOSED",
});

/// What the aggregator remembers of a lead between events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadFacts {
    pub pool_id: Uuid,
    pub state: FactState,
    pub owner_id: Option<String>,
    pub entered_pool_at: Option<DateTime<Utc>>,
    pub acquired_at: Option<DateTime<Utc>>,
    pub awaiting_follow_up: bool,
    /// Released or recycled at least once.
    pub returned: bool,
    /// While a colleague covers the lead: its owner, who is credited with the conversion if
    /// the colleague converts it (domain.md: `covered_owner_id`, "so reports credit the right
    /// person").
    pub covered_owner: Option<String>,
}

/// How an acquisition came about, for the member's "acquired by way".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Claim,
    Assign,
    Distribute,
    Transfer,
    Cover,
}

/// Why a lead entered a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Created,
    Released,
    Recycled,
    Offboarded,
    Reopened,
}

/// Rollup row keys of a tenant's batch: (pool, day, member, metric, reason) and, for
/// histograms, (pool, day, member, metric, bin).
pub type CountKey = (Uuid, NaiveDate, String, Metric, String);
pub type BinKey = (Uuid, NaiveDate, String, Metric, i32);

/// What a batch adds to the rollups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub counts: HashMap<CountKey, i64>,
    pub bins: HashMap<BinKey, i64>,
    /// The `weight` of `EntitledMicro` rows: the member's weight summed over the leads
    /// distributed, whose reason is the eligible weights' total; their share is weight ÷
    /// total exactly. (Their count is that share in millionths, what the previous release
    /// reads.)
    pub weights: HashMap<CountKey, i64>,
}

/// The fold over one batch: the facts of its leads (loaded before, saved after), the pools'
/// time zones, who could receive distributed leads, and what it has counted.
#[derive(Debug, Default)]
pub struct Fold {
    pub facts: HashMap<Uuid, LeadFacts>,
    pub zones: HashMap<Uuid, Tz>,
    pub eligibility: Eligibility,
    tally: Tally,
    /// Entitlements per pool, day and eligible weights' total, as the member's weight summed,
    /// by the member's index in `eligibility.members[pool]`: every distributed lead entitles
    /// each eligible member (hundreds), so they are summed here and enter the tally once per
    /// member and total in [`Fold::finish`].
    /// `None` for a member eligible for none of them (they get no row).
    entitled: HashMap<(Uuid, NaiveDate, i64), Vec<Option<i64>>>,
}

impl Fold {
    pub fn new(
        facts: HashMap<Uuid, LeadFacts>,
        zones: HashMap<Uuid, Tz>,
        eligibility: Eligibility,
    ) -> Self {
        Self {
            facts,
            zones,
            eligibility,
            ..Self::default()
        }
    }

    /// The leads' facts after the batch, and what the batch adds to the rollups.
    pub fn finish(mut self) -> (HashMap<Uuid, LeadFacts>, Tally) {
        let eligibility = std::mem::take(&mut self.eligibility);
        for ((pool, day, total), weights) in std::mem::take(&mut self.entitled) {
            let members = eligibility.members.get(&pool).into_iter().flatten();
            for (member, weight) in members.zip(weights) {
                if let Some(weight) = weight {
                    let user = member.user_id.clone();
                    let key = (pool, day, user, Metric::EntitledMicro, total.to_string());
                    *self.tally.weights.entry(key.clone()).or_default() += weight;
                    *self.tally.counts.entry(key).or_default() +=
                        (weight * 1_000_000 + total / 2) / total;
                }
            }
        }
        (self.facts, self.tally)
    }

    /// Folds `event` in; events must come in stream order.
    pub fn apply(&mut self, event: &LeadEvent) {
        let Some(lead_id) = event.lead_id else {
            return;
        };
        let mut facts = self
            .facts
            .remove(&lead_id)
            .unwrap_or_else(|| first_facts(event));
        self.step(event, &mut facts);
        self.facts.insert(lead_id, facts);
    }

    /// The day of `event` in `pool`'s time zone.
    fn day(&self, event: &LeadEvent, pool: Uuid) -> NaiveDate {
        let zone = self.zones.get(&pool).copied().unwrap_or(Tz::UTC);
        event.occurred_at.with_timezone(&zone).date_naive()
    }

    fn step(&mut self, event: &LeadEvent, facts: &mut LeadFacts) {
        let to = event.to_owner.clone();
        match event.kind {
            EventKind::Created => match to {
                Some(owner) => {
                    self.acquire(event, facts, owner, Way::Assign, Some(Metric::Assigned))
                }
                None => self.enter(event, facts, Entry::Created),
            },
            EventKind::Claimed => self.acquire_to(event, facts, Way::Claim, Some(Metric::Claimed)),
            EventKind::Assigned => {
                self.acquire_to(event, facts, Way::Assign, Some(Metric::Assigned))
            }
            EventKind::Distributed => {
                self.entitle(event, facts.pool_id);
                self.acquire_to(event, facts, Way::Distribute, Some(Metric::Distributed));
            }
            EventKind::Rerouted => self.acquire_to(event, facts, Way::Distribute, None),
            EventKind::Transferred => self.acquire_to(event, facts, Way::Transfer, None),
            EventKind::CoverStarted => {
                let owner = facts.owner_id.clone();
                self.acquire_to(event, facts, Way::Cover, None);
                facts.covered_owner = owner;
            }
            EventKind::CoverEnded => self.acquire_to(event, facts, Way::Cover, None),
            EventKind::Offboarded => match to {
                Some(owner) => self.acquire(event, facts, owner, Way::Transfer, None),
                None => self.enter(event, facts, Entry::Offboarded),
            },
            EventKind::Released => self.enter(event, facts, Entry::Released),
            EventKind::Recycled => self.enter(event, facts, Entry::Recycled),
            EventKind::Reopened => self.enter(event, facts, Entry::Reopened),
            EventKind::Moved => self.move_in(event, facts),
            EventKind::Converted => self.close(event, facts, Metric::Converted),
            EventKind::Discarded => self.close(event, facts, Metric::Discarded),
            EventKind::FollowedUp => self.follow_up(event, facts),
            _ => {}
        }
    }

    fn acquire_to(
        &mut self,
        event: &LeadEvent,
        facts: &mut LeadFacts,
        way: Way,
        kind: Option<Metric>,
    ) {
        if let Some(owner) = event.to_owner.clone() {
            self.acquire(event, facts, owner, way, kind);
        }
    }

    /// `owner` comes to own the lead: from the pool (or at creation) it is an acquisition of the
    /// pool's; from another owner, only the members' figures move.
    fn acquire(
        &mut self,
        event: &LeadEvent,
        facts: &mut LeadFacts,
        owner: String,
        way: Way,
        kind: Option<Metric>,
    ) {
        let pool = facts.pool_id;
        let day = self.day(event, pool);
        if let Some(metric) = kind {
            self.count(pool, day, POOL_ROW, metric, "", 1);
        }
        match (facts.state, facts.owner_id.take()) {
            (FactState::Owned, Some(previous)) => {
                self.count(pool, day, &previous, Metric::HeldDelta, "", -1);
            }
            (state, _) => {
                self.count(pool, day, POOL_ROW, Metric::Acquired, "", 1);
                if facts.returned {
                    self.count(pool, day, POOL_ROW, Metric::AcquiredReturned, "", 1);
                }
                self.count(pool, day, POOL_ROW, Metric::OwnedDelta, "", 1);
                if state == FactState::InPool {
                    self.count(pool, day, POOL_ROW, Metric::InPoolDelta, "", -1);
                    if let Some(entered) = facts.entered_pool_at {
                        let waited = (event.occurred_at - entered).num_seconds();
                        self.sample(pool, day, POOL_ROW, Metric::TimeToOwner, waited);
                    }
                }
            }
        }
        self.count(pool, day, &owner, way.metric(), "", 1);
        self.count(pool, day, &owner, Metric::HeldDelta, "", 1);
        facts.state = FactState::Owned;
        facts.owner_id = Some(owner);
        facts.acquired_at = Some(event.occurred_at);
        facts.awaiting_follow_up = true;
        facts.covered_owner = None;
    }

    /// The lead enters a pool (its own, or the one it is recycled to).
    fn enter(&mut self, event: &LeadEvent, facts: &mut LeadFacts, entry: Entry) {
        let source = facts.pool_id;
        let day = self.day(event, source);
        let reason = event.reason.as_deref().unwrap_or("");
        self.leave(event, facts);
        if let Some(metric) = entry.counted_as() {
            self.count(source, day, POOL_ROW, metric, reason, 1);
            if let Some(owner) = event.from_owner.as_deref() {
                self.count(source, day, owner, metric, "", 1);
            }
            facts.returned = true;
        }
        let pool = event.to_pool_id.unwrap_or(source);
        let day = self.day(event, pool);
        self.count(pool, day, POOL_ROW, entry.entered(), "", 1);
        self.count(pool, day, POOL_ROW, Metric::InPoolDelta, "", 1);
        facts.pool_id = pool;
        facts.state = FactState::InPool;
        facts.entered_pool_at = Some(event.occurred_at);
    }

    /// A pool lead moves to another pool.
    fn move_in(&mut self, event: &LeadEvent, facts: &mut LeadFacts) {
        let Some(target) = event.to_pool_id else {
            return;
        };
        let source = facts.pool_id;
        self.count(
            source,
            self.day(event, source),
            POOL_ROW,
            Metric::InPoolDelta,
            "",
            -1,
        );
        let day = self.day(event, target);
        self.count(target, day, POOL_ROW, Metric::EnteredMovedIn, "", 1);
        self.count(target, day, POOL_ROW, Metric::InPoolDelta, "", 1);
        facts.pool_id = target;
        facts.entered_pool_at = Some(event.occurred_at);
    }

    /// Converted or discarded: counted for the pool and, when it had one, the owner (the
    /// covered owner, for a lead a colleague converts while covering).
    fn close(&mut self, event: &LeadEvent, facts: &mut LeadFacts, metric: Metric) {
        let pool = facts.pool_id;
        let day = self.day(event, pool);
        let owner = facts
            .covered_owner
            .clone()
            .or_else(|| facts.owner_id.clone());
        self.count(pool, day, POOL_ROW, metric, "", 1);
        if metric == Metric::Converted {
            if facts.returned {
                self.count(pool, day, POOL_ROW, Metric::ConvertedReturned, "", 1);
            }
            if let Some(owner) = owner.as_deref() {
                self.count(pool, day, owner, Metric::Converted, "", 1);
            }
        }
        self.leave(event, facts);
        facts.state = FactState::Closed;
    }

    /// The lead stops being where it was (owned or in the pool).
    fn leave(&mut self, event: &LeadEvent, facts: &mut LeadFacts) {
        let pool = facts.pool_id;
        let day = self.day(event, pool);
        match (facts.state, facts.owner_id.take()) {
            (FactState::Owned, owner) => {
                self.count(pool, day, POOL_ROW, Metric::OwnedDelta, "", -1);
                if let Some(owner) = owner {
                    self.count(pool, day, &owner, Metric::HeldDelta, "", -1);
                }
            }
            (FactState::InPool, _) => {
                self.count(pool, day, POOL_ROW, Metric::InPoolDelta, "", -1);
            }
            (FactState::Closed, _) => {}
        }
        facts.acquired_at = None;
        facts.awaiting_follow_up = false;
        facts.covered_owner = None;
    }

    /// A follow-up; the owner's first since acquiring the lead gives a sample.
    fn follow_up(&mut self, event: &LeadEvent, facts: &mut LeadFacts) {
        let Some(author) = event.to_owner.as_deref() else {
            return;
        };
        let pool = facts.pool_id;
        let day = self.day(event, pool);
        self.count(pool, day, author, Metric::FollowUps, "", 1);
        let first = facts.awaiting_follow_up && facts.owner_id.as_deref() == Some(author);
        if let (true, Some(acquired)) = (first, facts.acquired_at) {
            let took = (event.occurred_at - acquired).num_seconds();
            self.sample(pool, day, POOL_ROW, Metric::FirstFollowUp, took);
            self.sample(pool, day, author, Metric::FirstFollowUp, took);
            facts.awaiting_follow_up = false;
        }
    }

    /// The distributed lead's receiver counts it; every member able to receive it then is
    /// entitled to their share.
    fn entitle(&mut self, event: &LeadEvent, pool: Uuid) {
        let day = self.day(event, pool);
        if let Some(owner) = event.to_owner.as_deref() {
            self.count(pool, day, owner, Metric::Received, "", 1);
        }
        let (total, weights) = self.eligibility.shares(pool, event.occurred_at);
        if total == 0 {
            return;
        }
        let members = self.eligibility.members.get(&pool).map_or(0, Vec::len);
        let entitled = self
            .entitled
            .entry((pool, day, total))
            .or_insert_with(|| vec![None; members]);
        for (member, weight) in weights {
            *entitled[member].get_or_insert(0) += weight;
        }
    }

    fn count(
        &mut self,
        pool: Uuid,
        day: NaiveDate,
        member: &str,
        metric: Metric,
        reason: &str,
        by: i64,
    ) {
        let key = (pool, day, member.to_owned(), metric, reason.to_owned());
        *self.tally.counts.entry(key).or_default() += by;
    }

    fn sample(&mut self, pool: Uuid, day: NaiveDate, member: &str, metric: Metric, seconds: i64) {
        let key = (
            pool,
            day,
            member.to_owned(),
            metric,
            histogram::bin(seconds),
        );
        *self.tally.bins.entry(key).or_default() += 1;
    }
}

/// The facts of a lead first seen in the middle of its history (its earlier events were
/// counted before reports existed for it): where the event says it was.
fn first_facts(event: &LeadEvent) -> LeadFacts {
    let owned = event.from_owner.is_some();
    LeadFacts {
        pool_id: event.pool_id,
        state: if event.kind == EventKind::Created {
            FactState::Closed
        } else if owned {
            FactState::Owned
        } else {
            FactState::InPool
        },
        owner_id: event.from_owner.clone(),
        entered_pool_at: None,
        acquired_at: None,
        awaiting_follow_up: false,
        returned: false,
        covered_owner: None,
    }
}

impl Way {
    fn metric(self) -> Metric {
        match self {
            Self::Claim => Metric::AcquiredClaim,
            Self::Assign => Metric::AcquiredAssign,
            Self::Distribute => Metric::AcquiredDistribute,
            Self::Transfer => Metric::AcquiredTransfer,
            Self::Cover => Metric::AcquiredCover,
        }
    }
}

impl Entry {
    fn entered(self) -> Metric {
        match self {
            Self::Created => Metric::EnteredCreated,
            Self::Released => Metric::EnteredReleased,
            Self::Recycled => Metric::EnteredRecycled,
            Self::Offboarded => Metric::EnteredOffboarded,
            Self::Reopened => Metric::EnteredReopened,
        }
    }

    /// The pool's and the former owner's count of returns, with its reason or cause.
    fn counted_as(self) -> Option<Metric> {
        match self {
            Self::Released => Some(Metric::Released),
            Self::Recycled => Some(Metric::Recycled),
            _ => None,
        }
    }
}
