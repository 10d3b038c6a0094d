//! Baselines measured in the same run on the same database server: pgbench with the shared
//! scripts, and `EXPLAIN (ANALYZE, BUFFERS)` of the service's own SQL.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sqlx::{PgPool, Row};
use tokio::process::Command;

use leadpool::domain::access::Actor;
use leadpool::domain::listing::LeadFilter;
use leadpool::store::leads::list::{Page, statements};

use crate::Result;
use crate::dbserver::{BenchDb, tool};
use crate::seed;

/// What pgbench reported.
#[derive(Debug, Clone, Copy)]
pub struct Pgbench {
    pub tps: f64,
    pub latency_ms: f64,
}

/// `psql -f <file>` on the scenario's database.
pub async fn psql(db: &BenchDb, file: &Path) -> Result<()> {
    let spinner = seed::spinner(&format!("psql -f {}", file.display()));
    run(Command::new(tool(db.pg_bin.as_deref(), "psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(&db.uri)
        .arg("-f")
        .arg(file))
    .await?;
    spinner.finish_and_clear();
    Ok(())
}

/// `pgbench -n -c <clients> -j 2 -T <secs> -f <script>` on the scenario's database.
pub async fn pgbench(
    db: &BenchDb,
    script: &Path,
    clients: u32,
    duration: Duration,
) -> Result<Pgbench> {
    let bar = crate::load::Timed::start(duration, "pgbench");
    let output = run(Command::new(tool(db.pg_bin.as_deref(), "pgbench"))
        .args(["-n", "-c", &clients.to_string(), "-j", "2"])
        .args(["-T", &duration.as_secs().to_string(), "-f"])
        .arg(script)
        .arg(&db.uri))
    .await?;
    bar.finish().await;
    parse_pgbench(&output).ok_or_else(|| format!("no tps in pgbench's output:\n{output}").into())
}

/// The SQL text of `store::leads::<function>`, read from its source: the `query!` texts are not
/// reachable from outside the store, and a copy here could drift from what the service runs.
pub fn service_sql(function: &str) -> Result<&'static str> {
    const SOURCE: &str = include_str!("../../store/leads/mod.rs");
    let missing =
        || format!("the SQL of store::leads::{function} is not in src/store/leads/mod.rs");
    let body = SOURCE
        .split_once(&format!("pub async fn {function}("))
        .ok_or_else(missing)?
        .1;
    let start = body.find("r#\"").ok_or_else(missing)? + 3;
    let len = body[start..].find("\"#").ok_or_else(missing)?;
    Ok(&body[start..start + len])
}

/// `sql` with its `$n` parameters replaced by pgbench expressions (`values[0]` for `$1`, …).
pub fn with_values(sql: &str, values: &[&str]) -> String {
    let mut out = sql.to_owned();
    // From the highest number down, so `$1` never eats the start of `$10`.
    for (i, value) in values.iter().enumerate().rev() {
        out = out.replace(&format!("${}", i + 1), value);
    }
    out
}

async fn run(command: &mut Command) -> Result<String> {
    let output = command
        .output()
        .await
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{command:?} failed ({}):\n{stdout}{stderr}", output.status).into());
    }
    Ok(stdout)
}

/// `tps = 1234.5 (without initial connection time)` and `latency average = 1.2 ms`.
fn parse_pgbench(output: &str) -> Option<Pgbench> {
    let number = |prefix: &str| {
        output
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
    };
    Some(Pgbench {
        tps: number("tps = ")?,
        latency_ms: number("latency average = ").unwrap_or(f64::NAN),
    })
}

/// A plan from `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`, summarised.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Node types top-down, with the index or relation they read.
    pub nodes: Vec<String>,
    pub execution_ms: f64,
    pub shared_hit: u64,
    pub shared_read: u64,
    /// The rows the statement returned.
    pub rows: f64,
    /// The most rows any Sort node of the plan read.
    pub sorted_rows: f64,
}

