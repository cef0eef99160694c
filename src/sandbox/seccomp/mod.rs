//! Seccomp policy: a profile in the model of Docker's JSON format (a default
//! action, rules naming syscalls with an action, argument comparisons and
//! conditions on capabilities, architecture and kernel), hutch's default
//! profile with the semantics of Docker's, the fake-root rules, and the
//! compilation of all that into BPF programs for the running kernel.
//!
//! Compiling happens once per start in the parent (before any clone);
//! installing the program is `sys::seccomp`'s job, done last before exec.
//! Nothing here makes a system call.
//!
//! The program is a binary search over syscall numbers (`codegen`), not
//! the linear chain of one comparison per syscall that seccompiler and
//! libseccomp's default emit: when a filter is installed the kernel runs it
//! for every syscall number to build its allow cache, and a 370-syscall
//! chain measured 0.5 ms to install here. With a tree, each instruction on
//! the syscall numbers' common path costs about 3 us of that evaluation,
//! and every instruction about 0.2 us to translate and JIT
//! (bench/README.md).

pub mod cache;
mod codegen;
pub mod default;
pub mod docker;
mod error;

use super::caps::CapSet;
pub use error::{EntryAt, EntryError, SeccompError};
use std::collections::HashMap;

/// What a matching rule (or the default) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Allow,
    Errno(u32),
    KillThread,
    KillProcess,
    Trap,
    Log,
}

impl Action {
    /// The filter's return value (seccomp(2)).
    fn ret(self) -> u32 {
        match self {
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | (e & libc::SECCOMP_RET_DATA),
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Log => libc::SECCOMP_RET_LOG,
        }
    }

    /// How the kernel ranks actions when several filters answer: a lower
    /// rank wins (seccomp(2), "the most restrictive").
    fn rank(self) -> u8 {
        match self {
            Action::KillProcess => 0,
            Action::KillThread => 1,
            Action::Trap => 2,
            Action::Errno(_) => 3,
            Action::Log => 4,
            Action::Allow => 5,
        }
    }
}

/// A comparison of one syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Ne(u64),
    Lt(u64),
    Le(u64),
    Eq(u64),
    Ge(u64),
    Gt(u64),
    /// `arg & mask == value`.
    MaskedEq {
        mask: u64,
        value: u64,
    },
}

/// When a rule applies: every listed capability held, the architecture
/// listed, the kernel at least this version. Empty means no condition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cond {
    pub caps: Vec<String>,
    pub arches: Vec<String>,
    pub min_kernel: Option<(u32, u32)>,
}

/// One entry of a profile: these syscalls, when every comparison holds,
/// get `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub names: Vec<String>,
    pub action: Action,
    pub args: Vec<(u8, Cmp)>,
    pub includes: Cond,
    pub excludes: Cond,
}

/// A whole profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub default_action: Action,
    pub rules: Vec<Rule>,
    pub flags: InstallFlags,
}

/// The seccomp(2) flags a profile's program is installed with (a Docker
/// profile's `flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallFlags {
    /// Flags the profile names: a kernel that does not know one refuses
    /// the program, and the container does not start.
    pub required: u32,
    /// Flags the kernel may ignore when it does not know them.
    pub if_known: u32,
}

impl Default for InstallFlags {
    /// What runc installs a profile that names no flags (not even an empty
    /// list) with, and so Docker's and hutch's default profiles:
    /// SECCOMP_FILTER_FLAG_SPEC_ALLOW where the kernel has it. Without it,
    /// a kernel booted with `spec_store_bypass_disable=seccomp` (the
    /// default before Linux 5.16) turns on the speculative-store-bypass
    /// mitigation for every process of the container, which slows whatever
    /// runs there and buys nothing against the container's own code. Since
    /// 5.16 the default is `prctl`, where the flag changes nothing, and a
    /// process that wants the mitigation still asks for it with
    /// prctl(PR_SET_SPECULATION_CTRL).
    fn default() -> Self {
        InstallFlags {
            required: 0,
            if_known: crate::sys::seccomp::FLAG_SPEC_ALLOW,
        }
    }
}

