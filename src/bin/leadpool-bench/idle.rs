//! `idle`: the service's memory at rest and under the `claim` load. The service runs as the
//! real `leadpool` binary in a child process (DATABASE_URL, LEADPOOL_LISTEN, default logging to
//! a file), so `/proc/<pid>/status` shows its memory alone, not the bench's clients.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::Result;
use crate::claim::{self, CLIENTS, ClaimRun, latencies};
use crate::cli::Cli;
use crate::dbserver::BenchDb;
use crate::invariants::{self, Check};
use crate::report::{Goal, Report, f1, rss_mib};
use crate::service::{ChildService, service_binary};

const IDLE_GOAL_MIB: f64 = 50.0;
const LOAD_GOAL_MIB: f64 = 150.0;
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

pub async fn run(cli: &Cli, db: &BenchDb) -> Result<Report> {
    let binary = service_binary().await?;
    let (fx, leads) = claim::seed_leads(db, cli).await?;
    std::fs::create_dir_all(&cli.out_dir)?;
    let log = cli.out_dir.join("idle-service.log");
    let service = ChildService::start(&binary, &db.uri, &log, &[]).await?;
    let pid = service.pid()?.to_string();
    tokio::time::sleep(Duration::from_secs(cli.size(3, 1))).await;
    let (idle_rss, idle_hwm) = rss_mib(&pid)?;
    let load = claim::claim_load(service.addr, &fx, leads.clone(), cli);
    let (run, peak_sampled) = with_peak_sampled(&pid, load).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (after_rss, load_hwm) = rss_mib(&pid)?;
    service.stop().await?;
    let run = run?;
    let checks = invariants::check(&db.pool, Some((&run.wins, &leads, &fx.members))).await?;
    let memory = Memory {
        idle_rss,
        idle_hwm,
        peak_sampled,
        load_hwm,
        after_rss,
    };
    Ok(report(&memory, &run, checks, &binary, &log))
}

/// The service's memory (MiB) at rest, under the load and after it.
struct Memory {
    idle_rss: f64,
    idle_hwm: f64,
    /// The largest VmRSS sampled under the load.
    peak_sampled: f64,
    load_hwm: f64,
    after_rss: f64,
}

fn report(
    memory: &Memory,
    run: &ClaimRun,
    checks: Vec<Check>,
    binary: &Path,
    log: &Path,
) -> Report {
    let Memory {
        idle_rss,
        idle_hwm,
        peak_sampled,
        load_hwm,
        after_rss,
    } = *memory;
    let mut report = Report::new("idle", vec!["phase", "RSS MiB", "peak (VmHWM) MiB"]);
    report.row(vec![
        "at rest, after start".into(),
        f1(idle_rss),
        f1(idle_hwm),
    ]);
    report.row(vec![
        format!(
            "under claim load ({CLIENTS} clients, {} claims/s)",
            f1(run.tally.ok as f64 / run.elapsed.as_secs_f64())
        ),
        format!("max sampled {}", f1(peak_sampled)),
        f1(load_hwm),
    ]);
    report.row(vec![
        "1 s after the load".into(),
        f1(after_rss),
        f1(load_hwm),
    ]);
    report.goals.push(Goal::new(
        format!("idle RSS < {IDLE_GOAL_MIB} MiB"),
        format!("{} MiB", f1(idle_rss)),
        idle_rss < IDLE_GOAL_MIB,
    ));
    report.goals.push(Goal::new(
        format!("RSS under load < {LOAD_GOAL_MIB} MiB"),
        format!("{} MiB peak", f1(load_hwm)),
        load_hwm < LOAD_GOAL_MIB,
    ));
    report.invariants("claim load on the child service", checks);
    report.notes.push(format!(
        "service = `{}` as a child process with default settings (20 DB connections, info logs to {}); load latency p50/p90/p99/max {} ms, errors {}",
        binary.display(), log.display(), latencies(&run.tally), run.tally.error_mix()
    ));
    report.figures = json!({
        "service": "child process",
        "rss_mib": { "idle": idle_rss, "idle_peak": idle_hwm, "load_max_sampled": peak_sampled, "load_peak": load_hwm, "after_load": after_rss },
        "load": run.tally.json(),
        "claims_per_s": run.tally.ok as f64 / run.elapsed.as_secs_f64(),
    });
    report
}

/// Runs `work` while sampling the VmRSS of process `pid`: its output and the largest VmRSS seen.
pub async fn with_peak_sampled<T>(pid: &str, work: impl Future<Output = T>) -> Result<(T, f64)> {
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample_peak(pid.to_owned(), sampling.clone()));
    let output = work.await;
    sampling.store(false, Ordering::Relaxed);
    Ok((output, sampler.await?))
}

/// The largest VmRSS seen while `running`.
async fn sample_peak(pid: String, running: Arc<AtomicBool>) -> f64 {
    let mut peak: f64 = 0.0;
    while running.load(Ordering::Relaxed) {
        if let Ok((rss, _)) = rss_mib(&pid) {
            peak = peak.max(rss);
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    peak
}
