//! The typed setup plan: a `Spec` checked and turned into the list of
//! operations the child performs, in one fixed order (bubblewrap's order in
//! `setup_newroot`: private propagation, hostname, root filesystem, /proc,
//! /dev, /sys, the user's mounts, read-only root, pivot_root).
//!
//! Everything that can be rejected is rejected here, before any namespace
//! exists. Executing the plan is `setup`'s job; this module makes no syscall.

use super::error::{Error, SpecError};
use super::security::Security;
use super::spec::{MountSpec, ProcessSpec, Removal, Spec};
use crate::net::Network;
use crate::rootfs::{Driver, Overlay};
use crate::sys::mount::Flags;
use crate::userns::idmap::{IdMapping, IdSources};
use std::path::{Component, Path, PathBuf};

/// One setup step inside the child. Container paths are relative to the new
/// root (no leading `/`, no `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Make every mount a slave so nothing propagates back to the host
    /// (bubblewrap: `MS_SLAVE | MS_REC` on `/`).
    IsolatePropagation,
    /// sethostname(2) in the new UTS namespace.
    Hostname(String),
    /// Bring `lo` up in the new network namespace.
    LoopbackUp,
    /// A tmpfs over the scratch dir holding the overlay's upper and work
    /// dirs and the root mount point (see `Spec::layer_in_memory`).
    LayerTmpfs,
    /// Mount the overlay on the root mount point.
    RootOverlay,
    /// A fresh procfs, mounted from inside the new pid namespace.
    Proc,
    /// tmpfs /dev with bind-mounted host devices, devpts, shm (of this
    /// size in bytes), mqueue, links.
    Dev { shm_size: u64 },
    /// /sys read-only: a fresh sysfs when we own the network namespace
    /// (sysfs(5) needs it), otherwise a recursive read-only bind of the host's.
    Sys { fresh: bool },
    /// A generated file (contents given) bind-mounted over a container path.
    EtcFile { target: PathBuf, contents: String },
    /// A tmpfs.
    Tmpfs {
        target: PathBuf,
        flags: Flags,
        data: String,
    },
    /// A recursive bind of a host path.
    Bind {
        source: PathBuf,
        target: PathBuf,
        read_only: bool,
    },
    /// A volume: see `MountSpec::Volume`.
    Volume {
        source: PathBuf,
        target: PathBuf,
        read_only: bool,
        fill: bool,
        chown: bool,
    },
    /// cgroup2 of the container's own cgroup namespace, read-only, on
    /// /sys/fs/cgroup (Docker's default with a private cgroup namespace).
    Cgroup,
    /// Hide a path: /dev/null over a file, an empty read-only tmpfs over a
    /// directory; a path this kernel lacks is skipped.
    Mask(PathBuf),
    /// Bind a path over itself read-only; skipped when missing.
    ReadOnlyPath(PathBuf),
    /// An overlay of a host directory (read-only below) and a writable
    /// upper dir.
    /// `fresh`: its upper and work dirs are made empty first.
    Overlay {
        overlay: Overlay,
        target: PathBuf,
        fresh: bool,
    },
    /// Remount the root read-only (only the root mount, not those below it).
    ReadOnlyRoot,
    /// pivot_root into the new root and detach the old one.
    PivotRoot,
}

/// A validated spec plus its operations.
#[derive(Debug, Clone)]
pub struct Plan {
    pub ops: Vec<Op>,
    pub mapping: IdMapping,
    pub id_sources: IdSources,
    pub keeper: Option<std::sync::Arc<crate::userns::keeper::Keeper>>,
    pub overlay: Overlay,
    pub rootfs_driver: Driver,
    pub rootfs_mountpoint: PathBuf,
    pub scratch: PathBuf,
    pub hostname: String,
    pub network: Network,
    pub process: ProcessSpec,
    pub security: Security,
    pub remove_after: Option<Removal>,
    pub layer_in_memory: bool,
    pub cgroup: Option<super::cgroup::Placement>,
}

