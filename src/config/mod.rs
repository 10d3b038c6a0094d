//! Every setting of the service, from the environment (or flags), with defaults; `--help` lists them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod settings;

pub use settings::{
    AuthSettings, DEFAULT_MAX_MESSAGE_BYTES, DistributeSettings, FollowSettings, KeySource,
    LogFormat, Otlp, RecycleSettings, ReportSettings, RerouteSettings, Settings,
};

/// What `leadpool <command>` does instead of serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Apply the pending migrations and exit: a Kubernetes init container or Job runs this
    /// before the new version serves (see docs/operations.md).
    Migrate {
        /// Change nothing: exit 0 when the database's schema is this binary's, 1 when migrations
        /// are pending, failed, or the database has some this binary does not know.
        #[arg(long)]
        check: bool,
    },
}

/// leadpool: the CRM public pool / private pool (公海/私海) lead service over gRPC.
#[derive(Debug, Clone, Parser)]
#[command(name = "leadpool", version, about)]
pub struct Config {
    /// What to do instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Apply pending migrations at start, before serving. `false` where a rollout runs
    /// `leadpool migrate` as a step of its own: the server then only checks the schema and
    /// refuses to start while migrations are pending.
    #[arg(
        long,
        env = "LEADPOOL_MIGRATE_ON_START",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub migrate_on_start: bool,

    /// Address the gRPC server listens on.
    /// Loopback unless configured: a development run is not reachable from the network; the
    /// image and the Kubernetes base set `0.0.0.0:50051`.
    #[arg(long, env = "LEADPOOL_LISTEN", default_value = "127.0.0.1:50051")]
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

    /// Database connections kept open while idle; unset: the maximum, a pool of fixed size.
    #[arg(long, env = "LEADPOOL_DB_MIN_CONNECTIONS")]
    pub db_min_connections: Option<u32>,

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

    /// Seconds between reroute sweeps (pushed leads whose accept deadline passed go to the next
    /// member); 0 turns them off.
    #[arg(long, env = "LEADPOOL_REROUTE_INTERVAL_SECONDS", default_value_t = 15)]
    pub reroute_interval_seconds: u64,

    /// Leads a reroute sweep passes on per transaction.
    #[arg(long, env = "LEADPOOL_REROUTE_BATCH", default_value_t = 1_000)]
    pub reroute_batch: u32,

    /// Seconds between the report aggregator's rounds (new events folded into the report
    /// rollups; a report catches up on its own when called); 0 turns it off.
    #[arg(long, env = "LEADPOOL_REPORT_INTERVAL_SECONDS", default_value_t = 10)]
    pub report_interval_seconds: u64,

    /// Events the report aggregator folds per transaction.
    #[arg(long, env = "LEADPOOL_REPORT_BATCH", default_value_t = 5_000)]
    pub report_batch: u32,

    /// The largest request message (bytes) a service decodes; larger ones are refused with
    /// RESOURCE_EXHAUSTED/MESSAGE_TOO_LARGE naming the limit.
    #[arg(long, env = "LEADPOOL_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,

    /// Address of the HTTP listener serving Prometheus metrics at /metrics; empty: none.
    /// Loopback unless configured, like the gRPC listener.
    #[arg(
        long,
        env = "LEADPOOL_METRICS_LISTEN",
        default_value = "127.0.0.1:9090"
    )]
    pub metrics_listen: OptionalAddr,

    /// Origins whose browser pages may call over gRPC-Web (CORS allow-list), comma-separated,
    /// each `scheme://host[:port]` exactly as browsers send it; empty: none.
    #[arg(
        long,
        env = "LEADPOOL_GRPC_WEB_ORIGINS",
        value_delimiter = ',',
        value_parser = parse_origin
    )]
    pub grpc_web_origins: Vec<http::HeaderValue>,

    /// OTLP/gRPC collector to export traces to (e.g. http://otel-collector:4317); unset: none.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// OTLP transport; only gRPC is built in.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL", value_parser = ["grpc"])]
    pub otlp_protocol: Option<String>,

    /// service.name of exported spans.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = "leadpool")]
    pub otel_service_name: String,

    /// Shared secret (at least 32 bytes) verifying HS256 bearer tokens; turns JWT mode on.
    #[arg(long, env = "LEADPOOL_JWT_HS256_SECRET", hide_env_values = true,
          conflicts_with_all = ["jwt_rs256_public_key_file", "jwt_jwks_file"])]
    pub jwt_hs256_secret: Option<String>,

    /// RSA public key (PEM) verifying RS256 bearer tokens; turns JWT mode on.
    #[arg(
        long,
        env = "LEADPOOL_JWT_RS256_PUBLIC_KEY_FILE",
        conflicts_with = "jwt_jwks_file"
    )]
    pub jwt_rs256_public_key_file: Option<PathBuf>,

    /// JSON Web Key Set file verifying bearer tokens by their kid; turns JWT mode on.
    #[arg(long, env = "LEADPOOL_JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,

    /// The iss every bearer token must carry; unset: not checked.
    #[arg(long, env = "LEADPOOL_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// The aud every bearer token must carry; unset: not checked.
    #[arg(long, env = "LEADPOOL_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

