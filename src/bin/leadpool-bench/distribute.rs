//! `distribute`: pool leads spread over weighted members through `Distribute` (1,000 leads per
//! call, a few clients at once), against the baseline of bench.md: the same rows moved by bare
//! set-based statements of the recycle shape (one `UPDATE … RETURNING` feeding the held counts and
//! the `INSERT` of the events, 1,000 rows per statement) on a twin pool in the same database.
//! Figures: leads/s of each and their ratio, and each member's spread error against N·wᵢ/W.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;
use tonic::transport::Channel;
use uuid::Uuid;

use leadpool::proto::assignment_service_client::AssignmentServiceClient;
use leadpool::proto::{DistributeRequest, DistributionStrategy};

use crate::claim::latencies;
use crate::cli::Cli;
use crate::dbserver::BenchDb;
use crate::invariants::{self, Check};
use crate::load::Tally;
use crate::report::{Goal, Report, f1, f2};
use crate::seed::{self, TENANT};
use crate::service::{Caller, InProcess, connect};
use crate::{BoxError, Result};

/// Leads per call and per baseline statement (the API's batch limit).
const BATCH: i32 = 1_000;
/// Concurrent callers: calls of one pool serialise on its distribution state, but their
/// network and encoding overlap.
const CLIENTS: usize = 4;
/// Member weights cycle through 1..=WEIGHTS.
const WEIGHTS: i32 = 10;
const GOAL_LEADS_PER_SECOND: f64 = 20_000.0;

pub async fn run(cli: &Cli, db: &BenchDb) -> Result<Report> {
    let plan = seed::Plan {
        leads: cli.size(100_000, 5_000),
        members: cli.size(500, 50),
        cap: None,
        owned_every: 0,
    };
    let service_pool = seed::seed_named(&db.pool, "Distributed by the service", plan).await?;
    let baseline_pool = seed::seed_named(&db.pool, "Distributed by the baseline", plan).await?;
    weigh_members(&db.pool).await?;

    let baseline = baseline(&db.pool, baseline_pool.pool_id, plan.members).await?;
    let service = InProcess::start(db.options.clone()).await?;
    let run = drain(service.addr, service_pool.pool_id).await;
    service.stop().await?;
    let (tally, elapsed) = run?;
    let distributed = Distributed {
        tally,
        elapsed,
        baseline,
        spread: spread_error(&db.pool, service_pool.pool_id).await?,
    };
    let checks = invariants::check(&db.pool, None).await?;
    let mut report = report(plan, &distributed, checks);
    report.invariants.push(Check {
        name: "every lead distributed",
        violations: in_pool(&db.pool).await?,
    });
    Ok(report)
}

/// What the service's distribution took and left, and the baseline's time.
struct Distributed {
    tally: Tally,
    elapsed: Duration,
    baseline: Duration,
    /// The largest |leads − N·wᵢ/W| over the members.
    spread: f64,
}

fn report(plan: seed::Plan, distributed: &Distributed, checks: Vec<Check>) -> Report {
    let Distributed {
        tally,
        elapsed,
        baseline,
        spread,
    } = distributed;
    let spread = *spread;
    let leads = plan.leads as f64;
    let service_rate = leads / elapsed.as_secs_f64();
    let baseline_rate = leads / baseline.as_secs_f64();
    let mut report = Report::new("distribute", vec!["figure", "value"]);
    report.figure_rows([
        (
            "leads / members (weights 1–10)",
            format!("{} / {}", plan.leads, plan.members),
        ),
        ("**service leads/s**", f1(service_rate)),
        (
            "baseline leads/s (bare set-based statements)",
            f1(baseline_rate),
        ),
        ("service ÷ baseline", f2(service_rate / baseline_rate)),
        ("**max spread error per member** (leads)", f2(spread)),
        (
            "Distribute calls, latency p50 / p90 / p99 / max (ms)",
            format!("{}, {}", tally.calls(), latencies(tally)),
        ),
        ("error mix", tally.error_mix()),
    ]);
    report.invariants("distribution", checks);
    report.goals.push(Goal::new(
        "spread error ≤ 1 per member",
        f2(spread),
        spread <= 1.0,
    ));
    report.goals.push(Goal::new(
        format!("≥ {GOAL_LEADS_PER_SECOND} leads/s"),
        f1(service_rate),
        service_rate >= GOAL_LEADS_PER_SECOND,
    ));
    report.figures = json!({
        "leads": plan.leads, "members": plan.members, "batch": BATCH, "clients": CLIENTS,
        "service_seconds": elapsed.as_secs_f64(), "service_leads_per_second": service_rate,
        "baseline_seconds": baseline.as_secs_f64(), "baseline_leads_per_second": baseline_rate,
        "ratio": service_rate / baseline_rate,
        "max_spread_error": spread,
        "service": tally.json(),
    });
    report
}

