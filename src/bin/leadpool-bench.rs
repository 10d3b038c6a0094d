//! leadpool-bench: the benchmark of `shared/bench.md`.
//!
//! `cargo run --release --bin leadpool-bench -- <scenario>|all [--quick]` starts the service
//! against a fresh database (on `DATABASE_URL`'s server, else on a private PostgreSQL), seeds it
//! with set-based SQL, drives it through the generated gRPC client, runs the scenario's baseline
//! on the same database server in the same run, checks the invariants after every load phase,
//! prints a Markdown table and writes `target/bench/<scenario>.json`.
//!
//! A violated invariant or a failed scenario makes the exit status non-zero; a missed goal does
//! not (the machines are noisy), it is reported as `miss` with the figure.

// The modules live in `src/bin/leadpool-bench/`; `#[path]` keeps Cargo from taking each of
// them for a binary of its own, as it would in `src/bin/`.
#[path = "leadpool-bench/baseline.rs"]
mod baseline;
#[path = "leadpool-bench/claim.rs"]
mod claim;
#[path = "leadpool-bench/cli.rs"]
mod cli;
#[path = "leadpool-bench/contention.rs"]
mod contention;
#[path = "leadpool-bench/dbserver.rs"]
mod dbserver;
#[path = "leadpool-bench/distribute.rs"]
mod distribute;
#[path = "leadpool-bench/idle.rs"]
mod idle;
#[path = "leadpool-bench/import.rs"]
mod import;
#[path = "leadpool-bench/invariants.rs"]
mod invariants;
#[path = "leadpool-bench/list.rs"]
mod list;
#[path = "leadpool-bench/load.rs"]
mod load;
#[path = "leadpool-bench/recycle.rs"]
mod recycle;
#[path = "leadpool-bench/report.rs"]
mod report;
#[path = "leadpool-bench/reports.rs"]
mod reports;
#[path = "leadpool-bench/rush.rs"]
mod rush;
#[path = "leadpool-bench/seed.rs"]
mod seed;
#[path = "leadpool-bench/service.rs"]
mod service;
#[path = "leadpool-bench/sla.rs"]
mod sla;
#[path = "leadpool-bench/watch.rs"]
mod watch;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Scenario};
use dbserver::DbServer;
use report::Report;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = BoxError> = std::result::Result<T, E>;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service's own logs (one line per RPC with its latency) only when asked for, since
    // they cost time and would cover the tables: `LEADPOOL_LOG=info` for tracing timings.
    if let Ok(filter) = std::env::var("LEADPOOL_LOG") {
        // Without an OTLP endpoint there is nothing that can fail.
        let _ = leadpool::telemetry::init(leadpool::config::LogFormat::Pretty, &filter, None);
    }
    let scenarios = cli.scenario.expand();
    let server = match DbServer::start(&cli).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("cannot reach a database server: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = Vec::new();
    for scenario in scenarios {
        match run_one(&cli, &server, scenario).await {
            Ok(report) if report.invariants_hold() => {}
            Ok(_) => failed.push(format!("{}: invariant violated", scenario.name())),
            Err(err) => failed.push(format!("{}: {err}", scenario.name())),
        }
    }
    if let Err(err) = server.stop().await {
        eprintln!("stopping the private PostgreSQL failed: {err}");
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("\nFAILED:\n  {}", failed.join("\n  "));
        ExitCode::FAILURE
    }
}

/// Runs one scenario on its own fresh database, which is dropped afterwards whatever happened.
async fn run_one(cli: &Cli, server: &DbServer, scenario: Scenario) -> Result<Report> {
    eprintln!("\n== {} ==", scenario.name());
    let db = server.create_database(scenario.name()).await?;
    let result = match scenario {
        Scenario::Claim => claim::run(cli, &db).await,
        Scenario::Contention => contention::run(cli, &db).await,
        Scenario::List => list::run(cli, &db).await,
        Scenario::Idle => idle::run(cli, &db).await,
        Scenario::Import => import::run(cli, &db).await,
        Scenario::Watch => watch::run(cli, &db).await,
        Scenario::Recycle => recycle::run(cli, &db).await,
        Scenario::Distribute => distribute::run(cli, &db).await,
        Scenario::Rush => rush::run(cli, &db).await,
        Scenario::Sla => sla::run(cli, &db).await,
        Scenario::Report => reports::run(cli, &db).await,
        Scenario::All => Err("`all` is expanded into its scenarios before they run".into()),
    };
    if cli.keep_db {
        eprintln!("kept database {} (--keep-db)", db.name);
    } else {
        server.drop_database(&db).await;
    }
    let mut report = result?;
    report.finish(cli, server).await?;
    Ok(report)
}
