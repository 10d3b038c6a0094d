//! `list`: `ListLeads` pages of 50 over a million leads in one pool, per filter, and the same
//! SQL the service runs under `EXPLAIN (ANALYZE, BUFFERS)` on the same database as baseline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::DateTime;
use serde_json::{Value, json};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use leadpool::api::convert;
use leadpool::domain::access::{Actor, TenantRoles};
use leadpool::domain::lead::LeadState as DomainState;
use leadpool::domain::listing::{LeadFilter, LeadOrder, SortValue};
use leadpool::proto::lead_service_client::LeadServiceClient;
use leadpool::proto::{Lead, ListLeadsRequest};
use leadpool::store::leads::list::{Page, statement};

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

/// A `ListLeads` case: the filter as the service's store receives it for `member` (the request
/// is derived from it, so the direct SQL and the gRPC call ask the same thing).
struct Case {
    name: &'static str,
    filter: fn(&Fixture, &str) -> LeadFilter,
    /// Pages walked per request, following `next_page_token`.
    pages: u32,
}

impl Case {
    /// A case that reads only the first page.
    const fn one_page(name: &'static str, filter: fn(&Fixture, &str) -> LeadFilter) -> Self {
        Self {
            name,
            filter,
            pages: 1,
        }
    }
}

fn in_pool(fx: &Fixture) -> LeadFilter {
    LeadFilter {
        pool_id: Some(fx.pool_id),
        ..LeadFilter::default()
    }
}

const CASES: &[Case] = &[
    Case::one_page("pool", |fx, _| in_pool(fx)),
    Case::one_page("pool + state=IN_POOL", |fx, _| LeadFilter {
        state: Some(DomainState::InPool),
        ..in_pool(fx)
    }),
    Case::one_page("pool + grade + region", |fx, _| LeadFilter {
        grade: Some("B".into()),
        region: Some("west".into()),
        ..in_pool(fx)
    }),
    Case::one_page("pool + text query", |fx, _| LeadFilter {
        query: Some("Lead 4242".into()),
        ..in_pool(fx)
    }),
    Case::one_page("pool + deadline before", |fx, _| LeadFilter {
        deadline_before: fx.deadline_midpoint,
        ..in_pool(fx)
    }),
    Case::one_page("owner=me", |_, member| LeadFilter {
        owner_id: Some(member.to_owned()),
        ..LeadFilter::default()
    }),
    Case {
        name: "pool, pages 1–10 by token",
        pages: 10,
        filter: |fx, _| in_pool(fx),
    },
];

/// The request asking for `filter` (an owner filter names the caller, as `me` would).
fn request(filter: &LeadFilter, page_token: String) -> ListLeadsRequest {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    ListLeadsRequest {
        pool_id: filter.pool_id.map(|id| id.to_string()).unwrap_or_default(),
        owner_id: text(&filter.owner_id),
        state: filter.state.map_or(0, |s| convert::lead_state(s) as i32),
        grade: text(&filter.grade),
        region: text(&filter.region),
        industry: text(&filter.industry),
        tag: text(&filter.tag),
        query: text(&filter.query),
        deadline_before: filter.deadline_before.map(convert::timestamp),
        created_after: filter.created_after.map(convert::timestamp),
        created_before: filter.created_before.map(convert::timestamp),
        order_by: String::new(),
        page_size: PAGE_SIZE,
        page_token,
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
    let callers: Arc<Vec<_>> = Arc::new(fx.members.iter().cloned().zip(fx.callers()?).collect());
    let mut tasks = tokio::task::JoinSet::new();
    for seed in 0..clients {
        let mut client = LeadServiceClient::new(connect(addr).await?);
        let (fx, callers) = (fx.clone(), callers.clone());
        tasks.spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed as u64);
            let mut tally = Tally::new()?;
            for _ in 0..requests {
                let (member, caller) = &callers[rng.usize(..callers.len())];
                walk(&mut client, (member, caller), &fx, case, &mut tally).await;
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

/// Walks the case's pages as `member`; returns the last page's leads and the cursor it started
/// after.
async fn walk(
    client: &mut LeadServiceClient<tonic::transport::Channel>,
    (member, caller): (&str, &Caller),
    fx: &Fixture,
    case: &Case,
    tally: &mut Tally,
) -> (Vec<Lead>, Option<(SortValue, Uuid)>) {
    let (mut token, mut after, mut leads) = (String::new(), None, Vec::new());
    for page in 0..case.pages {
        if page > 0 {
            after = leads.last().and_then(cursor);
        }
        let started = Instant::now();
        let filter = (case.filter)(fx, member);
        let result = client
            .list_leads(caller.request(request(&filter, token)))
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

/// Where the page after `lead` starts, in the default order (creation time).
fn cursor(lead: &Lead) -> Option<(SortValue, Uuid)> {
    let ts = lead.created_at?;
    let at = DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)?;
    Some((SortValue::Time(Some(at)), lead.id.parse().ok()?))
}

/// The case's last page as `rep0001` through gRPC, then the same page by the service's SQL:
/// the rows must match (so the baseline measures what the service runs), then EXPLAIN it.
async fn baseline(db: &PgPool, addr: SocketAddr, fx: &Fixture, case: &Case) -> Result<Plan> {
    let member = fx.members.first().ok_or("no members")?.as_str();
    let mut client = LeadServiceClient::new(connect(addr).await?);
    let mut tally = Tally::new()?;
    let caller = Caller::new(TENANT, member, None)?;
    let (leads, after) = walk(&mut client, (member, &caller), fx, case, &mut tally).await;
    if tally.failed() > 0 {
        return Err(format!("ListLeads {} failed: {}", case.name, tally.error_mix()).into());
    }
    // A filter that matches nothing walks its whole index and measures the seed, not the case.
    if leads.is_empty() {
        return Err(format!("ListLeads {}: the seeded leads match nothing", case.name).into());
    }
    let actor = Actor {
        tenant_id: TENANT.to_owned(),
        user_id: member.to_owned(),
        roles: TenantRoles::default(),
    };
    let filter = (case.filter)(fx, member);
    let page = Page {
        order: LeadOrder::default(),
        after,
        limit: i64::from(PAGE_SIZE) + 1,
    };
    let rows = statement("", &actor, &filter, &page)
        .build()
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
             the bench asks differently from the request",
            case.name
        )
        .into());
    }
    explain(db, &actor, &filter, &page).await
}

/// The median of `EXPLAIN_RUNS` runs of `EXPLAIN (ANALYZE, BUFFERS)` (the first warms the cache).
async fn explain(db: &PgPool, actor: &Actor, filter: &LeadFilter, page: &Page) -> Result<Plan> {
    let mut plans = Vec::new();
    for _ in 0..EXPLAIN_RUNS {
        let row = statement(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ",
            actor,
            filter,
            page,
        )
        .build()
        .fetch_one(db)
        .await?;
        let json: Value = row.try_get(0)?;
        plans.push(Plan::from_explain(&json)?);
    }
    plans.sort_by(|a, b| a.execution_ms.total_cmp(&b.execution_ms));
    Ok(plans.swap_remove(EXPLAIN_RUNS / 2))
}
