//! `list`: `ListLeads` pages of 50 over a million leads in one pool, per filter, and the same
//! SQL the service runs under `EXPLAIN (ANALYZE, BUFFERS)` on the same database as baseline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::DateTime;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use leadpool::api::convert;
use leadpool::domain::access::{Actor, TenantRoles};
use leadpool::domain::lead::LeadState as DomainState;
use leadpool::domain::listing::{LeadFilter, LeadOrder, SortValue};
use leadpool::proto::lead_service_client::LeadServiceClient;
use leadpool::proto::{Lead, ListLeadsRequest};
use leadpool::store::leads::list::{self, Page, statements};

use crate::baseline::{self, Plan};
use crate::cli::Cli;
use crate::dbserver::BenchDb;
use crate::invariants;
use crate::load::Tally;
use crate::report::{Goal, Report, f2};
use crate::seed::{self, Fixture, TENANT};
use crate::service::{Caller, InProcess, connect};
use crate::{BoxError, Result};

const PAGE_SIZE: i32 = 50;
/// The rows a page's statement asks for: the page and one more, which tells whether another
/// page follows.
const PAGE_ROWS: f64 = PAGE_SIZE as f64 + 1.0;
const P99_GOAL_MS: f64 = 10.0;
/// Each client's unmeasured warm-up is this fraction of its measured requests (one in five).
const WARM_UP_SHARE: usize = 5;

/// A `ListLeads` case: the filter as the service's store receives it for `member` (the request
/// is derived from it, so the direct SQL and the gRPC call ask the same thing).
struct Case {
    name: &'static str,
    filter: fn(&Fixture, &str) -> LeadFilter,
    /// Pages walked per request, following `next_page_token`.
    pages: u32,
    /// The share of the pool's leads the filter must match, at least–at most: a seed that
    /// misses it measures another case. (0, 0): the case is a search that finds nothing.
    share: (f64, f64),
}

/// Some leads, however few.
const SOME: (f64, f64) = (f64::MIN_POSITIVE, 1.0);

impl Case {
    /// A case that reads only the first page.
    const fn one_page(name: &'static str, filter: fn(&Fixture, &str) -> LeadFilter) -> Self {
        Self::query(name, SOME, filter)
    }

    /// A first page whose filter (a text query) matches `share` of the leads.
    const fn query(
        name: &'static str,
        share: (f64, f64),
        filter: fn(&Fixture, &str) -> LeadFilter,
    ) -> Self {
        Self {
            name,
            filter,
            pages: 1,
            share,
        }
    }
}

fn in_pool(fx: &Fixture) -> LeadFilter {
    LeadFilter {
        pool_id: Some(fx.pool_id),
        ..LeadFilter::default()
    }
}

/// `ListLeads.query` in the pool: a case-insensitive substring of the name or the company.
fn search(fx: &Fixture, text: &str) -> LeadFilter {
    LeadFilter {
        query: Some(text.into()),
        ..in_pool(fx)
    }
}

