//! The processes inside a running container, as `hutch top` lists them.
//!
//! It only reads /proc; process identity (pid + start time) is `crate::procid`.

use crate::procid::{parent_of, read_proc};
use std::path::Path;

/// A process inside a container, as `hutch top` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its pid on the host.
    pub pid: i32,
    /// Its pid inside the container (the last NSpid entry).
    pub container_pid: i32,
    /// Its parent's pid on the host.
    pub ppid: i32,
    /// Its real uid on the host.
    pub uid: u32,
    /// Its command line (or `[name]` when it has none).
    pub command: String,
}

/// Every process in the pid namespace of `init` (the container's pid 1),
/// found by comparing `/proc/<pid>/ns/pid` links, so processes started by
/// `hutch exec` (whose parent is outside) are found too. Sorted by pid.
pub fn members(init: i32) -> Vec<Member> {
    let ns_of = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(ns) = ns_of(&init.to_string()) else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<Member> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .filter(|n| ns_of(n).as_ref() == Some(&ns))
        .filter_map(|n| member(&n))
        .collect();
    out.sort_by_key(|m| m.pid);
    out
}

fn member(pid: &str) -> Option<Member> {
    let base = Path::new("/proc").join(pid);
    // Bytes, not text: a process names itself with any bytes, and both
    // files hold that name; the fields read here are ASCII either way.
    let stat = read_proc(&base.join("stat")).ok()?;
    let status = read_proc(&base.join("status")).ok()?;
    let status = String::from_utf8_lossy(&status);
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let container_pid = field("NSpid:")?.split_whitespace().last()?.parse().ok()?;
    let uid = field("Uid:")?.split_whitespace().next()?.parse().ok()?;
    let raw = std::fs::read(base.join("cmdline")).unwrap_or_default();
    let command = if raw.is_empty() {
        format!("[{}]", field("Name:").unwrap_or(""))
    } else {
        raw.split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    Some(Member {
        pid: pid.parse().ok()?,
        container_pid,
        ppid: parent_of(&stat)?,
        uid,
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process that names itself in bytes that are not UTF-8 is still
    /// listed: its stat line and status hold that name.
    #[test]
    fn a_process_named_in_bytes_that_are_not_utf8_is_listed() {
        let listed = crate::procid::with_child_named_in_non_utf8(|pid| {
            members(pid).into_iter().find(|m| m.pid == pid)
        });
        let listed = listed.expect("the renamed process is listed");
        assert_eq!(listed.ppid, std::process::id() as i32);
        assert!(listed.command.starts_with("sh -c"), "{listed:?}");
    }
}
