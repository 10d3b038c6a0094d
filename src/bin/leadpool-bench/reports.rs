//! `report`: a year of one pool's history (Asia/Shanghai) — 10,000,000 events of 500 members
//! (20,000 and 20 with `--quick`): leads created into the pool, claimed or distributed, followed
//! up, released, recycled and converted — seeded with set-based SQL straight into `leads` and
//! `lead_events`. The aggregator's first catch-up folds all of it (the scheduler's own
//! `service::reports::aggregate` batches, in the bench process, timed apart); then
//! `GetPoolReport` (DAY buckets), `GetMemberReport` and `GetDistributionFairness` over the last
//! 90 days are called in turn through gRPC on the caught-up rollups. Every figure of their answers
//! is recounted from `lead_events` with SQL, and the history itself is checked: each lead's events
//! replay step by step to its owner and state, held counts in step. A mismatch is a violated
//! invariant.

#[path = "reports/history.rs"]
mod history;
#[path = "reports/recount.rs"]
mod recount;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde_json::json;
use sqlx::PgConnection;
use tonic::{Response, Status};
use uuid::Uuid;

use leadpool::domain::clock::SystemClock;
use leadpool::proto::report_service_client::ReportServiceClient;
use leadpool::proto::{
    GetDistributionFairnessRequest, GetDistributionFairnessResponse, GetMemberReportRequest,
    GetMemberReportResponse, GetPoolReportRequest, GetPoolReportResponse, ReportBucket,
};
use leadpool::service::Context;
use leadpool::service::reports::{BATCH, aggregate};

use crate::Result;
use crate::claim::latencies;
use crate::cli::Cli;
use crate::dbserver::BenchDb;
use crate::invariants::Check;
use crate::load::Tally;
use crate::report::{Goal, Report, f1};
use crate::seed::{self, TENANT};
use crate::service::{Caller, InProcess, connect};
use history::{Seeded, history_checks, seed_history};
use recount::Recount;

pub const ZONE: &str = "Asia/Shanghai";
const RANGE_DAYS: i64 = 90;
const GOAL_P99_MS: f64 = 1_000.0;
/// How long the catch-up waits for older transactions on the server to end.
const HORIZON_WAIT: Duration = Duration::from_secs(3_600);

pub async fn run(cli: &Cli, db: &BenchDb) -> Result<Report> {
    let target = cli.size(10_000_000, 20_000);
    let members = cli.size(500, 20);
    let mut conn = db.pool.acquire().await?;
    // Statements over millions of rows: sorts and aggregates in memory.
    sqlx::raw_sql("SET work_mem = '256MB'")
        .execute(&mut *conn)
        .await?;
    let seeded = seed_history(&mut conn, target, members).await?;
    wait_for_horizon(&mut conn).await?;
    let (folded, fold_time) = catch_up(db, seeded.events).await?;
    settle(
        &mut conn,
        "report_lead_facts, report_counts, report_histograms",
    )
    .await?;
    let to: NaiveDate = sqlx::query_scalar("SELECT (now() AT TIME ZONE $1)::date")
        .bind(ZONE)
        .fetch_one(&mut *conn)
        .await?;
    let range = (to - chrono::Duration::days(RANGE_DAYS), to);

    let service = InProcess::start(db.options.clone()).await?;
    let calls = call_reports(service.addr, seeded.pool_id, range, cli.size(50, 5)).await;
    service.stop().await?;
    let calls = calls?;

    let mut checks = history_checks(&mut conn).await?;
    checks.push(Check {
        name: "the catch-up folded every event",
        violations: (seeded.events - folded).abs(),
    });
    let recount = Recount::gather(&mut conn, seeded.pool_id, range).await?;
    let compared = recount.compare(&calls);
    let rollups: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM report_counts), (SELECT count(*) FROM report_histograms)",
    )
    .fetch_one(&mut *conn)
    .await?;
    conn.close().await?;
    let figures = compared.iter().map(|c| c.compared).sum();
    checks.extend(calls.checks());
    checks.extend(compared.into_iter().map(Compare::check));
    let run = Run {
        seeded,
        members,
        fold_time,
        range,
        rollups,
        figures,
    };
    Ok(report(&run, &calls, checks))
}

/// Statistics and the visibility map, as autovacuum would leave settled tables.
pub async fn settle(conn: &mut PgConnection, tables: &str) -> Result<()> {
    let spinner = seed::spinner("VACUUM ANALYZE");
    sqlx::raw_sql(&format!("VACUUM (ANALYZE) {tables}"))
        .execute(&mut *conn)
        .await?;
    spinner.finish_and_clear();
    Ok(())
}

