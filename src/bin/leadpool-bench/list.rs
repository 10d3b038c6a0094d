//! `list`: `ListLeads` pages of 50 over a million leads in one pool, per filter, and the same
//! SQL the service runs under `EXPLAIN (ANALYZE, BUFFERS)` on the same database as baseline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use leadpool::proto::lead_service_client::LeadServiceClient;
use leadpool::proto::{Lead, LeadState, ListLeadsRequest};

use crate::baseline::Plan;
use crate::cli::Cli;
use crate::dbserver::BenchDb;
use crate::invariants;
use crate::load::Tally;
use crate::report::{Goal, Report, f2};
use crate::seed::{self, Fixture, TENANT};
use crate::service::{Caller, InProcess, connect};
use crate::{BoxError, Result};

const PAGE_SIZE: i32 = 50;
const P99_GOAL_MS: f64 = 10.0;
/// Runs of each EXPLAIN ANALYZE; the median is reported.
const EXPLAIN_RUNS: usize = 5;

/// A `ListLeads` filter. Filters arriving with later issues (grade + region, text query,
/// deadline before) become a field here, a line in [`Filter::request`] and [`Filter::binds`],
/// and one line in [`CASES`].
#[derive(Debug, Clone, Copy)]
struct Filter {
    pool: bool,
    owner_me: bool,
    state: Option<LeadState>,
}

const ANY: Filter = Filter {
    pool: false,
    owner_me: false,
    state: None,
};

struct Case {
    name: &'static str,
    filter: Filter,
    /// Pages walked per request, following `next_page_token`.
    pages: u32,
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { name: "pool", pages: 1, filter: Filter { pool: true, ..ANY } },
    Case { name: "pool + state=IN_POOL", pages: 1, filter: Filter { pool: true, state: Some(LeadState::InPool), ..ANY } },
    Case { name: "owner=me", pages: 1, filter: Filter { owner_me: true, ..ANY } },
    Case { name: "pool, pages 1–10 by token", pages: 10, filter: Filter { pool: true, ..ANY } },
];

impl Filter {
    fn request(&self, fx: &Fixture, page_token: String) -> ListLeadsRequest {
        ListLeadsRequest {
            pool_id: if self.pool {
                fx.pool_id.to_string()
            } else {
                String::new()
            },
            owner_id: if self.owner_me {
                "me".into()
            } else {
                String::new()
            },
            state: self.state.map_or(0, |s| s as i32),
            page_size: PAGE_SIZE,
            page_token,
        }
    }

    /// `store::leads::list`'s parameters $1–$9 for `member`, as the service binds them.
    fn binds<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        fx: &Fixture,
        member: &'q str,
        after: Option<(DateTime<Utc>, Uuid)>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        let state = self
            .state
            .map(|s| s.as_str_name().trim_start_matches("LEAD_STATE_").to_owned());
        query
            .bind(TENANT)
            .bind(member)
            .bind(false) // a member does not read everything
            .bind(self.pool.then_some(fx.pool_id))
            .bind(self.owner_me.then_some(member))
            .bind(state)
            .bind(after.map(|a| a.0))
            .bind(after.map(|a| a.1))
            .bind(i64::from(PAGE_SIZE) + 1)
    }
}

pub async fn run(cli: &Cli, db: &BenchDb) -> Result<Report> {
    let plan = seed::Plan {
        leads: cli.size(1_000_000, 20_000),
        members: cli.size(200, 20),
        cap: None,
        owned_every: 10,
    };
    let fx = Arc::new(seed::seed(&db.pool, plan).await?);
    let service = InProcess::start(db.options.clone()).await?;
    let measured = measure_all(cli, db, service.addr, &fx).await;
    service.stop().await?;
    let measured = measured?;
    let mut report = Report::new(
        "list",
        vec![
            "filter",
            "pages",
            "p50 ms",
            "p99 ms",
            "SQL exec ms",
            "buffers hit/read",
            "plan",
            "error mix",
        ],
    );
    let mut figures = Vec::new();
    for (case, tally, plan) in &measured {
        add_case(&mut report, case, tally, plan);
        figures.push(case_json(case, tally, plan));
    }
    report.invariants("list load", invariants::check(&db.pool, None).await?);
    report.figures = json!({ "leads": plan.leads, "members": plan.members, "page_size": PAGE_SIZE, "filters": figures });
    report.notes.push(format!(
        "{} concurrent clients, each request as a random member; SQL exec is the median of {EXPLAIN_RUNS} EXPLAIN ANALYZE runs of store::leads::list's own SQL",
        clients(cli)
    ));
    Ok(report)
}

fn clients(cli: &Cli) -> usize {
    cli.size(4, 2)
}

async fn measure_all(
    cli: &Cli,
    db: &BenchDb,
    addr: SocketAddr,
    fx: &Arc<Fixture>,
) -> Result<Vec<(&'static Case, Tally, Plan)>> {
    let mut out = Vec::new();
    for case in CASES {
        eprintln!("ListLeads {}", case.name);
        let plan = baseline(&db.pool, addr, fx, case).await?;
        let tally = load(addr, fx, case, clients(cli), cli.size(250, 25)).await?;
        out.push((case, tally, plan));
    }
    Ok(out)
}