/// The machine a profile is compiled for.
#[derive(Debug, Clone)]
pub struct Host {
    /// Docker's (Go's) name of the architecture: amd64, arm64, riscv64.
    pub arch: &'static str,
    pub kernel: (u32, u32),
    /// The container's root's capabilities (the bounding set).
    pub caps: CapSet,
}

impl Host {
    pub fn detect(caps: CapSet) -> Host {
        let kernel = nix::sys::utsname::uname()
            .ok()
            .and_then(|u| parse_version(&u.release().to_string_lossy()))
            .unwrap_or((0, 0));
        Host {
            arch: go_arch(),
            kernel,
            caps,
        }
    }
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `6.1.0-13-amd64` → (6, 1).
pub fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

impl Cond {
    fn holds_all(&self, host: &Host) -> bool {
        self.caps.iter().all(|c| host.caps.has_named(c))
            && (self.arches.is_empty() || self.arches.iter().any(|a| a == host.arch))
            && self.min_kernel.map_or(true, |k| host.kernel >= k)
    }

    fn holds_any(&self, host: &Host) -> bool {
        self.caps.iter().any(|c| host.caps.has_named(c))
            || self.arches.iter().any(|a| a == host.arch)
            || self.min_kernel.is_some_and(|k| host.kernel >= k)
    }
}

/// Compiled programs, in the order they are installed, and the flags each
/// is installed with.
#[derive(Clone, Default)]
pub struct Filters {
    pub programs: Vec<Vec<libc::sock_filter>>,
    pub flags: InstallFlags,
}

impl std::fmt::Debug for Filters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sizes: Vec<usize> = self.programs.iter().map(Vec::len).collect();
        write!(f, "Filters(instructions: {sizes:?}, {:?})", self.flags)
    }
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }
}

/// The fake-root rules: ownership changes, id switches and device nodes
/// succeed without doing anything (Charliecloud's and Apptainer's approach
/// for users with a single id). They take precedence over the profile's
/// rules for the same calls.
pub fn fake_root_rules() -> Vec<Rule> {
    let ok = Action::Errno(0);
    let plain = |names: &[&str]| Rule {
        names: names.iter().map(|s| s.to_string()).collect(),
        action: ok,
        args: vec![],
        includes: Cond::default(),
        excludes: Cond::default(),
    };
    let mut rules = vec![plain(&[
        "chown",
        "chown32",
        "fchown",
        "fchown32",
        "lchown",
        "lchown32",
        "fchownat",
        "setuid",
        "setuid32",
        "setgid",
        "setgid32",
        "setreuid",
        "setreuid32",
        "setregid",
        "setregid32",
        "setresuid",
        "setresuid32",
        "setresgid",
        "setresgid32",
        "setgroups",
        "setgroups32",
        "setfsuid",
        "setfsuid32",
        "setfsgid",
        "setfsgid32",
    ])];
    // Device nodes only: FIFOs, sockets and regular files are real.
    let fmt = libc::S_IFMT as u64;
    for kind in [libc::S_IFCHR, libc::S_IFBLK] {
        for (name, arg) in [("mknod", 1u8), ("mknodat", 2u8)] {
            let mut r = plain(&[name]);
            r.args = vec![(
                arg,
                Cmp::MaskedEq {
                    mask: fmt,
                    value: kind as u64,
                },
            )];
            rules.push(r);
        }
    }
    rules
}

/// What one syscall gets: rules tried in order (the first whose comparisons
/// all hold decides), then `fallback`.
#[derive(Debug, Clone, PartialEq)]
struct Verdict {
    rules: Vec<(Vec<(u8, Cmp)>, Action)>,
    fallback: Action,
}

