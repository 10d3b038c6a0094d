//! A private PostgreSQL server for leadpool, started from the machine's
//! installed server binaries when no DATABASE_URL is given. The
//! integration-test harness uses it too.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::unistd::{Gid, Uid, User};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use tokio::process::Command;

/// Only the socket file name depends on it: no TCP listener is opened, so a
/// system server on 127.0.0.1:5432 never clashes with ours.
const PORT: u16 = 5432;
const SUPERUSER: &str = "postgres";
const DATABASE: &str = "postgres";
const SERVER_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";
/// /var/tmp rather than /tmp: it survives reboots, and the cluster holds real data.
const FALLBACK_ROOT: &str = "/var/tmp/leadpool";
/// sun_path holds 108 bytes; staying well below leaves room for PostgreSQL's
/// own `.lock` suffix and keeps us clear of platform differences.
const MAX_SOCKET_PATH: usize = 100;
const PG_CTL_TIMEOUT_SECS: &str = "60";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_DELAY: Duration = Duration::from_millis(200);
const TAIL_LINES: usize = 20;
/// Client-side variables that would otherwise leak into initdb/pg_ctl/postgres
/// and redirect them to another server or data directory.
const SCRUBBED_ENV: [&str; 9] = [
    "PGDATA",
    "PGPORT",
    "PGHOST",
    "PGHOSTADDR",
    "PGUSER",
    "PGDATABASE",
    "PGOPTIONS",
    "PGSSLMODE",
    "PGPASSWORD",
];

/// Where the embedded server lives and which binaries run it.
#[derive(Debug, Clone)]
pub struct EmbeddedPgOptions {
    /// Directory holding `pgdata/` (the cluster), `run/` (unix socket dir) and `postgres.log`. Default "./.leadpool" chosen by the caller.
    pub base_dir: PathBuf,
    /// Explicit directory of initdb/pg_ctl/postgres; None = search.
    pub bin_dir: Option<PathBuf>,
}

/// Why the embedded server could not be prepared, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    #[error(
        "No PostgreSQL server binaries found (looked in {looked_in}). Install them with `apt-get install postgresql` (Debian/Ubuntu), or set DATABASE_URL to use an existing server, or LEADPOOL_PG_BIN_DIR to point at initdb/pg_ctl."
    )]
    NoBinaries { looked_in: String },
    #[error(
        "Running as root, but there is no `postgres` system user to run PostgreSQL as (it refuses to run as root). Create one (`useradd --system --user-group --home-dir /var/lib/postgresql postgres`), run as a non-root user, or set DATABASE_URL."
    )]
    NoPostgresUser,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{} is owned by uid {owner}, expected uid {expected}; refusing to use it", path.display())]
    ForeignOwner {
        path: PathBuf,
        owner: u32,
        expected: u32,
    },
    #[error("uid {uid} cannot traverse {} (no execute permission), so it cannot reach {}", blocked.display(), dir.display())]
    Unreachable {
        dir: PathBuf,
        blocked: PathBuf,
        uid: u32,
    },
    #[error("`{command}` failed ({status}):\n{output}")]
    CommandFailed {
        command: String,
        status: String,
        output: String,
    },
    #[error(
        "PostgreSQL did not accept connections on {} within {}s (last error: {last_error}); tail of {}:\n{log_tail}",
        socket_dir.display(), waited.as_secs(), log.display()
    )]
    NotReady {
        socket_dir: PathBuf,
        waited: Duration,
        last_error: String,
        log: PathBuf,
        log_tail: String,
    },
    #[error("The PostgreSQL server running on {} listens on no unix socket (postmaster.pid names none); stop it or set DATABASE_URL", pgdata.display())]
    NoSocket { pgdata: PathBuf },
}

type Result<T, E = EmbeddedPgError> = std::result::Result<T, E>;

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> EmbeddedPgError {
    let what = what.into();
    move |source| EmbeddedPgError::Io { what, source }
}

