//! The use cases: one function per thing a caller (or the scheduler) can ask for. Each takes
//! the [`Context`], the [`Actor`](crate::domain::access::Actor) and validated domain values,
//! owns its transaction and idempotency record, and returns domain values or a `DomainError`.
//! Rules come from `domain`, SQL from `store`; nothing here knows gRPC.

pub mod absences;
pub mod acceptance;
mod access;
pub mod assignment;
pub mod calendars;
pub mod collision;
pub mod deadline;
pub mod events;
pub mod idempotency;
pub mod leads;
pub mod members;
pub mod pools;
pub mod preview;
pub mod recycle;
pub mod reports;
mod reschedule;
mod retry;
mod search_estimates;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::clock::SharedClock;
use crate::metrics::Metrics;
use crate::store::db_error;
use crate::wakeups::Wakeups;
use search_estimates::SearchEstimates;

/// What every use case needs: the database, the clock, the wake-ups of event followers, the
/// metrics it counts in, and what the process keeps of the planner's estimates.
#[derive(Debug, Clone)]
pub struct Context {
    pub db: PgPool,
    pub clock: SharedClock,
    pub wakeups: Wakeups,
    pub metrics: Arc<Metrics>,
    /// The planner's estimates of recent text queries ([`SearchEstimates`]).
    search_estimates: Arc<SearchEstimates>,
    /// Whether the last wait for a connection got one: tells a deadline that passed while
    /// waiting on a healthy database from one spent on an unreachable one.
    reached: Arc<AtomicBool>,
}

impl Context {
    pub fn new(db: PgPool, clock: SharedClock) -> Self {
        Self {
            db,
            clock,
            wakeups: Wakeups::default(),
            metrics: Arc::new(Metrics::new()),
            search_estimates: Arc::default(),
            reached: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A connection, waited for no longer than the call's deadline allows (nothing was done
    /// when it passes: see [`Context::out_of_time`]).
    pub async fn acquire(&self) -> Result<PoolConnection<Postgres>> {
        let acquired = match deadline::instant() {
            None => self.db.acquire().await,
            Some(at) => match tokio::time::timeout_at(at, self.db.acquire()).await {
                Ok(conn) => conn,
                Err(_) => return Err(self.out_of_time()),
            },
        };
        self.note_reached(acquired.map_err(db_error))
    }

    /// Remembers whether the database answered the last wait for a connection.
    fn note_reached<T>(&self, outcome: Result<T>) -> Result<T> {
        let reached = !matches!(outcome, Err(DomainError::DatabaseUnavailable));
        self.reached.store(reached, Ordering::Relaxed);
        outcome
    }

    /// Why the deadline passed while waiting for the database: unreachable when the last wait
    /// failed to reach it, or before it was ever reached (`UNAVAILABLE`, retry with backoff);
    /// otherwise the connections were busy or the deadline too short (`DEADLINE_EXCEEDED`).
    fn out_of_time(&self) -> DomainError {
        if self.reached.load(Ordering::Relaxed) {
            DomainError::DeadlineExceeded
        } else {
            DomainError::DatabaseUnavailable
        }
    }

    /// A transaction whose statements the server cancels when the call's deadline passes;
    /// committed only through [`Context::commit`].
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        let left = deadline::remaining();
        // One round trip: BEGIN and the statement timeout as one simple query.
        let statement = match left {
            None => "BEGIN".to_owned(),
            Some(left) => format!(
                "BEGIN; SET LOCAL statement_timeout = {}",
                left.as_millis().max(1)
            ),
        };
        // sqlx forgets a BEGIN cut off before its answer, and the connection would go back to
        // the pool inside that transaction: a later call's statements would run in it and never
        // commit. So the BEGIN runs to its end in a task of its own; when the call has gone by
        // then, the transaction is dropped there, and rolled back.
        let db = self.db.clone();
        let begin = tokio::spawn(async move { db.begin_with(statement).await });
        let begun = match deadline::instant() {
            None => begin.await,
            Some(at) => match tokio::time::timeout_at(at, begin).await {
                Ok(begun) => begun,
                Err(_) => return Err(self.out_of_time()),
            },
        };
        let tx = begun.map_err(DomainError::internal_from)?;
        self.note_reached(tx.map_err(db_error))
    }

    /// Commits `tx`, unless the call's deadline leaves no time for it: then it rolls back.
    pub async fn commit(&self, tx: Transaction<'_, Postgres>) -> Result<()> {
        deadline::check_before_commit()?;
        let committed = tx.commit().await;
        deadline::commit_answered(committed.is_ok());
        committed.map_err(db_error)
    }

    /// Runs `change` in a transaction of its own ([`Context::begin`], [`Context::commit`]).
    pub async fn transaction<Out>(
        &self,
        change: impl AsyncFnOnce(&mut PgConnection) -> Result<Out>,
    ) -> Result<Out> {
        let mut tx = self.begin().await?;
        let out = change(&mut tx).await?;
        self.commit(tx).await?;
        Ok(out)
    }

    /// Runs `change` with each statement committing as it runs (one round trip for one
    /// statement), unless the call has a deadline: then in a [`Context::transaction`], so that
    /// a statement the deadline cuts off rolls back rather than commits after the answer.
    pub async fn as_sent<Out>(
        &self,
        change: impl AsyncFnOnce(&mut PgConnection) -> Result<Out>,
    ) -> Result<Out> {
        match deadline::remaining() {
            Some(_) => self.transaction(change).await,
            None => change(&mut *self.acquire().await?).await,
        }
    }
}
