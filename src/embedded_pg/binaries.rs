//! Finding the installed PostgreSQL server binaries.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::{EmbeddedPgError, Result};

const SERVER_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";

pub(super) fn find_bin_dir(explicit: Option<&Path>) -> Result<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically() {
        let v = |s: &str| parse_version(OsStr::new(s)).unwrap();
        assert!(v("15") > v("9.6"));
        assert!(v("17") > v("15"));
        assert!(parse_version(OsStr::new("common")).is_none());
    }
}
