//! Who runs the server.

use nix::unistd::{Gid, Uid, User};

use super::SUPERUSER;
use super::error::{EmbeddedPgError, Result, errno_err};

#[derive(Debug, Clone, Copy)]
pub(super) struct Identity {
    pub(super) uid: Uid,
    pub(super) gid: Gid,
    /// PostgreSQL refuses to run as root, so as root everything runs as
    /// the `postgres` system user instead.
    pub(super) switch_user: bool,
}

pub(super) fn server_identity() -> Result<Identity> {
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
