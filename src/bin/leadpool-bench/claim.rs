//! `claim`: concurrent gRPC clients call `ClaimLead` on random pool leads as random members for
//! a fixed time; the baseline is pgbench running the claim's three writes in one round trip.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use leadpool::proto::ClaimLeadRequest;
use leadpool::proto::lead_service_client::LeadServiceClient;

use crate::baseline::{self, Pgbench};
use crate::cli::Cli;
use crate::dbserver::BenchDb;
use crate::invariants::{self, Wins};
use crate::load::{Tally, Timed};
use crate::report::{Goal, Report, f1, f2, rss_mib};
use crate::seed::{self, Fixture, TENANT};
use crate::service::{Caller, InProcess, connect};
use crate::{BoxError, Result};

pub const CLIENTS: u32 = 16;
const RATIO_GOAL: f64 = 0.6;
const P99_GOAL_MS: f64 = 20.0;

/// The claim scenario's data: the pool leads and the members who claim them.
pub fn plan(cli: &Cli) -> seed::Plan {
    seed::Plan {
        leads: cli.size(200_000, 20_000),
        members: cli.size(200, 50),
        cap: None,
        owned_every: 0,
    }
}

pub fn duration(cli: &Cli) -> Duration {
    Duration::from_secs(cli.size(15, 3))
}

/// Seeds the claim scenario's data (see [`plan`]): its fixture and the ids of its leads.
pub async fn seed_leads(db: &BenchDb, cli: &Cli) -> Result<(Fixture, Arc<Vec<Uuid>>)> {
    let fx = seed::seed(&db.pool, plan(cli)).await?;
    let leads = Arc::new(seed::lead_ids(&db.pool).await?);
    Ok((fx, leads))
}

/// The claim scenario's load on the service at `addr`: [`CLIENTS`] callers for [`duration`].
pub async fn claim_load(
    addr: SocketAddr,
    fx: &Fixture,
    leads: Arc<Vec<Uuid>>,
    cli: &Cli,
) -> Result<ClaimRun> {
    drive(addr, fx, leads, CLIENTS, duration(cli)).await
}

pub async fn run(cli: &Cli, db: &BenchDb) -> Result<Report> {
    let (fx, leads) = seed_leads(db, cli).await?;
    let pg = cli.shared_dir.join("pg");
    baseline::psql(db, &pg.join("claim_limit_setup.sql")).await?;
    let base =
        baseline::pgbench(db, &pg.join("claim_limit_1rt.sql"), CLIENTS, duration(cli)).await?;
    let service = InProcess::start(db.options.clone()).await?;
    let run = claim_load(service.addr, &fx, leads.clone(), cli).await;
    let rss = rss_mib("self")?;
    service.stop().await?;
    let run = run?;
    let mut report = Report::new("claim", vec!["figure", "value"]);
    let checks = invariants::check(&db.pool, Some((&run.wins, &leads, &fx.members))).await?;
    report.invariants("claim load", checks);
    let sql_alone = service_sql_alone(cli, db, leads.len(), fx.members.len()).await?;
    report.invariants(
        "pgbench of the service's claim SQL",
        invariants::check(&db.pool, None).await?,
    );
    fill(&mut report, &run, base, sql_alone, rss);
    report.figures["leads"] = json!(leads.len());
    report.figures["members"] = json!(fx.members.len());
    Ok(report)
}

/// The service's own claim statement (`store::leads::claim`, read from its source) run by
/// pgbench on the service's tables, after the service's phase: what the database alone costs
/// per claim, to split the gap to the baseline between SQL and service. The lead id comes from
/// a numbered copy of the ids, by primary key, since pgbench draws numbers, not UUIDs.
async fn service_sql_alone(
    cli: &Cli,
    db: &BenchDb,
    leads: usize,
    members: usize,
) -> Result<Pgbench> {
    sqlx::raw_sql(
        "CREATE TABLE bench_lead_ids AS
             SELECT row_number() OVER (ORDER BY created_at, id) AS n, id FROM leads;
         ALTER TABLE bench_lead_ids ADD PRIMARY KEY (n);",
    )
    .execute(&db.pool)
    .await?;
    let tenant = format!("'{TENANT}'");
    let sql = baseline::with_values(
        baseline::service_sql("claim")?,
        &[
            &tenant,
            "(SELECT id FROM bench_lead_ids WHERE n = :n)",
            "('rep' || lpad(CAST(:rep AS text), 4, '0'))",
            "now()",
            "NULL::uuid",
            // ClaimTarget::Lead: no pool, region or industry to pick from.
            "NULL::uuid",
            "NULL::text",
            "NULL::text",
        ],
    );
    let script = format!(
        "-- store::leads::claim on the service's tables, written by leadpool-bench.\n\
         \\set n random(1, {leads})\n\\set rep random(1, {members})\n{sql};\n"
    );
    std::fs::create_dir_all(&cli.out_dir)?;
    let path = cli.out_dir.join("claim_service_sql.sql");
    std::fs::write(&path, script)?;
    baseline::pgbench(db, &path, CLIENTS, duration(cli)).await
}

