//! The use cases: one function per thing a caller (or the scheduler) can ask for. Each takes
//! the [`Context`], the [`Actor`](crate::domain::access::Actor) and validated domain values,
//! owns its transaction and idempotency record, and returns domain values or a `DomainError`.
//! Rules come from `domain`, SQL from `store`; nothing here knows gRPC.

mod access;
pub mod assignment;
pub mod collision;
pub mod deadline;
pub mod events;
pub mod idempotency;
pub mod leads;
pub mod members;
pub mod pools;
pub mod recycle;

use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres, Transaction};

use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::clock::SharedClock;
use crate::metrics::Metrics;
use crate::store::db_error;
use crate::wakeups::Wakeups;

/// What every use case needs: the database, the clock, the wake-ups of event followers, and
/// the metrics it counts in.
#[derive(Debug, Clone)]
pub struct Context {
    pub db: PgPool,
    pub clock: SharedClock,
    pub wakeups: Wakeups,
    pub metrics: Arc<Metrics>,
}

impl Context {
    pub fn new(db: PgPool, clock: SharedClock) -> Self {
        Self {
            db,
            clock,
            wakeups: Wakeups::default(),
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// A connection, waited for no longer than the call's deadline allows: a caller whose
    /// deadline passes before one is free learns `UNAVAILABLE` (nothing was done, retry).
    pub async fn acquire(&self) -> Result<PoolConnection<Postgres>> {
        match deadline::remaining() {
            None => self.db.acquire().await.map_err(db_error),
            Some(left) => match tokio::time::timeout(left, self.db.acquire()).await {
                Ok(conn) => conn.map_err(db_error),
                Err(_) => Err(DomainError::DatabaseUnavailable),
            },
        }
    }

    /// A transaction whose statements the server cancels when the call's deadline passes;
    /// committed only through [`Context::commit`].
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        let Some(left) = deadline::remaining() else {
            return self.db.begin().await.map_err(db_error);
        };
        // One round trip: BEGIN and the statement timeout as one simple query.
        let millis = left.as_millis().max(1);
        let begin = format!("BEGIN; SET LOCAL statement_timeout = {millis}");
        match tokio::time::timeout(left, self.db.begin_with(begin)).await {
            Ok(tx) => tx.map_err(db_error),
            Err(_) => Err(DomainError::DatabaseUnavailable),
        }
    }

    /// Commits `tx`, unless the call's deadline leaves no time for it: then it rolls back.
    pub async fn commit(&self, tx: Transaction<'_, Postgres>) -> Result<()> {
        deadline::check_before_commit()?;
        tx.commit().await.map_err(db_error)
    }
}
