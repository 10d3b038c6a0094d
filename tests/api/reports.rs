//! Reports: a pool's history built through the API on a moved clock, every figure of the three
//! reports against numbers worked out by hand; and the reports against a recount straight from
//! `lead_events` after a concurrent load.

use chrono::{DateTime, Duration, Utc};
use leadpool::proto;

use crate::caller::Client;
use crate::fixtures;
use crate::harness::{Caller, TestApp, start_time};

fn secs(n: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: n,
        nanos: 0,
    })
}

fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

/// A Shanghai pool with reps alice (weight 1) and bob (weight 3), follow-ups due within a day.
async fn pool(app: &TestApp) -> proto::Pool {
    let rules = proto::CreatePoolRequest {
        follow_up_timeout: secs(86_400),
        ..Default::default()
    };
    let pool = fixtures::shanghai_pool(app, "华东", rules).await;
    for (user_id, weight) in [("alice", 1), ("bob", 3)] {
        let member = proto::AddMemberRequest {
            pool_id: pool.id.clone(),
            user_id: user_id.into(),
            weight,
            ..Default::default()
        };
        app.as_admin().add_member(member).await;
    }
    pool
}

async fn leads(app: &TestApp, pool_id: &str, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        ids.push(
            app.as_service()
                .create_in(pool_id, fixtures::new_lead(name))
                .await
                .id,
        );
    }
    ids
}

/// Moves the clock to `start_time() + minutes`.
fn at(app: &TestApp, minutes: i64) {
    app.clock.set(start_time() + Duration::minutes(minutes));
}

async fn distribute(app: &TestApp, pool_id: &str) {
    let request = proto::DistributeRequest {
        pool_id: pool_id.into(),
        strategy: proto::DistributionStrategy::RoundRobin.into(),
        ..Default::default()
    };
    app.as_admin().distribute(request).await;
}

/// The history, in Shanghai days (UTC+8; the clock starts Monday 2026-03-02 17:00 there):
/// - 03-02: 4 leads created; alice claims L1 (+10 min), bob L2 (+20); alice follows L1 up
///   (+30) and releases it, NO_BUDGET (+40); the admin assigns L3 to bob (+50); bob converts
///   L2 (+60).
/// - 03-03: bob claims the returned L1 (10:00 local) and converts it (10:30); alice claims L4
///   (11:00); bob's L3 misses its follow-up and is recycled (17:50, a day after he got it).
/// - 03-04: L3 and 4 new leads distributed round-robin (alice first: L3, then 2 and 2 of the
///   new ones, 5 minutes after they were created), then bob is away and 2 more go to alice, 10
///   minutes after theirs.
async fn history(app: &TestApp, pool_id: &str) {
    let (alice, bob) = (app.as_member("alice"), app.as_member("bob"));
    let l = leads(app, pool_id, &["王伟", "李娜", "Zhang Min", "刘洋"]).await;
    at(app, 10);
    alice.claim(&l[0]).await;
    at(app, 20);
    bob.claim(&l[1]).await;
    at(app, 30);
    alice.follow_up(&l[0]).await;
    at(app, 40);
    alice.release(&l[0], "NO_BUDGET").await;
    at(app, 50);
    app.as_admin().assign(&l[2], "bob", false).await;
    at(app, 60);
    bob.convert(&l[1]).await;

    at(app, 17 * 60);
    bob.claim(&l[0]).await;
    at(app, 17 * 60 + 30);
    bob.convert(&l[0]).await;
    at(app, 18 * 60);
    alice.claim(&l[3]).await;
    at(app, 24 * 60 + 50);
    let swept = app.as_admin().run_recycle("", false).await;
    assert_eq!(swept.recycled, 1, "bob's L3, at its follow-up deadline");

    at(app, 41 * 60);
    leads(app, pool_id, &["Chen Jie", "杨帆", "赵磊", "黄静"]).await;
    at(app, 41 * 60 + 5);
    distribute(app, pool_id).await;
    at(app, 42 * 60);
    let away = proto::SetAwayRequest {
        user_id: "bob".into(),
        away_until: ts(app.clock_now() + Duration::days(1)),
        mode: proto::AwayMode::Pause.into(),
        ..Default::default()
    };
    app.as_admin().set_away(away).await;
    at(app, 43 * 60);
    leads(app, pool_id, &["周杰", "吴敏"]).await;
    at(app, 43 * 60 + 10);
    distribute(app, pool_id).await;
}

