//! The three reports, assembled from the rollup rows of a range (and, for sizes and holdings,
//! the sums of the deltas before it).

use std::collections::HashMap;

use chrono::NaiveDate;

use super::Metric;
use super::histogram::Histogram;
use super::period::{Bucket, Period};
use crate::domain::recycle::RecycleReason;

/// A pool's rollup count of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRow {
    pub day: NaiveDate,
    pub metric: Metric,
    pub reason: String,
    pub value: i64,
}

/// A pool's count in a histogram bin of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramRow {
    pub day: NaiveDate,
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
pub(super) struct Figures {
    pub(super) counts: HashMap<(Metric, String), i64>,
    pub(super) histograms: HashMap<Metric, Histogram>,
}

impl Figures {
    pub(super) fn get(&self, metric: Metric) -> i64 {
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

    pub(super) fn percentiles(&self, metric: Metric) -> Percentiles {
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
    for row in &rows.counts {
        if let Some(f) = figures.get_mut(index(row.day)) {
            *f.counts
                .entry((row.metric, row.reason.clone()))
                .or_default() += row.value;
        }
    }
    for row in &rows.bins {
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
