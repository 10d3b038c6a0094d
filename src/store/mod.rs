//! Every SQL statement of the service, grouped by aggregate. Invariants that must hold under
//! concurrency (one owner per lead, caps) are enforced inside the statements here.

pub mod absences;
pub mod activity;
pub mod assignment;
pub mod calendars;
pub mod due;
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

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use crate::domain::Result;

pub use error::db_error;

/// Bounds on the service's own transactions, so a stuck call can neither hold locks for long
/// nor stall event followers waiting on the oldest open transaction.
const STATEMENT_TIMEOUT: &str = "10s";
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "15s";
/// How long a call may wait for a connection (a call's own deadline may cut it shorter).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

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
///
/// It fails only when not one connection opens, with the server's own reason. Of the `min`
/// connections it keeps, it opens at once as many as the server allows: a pod that starts while
/// PostgreSQL's connection slots are short (a rolling update over a tight `max_connections`)
/// serves with fewer and says so, where insisting on all of them kept it from starting at all.
pub async fn connect(options: PgConnectOptions, size: PoolSize) -> Result<PgPool, sqlx::Error> {
    let options = session_settings(options);
    let pool = PgPoolOptions::new()
        .max_connections(size.max)
        .min_connections(size.min)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A connection that may hold statements a migration made stale is closed, not lent.
        .before_acquire(|_, meta| Box::pin(async move { Ok(!stale_plans::may_be_held(meta.age)) }))
        .connect_lazy_with(options.clone());
    let opened = open_connections(&pool, size.min.max(1)).await;
    if opened.is_empty() {
        return Err(why_refused(&options).await);
    }
    if opened.len() < size.min as usize {
        // Asked while this process still holds what it got, the server says why it refuses more.
        let refusal = why_refused(&options).await;
        tracing::warn!(
            opened = opened.len(),
            wanted = size.min,
            %refusal,
            "PostgreSQL refused some of the connections this process keeps open; it serves with \
             fewer and opens more when calls need them. Lower LEADPOOL_DB_MIN_CONNECTIONS or \
             LEADPOOL_DB_MAX_CONNECTIONS, or raise the server's max_connections"
        );
    }
    return_to_pool(&pool, opened).await;
    Ok(pool)
}

/// Gives the connections back and waits (a second at most) until they are idle in the pool:
/// a dropped connection goes back in a task of its own, and a call that finds none idle opens
/// another, which a server short of slots refuses until the call times out.
async fn return_to_pool(pool: &PgPool, connections: Vec<PoolConnection<Postgres>>) {
    let wanted = connections.len();
    drop(connections);
    let idle = async {
        while pool.num_idle() < wanted {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), idle).await;
}

/// `options` with the settings every connection of the service runs with: its statement and
/// idle-in-transaction timeouts, and the planner settings its statements are measured with.
pub fn session_settings(options: PgConnectOptions) -> PgConnectOptions {
    options.application_name("leadpool").options([
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
    ])
}

/// Opens up to `n` connections at once (each acquire finds none idle, so it opens one) and
/// returns the ones that opened; dropping them leaves them idle in the pool.
async fn open_connections(pool: &PgPool, n: u32) -> Vec<PoolConnection<Postgres>> {
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..n {
        let pool = pool.clone();
        opening.spawn(async move { pool.acquire().await });
    }
    let mut opened = Vec::new();
    while let Some(result) = opening.join_next().await {
        opened.extend(result.ok().and_then(Result::ok));
    }
    opened
}

/// The pool reports a refused connection as a timeout (it retries "too many clients" until its
/// acquire timeout); one connection of our own, as patient, gets the server's reason.
async fn why_refused(options: &PgConnectOptions) -> sqlx::Error {
    let attempt = PgConnection::connect_with(options);
    match tokio::time::timeout(ACQUIRE_TIMEOUT, attempt).await {
        Ok(Err(refused)) => refused,
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            sqlx::Error::PoolTimedOut
        }
        Err(_) => sqlx::Error::PoolTimedOut,
    }
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
