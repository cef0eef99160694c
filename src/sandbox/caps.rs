//! Capability names and sets: hutch's default set for a container's root,
//! `--cap-add`/`--cap-drop` (names with or without `CAP_`, any case, `ALL`)
//! and `--privileged`, resolved as Docker does.
//!
//! Inside a user namespace a capability only ever applies to what that
//! namespace owns; this module only computes sets, `sys::caps` applies them.

use super::error::SpecError;
use std::fmt;

/// capabilities(7) names by number (Linux 6.x knows 0..=40).
pub const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Docker's default set for a container's root: CHOWN, DAC_OVERRIDE,
/// FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW,
/// SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP.
pub const DEFAULT: CapSet = CapSet(
    1 << 0
        | 1 << 1
        | 1 << 3
        | 1 << 4
        | 1 << 5
        | 1 << 6
        | 1 << 7
        | 1 << 8
        | 1 << 10
        | 1 << 13
        | 1 << 18
        | 1 << 27
        | 1 << 29
        | 1 << 31,
);

/// A set of capabilities as the kernel's bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(pub u64);

impl CapSet {
    /// Every capability up to `last` (the running kernel's cap_last_cap).
    pub fn all(last: u32) -> CapSet {
        CapSet(if last >= 63 {
            u64::MAX
        } else {
            (1u64 << (last + 1)) - 1
        })
    }

    pub fn contains(self, cap: u32) -> bool {
        cap < 64 && self.0 & (1 << cap) != 0
    }

    pub fn with(self, cap: u32) -> CapSet {
        CapSet(self.0 | 1 << cap)
    }

    pub fn without(self, cap: u32) -> CapSet {
        CapSet(self.0 & !(1 << cap))
    }

    /// The numbers in the set.
    pub fn iter(self) -> impl Iterator<Item = u32> {
        (0..64).filter(move |c| self.contains(*c))
    }

    /// Whether the set holds capability `name` (`CAP_SYS_ADMIN` or `SYS_ADMIN`).
    pub fn has_named(self, name: &str) -> bool {
        number(name).is_ok_and(|c| self.contains(c))
    }
}

impl fmt::Display for CapSet {
    /// `CAP_A,CAP_B`, as `capsh --print` and Docker's documentation write them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .iter()
            .map(|c| match NAMES.get(c as usize) {
                Some(n) => format!("CAP_{n}"),
                None => format!("CAP_{c}"),
            })
            .collect();
        f.write_str(&names.join(","))
    }
}

/// The number of capability `name`: `CAP_NET_ADMIN`, `net_admin`, ...
pub fn number(name: &str) -> Result<u32, SpecError> {
    let up = name.trim().to_ascii_uppercase();
    let bare = up.strip_prefix("CAP_").unwrap_or(&up);
    NAMES
        .iter()
        .position(|n| *n == bare)
        .map(|i| i as u32)
        .ok_or_else(|| SpecError::UnknownCapability(name.into()))
}

fn is_all(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case("ALL")
}

/// Docker's rule: start from the default set (or every capability with
/// `--privileged` or `--cap-add ALL`, or none with `--cap-drop ALL`), add the
/// named ones, then drop the named ones.
pub fn resolve(
    add: &[String],
    drop: &[String],
    privileged: bool,
    last: u32,
) -> Result<CapSet, SpecError> {
    let mut set = if privileged || add.iter().any(|a| is_all(a)) {
        CapSet::all(last)
    } else if drop.iter().any(|d| is_all(d)) {
        CapSet::default()
    } else {
        DEFAULT
    };
    for a in add.iter().filter(|a| !is_all(a)) {
        set = set.with(number(a).map_err(|e| SpecError::CapFlag("--cap-add", e.into()))?);
    }
    for d in drop.iter().filter(|d| !is_all(d)) {
        set = set.without(number(d).map_err(|e| SpecError::CapFlag("--cap-drop", e.into()))?);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names_and_docker_rules() {
        assert_eq!(number("CAP_SYS_ADMIN").unwrap(), 21);
        assert_eq!(number("net_admin").unwrap(), 12);
        assert!(number("FLY")
            .unwrap_err()
            .to_string()
            .contains("unknown capability"));
        assert_eq!(DEFAULT.0, 0xa80425fb, "Docker's default CapBnd");
        let r = |a: &[&str], d: &[&str]| resolve(&s(a), &s(d), false, 40).unwrap();
        assert_eq!(r(&[], &[]), DEFAULT);
        assert!(r(&["SYS_ADMIN"], &[]).contains(21));
        assert!(!r(&[], &["cap_chown"]).contains(0));
        assert_eq!(r(&[], &["ALL"]), CapSet(0));
        assert_eq!(r(&["NET_RAW"], &["ALL"]), CapSet(1 << 13));
        assert_eq!(r(&["ALL"], &["MKNOD"]), CapSet::all(40).without(27));
        assert_eq!(resolve(&[], &[], true, 40).unwrap(), CapSet::all(40));
        assert!(resolve(&s(&["nope"]), &[], false, 40).is_err());
        assert_eq!(CapSet(1 | 1 << 21).to_string(), "CAP_CHOWN,CAP_SYS_ADMIN");
    }
}