fn errno_err(what: impl Into<String>) -> impl FnOnce(Errno) -> EmbeddedPgError {
    let what = what.into();
    move |errno| EmbeddedPgError::Io {
        what,
        source: errno.into(),
    }
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
        let args = [
            "-D".into(),
            self.layout.pgdata.clone().into_os_string(),
            "stop".into(),
            "-m".into(),
            "fast".into(),
            "-w".into(),
            "-t".into(),
            PG_CTL_TIMEOUT_SECS.into(),
        ];
        let output = self.tools.run("pg_ctl", &args).await?;
        if output.status.success() || !server_running(&self.tools, &self.layout).await? {
            tracing::info!(base_dir = %self.layout.base.display(), "embedded PostgreSQL stopped");
            return Ok(());
        }
        Err(command_failed("pg_ctl", &args, &output, None))
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

// ---------------------------------------------------------------------------
// Preparation (synchronous: file system, users, locks)

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

#[derive(Debug, Clone)]
struct Layout {
    base: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
}

impl Layout {
    fn new(base: PathBuf) -> Self {
        Self {
            pgdata: base.join("pgdata"),
            socket_dir: socket_dir_for(&base),
            log: base.join("postgres.log"),
            base,
        }
    }
}

fn socket_dir_for(base: &Path) -> PathBuf {
    let run = base.join("run");
    let socket_len = run.as_os_str().len() + format!("/.s.PGSQL.{PORT}").len();
    if socket_len < MAX_SOCKET_PATH {
        return run;
    }
    PathBuf::from(format!("/tmp/leadpool-{}", short_hash(base)))
}

/// Serialises initdb/start/stop between processes sharing a base dir
/// (e.g. two test binaries running at once).
fn lock_base(base: &Path) -> Result<Flock<File>> {
    let path = base.join(".lock");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_err(format!("opening lock file {}", path.display())))?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusive) {
            Ok(lock) => return Ok(lock),
            Err((f, Errno::EINTR)) => file = f,
            Err((_, errno)) => return Err(errno_err(format!("locking {}", path.display()))(errno)),
        }
    }
}

// ---------------------------------------------------------------------------
// Binaries

fn find_bin_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        if has_server_binaries(dir) {
            return Ok(dir.to_path_buf());
        }
        return Err(EmbeddedPgError::NoBinaries {
            looked_in: dir.display().to_string(),
        });
    }
    debian_bin_dir()
        .or_else(path_bin_dir)
        .ok_or_else(|| EmbeddedPgError::NoBinaries {
            looked_in: format!("{DEBIAN_PG_ROOT}/*/bin and on PATH"),
        })
}

fn has_server_binaries(dir: &Path) -> bool {
    SERVER_BINARIES.iter().all(|name| {
        fs::metadata(dir.join(name)).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
    })
}

/// Debian/Ubuntu install each major version side by side; the newest wins
/// because a cluster can be upgraded by a newer server, never downgraded.
fn debian_bin_dir() -> Option<PathBuf> {
    fs::read_dir(DEBIAN_PG_ROOT)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = parse_version(&entry.file_name())?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

fn parse_version(name: &OsStr) -> Option<Vec<u32>> {
    name.to_str()?
        .split('.')
        .map(|part| part.parse().ok())
        .collect()
}

/// On Debian, /usr/bin/pg_ctl is a symlink to a wrapper script with no
/// initdb beside it; resolving it and checking for initdb skips that.
fn path_bin_dir() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let real = fs::canonicalize(dir.join("pg_ctl")).ok()?;
        let bin = real.parent()?.to_path_buf();
        has_server_binaries(&bin).then_some(bin)
    })
}

// ---------------------------------------------------------------------------
// Who runs the server

#[derive(Debug, Clone, Copy)]
struct Identity {
    uid: Uid,
    gid: Gid,
    /// PostgreSQL refuses to run as root, so as root everything runs as
    /// the `postgres` system user instead.
    switch_user: bool,
}

fn server_identity() -> Result<Identity> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(Identity {
            uid: nix::unistd::geteuid(),
            gid: nix::unistd::getegid(),
            switch_user: false,
        });
    }
    let user = User::from_name(SUPERUSER)
        .map_err(errno_err("looking up the postgres system user"))?
        .ok_or(EmbeddedPgError::NoPostgresUser)?;
    Ok(Identity {
        uid: user.uid,
        gid: user.gid,
        switch_user: true,
    })
}

// ---------------------------------------------------------------------------
// Base directory and its reachability

