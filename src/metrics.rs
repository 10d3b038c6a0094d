//! What the service counts, scraped as OpenMetrics text from `/metrics` on its own listener
//! (`LEADPOOL_METRICS_LISTEN`). One [`Metrics`] per server, shared through the API context:
//! a service or scheduler adds a counter with a field here and its line in [`Metrics::new`],
//! then calls `ctx.metrics.<field>.inc()`. RPCs need nothing per service: the
//! [`rpc::RpcMetricsLayer`] counts and times every call under the conventional gRPC names.

pub mod http;
mod process;
pub mod rpc;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};
use sqlx::PgPool;

/// Upper bounds (seconds) of latency buckets: 1 ms to 10 s.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds (seconds) of event-stream lag buckets: 10 ms to 10 min.
const LAG_BUCKETS: [f64; 11] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
];

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Labels of the build-info gauge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Labels of one scheduler sweep.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SweepLabels {
    /// The scheduler's name, e.g. `recycle`.
    pub scheduler: &'static str,
}

pub struct Metrics {
    registry: Registry,
    /// The gRPC server metrics; only [`rpc::RpcMetricsLayer`] records them.
    grpc: rpc::GrpcMetrics,
    /// Leads claimed from a public pool.
    pub claims: Counter,
    /// Leads released back to a public pool by their owner.
    pub releases: Counter,
    /// Leads recycled to a public pool at a missed deadline.
    pub recycles: Counter,
    /// Leads handed to members by the distributor.
    pub distributions: Counter,
    /// Pushed leads passed on to the next member after a miss or a decline.
    pub reroutes: Counter,
    /// Use cases run again after losing a race to a concurrent change (`service::retry`).
    pub conflict_retries: Counter,
    /// Seconds one sweep of a scheduler took; see [`Metrics::record_sweep`].
    sweep_duration: Histograms<SweepLabels>,
    /// Sweeps that failed, and when each scheduler last finished one: for stall alerts.
    sweep_failures: Family<SweepLabels, Counter>,
    sweep_last_success: Family<SweepLabels, Gauge<f64, AtomicU64>>,
    /// Open `WatchEvents` streams; see [`Metrics::follow`].
    event_followers: Gauge,
    /// Age of the oldest event of each page a follower reads: how far behind it is.
    event_follower_lag: Histogram,
    db_pool: PoolGauges,
}