/// An origin as browsers send it in `Origin`: `http` or `https`, a host, perhaps a port, no path
/// (a trailing `/` or a `*` would never match, so it is refused at start rather than ignored).
fn parse_origin(value: &str) -> Result<http::HeaderValue, String> {
    let value = value.trim();
    let explain = || format!("`{value}` is not an origin like https://admin.example.com[:port]");
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(explain)?;
    let host_port = rest
        .parse::<http::uri::Authority>()
        .map_err(|_| explain())?;
    if host_port.as_str() != rest || rest.contains(['@', '*']) {
        return Err(explain());
    }
    http::HeaderValue::from_str(value).map_err(|_| explain())
}

/// A listen address where an empty value turns the listener off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<SocketAddr>);

impl FromStr for OptionalAddr {
    type Err = std::net::AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" => Ok(Self(None)),
            addr => addr.parse().map(|addr| Self(Some(addr))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "LEADPOOL_JWT_ISSUER and LEADPOOL_JWT_AUDIENCE need a key to check tokens with: set \
         LEADPOOL_JWT_HS256_SECRET, LEADPOOL_JWT_RS256_PUBLIC_KEY_FILE or LEADPOOL_JWT_JWKS_FILE"
    )]
    ClaimsWithoutKey,
    #[error("LEADPOOL_DB_MIN_CONNECTIONS ({min}) is more than LEADPOOL_DB_MAX_CONNECTIONS ({max})")]
    MinConnectionsOverMax { min: u32, max: u32 },
}

impl Config {
    /// The connections the service keeps open while idle. All of them unless set, as a
    /// fixed-size pool: a burst's first calls would otherwise wait for connections to open
    /// (bench `rush`, 64 callers at once: p99 97–103 ms opening them on demand, 77–92 ms with
    /// all 20 open from the start; the slowest calls were each caller's first or second).
    pub fn db_min_connections(&self) -> Result<u32, ConfigError> {
        let max = self.db_max_connections;
        match self.db_min_connections {
            Some(min) if min > max => Err(ConfigError::MinConnectionsOverMax { min, max }),
            min => Ok(min.unwrap_or(max)),
        }
    }

