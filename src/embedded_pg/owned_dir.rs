//! Creating directories and making them the server user's without being
//! tricked by symlinks or by dirs someone else laid out in advance.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::fcntl::OFlag;

use super::error::{EmbeddedPgError, Result, errno_err, io_err};
use super::identity::Identity;

pub(super) fn ensure_owned_dir(dir: &Path, mode: u32, id: Identity) -> Result<()> {
    let created = create_dir(dir, mode)?;
    claim_dir(dir, id, created.then_some(mode))
}

/// Makes `dir` belong to the server user, setting `new_mode` if given (the
/// umask would otherwise have its say). A dir owned by anyone else is
/// refused: in /tmp it could be a trap laid by another user. Everything
/// goes through one handle opened without following symlinks, so the dir
/// cannot be swapped for a link to, say, /etc between check and chown.
pub(super) fn claim_dir(dir: &Path, id: Identity, new_mode: Option<u32>) -> Result<()> {
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
pub(super) fn open_dir_nofollow(dir: &Path) -> Result<(File, u32)> {
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

pub(super) fn set_mode(handle: &File, dir: &Path, mode: u32) -> Result<()> {
    handle
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err(format!("setting permissions of {}", dir.display())))
}

/// Returns whether the directory was newly created.
pub(super) fn create_dir(dir: &Path, mode: u32) -> Result<bool> {
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(io_err(format!("creating {}", dir.display()))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded_pg::scratch_dir;

    #[test]
    fn symlinked_dirs_are_refused() {
        let dir = scratch_dir("symlink");
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
}
