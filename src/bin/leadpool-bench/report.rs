//! One report per scenario: a Markdown table on stdout and `target/bench/<scenario>.json`
//! with the absolute figures, ratios, goals, invariants, commit and machine.

use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use crate::Result;
use crate::cli::Cli;
use crate::dbserver::DbServer;
use crate::invariants::{self, Check};

/// A goal of bench.md and how this run did against it.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    pub goal: String,
    pub measured: String,
    pub pass: bool,
}

impl Goal {
    pub fn new(goal: impl Into<String>, measured: impl Into<String>, pass: bool) -> Self {
        Self {
            goal: goal.into(),
            measured: measured.into(),
            pass,
        }
    }

    /// A latency goal: `what` (`p99`, `lag p99`) under `limit_ms`.
    pub fn under_ms(what: &str, ms: f64, limit_ms: f64) -> Self {
        Self::new(
            format!("{what} < {limit_ms} ms"),
            format!("{} ms", f2(ms)),
            ms < limit_ms,
        )
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: &'static str,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub goals: Vec<Goal>,
    pub invariants: Vec<Check>,
    /// Scenario-specific absolute figures, ratios, latencies, error mix, RSS.
    pub figures: Value,
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(scenario: &'static str, header: Vec<&'static str>) -> Self {
        Self {
            scenario,
            header,
            rows: Vec::new(),
            goals: Vec::new(),
            invariants: Vec::new(),
            figures: json!({}),
            notes: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// A row per (figure, value), for the scenarios whose table has those two columns.
    pub fn figure_rows<'a>(&mut self, rows: impl IntoIterator<Item = (&'a str, String)>) {
        for (figure, value) in rows {
            self.row(vec![figure.into(), value]);
        }
    }

    /// Adds a phase's invariant checks, printing any violation at once.
    pub fn invariants(&mut self, phase: &str, checks: Vec<Check>) {
        for check in checks.iter().filter(|c| c.violations > 0) {
            eprintln!(
                "INVARIANT VIOLATED after {phase}: {} ({} violations)",
                check.name, check.violations
            );
        }
        self.invariants.extend(checks);
    }

    pub fn invariants_hold(&self) -> bool {
        invariants::all_hold(&self.invariants)
    }

    /// Prints the table and writes the JSON file.
    pub async fn finish(&mut self, cli: &Cli, server: &DbServer) -> Result<()> {
        let context = Context::gather(cli, server).await;
        println!("{}", self.markdown(&context));
        std::fs::create_dir_all(&cli.out_dir)?;
        let path = cli.out_dir.join(format!("{}.json", self.scenario));
        std::fs::write(&path, serde_json::to_string_pretty(&self.json(&context))?)?;
        eprintln!("wrote {}", path.display());
        Ok(())
    }

    fn markdown(&self, cx: &Context) -> String {
        let mut out = format!(
            "\n### `{}`{} — commit {}, {} cores, {} MiB, PostgreSQL {} ({})\n\n",
            self.scenario,
            if cx.quick { " (quick)" } else { "" },
            cx.commit,
            cx.cores,
            cx.memory_mib,
            cx.pg_version,
            cx.pg_server
        );
        out += &table_line(self.header.iter().map(|h| h.to_string()));
        out += &table_line(self.header.iter().map(|_| "---".to_string()));
        for row in &self.rows {
            out += &table_line(row.iter().cloned());
        }
        out += "\n";
        for goal in &self.goals {
            let verdict = if goal.pass { "pass" } else { "MISS" };
            out += &format!("- goal {}: {} — **{verdict}**\n", goal.goal, goal.measured);
        }
        let broken: Vec<&Check> = self
            .invariants
            .iter()
            .filter(|c| c.violations > 0)
            .collect();
        out += &match broken.len() {
            0 => format!("- invariants: all {} checks hold\n", self.invariants.len()),
            _ => format!("- invariants: **VIOLATED** {broken:?}\n"),
        };
        for note in &self.notes {
            out += &format!("- {note}\n");
        }
        out
    }

    fn json(&self, cx: &Context) -> Value {
        json!({
            "scenario": self.scenario,
            "quick": cx.quick,
            "commit": cx.commit,
            "machine": { "cores": cx.cores, "memory_mib": cx.memory_mib },
            "database": { "server": cx.pg_server, "version": cx.pg_version },
            "figures": self.figures,
            "goals": self.goals,
            "invariants": self.invariants,
            "invariants_hold": self.invariants_hold(),
            "table": { "header": self.header, "rows": self.rows },
            "notes": self.notes,
        })
    }
}

fn table_line(cells: impl Iterator<Item = String>) -> String {
    format!("| {} |\n", cells.collect::<Vec<_>>().join(" | "))
}

struct Context {
    quick: bool,
    commit: String,
    cores: usize,
    memory_mib: u64,
    pg_server: &'static str,
    pg_version: String,
}

impl Context {
    async fn gather(cli: &Cli, server: &DbServer) -> Self {
        Self {
            quick: cli.quick,
            commit: commit(),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_mib: meminfo_kib("MemTotal").unwrap_or(0) / 1024,
            pg_server: server.label(),
            pg_version: server.version().await.unwrap_or_else(|_| "unknown".into()),
        }
    }
}

/// `git rev-parse --short HEAD`, with `-dirty` when the work tree has changes; "unknown"
/// outside a checkout.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(hash) if git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty()) => {
            format!("{hash}-dirty")
        }
        Some(hash) => hash,
        None => "unknown".into(),
    }
}

fn meminfo_kib(key: &str) -> Option<u64> {
    field_kib(&std::fs::read_to_string("/proc/meminfo").ok()?, key)
}

/// `key:   1234 kB` in a /proc file, in KiB.
pub fn field_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// VmRSS and VmHWM of a process (`self` or a pid), in MiB.
pub fn rss_mib(pid: &str) -> Result<(f64, f64)> {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid).join("status"))?;
    let get = |key| {
        field_kib(&status, key)
            .map(|kib| kib as f64 / 1024.0)
            .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
    };
    Ok((get("VmRSS")?, get("VmHWM")?))
}

/// `12.3` style numbers for the tables.
pub fn f1(x: f64) -> String {
    format!("{x:.1}")
}

pub fn f2(x: f64) -> String {
    format!("{x:.2}")
}
