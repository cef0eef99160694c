//! What hutch's network helper processes (pasta, slirp4netns, the port
//! forwarder, the shared namespace's keeper) have in common: the namespace
//! they connect, and the tail of their logs for error messages. It starts
//! nothing itself.

use std::path::{Path, PathBuf};

/// The network namespace to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A process in the namespace; the helper joins its user namespace too.
    Pid(u32),
    /// `/proc/PID/ns/net`-style paths of the network namespace and of the
    /// user namespace that owns it.
    Paths { netns: PathBuf, userns: PathBuf },
}

impl Target {
    /// The network namespace and the user namespace that owns it, as paths.
    pub fn paths(&self) -> (PathBuf, PathBuf) {
        match self {
            Target::Pid(pid) => (
                PathBuf::from(format!("/proc/{pid}/ns/net")),
                PathBuf::from(format!("/proc/{pid}/ns/user")),
            ),
            Target::Paths { netns, userns } => (netns.clone(), userns.clone()),
        }
    }
}

/// The last lines of a helper's log at `log` as `: a / b` (or nothing),
/// for error messages.
pub(super) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    // pasta tries syslog first and complains when there is none.
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            !l.trim().is_empty() && !l.starts_with("Failed to send") && !l.contains("to syslog")
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(5)..];
    format!(": {}", tail.join(" / "))
}
