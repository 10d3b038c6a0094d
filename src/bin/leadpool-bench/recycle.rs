//! `recycle`: every owned lead is past its follow-up deadline, half of them in a pool on business
//! time; one sweep (`RunRecycle`, the scheduler's own sweep) recycles them all. The baseline is one set-based `UPDATE … RETURNING`
//! plus `INSERT` of the same rows, in one statement, on an identical copy of the leads. The
//! service runs as the real binary in a child process with the background scheduler off, so its
//! memory is its own: a sweep goes batch by batch and must not grow with the number of leads.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use leadpool::proto::RunRecycleRequest;
use leadpool::proto::recycle_service_client::RecycleServiceClient;

use crate::Result;
use crate::cli::Cli;
use crate::dbserver::BenchDb;
use crate::idle::with_peak_sampled;
use crate::invariants::{self, Check};
use crate::report::{Goal, Report, f1, f2, rss_mib};
use crate::seed::{self, TENANT};
use crate::service::{Caller, ChildService, connect, service_binary};

const RATIO_GOAL: f64 = 2.0;
/// How much the service's resident memory may grow during the sweep: batches, not a full load.
const RSS_GROWTH_GOAL_MIB: f64 = 16.0;

pub async fn run(cli: &Cli, db: &BenchDb) -> Result<Report> {
    let leads = seed_owned(cli, db).await?;
    make_overdue(db).await?;
    let baseline = baseline(db, "l.follow_up_deadline <= now()").await?;

    let binary = service_binary().await?;
    std::fs::create_dir_all(&cli.out_dir)?;
    let log = cli.out_dir.join("recycle-service.log");
    let scheduler_off = [("LEADPOOL_RECYCLE_INTERVAL_SECONDS", "0")];
    let service = ChildService::start(&binary, &db.uri, &log, &scheduler_off).await?;
    let pid = service.pid()?.to_string();
    let (rss_before, hwm_before) = rss_mib(&pid)?;
    let (swept, rss_sampled) = with_peak_sampled(&pid, sweep(&service)).await?;
    let (_, hwm_after) = rss_mib(&pid)?;
    service.stop().await?;
    let (recycled, sweep_time) = swept?;

    let mut checks = invariants::check(&db.pool, None).await?;
    checks.extend(recycle_checks(db, leads, recycled).await?);
    // VmHWM counts start-up too: it says something about the sweep only if it moved.
    let rss_peak = if hwm_after > hwm_before {
        hwm_after.max(rss_sampled)
    } else {
        rss_sampled.max(rss_before)
    };
    let memory = SweepMemory {
        rss_before,
        rss_peak,
        rss_sampled,
        hwm_before,
        hwm_after,
    };
    Ok(report(
        leads, sweep_time, baseline, &memory, checks, &binary,
    ))
}

/// The sweeps' fixture (`recycle`, `sla`): one pool of 100,000 leads (10,000 quick), every one
/// owned, by 200 members (50 quick) without a cap; how many leads.
pub async fn seed_owned(cli: &Cli, db: &BenchDb) -> Result<i64> {
    let leads = cli.size(100_000, 10_000);
    let plan = seed::Plan {
        leads,
        members: cli.size(200, 50),
        cap: None,
        owned_every: 1,
    };
    seed::seed(&db.pool, plan).await?;
    Ok(leads)
}

/// The service's memory (MiB) before and during the sweep.
struct SweepMemory {
    rss_before: f64,
    rss_peak: f64,
    /// The largest VmRSS sampled during the sweep.
    rss_sampled: f64,
    hwm_before: f64,
    hwm_after: f64,
}

fn report(
    leads: i64,
    sweep_time: Duration,
    baseline: Duration,
    memory: &SweepMemory,
    checks: Vec<Check>,
    binary: &Path,
) -> Report {
    let SweepMemory {
        rss_before,
        rss_peak,
        rss_sampled,
        hwm_before,
        hwm_after,
    } = *memory;
    let ratio = sweep_time.as_secs_f64() / baseline.as_secs_f64();
    let growth = rss_peak - rss_before;
    let mut report = Report::new("recycle", vec!["figure", "value"]);
    report.figure_rows([
        ("owned leads past deadline", leads.to_string()),
        ("**sweep** (s)", f2(sweep_time.as_secs_f64())),
        (
            "baseline: one UPDATE … RETURNING + INSERT (s)",
            f2(baseline.as_secs_f64()),
        ),
        ("**sweep ÷ baseline**", f2(ratio)),
        (
            "leads recycled/s",
            f1(leads as f64 / sweep_time.as_secs_f64()),
        ),
        (
            "service RSS before / peak during the sweep (MiB)",
            format!("{} / {}", f1(rss_before), f1(rss_peak)),
        ),
    ]);
    report.goals.push(Goal::new(
        format!("sweep ÷ baseline ≤ {RATIO_GOAL}"),
        f2(ratio),
        ratio <= RATIO_GOAL,
    ));
    report.goals.push(Goal::new(
        format!("RSS growth during the sweep < {RSS_GROWTH_GOAL_MIB} MiB (flat in N)"),
        format!("{} MiB", f1(growth)),
        growth < RSS_GROWTH_GOAL_MIB,
    ));
    report.invariants("one sweep", checks);
    report.notes.push(format!(
        "service = `{}` as a child process, scheduler off, batches of 1,000 (the default); the sweep is one `RunRecycle` call; two pools without `warn_before`, half the leads in one counting one workday in a calendar (China 2027), half in one with a one-day wall-clock timeout; four past absences (two COVER, two PAUSE) start and end in the same sweep",
        binary.display()
    ));
    report.figures = json!({
        "leads": leads,
        "sweep_seconds": sweep_time.as_secs_f64(),
        "baseline_seconds": baseline.as_secs_f64(),
        "ratio": ratio,
        "rss_mib": { "before": rss_before, "peak": rss_peak, "max_sampled": rss_sampled,
                     "hwm_before": hwm_before, "hwm_after": hwm_after },
    });
    report
}

