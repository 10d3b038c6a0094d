//! The planner's estimates for `ListLeads` text queries, kept a minute per tenant and text.
//!
//! A text query first asks PostgreSQL how many leads its rarest gram may find, to choose how to
//! list them ([`store::leads::list::search_estimate`]: an `EXPLAIN` for the tenant and one per
//! gram, 0.5–0.8 ms of a call's 3–7 ms at 1M leads). The answer comes from the table's statistics,
//! which change only when `ANALYZE` runs (autovacuum's, minutes apart at the soonest), so the same
//! text asked again within a minute is answered from memory. A stale estimate can only choose a
//! slower way to list, never other leads: every way returns the same page.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::PgConnection;

use crate::domain::Result;
use crate::store;
use crate::store::leads::list::SearchEstimate;

/// How long an estimate is used before it is asked for again.
const KEPT_FOR: Duration = Duration::from_secs(60);

/// How many estimates are kept at most (each a tenant id, a text of up to 200 characters and two
/// numbers: about 4 MiB at the most). When full, the expired ones go; if none has, all of them do.
const MAX_KEPT: usize = 4_096;

/// Estimates by (tenant, text), with the moment each was read.
#[derive(Debug, Default)]
pub struct SearchEstimates {
    kept: Mutex<HashMap<(String, String), (Instant, SearchEstimate)>>,
}

impl SearchEstimates {
    /// The estimate of `text` among the tenant's leads: kept, or read on `db` and kept.
    pub async fn of(
        &self,
        db: &mut PgConnection,
        tenant_id: &str,
        text: &str,
    ) -> Result<SearchEstimate> {
        let now = Instant::now();
        if let Some(known) = self.get(tenant_id, text, now) {
            return Ok(known);
        }
        let estimate = store::leads::list::search_estimate(db, tenant_id, text).await?;
        self.keep(tenant_id, text, estimate, now);
        Ok(estimate)
    }

    fn get(&self, tenant_id: &str, text: &str, now: Instant) -> Option<SearchEstimate> {
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (tenant_id.to_owned(), text.to_owned());
        kept.get(&key)
            .filter(|(read_at, _)| now.saturating_duration_since(*read_at) < KEPT_FOR)
            .map(|(_, estimate)| *estimate)
    }

    fn keep(&self, tenant_id: &str, text: &str, estimate: SearchEstimate, now: Instant) {
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.len() >= MAX_KEPT {
            kept.retain(|_, (read_at, _)| now.saturating_duration_since(*read_at) < KEPT_FOR);
            if kept.len() >= MAX_KEPT {
                kept.clear();
            }
        }
        kept.insert((tenant_id.to_owned(), text.to_owned()), (now, estimate));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(hits: i64) -> SearchEstimate {
        SearchEstimate {
            hits: Some(hits),
            leads: 1_000,
        }
    }

    #[test]
    fn an_estimate_is_used_for_a_minute_by_its_tenant_and_text_only() {
        let cache = SearchEstimates::default();
        let t0 = Instant::now();
        cache.keep("acme", "杭州", estimate(50), t0);
        let later = t0 + KEPT_FOR - Duration::from_millis(1);
        assert_eq!(cache.get("acme", "杭州", later), Some(estimate(50)));
        assert_eq!(
            cache.get("acme", "杭州", t0 + KEPT_FOR),
            None,
            "asked again"
        );
        assert_eq!(cache.get("other", "杭州", t0), None, "another tenant's");
        assert_eq!(cache.get("acme", "杭", t0), None, "another text's");
    }

    /// A cache holding `count` estimates read at `at`, of the texts `old 0`, `old 1`, ….
    fn holding(count: usize, at: Instant) -> SearchEstimates {
        let cache = SearchEstimates::default();
        for i in 0..count {
            cache.keep("acme", &format!("old {i}"), estimate(1), at);
        }
        cache
    }

    #[test]
    fn a_full_cache_drops_everything_when_none_has_expired() {
        let t0 = Instant::now();
        let cache = holding(MAX_KEPT, t0);
        let t1 = t0 + KEPT_FOR / 2;
        cache.keep("acme", "recent", estimate(2), t1);
        assert_eq!(cache.get("acme", "old 0", t1), None);
        assert_eq!(cache.get("acme", "recent", t1), Some(estimate(2)));
    }

    #[test]
    fn a_full_cache_drops_only_the_expired_when_some_have() {
        let t0 = Instant::now();
        let cache = holding(MAX_KEPT - 1, t0);
        let t1 = t0 + KEPT_FOR / 2;
        cache.keep("acme", "fresh", estimate(2), t1);
        let t2 = t0 + KEPT_FOR;
        cache.keep("acme", "newest", estimate(3), t2);
        assert_eq!(cache.kept.lock().map(|k| k.len()).ok(), Some(2));
        assert_eq!(cache.get("acme", "fresh", t2), Some(estimate(2)));
        assert_eq!(cache.get("acme", "newest", t2), Some(estimate(3)));
    }
}
