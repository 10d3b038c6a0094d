//! The reports against a recount straight from `lead_events` and `leads`, after members worked
//! a pool concurrently while the background aggregator (tiny batches, every few milliseconds)
//! and report calls (each catching the aggregator up) folded the same events: nothing counted
//! twice, nothing missed.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use leadpool::config::{ReportSettings, Settings};
use leadpool::proto;
use tokio_util::sync::CancellationToken;

use crate::caller::Client;
use crate::fixtures;
use crate::harness::{TestApp, test_settings};

const REPS: usize = 8;
const ROUNDS: usize = 24;

/// Claims a lead picked by `i` and the round, then releases it (one of two reasons), follows
/// it up, follows it up and releases it, or converts it.
async fn work(member: Client, i: usize, leads: Vec<String>) {
    for round in 0..ROUNDS {
        let lead_id = &leads[(i * 7 + round * 5) % leads.len()];
        if member.try_claim(lead_id).await.is_err() {
            continue;
        }
        match round % 4 {
            0 => drop(
                member
                    .release(lead_id, ["NO_BUDGET", "WRONG_CONTACT"][i % 2])
                    .await,
            ),
            1 => drop(member.follow_up(lead_id).await),
            2 => {
                member.follow_up(lead_id).await;
                member.release(lead_id, "NO_BUDGET").await;
            }
            _ => drop(member.convert(lead_id).await),
        }
    }
}

fn today(pool_id: &str) -> proto::GetPoolReportRequest {
    proto::GetPoolReportRequest {
        pool_id: pool_id.into(),
        from_date: "2026-03-02".into(),
        to_date: "2026-03-03".into(),
        bucket: proto::ReportBucket::Day.into(),
    }
}

/// Report calls in a loop until `stop`, each catching the aggregator up while others write.
async fn keep_reporting(admin: Client, pool_id: String, stop: CancellationToken) -> usize {
    let mut calls = 0;
    while !stop.is_cancelled() {
        admin.pool_report(today(&pool_id)).await;
        calls += 1;
    }
    calls
}

async fn recount(app: &TestApp, sql: &str, pool_id: &str) -> BTreeMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(sql)
        .bind(pool_id)
        .fetch_all(&app.db)
        .await
        .expect("recount")
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reports_equal_a_recount_of_the_events_after_a_concurrent_load() {
    let settings = Settings {
        report: ReportSettings {
            interval: Duration::from_millis(5),
            batch: 7,
        },
        ..test_settings()
    };
    let app = TestApp::spawn_with(settings).await;
    let (members, leads) = fixtures::crowd(&app, None, REPS, 30).await;
    let pool_id = app.as_member("rep00").get_lead(&leads[0]).await.pool_id;
    let stop = CancellationToken::new();
    let reporter = tokio::spawn(keep_reporting(
        app.as_admin(),
        pool_id.clone(),
        stop.clone(),
    ));
    let workers = members
        .into_iter()
        .enumerate()
        .map(|(i, member)| tokio::spawn(work(member, i, leads.clone())));
    for worker in join_all(workers).await {
        worker.expect("worker");
    }
    stop.cancel();
    assert!(
        reporter.await.expect("reporter") > 0,
        "reports ran during the load"
    );

    let report = app.as_admin().pool_report(today(&pool_id)).await;
    let [day] = report.buckets.as_slice() else {
        panic!("one day")
    };
    check_pool_day(&app, &pool_id, day).await;
    check_members(&app, &pool_id).await;
    let again = app.as_admin().pool_report(today(&pool_id)).await;
    assert_eq!(
        again, report,
        "a second report, after more rounds of the aggregator, is the same"
    );
}

async fn check_pool_day(app: &TestApp, pool_id: &str, day: &proto::PoolReportBucket) {
    let kinds = recount(
        app,
        "SELECT kind, count(*) FROM lead_events WHERE pool_id = $1::uuid GROUP BY kind",
        pool_id,
    )
    .await;
    let kind = |k: &str| kinds.get(k).copied().unwrap_or(0);
    assert!(
        kind("CLAIMED") > 0 && kind("RELEASED") > 0 && kind("CONVERTED") > 0,
        "{kinds:?}"
    );
    assert_eq!(
        (day.claimed, day.acquired),
        (kind("CLAIMED"), kind("CLAIMED"))
    );
    assert_eq!(day.converted, kind("CONVERTED"));
    let entered = day.entered.as_ref().expect("entered");
    assert_eq!(
        (entered.created, entered.released),
        (kind("CREATED"), kind("RELEASED"))
    );
    let owner = day.time_to_owner.as_ref().expect("time to owner");
    assert_eq!(owner.count, kind("CLAIMED"));
    let reasons = recount(
        app,
        "SELECT reason, count(*) FROM lead_events
         WHERE pool_id = $1::uuid AND kind = 'RELEASED' GROUP BY reason",
        pool_id,
    )
    .await;
    let released: BTreeMap<String, i64> = day
        .released_by_reason
        .iter()
        .map(|r| (r.reason.clone(), r.count))
        .collect();
    assert_eq!(released, reasons);
    let states = recount(
        app,
        "SELECT state, count(*) FROM leads WHERE pool_id = $1::uuid GROUP BY state",
        pool_id,
    )
    .await;
    let state = |s: &str| states.get(s).copied().unwrap_or(0);
    assert_eq!(
        (day.in_pool_at_end, day.owned_at_end),
        (state("IN_POOL"), state("OWNED"))
    );
}

async fn check_members(app: &TestApp, pool_id: &str) {
    let rows = app
        .as_admin()
        .member_report(proto::GetMemberReportRequest {
            pool_id: pool_id.into(),
            from_date: "2026-03-02".into(),
            to_date: "2026-03-03".into(),
            user_id: String::new(),
        })
        .await;
    assert_eq!(rows.len(), REPS);
    let by_owner = |kind: &str, column: &str| {
        format!(
            "SELECT {column}, count(*) FROM lead_events
             WHERE pool_id = $1::uuid AND kind = '{kind}' GROUP BY {column}"
        )
    };
    let claims = recount(app, &by_owner("CLAIMED", "to_owner"), pool_id).await;
    let follow_ups = recount(app, &by_owner("FOLLOWED_UP", "to_owner"), pool_id).await;
    let releases = recount(app, &by_owner("RELEASED", "from_owner"), pool_id).await;
    let conversions = recount(app, &by_owner("CONVERTED", "from_owner"), pool_id).await;
    let held = recount(
        app,
        "SELECT owner_id, count(*) FROM leads WHERE pool_id = $1::uuid AND state = 'OWNED'
         GROUP BY owner_id",
        pool_id,
    )
    .await;
    let of = |map: &BTreeMap<String, i64>, user: &str| map.get(user).copied().unwrap_or(0);
    for row in &rows {
        let user = row.user_id.as_str();
        let acquired = row.acquired.as_ref().expect("acquired");
        assert_eq!(acquired.claim, of(&claims, user), "{user}: claims");
        assert_eq!(row.follow_ups, of(&follow_ups, user), "{user}: follow-ups");
        assert_eq!(row.released, of(&releases, user), "{user}: releases");
        assert_eq!(row.converted, of(&conversions, user), "{user}: conversions");
        // One day: the average of one end-of-day holding is what they hold now.
        assert_eq!(row.average_held, of(&held, user) as f64, "{user}: held");
    }
}
