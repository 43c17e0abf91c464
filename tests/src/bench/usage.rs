//! What a process cost: CPU seconds and peak resident memory.
//!
//! A child's figures come from `wait4`, which reports the child's own user and system time and its
//! peak resident set (`ru_maxrss`), however short-lived, and nothing of the benchmark process itself
//! or of the servers it started.

use std::process::Child;

use anyhow::{Context as _, bail};

/// What one child process used over its whole life.
#[derive(Clone, Copy, Debug)]
pub struct ChildUsage {
    pub cpu_seconds: f64,
    pub peak_rss_mib: f64,
    /// The exit code; `None` when a signal ended the process.
    pub exit_code: Option<i32>,
}

fn seconds(time: libc::timeval) -> f64 {
    time.tv_sec as f64 + time.tv_usec as f64 / 1e6
}

/// Waits for `child` to end and returns what it used. The child must not have been waited for.
pub fn wait_with_usage(child: Child) -> anyhow::Result<ChildUsage> {
    let pid = child.id() as libc::pid_t;
    // `Child` does not wait when dropped; the child is reaped by `wait4` below.
    drop(child);
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: wait4 writes the status and the rusage we own; the pid is our unreaped child.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
    if waited != pid {
        bail!("waiting for process {pid}: {}", std::io::Error::last_os_error());
    }
    // SAFETY: wait4 succeeded, so it filled the struct.
    let usage = unsafe { usage.assume_init() };
    Ok(ChildUsage {
        cpu_seconds: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        exit_code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
    })
}

/// Asks a child process to stop as an operator would (SIGTERM).
pub fn terminate(child: &Child) -> anyhow::Result<()> {
    // SAFETY: sending a signal to our own unreaped child.
    let result = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    if result != 0 {
        return Err(std::io::Error::last_os_error()).context("sending SIGTERM");
    }
    Ok(())
}

/// User plus system CPU time of this process so far, in seconds.
pub fn own_cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct we own; on failure it stays zeroed.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