/// The rules of `profile` (plus `extra`, which take precedence) that apply
/// on `host`, compiled to one BPF program with a part for the native
/// architecture and, on x86_64, one for 32-bit x86 programs (which the
/// kernel runs there too, with their own syscall numbers): Docker's
/// profiles list both (`archMap`), and without that part every i386
/// program would be killed at its first syscall.
pub fn compile(profile: &Profile, extra: &[Rule], host: &Host) -> Result<Filters, SeccompError> {
    let program = codegen::program(&sections(profile, extra, host)?, profile.default_action)?;
    Ok(Filters {
        programs: vec![program],
        flags: profile.flags,
    })
}

/// What [`compile`] turns into code: each architecture's verdicts.
fn sections(
    profile: &Profile,
    extra: &[Rule],
    host: &Host,
) -> Result<Vec<codegen::Section>, SeccompError> {
    let arch =
        codegen::audit_arch().ok_or(SeccompError::UnsupportedArch(std::env::consts::ARCH))?;
    let applies = |r: &&Rule| r.includes.holds_all(host) && !r.excludes.holds_any(host);
    let default = profile.default_action;
    // Per syscall: the fake-root rules first, then the profile's, the most
    // restrictive action first, so that when rules disagree the strictest
    // matching one decides, as when several filters are stacked.
    let mut profile_rules: Vec<&Rule> = profile
        .rules
        .iter()
        .filter(applies)
        .filter(|r| r.action != default)
        .collect();
    profile_rules.sort_by_key(|r| r.action.rank());
    let rules: Vec<&Rule> = extra.iter().filter(applies).chain(profile_rules).collect();
    for r in &rules {
        for c in &r.args {
            if c.0 > 5 {
                return Err(SeccompError::ArgIndex(c.0));
            }
        }
    }
    // One pass over the kernel's table instead of a string match per name.
    let native: HashMap<&'static str, u32> = syscalls::Sysno::iter()
        .map(|s| (s.name(), s.id() as u32))
        .collect();
    // x32 syscalls carry bit 30 in their number on x86_64: never let them
    // reach rules written for the 64-bit numbers.
    let above = match (std::env::consts::ARCH, default) {
        ("x86_64", Action::Allow) => Some((0x4000_0000, Action::Errno(libc::ENOSYS as u32))),
        ("x86_64", d) => Some((0x4000_0000, d)),
        _ => None,
    };
    let mut sections = vec![codegen::Section {
        arch,
        per: verdicts(&rules, &native, default),
        above,
        wide: true,
        numbers: table_end(&native),
    }];
    if let Some((arch, table)) = codegen::compat_arch() {
        sections.push(codegen::Section {
            arch,
            per: verdicts(&rules, &table, default),
            above: None,
            wide: false,
            numbers: table_end(&table),
        });
    }
    Ok(sections)
}

/// One past the highest syscall number of `table`: the numbers the kernel
/// evaluates a new filter for.
fn table_end(table: &HashMap<&str, u32>) -> u32 {
    table.values().max().map_or(0, |m| m + 1)
}

/// What each syscall number of one architecture's `table` gets from
/// `rules` (already in the order they decide in).
fn verdicts(rules: &[&Rule], table: &HashMap<&str, u32>, default: Action) -> HashMap<u32, Verdict> {
    let mut per: HashMap<u32, Verdict> = HashMap::new();
    for r in rules {
        for name in &r.names {
            // Names of other architectures are skipped, as libseccomp does.
            let Some(&nr) = table.get(name.as_str()) else {
                continue;
            };
            let v = per.entry(nr).or_insert_with(|| Verdict {
                rules: Vec::new(),
                fallback: default,
            });
            // After an unconditional rule nothing else is reached.
            if !v.rules.last().is_some_and(|(c, _)| c.is_empty()) {
                v.rules.push((r.args.clone(), r.action));
            }
        }
    }
    per
}

#[cfg(test)]
mod tests;