fn choose_base_dir(requested: &Path, id: Identity) -> Result<PathBuf> {
    let abs = std::path::absolute(requested)
        .map_err(io_err(format!("resolving {}", requested.display())))?;
    let Some(blocked) = prepare_requested_base(&abs, id)? else {
        return fs::canonicalize(&abs).map_err(io_err(format!("resolving {}", abs.display())));
    };
    let fallback = fallback_dir(&abs);
    tracing::warn!(
        requested = %abs.display(),
        blocked = %blocked.display(),
        fallback = %fallback.display(),
        "the PostgreSQL server user (uid {}) cannot traverse {} (no execute permission), so the embedded database lives in {} instead of {}",
        id.uid, blocked.display(), fallback.display(), abs.display()
    );
    ensure_fallback_root()?;
    ensure_owned_dir(&fallback, 0o700, id)?;
    match first_blocked(&fallback, id)? {
        None => Ok(fallback),
        Some(blocked) => Err(EmbeddedPgError::Unreachable {
            dir: fallback,
            blocked,
            uid: id.uid.as_raw(),
        }),
    }
}

/// Creates the requested base dir only if the server user can reach it,
/// so an unreachable location is left untouched. Returns the blocking
/// ancestor otherwise.
fn prepare_requested_base(abs: &Path, id: Identity) -> Result<Option<PathBuf>> {
    let existing = abs
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"));
    let real =
        fs::canonicalize(existing).map_err(io_err(format!("resolving {}", existing.display())))?;
    // The base dir itself is chowned to the server user below, so only its
    // ancestors matter before creation.
    let to_check = if existing == abs {
        real.parent().map(Path::to_path_buf)
    } else {
        Some(real)
    };
    if let Some(blocked) = to_check
        .map(|dir| first_blocked(&dir, id))
        .transpose()?
        .flatten()
    {
        return Ok(Some(blocked));
    }
    let existed = abs.exists();
    fs::create_dir_all(abs).map_err(io_err(format!("creating {}", abs.display())))?;
    let real = fs::canonicalize(abs).map_err(io_err(format!("resolving {}", abs.display())))?;
    claim_dir(&real, id, (!existed).then_some(0o700))?;
    // Catches parents just created under a restrictive umask.
    first_blocked(&real, id)
}

/// The first directory, from `/` down to `dir`, that `id` cannot traverse.
fn first_blocked(dir: &Path, id: Identity) -> Result<Option<PathBuf>> {
    let mut chain: Vec<&Path> = dir.ancestors().collect();
    chain.reverse();
    for ancestor in chain {
        let meta =
            fs::metadata(ancestor).map_err(io_err(format!("inspecting {}", ancestor.display())))?;
        if !can_traverse(&meta, id) {
            return Ok(Some(ancestor.to_path_buf()));
        }
    }
    Ok(None)
}

fn can_traverse(meta: &Metadata, id: Identity) -> bool {
    let exec_bit = if meta.uid() == id.uid.as_raw() {
        0o100
    } else if meta.gid() == id.gid.as_raw() {
        0o010
    } else {
        0o001
    };
    meta.mode() & exec_bit != 0
}

/// Stable across restarts (so the same data is found again) and readable
/// enough that a person can tell which checkout it belongs to.
fn fallback_dir(abs: &Path) -> PathBuf {
    let mut tail: Vec<String> = abs
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(sanitize(name)),
            _ => None,
        })
        .take(2)
        .collect();
    tail.reverse();
    let name = format!("{}-{}", tail.join("_"), short_hash(abs));
    Path::new(FALLBACK_ROOT).join(name)
}

fn sanitize(name: &OsStr) -> String {
    name.to_string_lossy()
        .trim_start_matches('.')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect()
}

/// FNV-1a: std's hashers are not guaranteed stable across Rust releases,
/// and a changed name would orphan the existing cluster.
fn short_hash(path: &Path) -> String {
    let hash = path
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("{:012x}", hash >> 16)
}

/// Shared like /tmp (sticky, world-writable) so every user on the machine
/// can keep a fallback here, whoever came first; the sticky bit stops them
/// from removing each other's dirs. One owned by an ordinary user could be
/// rearranged under us, so only root's (or our own) is accepted.
fn ensure_fallback_root() -> Result<()> {
    let root = Path::new(FALLBACK_ROOT);
    let created = create_dir(root, 0o1777)?;
    let (handle, owner) = open_dir_nofollow(root)?;
    if owner != 0 && owner != nix::unistd::geteuid().as_raw() {
        return Err(EmbeddedPgError::ForeignOwner {
            path: root.to_path_buf(),
            owner,
            expected: 0,
        });
    }
    if created {
        set_mode(&handle, root, 0o1777)?;
    }
    Ok(())
}

fn ensure_owned_dir(dir: &Path, mode: u32, id: Identity) -> Result<()> {
    let created = create_dir(dir, mode)?;
    claim_dir(dir, id, created.then_some(mode))
}