    /// How the server runs; zero timings are raised to a sane minimum.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        Ok(Settings {
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
            reroute: RerouteSettings {
                interval: Duration::from_secs(self.reroute_interval_seconds),
                batch: self.reroute_batch.max(1),
            },
            report: ReportSettings {
                interval: Duration::from_secs(self.report_interval_seconds),
                batch: self.report_batch.clamp(1, 100_000),
            },
            metrics_listen: self.metrics_listen.0,
            max_message_bytes: self.max_message_bytes.max(64 * 1024),
            auth: self.auth()?,
            grpc_web_origins: self.grpc_web_origins.clone(),
        })
    }

    /// JWT mode when a key is configured, trusted metadata otherwise.
    fn auth(&self) -> Result<AuthSettings, ConfigError> {
        let set = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        let path = |value: &Option<PathBuf>| value.clone().filter(|p| !p.as_os_str().is_empty());
        let key = set(&self.jwt_hs256_secret)
            .map(KeySource::Hs256Secret)
            .or_else(|| path(&self.jwt_rs256_public_key_file).map(KeySource::Rs256PublicKeyFile))
            .or_else(|| path(&self.jwt_jwks_file).map(KeySource::JwksFile));
        let (issuer, audience) = (set(&self.jwt_issuer), set(&self.jwt_audience));
        match key {
            Some(key) => Ok(AuthSettings::Jwt {
                key,
                issuer,
                audience,
            }),
            None if issuer.is_some() || audience.is_some() => Err(ConfigError::ClaimsWithoutKey),
            None => Ok(AuthSettings::TrustedMetadata),
        }
    }

    /// Where traces go: `OTEL_EXPORTER_OTLP_ENDPOINT`, unless unset or empty.
    pub fn otlp(&self) -> Option<Otlp> {
        let endpoint = self.otlp_endpoint.as_deref().map(str::trim);
        endpoint.filter(|e| !e.is_empty()).map(|endpoint| Otlp {
            endpoint: endpoint.to_owned(),
            service_name: self.otel_service_name.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("leadpool").chain(args.iter().copied()))
    }

    #[test]
    fn both_listeners_are_on_loopback_unless_configured_and_metrics_can_be_off() {
        let config = parse(&[]).expect("defaults");
        assert_eq!(config.listen, "127.0.0.1:50051".parse().unwrap());
        let default = config.settings().expect("settings");
        assert_eq!(
            default.metrics_listen,
            Some("127.0.0.1:9090".parse().unwrap())
        );
        let off = parse(&["--metrics-listen", ""]).expect("empty address");
        assert_eq!(off.settings().expect("settings").metrics_listen, None);
    }

    #[test]
    fn one_jwt_key_at_most_and_none_of_its_checks_without_it() {
        let two_keys = parse(&["--jwt-hs256-secret", "x", "--jwt-jwks-file", "keys.json"]);
        assert!(two_keys.is_err());
        let issuer_only = parse(&["--jwt-issuer", "https://id.example"]).expect("parses");
        assert!(matches!(
            issuer_only.settings(),
            Err(ConfigError::ClaimsWithoutKey)
        ));
        let trusted = parse(&["--jwt-hs256-secret", ""]).expect("empty secret");
        let mode = trusted.settings().expect("settings").auth;
        assert_eq!(mode, AuthSettings::TrustedMetadata);
    }

    #[test]
    fn grpc_web_origins_are_exact_origins_and_none_by_default() {
        assert!(parse(&[]).expect("defaults").grpc_web_origins.is_empty());
        let two = parse(&[
            "--grpc-web-origins",
            "https://admin.example.com,http://localhost:5173",
        ])
        .expect("two origins");
        let origins: Vec<_> = two
            .grpc_web_origins
            .iter()
            .map(|o| o.to_str().unwrap())
            .collect();
        assert_eq!(
            origins,
            ["https://admin.example.com", "http://localhost:5173"]
        );
        for wrong in [
            "admin.example.com",
            "https://admin.example.com/",
            "*",
            "https://*.example.com",
        ] {
            assert!(parse(&["--grpc-web-origins", wrong]).is_err(), "{wrong}");
        }
    }

    #[test]
    fn every_connection_stays_open_unless_fewer_are_asked_for_and_never_more_than_the_maximum() {
        let fixed = parse(&["--db-max-connections", "12"]).expect("max only");
        assert_eq!(fixed.db_min_connections().expect("min"), 12);
        let fewer = parse(&["--db-max-connections", "12", "--db-min-connections", "2"]);
        assert_eq!(fewer.expect("both").db_min_connections().expect("min"), 2);
        let over = parse(&["--db-max-connections", "12", "--db-min-connections", "13"]);
        assert!(matches!(
            over.expect("parses").db_min_connections(),
            Err(ConfigError::MinConnectionsOverMax { min: 13, max: 12 })
        ));
    }

    #[test]
    fn traces_are_exported_only_to_a_set_endpoint_over_grpc() {
        assert_eq!(parse(&[]).expect("defaults").otlp(), None);
        let otlp = parse(&["--otlp-endpoint", "http://collector:4317"]).expect("endpoint");
        assert_eq!(otlp.otlp().expect("on").service_name, "leadpool");
        assert!(parse(&["--otlp-protocol", "http/protobuf"]).is_err());
    }
}