/// The files under /proc that a mount may stand over (runc's list): ones
/// that tools such as lxcfs emulate so that `top` and `free` show the
/// container's figures. Anything else there could feed the container's
/// set-up or processes a value the kernel never gave (a cap_last_cap that
/// hides capabilities from the bounding set), or hide a masked path.
pub const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// Whether a mount may go on container path `rel` (relative to `/`): not
/// /proc or below it, but for [`PROC_ALLOWED`].
pub fn proc_mountable(rel: &Path) -> bool {
    !rel.starts_with("proc")
        || PROC_ALLOWED
            .iter()
            .any(|a| Path::new(a).strip_prefix("/").is_ok_and(|a| a == rel))
}

/// The container-relative form of an absolute container path.
pub fn container_path(p: &str) -> Result<PathBuf, SpecError> {
    let path = Path::new(p);
    if !path.is_absolute() {
        return Err(SpecError::RelativePath(p.into()));
    }
    let mut rel = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => rel.push(n),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(SpecError::ParentInPath(p.into()))
            }
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(SpecError::MountOverRoot(p.into()));
    }
    Ok(rel)
}

/// Parse tmpfs options (mount(8) spelling) into flags and data. Defaults
/// follow Docker: nosuid, nodev, noexec unless `exec` is given.
pub fn tmpfs_options(opts: &str) -> Result<(Flags, String), SpecError> {
    let mut flags = Flags::MS_NOSUID | Flags::MS_NODEV | Flags::MS_NOEXEC;
    let mut data = Vec::new();
    for o in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match o {
            "ro" => flags |= Flags::MS_RDONLY,
            "rw" => flags -= Flags::MS_RDONLY,
            "nosuid" => flags |= Flags::MS_NOSUID,
            "suid" => flags -= Flags::MS_NOSUID,
            "nodev" => flags |= Flags::MS_NODEV,
            "dev" => flags -= Flags::MS_NODEV,
            "noexec" => flags |= Flags::MS_NOEXEC,
            "exec" => flags -= Flags::MS_NOEXEC,
            "noatime" => flags |= Flags::MS_NOATIME,
            _ if ["size=", "mode=", "nr_inodes=", "nr_blocks=", "uid=", "gid="]
                .iter()
                .any(|k| o.starts_with(k)) =>
            {
                data.push(o.to_string())
            }
            other => return Err(SpecError::TmpfsOption(other.into())),
        }
    }
    Ok((flags, data.join(",")))
}

/// HOST_NAME_MAX (64) and the characters of RFC 1123 host names.
fn check_hostname(h: &str) -> Result<(), SpecError> {
    let ok = !h.is_empty()
        && h.len() <= 64
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !h.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(SpecError::Hostname(h.to_string()))
    }
}

