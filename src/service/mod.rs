//! The use cases: one function per thing a caller (or the scheduler) can ask for. Each takes
//! the [`Context`], the [`Actor`](crate::domain::access::Actor) and validated domain values,
//! owns its transaction and idempotency record, and returns domain values or a `DomainError`.
//! Rules come from `domain`, SQL from `store`; nothing here knows gRPC.

pub mod collision;
pub mod events;
pub mod idempotency;
pub mod members;
pub mod pools;

use std::sync::Arc;

use sqlx::PgPool;

use crate::domain::clock::SharedClock;
use crate::metrics::Metrics;
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
}
