//! Every SQL statement the service runs names one tenant (docs/scaling.md): with every table
//! distributed by `tenant_id` (Citus), such a statement is a router query, answered by the one
//! node that holds the tenant. This test reads each statement of the committed query data
//! (`.sqlx/`, the exact text sqlx checked) and fails on one without a `tenant_id` equality to a
//! parameter or literal (or an `INSERT` that sets `tenant_id`), unless it is one of the few global
//! statements allow-listed below, each with the reason it may run everywhere.

use std::path::Path;

/// Global statements, each known by a fragment of its text, and why it need not name a tenant.
const GLOBAL: &[(&str, &str)] = &[
    (
        "pg_snapshot_xmin(pg_current_snapshot())",
        "the event stream's horizon: a property of the database server, not of any tenant's rows \
         (on Citus, read on the node holding the tenant: see docs/scaling.md)",
    ),
    (
        "pg_snapshot_xmax(pg_current_snapshot())",
        "the next transaction id, which a report waits for the stream's horizon to reach: a \
         property of the database server, like the horizon",
    ),
    (
        "SELECT clock_timestamp() AS",
        "the database server's clock, which the reschedule's second pass compares transactions' \
         start times with; no table is read",
    ),
    (
        "FROM pg_stat_activity",
        "whether transactions that began before a rules change committed still run (the \
         reschedule's second pass waits for them): the server's sessions, not a tenant's rows",
    ),
    (
        "SELECT pg_notify(",
        "the cross-replica wake-up of event followers: no table is read",
    ),
    (
        "FROM pg_database WHERE datname",
        "start-up: whether the service's database exists",
    ),
    (
        "SELECT lower('MÜLLER')",
        "start-up: whether the database folds the case of letters beyond ASCII; no table is read",
    ),
    (
        "FROM search_hits_estimate($1, $2)",
        "ListLeads' estimate of a text's matches: the tenant is its first argument, and it reads \
         the planner's statistics (EXPLAIN), no rows",
    ),
    (
        "DELETE FROM idempotency_keys WHERE ctid",
        "the retention purge of old idempotency records across tenants (a fan-out on Citus, \
         batched and off the request path)",
    ),
    (
        "WHERE p.auto_distribute AND p.archived_at IS NULL",
        "the automatic distributor finds the due pools of every tenant; each distribution it then \
         runs names its tenant",
    ),
    (
        "SELECT DISTINCT tenant_id, pool_id FROM leads WHERE accept_deadline",
        "the reroute sweep finds the pools with missed leads in every tenant; each reroute it then \
         runs names its tenant",
    ),
    (
        "SELECT DISTINCT tenant_id AS \"tenant_id!\" FROM pools",
        "the report aggregator's round finds every tenant; each batch it then folds names its \
         tenant (checkpoint, events, rollups)",
    ),
    (
        "FROM recycle_candidates(",
        "the recycle sweep's dry run takes an optional tenant (NULL: the scheduler's sweep over \
         every tenant); RunRecycle always passes the caller's",
    ),
    (
        "SELECT away_until($1",
        "a function whose first argument is the tenant (a distributed function on Citus, \
         delegated by that argument)",
    ),
    (
        "SELECT live_lead_with_contact($1",
        "a function whose first argument is the tenant (a distributed function on Citus, \
         delegated by that argument)",
    ),
];

/// The statement with comments dropped and whitespace collapsed.
fn flatten(sql: &str) -> String {
    let without_comments: Vec<&str> = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect();
    without_comments
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `sql` names one tenant: `tenant_id = $n` (or a literal, either side), or an INSERT
/// whose column list sets it.
fn names_a_tenant(sql: &str) -> bool {
    let sql = flatten(sql);
    let tokens: Vec<&str> = sql
        .split(' ')
        .map(|t| t.trim_matches(|c| c == '(' || c == ')' || c == ','))
        .collect();
    let column = |t: &str| t == "tenant_id" || t.ends_with(".tenant_id");
    let value = |t: &str| t.starts_with('$') || t.starts_with('\'');
    let equality = tokens
        .windows(3)
        .any(|w| w[1] == "=" && ((column(w[0]) && value(w[2])) || (value(w[0]) && column(w[2]))));
    let insert = sql.match_indices("INSERT INTO ").any(|(at, _)| {
        sql[at..]
            .split(')')
            .next()
            .is_some_and(|head| head.contains("(tenant_id"))
    });
    equality || insert
}

fn statements() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".sqlx");
    let mut queries: Vec<String> = std::fs::read_dir(&dir)
        .expect("the committed query data (.sqlx/)")
        .map(|entry| entry.expect("a .sqlx entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a query file");
            let data: serde_json::Value = serde_json::from_str(&text).expect("query JSON");
            data["query"].as_str().expect("its query text").to_owned()
        })
        .collect();
    queries.sort();
    queries
}

#[test]
fn every_statement_names_its_tenant_or_is_a_known_global_one() {
    let statements = statements();
    assert!(statements.len() > 50, "the query data is there");
    let unscoped: Vec<String> = statements
        .iter()
        .filter(|sql| !names_a_tenant(sql))
        .filter(|sql| {
            !GLOBAL
                .iter()
                .any(|(fragment, _)| flatten(sql).contains(fragment))
        })
        .map(|sql| flatten(sql).chars().take(160).collect())
        .collect();
    assert!(
        unscoped.is_empty(),
        "statements without a tenant_id equality (add one, or allow-list them with a reason):\n{}",
        unscoped.join("\n")
    );
}

#[test]
fn every_allow_listed_statement_still_exists() {
    let statements: Vec<String> = statements().iter().map(|s| flatten(s)).collect();
    for (fragment, _) in GLOBAL {
        assert!(
            statements.iter().any(|sql| sql.contains(fragment)),
            "no statement contains {fragment:?}: drop it from GLOBAL"
        );
    }
}

#[test]
fn the_check_tells_scoped_statements_from_unscoped_ones() {
    assert!(names_a_tenant(
        "SELECT * FROM leads WHERE tenant_id = $1 AND id = $2"
    ));
    assert!(names_a_tenant(
        "UPDATE leads l SET x = 1 WHERE l.tenant_id = 'bench'"
    ));
    assert!(names_a_tenant(
        "SELECT 1 FROM leads l WHERE $1 = l.tenant_id"
    ));
    assert!(names_a_tenant(
        "WITH x AS (SELECT 1) INSERT INTO lead_events (tenant_id, kind) SELECT $1, 'A' FROM x"
    ));
    assert!(!names_a_tenant("SELECT * FROM leads WHERE id = $1"));
    assert!(!names_a_tenant(
        "SELECT * FROM leads l JOIN pools p ON p.tenant_id = l.tenant_id WHERE l.id = $1"
    ));
    assert!(!names_a_tenant(
        "INSERT INTO leads (id, name) VALUES ($1, $2)"
    ));
}