/// Makes `dir` belong to the server user, setting `new_mode` if given (the
/// umask would otherwise have its say). A dir owned by anyone else is
/// refused: in /tmp it could be a trap laid by another user. Everything
/// goes through one handle opened without following symlinks, so the dir
/// cannot be swapped for a link to, say, /etc between check and chown.
fn claim_dir(dir: &Path, id: Identity, new_mode: Option<u32>) -> Result<()> {
    let (handle, owner) = open_dir_nofollow(dir)?;
    if owner != id.uid.as_raw() && owner != nix::unistd::geteuid().as_raw() {
        return Err(EmbeddedPgError::ForeignOwner {
            path: dir.to_path_buf(),
            owner,
            expected: id.uid.as_raw(),
        });
    }
    if let Some(mode) = new_mode {
        set_mode(&handle, dir, mode)?;
    }
    if id.switch_user && owner != id.uid.as_raw() {
        let what = format!("giving {} to the postgres user", dir.display());
        nix::unistd::fchown(&handle, Some(id.uid), Some(id.gid)).map_err(errno_err(what))?;
    }
    Ok(())
}

/// The open dir and its owner's uid.
fn open_dir_nofollow(dir: &Path) -> Result<(File, u32)> {
    let handle = OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW).bits())
        .open(dir)
        .map_err(io_err(format!(
            "opening {} (symlinks are refused)",
            dir.display()
        )))?;
    let meta = handle
        .metadata()
        .map_err(io_err(format!("inspecting {}", dir.display())))?;
    Ok((handle, meta.uid()))
}

fn set_mode(handle: &File, dir: &Path, mode: u32) -> Result<()> {
    handle
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err(format!("setting permissions of {}", dir.display())))
}

/// Returns whether the directory was newly created.
fn create_dir(dir: &Path, mode: u32) -> Result<bool> {
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(io_err(format!("creating {}", dir.display()))(e)),
    }
}

// ---------------------------------------------------------------------------
// Running initdb / pg_ctl

#[derive(Debug, Clone)]
struct PgTools {
    bin_dir: PathBuf,
    id: Identity,
    /// The base dir: always accessible to the server user, unlike the
    /// caller's cwd (often under /root).
    cwd: PathBuf,
}

impl PgTools {
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Untranslated messages, whatever locales the machine lacks.
            .env("LC_ALL", "C");
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        if self.id.switch_user {
            // root's HOME is unreadable to the server user.
            cmd.env("HOME", &self.cwd)
                .uid(self.id.uid.as_raw())
                .gid(self.id.gid.as_raw());
        }
        cmd
    }

    async fn run(&self, program: &str, args: &[OsString]) -> Result<Output> {
        self.command(program)
            .args(args)
            .output()
            .await
            .map_err(io_err(format!(
                "running {}",
                self.bin_dir.join(program).display()
            )))
    }

    /// `log` is appended to the error because pg_ctl only says "examine
    /// the log output" and the real reason is in there.
    async fn run_checked(
        &self,
        program: &str,
        args: &[OsString],
        log: Option<&Path>,
    ) -> Result<Output> {
        let output = self.run(program, args).await?;
        if !output.status.success() {
            return Err(command_failed(program, args, &output, log));
        }
        Ok(output)
    }
}

