//! A server child process that cannot outlive the value owning it.
//!
//! Every server the harness starts is held by a [`ServerProcess`]: its stdout and stderr go to a log file
//! in the server's temporary directory, and dropping the value kills the process and reaps it. Drop runs
//! while a panicking test unwinds, so a failed assertion does not leave servers behind.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use anyhow::Context as _;

/// How many lines of a log file an error message quotes.
const LOG_TAIL_LINES: usize = 40;

/// A running server process, killed when dropped.
pub(crate) struct ServerProcess {
    /// Short name for messages, such as `mariadbd` or `tansu`.
    name: &'static str,
    child: Child,
}

impl ServerProcess {
    /// Starts `command` with stdin closed and stdout and stderr appended to `log_path`.
    pub(crate) fn spawn(name: &'static str, command: &mut Command, log_path: &Path) -> anyhow::Result<ServerProcess> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("opening the {name} log {}", log_path.display()))?;
        let log_for_stderr = log
            .try_clone()
            .with_context(|| format!("sharing the {name} log {}", log_path.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        Ok(ServerProcess { name, child })
    }

    /// The exit status if the process has already ended.
    pub(crate) fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the process (SIGKILL) and waits for it to end.
    pub(crate) fn kill(&mut self) {
        if self.exit_status().is_some() {
            return;
        }
        if let Err(error) = self.child.kill() {
            tracing::warn!(server = self.name, %error, "could not kill test server");
        }
        if let Err(error) = self.child.wait() {
            tracing::warn!(server = self.name, %error, "could not reap test server");
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback TCP port that was free a moment ago.
///
/// The port is released before the server binds it, so another process may take it in between; callers
/// that can tell a bind failure from other failures retry with a new port.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr().context("reading the bound address")?.port())
}

/// The last lines of a log file, for error messages; a note instead if it cannot be read.
pub(crate) fn log_tail(path: &Path) -> String {
    const MAX_BYTES: u64 = 16 * 1024;
    let read = || -> std::io::Result<String> {
        let mut file = File::open(path)?;
        let length = file.metadata()?.len();
        file.seek(SeekFrom::Start(length.saturating_sub(MAX_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_TAIL_LINES);
            format!("last lines of {}:\n{}", path.display(), lines[start..].join("\n"))
        }
        Err(error) => format!("(could not read {}: {error})", path.display()),
    }
}

/// A temporary directory for one server, named after it so leftovers are recognisable.
pub(crate) fn server_directory(server: &str) -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("sluice-{server}-"))
        .tempdir()
        .with_context(|| format!("creating a temporary directory for {server}"))
}

/// `path` as a string for a command-line argument.
pub(crate) fn path_argument(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("path is not UTF-8: {}", path.display()))
}