impl Plan {
    pub fn from_explain(explain: &Value) -> Result<Self> {
        let top = explain.get(0).ok_or("empty EXPLAIN output")?;
        let root = top.get("Plan").ok_or("no Plan in EXPLAIN output")?;
        let mut nodes = Vec::new();
        walk(root, &mut nodes);
        let blocks = |key| root.get(key).and_then(Value::as_u64).unwrap_or(0);
        Ok(Self {
            nodes,
            execution_ms: top
                .get("Execution Time")
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN),
            shared_hit: blocks("Shared Hit Blocks"),
            shared_read: blocks("Shared Read Blocks"),
            rows: actual_rows(root),
            sorted_rows: most_sorted(root),
        })
    }

    /// Another statement's plan after this one: times, buffers and nodes add up.
    fn add(&mut self, next: Plan) {
        self.nodes.extend(next.nodes);
        self.execution_ms += next.execution_ms;
        self.shared_hit += next.shared_hit;
        self.shared_read += next.shared_read;
        self.rows = next.rows;
        self.sorted_rows = self.sorted_rows.max(next.sorted_rows);
    }

    /// The leads come from an index: never a sequential scan of `leads`, and in index order
    /// (no sort of more than the page's `page_rows`) unless a text search picked them by the
    /// gram index of their search terms (`lead_search`), whose matches have no order and are
    /// sorted. (A small table such as `members` may be read whole when the planner finds it
    /// cheaper.)
    pub fn index_served(&self, page_rows: f64) -> bool {
        let bitmap = self
            .nodes
            .iter()
            .any(|n| n == "Bitmap Heap Scan leads" || n == "Bitmap Heap Scan lead_search");
        let sorts_matches = self.sorted_rows > page_rows && !bitmap;
        !sorts_matches && !self.nodes.iter().any(|n| n == "Seq Scan leads")
    }

    /// The scans only, e.g. `Index Scan leads_pool_created_idx, Index Scan members_pkey`.
    pub fn scans(&self) -> String {
        let scans: Vec<&str> = self
            .nodes
            .iter()
            .filter(|n| n.contains("Scan") || n.starts_with("Sort"))
            .map(String::as_str)
            .collect();
        scans.join(", ")
    }
}

/// A node's actual rows over all its loops.
fn actual_rows(node: &Value) -> f64 {
    let field = |key| node.get(key).and_then(Value::as_f64);
    field("Actual Rows").unwrap_or(0.0) * field("Actual Loops").unwrap_or(1.0)
}

/// The most rows a Sort node below `node` (or `node` itself) read from its input.
fn most_sorted(node: &Value) -> f64 {
    let children = node.get("Plans").and_then(Value::as_array);
    let children = children.map(Vec::as_slice).unwrap_or_default();
    let here = if node.get("Node Type").and_then(Value::as_str) == Some("Sort") {
        children.iter().map(actual_rows).sum()
    } else {
        0.0
    };
    children.iter().map(most_sorted).fold(here, f64::max)
}

fn walk(node: &Value, out: &mut Vec<String>) {
    let kind = node.get("Node Type").and_then(Value::as_str).unwrap_or("?");
    let target = node
        .get("Index Name")
        .or_else(|| node.get("Relation Name"))
        .and_then(Value::as_str);
    out.push(match target {
        Some(t) => format!("{kind} {t}"),
        None => kind.to_owned(),
    });
    for child in node
        .get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        walk(child, out);
    }
}

/// Runs of each EXPLAIN ANALYZE; the median is reported.
pub const EXPLAIN_RUNS: usize = 5;

/// The median of `EXPLAIN_RUNS` runs of `EXPLAIN (ANALYZE, BUFFERS)` of the service's listing
/// statements (the first warms the cache), unprepared: what it measures is the execution; and one
/// more run's plans as text. A listing of several statements ([`statements`]) is measured as the
/// service runs it: each in turn until one fills the page, their times and plans added up.
pub async fn explain_listing(
    db: &PgPool,
    actor: &Actor,
    filter: &LeadFilter,
    page: &Page,
) -> Result<(Plan, String)> {
    let conn = &mut *db.acquire().await?;
    let mut plans = Vec::new();
    for _ in 0..EXPLAIN_RUNS {
        let mut total = Plan::default();
        let json_plans = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ";
        for (mut stage, _) in statements(conn, json_plans, actor, filter, page, None).await? {
            let row = stage
                .build()
                .persistent(false)
                .fetch_one(&mut *conn)
                .await?;
            let json: Value = row.try_get(0)?;
            let plan = Plan::from_explain(&json)?;
            let filled = plan.rows >= page.limit as f64;
            total.add(plan);
            if filled {
                break;
            }
        }
        plans.push(total);
    }
    plans.sort_by(|a, b| a.execution_ms.total_cmp(&b.execution_ms));
    let mut text = Vec::new();
    let text_plans = "EXPLAIN (ANALYZE, BUFFERS) ";
    for (mut stage, _) in statements(conn, text_plans, actor, filter, page, None).await? {
        let lines: Vec<String> = stage
            .build_query_scalar()
            .persistent(false)
            .fetch_all(&mut *conn)
            .await?;
        text.push(lines.join("\n"));
    }
    Ok((plans.swap_remove(EXPLAIN_RUNS / 2), text.join("\n\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pgbench_output() {
        let out = "latency average = 3.456 ms\ninitial connection time = 12.3 ms\n\
                   tps = 4567.890123 (without initial connection time)\n";
        let p = parse_pgbench(out).unwrap();
        assert_eq!(p.tps, 4567.890123);
        assert_eq!(p.latency_ms, 3.456);
    }
}
