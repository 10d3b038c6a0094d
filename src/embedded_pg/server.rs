//! The cluster's life: initdb, start, status, stop, and where the running
//! server listens.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::error::{EmbeddedPgError, Result, io_err};
use super::layout::Layout;
use super::stale_locks::clear_stale_lock_files;
use super::tools::{PgTools, command_failed};
use super::{PORT, SUPERUSER};

const PG_CTL_TIMEOUT_SECS: &str = "60";

/// Returns whether this call started the server (and so owns it).
pub(super) async fn ensure_running(tools: &PgTools, layout: &Layout) -> Result<bool> {
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

/// The cluster's locale, in the order tried: C's collation (code point order, compared byte by
/// byte) with C.UTF-8's character classes, so `lower`, `upper` and ILIKE fold the case of every
/// script; C's own fold ASCII letters only, and a search for `ZÜRICH` would not find `Zürich`.
/// A machine without C.UTF-8 gets C.
const LOCALES: [&[&str]; 2] = [&["--locale=C", "--lc-ctype=C.UTF-8"], &["--no-locale"]];

/// initdb writes PG_VERSION before it finishes, so it runs in a scratch dir
/// that is renamed into place only on success; a crash mid-way can then
/// never leave a half-made cluster that looks complete.
async fn init_cluster(tools: &PgTools, layout: &Layout) -> Result<()> {
    let scratch = layout.base.join("pgdata.initdb");
    tracing::info!(pgdata = %layout.pgdata.display(), "creating a new PostgreSQL cluster");
    for (tried, locale) in LOCALES.into_iter().enumerate() {
        remove_scratch(&scratch).await?;
        let mut args: Vec<OsString> = vec![
            "-D".into(),
            scratch.clone().into_os_string(),
            "-U".into(),
            SUPERUSER.into(),
            "--auth=trust".into(),
            "--encoding=UTF8".into(),
        ];
        args.extend(locale.iter().map(OsString::from));
        match tools.run_checked("initdb", &args, None).await {
            Ok(_) => break,
            Err(e) if tried + 1 < LOCALES.len() => tracing::warn!(
                error = %e,
                "initdb failed with {locale:?}; trying the next locale (with C, case-insensitive search folds ASCII letters only)"
            ),
            Err(e) => return Err(e),
        }
    }
    tokio::fs::rename(&scratch, &layout.pgdata)
        .await
        .map_err(io_err(format!(
            "moving the new cluster to {}",
            layout.pgdata.display()
        )))
}

async fn remove_scratch(scratch: &Path) -> Result<()> {
    match tokio::fs::remove_dir_all(scratch).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(format!(
            "removing leftover {}",
            scratch.display()
        ))(e)),
        _ => Ok(()),
    }
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

/// Stops the server with `pg_ctl stop -m fast -w`; a server that is gone
/// anyway counts as stopped.
pub(super) async fn stop_server(tools: &PgTools, layout: &Layout) -> Result<()> {
    let args = [
        "-D".into(),
        layout.pgdata.clone().into_os_string(),
        "stop".into(),
        "-m".into(),
        "fast".into(),
        "-w".into(),
        "-t".into(),
        PG_CTL_TIMEOUT_SECS.into(),
    ];
    let output = tools.run("pg_ctl", &args).await?;
    if output.status.success() || !server_running(tools, layout).await? {
        tracing::info!(base_dir = %layout.base.display(), "embedded PostgreSQL stopped");
        return Ok(());
    }
    Err(command_failed("pg_ctl", &args, &output, None))
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
pub(super) async fn read_endpoint(pgdata: &Path) -> Result<(PathBuf, u16)> {
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
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote(b"/a b/it's"), b"'/a b/it'\\''s'".to_vec());
    }
}
