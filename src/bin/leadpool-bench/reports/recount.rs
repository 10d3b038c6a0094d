//! The `report` scenario's recount: the figures of the three reports counted again straight from
//! `lead_events` with SQL (days of the pool's zone), compared one by one with the answers; and
//! the seeded history's own checks (replayed step by step, follow-ups and conversions included).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use sqlx::PgConnection;
use uuid::Uuid;

use leadpool::proto::{
    GetDistributionFairnessResponse, GetMemberReportResponse, GetPoolReportResponse,
    PoolReportBucket,
};

use super::{Calls, Compare, ZONE};
use crate::Result;
use crate::seed::TENANT;

/// Time to an owner: acquisitions straight after entering the pool; first follow-up: a
/// follow-up straight after an acquisition (how the seeded histories go).
const TO_OWNER: &str = "kind IN ('CLAIMED', 'DISTRIBUTED')
                        AND prev_kind IN ('CREATED', 'RELEASED', 'RECYCLED')";
const FIRST_FOLLOW_UP: &str = "kind = 'FOLLOWED_UP' AND prev_kind IN ('CLAIMED', 'DISTRIBUTED')";

/// The pool figures of a day, in the order of [`pool_figures`].
const POOL_FIGURES: [&str; 20] = [
    "claimed",
    "assigned",
    "distributed",
    "acquired",
    "released",
    "recycled FOLLOW_UP_OVERDUE",
    "recycled CLOSE_OVERDUE",
    "recycled ACCEPT_TIMEOUT",
    "recycled",
    "converted",
    "discarded",
    "entered: created",
    "entered: released",
    "entered: recycled",
    "entered: moved in, offboarded, reopened",
    "entered",
    "acquired after a return",
    "converted after a return",
    "time to owner: samples",
    "first follow-up: samples",
];
const POOL_SQL: &str = "count(*) FILTER (WHERE kind = 'CLAIMED'),
    count(*) FILTER (WHERE kind = 'ASSIGNED' OR (kind = 'CREATED' AND to_owner IS NOT NULL)),
    count(*) FILTER (WHERE kind = 'DISTRIBUTED'),
    count(*) FILTER (WHERE kind IN ('CLAIMED', 'DISTRIBUTED')),
    count(*) FILTER (WHERE kind = 'RELEASED'),
    count(*) FILTER (WHERE kind = 'RECYCLED' AND reason = 'FOLLOW_UP_OVERDUE'),
    count(*) FILTER (WHERE kind = 'RECYCLED' AND reason = 'CLOSE_OVERDUE'),
    count(*) FILTER (WHERE kind = 'RECYCLED' AND reason = 'ACCEPT_TIMEOUT'),
    count(*) FILTER (WHERE kind = 'RECYCLED'),
    count(*) FILTER (WHERE kind = 'CONVERTED'),
    count(*) FILTER (WHERE kind = 'DISCARDED'),
    count(*) FILTER (WHERE kind = 'CREATED' AND to_owner IS NULL),
    count(*) FILTER (WHERE kind = 'RELEASED'),
    count(*) FILTER (WHERE kind = 'RECYCLED'),
    count(*) FILTER (WHERE kind IN ('MOVED', 'OFFBOARDED', 'REOPENED')),
    count(*) FILTER (WHERE kind IN ('RELEASED', 'RECYCLED')
                        OR (kind = 'CREATED' AND to_owner IS NULL)),
    count(*) FILTER (WHERE kind IN ('CLAIMED', 'DISTRIBUTED') AND returned),
    count(*) FILTER (WHERE kind = 'CONVERTED' AND returned)";

