//! Command line: the scenario, `--quick`, and where the baseline scripts and reports live.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The benchmark of shared/bench.md: one scenario (or all) against a fresh database, with its
/// baseline measured in the same run. DATABASE_URL picks the database server; unset, a private
/// PostgreSQL is started under --pg-dir.
#[derive(Debug, Parser)]
#[command(name = "leadpool-bench")]
pub struct Cli {
    /// The scenario to run, or `all` for every implemented one.
    #[arg(value_enum)]
    pub scenario: Scenario,

    /// Small sizes and short phases (a few seconds per scenario), so CI keeps the bench alive.
    #[arg(long)]
    pub quick: bool,

    /// The shared directory holding `pg/claim_limit_*.sql` (default: `../shared` beside the repo).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared"))]
    pub shared_dir: PathBuf,

    /// Directory of the private PostgreSQL, used when DATABASE_URL is unset.
    #[arg(long, default_value = ".leadpool-bench")]
    pub pg_dir: PathBuf,

    /// Keep each scenario's database afterwards (for EXPLAIN and other digging) instead of
    /// dropping it.
    #[arg(long)]
    pub keep_db: bool,

    /// Where `<scenario>.json` goes.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench"))]
    pub out_dir: PathBuf,
}

impl Cli {
    /// `full` at full size, `quick` with `--quick`.
    pub fn size<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}

/// The scenarios of bench.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Claim,
    Contention,
    List,
    Idle,
    Recycle,
    Distribute,
    Import,
    Watch,
    Rush,
    Sla,
    Report,
    All,
}

impl Scenario {
    /// What `all` runs, in this order.
    pub const EVERY: [Scenario; 11] = [
        Self::Claim,
        Self::Contention,
        Self::List,
        Self::Idle,
        Self::Import,
        Self::Watch,
        Self::Recycle,
        Self::Distribute,
        Self::Rush,
        Self::Sla,
        Self::Report,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::Contention => "contention",
            Self::List => "list",
            Self::Idle => "idle",
            Self::Recycle => "recycle",
            Self::Distribute => "distribute",
            Self::Import => "import",
            Self::Watch => "watch",
            Self::Rush => "rush",
            Self::Sla => "sla",
            Self::Report => "report",
            Self::All => "all",
        }
    }

    /// The scenarios to run: `all` is every one.
    pub fn expand(self) -> Vec<Scenario> {
        match self {
            Self::All => Self::EVERY.to_vec(),
            s => vec![s],
        }
    }
}
