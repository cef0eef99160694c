//! Which resource limits can be honoured here, and the one line that says
//! why not. `--ulimit` always works (setrlimit(2) in the container's first
//! process, inherited by the rest). `--memory`, `--cpus` and `--pids-limit`
//! need a cgroup v2 subtree this user may write (a systemd user session
//! delegates one) whose parent gives it the memory, cpu and pids
//! controllers; the container then gets a cgroup of its own with the
//! limits (`cgroup`). Otherwise the container starts without those it
//! cannot have (all of them, or the ones whose controller is missing) and
//! one line says which and why, unless `--strict-limits` makes it an error.
//!
//! This module decides and words; it changes nothing on the host.

use super::cgroup::CgroupError;
pub use super::cgroup::CgroupLimits;
use super::host::{CgroupVersion, Cgroups};
use std::path::Path;

/// Why cgroup limits cannot be applied here, with the fix.
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    #[error(
        "the machine has no cgroup v2 hierarchy (boot with systemd.unified_cgroup_hierarchy=1)"
    )]
    NoCgroupV2,
    #[error("your cgroup is not delegated to you (no systemd user session); log in through systemd-logind or run hutch under `systemd-run --user --scope -p Delegate=yes`")]
    NotDelegated,
    /// The delegated cgroup lacks controllers (the error names them).
    #[error(transparent)]
    Controllers(CgroupError),
}

/// The part of `limits` that can be applied for this user, whose cgroups
/// are `c` with containers' cgroups going under `base` (`cgroup::base`),
/// and why the rest cannot.
pub fn usable(
    c: &Cgroups,
    base: Option<&Path>,
    limits: &CgroupLimits,
) -> (CgroupLimits, Option<Unusable>) {
    if let Some(base) = base {
        let hybrid = c.version == CgroupVersion::Hybrid;
        let (kept, why) = super::cgroup::usable(base, c.v2_root.as_deref(), hybrid, limits);
        return (kept, why.map(Unusable::Controllers));
    }
    let why = match c.version {
        CgroupVersion::V1 | CgroupVersion::Unknown => Unusable::NoCgroupV2,
        _ => Unusable::NotDelegated,
    };
    (CgroupLimits::default(), Some(why))
}

/// A size that is not one (`--memory`, `--shm-size`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("invalid size '{0}' (use e.g. 64m, 1g or a number of bytes)")]
    Unreadable(String),
    #[error("invalid size '{0}': must be positive")]
    NotPositive(String),
}

/// A `--memory`, `--cpus` or `--pids-limit` value that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("--memory: {0}")]
    Memory(SizeError),
    #[error("--cpus: '{0}' is not a positive number of CPUs")]
    Cpus(String),
    #[error("--pids-limit: '{0}' is not a number (-1 for no limit)")]
    Pids(String),
}

/// `--memory`, `--cpus`, `--pids-limit` parsed (Docker's spellings).
pub fn parse(
    memory: Option<&str>,
    cpus: Option<&str>,
    pids: Option<&str>,
) -> Result<CgroupLimits, LimitError> {
    let memory = memory
        .map(|m| parse_size(m).map_err(LimitError::Memory))
        .transpose()?;
    let cpus = cpus
        .map(|c| match c.parse::<f64>() {
            Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
            _ => Err(LimitError::Cpus(c.to_string())),
        })
        .transpose()?;
    let pids = pids
        .map(|p| {
            p.parse::<i64>()
                .map_err(|_| LimitError::Pids(p.to_string()))
        })
        .transpose()?;
    Ok(CgroupLimits { memory, cpus, pids })
}

/// `64m`, `1g`, `65536`, `512k`, `1.5g` (Docker's units, powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| SizeError::Unreadable(s.to_string()))?;
    if v.is_nan() || v <= 0.0 || v * mult as f64 > u64::MAX as f64 {
        return Err(SizeError::NotPositive(s.to_string()));
    }
    Ok((v * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::host::HostPaths;

    fn usable_at(paths: &HostPaths, l: &CgroupLimits) -> (CgroupLimits, Option<String>) {
        let c = crate::sandbox::host::cgroups(paths);
        let (kept, why) = usable(&c, crate::sandbox::cgroup::base(&c).as_deref(), l);
        (kept, why.map(|e| e.to_string()))
    }

    #[test]
    fn flags_parse_and_the_blocker_names_a_fix() {
        let l = parse(Some("512m"), Some("1.5"), Some("100")).unwrap();
        assert_eq!(l.memory, Some(512 << 20));
        assert!(l.any());
        assert!(!parse(None, None, None).unwrap().any());
        let e = parse(None, Some("0"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--cpus: '0' is not a positive number of CPUs"
        );
        assert!(parse(None, None, Some("x"))
            .unwrap_err()
            .to_string()
            .contains("--pids-limit: 'x'"));
        let e = parse(Some("lots"), None, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--memory: invalid size 'lots' (use e.g. 64m, 1g or a number of bytes)"
        );
        let d = tempfile::tempdir().unwrap();
        let paths = HostPaths {
            proc_self_cgroup: d.path().join("none"),
            cgroup_root: d.path().to_path_buf(),
            ..HostPaths::default()
        };
        let (kept, why) = usable_at(&paths, &l);
        assert!(!kept.any() && why.unwrap().contains("cgroup v2"));
    }

    #[test]
    fn the_limits_whose_controllers_are_delegated_are_kept() {
        // A hybrid machine whose v2 hierarchy has pids and cpu (freed from
        // v1) but not memory, and a delegated cgroup.
        let d = tempfile::tempdir().unwrap();
        let own = d.path().join("unified/user");
        std::fs::create_dir_all(&own).unwrap();
        std::fs::write(d.path().join("unified/cgroup.controllers"), "cpu pids").unwrap();
        std::fs::write(own.join("cgroup.controllers"), "cpu pids").unwrap();
        std::fs::write(own.join("cgroup.procs"), "").unwrap();
        std::fs::write(d.path().join("self-cgroup"), "4:memory:/x\n0::/user\n").unwrap();
        let paths = HostPaths {
            proc_self_cgroup: d.path().join("self-cgroup"),
            cgroup_root: d.path().to_path_buf(),
            ..HostPaths::default()
        };
        let l = parse(Some("64m"), Some("0.5"), Some("20")).unwrap();
        let (kept, why) = usable_at(&paths, &l);
        assert_eq!(kept, parse(None, Some("0.5"), Some("20")).unwrap());
        let why = why.unwrap();
        assert!(why.contains("has no memory controller"), "{why}");
        assert!(
            why.contains("memory: this v1/v2 hybrid machine's v1 hierarchy holds it"),
            "{why}"
        );
        let (kept, why) = usable_at(&paths, &parse(None, None, Some("5")).unwrap());
        assert_eq!(kept.pids, Some(5));
        assert!(why.is_none());
    }
}
