//! Where the cluster, the socket and the log live inside the base dir, and
//! the lock that serialises processes sharing it.

use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::PORT;
use super::error::{Result, errno_err, io_err};

/// sun_path holds 108 bytes; staying well below leaves room for PostgreSQL's
/// own `.lock` suffix and keeps us clear of platform differences.
const MAX_SOCKET_PATH: usize = 100;

#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub(super) base: PathBuf,
    pub(super) pgdata: PathBuf,
    pub(super) socket_dir: PathBuf,
    pub(super) log: PathBuf,
}

impl Layout {
    pub(super) fn new(base: PathBuf) -> Self {
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

/// FNV-1a: std's hashers are not guaranteed stable across Rust releases,
/// and a changed name would orphan the existing cluster.
pub(super) fn short_hash(path: &Path) -> String {
    let hash = path
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("{:012x}", hash >> 16)
}

/// Serialises initdb/start/stop between processes sharing a base dir
/// (e.g. two test binaries running at once).
pub(super) fn lock_base(base: &Path) -> Result<Flock<File>> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
