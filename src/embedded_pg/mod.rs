//! A private PostgreSQL server for leadpool, started from the machine's
//! installed server binaries when no DATABASE_URL is given. The
//! integration-test harness uses it too.

mod base_dir;
mod binaries;
mod error;
mod identity;
mod layout;
mod owned_dir;
mod server;
mod stale_locks;
mod tools;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::Flock;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};

pub use error::EmbeddedPgError;

use base_dir::choose_base_dir;
use binaries::find_bin_dir;
use error::{Result, io_err};
use identity::server_identity;
use layout::{Layout, lock_base};
use owned_dir::ensure_owned_dir;
use server::{ensure_running, read_endpoint, stop_server};
use tools::{PgTools, tail_of_file};

/// Only the socket file name depends on it: no TCP listener is opened, so a
/// system server on 127.0.0.1:5432 never clashes with ours.
const PORT: u16 = 5432;
const SUPERUSER: &str = "postgres";
const DATABASE: &str = "postgres";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_DELAY: Duration = Duration::from_millis(200);

/// Where the embedded server lives and which binaries run it.
#[derive(Debug, Clone)]
pub struct EmbeddedPgOptions {
    /// Directory holding `pgdata/` (the cluster), `run/` (unix socket dir) and `postgres.log`. Default "./.leadpool" chosen by the caller.
    pub base_dir: PathBuf,
    /// Explicit directory of initdb/pg_ctl/postgres; None = search.
    pub bin_dir: Option<PathBuf>,
}

/// A running PostgreSQL server on a private data directory.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    tools: PgTools,
    layout: Layout,
    /// Taken from postmaster.pid, so a reused server started with other
    /// settings is still reached where it actually listens.
    socket_dir: PathBuf,
    port: u16,
    /// Only a server this instance started may be stopped by it: a reused
    /// one belongs to whoever started it.
    owned: bool,
}

impl EmbeddedPostgres {
    /// Find binaries, make the data dir reachable, initdb if empty, start the server unless one is already running on that data dir (then reuse it and do NOT stop it later), wait until it accepts connections.
    pub async fn start(opts: EmbeddedPgOptions) -> Result<Self> {
        let Prepared {
            tools,
            layout,
            lock,
        } = blocking(move || prepare(opts)).await?;
        let owned = ensure_running(&tools, &layout).await?;
        let (socket_dir, port) = read_endpoint(&layout.pgdata).await?;
        let server = Self {
            tools,
            layout,
            socket_dir,
            port,
            owned,
        };
        server.wait_ready().await?;
        // Held until now so a concurrent start() sees a server that accepts
        // connections, not one half-way through initdb or startup.
        drop(lock);
        tracing::info!(
            base_dir = %server.layout.base.display(),
            socket_dir = %server.socket_dir.display(),
            started_here = owned,
            "embedded PostgreSQL ready"
        );
        Ok(server)
    }

    /// Options to connect to database "postgres" as superuser "postgres" over the unix socket.
    pub fn connect_options(&self) -> PgConnectOptions {
        // Without pgpass: trust auth needs no password, and a stray
        // ~/.pgpass must not influence the private server.
        PgConnectOptions::new_without_pgpass()
            .socket(&self.socket_dir)
            .port(self.port)
            .username(SUPERUSER)
            .database(DATABASE)
            .ssl_mode(PgSslMode::Disable)
    }

    /// The effective base dir actually used: the requested one, canonicalized, or a fallback under
    /// /var/tmp/leadpool when the server user cannot traverse the requested one's ancestors.
    pub fn base_dir(&self) -> &Path {
        &self.layout.base
    }

    /// Stop the server with `pg_ctl stop -m fast -w` if this instance started it; no-op otherwise.
    pub async fn stop(self) -> Result<()> {
        if !self.owned {
            return Ok(());
        }
        let base = self.layout.base.clone();
        // Keeps a concurrent start() from deciding to reuse a server that
        // is about to go away.
        let _lock = blocking(move || lock_base(&base)).await?;
        stop_server(&self.tools, &self.layout).await
    }

    async fn wait_ready(&self) -> Result<()> {
        let options = self.connect_options();
        let started = Instant::now();
        loop {
            let last_error = match try_connect(&options).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if started.elapsed() >= READY_TIMEOUT {
                return Err(EmbeddedPgError::NotReady {
                    socket_dir: self.socket_dir.clone(),
                    waited: started.elapsed(),
                    last_error,
                    log_tail: tail_of_file(&self.layout.log),
                    log: self.layout.log.clone(),
                });
            }
            tokio::time::sleep(RETRY_DELAY).await;
        }
    }
}

async fn try_connect(options: &PgConnectOptions) -> Result<(), String> {
    let attempt =
        tokio::time::timeout(CONNECT_ATTEMPT_TIMEOUT, PgConnection::connect_with(options));
    match attempt.await {
        // A failed close changes nothing: the server answered, which is all we wanted.
        Ok(Ok(conn)) => conn.close().await.or(Ok(())),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connection attempt timed out".into()),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io_err("embedded PostgreSQL setup task")(io::Error::other(e)))?
}

/// The synchronous part of start() (file system, users, locks), run on a
/// blocking thread.
#[derive(Debug)]
struct Prepared {
    tools: PgTools,
    layout: Layout,
    lock: Flock<File>,
}

fn prepare(opts: EmbeddedPgOptions) -> Result<Prepared> {
    let bin_dir = find_bin_dir(opts.bin_dir.as_deref())?;
    let id = server_identity()?;
    let base = choose_base_dir(&opts.base_dir, id)?;
    let lock = lock_base(&base)?;
    let layout = Layout::new(base);
    ensure_owned_dir(&layout.socket_dir, 0o700, id)?;
    let tools = PgTools {
        bin_dir,
        id,
        cwd: layout.base.clone(),
    };
    Ok(Prepared {
        tools,
        layout,
        lock,
    })
}

#[cfg(test)]
fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("embedded-pg-unit-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
