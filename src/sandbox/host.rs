//! Facts about the host that decide what a sandbox can do, each with the
//! reason and, when something is blocked, the fix: the sysctls that switch
//! unprivileged user namespaces off, the cgroup layout and whether it is
//! delegated, and access to /dev/fuse and /dev/net/tun.
//!
//! It only reads files; paths are fields so tests can point them elsewhere.

use std::path::{Path, PathBuf};

/// Where the host facts are read from.
#[derive(Debug, Clone)]
pub struct HostPaths {
    pub proc_sys: PathBuf,
    pub proc_self_cgroup: PathBuf,
    pub cgroup_root: PathBuf,
    pub dev: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            proc_sys: "/proc/sys".into(),
            proc_self_cgroup: "/proc/self/cgroup".into(),
            cgroup_root: "/sys/fs/cgroup".into(),
            dev: "/dev".into(),
        }
    }
}

fn read_num(p: &Path) -> Option<i64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// The known switches that block unprivileged user namespaces, each as
/// "what is set — how to fix it". Empty when none is set.
pub fn userns_blockers(paths: &HostPaths) -> Vec<String> {
    let mut v = Vec::new();
    let sys = &paths.proc_sys;
    if read_num(&sys.join("user/max_user_namespaces")) == Some(0) {
        v.push(
            "user.max_user_namespaces is 0 — run `sysctl -w user.max_user_namespaces=15000` \
             (and set it in /etc/sysctl.d to keep it)"
                .to_string(),
        );
    }
    if read_num(&sys.join("kernel/apparmor_restrict_unprivileged_userns")) == Some(1) {
        v.push(
            "kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu 24.04 and later) — \
             install an AppArmor profile for hutch with `userns,`, or run \
             `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`"
                .to_string(),
        );
    }
    if read_num(&sys.join("kernel/unprivileged_userns_clone")) == Some(0) {
        v.push(
            "kernel.unprivileged_userns_clone is 0 (older Debian kernels) — run \
             `sysctl -w kernel.unprivileged_userns_clone=1`"
                .to_string(),
        );
    }
    v
}

/// The cgroup layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    V1,
    V2,
    Hybrid,
    Unknown,
}

/// Cgroups as hutch sees them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cgroups {
    pub version: CgroupVersion,
    /// Whether this user may create child cgroups (a systemd user slice with
    /// delegation); without it no resource limits can be set.
    pub delegated: bool,
    /// The v2 cgroup hutch runs in, as a path under the cgroup2 mount.
    #[serde(skip)]
    pub dir: Option<PathBuf>,
    /// Where the cgroup2 hierarchy is mounted.
    #[serde(skip)]
    pub v2_root: Option<PathBuf>,
}

/// Read the cgroup layout and whether our cgroup is writable by us.
/// The cgroup v2 path in a `/proc/PID/cgroup` text (its "0::/path" line,
/// cgroups(7)), relative to the cgroup2 mount.
pub fn v2_path(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_start_matches('/'))
}

pub fn cgroups(paths: &HostPaths) -> Cgroups {
    let root = &paths.cgroup_root;
    let unified_root = root.join("cgroup.controllers").exists();
    let hybrid = root.join("unified/cgroup.controllers").exists();
    let version = match (unified_root, hybrid) {
        (true, _) => CgroupVersion::V2,
        (false, true) => CgroupVersion::Hybrid,
        (false, false) if root.join("memory").exists() || root.join("cpu").exists() => {
            CgroupVersion::V1
        }
        _ => CgroupVersion::Unknown,
    };
    let own = std::fs::read_to_string(&paths.proc_self_cgroup)
        .ok()
        .and_then(|t| v2_path(&t).map(str::to_string));
    let v2_root = match version {
        CgroupVersion::V2 => Some(root.clone()),
        CgroupVersion::Hybrid => Some(root.join("unified")),
        _ => None,
    };
    let dir = match (&v2_root, own) {
        (Some(r), Some(own)) => Some(r.join(own)),
        _ => None,
    };
    let delegated = dir
        .as_ref()
        .is_some_and(|d| writable(&d.join("cgroup.procs")));
    Cgroups {
        version,
        delegated,
        dir,
        v2_root,
    }
}

/// Whether the calling user can open `p` for reading and writing.
pub fn writable(p: &Path) -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blockers_name_the_fix() {
        let d = tempfile::tempdir().unwrap();
        let sys = d.path().join("sys");
        std::fs::create_dir_all(sys.join("user")).unwrap();
        std::fs::create_dir_all(sys.join("kernel")).unwrap();
        let paths = HostPaths {
            proc_sys: sys.clone(),
            ..HostPaths::default()
        };
        assert!(userns_blockers(&paths).is_empty());
        std::fs::write(sys.join("user/max_user_namespaces"), "0\n").unwrap();
        std::fs::write(
            sys.join("kernel/apparmor_restrict_unprivileged_userns"),
            "1\n",
        )
        .unwrap();
        std::fs::write(sys.join("kernel/unprivileged_userns_clone"), "0\n").unwrap();
        let b = userns_blockers(&paths).join("\n");
        assert!(
            b.contains("sysctl -w user.max_user_namespaces=15000"),
            "{b}"
        );
        assert!(b.contains("apparmor_restrict_unprivileged_userns=0"), "{b}");
        assert!(b.contains("unprivileged_userns_clone=1"), "{b}");
    }

    #[test]
    fn cgroup_layouts() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("cg");
        std::fs::create_dir_all(root.join("unified/user.slice")).unwrap();
        std::fs::create_dir_all(root.join("memory")).unwrap();
        std::fs::write(root.join("unified/cgroup.controllers"), "").unwrap();
        std::fs::write(root.join("unified/user.slice/cgroup.procs"), "").unwrap();
        let own = d.path().join("self-cgroup");
        std::fs::write(&own, "1:memory:/x\n0::/user.slice\n").unwrap();
        let paths = HostPaths {
            proc_self_cgroup: own,
            cgroup_root: root.clone(),
            ..HostPaths::default()
        };
        let c = cgroups(&paths);
        assert_eq!(c.version, CgroupVersion::Hybrid);
        // The file is ours, so it counts as delegated.
        assert!(c.delegated);
        std::fs::write(root.join("cgroup.controllers"), "").unwrap();
        assert_eq!(cgroups(&paths).version, CgroupVersion::V2);
    }
}
