//! `import`: leads through one `ImportLeadsStream` call, chunk by chunk, with the duplicate checks
//! of the service. The baseline is psql's `\copy` of the rows the service creates into a copy of
//! `leads` with all its indexes and constraints, plus the set-based insert of those rows' search
//! terms into a copy of `lead_search` (the same schema's cost of storing a lead); the `\copy` into
//! a bare table is reported beside it.

use std::path::Path;
use std::time::Instant;

use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use leadpool::proto::lead_service_client::LeadServiceClient;
use leadpool::proto::{ImportLeadsStreamRequest, ImportLeadsStreamResponse, NewLead};

use crate::baseline;
use crate::cli::Cli;
use crate::dbserver::BenchDb;
use crate::invariants::{self, Check};
use crate::report::{Goal, Report, f1, f2, rss_mib};
use crate::seed::{self, TENANT};
use crate::service::{Caller, InProcess, connect};
use crate::{BoxError, Result};

const CHUNK: usize = 1_000;
/// Every `DUPLICATE_EVERY`-th row repeats the previous row's phone: a duplicate to detect.
const DUPLICATE_EVERY: usize = 50;
const RATIO_GOAL: f64 = 0.6;

/// Row `i` of the import file.
fn row(i: usize) -> NewLead {
    let contact = if i % DUPLICATE_EVERY == DUPLICATE_EVERY - 1 {
        i - 1
    } else {
        i
    };
    NewLead {
        name: format!("Import {i}"),
        company: format!("Company {i} Ltd"),
        phone: format!("+86 139{contact:08}"),
        email: format!("import{i}@example.com"),
        source: "bench-import".into(),
        region: ["east", "west", "north", "south"][i % 4].into(),
        grade: ["A", "B", "C", "D"][i / 4 % 4].into(),
        ..Default::default()
    }
}

pub async fn run(cli: &Cli, db: &BenchDb) -> Result<Report> {
    let rows = cli.size(1_000_000, 20_000);
    let plan = seed::Plan {
        leads: 0,
        members: 1,
        cap: None,
        owned_every: 0,
    };
    let fx = seed::seed(&db.pool, plan).await?;
    let service = InProcess::start(db.options.clone()).await?;
    let started = Instant::now();
    let summary = stream_rows(service.addr, fx.pool_id.to_string(), rows).await;
    let service_secs = started.elapsed().as_secs_f64();
    let (rss, hwm) = rss_mib("self")?;
    service.stop().await?;
    let summary = summary?;
    let copy_secs = copy_baseline(cli, db, rows, fx.pool_id).await?;

    let mut checks = invariants::check(&db.pool, None).await?;
    checks.extend(import_checks(db, rows, &summary).await?);
    let seconds = (service_secs, copy_secs);
    Ok(report(rows, &summary, seconds, (rss, hwm), checks))
}

/// `seconds`: the service's and the two copies'; `(rss, hwm)`: the bench process's, in MiB.
fn report(
    rows: usize,
    summary: &ImportLeadsStreamResponse,
    (service_secs, copy_secs): (f64, CopySeconds),
    (rss, hwm): (f64, f64),
    checks: Vec<Check>,
) -> Report {
    let mut report = Report::new("import", vec!["figure", "value"]);
    report.invariants("import", checks);
    let service_rate = rows as f64 / service_secs;
    let copy_rate = summary.created as f64 / copy_secs.same_schema;
    let bare_rate = rows as f64 / copy_secs.bare;
    let ratio = service_rate / copy_rate;
    report.figure_rows([
        ("rows streamed", rows.to_string()),
        (
            "created / duplicates / invalid",
            format!(
                "{} / {} / {}",
                summary.created, summary.duplicates, summary.invalid
            ),
        ),
        ("service rows/s (ImportLeadsStream)", f1(service_rate)),
        (
            "baseline rows/s (\\copy of the created rows into a same-schema table)",
            f1(copy_rate),
        ),
        ("**ratio** service ÷ same-schema \\copy", f2(ratio)),
        ("beside it: \\copy into a bare table, rows/s", f1(bare_rate)),
        (
            "bench process RSS / peak (MiB), service + client",
            format!("{} / {}", f1(rss), f1(hwm)),
        ),
    ]);
    report.goals.push(Goal::new(
        format!("rows/s ÷ same-schema \\copy rows/s ≥ {RATIO_GOAL}"),
        f2(ratio),
        ratio >= RATIO_GOAL,
    ));
    report.notes.push(format!(
        "one stream of {CHUNK}-row chunks; every {DUPLICATE_EVERY}th row repeats the previous row's phone"
    ));
    report.figures = json!({
        "rows": rows,
        "chunk": CHUNK,
        "service": { "seconds": service_secs, "rows_per_s": service_rate, "created": summary.created, "duplicates": summary.duplicates, "invalid": summary.invalid },
        "copy": { "seconds": copy_secs.same_schema, "rows_per_s": copy_rate },
        "bare_copy": { "seconds": copy_secs.bare, "rows_per_s": bare_rate },
        "ratio": ratio,
        "rss_mib": { "bench_process": rss, "bench_process_peak": hwm },
    });
    report
}