fn range(pool_id: &str, from: &str, to: &str) -> (String, String, String) {
    (pool_id.into(), from.into(), to.into())
}

fn pool_request(pool_id: &str, bucket: proto::ReportBucket) -> proto::GetPoolReportRequest {
    let (pool_id, from_date, to_date) = range(pool_id, "2026-03-02", "2026-03-05");
    proto::GetPoolReportRequest {
        pool_id,
        from_date,
        to_date,
        bucket: bucket.into(),
    }
}

fn percentiles(p: &Option<proto::DurationPercentiles>) -> (i64, i64, i64) {
    let p = p.as_ref().expect("percentiles");
    let s = |d: &Option<prost_types::Duration>| d.as_ref().map_or(-1, |d| d.seconds);
    (p.count, s(&p.p50), s(&p.p90))
}

/// Within the stated 1% of the exact percentile (and half a second of rounding).
fn near((count, p50, p90): (i64, i64, i64), want: (i64, i64, i64)) {
    let close = |got: i64, want: i64| (got - want).abs() as f64 <= want as f64 * 0.01 + 0.5;
    assert_eq!(count, want.0, "count");
    assert!(
        close(p50, want.1) && close(p90, want.2),
        "{p50}/{p90} vs {want:?}"
    );
}

struct Day {
    entered: [i64; 6],
    taken: [i64; 4],
    converted: i64,
    owner: (i64, i64, i64),
    first_follow_up: (i64, i64, i64),
    recycle_rate: f64,
    returned: (i64, i64),
    never_returned: (i64, i64),
    size: (i64, i64),
}

fn check_day(b: &proto::PoolReportBucket, want: &Day) {
    let e = b.entered.as_ref().expect("entered");
    let entered = [
        e.created,
        e.released,
        e.recycled,
        e.moved_in,
        e.offboarded,
        e.reopened,
    ];
    assert_eq!(entered, want.entered, "{}: entered", b.start_date);
    assert_eq!(e.total, want.entered.iter().sum::<i64>());
    let taken = [b.claimed, b.assigned, b.distributed, b.acquired];
    assert_eq!(
        taken, want.taken,
        "{}: claimed, assigned, distributed, acquired",
        b.start_date
    );
    assert_eq!(
        (b.converted, b.discarded),
        (want.converted, 0),
        "{}",
        b.start_date
    );
    near(percentiles(&b.time_to_owner), want.owner);
    near(
        percentiles(&b.time_to_first_follow_up),
        want.first_follow_up,
    );
    assert!(
        (b.recycle_rate - want.recycle_rate).abs() < 1e-9,
        "{}",
        b.start_date
    );
    let c = b.conversion.as_ref().expect("conversion");
    assert_eq!((c.returned_acquired, c.returned_converted), want.returned);
    assert_eq!(
        (c.never_returned_acquired, c.never_returned_converted),
        want.never_returned
    );
    assert_eq!(
        (b.in_pool_at_end, b.owned_at_end),
        want.size,
        "{}: size",
        b.start_date
    );
}