fn command_failed(
    program: &str,
    args: &[OsString],
    output: &Output,
    log: Option<&Path>,
) -> EmbeddedPgError {
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let mut report = tail_lines(&text);
    if let Some(log) = log {
        report.push_str(&format!(
            "\n--- tail of {} ---\n{}",
            log.display(),
            tail_of_file(log)
        ));
    }
    let command = std::iter::once(program.to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    EmbeddedPgError::CommandFailed {
        command,
        status: output.status.to_string(),
        output: report,
    }
}

/// Reads only the end: the log is appended to on every start and may have
/// grown large.
fn tail_of_file(path: &Path) -> String {
    match read_end(path, 64 * 1024) {
        Ok(bytes) => tail_lines(&String::from_utf8_lossy(&bytes)),
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}

fn read_end(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn tail_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// Returns whether this call started the server (and so owns it).
async fn ensure_running(tools: &PgTools, layout: &Layout) -> Result<bool> {
    if !layout.pgdata.join("PG_VERSION").exists() {
        init_cluster(tools, layout).await?;
    } else {
        clear_stale_lock_files(layout)?;
        if server_running(tools, layout).await? {
            tracing::info!(pgdata = %layout.pgdata.display(), "reusing the PostgreSQL server already running on this data dir");
            return Ok(false);
        }
    }
    start_server(tools, layout).await?;
    Ok(true)
}

/// A lock file whose pid now names another process (reused after a reboot
/// or crash) or an unreaped zombie makes pg_ctl report a running server and
/// postgres refuse to start, so it is moved aside. Shared memory left by a
/// crashed server is still detected by postgres through the data dir's
/// inode, not through these files.
fn clear_stale_lock_files(layout: &Layout) -> Result<()> {
    let socket_lock = layout.socket_dir.join(format!(".s.PGSQL.{PORT}.lock"));
    for lock_file in [layout.pgdata.join("postmaster.pid"), socket_lock] {
        let stale = read_pid(&lock_file).is_some_and(|pid| is_impostor(pid, &layout.pgdata));
        if stale {
            move_aside(&lock_file)?;
        }
    }
    Ok(())
}

fn move_aside(lock_file: &Path) -> Result<()> {
    let mut aside = lock_file.as_os_str().to_owned();
    aside.push(".stale");
    tracing::warn!(
        lock_file = %lock_file.display(),
        "lock file names a process that is not a PostgreSQL server on this data dir (left by a crash); moving it to {}",
        Path::new(&aside).display()
    );
    fs::rename(lock_file, &aside).map_err(io_err(format!("moving aside {}", lock_file.display())))
}

fn read_pid(pid_file: &Path) -> Option<u32> {
    fs::read_to_string(pid_file)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Dead processes are left to postgres, which handles them itself; without
/// /proc nothing can be told and nothing is touched.
fn is_impostor(pid: u32, pgdata: &Path) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    // A postmaster's working directory is its data dir.
    match (
        fs::read_link(proc_dir.join("cwd")),
        fs::canonicalize(pgdata),
    ) {
        _ if zombie => true,
        (Ok(cwd), Ok(data)) => cwd != data,
        // The server runs as the same user as us (or we are root), so a
        // process we may not inspect belongs to someone else.
        (Err(e), _) => e.kind() == io::ErrorKind::PermissionDenied,
        _ => false,
    }
}

async fn server_running(tools: &PgTools, layout: &Layout) -> Result<bool> {
    let args = [
        "-D".into(),
        layout.pgdata.clone().into_os_string(),
        "status".into(),
    ];
    let output = tools.run("pg_ctl", &args).await?;
    // pg_ctl status: 0 = running, 3 = not running, 4 = no usable data dir.
    match output.status.code() {
        Some(0) => Ok(true),
        Some(3) | Some(4) => Ok(false),
        _ => Err(command_failed("pg_ctl", &args, &output, None)),
    }
}

/// initdb writes PG_VERSION before it finishes, so it runs in a scratch dir
/// that is renamed into place only on success; a crash mid-way can then
/// never leave a half-made cluster that looks complete.
async fn init_cluster(tools: &PgTools, layout: &Layout) -> Result<()> {
    let scratch = layout.base.join("pgdata.initdb");
    match tokio::fs::remove_dir_all(&scratch).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io_err(format!("removing leftover {}", scratch.display()))(
                e,
            ));
        }
        _ => {}
    }
    tracing::info!(pgdata = %layout.pgdata.display(), "creating a new PostgreSQL cluster");
    let args: Vec<OsString> = vec![
        "-D".into(),
        scratch.clone().into_os_string(),
        "-U".into(),
        SUPERUSER.into(),
        "--auth=trust".into(),
        "--encoding=UTF8".into(),
        "--no-locale".into(),
    ];
    tools.run_checked("initdb", &args, None).await?;
    tokio::fs::rename(&scratch, &layout.pgdata)
        .await
        .map_err(io_err(format!(
            "moving the new cluster to {}",
            layout.pgdata.display()
        )))
}

async fn start_server(tools: &PgTools, layout: &Layout) -> Result<()> {
    let args: Vec<OsString> = vec![
        "-D".into(),
        layout.pgdata.clone().into_os_string(),
        "-l".into(),
        layout.log.clone().into_os_string(),
        "-w".into(),
        "-t".into(),
        PG_CTL_TIMEOUT_SECS.into(),
        "-o".into(),
        server_options(&layout.socket_dir),
        "start".into(),
    ];
    tracing::info!(pgdata = %layout.pgdata.display(), log = %layout.log.display(), "starting PostgreSQL");
    tools
        .run_checked("pg_ctl", &args, Some(&layout.log))
        .await?;
    Ok(())
}