/// The rows in one `ImportLeadsStream` call, generated chunk by chunk as the stream asks for
/// them (a small channel), so the client holds a few chunks at most.
async fn stream_rows(
    addr: std::net::SocketAddr,
    pool_id: String,
    rows: usize,
) -> Result<ImportLeadsStreamResponse> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let producer = tokio::spawn(async move {
        let bar = seed::bar(rows as u64, "imported");
        for (n, start) in (0..rows).step_by(CHUNK).enumerate() {
            let chunk = ImportLeadsStreamRequest {
                pool_id: if n == 0 {
                    pool_id.clone()
                } else {
                    String::new()
                },
                leads: (start..(start + CHUNK).min(rows)).map(row).collect(),
                allow_duplicates: false,
                request_id: String::new(),
            };
            if tx.send(chunk).await.is_err() {
                break;
            }
            bar.inc(CHUNK as u64);
        }
        bar.finish_and_clear();
    });
    let caller = Caller::new(TENANT, "bench-importer", Some("service"))?;
    let mut client = LeadServiceClient::new(connect(addr).await?);
    let response = client
        .import_leads_stream(caller.request(ReceiverStream::new(rx)))
        .await;
    producer.await?;
    Ok(response?.into_inner())
}

/// Seconds for psql's `\copy`s.
#[derive(Debug, Clone, Copy)]
struct CopySeconds {
    same_schema: f64,
    bare: f64,
}

/// Times psql's `\copy` of the rows the service creates (not the planted duplicates: the copy
/// of `leads` keeps its unique keys) into `LIKE leads INCLUDING ALL`, with the columns a new lead
/// gets, and of their search terms into `LIKE lead_search INCLUDING ALL` in one statement; then
/// of every row's fields into a table without indexes.
async fn copy_baseline(cli: &Cli, db: &BenchDb, rows: usize, pool_id: Uuid) -> Result<CopySeconds> {
    std::fs::create_dir_all(&cli.out_dir)?;
    let csv = cli.out_dir.join("import_rows.csv");
    write_csv(&csv, rows, Some(pool_id))?;
    let same_schema = timed_copy(
        cli,
        db,
        r"CREATE TABLE bench_import_same (LIKE leads INCLUDING ALL);
         \copy bench_import_same (tenant_id, pool_id, id, name, company, phone, email, source, region, grade, phone_normalized, email_normalized, state, pool_entered_at, created_at, updated_at) FROM '{csv}' WITH (FORMAT csv)
         CREATE TABLE bench_import_same_search (LIKE lead_search INCLUDING ALL);
         INSERT INTO bench_import_same_search (tenant_id, lead_id, grams, tags, created_at)
             SELECT tenant_id, id, lead_search_grams(name, company), tags, created_at
             FROM bench_import_same;",
        &csv,
    )
    .await?;
    write_csv(&csv, rows, None)?;
    let bare = timed_copy(
        cli,
        db,
        r"CREATE TABLE bench_import_copy (name text, company text, phone text, email text,
                                         source text, region text, grade text);
         \copy bench_import_copy FROM '{csv}' WITH (FORMAT csv)",
        &csv,
    )
    .await?;
    std::fs::remove_file(&csv)?;
    Ok(CopySeconds { same_schema, bare })
}

/// Seconds psql takes to run `script` with `{csv}` replaced by the file's path.
async fn timed_copy(cli: &Cli, db: &BenchDb, script: &str, csv: &Path) -> Result<f64> {
    let file = cli.out_dir.join("import_copy.sql");
    let script = script.replace("{csv}", &csv.display().to_string());
    std::fs::write(&file, format!("{script}\n"))?;
    let started = Instant::now();
    baseline::psql(db, &file).await?;
    Ok(started.elapsed().as_secs_f64())
}

/// The import's rows as CSV: with a pool, the rows the service creates with every column the
/// same-schema copy needs; without, every row's fields.
fn write_csv(path: &Path, rows: usize, pool_id: Option<Uuid>) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..rows {
        let r = row(i);
        let fields = [
            &r.name, &r.company, &r.phone, &r.email, &r.source, &r.region, &r.grade,
        ];
        let fields = fields.map(String::as_str).join(",");
        match pool_id {
            None => writeln!(out, "{fields}")?,
            Some(_) if i % DUPLICATE_EVERY == DUPLICATE_EVERY - 1 => {}
            Some(pool) => {
                let phone: String = r.phone.chars().filter(char::is_ascii_digit).collect();
                let (id, now) = (Uuid::now_v7(), "2026-12-04 00:00:00+00");
                writeln!(
                    out,
                    "{TENANT},{pool},{id},{fields},{phone},{},IN_POOL,{now},{now},{now}",
                    r.email
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// The summary adds up, matches the table, and each created lead has its one `CREATED` event.
async fn import_checks(
    db: &BenchDb,
    rows: usize,
    summary: &ImportLeadsStreamResponse,
) -> Result<Vec<Check>, BoxError> {
    let (leads, events): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM leads WHERE tenant_id = $1),
                (SELECT count(*) FROM lead_events WHERE tenant_id = $1 AND kind = 'CREATED')",
    )
    .bind(TENANT)
    .fetch_one(&db.pool)
    .await?;
    let expected_duplicates = (rows / DUPLICATE_EVERY) as i64;
    Ok(vec![
        Check {
            name: "created + duplicates + invalid = rows streamed",
            violations: (summary.created + summary.duplicates + summary.invalid - rows as i64)
                .abs(),
        },
        Check {
            name: "every planted duplicate detected",
            violations: (summary.duplicates - expected_duplicates).abs(),
        },
        Check {
            name: "leads in the table = created",
            violations: (leads - summary.created).abs(),
        },
        Check {
            name: "one CREATED event per created lead",
            violations: (events - summary.created).abs(),
        },
    ])
}