fn check_pool_report(report: &proto::GetPoolReportResponse) {
    assert_eq!(report.timezone, "Asia/Shanghai");
    let [d1, d2, d3] = report.buckets.as_slice() else {
        panic!("three days: {:?}", report.buckets)
    };
    assert_eq!(
        (d1.start_date.as_str(), d3.end_date.as_str()),
        ("2026-03-02", "2026-03-05")
    );
    check_day(
        d1,
        &Day {
            entered: [4, 1, 0, 0, 0, 0],
            taken: [2, 1, 0, 3],
            converted: 1,
            owner: (3, 1_200, 3_000),
            first_follow_up: (1, 1_200, 1_200),
            recycle_rate: 0.0,
            returned: (0, 0),
            never_returned: (3, 1),
            size: (2, 1),
        },
    );
    let released: Vec<_> = d1
        .released_by_reason
        .iter()
        .map(|r| (r.reason.as_str(), r.count))
        .collect();
    assert_eq!(released, [("NO_BUDGET", 1)]);
    check_day(
        d2,
        &Day {
            entered: [0, 0, 1, 0, 0, 0],
            taken: [2, 0, 0, 2],
            converted: 1,
            owner: (2, 58_800, 64_800),
            first_follow_up: (0, 0, 0),
            recycle_rate: 0.5,
            returned: (1, 1),
            never_returned: (1, 0),
            size: (1, 1),
        },
    );
    let recycled = d2.recycled.as_ref().expect("recycled");
    assert_eq!(
        (
            recycled.follow_up,
            recycled.close,
            recycled.accept_timeout,
            recycled.total
        ),
        (1, 0, 0, 1)
    );
    // L3 waited from 17:50 on 03-03 to 09:05 on 03-04: 58,500 s.
    check_day(
        d3,
        &Day {
            entered: [6, 0, 0, 0, 0, 0],
            taken: [0, 0, 7, 7],
            converted: 0,
            owner: (7, 300, 58_500),
            first_follow_up: (0, 0, 0),
            recycle_rate: 0.0,
            returned: (1, 0),
            never_returned: (6, 0),
            size: (0, 8),
        },
    );
}

#[tokio::test]
async fn every_figure_of_the_three_reports_matches_the_history_worked_by_hand() {
    let app = TestApp::spawn().await;
    let pool = pool(&app).await;
    history(&app, &pool.id).await;
    let admin = app.as_admin();

    check_pool_report(
        &admin
            .pool_report(pool_request(&pool.id, proto::ReportBucket::Day))
            .await,
    );
    let week = admin
        .pool_report(pool_request(&pool.id, proto::ReportBucket::Week))
        .await;
    let [week] = week.buckets.as_slice() else {
        panic!("one week")
    };
    let entered = week.entered.as_ref().expect("entered");
    assert_eq!((entered.total, week.acquired, week.converted), (12, 12, 2));
    assert_eq!((week.in_pool_at_end, week.owned_at_end), (0, 8));
    near(percentiles(&week.time_to_owner), (12, 600, 58_800));

    check_member_report(&admin, &pool.id).await;
    check_fairness(&app, &pool.id).await;
}

async fn check_member_report(admin: &Client, pool_id: &str) {
    let (pool_id, from_date, to_date) = range(pool_id, "2026-03-02", "2026-03-05");
    let request = proto::GetMemberReportRequest {
        pool_id,
        from_date,
        to_date,
        user_id: String::new(),
    };
    let rows = admin.member_report(request).await;
    let [alice, bob] = rows.as_slice() else {
        panic!("alice and bob: {rows:?}")
    };
    let way = |r: &proto::MemberReportRow| {
        let a = r.acquired.as_ref().expect("acquired");
        [
            a.claim,
            a.assign,
            a.distribute,
            a.transfer_in,
            a.cover,
            a.total,
        ]
    };
    assert_eq!(alice.user_id, "alice");
    assert_eq!(way(alice), [2, 0, 5, 0, 0, 7]);
    assert_eq!(
        (
            alice.released,
            alice.recycled_away,
            alice.converted,
            alice.follow_ups
        ),
        (1, 0, 0, 1)
    );
    assert_eq!(alice.conversion_rate, 0.0);
    near(
        percentiles(&alice.time_to_first_follow_up),
        (1, 1_200, 1_200),
    );
    // Held at the end of each day: 0 (L1 released), 1 (L4), 6 (L4 and five distributed).
    assert!(
        (alice.average_held - 7.0 / 3.0).abs() < 1e-9,
        "{}",
        alice.average_held
    );
    assert_eq!(bob.user_id, "bob");
    assert_eq!(way(bob), [2, 1, 2, 0, 0, 5]);
    assert_eq!(
        (
            bob.released,
            bob.recycled_away,
            bob.converted,
            bob.follow_ups
        ),
        (0, 1, 2, 0)
    );
    assert!((bob.conversion_rate - 0.4).abs() < 1e-9);
    near(percentiles(&bob.time_to_first_follow_up), (0, 0, 0));
    // 1 (L3), 0 (L1 converted, L3 recycled), 2 (distributed).
    assert!(
        (bob.average_held - 1.0).abs() < 1e-9,
        "{}",
        bob.average_held
    );
}