fn pool_figures(b: &PoolReportBucket) -> [i64; 20] {
    let (e, r) = (
        b.entered.unwrap_or_default(),
        b.recycled.unwrap_or_default(),
    );
    let c = b.conversion.unwrap_or_default();
    let samples =
        |p: &Option<leadpool::proto::DurationPercentiles>| p.as_ref().map_or(0, |p| p.count);
    [
        b.claimed,
        b.assigned,
        b.distributed,
        b.acquired,
        b.released_by_reason.iter().map(|r| r.count).sum(),
        r.follow_up,
        r.close,
        r.accept_timeout,
        r.total,
        b.converted,
        b.discarded,
        e.created,
        e.released,
        e.recycled,
        e.moved_in + e.offboarded + e.reopened,
        e.total,
        c.returned_acquired,
        c.returned_converted,
        samples(&b.time_to_owner),
        samples(&b.time_to_first_follow_up),
    ]
}

/// p50 and p90 in whole seconds.
fn seconds(p: &Option<leadpool::proto::DurationPercentiles>) -> [i64; 2] {
    let s = |d: &Option<prost_types::Duration>| d.as_ref().map_or(0, |d| d.seconds);
    p.as_ref().map_or([0, 0], |p| [s(&p.p50), s(&p.p90)])
}

/// `coalesce(percentile_disc(q) … FILTER (WHERE cond), 0)` for p50 and p90.
fn percentiles(cond: &str) -> String {
    [0.5, 0.9]
        .map(|q| {
            format!(
                "coalesce(percentile_disc({q}) WITHIN GROUP (ORDER BY gap) FILTER (WHERE {cond}), 0)"
            )
        })
        .join(", ")
}

/// The figures of the range as SQL counts them.
pub struct Recount {
    days: Vec<NaiveDate>,
    /// Per day: the pool figures, and p50/p90 of time to owner and to the first follow-up.
    pool: HashMap<NaiveDate, (Vec<i64>, Vec<i64>)>,
    /// In the pool and owned at each day's end.
    sizes: Vec<(i64, i64)>,
    released: BTreeMap<String, i64>,
    /// Per member: acquired by claim, by distribution, in all; released, recycled away,
    /// converted, follow-ups, first follow-ups; and p50/p90 to the first follow-up.
    members: HashMap<String, (Vec<i64>, Vec<i64>)>,
    average_held: HashMap<String, f64>,
    weights: Vec<(String, i32)>,
}

type Deltas = Vec<(String, NaiveDate, i64, i64)>;

/// `tenant_id = … AND pool_id = …`, and a day's start in the pool's zone, for the statements.
struct Scope {
    filter: String,
    from: String,
    to: String,
}

