//! Reports over ranges holding whole months, which read those months from the month rollups:
//! each member's figures over the range equal the sums of the same reports asked day by day
//! (read from the day rollups only), and a recount from `lead_events`.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use leadpool::proto;

use crate::caller::Client;
use crate::fixtures;
use crate::harness::{TestApp, start_time};

/// Alice follows up an hour after she claims, bob five hours after.
const FOLLOW_UP_HOURS: [(&str, i64); 2] = [("alice", 1), ("bob", 5)];
const FROM: &str = "2026-03-10";
/// April and May whole, March and June in part.
const TO: &str = "2026-06-05";

/// Every third day from Monday 2026-03-02 (17:00 in Shanghai) for a hundred days: a lead
/// claimed by alice or bob in turn, followed up, then kept, released or converted; every fourth
/// round one more lead distributed round-robin.
async fn history(app: &TestApp, pool_id: &str) {
    for round in 0..34 {
        let start = start_time() + Duration::days(3 * round);
        app.clock.set(start);
        let lead = app
            .as_service()
            .create_in(pool_id, fixtures::new_lead(&format!("月报客户 {round}")))
            .await
            .id;
        let (user, hours) = FOLLOW_UP_HOURS[round as usize % 2];
        let owner = app.as_member(user);
        owner.claim(&lead).await;
        app.clock.set(start + Duration::hours(hours));
        owner.follow_up(&lead).await;
        app.clock.set(start + Duration::hours(6));
        match round % 3 {
            1 => drop(owner.release(&lead, "NO_BUDGET").await),
            2 => drop(owner.convert(&lead).await),
            _ => {}
        }
        if round % 4 == 0 {
            app.as_service()
                .create_in(pool_id, fixtures::new_lead(&format!("分配客户 {round}")))
                .await;
            let request = proto::DistributeRequest {
                pool_id: pool_id.into(),
                strategy: proto::DistributionStrategy::RoundRobin.into(),
                ..Default::default()
            };
            app.as_admin().distribute(request).await;
        }
    }
}

/// The figures compared, summed over days: acquired by each way, released, recycled away,
/// converted, follow-ups, first follow-ups counted, and received by distribution.
type Sums = [i64; 11];

fn sums(row: &proto::MemberReportRow, received: i64) -> Sums {
    let a = row.acquired.as_ref().expect("acquired");
    let first = row
        .time_to_first_follow_up
        .as_ref()
        .expect("first follow-up");
    [
        a.claim,
        a.assign,
        a.distribute,
        a.transfer_in,
        a.cover,
        row.released,
        row.recycled_away,
        row.converted,
        row.follow_ups,
        first.count,
        received,
    ]
}

/// Each member's sums and average holding over `[from, to)`, from one member report and one
/// fairness ledger.
async fn over(
    admin: &Client,
    pool_id: &str,
    from: &str,
    to: &str,
) -> BTreeMap<String, (Sums, f64)> {
    let rows = admin
        .member_report(proto::GetMemberReportRequest {
            pool_id: pool_id.into(),
            from_date: from.into(),
            to_date: to.into(),
            user_id: String::new(),
        })
        .await;
    let fairness = admin
        .fairness(proto::GetDistributionFairnessRequest {
            pool_id: pool_id.into(),
            from_date: from.into(),
            to_date: to.into(),
        })
        .await;
    let received = |user: &str| {
        let row = fairness.members.iter().find(|r| r.user_id == user);
        row.map_or(0, |r| r.received)
    };
    rows.iter()
        .map(|r| {
            (
                r.user_id.clone(),
                (sums(r, received(&r.user_id)), r.average_held),
            )
        })
        .collect()
}

#[tokio::test]
async fn reports_over_whole_months_equal_the_same_reports_day_by_day() {
    let app = TestApp::spawn().await;
    let pool = fixtures::shanghai_pool(&app, "月度", Default::default()).await;
    for user in ["alice", "bob"] {
        fixtures::member(&app, &pool.id, user, proto::MemberRole::Member).await;
    }
    history(&app, &pool.id).await;
    let admin = app.as_admin();

    let whole = over(&admin, &pool.id, FROM, TO).await;
    let (from, to): (NaiveDate, NaiveDate) = (FROM.parse().unwrap(), TO.parse().unwrap());
    let days = (to - from).num_days();
    let mut by_day: BTreeMap<String, (Sums, f64)> = BTreeMap::new();
    for day in from.iter_days().take_while(|d| *d < to) {
        let next = (day + Duration::days(1)).to_string();
        for (user, (figures, held)) in over(&admin, &pool.id, &day.to_string(), &next).await {
            let total = by_day.entry(user).or_default();
            total.0.iter_mut().zip(figures).for_each(|(t, f)| *t += f);
            // A one-day range's average holding is the holding at the end of that day.
            total.1 += held / days as f64;
        }
    }
    assert_eq!(whole.keys().collect::<Vec<_>>(), ["alice", "bob"]);
    for (user, (figures, held)) in &whole {
        let (want, want_held) = &by_day[user];
        assert_eq!(figures, want, "{user}: the range against its days");
        assert!(
            (held - want_held).abs() < 1e-9,
            "{user}: held {held} vs {want_held}"
        );
        assert!(
            figures[0] > 0 && figures[10] > 0 && *held > 0.0,
            "{user}: {figures:?}"
        );
    }
    check_recount(&app, &pool.id, &whole).await;
    check_first_follow_ups(&admin, &pool.id).await;
}

/// Claims and follow-ups by member from `lead_events`, by the day in Shanghai.
async fn check_recount(app: &TestApp, pool_id: &str, whole: &BTreeMap<String, (Sums, f64)>) {
    let counted: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT to_owner,
                count(*) FILTER (WHERE kind = 'CLAIMED'),
                count(*) FILTER (WHERE kind = 'FOLLOWED_UP')
         FROM lead_events
         WHERE pool_id = $1::uuid AND (occurred_at AT TIME ZONE 'Asia/Shanghai')::date >= $2::date
           AND (occurred_at AT TIME ZONE 'Asia/Shanghai')::date < $3::date
         GROUP BY to_owner HAVING to_owner IN ('alice', 'bob') ORDER BY to_owner",
    )
    .bind(pool_id)
    .bind(FROM)
    .bind(TO)
    .fetch_all(&app.db)
    .await
    .expect("recount");
    assert_eq!(counted.len(), 2);
    for (user, claims, follow_ups) in counted {
        let figures = whole[&user].0;
        assert_eq!((figures[0], figures[8]), (claims, follow_ups), "{user}");
    }
}

/// The first follow-ups' percentiles over the months: every one of alice's took an hour, every
/// one of bob's five (within the stated 1%).
async fn check_first_follow_ups(admin: &Client, pool_id: &str) {
    for (user, hours) in FOLLOW_UP_HOURS {
        let rows = admin
            .member_report(proto::GetMemberReportRequest {
                pool_id: pool_id.into(),
                from_date: FROM.into(),
                to_date: TO.into(),
                user_id: user.into(),
            })
            .await;
        let first = rows[0].time_to_first_follow_up.as_ref().expect("first");
        let seconds = |d: &Option<prost_types::Duration>| d.as_ref().map_or(0, |d| d.seconds);
        for got in [seconds(&first.p50), seconds(&first.p90)] {
            let want = hours * 3_600;
            assert!(
                (got - want).abs() as f64 <= want as f64 * 0.01,
                "{user}: {got} vs {want}"
            );
        }
    }
}
