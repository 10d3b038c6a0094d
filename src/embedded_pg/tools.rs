//! Running initdb and pg_ctl as the server user, and reporting their
//! failures with the output that explains them.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tokio::process::Command;

use super::error::{EmbeddedPgError, Result, io_err};
use super::identity::Identity;

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

#[derive(Debug, Clone)]
pub(super) struct PgTools {
    pub(super) bin_dir: PathBuf,
    pub(super) id: Identity,
    /// The base dir: always accessible to the server user, unlike the
    /// caller's cwd (often under /root).
    pub(super) cwd: PathBuf,
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

    pub(super) async fn run(&self, program: &str, args: &[OsString]) -> Result<Output> {
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
    pub(super) async fn run_checked(
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

pub(super) fn command_failed(
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
pub(super) fn tail_of_file(path: &Path) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        let text: String = (0..50).map(|i| format!("{i}\n")).collect();
        let tail = tail_lines(&text);
        assert!(tail.starts_with("30\n") && tail.ends_with("49"));
    }
}
