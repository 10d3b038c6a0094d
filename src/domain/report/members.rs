//! The member report and the fairness ledger, assembled from each member's totals over a range
//! (summed by the store: a member report over months reads a few rows per member, not one per
//! member, metric and day).

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use super::assemble::{Figures, Percentiles};
use super::period::Period;
use super::{Metric, POOL_ROW};
use crate::domain::{DomainError, Result};

/// A member's total of one metric over a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberTotal {
    pub member_id: String,
    pub metric: Metric,
    pub total: i64,
    /// For `HeldDelta`: the sum of each day's change times the days of the range from that day
    /// on, so the holdings of every day of the range add up without a row per day.
    pub held_days: i64,
    /// For `EntitledMicro`: the eligible weights' total the member's shares are of, and their
    /// weight summed over the leads (their share: `weight ÷ out_of`). `out_of` 0: rows folded
    /// before shares were kept exactly, `total` millionths only.
    pub out_of: i64,
    pub weight: i64,
}

/// A member's count in one histogram bin over a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberBin {
    pub member_id: String,
    pub metric: Metric,
    pub bin: i32,
    pub count: i64,
}

/// What a member report is made of.
#[derive(Debug, Clone, Default)]
pub struct MemberReportRows {
    pub totals: Vec<MemberTotal>,
    pub bins: Vec<MemberBin>,
    /// Each member's holdings when the range began.
    pub held_before: HashMap<String, i64>,
    /// The pool's members (active or not), listed even without rows.
    pub members: Vec<String>,
}

