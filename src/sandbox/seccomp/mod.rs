//! Seccomp policy: a profile in the model of Docker's JSON format (a default
//! action, rules naming syscalls with an action, argument comparisons and
//! conditions on capabilities, architecture and kernel), hutch's default
//! profile with the semantics of Docker's, the fake-root rules, and the
//! compilation of all that into BPF programs for the running kernel.
//!
//! Compiling happens once per start in the parent (before any clone);
//! installing the programs is `sys::seccomp`'s job, done last before exec.
//! Nothing here makes a system call.

pub mod default;
pub mod docker;

use super::caps::CapSet;
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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

impl From<Action> for SeccompAction {
    fn from(a: Action) -> SeccompAction {
        match a {
            Action::Allow => SeccompAction::Allow,
            Action::Errno(e) => SeccompAction::Errno(e),
            Action::KillThread => SeccompAction::KillThread,
            Action::KillProcess => SeccompAction::KillProcess,
            Action::Trap => SeccompAction::Trap,
            Action::Log => SeccompAction::Log,
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

/// Compiled programs, in the order they are installed.
#[derive(Debug, Clone, Default)]
pub struct Filters(pub Vec<BpfProgram>);

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The fake-root rules: ownership changes, id switches and device nodes
/// succeed without doing anything (Charliecloud's and Apptainer's approach
/// for users with a single id). Installed after the profile, so they win
/// over its errors.
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

/// The rules of `profile` (plus `extra`, installed after it) that apply on
/// `host`, compiled to BPF.
pub fn compile(profile: &Profile, extra: &[Rule], host: &Host) -> Result<Filters, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|_| {
        format!(
            "seccomp filters are not supported on {}",
            std::env::consts::ARCH
        )
    })?;
    let applies = |r: &&Rule| r.includes.holds_all(host) && !r.excludes.holds_any(host);
    // One program per action: seccompiler gives a program a single action
    // on match. The kernel runs every program and takes the most
    // restrictive answer, the latest installed first among equals, so the
    // programs for specific actions go after the one holding the default.
    // One pass over the kernel's table instead of a string match per name.
    let numbers: HashMap<&'static str, i64> = syscalls::Sysno::iter()
        .map(|s| (s.name(), s.id() as i64))
        .collect();
    let mut groups: BTreeMap<Action, Group> = BTreeMap::new();
    for r in profile.rules.iter().filter(applies) {
        if r.action != profile.default_action {
            groups.entry(r.action).or_default().add(r, &numbers)?;
        }
    }
    let mut extra_groups: BTreeMap<Action, Group> = BTreeMap::new();
    for r in extra.iter().filter(applies) {
        extra_groups.entry(r.action).or_default().add(r, &numbers)?;
    }
    let mut out = Vec::new();
    let build = |g: Group, mismatch: Action, matched: Action| -> Result<BpfProgram, String> {
        let f = SeccompFilter::new(g.into_rules(), mismatch.into(), matched.into(), arch)
            .map_err(|e| format!("seccomp profile: {e}"))?;
        BpfProgram::try_from(f).map_err(|e| format!("seccomp profile: {e}"))
    };
    let default = profile.default_action;
    if default != Action::Allow {
        let allowed = groups.remove(&Action::Allow).unwrap_or_default();
        out.push(build(allowed, default, Action::Allow)?);
    }
    for (action, g) in groups.into_iter().chain(extra_groups) {
        if action != Action::Allow {
            out.push(build(g, Action::Allow, action)?);
        }
    }
    if arch == TargetArch::x86_64 {
        out.push(no_x32());
    }
    Ok(Filters(out))
}

/// Syscalls of the x32 ABI carry bit 30 in their number on x86_64: without
/// this program they would slip past rules written for the 64-bit numbers.
fn no_x32() -> BpfProgram {
    const X32_BIT: u32 = 0x4000_0000;
    let stmt = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    vec![
        // seccomp_data.nr is the first field.
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16,
            jt: 1,
            jf: 0,
            k: X32_BIT,
        },
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ),
    ]
}

/// The rules of one action, by syscall number.
#[derive(Default)]
struct Group {
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    /// Syscalls matched whatever their arguments.
    always: BTreeSet<i64>,
}

impl Group {
    fn add(&mut self, r: &Rule, numbers: &HashMap<&'static str, i64>) -> Result<(), String> {
        for name in &r.names {
            // Names of other architectures are skipped, as libseccomp does.
            let Some(&nr) = numbers.get(name.as_str()) else {
                continue;
            };
            if r.args.is_empty() {
                self.always.insert(nr);
                continue;
            }
            let conds = r
                .args
                .iter()
                .map(|(i, c)| condition(*i, *c))
                .collect::<Result<Vec<_>, _>>()?;
            let rule =
                SeccompRule::new(conds).map_err(|e| format!("seccomp rule for {name}: {e}"))?;
            self.rules.entry(nr).or_default().push(rule);
        }
        Ok(())
    }

    fn into_rules(mut self) -> BTreeMap<i64, Vec<SeccompRule>> {
        for nr in &self.always {
            // An empty chain matches the syscall unconditionally.
            self.rules.insert(*nr, Vec::new());
        }
        self.rules
    }
}

fn condition(index: u8, c: Cmp) -> Result<SeccompCondition, String> {
    let (op, v) = match c {
        Cmp::Ne(v) => (SeccompCmpOp::Ne, v),
        Cmp::Lt(v) => (SeccompCmpOp::Lt, v),
        Cmp::Le(v) => (SeccompCmpOp::Le, v),
        Cmp::Eq(v) => (SeccompCmpOp::Eq, v),
        Cmp::Ge(v) => (SeccompCmpOp::Ge, v),
        Cmp::Gt(v) => (SeccompCmpOp::Gt, v),
        Cmp::MaskedEq { mask, value } => (SeccompCmpOp::MaskedEq(mask), value),
    };
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, v)
        .map_err(|e| format!("seccomp argument {index}: {e}"))
}

#[cfg(test)]
mod tests;
