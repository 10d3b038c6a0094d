//! Every setting of the service, from the environment (or flags), with defaults; `--help` lists them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

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
}

impl Config {
    pub fn health_interval(&self) -> Duration {
        Duration::from_secs(self.health_interval_seconds.max(1))
    }
}
