//! The service under test: in-process (the library's `App`, as `main` builds it) or as the real
//! `leadpool` binary in a child process, and the identities the bench calls it with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Request;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use leadpool::app::{App, AppError};
use leadpool::config::Settings;
use leadpool::domain::clock::SystemClock;
use leadpool::service::Context;
use leadpool::store::{self, PoolSize};

use crate::Result;

/// The service's connection pool, as `LEADPOOL_DB_MAX_CONNECTIONS` and
/// `LEADPOOL_DB_MIN_CONNECTIONS` default it: all open from the start.
const SERVICE_DB_CONNECTIONS: PoolSize = PoolSize { max: 20, min: 20 };
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The service running inside the bench process on 127.0.0.1:0 with the system clock.
pub struct InProcess {
    pub addr: SocketAddr,
    db: PgPool,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<Result<(), AppError>>,
}

impl InProcess {
    pub async fn start(options: PgConnectOptions) -> Result<Self> {
        let db = store::connect(options, SERVICE_DB_CONNECTIONS).await?;
        store::schema::migrate(&db).await?;
        let ctx = Context::new(db.clone(), Arc::new(SystemClock));
        let app = App::bind("127.0.0.1:0".parse()?, ctx, Settings::default()).await?;
        let addr = app.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(app.serve(async {
            let _ = stopped.await;
        }));
        wait_serving(addr).await?;
        Ok(Self {
            addr,
            db,
            stop,
            serving,
        })
    }

    /// Graceful shutdown, as on SIGTERM.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.serving.await??;
        self.db.close().await;
        Ok(())
    }
}

/// The real `leadpool` binary in its own process, so its memory is its own.
pub struct ChildService {
    pub addr: SocketAddr,
    child: Child,
}

impl ChildService {
    /// Starts `binary` on a free loopback port against `database_uri`, logging to `log`, with
    /// `env` as further settings.
    pub async fn start(
        binary: &Path,
        database_uri: &str,
        log: &Path,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let addr = free_port()?;
        let log_file = std::fs::File::create(log)?;
        let child = Command::new(binary)
            .env("DATABASE_URL", database_uri)
            .env("LEADPOOL_LISTEN", addr.to_string())
            .envs(env.iter().copied())
            // Metrics are served as in production, on a free port: 9090 may be taken here.
            .env("LEADPOOL_METRICS_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let service = Self { addr, child };
        wait_serving(addr).await?;
        Ok(service)
    }

    pub fn pid(&self) -> Result<u32> {
        Ok(self.child.id().ok_or("the service process has exited")?)
    }

    /// SIGTERM (graceful shutdown), then waits for the exit.
    pub async fn stop(mut self) -> Result<()> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid()?)?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await??;
        if !status.success() {
            return Err(format!("the service exited with {status}").into());
        }
        Ok(())
    }
}

/// The `leadpool` binary of this build profile, rebuilt first when the bench runs under cargo
/// (`cargo run --bin leadpool-bench` builds only the bench, so it could be missing or stale).
pub async fn service_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or("the bench binary has no directory")?;
    let binary = dir.join("leadpool");
    if let Some(cargo) = std::env::var_os("CARGO") {
        let mut build = Command::new(cargo);
        build.args(["build", "--bin", "leadpool"]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        eprintln!("building the service binary ({})", binary.display());
        let status = build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .await?;
        if !status.success() {
            return Err("cargo build --bin leadpool failed".into());
        }
    }
    if !binary.exists() {
        return Err(format!("{} not found: cargo build --bin leadpool", binary.display()).into());
    }
    Ok(binary)
}

fn free_port() -> Result<SocketAddr> {
    // Bound and released at once: another process could take it in between, which on a
    // bench machine is unlikely enough; the start then fails clearly.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// Waits until the health service says SERVING (the database answered).
async fn wait_serving(addr: SocketAddr) -> Result<()> {
    let started = Instant::now();
    loop {
        if let Ok(channel) = connect(addr).await {
            let status = HealthClient::new(channel)
                .check(HealthCheckRequest::default())
                .await
                .map(|r| r.into_inner().status);
            if status.is_ok_and(|s| s == ServingStatus::Serving as i32) {
                return Ok(());
            }
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(format!("the service on {addr} did not become SERVING").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One HTTP/2 connection: each bench client gets its own, as separate callers would.
pub async fn connect(addr: SocketAddr) -> Result<Channel> {
    Ok(Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?)
}

/// A caller identity, sent as `x-tenant-id`, `x-actor-id` and `x-actor-roles` metadata.
#[derive(Debug, Clone)]
pub struct Caller {
    tenant: AsciiMetadataValue,
    user: AsciiMetadataValue,
    roles: Option<AsciiMetadataValue>,
}

impl Caller {
    pub fn new(tenant: &str, user: &str, roles: Option<&str>) -> Result<Self> {
        Ok(Self {
            tenant: tenant.parse()?,
            user: user.parse()?,
            roles: roles.map(str::parse).transpose()?,
        })
    }

    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let md = request.metadata_mut();
        md.insert("x-tenant-id", self.tenant.clone());
        md.insert("x-actor-id", self.user.clone());
        if let Some(roles) = &self.roles {
            md.insert("x-actor-roles", roles.clone());
        }
        request
    }
}
