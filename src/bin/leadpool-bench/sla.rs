//! `sla`: every owned lead was pushed to its member and missed its accept deadline at once; one
//! reroute sweep (the scheduler's own, `service::acceptance::reroute_sweep`, run in this process
//! against the bench database) passes them all on. The baseline is the `recycle` scenario's
//! set-based statement on an identical copy of the same rows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use leadpool::domain::clock::SystemClock;
use leadpool::service::Context;
use leadpool::service::acceptance::reroute_sweep;

use crate::Result;
use crate::cli::Cli;
use crate::dbserver::BenchDb;
use crate::invariants::{self, Check};
use crate::recycle;
use crate::report::{Goal, Report, f1, f2};
use crate::seed::{self, TENANT};

const RATIO_GOAL: f64 = 3.0;
/// Leads per transaction: the scheduler's default.
const BATCH: u32 = 1_000;

pub async fn run(cli: &Cli, db: &BenchDb) -> Result<Report> {
    let leads = recycle::seed_owned(cli, db).await?;
    make_missed(db).await?;
    let baseline = recycle::baseline(db, "l.accept_deadline <= now()").await?;

    let ctx = Context::new(db.pool.clone(), Arc::new(SystemClock));
    let spinner = seed::spinner("rerouting");
    let started = Instant::now();
    let handled = reroute_sweep(&ctx, BATCH, &CancellationToken::new()).await?;
    let sweep = started.elapsed();
    spinner.finish_and_clear();

    let mut checks = invariants::check(&db.pool, None).await?;
    checks.extend(sla_checks(db, leads, handled).await?);
    Ok(report(leads, sweep, baseline, checks))
}

fn report(leads: i64, sweep: Duration, baseline: Duration, checks: Vec<Check>) -> Report {
    let ratio = sweep.as_secs_f64() / baseline.as_secs_f64();
    let mut report = Report::new("sla", vec!["figure", "value"]);
    report.figure_rows([
        ("pushed leads past their accept deadline", leads.to_string()),
        ("**reroute sweep** (s)", f2(sweep.as_secs_f64())),
        (
            "baseline: the recycle scenario's UPDATE … RETURNING + INSERT (s)",
            f2(baseline.as_secs_f64()),
        ),
        ("**sweep ÷ baseline**", f2(ratio)),
        ("leads rerouted/s", f1(leads as f64 / sweep.as_secs_f64())),
    ]);
    report.goals.push(Goal::new(
        format!("sweep ÷ baseline ≤ {RATIO_GOAL}"),
        f2(ratio),
        ratio <= RATIO_GOAL,
    ));
    report.invariants("one reroute sweep", checks);
    report.notes.push(format!(
        "the sweep runs in the bench process on its connection pool, {BATCH} leads per \
         transaction (the scheduler's default), one pool with round-robin distribution and an \
         hour's accept_within; each lead gets one ESCALATED and one REROUTED event and a new \
         owner with a fresh deadline"
    ));
    report.figures = json!({
        "leads": leads,
        "sweep_seconds": sweep.as_secs_f64(),
        "baseline_seconds": baseline.as_secs_f64(),
        "ratio": ratio,
    });
    report
}

/// Gives the pool an hour's accept window and makes every owned lead one its member was pushed
/// and missed a minute ago.
async fn make_missed(db: &BenchDb) -> Result<()> {
    let spinner = seed::spinner("accept deadlines");
    db.rewrite_leads(&format!(
        "UPDATE pools SET accept_within_seconds = 3600, max_reroutes = 2
         WHERE tenant_id = '{TENANT}';
         UPDATE leads SET accept_deadline = now() - interval '1 minute',
                          accept_chain = ARRAY[owner_id], acquired_via = 'DISTRIBUTE'
         WHERE tenant_id = '{TENANT}' AND state = 'OWNED';"
    ))
    .await?;
    spinner.finish_and_clear();
    Ok(())
}

/// What one sweep over missed leads must leave: each escalated and rerouted once, to another
/// member, and none still waiting past its deadline.
async fn sla_checks(db: &BenchDb, leads: i64, handled: u64) -> Result<Vec<Check>> {
    let (escalated, rerouted, distinct, to_self, due): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE kind = 'ESCALATED'),
                    count(*) FILTER (WHERE kind = 'REROUTED'),
                    count(DISTINCT lead_id) FILTER (WHERE kind = 'REROUTED'),
                    count(*) FILTER (WHERE kind = 'REROUTED' AND from_owner = to_owner),
                    (SELECT count(*) FROM leads
                     WHERE tenant_id = $1 AND accept_deadline <= now())
             FROM lead_events WHERE tenant_id = $1",
    )
    .bind(TENANT)
    .fetch_one(&db.pool)
    .await?;
    let handled = i64::try_from(handled).unwrap_or(i64::MAX);
    Ok(vec![
        Check {
            name: "every missed lead handled, as the sweep says",
            violations: (leads - handled).abs() + (leads - escalated).abs(),
        },
        Check {
            name: "one REROUTED event per lead, never back to its member",
            violations: (leads - rerouted).abs() + (rerouted - distinct) + to_self,
        },
        Check {
            name: "no lead left past its accept deadline",
            violations: due,
        },
    ])
}