impl Recount {
    pub async fn gather(
        conn: &mut PgConnection,
        pool_id: Uuid,
        (from, to): (NaiveDate, NaiveDate),
    ) -> Result<Self> {
        let at = |day: NaiveDate| format!("('{day}'::timestamp AT TIME ZONE '{ZONE}')");
        let scope = Scope {
            filter: format!("tenant_id = '{TENANT}' AND pool_id = '{pool_id}'"),
            from: at(from),
            to: at(to),
        };
        sqlx::raw_sql(&recount_table(&scope))
            .execute(&mut *conn)
            .await?;
        let pool: Vec<(NaiveDate, Vec<i64>, Vec<i64>)> = sqlx::query_as(&format!(
            "SELECT day, ARRAY[{POOL_SQL}, count(*) FILTER (WHERE {TO_OWNER}),
                               count(*) FILTER (WHERE {FIRST_FOLLOW_UP})],
                    ARRAY[{}, {}] FROM recount GROUP BY day",
            percentiles(TO_OWNER),
            percentiles(FIRST_FOLLOW_UP)
        ))
        .fetch_all(&mut *conn)
        .await?;
        let released: Vec<(String, i64)> = sqlx::query_as(
            "SELECT coalesce(reason, ''), count(*) FROM recount WHERE kind = 'RELEASED' GROUP BY 1",
        )
        .fetch_all(&mut *conn)
        .await?;
        let members: Vec<(String, Vec<i64>, Vec<i64>)> =
            sqlx::query_as(&member_sql()).fetch_all(&mut *conn).await?;
        let deltas: Deltas = sqlx::query_as(&deltas_sql(&scope))
            .fetch_all(&mut *conn)
            .await?;
        let weights = sqlx::query_as(&format!(
            "SELECT user_id, weight FROM members WHERE {}",
            scope.filter
        ))
        .fetch_all(&mut *conn)
        .await?;
        sqlx::raw_sql("DROP TABLE recount")
            .execute(&mut *conn)
            .await?;
        let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d < to).collect();
        let (sizes, average_held) = running(&deltas, &days);
        Ok(Self {
            pool: pool.into_iter().map(|(d, c, p)| (d, (c, p))).collect(),
            released: released.into_iter().collect(),
            members: members.into_iter().map(|(m, c, p)| (m, (c, p))).collect(),
            days,
            sizes,
            average_held,
            weights,
        })
    }

    /// Every figure of the answers (the first of each report's calls) against the recount.
    pub fn compare(&self, calls: &Calls) -> Vec<Compare> {
        let mut compared = self.compare_pool(calls.pool.first.as_ref());
        compared.extend(self.compare_members(calls.members.first.as_ref()));
        compared.push(self.compare_fairness(calls.fairness.first.as_ref()));
        compared
    }

    fn compare_pool(&self, answer: Option<&GetPoolReportResponse>) -> Vec<Compare> {
        let mut counts = Compare::new("GetPoolReport counts of every DAY bucket = recount");
        let mut sizes =
            Compare::new("GetPoolReport in pool / owned at each bucket's end = recount");
        let mut times =
            Compare::new("GetPoolReport time to owner / first follow-up p50, p90 = exact ± 1%");
        let buckets = answer.map_or(&[][..], |a| &a.buckets[..]);
        counts.eq(
            || "DAY buckets".into(),
            buckets.len() as i64,
            self.days.len() as i64,
        );
        let none = (vec![0; 20], vec![0; 4]);
        for (b, (day, size)) in buckets.iter().zip(self.days.iter().zip(&self.sizes)) {
            let misplaced = i64::from(b.start_date != day.to_string());
            counts.eq(
                || format!("{day}: bucket of {}", b.start_date),
                misplaced,
                0,
            );
            let (want, want_times) = self.pool.get(day).unwrap_or(&none);
            for ((label, got), want) in POOL_FIGURES.iter().zip(pool_figures(b)).zip(want) {
                counts.eq(|| format!("{day} {label}"), got, *want);
            }
            let got_times = [
                seconds(&b.time_to_owner),
                seconds(&b.time_to_first_follow_up),
            ];
            for (i, (got, want)) in got_times.concat().iter().zip(want_times).enumerate() {
                times.percentile(|| format!("{day} duration #{i}"), *got, *want);
            }
            sizes.eq(|| format!("{day} in pool"), b.in_pool_at_end, size.0);
            sizes.eq(|| format!("{day} owned"), b.owned_at_end, size.1);
        }
        vec![counts, sizes, times, self.compare_reasons(buckets)]
    }

    /// The release reasons summed over the buckets.
    fn compare_reasons(&self, buckets: &[PoolReportBucket]) -> Compare {
        let mut reasons = Compare::new("GetPoolReport released by reason = recount");
        let mut got: BTreeMap<&str, i64> = BTreeMap::new();
        for r in buckets.iter().flat_map(|b| &b.released_by_reason) {
            *got.entry(&r.reason).or_default() += r.count;
        }
        for reason in got
            .keys()
            .copied()
            .chain(self.released.keys().map(|k| k.as_str()))
        {
            let want = self.released.get(reason).copied().unwrap_or(0);
            let report = got.get(reason).copied().unwrap_or(0);
            reasons.eq(|| format!("released {reason}"), report, want);
        }
        reasons
    }

    fn compare_members(&self, answer: Option<&GetMemberReportResponse>) -> Vec<Compare> {
        let mut counts = Compare::new("GetMemberReport counts and average held = recount");
        let mut times = Compare::new("GetMemberReport first follow-up p50, p90 = exact ± 1%");
        let rows = answer.map_or(&[][..], |a| &a.members[..]);
        counts.eq(
            || "rows".into(),
            rows.len() as i64,
            self.weights.len() as i64,
        );
        let none = (vec![0; 8], vec![0; 2]);
        for row in rows {
            let user = &row.user_id;
            let (want, want_times) = self.members.get(user).unwrap_or(&none);
            let a = row.acquired.unwrap_or_default();
            let t = row.time_to_first_follow_up.as_ref().map_or(0, |t| t.count);
            let got = [
                a.claim,
                a.distribute,
                a.total,
                row.released,
                row.recycled_away,
                row.converted,
                row.follow_ups,
                t,
            ];
            for (i, (got, want)) in got.iter().zip(want).enumerate() {
                counts.eq(|| format!("{user} figure #{i}"), *got, *want);
            }
            for (i, (got, want)) in seconds(&row.time_to_first_follow_up)
                .iter()
                .zip(want_times)
                .enumerate()
            {
                times.percentile(|| format!("{user} duration #{i}"), *got, *want);
            }
            let held = self.average_held.get(user).copied().unwrap_or(0.0);
            counts.near(
                || format!("{user} average held"),
                row.average_held,
                held,
                1e-9,
            );
        }
        vec![counts, times]
    }

    /// Every member could receive every lead (active, joined before the year, never away):
    /// entitled = distributed × the member's weight ÷ the weights' total.
    fn compare_fairness(&self, answer: Option<&GetDistributionFairnessResponse>) -> Compare {
        let mut fair = Compare::new("GetDistributionFairness = recount");
        let Some(answer) = answer else {
            fair.eq(|| "an answer".into(), 0, 1);
            return fair;
        };
        let received = |user: &str| self.members.get(user).map_or(0, |(c, _)| c[1]);
        let distributed: i64 = self.members.values().map(|(c, _)| c[1]).sum();
        let total: i64 = self.weights.iter().map(|(_, w)| i64::from(*w)).sum();
        fair.eq(|| "distributed".into(), answer.distributed, distributed);
        fair.eq(
            || "rows".into(),
            answer.members.len() as i64,
            self.weights.len() as i64,
        );
        let rows: HashMap<&str, _> = answer
            .members
            .iter()
            .map(|r| (r.user_id.as_str(), r))
            .collect();
        let mut largest: f64 = 0.0;
        for (user, weight) in &self.weights {
            let entitled = (distributed * i64::from(*weight)) as f64 / total.max(1) as f64;
            let Some(row) = rows.get(user.as_str()) else {
                fair.eq(|| format!("{user}'s row"), 0, 1);
                continue;
            };
            fair.eq(|| format!("{user} received"), row.received, received(user));
            fair.near(|| format!("{user} entitled"), row.entitled, entitled, 1e-6);
            let deviation = received(user) as f64 - entitled;
            fair.near(
                || format!("{user} deviation"),
                row.deviation,
                deviation,
                1e-6,
            );
            largest = if deviation.abs() > largest.abs() {
                deviation
            } else {
                largest
            };
        }
        let got = answer.largest_deviation.abs();
        fair.near(|| "largest deviation".into(), got, largest.abs(), 1e-6);
        fair
    }
}

