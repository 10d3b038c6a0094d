//! `rush`: the 9:00 rush. 64 clients, one per member, call `ClaimNext` on one pool of 100,000
//! leads (pull order A, then B, then the rest) until each member's cap of 50 stops them; the
//! baseline is the claim scenario's pgbench in the same run. Every caller must fill its cap, and
//! no lead may go to two callers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use leadpool::proto::ClaimNextRequest;
use leadpool::proto::lead_service_client::LeadServiceClient;

use crate::baseline::{self, Pgbench};
use crate::claim::{self, latencies};
use crate::cli::Cli;
use crate::dbserver::BenchDb;
use crate::invariants::{self, Check, Wins};
use crate::load::{Tally, is_clean_refusal};
use crate::report::{Goal, Report, f1, f2};
use crate::seed::{self, Fixture, TENANT};
use crate::service::{Caller, InProcess, connect};
use crate::{BoxError, Result};

const CLIENTS: i32 = 64;
const CAP: i32 = 50;
const RATIO_GOAL: f64 = 0.5;
const P99_GOAL_MS: f64 = 50.0;

pub async fn run(cli: &Cli, db: &BenchDb) -> Result<Report> {
    let plan = seed::Plan {
        leads: cli.size(100_000, 10_000),
        members: CLIENTS,
        cap: Some(CAP),
        owned_every: 0,
    };
    let fx = seed::seed(&db.pool, plan).await?;
    sqlx::query("UPDATE pools SET pull_order = '{A,B}' WHERE tenant_id = $1")
        .bind(TENANT)
        .execute(&db.pool)
        .await?;
    let leads = Arc::new(seed::lead_ids(&db.pool).await?);
    let pg = cli.shared_dir.join("pg");
    baseline::psql(db, &pg.join("claim_limit_setup.sql")).await?;
    let script = pg.join("claim_limit_1rt.sql");
    let base = baseline::pgbench(db, &script, claim::CLIENTS, claim::duration(cli)).await?;

    let service = InProcess::start(db.options.clone()).await?;
    let rush = rush(service.addr, &fx, &leads).await;
    service.stop().await?;
    let rush = rush?;
    let mut checks = invariants::check(&db.pool, Some((&rush.wins, &leads, &fx.members))).await?;
    checks.push(Check {
        name: "every caller filled its cap, stopped only by it",
        violations: rush.short_of_cap,
    });
    Ok(report(&rush, &base, checks, leads.len()))
}

/// What the rush did.
struct Rush {
    tally: Tally,
    wins: Wins,
    elapsed: Duration,
    /// Callers that ended below their cap, or on another refusal than the cap.
    short_of_cap: i64,
}

/// Every member's client calls `ClaimNext` until refused, all at once.
async fn rush(addr: SocketAddr, fx: &Fixture, leads: &[Uuid]) -> Result<Rush> {
    let index: Arc<HashMap<Uuid, u32>> = Arc::new(
        leads
            .iter()
            .enumerate()
            .map(|(i, id)| Ok((*id, u32::try_from(i)?)))
            .collect::<Result<_>>()?,
    );
    let callers = fx.callers()?;
    let mut channels = Vec::new();
    for _ in &callers {
        channels.push(connect(addr).await?);
    }
    let spinner = seed::spinner("rush");
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (member, (caller, channel)) in callers.into_iter().zip(channels).enumerate() {
        let client = LeadServiceClient::new(channel);
        let request = ClaimNextRequest {
            pool_id: fx.pool_id.to_string(),
            ..Default::default()
        };
        let index = index.clone();
        tasks.spawn(claim_until_refused(client, caller, request, index, member));
    }
    let mut rush = Rush {
        tally: Tally::new()?,
        wins: Wins::default(),
        elapsed: Duration::ZERO,
        short_of_cap: 0,
    };
    while let Some(done) = tasks.join_next().await {
        let (tally, wins, stopped_by_cap) = done??;
        rush.short_of_cap += i64::from(!stopped_by_cap || wins.0.len() != CAP as usize);
        rush.tally.merge(&tally)?;
        rush.wins.merge(wins);
    }
    rush.elapsed = started.elapsed();
    spinner.finish_and_clear();
    Ok(rush)
}

/// One member's calls until the first refusal: what they won, and whether their cap stopped them.
async fn claim_until_refused(
    mut client: LeadServiceClient<tonic::transport::Channel>,
    caller: Caller,
    request: ClaimNextRequest,
    index: Arc<HashMap<Uuid, u32>>,
    member: usize,
) -> Result<(Tally, Wins, bool), BoxError> {
    let mut tally = Tally::new()?;
    let mut wins = Wins::default();
    let member = u32::try_from(member)?;
    loop {
        let started = Instant::now();
        let result = client.claim_next(caller.request(request.clone())).await;
        tally.record(started.elapsed(), &result);
        match result {
            Ok(response) => {
                let lead = response
                    .into_inner()
                    .lead
                    .ok_or("a claim without its lead")?;
                let id: Uuid = lead.id.parse()?;
                let lead = *index.get(&id).ok_or("a lead the seed did not make")?;
                wins.0.push((lead, member));
            }
            Err(status) => {
                let capped = is_clean_refusal(&status, &["HELD_LIMIT_REACHED"]);
                return Ok((tally, wins, capped));
            }
        }
    }
}

fn report(rush: &Rush, base: &Pgbench, checks: Vec<Check>, leads: usize) -> Report {
    let secs = rush.elapsed.as_secs_f64();
    let claims_per_s = rush.tally.ok as f64 / secs;
    let ratio = claims_per_s / base.tps;
    let p99 = rush.tally.ms(0.99);
    let mut report = Report::new("rush", vec!["figure", "value"]);
    report.figure_rows([
        (
            "pool leads / callers / cap each",
            format!("{leads} / {CLIENTS} / {CAP}"),
        ),
        ("claims (ClaimNext successes)", rush.tally.ok.to_string()),
        ("rush duration (s)", f2(secs)),
        ("service claims/s", f1(claims_per_s)),
        ("pgbench tps, claim_limit_1rt.sql (baseline)", f1(base.tps)),
        ("**ratio** claims/s ÷ baseline tps", f2(ratio)),
        ("latency p50 / p90 / p99 / max (ms)", latencies(&rush.tally)),
        (
            "error mix (the last call of each caller)",
            rush.tally.error_mix(),
        ),
    ]);
    report.goals.push(Goal::new(
        format!("claims/s ÷ baseline tps ≥ {RATIO_GOAL}"),
        f2(ratio),
        ratio >= RATIO_GOAL,
    ));
    report.goals.push(Goal::under_ms("p99", p99, P99_GOAL_MS));
    report.invariants("rush", checks);
    report.notes.push(format!(
        "the service runs in-process; {CLIENTS} clients, each its own connection and member; the baseline is pgbench with {} clients, as in the claim scenario",
        claim::CLIENTS
    ));
    report.figures = json!({
        "leads": leads,
        "clients": CLIENTS,
        "cap": CAP,
        "seconds": secs,
        "service": rush.tally.json(),
        "claims_per_s": claims_per_s,
        "pgbench": { "tps": base.tps, "latency_avg_ms": base.latency_ms },
        "ratio": ratio,
    });
    report
}