/// The table, goals and JSON figures of a claim run.
fn fill(
    report: &mut Report,
    run: &ClaimRun,
    base: Pgbench,
    sql_alone: Pgbench,
    (rss, hwm): (f64, f64),
) {
    let rates = Rates::of(run, &base);
    report.figure_rows(table(run, &base, &sql_alone, &rates, (rss, hwm)));
    let Rates {
        secs,
        claims_per_s,
        calls_per_s,
        ratio,
    } = rates;
    let p99 = run.tally.ms(0.99);
    report.goals.push(Goal::new(
        format!("claims/s ÷ pgbench tps ≥ {RATIO_GOAL}"),
        f2(ratio),
        ratio >= RATIO_GOAL,
    ));
    report.goals.push(Goal::under_ms("p99", p99, P99_GOAL_MS));
    report.notes.push(
        "the service runs in-process with no log subscriber; its clients share the 2-core runtime"
            .into(),
    );
    report.figures = json!({
        "clients": CLIENTS,
        "seconds": secs,
        "service": run.tally.json(),
        "claims_per_s": claims_per_s,
        "calls_per_s": calls_per_s,
        "pgbench": { "tps": base.tps, "latency_avg_ms": base.latency_ms, "clients": CLIENTS, "script": "claim_limit_1rt.sql" },
        "ratio": ratio,
        "service_sql_alone": { "tps": sql_alone.tps, "latency_avg_ms": sql_alone.latency_ms },
        "rss_mib": { "bench_process": rss, "bench_process_peak": hwm, "note": "service and clients share the bench process; see the idle scenario for the service alone" },
    });
}

/// The two-column table of a claim run.
fn table(
    run: &ClaimRun,
    base: &Pgbench,
    sql_alone: &Pgbench,
    rates: &Rates,
    (rss, hwm): (f64, f64),
) -> [(&'static str, String); 11] {
    let Rates {
        claims_per_s,
        calls_per_s,
        ratio,
        ..
    } = *rates;
    [
        ("service claims/s (successful)", f1(claims_per_s)),
        ("service ClaimLead calls/s", f1(calls_per_s)),
        ("pgbench tps, claim_limit_1rt.sql (baseline)", f1(base.tps)),
        ("**ratio** claims/s ÷ baseline tps", f2(ratio)),
        (
            "service latency p50 / p90 / p99 / max (ms)",
            latencies(&run.tally),
        ),
        ("baseline latency average (ms)", f2(base.latency_ms)),
        (
            "pgbench tps, the service's claim SQL alone",
            f1(sql_alone.tps),
        ),
        (
            "service calls/s ÷ its SQL alone",
            f2(calls_per_s / sql_alone.tps),
        ),
        (
            "calls / ok / failed",
            format!(
                "{} / {} / {}",
                run.tally.calls(),
                run.tally.ok,
                run.tally.failed()
            ),
        ),
        ("error mix", run.tally.error_mix()),
        (
            "bench process RSS / peak (MiB), service + clients",
            format!("{} / {}", f1(rss), f1(hwm)),
        ),
    ]
}

/// A claim run's throughput, against the baseline's.
#[derive(Clone, Copy)]
struct Rates {
    secs: f64,
    claims_per_s: f64,
    calls_per_s: f64,
    ratio: f64,
}

impl Rates {
    fn of(run: &ClaimRun, base: &Pgbench) -> Self {
        let secs = run.elapsed.as_secs_f64();
        let claims_per_s = run.tally.ok as f64 / secs;
        Self {
            secs,
            claims_per_s,
            calls_per_s: run.tally.calls() as f64 / secs,
            ratio: claims_per_s / base.tps,
        }
    }
}

pub fn latencies(tally: &Tally) -> String {
    format!(
        "{} / {} / {} / {}",
        f2(tally.ms(0.50)),
        f2(tally.ms(0.90)),
        f2(tally.ms(0.99)),
        f2(tally.latency.max() as f64 / 1_000.0)
    )
}

/// The outcome of a timed claim load.
pub struct ClaimRun {
    pub tally: Tally,
    pub wins: Wins,
    pub elapsed: Duration,
}

/// `clients` callers, each on its own connection, claim random leads as random members until
/// `duration` has passed.
pub async fn drive(
    addr: SocketAddr,
    fx: &Fixture,
    leads: Arc<Vec<Uuid>>,
    clients: u32,
    duration: Duration,
) -> Result<ClaimRun> {
    let callers = Arc::new(fx.callers()?);
    let mut channels = Vec::new();
    for _ in 0..clients {
        channels.push(connect(addr).await?);
    }
    let timed = Arc::new(Timed::start(duration, "ClaimLead"));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, channel) in channels.into_iter().enumerate() {
        let client = LeadServiceClient::new(channel);
        let (leads, callers, timed) = (leads.clone(), callers.clone(), timed.clone());
        tasks.spawn(claim_loop(client, leads, callers, timed, i as u64));
    }
    let mut run = ClaimRun {
        tally: Tally::new()?,
        wins: Wins::default(),
        elapsed: Duration::ZERO,
    };
    while let Some(done) = tasks.join_next().await {
        let (tally, wins) = done??;
        run.tally.merge(&tally)?;
        run.wins.merge(wins);
    }
    run.elapsed = started.elapsed();
    if let Some(timed) = Arc::into_inner(timed) {
        timed.finish().await;
    }
    Ok(run)
}

async fn claim_loop(
    mut client: LeadServiceClient<tonic::transport::Channel>,
    leads: Arc<Vec<Uuid>>,
    callers: Arc<Vec<Caller>>,
    timed: Arc<Timed>,
    seed: u64,
) -> Result<(Tally, Wins), BoxError> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tally = Tally::new()?;
    let mut wins = Wins::default();
    while timed.running() {
        let lead = rng.usize(..leads.len());
        let member = rng.usize(..callers.len());
        let request = callers[member].request(ClaimLeadRequest {
            lead_id: leads[lead].to_string(),
            ..Default::default()
        });
        let started = Instant::now();
        let result = client.claim_lead(request).await;
        tally.record(started.elapsed(), &result);
        if result.is_ok() {
            wins.0.push((u32::try_from(lead)?, u32::try_from(member)?));
        }
        timed.count();
    }
    Ok((tally, wins))
}
