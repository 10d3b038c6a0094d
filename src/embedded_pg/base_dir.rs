//! Choosing the base dir: the requested one if the server user can reach
//! it, else a stable fallback under /var/tmp/leadpool.

use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::error::{EmbeddedPgError, Result, io_err};
use super::identity::Identity;
use super::layout::short_hash;
use super::owned_dir::{claim_dir, create_dir, ensure_owned_dir, open_dir_nofollow, set_mode};

/// /var/tmp rather than /tmp: it survives reboots, and the cluster holds real data.
const FALLBACK_ROOT: &str = "/var/tmp/leadpool";

pub(super) fn choose_base_dir(requested: &Path, id: Identity) -> Result<PathBuf> {
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use nix::unistd::{Gid, Uid};

    use super::*;
    use crate::embedded_pg::scratch_dir;

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

    fn stranger() -> Identity {
        Identity {
            uid: Uid::from_raw(54321),
            gid: Gid::from_raw(54321),
            switch_user: false,
        }
    }

    #[test]
    fn finds_the_directory_that_blocks_traversal() {
        let dir = scratch_dir("blocked");
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
}