/// pg_ctl hands `-o` to /bin/sh, hence the quoting. fsync stays on: this is
/// the service's real data.
fn server_options(socket_dir: &Path) -> OsString {
    let mut opts =
        format!("-c listen_addresses='' -p {PORT} -c max_connections=200 -k ").into_bytes();
    opts.extend_from_slice(&shell_quote(socket_dir.as_os_str().as_bytes()));
    OsString::from_vec(opts)
}

fn shell_quote(raw: &[u8]) -> Vec<u8> {
    let mut quoted = vec![b'\''];
    for &b in raw {
        match b {
            b'\'' => quoted.extend_from_slice(b"'\\''"),
            _ => quoted.push(b),
        }
    }
    quoted.push(b'\'');
    quoted
}

/// Socket dir and port of the running server, from its postmaster.pid
/// (line 4: port, line 5: first unix socket directory).
async fn read_endpoint(pgdata: &Path) -> Result<(PathBuf, u16)> {
    let pid_file = pgdata.join("postmaster.pid");
    let text = tokio::fs::read_to_string(&pid_file)
        .await
        .map_err(io_err(format!("reading {}", pid_file.display())))?;
    let lines: Vec<&str> = text.lines().collect();
    let port = lines
        .get(3)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(PORT);
    match lines.get(4).map(|l| l.trim()).filter(|l| !l.is_empty()) {
        Some(dir) => Ok((PathBuf::from(dir), port)),
        None => Err(EmbeddedPgError::NoSocket {
            pgdata: pgdata.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_name_is_stable_and_readable() {
        let a = fallback_dir(Path::new("/root/work/my checkout/.leadpool"));
        let b = fallback_dir(Path::new("/root/work/my checkout/.leadpool"));
        assert_eq!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("my_checkout_leadpool-"), "{name}");
        assert_eq!(a.parent().unwrap(), Path::new(FALLBACK_ROOT));
        assert_ne!(a, fallback_dir(Path::new("/home/x/my checkout/.leadpool")));
    }

    #[test]
    fn long_base_dirs_get_a_short_socket_dir() {
        let short = Path::new("/tmp/x");
        assert_eq!(socket_dir_for(short), short.join("run"));
        let long = PathBuf::from(format!("/tmp/{}", "a".repeat(120)));
        let dir = socket_dir_for(&long);
        assert!(
            dir.to_str().unwrap().starts_with("/tmp/leadpool-"),
            "{}",
            dir.display()
        );
        assert!(dir.as_os_str().len() + 14 < MAX_SOCKET_PATH);
    }

    #[test]
    fn versions_sort_numerically() {
        let v = |s: &str| parse_version(OsStr::new(s)).unwrap();
        assert!(v("15") > v("9.6"));
        assert!(v("17") > v("15"));
        assert!(parse_version(OsStr::new("common")).is_none());
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote(b"/a b/it's"), b"'/a b/it'\\''s'".to_vec());
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("embedded-pg-unit-{tag}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn stranger() -> Identity {
        Identity {
            uid: Uid::from_raw(54321),
            gid: Gid::from_raw(54321),
            switch_user: false,
        }
    }

    #[test]
    fn symlinked_dirs_are_refused() {
        let dir = scratch("symlink");
        let link = dir.join("link");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        let me = Identity {
            uid: nix::unistd::geteuid(),
            gid: nix::unistd::getegid(),
            switch_user: false,
        };
        let result = claim_dir(&link, me, None);
        assert!(
            matches!(result, Err(EmbeddedPgError::Io { .. })),
            "{result:?}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn finds_the_directory_that_blocks_traversal() {
        let dir = scratch("blocked");
        let private = dir.join("private");
        fs::create_dir_all(private.join("inner")).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
        let blocked = first_blocked(&private.join("inner"), stranger()).unwrap();
        assert_eq!(blocked.as_deref(), Some(private.as_path()));
        fs::set_permissions(&private, fs::Permissions::from_mode(0o711)).unwrap();
        assert_eq!(
            first_blocked(&private.join("inner"), stranger()).unwrap(),
            None
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tail_keeps_last_lines() {
        let text: String = (0..50).map(|i| format!("{i}\n")).collect();
        let tail = tail_lines(&text);
        assert!(tail.starts_with("30\n") && tail.ends_with("49"));
    }
}
