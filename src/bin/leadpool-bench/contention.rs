//! `contention`: many members race for the same few leads, each trying every lead in its own
//! order until the pool is empty or its cap is reached. Measures the time to drain the pool and
//! checks that every loser got a clean FAILED_PRECONDITION and that the invariants hold.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Barrier;
use tonic::transport::Channel;
use uuid::Uuid;

use leadpool::proto::ClaimLeadRequest;
use leadpool::proto::lead_service_client::LeadServiceClient;

use crate::claim::latencies;
use crate::cli::Cli;
use crate::dbserver::BenchDb;
use crate::invariants::{self, Check, Wins};
use crate::load::{Tally, is_clean_refusal};
use crate::report::{Report, f1, f2};
use crate::seed::{self, TENANT};
use crate::service::{Caller, InProcess, connect};
use crate::{BoxError, Result};

const CAP: i32 = 20;
/// The refusals a loser of this race may get.
const LOSER_REASONS: [&str; 2] = ["LEAD_NOT_IN_POOL", "HELD_LIMIT_REACHED"];

/// One racer's outcome.
struct Racer {
    tally: Tally,
    wins: Wins,
    unclean: u64,
    last_win: Option<Instant>,
    capped: bool,
}

/// The race's totals over all racers.
struct Outcome {
    tally: Tally,
    wins: Wins,
    unclean: u64,
    capped: usize,
    /// From the start to the last lead won.
    drain: Duration,
    /// From the start until every racer stopped.
    finished: Duration,
}

pub async fn run(cli: &Cli, db: &BenchDb) -> Result<Report> {
    let clients: i32 = cli.size(64, 16);
    let plan = seed::Plan {
        leads: cli.size(1_000, 200),
        members: clients,
        cap: Some(CAP),
        owned_every: 0,
    };
    let fx = seed::seed(&db.pool, plan).await?;
    let leads = Arc::new(seed::lead_ids(&db.pool).await?);
    let service = InProcess::start(db.options.clone()).await?;
    let raced = race(service.addr, &fx.members, leads.clone()).await;
    service.stop().await?;
    let (racers, started, finished) = raced?;
    let outcome = Outcome::of(racers, started, finished)?;
    let wins = &outcome.wins;
    let mut checks = invariants::check(&db.pool, Some((wins, &leads, &fx.members))).await?;
    checks.push(Check {
        name: "every loser gets a clean FAILED_PRECONDITION",
        violations: i64::try_from(outcome.unclean)?,
    });
    checks.push(Check {
        name: "the pool is drained (capacity exceeds the leads)",
        violations: i64::try_from(leads.len())? - i64::try_from(wins.distinct_leads())?,
    });
    Ok(report(clients, leads.len(), &outcome, checks))
}

impl Outcome {
    fn of(racers: Vec<Racer>, started: Instant, finished: Duration) -> Result<Self> {
        let mut tally = Tally::new()?;
        let mut wins = Wins::default();
        for r in &racers {
            tally.merge(&r.tally)?;
            wins.merge(r.wins.clone());
        }
        let drained_at = racers.iter().filter_map(|r| r.last_win).max();
        Ok(Self {
            tally,
            wins,
            unclean: racers.iter().map(|r| r.unclean).sum(),
            capped: racers.iter().filter(|r| r.capped).count(),
            drain: drained_at.map_or(Duration::ZERO, |t| t - started),
            finished,
        })
    }
}

fn report(clients: i32, leads: usize, outcome: &Outcome, checks: Vec<Check>) -> Report {
    let Outcome {
        tally,
        wins,
        unclean,
        capped,
        drain,
        finished,
    } = outcome;
    let mut report = Report::new("contention", vec!["figure", "value"]);
    report.figure_rows([
        (
            "clients (members) × cap / leads",
            format!("{clients} × {CAP} / {leads}"),
        ),
        ("**time to drain** (s)", f2(drain.as_secs_f64())),
        (
            "time until every client stopped (s)",
            f2(finished.as_secs_f64()),
        ),
        (
            "claims won / members at cap",
            format!("{} / {capped}", wins.distinct_leads()),
        ),
        (
            "ClaimLead calls/s",
            f1(tally.calls() as f64 / finished.as_secs_f64()),
        ),
        ("latency p50 / p90 / p99 / max (ms)", latencies(tally)),
        ("error mix", tally.error_mix()),
        ("unclean refusals", unclean.to_string()),
    ]);
    report.invariants("contention race", checks);
    report.figures = json!({
        "clients": clients, "cap": CAP, "leads": leads,
        "drain_seconds": drain.as_secs_f64(),
        "all_stopped_seconds": finished.as_secs_f64(),
        "members_at_cap": capped,
        "unclean_refusals": unclean,
        "service": tally.json(),
    });
    report.goals.push(crate::report::Goal::new(
        "invariants hold, every loser gets a clean FAILED_PRECONDITION",
        if report.invariants_hold() {
            "hold"
        } else {
            "violated"
        },
        report.invariants_hold(),
    ));
    report
}

/// Every member on its own connection; all start together at a barrier.
async fn race(
    addr: SocketAddr,
    members: &[String],
    leads: Arc<Vec<Uuid>>,
) -> Result<(Vec<Racer>, Instant, Duration)> {
    let barrier = Arc::new(Barrier::new(members.len() + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, member) in members.iter().enumerate() {
        let client = LeadServiceClient::new(connect(addr).await?);
        let caller = Caller::new(TENANT, member, None)?;
        let (leads, barrier) = (leads.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            racer(client, caller, i as u32, leads, i as u64).await
        });
    }
    barrier.wait().await;
    let started = Instant::now();
    let bar = seed::spinner("racing");
    let mut racers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        racers.push(done??);
    }
    bar.finish_and_clear();
    Ok((racers, started, started.elapsed()))
}

async fn racer(
    mut client: LeadServiceClient<Channel>,
    caller: Caller,
    member: u32,
    leads: Arc<Vec<Uuid>>,
    seed: u64,
) -> Result<Racer, BoxError> {
    let mut order: Vec<usize> = (0..leads.len()).collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut order);
    let mut me = Racer {
        tally: Tally::new()?,
        wins: Wins::default(),
        unclean: 0,
        last_win: None,
        capped: false,
    };
    for lead in order {
        let request = caller.request(ClaimLeadRequest {
            lead_id: leads[lead].to_string(),
            ..Default::default()
        });
        let started = Instant::now();
        let result = client.claim_lead(request).await;
        me.tally.record(started.elapsed(), &result);
        match result {
            Ok(_) => {
                me.wins.0.push((u32::try_from(lead)?, member));
                me.last_win = Some(Instant::now());
            }
            Err(status) if !is_clean_refusal(&status, &LOSER_REASONS) => me.unclean += 1,
            Err(status) if is_clean_refusal(&status, &["HELD_LIMIT_REACHED"]) => {
                me.capped = true;
                break;
            }
            Err(_) => {}
        }
    }
    Ok(me)
}
