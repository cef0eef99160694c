//! Docker's seccomp profile format (`--security-opt seccomp=FILE.json`):
//! `defaultAction`, `defaultErrnoRet`, and `syscalls` entries with `names`
//! (or the older single `name`), `action`, `errnoRet`, `args` and
//! `includes`/`excludes` on `caps`, `arches` and `minKernel`. Architecture
//! lists are not needed: the filter is always built for the running one.
//!
//! Actions hutch cannot honour (SCMP_ACT_TRACE, SCMP_ACT_NOTIFY) are
//! refused with a message rather than silently changed.
//!
//! `flags` is read as runc reads it through Docker and Podman: absent or
//! empty (the runtime spec's `omitempty` drops an empty list on its way to
//! runc), the program is installed with SECCOMP_FILTER_FLAG_SPEC_ALLOW
//! where the kernel has it; listed, with exactly those flags, which the
//! kernel must support.
//! SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG and
//! SECCOMP_FILTER_FLAG_SPEC_ALLOW are known; any other is refused.

use super::{
    parse_version, Action, Cmp, Cond, EntryAt, EntryError, InstallFlags, Profile, Rule,
    SeccompError,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(default)]
    syscalls: Option<Vec<Entry>>,
    #[serde(default)]
    flags: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    #[serde(default)]
    names: Option<Vec<String>>,
    #[serde(default)]
    name: Option<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u8,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

fn action(name: &str, errno: Option<u32>) -> Result<Action, EntryError> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        // Docker's default errno is EPERM.
        "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(libc::EPERM as u32)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_TRACE" | "SCMP_ACT_NOTIFY" => {
            return Err(EntryError::NoListener(name.to_string()))
        }
        other => return Err(EntryError::Action(other.to_string())),
    })
}

fn install_flags(named: Option<Vec<String>>) -> Result<InstallFlags, EntryError> {
    use crate::sys::seccomp::{FLAG_LOG, FLAG_SPEC_ALLOW, FLAG_TSYNC};
    let Some(named) = named.filter(|n| !n.is_empty()) else {
        return Ok(InstallFlags::default());
    };
    let mut required = 0;
    for name in &named {
        required |= match name.as_str() {
            // Passed on; the filter is installed in a process with one
            // thread, just before it execs, so there is nothing to
            // synchronise (runc, whose Go runtime has threads, always
            // synchronises).
            "SECCOMP_FILTER_FLAG_TSYNC" => FLAG_TSYNC,
            "SECCOMP_FILTER_FLAG_LOG" => FLAG_LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => FLAG_SPEC_ALLOW,
            other => return Err(EntryError::Flag(other.to_string())),
        };
    }
    Ok(InstallFlags {
        required,
        if_known: 0,
    })
}

fn cmp(a: &Arg) -> Result<(u8, Cmp), EntryError> {
    if a.index > 5 {
        return Err(EntryError::ArgIndex(a.index));
    }
    let c = match a.op.as_str() {
        "SCMP_CMP_NE" => Cmp::Ne(a.value),
        "SCMP_CMP_LT" => Cmp::Lt(a.value),
        "SCMP_CMP_LE" => Cmp::Le(a.value),
        "SCMP_CMP_EQ" => Cmp::Eq(a.value),
        "SCMP_CMP_GE" => Cmp::Ge(a.value),
        "SCMP_CMP_GT" => Cmp::Gt(a.value),
        // libseccomp's order: the mask first, then the value.
        "SCMP_CMP_MASKED_EQ" => Cmp::MaskedEq {
            mask: a.value,
            value: a.value_two,
        },
        other => return Err(EntryError::Comparison(other.to_string())),
    };
    Ok((a.index, c))
}

fn cond(f: Option<Filter>) -> Result<Cond, EntryError> {
    let f = f.unwrap_or_default();
    let min_kernel = match f.min_kernel.as_deref() {
        None | Some("") => None,
        Some(k) => Some(parse_version(k).ok_or_else(|| EntryError::MinKernel(k.to_string()))?),
    };
    Ok(Cond {
        caps: f.caps.unwrap_or_default(),
        arches: f.arches.unwrap_or_default(),
        min_kernel,
    })
}

/// Parse a profile in Docker's JSON format.
pub fn parse(text: &str) -> Result<Profile, SeccompError> {
    let f: File = serde_json::from_str(text).map_err(SeccompError::NotJson)?;
    let default_action =
        action(&f.default_action, f.default_errno_ret).map_err(|reason| SeccompError::Entry {
            at: EntryAt::DefaultAction,
            reason,
        })?;
    let flags = install_flags(f.flags).map_err(|reason| SeccompError::Entry {
        at: EntryAt::Flags,
        reason,
    })?;
    let mut rules = Vec::new();
    for (i, e) in f.syscalls.unwrap_or_default().into_iter().enumerate() {
        let at = |reason: EntryError| SeccompError::Entry {
            at: EntryAt::Syscall(i),
            reason,
        };
        let mut names = e.names.unwrap_or_default();
        names.extend(e.name);
        if names.is_empty() {
            return Err(at(EntryError::NoNames));
        }
        rules.push(Rule {
            names,
            action: action(&e.action, e.errno_ret).map_err(at)?,
            args: e
                .args
                .unwrap_or_default()
                .iter()
                .map(cmp)
                .collect::<Result<_, _>>()
                .map_err(at)?,
            includes: cond(e.includes).map_err(at)?,
            excludes: cond(e.excludes).map_err(at)?,
        });
    }
    Ok(Profile {
        default_action,
        rules,
        flags,
    })
}