/// Every event of the range, with the step before it in its lead's whole history.
fn recount_table(scope: &Scope) -> String {
    let Scope { filter, from, to } = scope;
    format!(
        "CREATE TEMP TABLE recount AS SELECT * FROM (
             SELECT e.kind, e.reason, e.from_owner, e.to_owner, e.occurred_at,
                    (e.occurred_at AT TIME ZONE '{ZONE}')::date AS day,
                    lag(e.kind) OVER w AS prev_kind,
                    floor(extract(epoch FROM e.occurred_at - lag(e.occurred_at) OVER w))::bigint
                        AS gap,
                    coalesce(bool_or(e.kind IN ('RELEASED', 'RECYCLED')) OVER (w ROWS BETWEEN
                             UNBOUNDED PRECEDING AND 1 PRECEDING), false) AS returned
             FROM lead_events e
             WHERE e.{filter} AND e.occurred_at < {to} AND e.lead_id IN (
                 SELECT lead_id FROM lead_events
                 WHERE {filter} AND occurred_at >= {from} AND occurred_at < {to})
             WINDOW w AS (PARTITION BY e.lead_id ORDER BY e.seq)) s
         WHERE s.occurred_at >= {from}"
    )
}

/// Per member of the range: the figures of [`Recount::members`].
fn member_sql() -> String {
    format!(
        "SELECT coalesce(to_owner, from_owner),
                ARRAY[count(*) FILTER (WHERE kind = 'CLAIMED'),
                      count(*) FILTER (WHERE kind = 'DISTRIBUTED'),
                      count(*) FILTER (WHERE kind IN ('CLAIMED', 'DISTRIBUTED')),
                      count(*) FILTER (WHERE kind = 'RELEASED'),
                      count(*) FILTER (WHERE kind = 'RECYCLED'),
                      count(*) FILTER (WHERE kind = 'CONVERTED'),
                      count(*) FILTER (WHERE kind = 'FOLLOWED_UP'),
                      count(*) FILTER (WHERE {FIRST_FOLLOW_UP})],
                ARRAY[{}]
         FROM recount WHERE coalesce(to_owner, from_owner) IS NOT NULL GROUP BY 1",
        percentiles(FIRST_FOLLOW_UP)
    )
}