/// The filters, then the query kinds of bench.md over the corpus of `seed::people`.
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
        share: SOME,
    },
    // 杭州 is the city of 10% of the companies of the Chinese half.
    Case::query("query 杭州 (common city)", (0.04, 0.06), |fx, _| {
        search(fx, "杭州")
    }),
    // Only the seeded 司马… leads, one in seed::people::RARE_EVERY.
    Case::query(
        "query 司马 (rare name)",
        (f64::MIN_POSITIVE, 0.001),
        |fx, _| search(fx, "司马"),
    ),
    Case::query("query 诸葛 (no match)", (0.0, 0.0), |fx, _| {
        search(fx, "诸葛")
    }),
    Case::query("query 王 (surname)", SOME, |fx, _| search(fx, "王")),
    Case::query("query Gar (Latin prefix)", SOME, |fx, _| search(fx, "Gar")),
    Case::query("query arci (Latin substring)", SOME, |fx, _| {
        search(fx, "arci")
    }),
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
    let fx = Arc::new(seed::seed_people(&db.pool, plan).await?);
    // Else the service's aggregator folds the seeded events while the first cases are measured.
    crate::reports::catch_up_seeded(db).await?;
    let service = InProcess::start(db.options.clone()).await?;
    let measured = measure_all(cli, db, service.addr, &fx, plan.leads).await;
    service.stop().await?;
    let measured = measured?;
    let mut report = Report::new(
        "list",
        vec![
            "filter / query",
            "matches",
            "pages",
            "p50 ms",
            "p99 ms",
            "SQL exec ms",
            "buffers hit/read",
            "plan",
            "error mix",
        ],
    );
    for m in &measured {
        add_case(&mut report, m, plan.leads);
        if !m.meets_goals() {
            eprintln!(
                "\n{} misses its goals; its plan:\n{}\n",
                m.case.name, m.explain
            );
        }
    }
    report.invariants("list load", invariants::check(&db.pool, None).await?);
    let figures: Vec<Value> = measured.iter().map(|m| case_json(m, &fx)).collect();
    report.figures = json!({ "leads": plan.leads, "members": plan.members, "page_size": PAGE_SIZE, "filters": figures });
    report.notes.push(format!(
        "{} concurrent clients, each request as a random member, after an unmeasured warm-up of a fifth as many; SQL exec is the median of {} EXPLAIN ANALYZE runs of store::leads::list's own SQL, execution only (the service plans a text, tag or time-bound listing per call and reuses the plan of the others); matches: the leads the filter or query finds for rep0001",
        clients(cli),
        baseline::EXPLAIN_RUNS
    ));
    report.notes.push(format!(
        "leads: half Chinese, half Latin names and companies (seed::people); 杭州 the city of 10% of companies of the Chinese half; one lead in {} a 司马; none a 诸葛",
        seed::people::RARE_EVERY
    ));
    Ok(report)
}

fn clients(cli: &Cli) -> usize {
    cli.size(4, 2)
}

/// A case's load, its plan and how many leads it matches.
struct Measured {
    case: &'static Case,
    tally: Tally,
    plan: Plan,
    /// The plan as `EXPLAIN (ANALYZE, BUFFERS)` prints it.
    explain: String,
    matched: i64,
}

impl Measured {
    fn meets_goals(&self) -> bool {
        self.tally.ms(0.99) < P99_GOAL_MS
            && self.tally.failed() == 0
            && self.plan.index_served(PAGE_ROWS)
    }
}

async fn measure_all(
    cli: &Cli,
    db: &BenchDb,
    addr: SocketAddr,
    fx: &Arc<Fixture>,
    leads: i64,
) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    for case in CASES {
        eprintln!("ListLeads {}", case.name);
        let matched = matches(&db.pool, fx, case, leads).await?;
        let (plan, explain) = baseline(&db.pool, addr, fx, case).await?;
        let tally = load(addr, fx, case, clients(cli), cli.size(250, 25)).await?;
        out.push(Measured {
            case,
            tally,
            plan,
            explain,
            matched,
        });
    }
    Ok(out)
}

fn add_case(report: &mut Report, m: &Measured, leads: i64) {
    let (case, tally, plan) = (m.case, &m.tally, &m.plan);
    report.row(vec![
        case.name.into(),
        format!(
            "{} ({:.3}%)",
            m.matched,
            100.0 * m.matched as f64 / leads as f64
        ),
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
        format!(
            "{}: index-served plan, no sequential scan of leads",
            case.name
        ),
        plan.scans(),
        plan.index_served(PAGE_ROWS),
    ));
}