impl Plan {
    /// The descriptors this plan holds open until the container starts (a
    /// joined container's namespaces, the keeper's namespace), which a process
    /// that closes what it inherits (the detached supervisor) must keep.
    pub fn held_fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        let mut fds = self.network.held_fds();
        fds.extend(self.keeper.as_ref().map(|k| k.userns.as_fd()));
        fds
    }

    /// Check `spec` and lay out its operations.
    pub fn build(spec: Spec) -> Result<Plan, Error> {
        let p = &spec.process;
        if p.args.is_empty() || p.args[0].is_empty() {
            return Err(SpecError::NoCommand.into());
        }
        if p.args.iter().chain(&p.env).any(|s| s.contains('\0')) {
            return Err(SpecError::Nul.into());
        }
        if let Some(e) = p
            .env
            .iter()
            .find(|e| !e.contains('=') || e.starts_with('='))
        {
            return Err(SpecError::EnvEntry(e.clone()).into());
        }
        if !p.cwd.starts_with('/') {
            return Err(SpecError::RelativeCwd(p.cwd.clone()).into());
        }
        check_hostname(&spec.hostname)?;

        let mut ops = vec![Op::IsolatePropagation, Op::Hostname(spec.hostname.clone())];
        if spec.network.private_namespace() {
            ops.push(Op::LoopbackUp);
        }
        // A joined network namespace belongs to the user namespace the
        // container runs in, so it may mount sysfs for it too.
        let fresh_sys = !matches!(spec.network, Network::Host);
        if spec.layer_in_memory {
            let inside = |p: &Path| p.parent() == Some(spec.scratch.as_path());
            if !matches!(spec.rootfs_driver, Driver::Overlay(_)) {
                return Err(SpecError::MemoryLayerDriver.into());
            }
            if ![
                &spec.overlay.upper,
                &spec.overlay.work,
                &spec.rootfs_mountpoint,
            ]
            .into_iter()
            .all(|p| inside(p))
            {
                return Err(SpecError::MemoryLayerDirs(spec.scratch.clone()).into());
            }
            ops.push(Op::LayerTmpfs);
        }
        ops.extend([
            Op::RootOverlay,
            Op::Proc,
            Op::Dev {
                shm_size: spec.security.shm_size,
            },
            Op::Sys { fresh: fresh_sys },
        ]);
        if fresh_sys {
            ops.push(Op::Cgroup);
        }
        let mut etc_files = spec.etc_files.clone();
        if spec.security.fake_root {
            etc_files.push((
                super::security::FAKE_ROOT_APT_CONF.into(),
                super::security::FAKE_ROOT_APT_TEXT.into(),
            ));
        }
        for (target, contents) in &etc_files {
            ops.push(Op::EtcFile {
                target: container_path(target)?,
                contents: contents.clone(),
            });
        }
        if spec.read_only && spec.read_only_tmpfs {
            for (dir, mode) in [("tmp", "1777"), ("var/tmp", "1777"), ("run", "755")] {
                ops.push(Op::Tmpfs {
                    target: dir.into(),
                    flags: Flags::MS_NOSUID | Flags::MS_NODEV,
                    data: format!("mode={mode}"),
                });
            }
        }
        // Docker mounts parents before children whatever the order given.
        let mut user_ops = Vec::new();
        for m in &spec.mounts {
            user_ops.push(match m {
                MountSpec::Bind {
                    source,
                    target,
                    read_only,
                } => {
                    if !source.is_absolute() {
                        return Err(SpecError::RelativeSource(source.clone()).into());
                    }
                    if let Err(e) = source.symlink_metadata() {
                        return Err(Error::BindSource {
                            path: source.clone(),
                            source: e,
                        });
                    }
                    Op::Bind {
                        source: source.clone(),
                        target: container_path(target)?,
                        read_only: *read_only,
                    }
                }
                MountSpec::Volume {
                    source,
                    target,
                    read_only,
                    fill,
                    chown,
                } => {
                    if !source.is_absolute() || !source.is_dir() {
                        return Err(SpecError::NoVolumeDir(source.clone()).into());
                    }
                    Op::Volume {
                        source: source.clone(),
                        target: container_path(target)?,
                        read_only: *read_only,
                        fill: *fill,
                        chown: *chown,
                    }
                }
                MountSpec::Tmpfs { target, options } => {
                    let (flags, data) = tmpfs_options(options)
                        .map_err(|e| SpecError::TmpfsFlag(target.clone(), e.into()))?;
                    Op::Tmpfs {
                        target: container_path(target)?,
                        flags,
                        data,
                    }
                }
                MountSpec::Overlay {
                    lower,
                    upper,
                    work,
                    target,
                    fresh,
                } => {
                    for d in [lower, upper, work] {
                        let made_later = *fresh && d != lower;
                        if !d.is_absolute() || !(made_later || d.is_dir()) {
                            return Err(SpecError::OverlayDir {
                                target: target.clone(),
                                dir: d.clone(),
                            }
                            .into());
                        }
                    }
                    Op::Overlay {
                        overlay: Overlay {
                            lowers: vec![lower.clone()],
                            data: Vec::new(),
                            upper: upper.clone(),
                            work: work.clone(),
                            volatile: false,
                        },
                        target: container_path(target)?,
                        fresh: *fresh,
                    }
                }
            });
        }
        // A root mounted over the scratch dir hides what the dir holds from
        // every step after it (see `Spec::rootfs_mountpoint`): no mount may
        // take a path from it, nor make one there (a fresh overlay's dirs).
        if spec.rootfs_mountpoint == spec.scratch {
            let hidden = user_ops
                .iter()
                .flat_map(|o| match o {
                    Op::Bind { source, .. } | Op::Volume { source, .. } => vec![source],
                    Op::Overlay { overlay, .. } => {
                        let mut dirs: Vec<&PathBuf> = overlay.lowers.iter().collect();
                        dirs.extend([&overlay.upper, &overlay.work]);
                        dirs
                    }
                    _ => Vec::new(),
                })
                .find(|p| p.starts_with(&spec.scratch));
            if let Some(p) = hidden {
                return Err(SpecError::HiddenByRoot(p.clone()).into());
            }
        }
        let target_of = |o: &Op| match o {
            Op::Bind { target, .. }
            | Op::Volume { target, .. }
            | Op::Tmpfs { target, .. }
            | Op::Overlay { target, .. } => target.clone(),
            _ => PathBuf::new(),
        };
        for (i, a) in user_ops.iter().enumerate() {
            if user_ops[..i].iter().any(|b| target_of(b) == target_of(a)) {
                return Err(SpecError::DuplicateMount(target_of(a)).into());
            }
        }
        user_ops.sort_by_key(|o| target_of(o).components().count());
        ops.extend(user_ops);
        // After the user's mounts, as runc does: a volume cannot uncover them.
        if spec.security.masks {
            let rel = container_path;
            for p in super::masks::MASKED {
                ops.push(Op::Mask(rel(p)?));
            }
            for p in super::masks::READ_ONLY {
                ops.push(Op::ReadOnlyPath(rel(p)?));
            }
        }
        if spec.read_only {
            ops.push(Op::ReadOnlyRoot);
        }
        ops.push(Op::PivotRoot);

        Ok(Plan {
            ops,
            mapping: spec.mapping,
            id_sources: spec.id_sources,
            keeper: spec.keeper,
            overlay: spec.overlay,
            rootfs_driver: spec.rootfs_driver,
            rootfs_mountpoint: spec.rootfs_mountpoint,
            scratch: spec.scratch,
            hostname: spec.hostname,
            network: spec.network,
            process: spec.process,
            security: spec.security,
            remove_after: spec.remove_after,
            layer_in_memory: spec.layer_in_memory,
            cgroup: spec.cgroup,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::MountApi;
    use crate::userns::idmap::UsernsRequest;

    fn spec() -> Spec {
        Spec {
            mapping: IdMapping::detect(UsernsRequest::Single, &IdSources::default()).unwrap(),
            id_sources: IdSources::default(),
            keeper: None,
            overlay: Overlay {
                lowers: vec!["/l".into()],
                data: Vec::new(),
                upper: "/u".into(),
                work: "/w".into(),
                volatile: false,
            },
            rootfs_driver: Driver::Overlay(MountApi::LowerdirPlus),
            rootfs_mountpoint: "/m".into(),
            scratch: "/s".into(),
            hostname: "box".into(),
            network: Network::None,
            etc_files: vec![],
            mounts: vec![],
            read_only: false,
            read_only_tmpfs: true,
            process: ProcessSpec {
                args: vec!["true".into()],
                cwd: "/".into(),
                ..Default::default()
            },
            security: Security::standard().unwrap(),
            remove_after: None,
            layer_in_memory: false,
            cgroup: None,
        }
    }

    #[test]
    fn order_is_fixed_and_parents_mount_first() {
        let mut s = spec();
        s.read_only = true;
        s.mounts = vec![
            MountSpec::Tmpfs {
                target: "/a/b".into(),
                options: String::new(),
            },
            MountSpec::Bind {
                source: "/".into(),
                target: "/a".into(),
                read_only: true,
            },
        ];
        let ops = Plan::build(s).unwrap().ops;
        let kinds: Vec<String> = ops
            .iter()
            .map(|o| {
                format!("{o:?}")
                    .split([' ', '(', '{'])
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            kinds[..13],
            [
                "IsolatePropagation",
                "Hostname",
                "LoopbackUp",
                "RootOverlay",
                "Proc",
                "Dev",
                "Sys",
                "Cgroup",
                "Tmpfs",
                "Tmpfs",
                "Tmpfs",
                "Bind",
                "Tmpfs",
            ]
        );
        assert!(matches!(&ops[11], Op::Bind { target, .. } if target == Path::new("a")));
        // Masks and read-only paths come after the user's mounts.
        assert_eq!(kinds.len(), 13 + 12 + 5 + 2);
        assert_eq!(kinds[13], "Mask");
        assert_eq!(&kinds[kinds.len() - 2..], ["ReadOnlyRoot", "PivotRoot"]);
    }

    #[test]
    fn impossible_specs_are_rejected_before_clone() {
        let mut s = spec();
        s.mounts = vec![MountSpec::Bind {
            source: "relative".into(),
            target: "/x".into(),
            read_only: false,
        }];
        assert!(Plan::build(s).unwrap_err().to_string().contains("absolute"));
        let mut s = spec();
        s.mounts = vec![MountSpec::Tmpfs {
            target: "/x/../..".into(),
            options: String::new(),
        }];
        assert!(Plan::build(s).unwrap_err().to_string().contains(".."));
        let mut s = spec();
        s.hostname = "a b".into();
        assert!(Plan::build(s).unwrap_err().to_string().contains("hostname"));
        let mut s = spec();
        s.process.args.clear();
        assert!(Plan::build(s).is_err());
        let mut s = spec();
        s.mounts = vec![MountSpec::Tmpfs {
            target: "/x".into(),
            options: "bogus".into(),
        }];
        assert!(Plan::build(s).unwrap_err().to_string().contains("bogus"));
    }

    #[test]
    fn a_root_over_the_scratch_dir_takes_no_mount_from_it() {
        let d = tempfile::tempdir().unwrap();
        let scratch = d.path().to_path_buf();
        let overlay = MountSpec::Overlay {
            lower: "/".into(),
            upper: scratch.join("v-upper"),
            work: scratch.join("v-work"),
            target: "/v".into(),
            fresh: true,
        };
        let bind = MountSpec::Bind {
            source: scratch.clone(),
            target: "/b".into(),
            read_only: false,
        };
        for m in [overlay, bind] {
            let mut s = spec();
            s.scratch = scratch.clone();
            s.mounts = vec![m];
            // Its own mount point: the scratch dir stays in sight.
            assert!(Plan::build(s.clone()).is_ok());
            s.rootfs_mountpoint = scratch.clone();
            let e = Plan::build(s).unwrap_err().to_string();
            assert!(e.contains(&scratch.display().to_string()), "{e}");
        }
        let mut s = spec();
        s.rootfs_mountpoint = s.scratch.clone();
        assert!(Plan::build(s).is_ok());
    }

    #[test]
    fn tmpfs_options_follow_docker_defaults() {
        let (f, d) = tmpfs_options("size=1m,exec").unwrap();
        assert!(!f.contains(Flags::MS_NOEXEC) && f.contains(Flags::MS_NOSUID));
        assert_eq!(d, "size=1m");
    }

    #[test]
    fn an_in_memory_layer_is_mounted_first_and_only_where_it_can_be() {
        let mut s = spec();
        s.layer_in_memory = true;
        s.overlay.upper = "/s/upper".into();
        s.overlay.work = "/s/work".into();
        s.rootfs_mountpoint = "/s/rootfs".into();
        let ops = Plan::build(s.clone()).unwrap().ops;
        let at = |op: &Op| ops.iter().position(|o| o == op).unwrap();
        assert_eq!(at(&Op::LayerTmpfs) + 1, at(&Op::RootOverlay));
        let mut outside = s.clone();
        outside.overlay.work = "/elsewhere/work".into();
        assert!(Plan::build(outside).is_err(), "work dir outside the tmpfs");
        let mut copy = s.clone();
        copy.rootfs_driver = Driver::Copy;
        assert!(
            Plan::build(copy).is_err(),
            "the copy driver works on host paths"
        );
        s.layer_in_memory = false;
        let ops = Plan::build(s).unwrap().ops;
        assert!(!ops.contains(&Op::LayerTmpfs));
    }
}