/// Gives the pool a one-day follow-up timeout and puts half of the owned leads in a second
/// pool that counts one workday in a calendar (Mon–Fri 09:00–18:00 with China's 2027 holidays),
/// each lead with the deadline its pool implies: the leads were acquired weeks ago, so all are
/// overdue. Held counts follow the move; the leads keep their `CREATED` events. Four members had
/// an absence that began and ended since (two covered by a colleague, two paused): the sweep
/// starts and ends them before recycling, so the events replayed include the cover's.
async fn make_overdue(db: &BenchDb) -> Result<()> {
    let spinner = seed::spinner("deadlines");
    db.rewrite_leads(&format!(
        "UPDATE pools SET follow_up_timeout_seconds = 86400 WHERE tenant_id = '{TENANT}';
         INSERT INTO calendars (tenant_id, id, name, definition, created_at, updated_at)
         VALUES ('{TENANT}', gen_random_uuid(), '中国大陆 2027',
                 '{{\"workdays\": [1, 2, 3, 4, 5],
                   \"business_hours\": {{\"start\": \"09:00\", \"end\": \"18:00\"}},
                   \"holidays\": [\"2027-01-01\", \"2027-02-06..2027-02-12\",
                                  \"2027-10-01..2027-10-07\"],
                   \"make_up_workdays\": [\"2027-02-20\"]}}', now(), now());
         INSERT INTO pools (tenant_id, id, name, timezone, calendar_id, follow_up_workdays,
                            created_at, updated_at)
         SELECT '{TENANT}', gen_random_uuid(), 'Bench pool in workdays', 'Asia/Shanghai', c.id, 1,
                now(), now()
         FROM calendars c WHERE c.tenant_id = '{TENANT}';
         INSERT INTO members (tenant_id, pool_id, user_id, role, joined_at, updated_at)
         SELECT m.tenant_id, p.id, m.user_id, m.role, m.joined_at, now()
         FROM members m JOIN pools p ON p.tenant_id = m.tenant_id AND p.calendar_id IS NOT NULL
         WHERE m.tenant_id = '{TENANT}';
         UPDATE leads l SET pool_id = p.id
         FROM pools p
         WHERE l.tenant_id = '{TENANT}' AND p.tenant_id = l.tenant_id
           AND p.calendar_id IS NOT NULL AND l.state = 'OWNED' AND hashtext(l.id::text) % 2 = 0;
         UPDATE leads l SET follow_up_deadline = follow_up_deadline(p, l.grade, l.acquired_at)
         FROM pools p
         WHERE l.tenant_id = '{TENANT}' AND p.tenant_id = l.tenant_id AND p.id = l.pool_id
           AND l.state = 'OWNED';
         UPDATE members m SET held_count = (
             SELECT count(*) FROM leads l
             WHERE l.tenant_id = m.tenant_id AND l.pool_id = m.pool_id AND l.owner_id = m.user_id)
         WHERE m.tenant_id = '{TENANT}';
         INSERT INTO absences (tenant_id, id, user_id, away_from, away_until, mode, cover_user_id,
                               reason, created_by, created_at)
         SELECT '{TENANT}', gen_random_uuid(), 'rep' || lpad(g::text, 4, '0'),
                now() - interval '2 days', now() - interval '1 day',
                CASE WHEN g % 4 = 1 THEN 'COVER' ELSE 'PAUSE' END,
                CASE WHEN g % 4 = 1 THEN 'rep' || lpad((g + 1)::text, 4, '0') END,
                '年假', 'bench', now()
         FROM generate_series(1, 8, 2) AS g;"
    ))
    .await?;
    spinner.finish_and_clear();
    Ok(())
}

/// The same change as the sweep (recycling the owned leads `due` selects), set-based, on an
/// identical copy of the leads (same columns, indexes and rows) into a copy of the events table:
/// one statement. The `sla` scenario measures against it too.
pub async fn baseline(db: &BenchDb, due: &str) -> Result<Duration> {
    let spinner = seed::spinner("baseline copy");
    sqlx::raw_sql(
        "CREATE TABLE baseline_leads (LIKE leads INCLUDING ALL);
         INSERT INTO baseline_leads SELECT * FROM leads;
         CREATE TABLE baseline_events (LIKE lead_events INCLUDING ALL);",
    )
    .execute(&db.pool)
    .await?;
    sqlx::raw_sql("VACUUM (ANALYZE) baseline_leads, baseline_events")
        .execute(&db.pool)
        .await?;
    spinner.set_message("baseline");
    let started = Instant::now();
    sqlx::raw_sql(&format!(
        "WITH recycled AS (
             UPDATE baseline_leads l
             SET state = 'IN_POOL', owner_id = NULL, previous_owner_id = l.owner_id,
                 acquired_at = NULL, acquired_via = NULL, follow_up_deadline = NULL,
                 close_deadline = NULL, pool_entered_at = now(), accept_deadline = NULL,
                 accept_chain = '{{}}', version = l.version + 1, updated_at = now()
             WHERE l.state = 'OWNED' AND {due}
             RETURNING l.tenant_id, l.id, l.pool_id, l.previous_owner_id)
         INSERT INTO baseline_events (tenant_id, lead_id, pool_id, kind, from_owner, actor,
                                      reason, occurred_at)
         SELECT tenant_id, id, pool_id, 'RECYCLED', previous_owner_id, 'baseline',
                'FOLLOW_UP_OVERDUE', now()
         FROM recycled"
    ))
    .execute(&db.pool)
    .await?;
    let elapsed = started.elapsed();
    sqlx::raw_sql("DROP TABLE baseline_leads, baseline_events")
        .execute(&db.pool)
        .await?;
    spinner.finish_and_clear();
    Ok(elapsed)
}