fn case_json(m: &Measured, fx: &Fixture) -> Value {
    let (case, tally, plan) = (m.case, &m.tally, &m.plan);
    json!({
        "filter": case.name,
        "query": (case.filter)(fx, "rep0001").query,
        "matched": m.matched,
        "pages_per_request": case.pages,
        "service": tally.json(),
        "sql": {
            "execution_ms": plan.execution_ms,
            "shared_hit": plan.shared_hit,
            "shared_read": plan.shared_read,
            "plan": plan.nodes,
            "index_served": plan.index_served(PAGE_ROWS),
            "explain": m.explain,
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
            // Warm-up, not measured: the service's connections open, their backends load the
            // tables' catalog entries (~5 ms on a backend's first listing) and settle on a plan
            // per prepared statement (after five planned runs). Steady state is what is measured.
            let mut warm_up = Tally::new()?;
            for _ in 0..requests / WARM_UP_SHARE {
                let (member, caller) = &callers[rng.usize(..callers.len())];
                walk(&mut client, (member, caller), &fx, case, &mut warm_up).await;
            }
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

/// The member the baseline and the match count ask as, as the store sees them.
fn first_member(fx: &Fixture) -> Result<(&str, Actor)> {
    let member = fx.members.first().ok_or("no members")?.as_str();
    let actor = Actor {
        tenant_id: TENANT.to_owned(),
        user_id: member.to_owned(),
        roles: TenantRoles::default(),
    };
    Ok((member, actor))
}

/// How many leads the case's filter finds for `rep0001` (the service's SQL without its limit),
/// refused unless it is the share of the `leads` the case is about.
async fn matches(db: &PgPool, fx: &Fixture, case: &Case, leads: i64) -> Result<i64> {
    let (member, actor) = first_member(fx)?;
    let filter = (case.filter)(fx, member);
    let page = Page {
        order: LeadOrder::default(),
        after: None,
        limit: i64::MAX,
    };
    // The last statement of a listing answers alone; the ones before it may stop short.
    let conn = &mut *db.acquire().await?;
    let (mut count, _) = statements(conn, "SELECT count(*) FROM (", &actor, &filter, &page, None)
        .await?
        .pop()
        .ok_or("a listing has a statement")?;
    count.push(") AS matched");
    let matched: i64 = count
        .build_query_scalar()
        .persistent(false)
        .fetch_one(&mut *conn)
        .await?;
    let share = matched as f64 / leads as f64;
    let (least, most) = case.share;
    if !(least..=most).contains(&share) {
        return Err(format!(
            "ListLeads {}: matches {matched} of {leads} leads ({:.3}%), the case is about {:.3}%–{:.3}%: the seed measures another case",
            case.name,
            100.0 * share,
            100.0 * least,
            100.0 * most
        )
        .into());
    }
    Ok(matched)
}

/// The case's last page as `rep0001` through gRPC, then the same page by the service's SQL:
/// the rows must match (so the baseline measures what the service runs), then EXPLAIN it.
async fn baseline(
    db: &PgPool,
    addr: SocketAddr,
    fx: &Fixture,
    case: &Case,
) -> Result<(Plan, String)> {
    let (member, actor) = first_member(fx)?;
    let mut client = LeadServiceClient::new(connect(addr).await?);
    let mut tally = Tally::new()?;
    let caller = Caller::new(TENANT, member, None)?;
    let (leads, after) = walk(&mut client, (member, &caller), fx, case, &mut tally).await;
    if tally.failed() > 0 {
        return Err(format!("ListLeads {} failed: {}", case.name, tally.error_mix()).into());
    }
    // A filter that matches nothing walks its whole index and measures the seed, not the case;
    // only a search that finds nothing is meant to.
    if leads.is_empty() != (case.share.1 == 0.0) {
        let expected = if case.share.1 == 0.0 { "none" } else { "some" };
        let found = leads.len();
        return Err(format!(
            "ListLeads {}: {found} leads, {expected} expected",
            case.name
        )
        .into());
    }
    let filter = (case.filter)(fx, member);
    let page = Page {
        order: LeadOrder::default(),
        after,
        limit: i64::from(PAGE_SIZE) + 1,
    };
    let rows = list::list(&mut *db.acquire().await?, &actor, &filter, &page, None).await?;
    let direct: Vec<Uuid> = rows
        .iter()
        .take(PAGE_SIZE as usize)
        .map(|view| view.lead.id)
        .collect();
    let served: Vec<Uuid> = leads.iter().filter_map(|l| l.id.parse().ok()).collect();
    if direct != served {
        return Err(format!(
            "ListLeads {}: the service's SQL run directly returns other rows than the service; \
             the bench asks differently from the request",
            case.name
        )
        .into());
    }
    baseline::explain_listing(db, &actor, &filter, &page).await
}
