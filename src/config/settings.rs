//! What the parts of the server are configured with, as plain values: `Config` fills them from
//! the environment, tests build them directly. Nothing here imports the parts it configures, so
//! every layer may import its settings from here without a cycle.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

/// How the server runs: the timings of its background work, its metrics listener, and how
/// it identifies callers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often the database is checked for the health service.
    pub health_interval: Duration,
    /// Heartbeats and polling of `WatchEvents` streams.
    pub follow: FollowSettings,
    /// How long the server keeps accepting calls after shutdown begins, already `NOT_SERVING`,
    /// so load balancers and Kubernetes endpoints stop sending traffic before the listener closes.
    pub shutdown_delay: Duration,
    /// The recycle scheduler's interval and batch size.
    pub recycle: RecycleSettings,
    /// Automatic distribution's sweep interval (zero: off) and batch size.
    pub distribute: DistributeSettings,
    /// The reroute sweep's interval (zero: off) and batch size.
    pub reroute: RerouteSettings,
    /// The report aggregator's interval (zero: off; reports still catch up when called) and
    /// batch size.
    pub report: ReportSettings,
    /// Where `/metrics` is served; `None`: nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// The largest request message a service decodes; larger ones are refused with
    /// `RESOURCE_EXHAUSTED`/`MESSAGE_TOO_LARGE`.
    pub max_message_bytes: usize,
    /// Trusted metadata, or verified bearer tokens.
    pub auth: AuthSettings,
    /// Origins (`https://admin.example.com`) whose browser pages may call over gRPC-Web;
    /// empty: gRPC-Web still answers non-browser callers, no page of another origin may call.
    pub grpc_web_origins: Vec<http::HeaderValue>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            health_interval: Duration::from_secs(5),
            follow: FollowSettings::default(),
            shutdown_delay: Duration::ZERO,
            recycle: RecycleSettings::default(),
            distribute: DistributeSettings::default(),
            reroute: RerouteSettings::default(),
            report: ReportSettings::default(),
            metrics_listen: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            auth: AuthSettings::TrustedMetadata,
            grpc_web_origins: Vec::new(),
        }
    }
}

/// 4 MiB, as `shared/api.md` sets it and as most gRPC clients receive by default: a
/// 1,000-row `ImportLeads` of everyday leads fits many times over; rows with many long
/// attributes go through `ImportLeadsStream` in smaller chunks.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// How `WatchEvents` streams wait for news.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowSettings {
    /// A heartbeat goes out after this long without any other item.
    pub heartbeat_interval: Duration,
    /// Streams read again after this long without a wake-up, in case a notification was lost
    /// or the horizon moved without one.
    pub poll_interval: Duration,
}

impl Default for FollowSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// How often the recycle scheduler sweeps, and how many leads one statement takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecycleSettings {
    /// Zero turns the background sweep off (`RunRecycle` still sweeps on demand).
    pub interval: Duration,
    pub batch_size: u32,
}

impl Default for RecycleSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            batch_size: 1_000,
        }
    }
}

impl RecycleSettings {
    /// The batch size as the statements take it: at least 1.
    pub fn batch(self) -> i32 {
        i32::try_from(self.batch_size).unwrap_or(i32::MAX).max(1)
    }
}

/// Automatic distribution's sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistributeSettings {
    /// Time between sweeps; zero turns automatic distribution off.
    pub interval: Duration,
    /// Leads per transaction.
    pub batch: u32,
}

impl Default for DistributeSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            batch: 1_000,
        }
    }
}

/// How often the reroute sweep passes on pushed leads whose accept deadline passed, and how
/// many per transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RerouteSettings {
    /// Time between sweeps; zero turns rerouting off. A lead is passed on at most this late.
    pub interval: Duration,
    /// Leads per transaction.
    pub batch: u32,
}

impl Default for RerouteSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15),
            batch: 1_000,
        }
    }
}

/// How often the report aggregator folds new events into the rollups, and how many events
/// per transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSettings {
    /// Time between rounds; zero turns the background aggregator off.
    pub interval: Duration,
    /// Events per transaction.
    pub batch: u32,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            batch: 5_000,
        }
    }
}

/// How callers are identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSettings {
    /// Identity metadata set by a trusted mesh, taken as sent.
    TrustedMetadata,
    /// Verified `authorization: Bearer` JWTs signed with `key`; `issuer` and `audience`, when
    /// given, must be the tokens' `iss` and (one of) their `aud`.
    Jwt {
        key: KeySource,
        issuer: Option<String>,
        audience: Option<String>,
    },
}

/// Where the key that signs callers' tokens comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A shared secret for HS256, used as its bytes.
    Hs256Secret(String),
    /// An RSA public key (PEM) for RS256.
    Rs256PublicKeyFile(PathBuf),
    /// A JSON Web Key Set; a token's `kid` picks the key, its `alg` must be the key's.
    JwksFile(PathBuf),
}

/// Never prints the secret.
impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hs256Secret(_) => f.write_str("Hs256Secret(..)"),
            Self::Rs256PublicKeyFile(path) => write!(f, "Rs256PublicKeyFile({})", path.display()),
            Self::JwksFile(path) => write!(f, "JwksFile({})", path.display()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Where spans go, when they go anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Otlp {
    /// The collector's OTLP/gRPC endpoint, e.g. `http://otel-collector:4317`.
    pub endpoint: String,
    /// `service.name` of the exported spans.
    pub service_name: String,
}
