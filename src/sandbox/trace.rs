//! The words of `--log-level debug`: what a validated [`Plan`] will do, one
//! line per step in the order the setup takes them (namespaces, id maps,
//! root filesystem, network, each mount, confinement, the process).
//!
//! Only called when debug output is on; it reads the plan and never
//! touches the system.

use super::plan::{Op, Plan};
use super::security::SeccompMode;
use crate::net::Network;
use crate::rootfs::Driver;
use crate::userns::idmap::IdRange;

/// The plan's steps, for people.
pub fn describe(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    let mut spaces = vec!["mount", "pid", "uts", "ipc", "cgroup"];
    match &plan.network {
        Network::Container(_) => out.push(
            "namespaces: join the other container's user and network namespaces, \
             then clone new mount, pid, uts, ipc, cgroup"
                .into(),
        ),
        n => {
            spaces.insert(0, "user");
            if n.private_namespace() {
                spaces.push("net");
            }
            out.push(format!("namespaces: clone new {}", spaces.join(", ")));
        }
    }
    let how = if plan.keeper.is_some() {
        "nested in the keeper's namespace, written directly"
    } else if plan.mapping.needs_helpers() {
        "written by newuidmap/newgidmap"
    } else {
        "written directly (one id)"
    };
    out.push(format!(
        "id maps ({}, {how}): uid {}; gid {}",
        plan.mapping.mode,
        ranges(&plan.mapping.uids),
        ranges(&plan.mapping.gids)
    ));
    out.push(format!(
        "root filesystem: {} over {} lower dirs, upper {}",
        match &plan.rootfs_driver {
            Driver::Overlay(api) => format!("native overlay ({api:?})"),
            Driver::Fuse(_) => "FUSE overlay served from outside the container".into(),
            Driver::Copy => "a private copy".into(),
        },
        plan.overlay.lowers.len(),
        plan.overlay.upper.display()
    ));
    for (n, op) in plan.ops.iter().enumerate() {
        out.push(format!("setup {}: {}", n + 1, op_words(op)));
    }
    let s = &plan.security;
    out.push(format!(
        "confinement: capabilities {}; no_new_privs {}; seccomp {}; masked paths {}; \
         fake root {}; {} rlimits",
        s.caps,
        if s.no_new_privs { "on" } else { "off" },
        match s.seccomp_mode {
            SeccompMode::Unconfined => "unconfined".to_string(),
            SeccompMode::Default | SeccompMode::Profile => format!(
                "{} ({} instructions)",
                if s.seccomp_mode == SeccompMode::Default {
                    "default profile"
                } else {
                    "given profile"
                },
                s.filters.programs.iter().map(Vec::len).sum::<usize>()
            ),
        },
        if s.masks { "on" } else { "off" },
        if s.fake_root { "on" } else { "off" },
        s.rlimits.len()
    ));
    let p = &plan.process;
    out.push(format!(
        "process: {:?} as {} in {}{}{}",
        p.args,
        p.user.as_deref().unwrap_or("root"),
        p.cwd,
        if p.tty { ", on a new terminal" } else { "" },
        if p.init { ", under hutch's init" } else { "" }
    ));
    out
}

fn ranges(v: &[IdRange]) -> String {
    v.iter()
        .map(|r| format!("{}->{} ({})", r.inside, r.outside, r.count))
        .collect::<Vec<_>>()
        .join(", ")
}

fn op_words(op: &Op) -> String {
    match op {
        Op::IsolatePropagation => {
            "make every mount a slave (nothing propagates to the host)".into()
        }
        Op::Hostname(h) => format!("hostname {h}"),
        Op::LoopbackUp => "bring lo up".into(),
        Op::LayerTmpfs => format!(
            "tmpfs for the writable layer (in memory, this namespace only; {})",
            super::setup::LAYER_TMPFS_OPTIONS
        ),
        Op::RootOverlay => "mount the root filesystem".into(),
        Op::Proc => "mount a fresh /proc".into(),
        Op::Dev { shm_size } => {
            format!("tmpfs /dev with host devices, devpts, /dev/shm of {shm_size} bytes, mqueue")
        }
        Op::Sys { fresh: true } => "mount a fresh sysfs on /sys, read-only".into(),
        Op::Sys { fresh: false } => "bind the host's /sys read-only".into(),
        Op::EtcFile { target, .. } => format!("generated /{} (bind from memory)", target.display()),
        Op::Tmpfs { target, data, .. } => format!("tmpfs on /{} ({data})", target.display()),
        Op::Bind {
            source,
            target,
            read_only,
        } => format!(
            "bind {} on /{}{}",
            source.display(),
            target.display(),
            if *read_only { " read-only" } else { "" }
        ),
        Op::Cgroup => {
            "cgroup2 of the container's cgroup namespace on /sys/fs/cgroup, read-only".into()
        }
        Op::Mask(p) => format!("mask /{}", p.display()),
        Op::ReadOnlyPath(p) => format!("read-only /{}", p.display()),
        Op::Volume {
            source,
            target,
            read_only,
            fill,
            chown,
        } => format!(
            "volume {} on /{}{}{}{}",
            source.display(),
            target.display(),
            if *read_only { " read-only" } else { "" },
            if *fill {
                ", filled from the image while empty"
            } else {
                ""
            },
            if *chown {
                ", given to the container user"
            } else {
                ""
            }
        ),
        Op::Overlay {
            overlay,
            target,
            fresh,
        } => format!(
            "overlay on /{} ({} lower dirs, upper {}{})",
            target.display(),
            overlay.lowers.len(),
            overlay.upper.display(),
            if *fresh { ", emptied first" } else { "" }
        ),
        Op::ReadOnlyRoot => "remount the root read-only".into(),
        Op::PivotRoot => "pivot_root into the new root and detach the old one".into(),
    }
}
