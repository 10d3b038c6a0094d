//! Lock files left behind by a crash, whose pid now names some other
//! process.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::PORT;
use super::error::{Result, io_err};
use super::layout::Layout;

/// A lock file whose pid now names another process (reused after a reboot
/// or crash) or an unreaped zombie makes pg_ctl report a running server and
/// postgres refuse to start, so it is moved aside. Shared memory left by a
/// crashed server is still detected by postgres through the data dir's
/// inode, not through these files.
pub(super) fn clear_stale_lock_files(layout: &Layout) -> Result<()> {
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