impl MemberReportRows {
    /// Whether `user` has a row: a member of the pool, or a former holder active in the range
    /// (figures in it, or leads held when it began).
    fn lists(&self, user: &str) -> bool {
        self.members.iter().any(|m| m == user)
            || self.totals.iter().any(|r| r.member_id == user)
            || self.bins.iter().any(|r| r.member_id == user)
            || self.held_before.get(user).is_some_and(|&held| held != 0)
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

/// Every member's row over `period`, by user id.
pub fn member_report(period: Period, rows: &MemberReportRows) -> Vec<MemberRow> {
    let mut figures: BTreeMap<&str, (Figures, i64)> = BTreeMap::new();
    for user in rows.members.iter().chain(rows.held_before.keys()) {
        figures.entry(user).or_default();
    }
    for row in rows.totals.iter().filter(|r| r.member_id != POOL_ROW) {
        let (f, held_days) = figures.entry(&row.member_id).or_default();
        *f.counts.entry((row.metric, String::new())).or_default() += row.total;
        if row.metric == Metric::HeldDelta {
            *held_days += row.held_days;
        }
    }
    for row in rows.bins.iter().filter(|r| r.member_id != POOL_ROW) {
        let (f, _) = figures.entry(&row.member_id).or_default();
        f.histograms
            .entry(row.metric)
            .or_default()
            .add(row.bin, row.count);
    }
    let days = period.days();
    figures
        .into_iter()
        .map(|(user, (f, held_days))| {
            let before = rows.held_before.get(user).copied().unwrap_or(0);
            let average_held = (before * days + held_days) as f64 / days as f64;
            member_row(user, &f, average_held)
        })
        .collect()
}

/// `user`'s row over `period` (`rows` read for them alone); `MEMBER_NOT_FOUND` when they have
/// none: a user who never was in the pool (a typo) is not a rep with a quiet range.
pub fn member_report_of(
    pool_id: Uuid,
    period: Period,
    rows: &MemberReportRows,
    user: &str,
) -> Result<Vec<MemberRow>> {
    if !rows.lists(user) {
        return Err(DomainError::MemberNotFound {
            pool_id,
            user_id: user.to_owned(),
        });
    }
    Ok(member_report(period, rows)
        .into_iter()
        .filter(|r| r.user_id == user)
        .collect())
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
    /// `received − entitled`; exactly 0 when they received their share.
    pub deviation: f64,
}

/// The fairness ledger: rows by user id, and the leads distributed.
#[derive(Debug, Clone, PartialEq)]
pub struct Fairness {
    pub rows: Vec<FairnessRow>,
    pub distributed: i64,
    /// The largest deviation in absolute value and whose it is: among equal ones the first by
    /// user id; `None` when every deviation is 0 (nobody's).
    pub largest: Option<(String, f64)>,
}

/// What a member's entitlement rows add up to: millionths (rows folded before shares were
/// kept exactly) and, per eligible weights' total, the member's weight summed.
#[derive(Debug, Default)]
struct Entitled {
    micro: i64,
    weights: BTreeMap<i64, i64>,
}

impl Entitled {
    /// The sum of the fractions, exact to 1e-9: whole leads are summed as integers and only
    /// the fractions left over (one per total, in the totals' order) in floating point, so the
    /// error does not grow with the leads, a sum that is whole comes out whole, and the
    /// answer does not depend on the order the rows come in.
    fn leads(&self) -> f64 {
        let parts = self.weights.iter().map(|(&total, &weight)| (weight, total));
        let (mut whole, mut fraction) = (0, 0.0);
        for (weight, total) in parts.chain([(self.micro, 1_000_000)]) {
            whole += weight.div_euclid(total);
            fraction += weight.rem_euclid(total) as f64 / total as f64;
        }
        // In whole billionths, divided once: the nearest double to the rounded sum.
        let billionths = whole * 1_000_000_000 + (fraction * 1e9).round() as i64;
        billionths as f64 / 1e9
    }
}

/// The ledger from the members' `Received` and `EntitledMicro` totals and the pool's leads
/// distributed.
pub fn fairness(totals: &[MemberTotal], distributed: i64) -> Fairness {
    let mut sums: BTreeMap<&str, (i64, Entitled)> = BTreeMap::new();
    let ledger_rows = |r: &&MemberTotal| {
        r.member_id != POOL_ROW && matches!(r.metric, Metric::Received | Metric::EntitledMicro)
    };
    for row in totals.iter().filter(ledger_rows) {
        let (received, entitled) = sums.entry(&row.member_id).or_default();
        match (row.metric, row.out_of) {
            (Metric::Received, _) => *received += row.total,
            (_, 0) => entitled.micro += row.total,
            (_, out_of) => *entitled.weights.entry(out_of).or_default() += row.weight,
        }
    }
    let rows: Vec<FairnessRow> = sums
        .into_iter()
        .map(|(user, (received, entitled))| {
            let entitled = entitled.leads();
            FairnessRow {
                user_id: user.to_owned(),
                received,
                entitled,
                deviation: received as f64 - entitled,
            }
        })
        .collect();
    Fairness {
        largest: largest_deviation(&rows),
        rows,
        distributed,
    }
}

/// The largest deviation in absolute value, the first by user id among equals; none when all
/// are 0.
fn largest_deviation(rows: &[FairnessRow]) -> Option<(String, f64)> {
    let mut largest: Option<&FairnessRow> = None;
    for row in rows.iter().filter(|r| r.deviation != 0.0) {
        if largest.is_none_or(|l| row.deviation.abs() > l.deviation.abs()) {
            largest = Some(row);
        }
    }
    largest.map(|r| (r.user_id.clone(), r.deviation))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(member: &str, metric: Metric, total: i64, held_days: i64) -> MemberTotal {
        MemberTotal {
            member_id: member.into(),
            metric,
            total,
            held_days,
            out_of: 0,
            weight: 0,
        }
    }

    /// `member`'s entitlement rows: `weight` out of `out_of`, and `received`.
    fn entitled(member: &str, shares: &[(i64, i64)], received: i64) -> Vec<MemberTotal> {
        let share = |&(weight, out_of)| MemberTotal {
            out_of,
            weight,
            ..total(member, Metric::EntitledMicro, 0, 0)
        };
        let mut rows: Vec<MemberTotal> = shares.iter().map(share).collect();
        rows.push(total(member, Metric::Received, received, 0));
        rows
    }

    fn ledger(f: &Fairness) -> Vec<(&str, i64, f64, f64)> {
        f.rows
            .iter()
            .map(|r| (r.user_id.as_str(), r.received, r.entitled, r.deviation))
            .collect()
    }

    #[test]
    fn entitlements_add_up_exactly_and_an_exact_share_deviates_by_nothing() {
        // A third of each of 3 leads; a seventh of each of 14; a third of 2 then a half of 1.
        let mut rows = entitled("ana", &[(3, 3)], 1);
        rows.extend(entitled("ben", &[(14, 7)], 2));
        rows.extend(entitled("cai", &[(2, 3), (1, 2), (0, 5)], 1));
        let f = fairness(&rows, 6);
        // 2/3 + 1/2, to 1e-9 of a lead.
        let cai = 1.166_666_667;
        let want = [
            ("ana", 1, 1.0, 0.0),
            ("ben", 2, 2.0, 0.0),
            ("cai", 1, cai, 1.0 - cai),
        ];
        assert_eq!(ledger(&f), want);
        assert_eq!(f.largest, Some(("cai".into(), 1.0 - cai)));
        // Rows folded before shares were exact (millionths) add to the exact ones.
        rows.push(total("ana", Metric::EntitledMicro, 1_000_000, 0));
        assert_eq!(fairness(&rows, 7).rows[0].entitled, 2.0);
    }

    #[test]
    fn the_largest_deviation_is_the_first_by_user_id_among_equals_and_nobodys_when_none() {
        let mut rows = entitled("ana", &[(3, 3)], 1);
        rows.extend(entitled("ben", &[(3, 3)], 1));
        rows.push(total("cai", Metric::FollowUps, 4, 0));
        let even = fairness(&rows, 2);
        assert_eq!(even.largest, None);
        assert_eq!(even.rows.len(), 2, "cai was neither entitled nor given any");
        // Weights 1 and 2, three leads: entitled 1 and 2, received 2 and 1.
        let mut rows = entitled("dai", &[(3, 3)], 2);
        rows.extend(entitled("eli", &[(6, 3)], 1));
        let f = fairness(&rows, 3);
        assert_eq!(ledger(&f), [("dai", 2, 1.0, 1.0), ("eli", 1, 2.0, -1.0)]);
        assert_eq!(f.largest, Some(("dai".into(), 1.0)));
        rows.reverse();
        assert_eq!(fairness(&rows, 3), f);
    }

    #[test]
    fn the_fairness_ledger_does_not_depend_on_the_order_of_its_rows() {
        // Thirds of a lead: summed as floats these come out differently in different orders.
        let mut rows: Vec<MemberTotal> = [333_333, 333_334, 333_333, 1, 999_999, 142_857]
            .into_iter()
            .map(|micro| total("alice", Metric::EntitledMicro, micro, 0))
            .collect();
        let forward = fairness(&rows, 3);
        rows.reverse();
        assert_eq!(fairness(&rows, 3), forward);
        assert_eq!(forward.rows[0].entitled, 2.142857);
        assert_eq!(forward.distributed, 3);
    }

    #[test]
    fn average_holdings_count_the_holdings_before_the_range_on_every_day() {
        let period =
            Period::new("2026-03-01".parse().unwrap(), "2026-03-05".parse().unwrap()).unwrap();
        // Alice held 2 before; +3 on the 2nd day (held for 3 of the 4 days), -1 on the 4th (1 day):
        // 2, 5, 5, 4 → 16 / 4.
        let rows = MemberReportRows {
            totals: vec![total("alice", Metric::HeldDelta, 2, 3 * 3 - 1)],
            held_before: HashMap::from([("alice".to_owned(), 2)]),
            members: vec!["alice".into(), "bob".into()],
            ..Default::default()
        };
        let report = member_report(period, &rows);
        assert_eq!(report.len(), 2);
        assert_eq!(report[0].average_held, 4.0);
        assert_eq!(
            (report[1].user_id.as_str(), report[1].average_held),
            ("bob", 0.0)
        );
    }

    #[test]
    fn a_user_has_a_row_as_a_member_or_a_former_holder_active_in_the_range() {
        let period =
            Period::new("2026-03-01".parse().unwrap(), "2026-03-08".parse().unwrap()).unwrap();
        let pool = Uuid::nil();
        let ask = |rows: &MemberReportRows, user: &str| {
            member_report_of(pool, period, rows, user)
                .ok()
                .map(|r| r.len())
        };
        let member = MemberReportRows {
            members: vec!["alice".into()],
            ..Default::default()
        };
        assert_eq!(ask(&member, "alice"), Some(1));
        let ghost = member_report_of(pool, period, &member, "alicee");
        assert!(
            matches!(&ghost, Err(DomainError::MemberNotFound { user_id, .. }) if user_id == "alicee"),
            "{ghost:?}"
        );
        let released = MemberReportRows {
            totals: vec![total("bob", Metric::Released, 1, 0)],
            ..Default::default()
        };
        assert_eq!(ask(&released, "bob"), Some(1));
        let holding = |held| MemberReportRows {
            held_before: HashMap::from([("bob".to_owned(), held)]),
            ..Default::default()
        };
        assert_eq!(ask(&holding(2), "bob"), Some(1));
        assert_eq!(ask(&holding(0), "bob"), None, "held nothing, did nothing");
    }
}
