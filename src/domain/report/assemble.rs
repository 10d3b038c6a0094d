//! The three reports, assembled from the rollup rows of a range (and, for sizes and holdings,
//! the sums of the deltas before it).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use super::histogram::Histogram;
use super::period::{Bucket, Period};
use super::{Metric, POOL_ROW};
use crate::domain::recycle::RecycleReason;

/// A rollup count of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRow {
    pub day: NaiveDate,
    pub member_id: String,
    pub metric: Metric,
    pub reason: String,
    pub value: i64,
}

/// A histogram bin's count of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramRow {
    pub day: NaiveDate,
    pub member_id: String,
    pub metric: Metric,
    pub bin: i32,
    pub count: i64,
}

/// What a pool report is made of: the pool's rows of the range, and its size before it.
#[derive(Debug, Clone, Default)]
pub struct PoolReportRows {
    pub counts: Vec<CountRow>,
    pub bins: Vec<HistogramRow>,
    pub in_pool_before: i64,
    pub owned_before: i64,
}

/// Percentiles of durations, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    pub count: i64,
    pub p50: i64,
    pub p90: i64,
}

impl From<&Histogram> for Percentiles {
    fn from(h: &Histogram) -> Self {
        Self {
            count: h.count(),
            p50: h.percentile(0.5),
            p90: h.percentile(0.9),
        }
    }
}

/// The figures of one bucket, by metric and reason.
#[derive(Debug, Clone, Default)]
struct Figures {
    counts: HashMap<(Metric, String), i64>,
    histograms: HashMap<Metric, Histogram>,
}

impl Figures {
    fn get(&self, metric: Metric) -> i64 {
        self.reasons(metric).map(|(_, n)| n).sum()
    }

