//! What can go wrong preparing, starting or stopping the embedded server.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use nix::errno::Errno;

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

pub(super) type Result<T, E = EmbeddedPgError> = std::result::Result<T, E>;

pub(super) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> EmbeddedPgError {
    let what = what.into();
    move |source| EmbeddedPgError::Io { what, source }
}

pub(super) fn errno_err(what: impl Into<String>) -> impl FnOnce(Errno) -> EmbeddedPgError {
    let what = what.into();
    move |errno| EmbeddedPgError::Io {
        what,
        source: errno.into(),
    }
}