/// Weights 1..=10 by member number, on both pools alike.
async fn weigh_members(db: &PgPool) -> Result<()> {
    sqlx::query(
        "UPDATE members SET weight = 1 + substring(user_id FROM 4)::int % $2 WHERE tenant_id = $1",
    )
    .bind(TENANT)
    .bind(WEIGHTS)
    .execute(db)
    .await?;
    Ok(())
}

/// The baseline: batches of the recycle statement's shape, owners dealt in turn, until the pool
/// is empty.
async fn baseline(db: &PgPool, pool_id: Uuid, members: i32) -> Result<Duration> {
    let bar = seed::spinner("baseline: set-based distribution statements");
    let started = Instant::now();
    let mut dealt: i64 = 0;
    loop {
        let moved: i64 = sqlx::query_scalar(BASELINE)
            .bind(TENANT)
            .bind(pool_id)
            .bind(dealt)
            .bind(i64::from(members))
            .bind(BATCH)
            .fetch_one(db)
            .await?;
        if moved == 0 {
            break;
        }
        dealt += moved;
    }
    bar.finish_and_clear();
    Ok(started.elapsed())
}

/// Takes a batch of pool leads, gives them owners in turn, counts them on the members and
/// writes their events: one statement.
const BASELINE: &str = "WITH picked AS (
         SELECT l.id FROM leads l
         WHERE l.tenant_id = $1 AND l.pool_id = $2 AND l.state = 'IN_POOL' AND NOT l.locked
         ORDER BY l.pool_entered_at, l.id LIMIT $5 FOR UPDATE SKIP LOCKED),
     dealt AS (
         SELECT id, 'rep' || lpad(((row_number() OVER () + $3) % $4 + 1)::text, 4, '0') AS owner
         FROM picked),
     moved AS (
         UPDATE leads l SET state = 'OWNED', owner_id = d.owner, acquired_at = now(),
                acquired_via = 'DISTRIBUTE', version = l.version + 1, updated_at = now()
         FROM dealt d WHERE l.tenant_id = $1 AND l.id = d.id
         RETURNING l.id, l.pool_id, l.owner_id),
     counted AS (
         UPDATE members m SET held_count = m.held_count + c.n
         FROM (SELECT owner_id, count(*) AS n FROM moved GROUP BY owner_id) c
         WHERE m.tenant_id = $1 AND m.pool_id = $2 AND m.user_id = c.owner_id),
     event AS (
         INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, to_owner, actor, occurred_at)
         SELECT $1, id, pool_id, 'DISTRIBUTED', owner_id, 'bench-baseline', now() FROM moved)
     SELECT count(*) FROM moved";

/// `CLIENTS` callers of `Distribute` until a call finds nothing left; their tally and the time.
async fn drain(addr: std::net::SocketAddr, pool_id: Uuid) -> Result<(Tally, Duration)> {
    let bar = seed::spinner("Distribute");
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let client = AssignmentServiceClient::new(connect(addr).await?);
        tasks.spawn(caller(client, pool_id));
    }
    let mut tally = Tally::new()?;
    while let Some(done) = tasks.join_next().await {
        tally.merge(&done??)?;
    }
    bar.finish_and_clear();
    Ok((tally, started.elapsed()))
}

async fn caller(
    mut client: AssignmentServiceClient<Channel>,
    pool_id: Uuid,
) -> Result<Tally, BoxError> {
    let admin = Caller::new(TENANT, "bench-manager", Some("admin"))?;
    let mut tally = Tally::new()?;
    loop {
        let request = admin.request(DistributeRequest {
            pool_id: pool_id.to_string(),
            limit: BATCH,
            strategy: DistributionStrategy::Weighted.into(),
            ..Default::default()
        });
        let started = Instant::now();
        let result = client.distribute(request).await;
        tally.record(started.elapsed(), &result);
        let plan = result?.into_inner().plan.unwrap_or_default();
        if plan.assignments.is_empty() {
            return Ok(tally);
        }
    }
}

/// The largest |leads − N·wᵢ/W| over the pool's members.
async fn spread_error(db: &PgPool, pool_id: Uuid) -> Result<f64> {
    let rows: Vec<(String, i32, i32)> = sqlx::query_as(
        "SELECT user_id, weight, held_count FROM members WHERE tenant_id = $1 AND pool_id = $2",
    )
    .bind(TENANT)
    .bind(pool_id)
    .fetch_all(db)
    .await?;
    let total_weight: f64 = rows.iter().map(|(_, w, _)| f64::from(*w)).sum();
    let held: HashMap<&str, f64> = rows
        .iter()
        .map(|(user, _, held)| (user.as_str(), f64::from(*held)))
        .collect();
    let n: f64 = held.values().sum();
    Ok(rows
        .iter()
        .map(|(user, weight, _)| {
            (held[user.as_str()] - n * f64::from(*weight) / total_weight).abs()
        })
        .fold(0.0, f64::max))
}

async fn in_pool(db: &PgPool) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM leads WHERE tenant_id = $1 AND state = 'IN_POOL'")
            .bind(TENANT)
            .fetch_one(db)
            .await?,
    )
}