/// The database pool's connections, read when the metrics are rendered.
struct PoolGauges {
    connections: Gauge,
    idle_connections: Gauge,
    max_connections: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        // The gRPC metrics under their conventional names; the service's own under `leadpool_`.
        let mut root = Registry::default();
        let grpc = rpc::GrpcMetrics::register(&mut root);
        register_build_info(&mut root);
        root.register_collector(Box::new(process::ProcessCollector));
        let r = root.sub_registry_with_prefix("leadpool");
        let mut counter = |name, help| register(r, name, help, Counter::default());
        let claims = counter("claims", "Leads claimed from a pool");
        let releases = counter("releases", "Leads released by their owner");
        let recycles = counter("recycles", "Leads recycled at a missed deadline");
        let distributions = counter("distributions", "Leads handed out by the distributor");
        let reroutes = counter(
            "reroutes",
            "Pushed leads passed on after a missed or declined acceptance",
        );
        let conflict_retries = counter(
            "conflict_retries",
            "Calls run again after a conflict with a concurrent change (deadlock, serialization)",
        );
        let sweeps = "Duration of one scheduler sweep, by scheduler";
        let lag = "Age of the oldest event of each page a WatchEvents stream reads";
        let latency = || Histograms::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        let sweep_duration = register(r, "scheduler_sweep_duration_seconds", sweeps, latency());
        let failures = "Scheduler sweeps that failed (retried at the next tick), by scheduler";
        let sweep_failures = register(r, "scheduler_sweep_failures", failures, Family::default());
        let last = "When each scheduler last finished a sweep (Unix seconds)";
        let sweep_last_success = register(
            r,
            "scheduler_last_success_timestamp_seconds",
            last,
            Family::default(),
        );
        let followers = "Open WatchEvents streams";
        let event_followers = register(r, "event_stream_followers", followers, Gauge::default());
        let lag_histogram = Histogram::new(LAG_BUCKETS);
        let event_follower_lag = register(r, "event_stream_lag_seconds", lag, lag_histogram);
        let db_pool = PoolGauges::register(r);
        Self {
            grpc,
            claims,
            releases,
            recycles,
            distributions,
            reroutes,
            conflict_retries,
            sweep_duration,
            sweep_failures,
            sweep_last_success,
            event_followers,
            event_follower_lag,
            db_pool,
            registry: root,
        }
    }

    /// Records how long one sweep of `scheduler` took.
    /// Shows a running scheduler's failure count from its start, at 0, so `increase()` and
    /// `rate()` see the first failure.
    pub fn scheduler_started(&self, scheduler: &'static str) {
        drop(
            self.sweep_failures
                .get_or_create(&SweepLabels { scheduler }),
        );
    }

    pub fn record_sweep(&self, scheduler: &'static str, took: Duration, succeeded: bool) {
        let labels = SweepLabels { scheduler };
        self.sweep_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if succeeded {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.sweep_last_success.get_or_create(&labels).set(now);
        } else {
            self.sweep_failures.get_or_create(&labels).inc();
        }
    }

    /// Counts an open event stream until the returned guard is dropped.
    pub fn follow(&self) -> Following {
        self.event_followers.inc();
        Following(self.event_followers.clone())
    }

    /// Records how far behind a follower was when it read an event this old.
    pub fn record_follower_lag(&self, age: chrono::TimeDelta) {
        let seconds = age.as_seconds_f64().max(0.0);
        self.event_follower_lag.observe(seconds);
    }

    /// Every metric as OpenMetrics text, with the pool's current connections.
    pub fn render(&self, db: &PgPool) -> Result<String, std::fmt::Error> {
        self.db_pool.set(db);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

impl PoolGauges {
    fn register(r: &mut Registry) -> Self {
        Self {
            connections: register(
                r,
                "db_pool_connections",
                "Open database connections of the pool",
                Gauge::default(),
            ),
            idle_connections: register(
                r,
                "db_pool_idle_connections",
                "Idle database connections of the pool",
                Gauge::default(),
            ),
            max_connections: register(
                r,
                "db_pool_max_connections",
                "The most database connections the pool opens",
                Gauge::default(),
            ),
        }
    }

    fn set(&self, db: &PgPool) {
        self.connections.set(i64::from(db.size()));
        self.idle_connections.set(gauge_value(db.num_idle()));
        self.max_connections
            .set(i64::from(db.options().get_max_connections()));
    }
}

/// An open event stream, counted in `leadpool_event_stream_followers` while it lives.
#[derive(Debug)]
pub struct Following(Gauge);

impl Drop for Following {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `leadpool_build_info{version="0.1.0"} 1`: which build a scrape came from.
fn register_build_info(root: &mut Registry) {
    let build: Family<BuildLabels, Gauge> = register(
        root,
        "leadpool_build_info",
        "The running build",
        Family::default(),
    );
    build
        .get_or_create(&BuildLabels {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
}

fn register<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followers_are_counted_while_their_guard_lives() {
        let metrics = Metrics::new();
        let first = metrics.follow();
        let second = metrics.follow();
        assert_eq!(metrics.event_followers.get(), 2);
        drop(first);
        drop(second);
        assert_eq!(metrics.event_followers.get(), 0);
    }

    #[test]
    fn sweeps_are_kept_apart_by_scheduler() {
        let metrics = Metrics::new();
        metrics.record_sweep("recycle", Duration::from_millis(30), true);
        metrics.record_sweep("distribute", Duration::from_millis(3), false);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics.registry).expect("encode");
        let series = "leadpool_scheduler_sweep_duration_seconds";
        assert!(text.contains(&format!("{series}_count{{scheduler=\"recycle\"}} 1\n")));
        assert!(text.contains(&format!("{series}_sum{{scheduler=\"recycle\"}} 0.03\n")));
        assert!(text.contains(&format!("{series}_count{{scheduler=\"distribute\"}} 1\n")));
        let failures = "leadpool_scheduler_sweep_failures_total";
        assert!(text.contains(&format!("{failures}{{scheduler=\"distribute\"}} 1\n")));
        assert!(!text.contains(&format!("{failures}{{scheduler=\"recycle\"}}")));
        assert!(
            text.contains(
                "leadpool_scheduler_last_success_timestamp_seconds{scheduler=\"recycle\"}"
            )
        );
    }
}