/// Round-robin ignores weights: 3 and 2 of the first five (entitled 1.25 and 3.75: weights 1
/// and 3), then both of the last two to alice while bob was away (she alone was entitled).
async fn check_fairness(app: &TestApp, pool: &str) {
    let (pool_id, from_date, to_date) = range(pool, "2026-03-02", "2026-03-05");
    let request = proto::GetDistributionFairnessRequest {
        pool_id,
        from_date,
        to_date,
    };
    let ledger = app.as_admin().fairness(request.clone()).await;
    let rows: Vec<_> = ledger
        .members
        .iter()
        .map(|r| (r.user_id.as_str(), r.received, r.entitled, r.deviation))
        .collect();
    assert_eq!(rows, [("alice", 5, 3.25, 1.75), ("bob", 2, 3.75, -1.75)]);
    assert_eq!(ledger.distributed, 7);
    assert_eq!(
        (
            ledger.largest_deviation,
            ledger.largest_deviation_user_id.as_str()
        ),
        (1.75, "alice")
    );

    // A member reads their own row only, and no pool report.
    let bob = app.as_member("bob");
    let own = bob.fairness(request).await;
    let users: Vec<_> = own.members.iter().map(|r| r.user_id.as_str()).collect();
    assert_eq!(users, ["bob"]);
    let refused = bob
        .try_pool_report(pool_request(pool, proto::ReportBucket::Day))
        .await;
    crate::harness::assert_error(refused, "MANAGER_REQUIRED");
    // Someone outside the pool hears so, as from the other reports.
    let outsider = app
        .as_member("zoe")
        .try_pool_report(pool_request(pool, proto::ReportBucket::Day))
        .await;
    crate::harness::assert_error(outsider, "NOT_POOL_MEMBER");
}

#[tokio::test]
async fn refused_report_requests_name_their_field_and_change_nothing() {
    let (app, team) = fixtures::app_with_team(None).await;
    let admin = app.as_admin();
    let ask = |from: &str, to: &str, bucket: i32| proto::GetPoolReportRequest {
        pool_id: team.pool.id.clone(),
        from_date: from.into(),
        to_date: to.into(),
        bucket,
    };
    for (request, field) in [
        (ask("2026-03-02", "2026-03-02", 1), "to_date"),
        (ask("2026-03-02", "2028-03-05", 1), "to_date"),
        (ask("", "2026-03-05", 1), "from_date"),
        (ask("2026/03/02", "2026-03-05", 1), "from_date"),
        // Before year 1 PostgreSQL cannot hold it; signed and short forms are no YYYY-MM-DD.
        (ask("-4713-01-01", "2026-03-05", 1), "from_date"),
        (ask("+2026-03-02", "2026-03-05", 1), "from_date"),
        (ask("2026-03-02", "+10000-01-01", 3), "to_date"),
        (ask("2026-03-02", "2026-03-05", 9), "bucket"),
        (
            proto::GetPoolReportRequest {
                pool_id: "nope".into(),
                ..ask("2026-03-02", "2026-03-05", 1)
            },
            "pool_id",
        ),
    ] {
        let fields = app.invalid_fields(admin.try_pool_report(request)).await;
        assert_eq!(fields, [field]);
    }
    let stranger = app.as_caller(Caller::admin("globex"));
    let elsewhere = stranger.try_pool_report(ask("2026-03-02", "2026-03-05", 1));
    app.assert_refused(elsewhere, "POOL_NOT_FOUND").await;
    let members = |user_id: &str| proto::GetMemberReportRequest {
        pool_id: team.pool.id.clone(),
        from_date: "2026-03-02".into(),
        to_date: "2026-03-05".into(),
        user_id: user_id.into(),
    };
    let (zoe, alice) = (app.as_member("zoe"), app.as_member("alice"));
    app.assert_refused(zoe.try_member_report(members("")), "NOT_POOL_MEMBER")
        .await;
    let peek = alice.try_member_report(members("bob"));
    app.assert_refused(peek, "MANAGER_REQUIRED").await;
}
