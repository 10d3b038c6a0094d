//! Every SQL statement of the service, grouped by aggregate. Invariants that must hold under
//! concurrency (one owner per lead, caps) are enforced inside the statements here.

pub mod absences;
pub mod assignment;
pub mod calendars;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod leads;
pub mod members;
pub mod pools;
pub mod recycle;
pub mod reports;
pub mod schema;
pub mod stale_plans;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::domain::Result;

pub use error::db_error;

/// Bounds on the service's own transactions, so a stuck call can neither hold locks for long
/// nor stall event followers waiting on the oldest open transaction.
const STATEMENT_TIMEOUT: &str = "10s";
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "15s";

/// How many connections a pool may hold, and how many it keeps open while idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    pub max: u32,
    pub min: u32,
}

impl PoolSize {
    /// Connections opened when needed and closed when idle: for tools, tests and the bench.
    pub fn on_demand(max: u32) -> Self {
        Self { max, min: 0 }
    }
}

/// Opens the connection pool with the session settings every statement relies on.
pub async fn connect(options: PgConnectOptions, size: PoolSize) -> Result<PgPool, sqlx::Error> {
    let options = options.application_name("leadpool").options([
        ("statement_timeout", STATEMENT_TIMEOUT),
        (
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT,
        ),
        // Short statements over few rows: JIT compilation would cost more than it saves
        // (a 100,000-row deadline computation took 243 ms with it, 28 ms without).
        ("jit", "off"),
        // Listing pages walk an index and stop after 50 rows; parallel workers cost ~12 ms to
        // start (a 5%-of-rows text search took 17 ms with two, 2.1 ms without; bench `list`).
        ("max_parallel_workers_per_gather", "0"),
    ]);
    PgPoolOptions::new()
        .max_connections(size.max)
        .min_connections(size.min)
        .acquire_timeout(Duration::from_secs(5))
        // A connection that may hold statements a migration made stale is closed, not lent.
        .before_acquire(|_, meta| Box::pin(async move { Ok(!stale_plans::may_be_held(meta.age)) }))
        .connect_with(options)
        .await
}

/// Whether the database answers, for the health service.
pub async fn ping(db: &PgPool) -> Result<()> {
    sqlx::query("SELECT 1")
        .execute(db)
        .await
        .map(drop)
        .map_err(db_error)
}

/// Creates `name` unless it exists; for the private PostgreSQL's first start.
pub async fn ensure_database(admin: &PgPool, name: &str) -> Result<()> {
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS "exists!""#,
        name
    )
    .fetch_one(admin)
    .await
    .map_err(db_error)?;
    if !exists {
        // Identifiers cannot be bound; the name is a constant of ours, quoted anyway.
        let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        sqlx::query(&create)
            .execute(admin)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}