/// Waits until the event stream can read every seeded event: it reads only below the oldest
/// transaction still running anywhere on the server (xids are the server's), so one left open
/// in another database hides the seed from the aggregator, and the catch-up would fold nothing.
async fn wait_for_horizon(conn: &mut PgConnection) -> Result<()> {
    let started = Instant::now();
    let mut told = false;
    loop {
        let passed: bool = sqlx::query_scalar(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())
                    > (SELECT xid FROM lead_events WHERE tenant_id = $1 ORDER BY xid DESC LIMIT 1)",
        )
        .bind(TENANT)
        .fetch_one(&mut *conn)
        .await?;
        if passed {
            return Ok(());
        }
        if !told {
            let oldest: Option<String> = sqlx::query_scalar(
                "SELECT format('pid %s in %s since %s: %s', pid, datname, xact_start, left(query, 80))
                 FROM pg_stat_activity WHERE backend_xid IS NOT NULL
                 ORDER BY age(backend_xid) DESC LIMIT 1",
            )
            .fetch_optional(&mut *conn)
            .await?;
            eprintln!("waiting for an older transaction on the server to end: {oldest:?}");
            told = true;
        }
        if started.elapsed() > HORIZON_WAIT {
            return Err("the transaction horizon did not pass the seeded events".into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The reports of every event in the database, folded before a scenario starts the service, as
/// a running service keeps them.
pub async fn catch_up_seeded(db: &BenchDb) -> Result<()> {
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM lead_events")
        .fetch_one(&db.pool)
        .await?;
    catch_up(db, events).await?;
    Ok(())
}

/// The aggregator's catch-up over every seeded event: its batches as the scheduler's sweep runs
/// them, on the bench's connections. (events folded, time)
async fn catch_up(db: &BenchDb, events: i64) -> Result<(i64, Duration)> {
    let ctx = Context::new(db.pool.clone(), Arc::new(SystemClock));
    let bar = seed::bar(u64::try_from(events)?, "folding");
    let started = Instant::now();
    let mut folded = 0;
    loop {
        let n = aggregate(&ctx, TENANT, BATCH, false).await?;
        folded += n;
        bar.inc(u64::try_from(n)?);
        if n < BATCH {
            break;
        }
    }
    bar.finish_and_clear();
    Ok((i64::try_from(folded)?, started.elapsed()))
}

/// One report's calls: latencies, the first answer, and how many later answers differed from it.
struct Called<T> {
    tally: Tally,
    first: Option<T>,
    differing: i64,
}

struct Calls {
    pool: Called<GetPoolReportResponse>,
    members: Called<GetMemberReportResponse>,
    fairness: Called<GetDistributionFairnessResponse>,
}

impl Calls {
    fn checks(&self) -> Vec<Check> {
        let tallies = [&self.pool.tally, &self.members.tally, &self.fairness.tally];
        let check = |name, violations| Check { name, violations };
        vec![
            check(
                "every report call answered",
                tallies.iter().map(|t| t.failed() as i64).sum(),
            ),
            check(
                "repeated GetPoolReport calls answer the same",
                self.pool.differing,
            ),
            check(
                "repeated GetMemberReport calls answer the same",
                self.members.differing,
            ),
            check(
                "repeated GetDistributionFairness calls answer the same",
                self.fairness.differing,
            ),
        ]
    }
}

async fn repeat<T, F, Fut>(calls: usize, what: &str, mut call: F) -> Result<Called<T>>
where
    T: PartialEq,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Response<T>, Status>>,
{
    let bar = seed::bar(calls as u64, what);
    let mut called = Called {
        tally: Tally::new()?,
        first: None,
        differing: 0,
    };
    for _ in 0..calls {
        let started = Instant::now();
        let result = call().await;
        called.tally.record(started.elapsed(), &result);
        match (result, &called.first) {
            (Ok(answer), Some(first)) if answer.get_ref() != first => {
                if called.differing == 0 {
                    eprintln!("{what}: an answer differs from the first");
                }
                called.differing += 1;
            }
            (Ok(_), Some(_)) => {}
            (Ok(answer), None) => called.first = Some(answer.into_inner()),
            (Err(status), _) => eprintln!("{what} failed: {status:?}"),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(called)
}

/// Each report `calls` times in turn, as the tenant's admin, over `range`.
async fn call_reports(
    addr: std::net::SocketAddr,
    pool_id: Uuid,
    (from, to): (NaiveDate, NaiveDate),
    calls: usize,
) -> Result<Calls> {
    let client = ReportServiceClient::new(connect(addr).await?);
    let admin = Caller::new(TENANT, "bench-admin", Some("admin"))?;
    let (pool_id, from_date, to_date) = (pool_id.to_string(), from.to_string(), to.to_string());
    let pool = repeat(calls, "GetPoolReport", || {
        let mut client = client.clone();
        let request = admin.request(GetPoolReportRequest {
            pool_id: pool_id.clone(),
            from_date: from_date.clone(),
            to_date: to_date.clone(),
            bucket: ReportBucket::Day.into(),
        });
        async move { client.get_pool_report(request).await }
    })
    .await?;
    let members = repeat(calls, "GetMemberReport", || {
        let mut client = client.clone();
        let request = admin.request(GetMemberReportRequest {
            pool_id: pool_id.clone(),
            from_date: from_date.clone(),
            to_date: to_date.clone(),
            user_id: String::new(),
        });
        async move { client.get_member_report(request).await }
    })
    .await?;
    let fairness = repeat(calls, "GetDistributionFairness", || {
        let mut client = client.clone();
        let request = admin.request(GetDistributionFairnessRequest {
            pool_id: pool_id.clone(),
            from_date: from_date.clone(),
            to_date: to_date.clone(),
        });
        async move { client.get_distribution_fairness(request).await }
    })
    .await?;
    Ok(Calls {
        pool,
        members,
        fairness,
    })
}

/// Mismatches of one comparison, the first few printed.
pub struct Compare {
    name: &'static str,
    pub compared: i64,
    wrong: i64,
}

impl Compare {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            compared: 0,
            wrong: 0,
        }
    }

    pub fn near(&mut self, what: impl FnOnce() -> String, report: f64, recount: f64, slack: f64) {
        self.compared += 1;
        if (report - recount).abs() > slack {
            self.wrong += 1;
            if self.wrong <= 5 {
                eprintln!(
                    "MISMATCH {}: {}: report {report}, recount {recount}",
                    self.name,
                    what()
                );
            }
        }
    }

    pub fn eq(&mut self, what: impl FnOnce() -> String, report: i64, recount: i64) {
        self.near(what, report as f64, recount as f64, 0.0);
    }

    /// A percentile read from 2%-wide bins: within 1% of the exact one, whole seconds.
    pub fn percentile(&mut self, what: impl FnOnce() -> String, report: i64, exact: i64) {
        self.near(what, report as f64, exact as f64, exact as f64 * 0.01 + 1.0);
    }

    pub fn check(self) -> Check {
        Check {
            name: self.name,
            violations: self.wrong,
        }
    }
}

/// What the table reports besides the calls.
struct Run {
    seeded: Seeded,
    members: i64,
    fold_time: Duration,
    range: (NaiveDate, NaiveDate),
    /// report_counts and report_histograms rows after the catch-up.
    rollups: (i64, i64),
    /// Figures compared with the recount.
    figures: i64,
}

fn report(run: &Run, calls: &Calls, checks: Vec<Check>) -> Report {
    let Run {
        seeded, fold_time, ..
    } = run;
    let fold_rate = seeded.events as f64 / fold_time.as_secs_f64();
    let seed_rate = seeded.events as f64 / seeded.took.as_secs_f64();
    let tallies = [
        ("GetPoolReport", "DAY buckets", &calls.pool.tally),
        ("GetMemberReport", "every member", &calls.members.tally),
        (
            "GetDistributionFairness",
            "every member",
            &calls.fairness.tally,
        ),
    ];
    let mut report = Report::new("report", vec!["figure", "value"]);
    report.figure_rows([
        (
            "events / leads / members (one pool, Asia/Shanghai, 365 days)",
            format!("{} / {} / {}", seeded.events, seeded.leads, run.members),
        ),
        (
            "seed: set-based INSERTs (s, events/s)",
            format!("{}, {}", f1(seeded.took.as_secs_f64()), f1(seed_rate)),
        ),
        (
            "**catch-up**: first fold of every event (s, events/s)",
            format!("{}, {}", f1(fold_time.as_secs_f64()), f1(fold_rate)),
        ),
        (
            "rollup rows (report_counts / report_histograms)",
            format!("{} / {}", run.rollups.0, run.rollups.1),
        ),
    ]);
    let (from, to) = run.range;
    for (name, rows, tally) in tallies {
        report.row(vec![
            format!("**{name}** {from}..{to} ({rows}): calls, p50 / p90 / p99 / max (ms)"),
            format!("{}, {}", tally.calls(), latencies(tally)),
        ]);
        let p99 = tally.ms(0.99);
        report
            .goals
            .push(Goal::under_ms(&format!("{name} p99"), p99, GOAL_P99_MS));
    }
    report.figure_rows([(
        "figures recounted from lead_events",
        run.figures.to_string(),
    )]);
    report.invariants("the reports", checks);
    report.notes.push(format!(
        "the catch-up is the aggregator's own batches of {BATCH} events (`service::reports::aggregate`, as the scheduler's sweep) in the bench process before the service starts; the rollups are then vacuumed and analyzed; the service runs in process, and one client calls each report in turn as the tenant's admin over the last {RANGE_DAYS} days of the pool's zone"
    ));
    report.figures = figures(run, calls);
    report
}

fn figures(run: &Run, calls: &Calls) -> serde_json::Value {
    let Run {
        seeded, fold_time, ..
    } = run;
    let (from, to) = run.range;
    let fold_rate = seeded.events as f64 / fold_time.as_secs_f64();
    json!({
        "events": seeded.events, "leads": seeded.leads, "members": run.members,
        "seed_seconds": seeded.took.as_secs_f64(),
        "catch_up_seconds": fold_time.as_secs_f64(), "catch_up_events_per_second": fold_rate,
        "rollup_rows": { "counts": run.rollups.0, "histograms": run.rollups.1 },
        "range": { "from": from.to_string(), "to": to.to_string() },
        "pool_report": calls.pool.tally.json(),
        "member_report": calls.members.tally.json(),
        "fairness": calls.fairness.tally.json(),
        "figures_recounted": run.figures,
    })
}