    fn reason(&self, metric: Metric, reason: &str) -> i64 {
        self.counts
            .get(&(metric, reason.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    fn reasons(&self, metric: Metric) -> impl Iterator<Item = (&str, i64)> {
        self.counts
            .iter()
            .filter(move |((m, _), _)| *m == metric)
            .map(|((_, reason), n)| (reason.as_str(), *n))
    }

    fn percentiles(&self, metric: Metric) -> Percentiles {
        self.histograms
            .get(&metric)
            .map(Percentiles::from)
            .unwrap_or_default()
    }
}

/// One bucket of a pool report.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolBucket {
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// Created, released, recycled, moved in, offboarded, reopened.
    pub entered: [i64; 6],
    pub claimed: i64,
    pub assigned: i64,
    pub distributed: i64,
    pub acquired: i64,
    /// Most first, then by reason.
    pub released_by_reason: Vec<(String, i64)>,
    /// Follow-up, close, accept timeout.
    pub recycled: [i64; 3],
    pub converted: i64,
    pub discarded: i64,
    pub time_to_owner: Percentiles,
    pub time_to_first_follow_up: Percentiles,
    /// Acquired and converted, of leads returned before and of leads never returned.
    pub returned: (i64, i64),
    pub never_returned: (i64, i64),
    pub in_pool_at_end: i64,
    pub owned_at_end: i64,
}

/// `part` ÷ `whole`, 0 when there is no whole.
pub fn rate(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The pool report of `period` in `bucket`s.
pub fn pool_report(period: Period, bucket: Bucket, rows: &PoolReportRows) -> Vec<PoolBucket> {
    let spans = bucket.split(period);
    let index = |day: NaiveDate| spans.partition_point(|(_, end)| *end <= day);
    let mut figures = vec![Figures::default(); spans.len()];
    for row in rows.counts.iter().filter(|r| r.member_id == POOL_ROW) {
        if let Some(f) = figures.get_mut(index(row.day)) {
            *f.counts
                .entry((row.metric, row.reason.clone()))
                .or_default() += row.value;
        }
    }
    for row in rows.bins.iter().filter(|r| r.member_id == POOL_ROW) {
        if let Some(f) = figures.get_mut(index(row.day)) {
            f.histograms
                .entry(row.metric)
                .or_default()
                .add(row.bin, row.count);
        }
    }
    let (mut in_pool, mut owned) = (rows.in_pool_before, rows.owned_before);
    spans
        .iter()
        .zip(&figures)
        .map(|(&(start, end), f)| {
            in_pool += f.get(Metric::InPoolDelta);
            owned += f.get(Metric::OwnedDelta);
            pool_bucket(start, end, f, in_pool, owned)
        })
        .collect()
}

fn pool_bucket(
    start: NaiveDate,
    end: NaiveDate,
    f: &Figures,
    in_pool: i64,
    owned: i64,
) -> PoolBucket {
    let mut released: Vec<(String, i64)> = f
        .reasons(Metric::Released)
        .map(|(reason, n)| (reason.to_owned(), n))
        .collect();
    released.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let cause = |c: RecycleReason| f.reason(Metric::Recycled, c.as_str());
    let (acquired, converted) = (f.get(Metric::Acquired), f.get(Metric::Converted));
    let returned = (
        f.get(Metric::AcquiredReturned),
        f.get(Metric::ConvertedReturned),
    );
    PoolBucket {
        start,
        end,
        entered: [
            Metric::EnteredCreated,
            Metric::EnteredReleased,
            Metric::EnteredRecycled,
            Metric::EnteredMovedIn,
            Metric::EnteredOffboarded,
            Metric::EnteredReopened,
        ]
        .map(|m| f.get(m)),
        claimed: f.get(Metric::Claimed),
        assigned: f.get(Metric::Assigned),
        distributed: f.get(Metric::Distributed),
        acquired,
        released_by_reason: released,
        recycled: [
            RecycleReason::FollowUpOverdue,
            RecycleReason::CloseOverdue,
            RecycleReason::AcceptTimeout,
        ]
        .map(cause),
        converted,
        discarded: f.get(Metric::Discarded),
        time_to_owner: f.percentiles(Metric::TimeToOwner),
        time_to_first_follow_up: f.percentiles(Metric::FirstFollowUp),
        returned,
        never_returned: (acquired - returned.0, converted - returned.1),
        in_pool_at_end: in_pool,
        owned_at_end: owned,
    }
}

/// One member's results over a range.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRow {
    pub user_id: String,
    /// Claim, assign, distribute, transfer in, cover.
    pub acquired: [i64; 5],
    pub released: i64,
    pub recycled_away: i64,
    pub converted: i64,
    pub follow_ups: i64,
    pub time_to_first_follow_up: Percentiles,
    pub average_held: f64,
}

/// Every member's row over `period`: `counts` and `bins` are the members' rows of the range,
/// `held_before` each member's holdings when it began; `members` are listed even without rows.
pub fn member_report(
    period: Period,
    counts: &[CountRow],
    bins: &[HistogramRow],
    held_before: &HashMap<String, i64>,
    members: &[String],
) -> Vec<MemberRow> {
    let mut figures: BTreeMap<&str, Figures> = BTreeMap::new();
    for user in members.iter().chain(held_before.keys()) {
        figures.entry(user).or_default();
    }
    let mut held_by_day: HashMap<(&str, NaiveDate), i64> = HashMap::new();
    for row in counts.iter().filter(|r| r.member_id != POOL_ROW) {
        let f = figures.entry(&row.member_id).or_default();
        *f.counts.entry((row.metric, String::new())).or_default() += row.value;
        if row.metric == Metric::HeldDelta {
            *held_by_day.entry((&row.member_id, row.day)).or_default() += row.value;
        }
    }
    for row in bins.iter().filter(|r| r.member_id != POOL_ROW) {
        let f = figures.entry(&row.member_id).or_default();
        f.histograms
            .entry(row.metric)
            .or_default()
            .add(row.bin, row.count);
    }
    let days: Vec<NaiveDate> = period.days().collect();
    figures
        .into_iter()
        .map(|(user, f)| {
            let mut held = held_before.get(user).copied().unwrap_or(0);
            let total: i64 = days
                .iter()
                .map(|day| {
                    held += held_by_day.get(&(user, *day)).copied().unwrap_or(0);
                    held
                })
                .sum();
            member_row(user, &f, total as f64 / days.len() as f64)
        })
        .collect()
}

fn member_row(user: &str, f: &Figures, average_held: f64) -> MemberRow {
    MemberRow {
        user_id: user.to_owned(),
        acquired: [
            Metric::AcquiredClaim,
            Metric::AcquiredAssign,
            Metric::AcquiredDistribute,
            Metric::AcquiredTransfer,
            Metric::AcquiredCover,
        ]
        .map(|m| f.get(m)),
        released: f.get(Metric::Released),
        recycled_away: f.get(Metric::Recycled),
        converted: f.get(Metric::Converted),
        follow_ups: f.get(Metric::FollowUps),
        time_to_first_follow_up: f.percentiles(Metric::FirstFollowUp),
        average_held,
    }
}

/// A member's received and entitled leads.
#[derive(Debug, Clone, PartialEq)]
pub struct FairnessRow {
    pub user_id: String,
    pub received: i64,
    pub entitled: f64,
}

/// The fairness ledger: rows by user id, and the leads distributed.
#[derive(Debug, Clone, PartialEq)]
pub struct Fairness {
    pub rows: Vec<FairnessRow>,
    pub distributed: i64,
}

/// The ledger from the range's `Received`, `EntitledMicro` and pool `Distributed` rows. Shares
/// are summed as whole millionths and divided once, so the answer does not depend on the order
/// the rows come in.
pub fn fairness(counts: &[CountRow]) -> Fairness {
    let mut sums: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut distributed = 0;
    for row in counts {
        match (row.metric, row.member_id.as_str()) {
            (Metric::Distributed, POOL_ROW) => distributed += row.value,
            (Metric::Received, user) if user != POOL_ROW => {
                sums.entry(user).or_default().0 += row.value
            }
            (Metric::EntitledMicro, user) if user != POOL_ROW => {
                sums.entry(user).or_default().1 += row.value;
            }
            _ => {}
        }
    }
    let rows = sums
        .into_iter()
        .map(|(user, (received, micro))| FairnessRow {
            user_id: user.to_owned(),
            received,
            entitled: micro as f64 / 1_000_000.0,
        })
        .collect();
    Fairness { rows, distributed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fairness_ledger_does_not_depend_on_the_order_of_its_rows() {
        let day = "2026-03-02".parse().unwrap();
        let share = |value| CountRow {
            day,
            member_id: "alice".into(),
            metric: Metric::EntitledMicro,
            reason: String::new(),
            value,
        };
        // Thirds of a lead: summed as floats these come out differently in different orders.
        let mut rows: Vec<CountRow> = [333_333, 333_334, 333_333, 1, 999_999, 142_857]
            .into_iter()
            .map(share)
            .collect();
        let forward = fairness(&rows);
        rows.reverse();
        assert_eq!(fairness(&rows), forward);
        assert_eq!(forward.rows[0].entitled, 2.142857);
    }
}
