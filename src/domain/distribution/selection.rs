//! Which pool leads one distribution takes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// Which leads of a pool a distribution takes, oldest in the pool first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// Only these leads (empty: any).
    pub lead_ids: Vec<Uuid>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub grade: Option<String>,
    pub entered_before: Option<DateTime<Utc>>,
    /// Only leads after this `(pool_entered_at, id)`: the scheduler's place in a sweep.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}
