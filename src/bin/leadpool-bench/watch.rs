//! `watch`: one follower on `WatchEvents` while the `claim` load runs; how fast events reach it
//! after they happen, and whether it saw each committed event exactly once.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde_json::json;

use leadpool::proto::event_service_client::EventServiceClient;
use leadpool::proto::{WatchEventsRequest, watch_events_response::Item};

use crate::claim::{self, CLIENTS, ClaimRun};
use crate::cli::Cli;
use crate::dbserver::BenchDb;
use crate::invariants::{self, Check};
use crate::report::{Goal, Report, f1, f2};
use crate::seed::TENANT;
use crate::service::{Caller, InProcess, connect};
use crate::{BoxError, Result};

const LAG_P99_GOAL_MS: f64 = 200.0;
/// How long the follower may take to catch up after the load stops.
const DRAIN: Duration = Duration::from_secs(30);

/// What the follower saw: every event's seq, and the lag of each from its `occurred_at` (taken
/// by the service as the change began, so the lag includes the change's own commit).
struct Followed {
    seqs: Vec<i64>,
    lag_us: Histogram<u64>,
}

pub async fn run(cli: &Cli, db: &BenchDb) -> Result<Report> {
    let (fx, leads) = claim::seed_leads(db, cli).await?;
    let service = InProcess::start(db.options.clone()).await?;
    let load_done = Arc::new(AtomicBool::new(false));
    let follower = tokio::spawn(follow(service.addr, db.pool.clone(), load_done.clone()));
    let started = Instant::now();
    let load = claim::claim_load(service.addr, &fx, leads.clone(), cli).await;
    let load_secs = started.elapsed().as_secs_f64();
    load_done.store(true, Ordering::Relaxed);
    let followed = follower.await?;
    service.stop().await?;
    let (load, followed) = (load?, followed?);

    let committed: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM lead_events WHERE tenant_id = $1")
            .bind(TENANT)
            .fetch_all(&db.pool)
            .await?;
    let mut checks = invariants::check(&db.pool, Some((&load.wins, &leads, &fx.members))).await?;
    checks.extend(delivery_checks(&committed, &followed.seqs));
    Ok(report(committed.len(), &followed, &load, load_secs, checks))
}

fn report(
    committed: usize,
    followed: &Followed,
    load: &ClaimRun,
    load_secs: f64,
    checks: Vec<Check>,
) -> Report {
    let mut report = Report::new("watch", vec!["figure", "value"]);
    report.invariants("watch", checks);
    let lag_ms = |q: f64| followed.lag_us.value_at_quantile(q) as f64 / 1_000.0;
    let delivered_per_s = followed.seqs.len() as f64 / load_secs;
    report.figure_rows([
        ("events committed during the load", committed.to_string()),
        (
            "events delivered to the follower",
            followed.seqs.len().to_string(),
        ),
        ("events/s delivered", f1(delivered_per_s)),
        (
            "lag p50 / p99 / max (ms), occurred_at → received",
            format!(
                "{} / {} / {}",
                f2(lag_ms(0.50)),
                f2(lag_ms(0.99)),
                f2(followed.lag_us.max() as f64 / 1_000.0)
            ),
        ),
        ("claim load p99 (ms)", f2(load.tally.ms(0.99))),
    ]);
    let lag_p99 = lag_ms(0.99);
    report
        .goals
        .push(Goal::under_ms("lag p99", lag_p99, LAG_P99_GOAL_MS));
    report.notes.push(format!(
        "{CLIENTS} claim clients as in `claim`, one WatchEvents follower from the first event"
    ));
    report.figures = json!({
        "committed": committed,
        "delivered": followed.seqs.len(),
        "events_per_s": delivered_per_s,
        "lag_ms": { "p50": lag_ms(0.50), "p99": lag_ms(0.99), "max": followed.lag_us.max() as f64 / 1_000.0 },
        "load": load.tally.json(),
    });
    report
}

/// Follows from the first event until the load is over and every committed event has arrived
/// (or `DRAIN` has passed).
async fn follow(
    addr: SocketAddr,
    db: sqlx::PgPool,
    load_done: Arc<AtomicBool>,
) -> Result<Followed, BoxError> {
    let caller = Caller::new(TENANT, "bench-follower", Some("service"))?;
    let mut client = EventServiceClient::new(connect(addr).await?);
    let mut stream = client
        .watch_events(caller.request(WatchEventsRequest::default()))
        .await?
        .into_inner();
    let mut followed = Followed {
        seqs: Vec::new(),
        lag_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    let mut drain_until = None;
    loop {
        let item = tokio::time::timeout(Duration::from_secs(1), stream.message()).await;
        if let Ok(item) = item {
            let Some(response) = item? else { break };
            if let Some(Item::Event(event)) = response.item {
                followed.seqs.push(event.seq);
                let at = event.occurred_at.ok_or("an event without occurred_at")?;
                let at = DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos)?)
                    .ok_or("occurred_at out of range")?;
                let lag = (Utc::now() - at).num_microseconds().unwrap_or(i64::MAX);
                followed
                    .lag_us
                    .saturating_record(u64::try_from(lag.max(0))?);
            }
        }
        if load_done.load(Ordering::Relaxed) {
            let deadline = *drain_until.get_or_insert_with(|| Instant::now() + DRAIN);
            if caught_up(&db, followed.seqs.len()).await? || Instant::now() > deadline {
                break;
            }
        }
    }
    Ok(followed)
}

async fn caught_up(db: &sqlx::PgPool, received: usize) -> Result<bool> {
    let committed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lead_events WHERE tenant_id = $1")
            .bind(TENANT)
            .fetch_one(db)
            .await?;
    Ok(received as i64 >= committed)
}

/// Every committed event delivered, none twice, none that was never committed.
fn delivery_checks(committed: &[i64], received: &[i64]) -> Vec<Check> {
    let committed: HashSet<i64> = committed.iter().copied().collect();
    let distinct: HashSet<i64> = received.iter().copied().collect();
    vec![
        Check {
            name: "follower missed no committed event",
            violations: committed.difference(&distinct).count() as i64,
        },
        Check {
            name: "follower got no event twice",
            violations: (received.len() - distinct.len()) as i64,
        },
        Check {
            name: "follower got no event that is not in the table",
            violations: distinct.difference(&committed).count() as i64,
        },
    ]
}