fn add_case(report: &mut Report, case: &Case, tally: &Tally, plan: &Plan) {
    report.row(vec![
        case.name.into(),
        tally.calls().to_string(),
        f2(tally.ms(0.50)),
        f2(tally.ms(0.99)),
        f2(plan.execution_ms),
        format!("{}/{}", plan.shared_hit, plan.shared_read),
        plan.scans(),
        tally.error_mix(),
    ]);
    report.goals.push(Goal::new(
        format!("{}: p99 < {P99_GOAL_MS} ms", case.name),
        format!("{} ms", f2(tally.ms(0.99))),
        tally.ms(0.99) < P99_GOAL_MS && tally.failed() == 0,
    ));
    report.goals.push(Goal::new(
        format!("{}: plan index or index-only scans", case.name),
        plan.scans(),
        plan.index_served(),
    ));
}

fn case_json(case: &Case, tally: &Tally, plan: &Plan) -> Value {
    json!({
        "filter": case.name,
        "pages_per_request": case.pages,
        "service": tally.json(),
        "sql": {
            "execution_ms": plan.execution_ms,
            "shared_hit": plan.shared_hit,
            "shared_read": plan.shared_read,
            "plan": plan.nodes,
            "index_served": plan.index_served(),
        },
    })
}

/// `clients` callers on their own connections, each walking `requests` times through the
/// case's pages as a random member; every page is one latency sample.
async fn load(
    addr: SocketAddr,
    fx: &Arc<Fixture>,
    case: &'static Case,
    clients: usize,
    requests: usize,
) -> Result<Tally> {
    let callers = Arc::new(
        fx.members
            .iter()
            .map(|m| Caller::new(TENANT, m, None))
            .collect::<Result<Vec<_>>>()?,
    );
    let mut tasks = tokio::task::JoinSet::new();
    for seed in 0..clients {
        let mut client = LeadServiceClient::new(connect(addr).await?);
        let (fx, callers) = (fx.clone(), callers.clone());
        tasks.spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed as u64);
            let mut tally = Tally::new()?;
            for _ in 0..requests {
                let caller = &callers[rng.usize(..callers.len())];
                walk(&mut client, caller, &fx, case, &mut tally).await;
            }
            Ok::<_, BoxError>(tally)
        });
    }
    let mut total = Tally::new()?;
    while let Some(done) = tasks.join_next().await {
        total.merge(&done??)?;
    }
    Ok(total)
}

/// Walks the case's pages; returns the last page's leads and the cursor it started after.
async fn walk(
    client: &mut LeadServiceClient<tonic::transport::Channel>,
    caller: &Caller,
    fx: &Fixture,
    case: &Case,
    tally: &mut Tally,
) -> (Vec<Lead>, Option<(DateTime<Utc>, Uuid)>) {
    let (mut token, mut after, mut leads) = (String::new(), None, Vec::new());
    for page in 0..case.pages {
        if page > 0 {
            after = leads.last().and_then(cursor);
        }
        let started = Instant::now();
        let result = client
            .list_leads(caller.request(case.filter.request(fx, token)))
            .await;
        tally.record(started.elapsed(), &result);
        let Ok(response) = result else { break };
        let response = response.into_inner();
        (token, leads) = (response.next_page_token, response.leads);
        if token.is_empty() {
            break;
        }
    }
    (leads, after)
}

fn cursor(lead: &Lead) -> Option<(DateTime<Utc>, Uuid)> {
    let ts = lead.created_at?;
    let at = DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)?;
    Some((at, lead.id.parse().ok()?))
}

/// The case's last page as `rep0001` through gRPC, then the same page by the service's SQL:
/// the rows must match (so the baseline measures what the service runs), then EXPLAIN it.
async fn baseline(db: &PgPool, addr: SocketAddr, fx: &Fixture, case: &Case) -> Result<Plan> {
    let member = fx.members.first().ok_or("no members")?.as_str();
    let mut client = LeadServiceClient::new(connect(addr).await?);
    let mut tally = Tally::new()?;
    let caller = Caller::new(TENANT, member, None)?;
    let (leads, after) = walk(&mut client, &caller, fx, case, &mut tally).await;
    if tally.failed() > 0 {
        return Err(format!("ListLeads {} failed: {}", case.name, tally.error_mix()).into());
    }
    let sql = crate::baseline::service_sql("list")?;
    let rows = case
        .filter
        .binds(sqlx::query(sql), fx, member, after)
        .fetch_all(db)
        .await?;
    let direct: Vec<Uuid> = rows
        .iter()
        .take(PAGE_SIZE as usize)
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
    let served: Vec<Uuid> = leads.iter().filter_map(|l| l.id.parse().ok()).collect();
    if direct != served {
        return Err(format!(
            "ListLeads {}: the service's SQL run directly returns other rows than the service; \
             the bench binds it differently from store::leads::list",
            case.name
        )
        .into());
    }
    explain(db, sql, fx, member, case, after).await
}

/// The median of `EXPLAIN_RUNS` runs of `EXPLAIN (ANALYZE, BUFFERS)` (the first warms the cache).
async fn explain(
    db: &PgPool,
    sql: &str,
    fx: &Fixture,
    member: &str,
    case: &Case,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> Result<Plan> {
    let explain = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}");
    let mut plans = Vec::new();
    for _ in 0..EXPLAIN_RUNS {
        let row = case
            .filter
            .binds(sqlx::query(&explain), fx, member, after)
            .fetch_one(db)
            .await?;
        let json: Value = row.try_get(0)?;
        plans.push(Plan::from_explain(&json)?);
    }
    plans.sort_by(|a, b| a.execution_ms.total_cmp(&b.execution_ms));
    Ok(plans.swap_remove(EXPLAIN_RUNS / 2))
}