/// One `RunRecycle` as the tenant's admin: (leads recycled, time).
async fn sweep(service: &ChildService) -> Result<(i64, Duration)> {
    let mut client = RecycleServiceClient::new(connect(service.addr).await?);
    let admin = Caller::new(TENANT, "bench-admin", Some("admin"))?;
    let spinner = seed::spinner("sweeping");
    let started = Instant::now();
    let response = client
        .run_recycle(admin.request(RunRecycleRequest::default()))
        .await?
        .into_inner();
    let elapsed = started.elapsed();
    spinner.finish_and_clear();
    Ok((i64::from(response.recycled), elapsed))
}

/// What one sweep over overdue leads must leave: all recycled, each once, none owned.
async fn recycle_checks(db: &BenchDb, leads: i64, reported: i64) -> Result<Vec<Check>> {
    let (events, distinct, owned): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM lead_events WHERE tenant_id = $1 AND kind = 'RECYCLED'),
                (SELECT count(DISTINCT lead_id) FROM lead_events
                 WHERE tenant_id = $1 AND kind = 'RECYCLED'),
                (SELECT count(*) FROM leads WHERE tenant_id = $1 AND state = 'OWNED')",
    )
    .bind(TENANT)
    .fetch_one(&db.pool)
    .await?;
    Ok(vec![
        Check {
            name: "every overdue lead recycled, as the response says",
            violations: (leads - reported).abs() + (leads - events).abs(),
        },
        Check {
            name: "one RECYCLED event per lead",
            violations: events - distinct,
        },
        Check {
            name: "no overdue lead left owned",
            violations: owned,
        },
        absence_check(db).await?,
    ])
}

/// The four past absences, in members of both pools: each started and ended once (one
/// AWAY_STARTED and one AWAY_ENDED per pool), and every lead the covers moved came back.
async fn absence_check(db: &BenchDb) -> Result<Check> {
    let (open, started, ended, covered, returned): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM absences WHERE tenant_id = $1 AND state <> 'ENDED'),
                count(*) FILTER (WHERE kind = 'AWAY_STARTED'),
                count(*) FILTER (WHERE kind = 'AWAY_ENDED'),
                count(*) FILTER (WHERE kind = 'COVER_STARTED'),
                count(*) FILTER (WHERE kind = 'COVER_ENDED')
         FROM lead_events WHERE tenant_id = $1",
    )
    .bind(TENANT)
    .fetch_one(&db.pool)
    .await?;
    Ok(Check {
        name: "past absences started and ended once; covered leads came back",
        violations: open
            + (started - 8).abs()
            + (ended - 8).abs()
            + (covered - returned).abs()
            + i64::from(covered == 0),
    })
}