/// Held (by member, '' for none) and in-pool changes of every day before the range's end.
fn deltas_sql(scope: &Scope) -> String {
    let Scope { filter, to, .. } = scope;
    format!(
        "SELECT coalesce(to_owner, from_owner, ''), (occurred_at AT TIME ZONE '{ZONE}')::date,
                sum(CASE WHEN kind IN ('CLAIMED', 'DISTRIBUTED') THEN 1
                         WHEN kind IN ('RELEASED', 'RECYCLED', 'CONVERTED') THEN -1
                         ELSE 0 END)::bigint,
                sum(CASE WHEN kind IN ('RELEASED', 'RECYCLED')
                              OR (kind = 'CREATED' AND to_owner IS NULL) THEN 1
                         WHEN kind IN ('CLAIMED', 'DISTRIBUTED') THEN -1 ELSE 0 END)::bigint
         FROM lead_events WHERE {filter} AND occurred_at < {to} AND kind <> 'FOLLOWED_UP'
         GROUP BY 1, 2"
    )
}

/// Pool sizes at each day's end, and each member's mean of leads held at the days' ends.
fn running(deltas: &Deltas, days: &[NaiveDate]) -> (Vec<(i64, i64)>, HashMap<String, f64>) {
    let mut pool: BTreeMap<NaiveDate, (i64, i64)> = BTreeMap::new();
    let mut members: HashMap<&str, BTreeMap<NaiveDate, (i64, i64)>> = HashMap::new();
    for (member, day, held, in_pool) in deltas {
        let sizes = pool.entry(*day).or_default();
        sizes.0 += in_pool;
        sizes.1 += held;
        if !member.is_empty() {
            members
                .entry(member)
                .or_default()
                .entry(*day)
                .or_default()
                .0 += held;
        }
    }
    let average = members
        .into_iter()
        .map(|(member, series)| {
            let total: i64 = at_day_ends(&series, days)
                .iter()
                .map(|(held, _)| held)
                .sum();
            (member.to_owned(), total as f64 / days.len().max(1) as f64)
        })
        .collect();
    (at_day_ends(&pool, days), average)
}

/// Running sums of `series` at the end of each of `days`.
fn at_day_ends(series: &BTreeMap<NaiveDate, (i64, i64)>, days: &[NaiveDate]) -> Vec<(i64, i64)> {
    let mut sums = (0, 0);
    let mut next = series.iter().peekable();
    days.iter()
        .map(|day| {
            while let Some((_, (a, b))) = next.next_if(|(d, _)| *d <= day) {
                sums = (sums.0 + a, sums.1 + b);
            }
            sums
        })
        .collect()
}
