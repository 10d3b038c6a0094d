//! The gRPC edge: one file per service. Requests become validated domain values here, one
//! store call does the work, and results map back to proto. No SQL here.

mod assignment_service;
pub mod auth;
mod collision;
pub mod convert;
mod event_cursor;
mod event_service;
mod idempotency;
pub mod identity;
mod lead_service;
mod page_token;
mod pool_service;
mod recycle_service;
pub mod status;

pub use assignment_service::AssignmentApi;
pub use event_service::{EventApi, FollowSettings};
pub use lead_service::LeadApi;
pub use pool_service::PoolApi;
pub use recycle_service::RecycleApi;

use std::sync::Arc;

use sqlx::PgPool;

use crate::domain::clock::SharedClock;
use crate::metrics::Metrics;
use crate::wakeups::Wakeups;

/// What every service needs: the database, the clock, the wake-ups of event followers, and
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
