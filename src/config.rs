//! Every setting of the service, from the environment (or flags), with defaults; `--help` lists them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::api::FollowSettings;
use crate::app::Settings;
use crate::scheduler::distribute::DistributeSettings;
use crate::scheduler::recycle::RecycleSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// leadpool: the CRM public pool / private pool (公海/私海) lead service over gRPC.
#[derive(Debug, Clone, Parser)]
#[command(name = "leadpool", version, about)]
pub struct Config {
    /// Address the gRPC server listens on.
    #[arg(long, env = "LEADPOOL_LISTEN", default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,

    /// PostgreSQL to use. Unset: start a private PostgreSQL from the installed server binaries.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Directory of the private PostgreSQL (cluster in `pgdata/`), used when DATABASE_URL is unset.
    #[arg(long, env = "LEADPOOL_DATA_DIR", default_value = ".leadpool")]
    pub data_dir: PathBuf,

    /// Directory holding initdb/pg_ctl/postgres; unset: /usr/lib/postgresql/<newest>/bin, then PATH.
    #[arg(long, env = "LEADPOOL_PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,

    /// Maximum database connections of this process.
    #[arg(long, env = "LEADPOOL_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,

    /// Log format.
    #[arg(
        long,
        env = "LEADPOOL_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub log_format: LogFormat,

    /// Log filter in tracing's EnvFilter syntax (e.g. `info,leadpool=debug`).
    #[arg(long, env = "LEADPOOL_LOG", default_value = "info,sqlx=warn")]
    pub log_filter: String,

    /// Seconds between database health checks that drive the gRPC health status.
    #[arg(long, env = "LEADPOOL_HEALTH_INTERVAL_SECONDS", default_value_t = 5)]
    pub health_interval_seconds: u64,

    /// Milliseconds without events after which a WatchEvents stream sends a heartbeat.
    #[arg(long, env = "LEADPOOL_HEARTBEAT_INTERVAL_MS", default_value_t = 10_000)]
    pub heartbeat_interval_ms: u64,

    /// Milliseconds after which an idle WatchEvents stream reads again without a notification.
    #[arg(long, env = "LEADPOOL_EVENT_POLL_INTERVAL_MS", default_value_t = 1_000)]
    pub event_poll_interval_ms: u64,

    /// Seconds the server keeps accepting calls after SIGTERM while health already says
    /// NOT_SERVING, so load balancers (Kubernetes endpoints) stop routing to it first.
    #[arg(long, env = "LEADPOOL_SHUTDOWN_DELAY_SECONDS", default_value_t = 0)]
    pub shutdown_delay_seconds: u64,

    /// Seconds between recycle sweeps (warnings and recycles of overdue leads); 0 turns the
    /// scheduler off.
    #[arg(long, env = "LEADPOOL_RECYCLE_INTERVAL_SECONDS", default_value_t = 60)]
    pub recycle_interval_seconds: u64,

    /// Leads one recycle statement takes; a sweep runs as many batches as it needs.
    #[arg(long, env = "LEADPOOL_RECYCLE_BATCH_SIZE", default_value_t = 1_000)]
    pub recycle_batch_size: u32,

    /// Seconds between automatic distribution sweeps (pools with `auto_distribute`); 0 turns them off.
    #[arg(
        long,
        env = "LEADPOOL_DISTRIBUTE_INTERVAL_SECONDS",
        default_value_t = 30
    )]
    pub distribute_interval_seconds: u64,

    /// Leads an automatic distribution assigns per transaction.
    #[arg(long, env = "LEADPOOL_DISTRIBUTE_BATCH", default_value_t = 1_000)]
    pub distribute_batch: u32,
}

impl Config {
    /// The server's timings; zero values are raised to a sane minimum, except the scheduler
    /// intervals, where zero means off.
    pub fn settings(&self) -> Settings {
        Settings {
            health_interval: Duration::from_secs(self.health_interval_seconds.max(1)),
            follow: FollowSettings {
                heartbeat_interval: Duration::from_millis(self.heartbeat_interval_ms.max(100)),
                poll_interval: Duration::from_millis(self.event_poll_interval_ms.max(10)),
            },
            shutdown_delay: Duration::from_secs(self.shutdown_delay_seconds),
            recycle: RecycleSettings {
                interval: Duration::from_secs(self.recycle_interval_seconds),
                batch_size: self.recycle_batch_size.max(1),
            },
            distribute: DistributeSettings {
                interval: Duration::from_secs(self.distribute_interval_seconds),
                batch: self.distribute_batch.max(1),
            },
        }
    }
}
